//! Deterministic simulation engines behind the book's widgets.
//!
//! Every engine is pure: simulated time advances only through [`Engine::step`],
//! randomness comes from a ChaCha8 stream seeded by the caller, and reader
//! actions arrive through [`Engine::apply`]. Engines return events and never
//! render, so the same seed, configuration and actions give the same trace on
//! every platform, natively and in WebAssembly.

pub mod availability;
pub mod cache;
pub mod cdn;
pub mod circuit_breaker;
pub mod client_server;
pub mod consistent_hash;
pub mod data_model;
pub mod discovery;
pub mod dns;
mod error;
pub mod faults;
pub mod gossip;
pub mod health_check;
pub mod http_api;
pub mod idempotency;
pub mod indexing;
pub mod load_balancer;
pub mod message_queue;
pub mod metrics;
pub mod pagination;
pub mod proxy;
pub mod queue;
pub mod raft;
pub mod registry;
pub mod rng;
pub mod scaling;
pub mod scenario;
pub mod sessions;
pub mod storage;
pub mod token_bucket;

pub use error::{ActionError, ConfigError};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An engine's configuration: the widget directive's parameters.
///
/// Deserializing fills every missing field from [`Default`]; [`Config::validate`]
/// then rejects values that are out of range, so that an engine is never built
/// from a configuration it cannot run.
pub trait Config: Serialize + DeserializeOwned + Default + Clone + PartialEq {
    /// Checks every field, returning the first invalid one.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// A simulation that advances in fixed steps of simulated time.
pub trait Engine: Sized {
    /// Parameters that the widget directive and the share link set.
    type Config: Config;
    /// What a reader can do between steps: send a burst, add a node.
    type Action: Serialize + DeserializeOwned + Clone + PartialEq;
    /// What happened during a step or an action.
    type Event: Serialize + Clone;

    /// Builds an engine, rejecting an invalid configuration.
    fn new(config: Self::Config, seed: u64) -> Result<Self, ConfigError>;

    /// Advances simulated time by one step and returns what happened.
    fn step(&mut self) -> Vec<Self::Event>;

    /// Applies a reader action at the current simulated time.
    fn apply(&mut self, action: &Self::Action) -> Result<Vec<Self::Event>, ActionError>;

    /// Simulated time since the start, in milliseconds.
    fn now_ms(&self) -> f64;

    /// Reports the engine's metrics now, for the metrics panel.
    fn snapshot(&self) -> metrics::Snapshot;
}
