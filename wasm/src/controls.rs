//! The controls every widget shows: play, pause, step, reset, speed and seed.

use web_sys::HtmlInputElement;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::runner::SPEEDS;

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
    let current_seed = props.seed;
    let on_seed = props.on_seed.clone();
    let seed = Callback::from(move |event: Event| {
        let input: HtmlInputElement = event.target_unchecked_into();
        match input.value().trim().parse::<u64>() {
            Ok(seed) => on_seed.emit(seed),
            // Not a whole number: show the seed in use again.
            Err(_) => input.set_value(&current_seed.to_string()),
        }
    });
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
            <label>
                { "Seed " }
                <input type="number" min="0" class="sdbe-seed" value={props.seed.to_string()}
                    onchange={seed} aria-label="Random seed" />
            </label>
            <button type="button" class="sdbe-share-button" onclick={share}
                aria-label="Share a link to this run">{ "Share" }</button>
        </div>
    }
}
