//! The widgets that chapters can embed, by the name the directive uses.

use serde_json::{Map, Value};

use crate::{
    Config, Engine, availability, cache, cdn, circuit_breaker, client_server, consistent_hash,
    data_model, dns, http_api, idempotency, indexing, load_balancer, message_queue, pagination,
    proxy, queue, scaling, storage, token_bucket,
};

/// One widget the `{{#widget NAME ...}}` directive can name.
#[derive(Debug)]
pub struct WidgetKind {
    /// The name in the directive, in kebab case.
    pub name: &'static str,
    /// One line for the static fallback and for error messages.
    pub summary: &'static str,
    /// Parses directive parameters into the full configuration, defaults filled in.
    pub check: fn(Map<String, Value>) -> Result<Value, String>,
    /// The default configuration as JSON.
    pub defaults: fn() -> Value,
    /// Replays an encoded scenario into its event trace as JSON lines.
    pub replay: fn(&str) -> Result<Vec<String>, String>,
    /// Replays an encoded scenario and returns the metrics at its end.
    pub snapshot: fn(&str) -> Result<crate::metrics::Snapshot, String>,
}

/// Every widget a chapter can embed. Order does not matter; append new ones.
pub const WIDGETS: &[WidgetKind] = &[
    kind::<client_server::ClientServer>(
        "client-server",
        "Clients send requests to a server with a fixed pool of workers.",
    ),
    kind::<token_bucket::TokenBucket>(
        "token-bucket",
        "A token bucket admits a burst up to its capacity, then one request per refill.",
    ),
    kind::<consistent_hash::ConsistentHash>(
        "consistent-hash",
        "Keys on a hash ring; adding a node moves only the keys it takes over.",
    ),
    kind::<cache::Cache>(
        "cache",
        "A cache with a TTL in front of a database; hit ratio and stale reads per strategy.",
    ),
    kind::<dns::Dns>(
        "dns",
        "A caching resolver walks root, TLD and authoritative servers on a miss.",
    ),
    kind::<availability::Availability>(
        "availability",
        "Components fail and get repaired; series and parallel set the system's availability.",
    ),
    kind::<circuit_breaker::CircuitBreaker>(
        "circuit-breaker",
        "A circuit breaker opens when calls to a failing dependency time out, and sheds calls fast.",
    ),
    kind::<idempotency::Idempotency>(
        "idempotency",
        "Clients retry payments after lost responses; idempotency keys stop the duplicate charges.",
    ),
    kind::<load_balancer::LoadBalancer>(
        "load-balancer",
        "A load balancer spreads requests over servers by round-robin or least-connections.",
    ),
    kind::<queue::Queue>(
        "queue",
        "Requests arrive at random into a queue in front of a few servers; latency climbs as utilization nears 1.",
    ),
    kind::<proxy::Proxy>(
        "proxy",
        "A forward or reverse proxy caches, filters, routes and hides the other side.",
    ),
    kind::<indexing::Indexing>(
        "indexing",
        "A growing table queried by key: every row scanned, or a B-tree index's depth plus matches.",
    ),
    kind::<data_model::DataModel>(
        "data-model",
        "One dataset as normalized tables and as order documents; what each access pattern costs.",
    ),
    kind::<http_api::HttpApi>(
        "http-api",
        "HTTP methods against a collection of orders: status codes, safety and idempotency.",
    ),
    kind::<message_queue::MessageQueue>(
        "message-queue",
        "Producers publish to a queue that consumers drain and ack; unacked messages are redelivered.",
    ),
    kind::<pagination::Pagination>(
        "pagination",
        "An offset reader and a cursor reader page through a list that changes under them.",
    ),
    kind::<scaling::Scaling>(
        "scaling",
        "A bigger machine or more machines under load; capacity follows the Universal Scalability Law.",
    ),
    kind::<cdn::Cdn>(
        "cdn",
        "Edge caches in four regions serve objects with a TTL; misses cross the world to the origin.",
    ),
    kind::<storage::Storage>(
        "storage",
        "One workload on block, file and object storage: requests, bytes and cost per operation.",
    ),
    kind::<crate::discovery::Discovery>(
        "discovery",
        "Instances heartbeat to a registry with a TTL; clients send requests from a cached list.",
    ),
];

const fn kind<E: Engine>(name: &'static str, summary: &'static str) -> WidgetKind {
    WidgetKind {
        name,
        summary,
        check: check_params::<E>,
        defaults: default_config::<E>,
        replay: crate::scenario::replay_json_lines::<E>,
        snapshot: crate::scenario::replay_snapshot::<E>,
    }
}

/// Finds a widget by its directive name.
pub fn find(name: &str) -> Option<&'static WidgetKind> {
    WIDGETS.iter().find(|kind| kind.name == name)
}

/// Lists every widget name, for "unknown widget" messages.
pub fn names() -> Vec<&'static str> {
    WIDGETS.iter().map(|kind| kind.name).collect()
}

fn check_params<E: Engine>(params: Map<String, Value>) -> Result<Value, String> {
    let config: E::Config =
        serde_json::from_value(Value::Object(params)).map_err(|err| err.to_string())?;
    config.validate().map_err(|err| err.to_string())?;
    serde_json::to_value(config).map_err(|err| err.to_string())
}

fn default_config<E: Engine>() -> Value {
    // Serializing a plain struct of numbers cannot fail.
    serde_json::to_value(E::Config::default()).unwrap_or(Value::Null)
}
