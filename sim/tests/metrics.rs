//! Every engine's snapshot reports the same numbers as its own accessors.

use sim::Engine;
use sim::client_server::{ClientServer, ClientServerConfig};
use sim::consistent_hash::{Action as RingAction, ConsistentHash, ConsistentHashConfig};
use sim::token_bucket::{Action as BucketAction, TokenBucket, TokenBucketConfig};

fn value(snapshot: &sim::metrics::Snapshot, key: &str) -> f64 {
    snapshot
        .metric(key)
        .unwrap_or_else(|| panic!("no metric `{key}`"))
        .value
}

#[test]
fn client_server_snapshot_matches_accessors() {
    let mut server = ClientServer::new(ClientServerConfig::default(), 3).unwrap();
    for _ in 0..500 {
        server.step();
    }

    let snapshot = server.snapshot();

    assert_eq!(
        value(&snapshot, "throughput"),
        server.recent_throughput_per_s()
    );
    assert_eq!(
        Some(value(&snapshot, "mean-latency")),
        server.recent_mean_latency_ms()
    );
    assert_eq!(value(&snapshot, "queue"), server.queue().len() as f64);
    assert_eq!(value(&snapshot, "completed"), server.completed() as f64);
    assert_eq!(snapshot.latency, server.recent_latency_percentiles());
    assert_eq!(snapshot.at_ms, server.now_ms());
}

#[test]
fn token_bucket_snapshot_matches_accessors() {
    let mut bucket = TokenBucket::new(TokenBucketConfig::default(), 3).unwrap();
    bucket.apply(&BucketAction::Burst { count: 8 }).unwrap();
    for _ in 0..30 {
        bucket.step();
    }

    let snapshot = bucket.snapshot();

    assert_eq!(value(&snapshot, "tokens"), bucket.tokens());
    assert_eq!(value(&snapshot, "accepted"), bucket.accepted_total() as f64);
    assert_eq!(value(&snapshot, "rejected"), bucket.rejected_total() as f64);
    assert_eq!(value(&snapshot, "accepted-rate"), bucket.accepted_per_s());
}

#[test]
fn consistent_hash_snapshot_matches_accessors() {
    let mut ring = ConsistentHash::new(ConsistentHashConfig::default(), 3).unwrap();
    ring.apply(&RingAction::AddNode).unwrap();

    let snapshot = ring.snapshot();
    let last = ring.last_move().unwrap();

    assert_eq!(
        value(&snapshot, "moved-ring"),
        f64::from(last.moved_by_ring)
    );
    assert_eq!(
        value(&snapshot, "moved-mod-n"),
        f64::from(last.moved_by_mod_n)
    );
    assert_eq!(value(&snapshot, "nodes"), ring.nodes().len() as f64);
    assert_eq!(value(&snapshot, "max-over-mean"), ring.load_max_over_mean());
    assert_eq!(value(&snapshot, "std-dev"), ring.load_std_dev());
}
