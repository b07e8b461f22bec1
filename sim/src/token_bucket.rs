//! Token bucket rate limiter: a burst up to `capacity`, then `refill_per_s`.
//!
//! The bucket starts full and gains `refill_per_s` tokens per second of
//! simulated time, continuously, up to `capacity`. Each request takes one
//! token if a whole token is there and is rejected otherwise, so over any
//! window of `t` seconds the bucket admits at most `capacity + refill_per_s * t`
//! requests. Background requests arrive as a Poisson process at `arrival_per_s`;
//! the reader adds bursts of simultaneous requests with [`Action::Burst`].
//!
//! The level is stored as the value at the last decision plus the time of that
//! decision, and the refill since then is computed when needed. Refilling once
//! per step instead would add up a rounding error every step.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::metrics::{Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Largest burst one [`Action::Burst`] may send.
pub const MAX_BURST: u32 = 1000;

/// Decisions kept for [`TokenBucket::timeline`], newest last.
pub const TIMELINE_LEN: usize = 200;

/// Samples of the level kept for [`TokenBucket::level_trace`]: 10 s at one per step.
pub const LEVEL_TRACE_LEN: usize = 200;

/// Window over which [`TokenBucket::accepted_per_s`] and
/// [`TokenBucket::rejected_per_s`] count decisions, in milliseconds.
pub const RATE_WINDOW_MS: f64 = 1000.0;

/// Slack below one whole token that still counts as a whole token.
///
/// Every decision, rejections included, stores the level refilled so far, and
/// these floating-point sums can land one rounding step below a whole token.
/// For example, an empty bucket at 1 token per second that is checked at 200,
/// 900 and 1000 ms contains 0.2 + 0.7 + 0.1 = 0.9999999999999999 tokens.
/// Without this slack the request at 1000 ms would be rejected although the
/// bucket has refilled one token.
const WHOLE_TOKEN_SLACK: f64 = 1e-9;

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
        Self {
            capacity: 5,
            refill_per_s: 1.0,
            arrival_per_s: 0.5,
        }
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
    /// A request found less than one whole token and was turned away.
    Rejected {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Tokens in the bucket at the rejection, always less than one.
        tokens: f64,
    },
}

/// One admission decision, as the widget's timeline draws it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decision {
    /// Simulated time in milliseconds.
    pub at_ms: f64,
    /// Whether the request took a token.
    pub accepted: bool,
    /// Tokens in the bucket after the decision.
    pub tokens: f64,
}

/// The token bucket engine.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    config: TokenBucketConfig,
    rng: SimRng,
    now_ms: f64,
    /// Level right after the last decision, before any refill since.
    base_tokens: f64,
    /// Time of the last decision, from which the refill is computed on demand.
    base_ms: f64,
    /// Time of the next background request, or infinity when `arrival_per_s` is 0.
    next_arrival_ms: f64,
    accepted_total: u64,
    rejected_total: u64,
    timeline: VecDeque<Decision>,
    level_trace: VecDeque<(f64, f64)>,
    /// Times of accepted requests within the last [`RATE_WINDOW_MS`].
    recent_accepted: VecDeque<f64>,
    /// Times of rejected requests within the last [`RATE_WINDOW_MS`].
    recent_rejected: VecDeque<f64>,
}

impl TokenBucket {
    /// Returns the configuration the engine runs with.
    pub fn config(&self) -> &TokenBucketConfig {
        &self.config
    }

    /// Returns the tokens in the bucket now, from 0 to `capacity`, fractions included.
    pub fn tokens(&self) -> f64 {
        self.level_at(self.now_ms)
    }

    /// Returns the maximum tokens in the bucket, which is also the largest burst.
    pub fn capacity(&self) -> u32 {
        self.config.capacity
    }

    /// Returns the requests accepted since the start, background and bursts together.
    pub fn accepted_total(&self) -> u64 {
        self.accepted_total
    }

