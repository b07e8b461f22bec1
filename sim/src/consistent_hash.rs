//! Consistent hashing: keys on a ring of virtual nodes, compared with mod-N.
//!
//! STUB: the configuration below is the contract with the directive and the
//! widget; the engine is being written.

use serde::{Deserialize, Serialize};

use crate::{ActionError, Config, ConfigError, Engine};

/// Parameters of the consistent hashing widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsistentHashConfig {
    /// Nodes on the ring at the start.
    pub nodes: u32,
    /// Virtual nodes (ring positions) per node.
    pub vnodes: u32,
    /// Keys placed on the ring.
    pub keys: u32,
}

impl Default for ConsistentHashConfig {
    fn default() -> Self {
        Self { nodes: 4, vnodes: 8, keys: 200 }
    }
}

impl Config for ConsistentHashConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("nodes", self.nodes, 1, 32)?;
        ConfigError::check_range_u32("vnodes", self.vnodes, 1, 256)?;
        ConfigError::check_range_u32("keys", self.keys, 1, 10_000)?;
        Ok(())
    }
}

/// What a reader can do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Sends `count` requests at the current instant.
    Burst {
        /// Number of requests, 1 to 1000.
        count: u32,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A request took a token.
    Accepted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Tokens left after this request.
        tokens: f64,
    },
}

/// The consistent hashing engine.
#[derive(Debug, Clone)]
pub struct ConsistentHash {
    config: ConsistentHashConfig,
    now_ms: f64,
}

impl Engine for ConsistentHash {
    type Config = ConsistentHashConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: ConsistentHashConfig, _seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self { config, now_ms: 0.0 })
    }

    fn step(&mut self) -> Vec<Event> {
        self.now_ms += 50.0;
        Vec::new()
    }

    fn apply(&mut self, _action: &Action) -> Result<Vec<Event>, ActionError> {
        let _ = &self.config;
        Ok(Vec::new())
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }
}
