//! Engine throughput: simulated steps per second of every engine, each at the
//! largest sizes and rates its configuration allows, with its other parameters
//! set for the most work per step.
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
use sim::availability::{Availability, AvailabilityConfig};
use sim::cache::{Cache, CacheConfig};
use sim::cdn::{Cdn, CdnConfig};
use sim::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use sim::client_server::{ClientServer, ClientServerConfig};
use sim::consistent_hash::{ConsistentHash, ConsistentHashConfig};
use sim::data_model::{DataModel, DataModelConfig};
use sim::discovery::{Discovery, DiscoveryConfig};
use sim::dns::{Dns, DnsConfig};
use sim::gossip::{Gossip, GossipConfig};
use sim::health_check::{HealthCheck, HealthCheckConfig};
use sim::http_api::{HttpApi, HttpApiConfig};
use sim::idempotency::{Idempotency, IdempotencyConfig};
use sim::indexing::{Indexing, IndexingConfig};
use sim::load_balancer::{LoadBalancer, LoadBalancerConfig};
use sim::message_queue::{MessageQueue, MessageQueueConfig};
use sim::pagination::{Pagination, PaginationConfig};
use sim::proxy::{Proxy, ProxyConfig};
use sim::queue::{Queue, QueueConfig};
use sim::raft::{Raft, RaftConfig};
use sim::scaling::{Scaling, ScalingConfig};
use sim::sessions::{Sessions, SessionsConfig};
use sim::storage::{Storage, StorageConfig};
use sim::token_bucket::{TokenBucket, TokenBucketConfig};
use sim::{
    cache, cdn, data_model, discovery, gossip, health_check, http_api, idempotency, indexing,
    load_balancer, message_queue, pagination, proxy, queue, raft, scaling, sessions, storage,
};

/// Seed of every run. Any seed gives about the same work per step.
const SEED: u64 = 1;

/// Steps run before timing starts, so that queues, histograms and sliding
/// windows hold what a long-running widget holds.
const WARM_UP_STEPS: u64 = 10_000;

/// Times `step()` on an engine that keeps running across iterations, as in a
/// widget that plays, so one iteration is one step.
fn bench_steps<E: Engine>(c: &mut Criterion, name: &str, config: E::Config) {
    bench_steps_after::<E>(c, name, config, |_| {});
}