    /// Returns the requests rejected since the start, background and bursts together.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_total
    }

    /// Returns the last [`TIMELINE_LEN`] decisions, oldest first.
    pub fn timeline(&self) -> impl ExactSizeIterator<Item = &Decision> + '_ {
        self.timeline.iter()
    }

    /// Returns the level at the end of each of the last [`LEVEL_TRACE_LEN`] steps,
    /// as `(at_ms, tokens)`, oldest first.
    pub fn level_trace(&self) -> impl ExactSizeIterator<Item = &(f64, f64)> + '_ {
        self.level_trace.iter()
    }

    /// Returns the requests accepted in the last [`RATE_WINDOW_MS`], per second.
    ///
    /// During the first second the window is cut short at time 0 but the count
    /// is still divided by a full second.
    pub fn accepted_per_s(&self) -> f64 {
        self.recent_accepted.len() as f64 * 1000.0 / RATE_WINDOW_MS
    }

    /// Returns the requests rejected in the last [`RATE_WINDOW_MS`], per second.
    pub fn rejected_per_s(&self) -> f64 {
        self.recent_rejected.len() as f64 * 1000.0 / RATE_WINDOW_MS
    }

    /// Computes the level at `at_ms`, which must not be before the last decision.
    fn level_at(&self, at_ms: f64) -> f64 {
        let elapsed_ms = (at_ms - self.base_ms).max(0.0);
        let refilled = self.base_tokens + self.config.refill_per_s * elapsed_ms / 1000.0;
        refilled.min(f64::from(self.config.capacity))
    }

    /// Admits or rejects one request at `at_ms` and records the decision.
    fn decide(&mut self, at_ms: f64) -> Event {
        let level = self.level_at(at_ms);
        let accepted = level + WHOLE_TOKEN_SLACK >= 1.0;
        // The slack can leave a level just below 1.0, so clamp at empty.
        let after = if accepted {
            (level - 1.0).max(0.0)
        } else {
            level
        };
        self.base_tokens = after;
        self.base_ms = at_ms;

        if accepted {
            self.accepted_total += 1;
            self.recent_accepted.push_back(at_ms);
        } else {
            self.rejected_total += 1;
            self.recent_rejected.push_back(at_ms);
        }
        if self.timeline.len() == TIMELINE_LEN {
            self.timeline.pop_front();
        }
        self.timeline.push_back(Decision {
            at_ms,
            accepted,
            tokens: after,
        });

        if accepted {
            Event::Accepted {
                at_ms,
                tokens: after,
            }
        } else {
            Event::Rejected {
                at_ms,
                tokens: after,
            }
        }
    }

    /// Draws the gap to the next background request, or infinity if there are none.
    fn next_gap_ms(&mut self) -> f64 {
        if self.config.arrival_per_s > 0.0 {
            self.rng.exponential(1000.0 / self.config.arrival_per_s)
        } else {
            f64::INFINITY
        }
    }

    /// Drops decisions older than [`RATE_WINDOW_MS`] from the rate windows.
    fn trim_rate_windows(&mut self) {
        let cutoff = self.now_ms - RATE_WINDOW_MS;
        while self.recent_accepted.front().is_some_and(|&at| at <= cutoff) {
            self.recent_accepted.pop_front();
        }
        while self.recent_rejected.front().is_some_and(|&at| at <= cutoff) {
            self.recent_rejected.pop_front();
        }
    }
}

impl Engine for TokenBucket {
    type Config = TokenBucketConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: TokenBucketConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut engine = Self {
            base_tokens: f64::from(config.capacity),
            config,
            rng: SimRng::new(seed),
            now_ms: 0.0,
            base_ms: 0.0,
            next_arrival_ms: f64::INFINITY,
            accepted_total: 0,
            rejected_total: 0,
            timeline: VecDeque::with_capacity(TIMELINE_LEN),
            level_trace: VecDeque::with_capacity(LEVEL_TRACE_LEN),
            recent_accepted: VecDeque::new(),
            recent_rejected: VecDeque::new(),
        };
        engine.next_arrival_ms = engine.next_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        let end_ms = self.now_ms + STEP_MS;
        let mut events = Vec::new();
        // Each background request is decided at its own arrival time, so the
        // refill before it is exact rather than rounded to the step.
        while self.next_arrival_ms <= end_ms {
            let at_ms = self.next_arrival_ms;
            events.push(self.decide(at_ms));
            self.next_arrival_ms = at_ms + self.next_gap_ms();
        }
        self.now_ms = end_ms;
        self.trim_rate_windows();

