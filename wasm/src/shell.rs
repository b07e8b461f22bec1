//! The frame every widget draws inside: title, run controls, notices, the
//! share link, and the event log around the widget's own parts.

use sim::Engine;
use yew::prelude::*;

use crate::controls::Controls;
use crate::frame::{ErrorNote, EventLog, keep_keys_in_widget};
use crate::metrics::MetricsPanel;
use crate::runner::{Command, RunnerHandle};

/// The widget-specific parts that [`shell`] arranges.
pub struct Parts {
    /// The widget's name as a heading.
    pub title: &'static str,
    /// Fields for the engine's parameters.
    pub params: Html,
    /// Buttons for the reader's actions.
    pub actions: Html,
    /// The drawing of the engine's state.
    pub scene: Html,
}

/// Arranges a widget's parts in the shared frame.
pub fn shell<E: Engine + 'static>(runner: &RunnerHandle<E>, parts: Parts) -> Html {
    let run = runner.get();
    let error = run.engine.as_ref().err().map(ToString::to_string);
    let runnable = run.engine.is_ok();
    let notice = run
        .notice
        .clone()
        .map(|text| html! { <p class="sdbe-notice" role="status">{ text }</p> });
    let share = run.share_url.clone().map(|url| {
        html! {
            <label class="sdbe-share">
                { "Link to this run (copied to the clipboard where allowed)" }
                <input class="sdbe-share-link" readonly=true value={url}
                    onfocus={Callback::from(|event: FocusEvent| {
                        let input: web_sys::HtmlInputElement = event.target_unchecked_into();
                        input.select();
                    })} />
            </label>
        }
    });
    let (scene, metrics) = match &run.engine {
        Ok(engine) => {
            let history: Vec<Vec<f64>> = run
                .history
                .iter()
                .map(|series| series.iter().copied().collect::<Vec<f64>>())
                .collect();
            (
                parts.scene,
                html! { <MetricsPanel snapshot={engine.snapshot()} history={history} /> },
            )
        }
        Err(_) => (html! {}, html! {}),
    };

    html! {
        <div class="sdbe-widget-body" ref={runner.root.clone()} onkeydown={keep_keys_in_widget()}>
            <p class="sdbe-widget-title">{ parts.title }</p>
            <Controls
                playing={run.playing}
                speed={run.speed}
                seed={run.seed}
                runnable={runnable}
                on_toggle={runner.callback(|()| Command::TogglePlay)}
                on_step={runner.callback(|()| Command::Step)}
                on_reset={runner.callback(|()| Command::Reset)}
                on_speed={runner.callback(Command::Speed)}
                on_seed={runner.callback(Command::Seed)}
                on_share={runner.callback(|()| Command::Share)}
            />
            { share }
            { notice }
            <div class="sdbe-params">{ parts.params }</div>
            <ErrorNote message={error} />
            <div class="sdbe-actions">{ parts.actions }</div>
            { scene }
            { metrics }
            <EventLog lines={run.log.iter().cloned().collect::<Vec<_>>()} playing={run.playing} />
        </div>
    }
}