/// Times `step()` like [`bench_steps`], after `set_up` has applied the reader
/// actions that an engine needs before its steps do representative work.
fn bench_steps_after<E: Engine>(
    c: &mut Criterion,
    name: &str,
    config: E::Config,
    set_up: impl FnOnce(&mut E),
) {
    let params = directive_params(&config);
    let mut engine = E::new(config, SEED)
        .unwrap_or_else(|err| panic!("{name}: the benchmark's configuration was rejected: {err}"));
    set_up(&mut engine);
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

/// Applies a set-up action, panicking with the engine's name if it is rejected.
fn apply_or_panic<E: Engine>(engine: &mut E, name: &str, action: &E::Action) {
    if let Err(err) = engine.apply(action) {
        panic!("{name}: the benchmark's set-up action was rejected: {err}");
    }
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

fn cache(c: &mut Criterion) {
    let config = CacheConfig {
        keys: cache::MAX_KEYS,
        // Uniform keys and a cache of one entry make nearly every read a miss
        // that evicts, and each eviction scans every key for the LRU entry.
        zipf_s: 0.0,
        reads_per_s: 1000.0,
        writes_per_s: 100.0,
        ttl_s: 600.0,
        capacity: 1,
        strategy: cache::Strategy::UpdateOnWrite,
        compare: true,
    };
    bench_steps::<Cache>(c, "cache", config);
}

fn dns(c: &mut Criterion) {
    let config = DnsConfig {
        names: 500,
        zones: 20,
        tlds: 5,
        // TTLs of 0 make every lookup walk from the root, and the longest hop
        // keeps the most walks in flight, which the engine scans on every event.
        answer_ttl_s: 0.0,
        ns_ttl_s: 0.0,
        query_per_s: 500.0,
        hop_ms: 1000.0,
    };
    bench_steps::<Dns>(c, "dns", config);
}

fn availability(c: &mut Criterion) {
    let config = AvailabilityConfig {
        replicas: 8,
        // The minimum availabilities and the minimum MTTR give the maximum number
        // of failures and repairs in each simulated week.
        lb_availability: 0.5,
        app_availability: 0.5,
        db_availability: 0.5,
        standby: true,
        mttr_h: 0.1,
    };
    bench_steps::<Availability>(c, "availability", config);
}

fn circuit_breaker(c: &mut Criterion) {
    let config = CircuitBreakerConfig {
        rate_per_s: 200.0,
        // A healthy dependency and a threshold of 100% keep the breaker closed, so
        // every outcome recounts the 1000-outcome window. An open one sheds calls,
        // which costs less.
        service_ms: 10_000.0,
        timeout_ms: 60_000.0,
        breaker: true,
        window: 1000,
        failure_threshold_pct: 100.0,
        open_ms: 600_000.0,
        half_open_probes: 100,
        outage_start_ms: 0.0,
        outage_ms: 0.0,
    };
    bench_steps::<CircuitBreaker>(c, "circuit-breaker", config);
}

fn idempotency(c: &mut Criterion) {
    let config = IdempotencyConfig {
        rate_per_s: 100.0,
        // Every response is lost, so every payment makes all its attempts.
        loss_pct: 100.0,
        network_ms: 10_000.0,
        service_ms: 10_000.0,
        timeout_ms: 60_000.0,
        backoff_ms: 60_000.0,
        max_attempts: idempotency::MAX_ATTEMPTS,
        keys: true,
    };
    bench_steps::<Idempotency>(c, "idempotency", config);
}

fn load_balancer(c: &mut Criterion) {
    let config = LoadBalancerConfig {
        servers: load_balancer::MAX_SERVERS,
        workers: 16,
        arrival_per_s: load_balancer::MAX_ARRIVAL_PER_S,
        // 160 ms puts the 320 workers at utilization 1, the maximum completion
        // rate. A longer time drops most arrivals at full queues.
        service_ms: 160.0,
        slow_fraction: 0.0,
        slow_factor: 1.0,
        queue_limit: 1000,
        policy: load_balancer::Policy::LeastConnections,
        compare: true,
    };
    bench_steps::<LoadBalancer>(c, "load-balancer", config);
}

fn queue(c: &mut Criterion) {
    let config = QueueConfig {
        arrival_per_s: queue::MAX_ARRIVAL_PER_S,
        servers: 16,
        // 1 ms puts the servers at utilization 1 under 16,000 sub-requests per
        // second. Any longer time fills the queue and drops most requests.
        service_ms: 1.0,
        slow_fraction: 0.0,
        slow_factor: 1.0,
        fan_out: queue::MAX_FAN_OUT,
        chart: queue::Chart::Histogram,
    };
    bench_steps::<Queue>(c, "queue", config);
}

fn proxy(c: &mut Criterion) {
    let config = ProxyConfig {
        mode: proxy::Mode::Reverse,
        clients: proxy::MAX_CLIENTS,
        arrival_per_s: proxy::MAX_ARRIVAL_PER_S,
        // No cache sends every request upstream, and the slowest upstream keeps
        // the most requests in flight.
        cache_ttl_s: 0.0,
        upstream_ms: 5000.0,
        objects: 1000,
        blocked_sites: 0,
        app_servers: proxy::MAX_APP_SERVERS,
        api_fraction: 0.5,
    };
    bench_steps::<Proxy>(c, "proxy", config);
}

fn indexing(c: &mut Criterion) {
    // The table reaches its cap of 10^9 rows within the warm-up, so the timed
    // steps run queries only, whose cost is arithmetic on the row count. Fan-out
    // 2 gives the deepest tree.
    let config = IndexingConfig {
        initial_rows: 10_000_000,
        insert_per_s: indexing::MAX_INSERT_PER_S,
        query_per_s: indexing::MAX_QUERY_PER_S,
        range_pct: 100.0,
        range_rows: 100_000,
        fanout: 2,
        indexed: true,
        cost_per_row_us: 1000.0,
    };
    bench_steps::<Indexing>(c, "indexing", config);
}

fn data_model(c: &mut Criterion) {
    // NOTE: every fifth step places an order, so the revenue report, which
    // reads every order, grows slowly over a long run.
    let config = DataModelConfig {
        users: data_model::MAX_USERS,
        products: data_model::MAX_PRODUCTS,
        orders_per_user: data_model::MAX_ORDERS_PER_USER,
        items_per_order: data_model::MAX_ITEMS_PER_ORDER,
        round_trip_ms: 100.0,
    };
    bench_steps::<DataModel>(c, "data-model", config);
}

fn http_api(c: &mut Criterion) {
    // The crawler is the only client that runs between reader actions, because
    // lost responses delay only the reader's requests, which the set-up sends.
    let config = HttpApiConfig {
        design: http_api::Design::Resource,
        loss_pct: 100.0,
        crawler_per_s: 20.0,
    };
    // A full store gives the crawler the maximum number of links on every page.
    let fill_store = |engine: &mut HttpApi| {
        let create = http_api::Action::Send {
            method: http_api::Method::Post,
            path: "/orders".to_string(),
            stale_if_match: false,
        };
        for _ in 0..http_api::MAX_ORDERS {
            apply_or_panic(engine, "http-api", &create);
        }
    };
    bench_steps_after::<HttpApi>(c, "http-api", config, fill_store);
}

fn message_queue(c: &mut Criterion) {
    let config = MessageQueueConfig {
        mode: message_queue::Mode::Queue,
        publish_per_s: message_queue::MAX_PUBLISH_PER_S,
        consumers: message_queue::MAX_CONSUMERS,
        // 40 ms puts the 8 consumers at utilization 1, the maximum rate of
        // deliveries and acks.
        process_ms: 40.0,
        max_len: message_queue::MAX_QUEUE_LEN,
        overflow: message_queue::Overflow::DropOldest,
        ack_timeout_ms: 600_000.0,
    };
    bench_steps::<MessageQueue>(c, "message-queue", config);
}

fn pagination(c: &mut Criterion) {
    // NOTE: both readers reach the end of the list within the warm-up, so the
    // timed steps run the inserts, the deletes and the scan for missed rows,
    // but no page fetches.
    let config = PaginationConfig {
        rows: pagination::MAX_ROWS,
        page_size: pagination::MAX_PAGE_SIZE,
        insert_per_s: pagination::MAX_RATE_PER_S,
        delete_per_s: pagination::MAX_RATE_PER_S,
        page_ms: 100.0,
    };
    bench_steps::<Pagination>(c, "pagination", config);
}

fn scaling(c: &mut Criterion) {
    let config = ScalingConfig {
        mode: scaling::Mode::Horizontal,
        cores: 128,
        nodes: scaling::MAX_NODES,
        load_per_s: scaling::MAX_LOAD_PER_S,
        // Without contention, 800 ms puts the 4096 workers at utilization 0.98
        // under the maximum load. A longer time drops most requests at the queues.
        service_ms: 800.0,
        sigma: 0.0,
        kappa: 0.0,
        queue_limit: 10_000,
    };
    bench_steps::<Scaling>(c, "scaling", config);
}

fn cdn(c: &mut Criterion) {
    let config = CdnConfig {
        regions: cdn::MAX_REGIONS,
        objects: cdn::MAX_OBJECTS,
        // Uniform popularity and a TTL of 0 make every request a miss that
        // goes through the shield to the origin.
        zipf_s: 0.0,
        requests_per_s: cdn::MAX_REQUESTS_PER_S,
        ttl_s: 0.0,
        shield: true,
        stale_if_error_s: cdn::MAX_TTL_S,
    };
    bench_steps::<Cdn>(c, "cdn", config);
}

fn storage(c: &mut Criterion) {
    let config = StorageConfig {
        files: storage::MAX_FILES,
        file_kb: storage::MAX_FILE_KB,
        block_kb: 1024,
        io_kb: storage::MAX_FILE_KB,
        ops_per_s: storage::MAX_OPS_PER_S,
    };
    bench_steps::<Storage>(c, "storage", config);
}

fn sessions(c: &mut Criterion) {
    let config = SessionsConfig {
        servers: sessions::MAX_SERVERS,
        users: sessions::MAX_USERS,
        requests_per_user_per_s: sessions::MAX_RATE_PER_USER,
        activity_skew: 0.0,
        // 5 ms puts the 10 servers at utilization 1 under 2000 requests per
        // second, and with no store round trip the shared lane is as busy.
        service_ms: 5.0,
        store_ms: 0.0,
        queue_limit: 1000,
        mode: sessions::Mode::Shared,
        compare: true,
    };
    bench_steps::<Sessions>(c, "sessions", config);
}

fn health_check(c: &mut Criterion) {
    let config = HealthCheckConfig {
        instances: health_check::MAX_INSTANCES,
        warm: health_check::MAX_INSTANCES,
        rate_per_s: 500.0,
        // The maximum service time keeps the most requests in flight, and the
        // minimum period sends the most probes. No instance hangs.
        service_ms: 10_000.0,
        timeout_ms: 60_000.0,
        period_ms: 100.0,
        failure_threshold: 100,
        success_threshold: 100,
        warmup_ms: 0.0,
        checks: true,
        hang_at_ms: 0.0,
        hang_instance: 0,
    };
    bench_steps::<HealthCheck>(c, "health-check", config);
}

fn discovery(c: &mut Criterion) {
    let config = DiscoveryConfig {
        instances: discovery::MAX_INSTANCES,
        clients: discovery::MAX_CLIENTS,
        rate_per_s: discovery::MAX_RATE_PER_S,
        // The minimum periods give the most heartbeats and refreshes, and a TTL
        // of three heartbeats keeps every instance listed.
        heartbeat_ms: 50.0,
        ttl_ms: 150.0,
        refresh_ms: 50.0,
        drain_ms: 0.0,
        crash_at_ms: 0.0,
    };
    bench_steps::<Discovery>(c, "discovery", config);
}

fn raft(c: &mut Criterion) {
    // The shortest timeouts under the longest latency keep every node starting elections that
    // never finish, so about 5,700 vote requests and responses stay in flight (seed 1, 20 s).
    let config = RaftConfig {
        nodes: raft::MAX_NODES,
        election_timeout_min_ms: raft::MIN_TIMEOUT_MS,
        election_timeout_max_ms: 2.0 * raft::MIN_TIMEOUT_MS,
        heartbeat_ms: raft::MIN_HEARTBEAT_MS,
        latency_ms: raft::MAX_LATENCY_MS,
        latency_jitter_ms: raft::MAX_LATENCY_MS,
    };
    bench_steps::<Raft>(c, "raft", config);
}

fn gossip(c: &mut Criterion) {
    // Every node pushes for ever to the most peers at the shortest round, and a latency of a
    // whole round keeps nodes × fanout = 800 messages in flight. Loss draws one more random
    // number per message.
    let config = GossipConfig {
        nodes: gossip::MAX_NODES,
        fanout: gossip::MAX_FANOUT,
        round_ms: gossip::MIN_ROUND_MS,
        latency_ms: gossip::MIN_ROUND_MS,
        loss: 0.5,
        rumor_rounds: 0,
    };
    bench_steps::<Gossip>(c, "gossip", config);
}

criterion_group! {
    name = engines;
    // 20 samples per engine, about 3 s in all. xtask reports their median,
    // minimum and maximum.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = client_server, token_bucket, consistent_hash, cache, dns, availability,
        circuit_breaker, idempotency, load_balancer, queue, proxy, indexing, data_model,
        http_api, message_queue, pagination, scaling, cdn, storage, sessions, health_check,
        discovery, raft, gossip
}
criterion_main!(engines);
