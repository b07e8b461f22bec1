//! The controls every widget shows: play, pause, step, reset, speed and seed.

use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::fields::NumberField;
use crate::runner::SPEEDS;

/// Largest seed the field offers: every whole number up to it is exact in an f64.
const MAX_SEED: f64 = 9_007_199_254_740_991.0;

/// Properties of [`Controls`].
#[derive(Properties, PartialEq)]
pub struct ControlsProps {
    /// Whether the clock is running.
    pub playing: bool,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    /// The run's seed.
    pub seed: u64,
    /// Whether the engine can run; play and step are disabled otherwise.
    pub runnable: bool,
    /// Starts or stops the clock.
    pub on_toggle: Callback<()>,
    /// Advances one step.
    pub on_step: Callback<()>,
    /// Restarts from the configuration and seed.
    pub on_reset: Callback<()>,
    /// Picks a speed by index.
    pub on_speed: Callback<usize>,
    /// Restarts with a new seed.
    pub on_seed: Callback<u64>,
    /// Builds a link that restores this run.
    pub on_share: Callback<()>,
}

/// The row of run controls.
#[component]
pub fn Controls(props: &ControlsProps) -> Html {
    let toggle = props.on_toggle.reform(|_: MouseEvent| ());
    let step = props.on_step.reform(|_: MouseEvent| ());
    let reset = props.on_reset.reform(|_: MouseEvent| ());
    let share = props.on_share.reform(|_: MouseEvent| ());
    let speed = props.on_speed.reform(|event: Event| {
        let select: HtmlSelectElement = event.target_unchecked_into();
        select.value().parse().unwrap_or(2)
    });
    let seed = html! {
        <NumberField label="Seed" value={props.seed as f64} min={0.0} max={MAX_SEED}
            on_change={props.on_seed.reform(|value: f64| value as u64)} />
    };
    let play_label = if props.playing { "Pause" } else { "Play" };

    html! {
        <div class="sdbe-controls" role="group" aria-label="Simulation controls">
            <button type="button" class="sdbe-primary" onclick={toggle} disabled={!props.runnable}
                aria-pressed={props.playing.to_string()}>
                { play_label }
            </button>
            <button type="button" onclick={step} disabled={!props.runnable}>{ "Step" }</button>
            <button type="button" onclick={reset}>{ "Reset" }</button>
            <label>
                { "Speed " }
                <select onchange={speed} aria-label="Simulation speed">
                    { for SPEEDS.iter().enumerate().map(|(i, s)| html! {
                        <option value={i.to_string()} selected={i == props.speed}>{ format!("{s}×") }</option>
                    }) }
                </select>
            </label>
            { seed }
            <button type="button" class="sdbe-share-button" onclick={share}
                aria-label="Share a link to this run">{ "Share" }</button>
        </div>
    }
}
