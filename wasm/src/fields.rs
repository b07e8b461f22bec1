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
/// While the reader types, the field shows their text rather than the
/// running engine's value, which would otherwise overwrite it every frame.
/// Text that is not a number is passed on as NaN so that the engine's own
/// validation produces the error message the reader sees.
#[component]
pub fn NumberField(props: &NumberFieldProps) -> Html {
    let draft = use_state(|| None::<String>);
    let on_input = {
        let draft = draft.clone();
        Callback::from(move |event: InputEvent| {
            let input: HtmlInputElement = event.target_unchecked_into();
            draft.set(Some(input.value()));
        })
    };
    let on_change = {
        let draft = draft.clone();
        let emit = props.on_change.clone();
        Callback::from(move |event: Event| {
            let input: HtmlInputElement = event.target_unchecked_into();
            draft.set(None);
            emit.emit(input.value().trim().parse::<f64>().unwrap_or(f64::NAN));
        })
    };
    let on_blur = {
        let draft = draft.clone();
        Callback::from(move |_: FocusEvent| draft.set(None))
    };
    let shown = (*draft).clone().unwrap_or_else(|| props.value.to_string());
    html! {
        <label class="sdbe-field">
            <span>{ &props.label }</span>
            <input type="number" value={shown} min={props.min.to_string()}
                max={props.max.to_string()} step={props.step.to_string()}
                oninput={on_input} onchange={on_change} onblur={on_blur} />
        </label>
    }
}
