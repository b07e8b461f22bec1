//! Parts every widget's frame shares: the event log, errors, key handling.

use yew::prelude::*;

/// Stops arrow keys inside a widget from reaching mdBook, which would turn the page.
pub fn keep_keys_in_widget() -> Callback<KeyboardEvent> {
    Callback::from(|event: KeyboardEvent| {
        if matches!(
            event.key().as_str(),
            "ArrowLeft" | "ArrowRight" | "ArrowUp" | "ArrowDown"
        ) {
            event.stop_propagation();
        }
    })
}

/// Properties of [`EventLog`].
#[derive(Properties, PartialEq)]
pub struct EventLogProps {
    /// Recent events, newest last.
    pub lines: Vec<String>,
    /// Whether the run is playing; the live region then stays quiet.
    pub playing: bool,
}

/// Recent events as text, and a live region that screen readers announce.
///
/// While the run plays, events arrive faster than anyone can listen, so the
/// live region announces the newest event only when the reader steps, acts
/// or pauses.
#[component]
pub fn EventLog(props: &EventLogProps) -> Html {
    let announcement = if props.playing {
        String::new()
    } else {
        props.lines.last().cloned().unwrap_or_default()
    };
    html! {
        <>
            <p class="sdbe-sr-only" aria-live="polite" aria-atomic="true">{ announcement }</p>
            <details class="sdbe-log">
                <summary>{ "Event log" }</summary>
                <ol aria-label="Recent events">
                    { for props.lines.iter().map(|line| html! { <li>{ line }</li> }) }
                </ol>
            </details>
        </>
    }
}

/// Properties of [`ErrorNote`].
#[derive(Properties, PartialEq)]
pub struct ErrorNoteProps {
    /// What is wrong, or `None` to show nothing.
    pub message: Option<String>,
}

/// An error the reader caused and can fix, such as an out-of-range field.
#[component]
pub fn ErrorNote(props: &ErrorNoteProps) -> Html {
    match &props.message {
        Some(message) => html! { <p class="sdbe-widget-error" role="alert">{ message }</p> },
        None => html! {},
    }
}
