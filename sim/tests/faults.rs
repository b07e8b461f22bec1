//! Fault injection through the shared fault interface.

use sim::Engine;
use sim::client_server::{self, ClientServer, ClientServerConfig};
use sim::consistent_hash::{Action, ConsistentHash, ConsistentHashConfig};
use sim::faults::{Fault, FaultKind, Faults};

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

fn server(seed: u64) -> ClientServer {
    let config = ClientServerConfig {
        clients: 10,
        workers: 3,
        service_ms: 100.0,
        think_ms: 0.0,
    };
    ClientServer::new(config, seed).unwrap()
}

#[test]
fn server_offers_only_crash_restart() {
    assert_eq!(ClientServer::KINDS, &[FaultKind::CrashRestart]);
}

#[test]
fn worker_statuses_show_crashed_workers_down() {
    let mut server = server(1);

    server
        .apply(&ClientServer::fault_action(Fault::Crash { node: 1 }))
        .unwrap();
    let statuses = server.node_statuses();

    let labels: Vec<&str> = statuses.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["worker 0", "worker 1", "worker 2"]);
    assert!(statuses.iter().all(|s| s.up == (s.id != 1)), "{statuses:?}");
}

#[test]
fn worker_restart_brings_it_back_up() {
    let mut server = server(1);

    server
        .apply(&ClientServer::fault_action(Fault::Crash { node: 2 }))
        .unwrap();
    server
        .apply(&ClientServer::fault_action(Fault::Restart { node: 2 }))
        .unwrap();

    assert!(server.node_statuses().iter().all(|s| s.up));
}

#[test]
fn worker_fault_round_trips_through_json() {
    let action = client_server::Action::Fault(Fault::Restart { node: 1 });

    let json = serde_json::to_string(&action).unwrap();
    let back: client_server::Action = serde_json::from_str(&json).unwrap();

    assert_eq!(json, r#"{"type":"fault","fault":"restart","node":1}"#);
    assert_eq!(back, action);
}

#[test]
fn crash_event_names_the_lost_request() {
    let mut server = server(3);
    for _ in 0..5 {
        server.step();
    }
    let lost = server.workers()[0].serving.as_ref().map(|s| s.request.id);

    let events = server
        .apply(&client_server::Action::Fault(Fault::Crash { node: 0 }))
        .unwrap();
    let json = serde_json::to_value(&events[0]).unwrap();

    assert!(lost.is_some(), "every worker is busy with no think time");
    assert_eq!(json["type"], "worker_crashed");
    assert_eq!(json["worker_id"], 0);
    assert_eq!(json["lost_request_id"], serde_json::json!(lost));
}
