//! One fault interface for every engine whose topic has faults.
//!
//! A fault is a reader action like any other: it travels through
//! [`Engine::apply`], lands in share links and replays, and the same seed and
//! fault schedule give the same trace. Each engine says which kinds of fault
//! its topic has, and the widget offers controls for exactly those.

use serde::{Deserialize, Serialize};

use crate::{ActionError, Engine};

/// Maximum message delay a fault may add, in milliseconds.
pub const MAX_DELAY_MS: f64 = 60_000.0;

/// A fault the reader injects, or its repair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// Stops a node: it loses the work in hand and serves nothing until restarted.
    Crash {
        /// The node's id, as the engine numbers its nodes.
        node: u32,
    },
    /// Starts a crashed node again, with nothing in hand.
    Restart {
        /// The node's id.
        node: u32,
    },
    /// Splits the nodes into groups that cannot reach each other.
    Partition {
        /// Node ids per side; a node in no group is cut off from all.
        groups: Vec<Vec<u32>>,
    },
    /// Ends every partition.
    Heal,
    /// Drops each message with this probability.
    DropMessages {
        /// From 0 (drop none) to 1 (drop all).
        probability: f64,
    },
    /// Adds a fixed delay to every message.
    DelayMessages {
        /// Extra delay per message, in milliseconds, from 0 to [`MAX_DELAY_MS`].
        ms: f64,
    },
    /// Makes the engine's downstream dependency fail, or recover.
    FailDependency {
        /// Whether the dependency fails from now on.
        failing: bool,
    },
}

impl Fault {
    /// Checks the fault's own values, before any engine looks at it.
    pub fn validate(&self) -> Result<(), ActionError> {
        match self {
            Self::DropMessages { probability } if !(0.0..=1.0).contains(probability) => {
                Err(ActionError(format!(
                    "invalid drop probability {probability}; use 0 to 1"
                )))
            }
            Self::DelayMessages { ms } if !(0.0..=MAX_DELAY_MS).contains(ms) => Err(ActionError(
                format!("invalid delay {ms} ms; use 0 to {MAX_DELAY_MS} ms"),
            )),
            Self::Partition { groups } if groups.iter().filter(|g| !g.is_empty()).count() < 2 => {
                Err(ActionError(
                    "a partition needs at least two non-empty groups".to_string(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Returns the fault's kind, to check it against what an engine supports.
    pub fn kind(&self) -> FaultKind {
        match self {
            Self::Crash { .. } | Self::Restart { .. } => FaultKind::CrashRestart,
            Self::Partition { .. } | Self::Heal => FaultKind::Partition,
            Self::DropMessages { .. } => FaultKind::DropMessages,
            Self::DelayMessages { .. } => FaultKind::DelayMessages,
            Self::FailDependency { .. } => FaultKind::Dependency,
        }
    }
}

/// The families of fault an engine can support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// [`Fault::Crash`] and [`Fault::Restart`].
    CrashRestart,
    /// [`Fault::Partition`] and [`Fault::Heal`].
    Partition,
    /// [`Fault::DropMessages`].
    DropMessages,
    /// [`Fault::DelayMessages`].
    DelayMessages,
    /// [`Fault::FailDependency`].
    Dependency,
}

/// A node as the fault controls list it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeStatus {
    /// The id that [`Fault::Crash`] and [`Fault::Restart`] take.
    pub id: u32,
    /// The name the widget shows, such as `node 3` or `worker 1`.
    pub label: String,
    /// Whether the node is running.
    pub up: bool,
}

/// An engine whose topic has faults.
pub trait Faults: Engine {
    /// The kinds of fault this engine accepts; others are rejected.
    const KINDS: &'static [FaultKind];

    /// Wraps a fault as this engine's action, so it is recorded like any other.
    fn fault_action(fault: Fault) -> Self::Action;

    /// Lists the nodes that crash and restart apply to.
    fn node_statuses(&self) -> Vec<NodeStatus>;

    /// Checks that this engine supports the fault and that its values are valid.
    fn check_fault(fault: &Fault) -> Result<(), ActionError> {
        if !Self::KINDS.contains(&fault.kind()) {
            return Err(ActionError(format!(
                "this simulation has no {:?} faults",
                fault.kind()
            )));
        }
        fault.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_outside_zero_to_one_is_rejected() {
        let fault = Fault::DropMessages { probability: 1.5 };

        assert!(fault.validate().is_err());
    }

    #[test]
    fn nan_probability_is_rejected() {
        let fault = Fault::DropMessages {
            probability: f64::NAN,
        };

        assert!(fault.validate().is_err());
    }

    #[test]
    fn negative_delay_is_rejected() {
        assert!(Fault::DelayMessages { ms: -1.0 }.validate().is_err());
    }

    #[test]
    fn partition_needs_two_groups() {
        let one_group = Fault::Partition {
            groups: vec![vec![1, 2], vec![]],
        };

        assert!(one_group.validate().is_err());
    }

    #[test]
    fn fault_serializes_with_a_tag() {
        let json = serde_json::to_string(&Fault::Crash { node: 2 }).unwrap();

        assert_eq!(json, r#"{"fault":"crash","node":2}"#);
    }
}
