//! The widgets that chapters can embed, by the name the directive uses.

use serde_json::{Map, Value};

use crate::{
    Config, Engine, availability, cache, cdn, circuit_breaker, client_server, consistent_hash,
    data_model, discovery, dns, gossip, health_check, http_api, idempotency, indexing,
    load_balancer, message_queue, pagination, proxy, queue, raft, scaling, sessions, storage,
    token_bucket,
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

/// Defines [`WIDGETS`] and [`NAMES`] from one list, so the two never differ.
macro_rules! registry {
    ($($name:literal => $engine:ty, $summary:literal;)*) => {
        /// Every widget a chapter can embed. Order does not matter; append new ones.
        pub const WIDGETS: &[WidgetKind] = &[$(kind::<$engine>($name, $summary)),*];

        /// Every widget's directive name. Code that only needs names uses this
        /// list, because `WIDGETS` links every engine into the binary.
        pub const NAMES: &[&str] = &[$($name),*];
    };
}

registry! {
    "client-server" => client_server::ClientServer,
        "Clients send requests to a server with a fixed pool of workers.";
    "token-bucket" => token_bucket::TokenBucket,
        "A token bucket admits a burst up to its capacity, then one request per refill.";
    "consistent-hash" => consistent_hash::ConsistentHash,
        "Keys on a hash ring; adding a node moves only the keys it takes over.";
    "cache" => cache::Cache,
        "A cache with a TTL in front of a database; hit ratio and stale reads per strategy.";
    "dns" => dns::Dns,
        "A caching resolver walks root, TLD and authoritative servers on a miss.";
    "availability" => availability::Availability,
        "Components fail and get repaired; series and parallel set the system's availability.";
    "circuit-breaker" => circuit_breaker::CircuitBreaker,
        "A circuit breaker opens when calls to a failing dependency time out, and sheds calls fast.";
    "idempotency" => idempotency::Idempotency,
        "Clients retry payments after lost responses; idempotency keys stop the duplicate charges.";
    "load-balancer" => load_balancer::LoadBalancer,
        "A load balancer spreads requests over servers by round-robin or least-connections.";
    "queue" => queue::Queue,
        "Requests arrive at random into a queue in front of a few servers; latency climbs as utilization nears 1.";
    "proxy" => proxy::Proxy,
        "A forward or reverse proxy caches, filters, routes and hides the other side.";
    "indexing" => indexing::Indexing,
        "A growing table queried by key: every row scanned, or a B-tree index's depth plus matches.";
    "data-model" => data_model::DataModel,
        "One dataset as normalized tables and as order documents; what each access pattern costs.";
    "http-api" => http_api::HttpApi,
        "HTTP methods against a collection of orders: status codes, safety and idempotency.";
    "message-queue" => message_queue::MessageQueue,
        "Producers publish to a queue that consumers drain and ack; unacked messages are redelivered.";
    "pagination" => pagination::Pagination,
        "An offset reader and a cursor reader page through a list that changes under them.";
    "scaling" => scaling::Scaling,
        "A bigger machine or more machines under load; capacity follows the Universal Scalability Law.";
    "cdn" => cdn::Cdn,
        "Edge caches in four regions serve objects with a TTL; misses cross the world to the origin.";
    "storage" => storage::Storage,
        "One workload on block, file and object storage: requests, bytes and cost per operation.";
    "sessions" => sessions::Sessions,
        "Users' sessions kept in one server's memory (sticky) or in a shared store; a crash loses the sticky ones.";
    "health-check" => health_check::HealthCheck,
        "A balancer routes only to instances its readiness probes pass; failed liveness probes restart a hung one.";
    "discovery" => discovery::Discovery,
        "Instances heartbeat to a registry with a TTL; clients send requests from a cached list.";
    "raft" => raft::Raft,
        "Raft nodes elect a leader by majority vote in numbered terms; a leader's heartbeats hold off new elections.";
    "gossip" => gossip::Gossip,
        "Nodes push the newest version of a value to random peers each round until every node has it.";
}

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
    NAMES.to_vec()
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
