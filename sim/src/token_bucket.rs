//! Token bucket rate limiter: a burst up to `capacity`, then `refill_per_s`.
//!
//! STUB: the configuration below is the contract with the directive and the
//! widget; the engine is being written.

use serde::{Deserialize, Serialize};

use crate::{ActionError, Config, ConfigError, Engine};

/// Parameters of the token bucket widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenBucketConfig {
    /// Most tokens the bucket holds, so the largest burst it admits at once.
    pub capacity: u32,
    /// Tokens added per second of simulated time.
    pub refill_per_s: f64,
    /// Mean rate of background requests (Poisson arrivals), per second.
    pub arrival_per_s: f64,
}

impl Default for TokenBucketConfig {
    fn default() -> Self {
        Self { capacity: 5, refill_per_s: 1.0, arrival_per_s: 0.5 }
    }
}

impl Config for TokenBucketConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("capacity", self.capacity, 1, 1000)?;
        ConfigError::check_range_f64("refill_per_s", self.refill_per_s, 0.01, 1000.0)?;
        ConfigError::check_range_f64("arrival_per_s", self.arrival_per_s, 0.0, 1000.0)?;
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

/// The token bucket engine.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    config: TokenBucketConfig,
    now_ms: f64,
}

impl Engine for TokenBucket {
    type Config = TokenBucketConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: TokenBucketConfig, _seed: u64) -> Result<Self, ConfigError> {
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
