//! The widgets that chapters can embed, by the name the directive uses.

use serde_json::{Map, Value};

use crate::{Config, Engine, client_server, consistent_hash, token_bucket};

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

/// Every widget, in the order the book introduces them.
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
