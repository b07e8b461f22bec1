//! Client-server model: closed-loop clients and a server with a pool of workers.
//!
//! STUB: the configuration below is the contract with the directive and the
//! widget; the engine is being written.

use serde::{Deserialize, Serialize};

use crate::{ActionError, Config, ConfigError, Engine};

/// Parameters of the client-server widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientServerConfig {
    /// Clients, each with at most one request outstanding.
    pub clients: u32,
    /// Requests the server handles at once; the rest wait in its queue.
    pub workers: u32,
    /// Mean service time of one request, in milliseconds (exponential).
    pub service_ms: f64,
    /// Mean pause between a response and a client's next request, in milliseconds.
    pub think_ms: f64,
}

impl Default for ClientServerConfig {
    fn default() -> Self {
        Self { clients: 4, workers: 2, service_ms: 100.0, think_ms: 400.0 }
    }
}

impl Config for ClientServerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("clients", self.clients, 1, 200)?;
        ConfigError::check_range_u32("workers", self.workers, 1, 64)?;
        ConfigError::check_range_f64("service_ms", self.service_ms, 1.0, 10_000.0)?;
        ConfigError::check_range_f64("think_ms", self.think_ms, 0.0, 60_000.0)?;
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

/// The client-server engine.
#[derive(Debug, Clone)]
pub struct ClientServer {
    config: ClientServerConfig,
    now_ms: f64,
}

impl Engine for ClientServer {
    type Config = ClientServerConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: ClientServerConfig, _seed: u64) -> Result<Self, ConfigError> {
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
