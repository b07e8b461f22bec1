//! Scenarios: a whole run as data, for share links and the replay command.
//!
//! A scenario is the seed, the configuration, the reader's actions with the
//! step at which each was applied, and how many steps the run took. Replaying
//! it rebuilds the exact state the reader saw, because engines are
//! deterministic. In a share link the scenario is JSON encoded as unpadded
//! base64url, so it survives any URL handling.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Config, Engine};

/// Longest encoded scenario accepted, in bytes; longer text is rejected unread.
pub const MAX_ENCODED_LEN: usize = 64 * 1024;
/// Most actions a scenario may hold.
pub const MAX_ACTIONS: usize = 10_000;
/// Most steps a scenario may run, so a replay always finishes quickly.
pub const MAX_STEPS: u64 = 200_000;

/// One reader action and the number of steps run before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedAction<A> {
    /// Steps completed when the action was applied.
    pub step: u64,
    /// The action.
    pub action: A,
}

/// A reproducible run of one engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario<C, A> {
    /// Seed of the engine's random stream.
    pub seed: u64,
    /// The engine's configuration.
    pub config: C,
    /// Reader actions in the order they were applied.
    #[serde(default = "Vec::new")]
    pub actions: Vec<TimedAction<A>>,
    /// Steps run in total.
    #[serde(default)]
    pub steps: u64,
}

/// One line of a replayed trace: an event and the step that produced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceLine<V> {
    /// Steps completed before the event; an action's events carry the step it came at.
    pub step: u64,
    /// The event.
    pub event: V,
}

impl<C: Config, A: Serialize + for<'de> Deserialize<'de>> Scenario<C, A> {
    /// Encodes the scenario for a share link.
    pub fn encode(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes and checks a share link's scenario.
    pub fn decode(encoded: &str) -> Result<Self, String> {
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(format!(
                "the run is {} bytes long; at most {MAX_ENCODED_LEN} are accepted",
                encoded.len()
            ));
        }
        let json = URL_SAFE_NO_PAD
            .decode(encoded.trim())
            .map_err(|err| format!("the run is not valid base64url: {err}"))?;
        let scenario: Self =
            serde_json::from_slice(&json).map_err(|err| format!("the run is not valid: {err}"))?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Checks the limits and the configuration.
    pub fn check(&self) -> Result<(), String> {
        self.config.validate().map_err(|err| err.to_string())?;
        if self.actions.len() > MAX_ACTIONS {
            return Err(format!(
                "the run has {} actions; at most {MAX_ACTIONS} are accepted",
                self.actions.len()
            ));
        }
        if self.steps > MAX_STEPS {
            return Err(format!(
                "the run has {} steps; at most {MAX_STEPS} are accepted",
                self.steps
            ));
        }
        let mut previous = 0;
        for timed in &self.actions {
            if timed.step < previous || timed.step > self.steps {
                return Err(format!(
                    "an action at step {} is out of order (previous {previous}, total {})",
                    timed.step, self.steps
                ));
            }
            previous = timed.step;
        }
        Ok(())
    }
}

/// An engine after a replay, and every event of the replay.
pub type Replayed<E> = (E, Vec<TraceLine<<E as Engine>::Event>>);

/// Runs a scenario from the start, returning the engine and every event.
///
/// An action the engine rejects is skipped, as it was when the reader tried
/// it, so a replay of a recorded run never fails on one.
pub fn replay<E: Engine>(scenario: &Scenario<E::Config, E::Action>) -> Result<Replayed<E>, String> {
    scenario.check()?;
    let mut engine = E::new(scenario.config.clone(), scenario.seed).map_err(|e| e.to_string())?;
    let mut trace = Vec::new();
    let mut actions = scenario.actions.iter().peekable();
    for step in 0..=scenario.steps {
        while let Some(timed) = actions.next_if(|timed| timed.step == step) {
            if let Ok(events) = engine.apply(&timed.action) {
                trace.extend(events.into_iter().map(|event| TraceLine { step, event }));
            }
        }
        if step < scenario.steps {
            let events = engine.step();
            trace.extend(events.into_iter().map(|event| TraceLine { step, event }));
        }
    }
    Ok((engine, trace))
}

/// Replays an encoded scenario and returns its trace as JSON lines.
pub fn replay_json_lines<E: Engine>(encoded: &str) -> Result<Vec<String>, String> {
    let scenario = Scenario::<E::Config, E::Action>::decode(encoded)?;
    let (_, trace) = replay::<E>(&scenario)?;
    Ok(trace
        .iter()
        .map(|line| serde_json::to_string(line).unwrap_or_else(|_| Value::Null.to_string()))
        .collect())
}

/// The part of a share link's fragment that names a widget and its run.
///
/// The fragment reads `run=WIDGET.INDEX.PAYLOAD`: the widget's directive name,
/// its position among the page's widgets of that name (from 0), and the
/// encoded scenario. Base64url has no `.`, so the first two dots split it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareLink {
    /// The widget's directive name.
    pub widget: String,
    /// Position among the page's widgets with that name, from 0.
    pub index: usize,
    /// The encoded scenario.
    pub payload: String,
}

impl ShareLink {
    /// Formats the fragment, without the leading `#`.
    pub fn to_fragment(&self) -> String {
        format!("run={}.{}.{}", self.widget, self.index, self.payload)
    }

    /// Parses a fragment, with or without the leading `#`, or a whole URL.
    ///
    /// Returns `Ok(None)` when the fragment contains no run at all, so a page
    /// opened at a heading anchor is not an error.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let fragment = match text.split_once('#') {
            Some((_, fragment)) => fragment,
            None => text,
        };
        let Some(run) = fragment.strip_prefix("run=") else {
            return Ok(None);
        };
        if run.len() > MAX_ENCODED_LEN + 100 {
            return Err(format!(
                "the link's run is {} bytes long; at most {MAX_ENCODED_LEN} are accepted",
                run.len()
            ));
        }
        let mut parts = run.splitn(3, '.');
        let (Some(widget), Some(index), Some(payload)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("the link's run is incomplete: expected `run=WIDGET.INDEX.DATA`".into());
        };
        let valid_name =
            widget.len() <= 64 && widget.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        if widget.is_empty() || !valid_name {
            return Err(format!(
                "the link names no valid widget: `{}`",
                shorten(widget)
            ));
        }
        let index = index.parse().map_err(|_| {
            format!(
                "the link's widget index `{}` is not a number",
                shorten(index)
            )
        })?;
        Ok(Some(Self {
            widget: widget.to_string(),
            index,
            payload: payload.to_string(),
        }))
    }
}

/// Shortens text quoted in an error so a huge link does not flood the page.
fn shorten(text: &str) -> String {
    const SHOWN: usize = 40;
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// Replays an encoded scenario and returns the engine's metrics at its end.
pub fn replay_snapshot<E: Engine>(encoded: &str) -> Result<crate::metrics::Snapshot, String> {
    let scenario = Scenario::<E::Config, E::Action>::decode(encoded)?;
    let (engine, _) = replay::<E>(&scenario)?;
    Ok(engine.snapshot())
}
