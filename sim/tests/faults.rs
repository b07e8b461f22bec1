//! Fault injection through the shared fault interface.

use sim::Engine;
use sim::consistent_hash::{Action, ConsistentHash, ConsistentHashConfig};
use sim::faults::{Fault, Faults};

fn ring(seed: u64) -> ConsistentHash {
    let config = ConsistentHashConfig {
        nodes: 5,
        vnodes: 64,
        keys: 2_000,
    };
    ConsistentHash::new(config, seed).unwrap()
}

fn owners(ring: &ConsistentHash) -> Vec<u32> {
    ring.keys().iter().map(|key| key.node).collect()
}

#[test]
fn crash_moves_only_the_crashed_nodes_keys() {
    // Invariant: a crash reassigns exactly the keys the crashed node owned.
    for seed in 0..50 {
        let mut ring = ring(seed);
        let before = owners(&ring);

        ring.apply(&ConsistentHash::fault_action(Fault::Crash { node: 2 }))
            .unwrap();
        let after = owners(&ring);

        for (i, (old, new)) in before.iter().zip(&after).enumerate() {
            assert_eq!(
                old == new,
                *old != 2,
                "seed {seed}: key {i} moved {old} -> {new}"
            );
        }
    }
}

#[test]
fn restart_moves_back_exactly_the_crashed_keys() {
    // Invariant: crash then restart restores every key to its owner.
    for seed in 0..50 {
        let mut ring = ring(seed);
        let before = owners(&ring);

        ring.apply(&ConsistentHash::fault_action(Fault::Crash { node: 3 }))
            .unwrap();
        ring.apply(&ConsistentHash::fault_action(Fault::Restart { node: 3 }))
            .unwrap();

        assert_eq!(owners(&ring), before, "seed {seed}");
        assert!(ring.crashed().is_empty(), "seed {seed}");
    }
}

#[test]
fn node_statuses_show_crashed_nodes_down() {
    let mut ring = ring(1);

    ring.apply(&Action::Fault(Fault::Crash { node: 1 }))
        .unwrap();
    let statuses = ring.node_statuses();

    assert_eq!(statuses.len(), 5);
    assert!(statuses.iter().all(|s| s.up == (s.id != 1)), "{statuses:?}");
}

#[test]
fn restarting_a_live_node_is_rejected() {
    let mut ring = ring(1);

    let result = ring.apply(&Action::Fault(Fault::Restart { node: 1 }));

    assert!(result.is_err());
}

#[test]
fn crashing_the_last_node_is_rejected() {
    let config = ConsistentHashConfig {
        nodes: 1,
        vnodes: 4,
        keys: 10,
    };
    let mut ring = ConsistentHash::new(config, 1).unwrap();

    let result = ring.apply(&Action::Fault(Fault::Crash { node: 0 }));

    assert!(result.is_err());
}

#[test]
fn unsupported_faults_are_rejected() {
    let mut ring = ring(1);
    let faults = [
        Fault::Heal,
        Fault::DropMessages { probability: 0.5 },
        Fault::DelayMessages { ms: 10.0 },
        Fault::FailDependency { failing: true },
    ];

    for fault in faults {
        let result = ring.apply(&Action::Fault(fault.clone()));

        assert!(result.is_err(), "{fault:?} should be rejected");
    }
}

#[test]
fn fault_actions_round_trip_through_json() {
    let action = Action::Fault(Fault::Crash { node: 4 });

    let json = serde_json::to_string(&action).unwrap();
    let back: Action = serde_json::from_str(&json).unwrap();

    assert_eq!(json, r#"{"type":"fault","fault":"crash","node":4}"#);
    assert_eq!(back, action);
}
