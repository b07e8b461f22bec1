//! Engine throughput: simulated steps per second of every engine, each at the
//! largest sizes its configuration allows.
//!
//! `cargo xtask bench` runs this benchmark and reads criterion's per-sample
//! timings from `sample.json`. Each benchmark's function name is the widget's
//! name in `sim::registry`, so that xtask can report an engine with no
//! benchmark here, and its parameter is the configuration, as directive
//! parameters, so that the report shows what was measured.
#![allow(
    missing_docs,
    reason = "criterion_group! generates a public function without documentation"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sim::Engine;
use sim::client_server::{ClientServer, ClientServerConfig};
use sim::consistent_hash::{ConsistentHash, ConsistentHashConfig};
use sim::token_bucket::{TokenBucket, TokenBucketConfig};

/// Seed of every run. Any seed gives about the same work per step.
const SEED: u64 = 1;

/// Steps run before timing starts, so that queues, histograms and sliding
/// windows hold what a long-running widget holds.
const WARM_UP_STEPS: u64 = 10_000;

/// Times `step()` on an engine that keeps running across iterations, as in a
/// widget that plays, so one iteration is one step.
fn bench_steps<E: Engine>(c: &mut Criterion, name: &str, config: E::Config) {
    let params = directive_params(&config);
    let mut engine = E::new(config, SEED)
        .unwrap_or_else(|err| panic!("{name}: the benchmark's configuration was rejected: {err}"));
    for _ in 0..WARM_UP_STEPS {
        engine.step();
    }

    let mut group = c.benchmark_group("engines");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new(name, params), |b| {
        b.iter(|| black_box(engine.step()))
    });
    group.finish();
}

/// Formats a configuration as the widget directive writes it:
/// `clients=200 workers=64`.
fn directive_params<C: serde::Serialize>(config: &C) -> String {
    let value = serde_json::to_value(config).unwrap_or_default();
    let Some(fields) = value.as_object() else {
        return value.to_string();
    };
    fields
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn client_server(c: &mut Criterion) {
    let config = ClientServerConfig {
        clients: 200,
        workers: 64,
        ..ClientServerConfig::default()
    };
    bench_steps::<ClientServer>(c, "client-server", config);
}

fn token_bucket(c: &mut Criterion) {
    let config = TokenBucketConfig {
        arrival_per_s: 1000.0,
        ..TokenBucketConfig::default()
    };
    bench_steps::<TokenBucket>(c, "token-bucket", config);
}

fn consistent_hash(c: &mut Criterion) {
    let config = ConsistentHashConfig {
        nodes: 32,
        vnodes: 256,
        keys: 10_000,
    };
    bench_steps::<ConsistentHash>(c, "consistent-hash", config);
}

criterion_group! {
    name = engines;
    // 20 samples per engine, about 3 s in all. xtask reports their median,
    // minimum and maximum.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = client_server, token_bucket, consistent_hash
}
criterion_main!(engines);
