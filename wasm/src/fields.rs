//! Number fields for a widget's parameters.

use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Properties of [`NumberField`].
#[derive(Properties, PartialEq)]
pub struct NumberFieldProps {
    /// Visible label, with the unit.
    pub label: AttrValue,
    /// Current value.
    pub value: f64,
    /// Smallest accepted value.
    pub min: f64,
    /// Largest accepted value.
    pub max: f64,
    /// Increment of the spinner.
    #[prop_or(1.0)]
    pub step: f64,
    /// Receives the typed value; the engine's validation decides if it is used.
    pub on_change: Callback<f64>,
}

/// A labelled number input that reports the value the reader commits.
///
/// Text that is not a number is passed on as NaN so that the engine's own
/// validation produces the error message the reader sees.
#[component]
pub fn NumberField(props: &NumberFieldProps) -> Html {
    let on_change = props.on_change.reform(|event: Event| {
        let input: HtmlInputElement = event.target_unchecked_into();
        input.value().trim().parse::<f64>().unwrap_or(f64::NAN)
    });
    html! {
        <label class="sdbe-field">
            <span>{ &props.label }</span>
            <input type="number" value={props.value.to_string()} min={props.min.to_string()}
                max={props.max.to_string()} step={props.step.to_string()} onchange={on_change} />
        </label>
    }
}