        if self.level_trace.len() == LEVEL_TRACE_LEN {
            self.level_trace.pop_front();
        }
        self.level_trace.push_back((self.now_ms, self.tokens()));
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match *action {
            Action::Burst { count } => {
                if count == 0 || count > MAX_BURST {
                    return Err(ActionError(format!(
                        "invalid burst size {count}: send 1 to {MAX_BURST} requests"
                    )));
                }
                let at_ms = self.now_ms;
                Ok((0..count).map(|_| self.decide(at_ms)).collect())
            }
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let tokens = self.tokens();
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::new(
                    "tokens",
                    "Tokens",
                    tokens,
                    format!("{tokens:.2} / {}", self.config.capacity),
                ),
                Metric::count("accepted", "Accepted", self.accepted_total),
                Metric::count("rejected", "Rejected", self.rejected_total),
                Metric::new(
                    "accepted-rate",
                    "Accepted/s (last 1 s)",
                    self.accepted_per_s(),
                    format!("{:.1}", self.accepted_per_s()),
                ),
                Metric::new(
                    "time",
                    "Time",
                    self.now_ms / 1000.0,
                    format!("{:.1} s", self.now_ms / 1000.0),
                ),
            ],
            latency: None,
            samples: vec![Sample {
                label: "accepted/s",
                value: self.accepted_per_s(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet_bucket(capacity: u32, refill_per_s: f64) -> TokenBucket {
        let config = TokenBucketConfig {
            capacity,
            refill_per_s,
            arrival_per_s: 0.0,
        };
        match TokenBucket::new(config, 1) {
            Ok(engine) => engine,
            Err(err) => panic!("valid config rejected: {err}"),
        }
    }

    #[test]
    fn new_bucket_starts_full() {
        let engine = quiet_bucket(7, 1.0);

        assert_eq!(engine.tokens(), 7.0);
    }

    #[test]
    fn new_rejects_zero_capacity() {
        let config = TokenBucketConfig {
            capacity: 0,
            ..TokenBucketConfig::default()
        };

        let result = TokenBucket::new(config, 1);

        assert!(result.is_err(), "capacity 0 was accepted");
    }

    #[test]
    fn refill_stops_at_capacity() {
        let mut engine = quiet_bucket(3, 10.0);

        for _ in 0..100 {
            engine.step();
        }

        assert_eq!(engine.tokens(), 3.0);
    }

    #[test]
    fn refill_is_continuous() {
        let mut engine = quiet_bucket(4, 2.0);
        engine.apply(&Action::Burst { count: 4 }).ok();

        engine.step();

        // 50 ms at 2 tokens per second is a tenth of a token.
        assert!(
            (engine.tokens() - 0.1).abs() < 1e-12,
            "tokens {}",
            engine.tokens()
        );
    }

    #[test]
    fn whole_token_after_rounding_is_accepted() {
        let mut engine = quiet_bucket(1, 1.0);
        engine.apply(&Action::Burst { count: 1 }).ok();
        let mut outcomes = Vec::new();

        // Requests at 200 and 900 ms are rejected and store the level each time.
        for steps in [4, 14, 2] {
            for _ in 0..steps {
                engine.step();
            }
            let events = engine
                .apply(&Action::Burst { count: 1 })
                .unwrap_or_default();
            outcomes.push(matches!(events.first(), Some(Event::Accepted { .. })));
        }

        assert_eq!(outcomes, [false, false, true]);
    }

    #[test]
    fn burst_of_zero_is_rejected() {
        let mut engine = quiet_bucket(5, 1.0);

        let result = engine.apply(&Action::Burst { count: 0 });

        assert!(result.is_err(), "a burst of 0 was applied");
    }

    #[test]
    fn burst_above_max_is_rejected() {
        let mut engine = quiet_bucket(5, 1.0);

        let result = engine.apply(&Action::Burst {
            count: MAX_BURST + 1,
        });

        assert!(result.is_err(), "a burst of {} was applied", MAX_BURST + 1);
    }

    #[test]
    fn timeline_keeps_only_latest() {
        let mut engine = quiet_bucket(5, 1.0);

        engine.apply(&Action::Burst { count: MAX_BURST }).ok();

        assert_eq!(engine.timeline().len(), TIMELINE_LEN);
    }

    #[test]
    fn level_trace_keeps_only_latest() {
        let mut engine = quiet_bucket(5, 1.0);

        for _ in 0..LEVEL_TRACE_LEN + 50 {
            engine.step();
        }

        assert_eq!(engine.level_trace().len(), LEVEL_TRACE_LEN);
    }

    #[test]
    fn events_serialize_with_type_tag() {
        let event = Event::Rejected {
            at_ms: 50.0,
            tokens: 0.25,
        };

        let json = serde_json::to_string(&event).unwrap_or_default();

        assert_eq!(json, r#"{"type":"rejected","at_ms":50.0,"tokens":0.25}"#);
    }
}
