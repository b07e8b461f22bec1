//! Idempotency keys: clients retry payments over a lossy network, and a server charges.
//!
//! Payments start as a Poisson process at `rate_per_s`. For each one the client sends an
//! attempt that reaches the server after `network_ms`. The server works for `service_ms`, then
//! responds, and the response travels `network_ms` back unless the network drops it, which
//! happens with probability `loss_pct` / 100. Requests are never dropped. A client that has no
//! response `timeout_ms` after sending waits `backoff_ms` and retries, up to `max_attempts`
//! attempts in all, then gives up.
//!
//! Without keys the server charges every attempt that reaches it, so a retry after a lost
//! response charges the customer again. With `keys` on, every attempt of a payment carries the
//! same idempotency key. The server stores key -> result: the first attempt charges and stores
//! its result, a later attempt gets the stored result without a charge, and an attempt that
//! arrives while the first is still being processed gets `409 Conflict` and counts as a failed
//! attempt. The server forgets a key once its payment has ended on the client and no attempt of
//! it is left in flight, which keeps the store bounded. A real server keeps keys for a fixed
//! time instead.
//!
//! Within a step of [`STEP_MS`] due events run in time order, ties in the order they were
//! scheduled.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::metrics::{LatencyHistogram, Metric, Percentiles, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Payments kept for [`Idempotency::recent_payments`], newest last.
pub const RECENT_PAYMENTS: usize = 8;

/// Largest `max_attempts` the configuration accepts.
pub const MAX_ATTEMPTS: u32 = 10;

/// Parameters of the idempotency widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// Mean rate of new payments (Poisson arrivals), per second.
    pub rate_per_s: f64,
    /// Percentage of responses the network drops.
    pub loss_pct: f64,
    /// One-way network delay, in milliseconds.
    pub network_ms: f64,
    /// Time the server takes to process one attempt, in milliseconds.
    pub service_ms: f64,
    /// Time a client waits for a response before it gives up on an attempt, in milliseconds.
    pub timeout_ms: f64,
    /// Pause between a failed attempt and the retry, in milliseconds.
    pub backoff_ms: f64,
    /// Attempts per payment, the first included.
    pub max_attempts: u32,
    /// Whether attempts carry an idempotency key that the server honours.
    pub keys: bool,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            rate_per_s: 2.0,
            loss_pct: 30.0,
            network_ms: 20.0,
            service_ms: 50.0,
            timeout_ms: 500.0,
            backoff_ms: 100.0,
            max_attempts: 3,
            keys: false,
        }
    }
}

impl Config for IdempotencyConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_f64("rate_per_s", self.rate_per_s, 0.1, 100.0)?;
        ConfigError::check_range_f64("loss_pct", self.loss_pct, 0.0, 100.0)?;
        ConfigError::check_range_f64("network_ms", self.network_ms, 0.0, 10_000.0)?;
        ConfigError::check_range_f64("service_ms", self.service_ms, 0.0, 10_000.0)?;
        ConfigError::check_range_f64("timeout_ms", self.timeout_ms, 1.0, 60_000.0)?;
        ConfigError::check_range_f64("backoff_ms", self.backoff_ms, 0.0, 60_000.0)?;
        ConfigError::check_range_u32("max_attempts", self.max_attempts, 1, MAX_ATTEMPTS)?;
        Ok(())
    }
}

/// An action a reader can take between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Turns idempotency keys on or off for attempts sent from now on.
    SetKeys {
        /// Whether new attempts carry a key.
        enabled: bool,
    },
}

/// The server's reply to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The server charged the card.
    Charged,
    /// The server found the key's stored result and returned it without charging.
    Replayed,
    /// The key's first attempt was still being processed: `409 Conflict`, nothing charged.
    Conflict,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A client sent an attempt of a payment.
    Sent {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The payment, numbered from 0.
        payment_id: u64,
        /// 1 for the first attempt, 2 for the first retry, and so on.
        attempt: u32,
        /// Whether the attempt carries an idempotency key.
        keyed: bool,
    },
    /// The server processed an attempt.
    Processed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The payment.
        payment_id: u64,
        /// The attempt.
        attempt: u32,
        /// The server's reply to the attempt.
        reply: Reply,
        /// Whether this charge is the payment's second or later: a duplicate.
        duplicate: bool,
    },
    /// The network dropped the server's response.
    ResponseLost {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The payment.
        payment_id: u64,
        /// The attempt.
        attempt: u32,
    },
    /// The client had no response in time.
    TimedOut {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The payment.
        payment_id: u64,
        /// The attempt.
        attempt: u32,
    },
    /// The client received a response in time and the payment is done.
    Succeeded {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The payment.
        payment_id: u64,
        /// Attempts it took.
        attempts: u32,
    },
    /// The client used its last attempt without a success response.
    GaveUp {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The payment.
        payment_id: u64,
    },
    /// The reader turned keys on or off.
    KeysSwitched {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Whether new attempts carry a key.
        enabled: bool,
    },
}

/// The outcome of one attempt, as the widget draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptView {
    /// Sent, no response and no timeout yet.
    Pending,
    /// The response arrived: charged or replayed.
    Answered,
    /// The response was lost or late, so the attempt timed out.
    TimedOut,
    /// The server responded 409 Conflict.
    Conflict,
}

/// One payment, as the widget draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentView {
    /// The payment's number.
    pub id: u64,
    /// Each attempt so far, in order.
    pub attempts: Vec<AttemptView>,
    /// Charges the server made for it; more than one means duplicates.
    pub charges: u32,
    /// Whether the client has finished with it, by success or by giving up.
    pub done: bool,
    /// Whether the client gave up.
    pub gave_up: bool,
}

/// A client's payment in progress.
#[derive(Debug, Clone)]
struct Payment {
    started_ms: f64,
    attempts: u32,
    /// The attempt the client is waiting for, if any.
    waiting: Option<u32>,
    keyed: bool,
}

/// The state of one key in the server's store.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyEntry {
    InProgress,
    Done,
}

#[derive(Debug, Clone, Copy)]
enum Due {
    NewPayment,
    /// An attempt reaches the server.
    Arrive {
        payment_id: u64,
        attempt: u32,
        keyed: bool,
    },
    /// The server finishes processing an attempt.
    Finish {
        payment_id: u64,
        attempt: u32,
        reply: Reply,
    },
    /// A response reaches the client.
    Respond {
        payment_id: u64,
        attempt: u32,
        reply: Reply,
    },
    /// The client's timer for an attempt runs out.
    Timeout {
        payment_id: u64,
        attempt: u32,
    },
    /// The client sends the next attempt.
    Retry {
        payment_id: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Scheduled {
    at_ms: f64,
    seq: u64,
    due: Due,
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at_ms
            .total_cmp(&other.at_ms)
            .then_with(|| self.seq.cmp(&other.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scheduled {}

/// The idempotency engine.
#[derive(Debug, Clone)]
pub struct Idempotency {
    config: IdempotencyConfig,
    rng: SimRng,
    steps: u64,
    now_ms: f64,
    seq: u64,
    calendar: BinaryHeap<Reverse<Scheduled>>,
    next_payment_id: u64,
    payments: BTreeMap<u64, Payment>,
    /// The server's key store: payment id (standing for its key) to the stored entry.
    keys: BTreeMap<u64, KeyEntry>,
    /// Charges per payment, for payments whose attempts may still arrive.
    charges_of: BTreeMap<u64, u32>,
    /// Attempts per payment that are travelling to the server or being processed.
    at_server: BTreeMap<u64, u32>,
    recent: VecDeque<PaymentView>,
    started: u64,
    charges: u64,
    duplicates: u64,
    retries: u64,
    succeeded: u64,
    gave_up: u64,
    latencies: LatencyHistogram,
}

impl Engine for Idempotency {
    type Config = IdempotencyConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: IdempotencyConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut engine = Self {
            config,
            rng: SimRng::new(seed),
            steps: 0,
            now_ms: 0.0,
            seq: 0,
            calendar: BinaryHeap::new(),
            next_payment_id: 0,
            payments: BTreeMap::new(),
            keys: BTreeMap::new(),
            charges_of: BTreeMap::new(),
            at_server: BTreeMap::new(),
            recent: VecDeque::with_capacity(RECENT_PAYMENTS),
            started: 0,
            charges: 0,
            duplicates: 0,
            retries: 0,
            succeeded: 0,
            gave_up: 0,
            latencies: LatencyHistogram::new(),
        };
        let first = engine.arrival_gap_ms();
        engine.schedule(first, Due::NewPayment);
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_ms = self.steps as f64 * STEP_MS;
        let mut events = Vec::new();
        while let Some(&Reverse(next)) = self.calendar.peek() {
            if next.at_ms > end_ms {
                break;
            }
            self.calendar.pop();
            self.now_ms = self.now_ms.max(next.at_ms);
            self.run(next.due, &mut events);
        }
        self.now_ms = end_ms;
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match *action {
            Action::SetKeys { enabled } => {
                self.config.keys = enabled;
                Ok(vec![Event::KeysSwitched {
                    at_ms: self.now_ms,
                    enabled,
                }])
            }
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::count("payments", "Payments intended", self.started),
                Metric::count("charges", "Charges made", self.charges),
                Metric::count("duplicates", "Duplicate charges", self.duplicates),
                Metric::count("retries", "Retries", self.retries),
                Metric::count("succeeded", "Confirmed", self.succeeded),
                Metric::count("gave-up", "Gave up", self.gave_up),
                Metric::new(
                    "keys",
                    "Keys",
                    if self.config.keys { 1.0 } else { 0.0 },
                    if self.config.keys { "on" } else { "off" }.to_string(),
                ),
                Metric::new(
                    "time",
                    "Time",
                    self.now_ms / 1000.0,
                    format!("{:.1} s", self.now_ms / 1000.0),
                ),
            ],
            latency: self.latencies.percentiles(),
            samples: vec![Sample {
                label: "duplicate charges",
                value: self.duplicates as f64,
            }],
        }
    }
}

/// Reading the counters, for the widget and the tests.
impl Idempotency {
    /// Returns the configuration, with `keys` as the last action set it.
    pub fn config(&self) -> &IdempotencyConfig {
        &self.config
    }

    /// Payments started since the start.
    pub fn payments(&self) -> u64 {
        self.started
    }

    /// Charges the server made since the start, duplicates included.
    pub fn charges(&self) -> u64 {
        self.charges
    }

    /// Charges that were a payment's second or later.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Attempts after the first, since the start.
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// Payments the client saw succeed.
    pub fn succeeded(&self) -> u64 {
        self.succeeded
    }

    /// Payments the client gave up on after `max_attempts`.
    pub fn gave_up(&self) -> u64 {
        self.gave_up
    }

    /// Payments the client is still working on.
    pub fn in_progress(&self) -> usize {
        self.payments.len()
    }

    /// Percentiles of the time from a payment's start to its success response.
    pub fn latency_percentiles(&self) -> Option<Percentiles> {
        self.latencies.percentiles()
    }

    /// Returns the last [`RECENT_PAYMENTS`] payments, oldest first.
    pub fn recent_payments(&self) -> impl ExactSizeIterator<Item = &PaymentView> + '_ {
        self.recent.iter()
    }
}

/// The rules.
impl Idempotency {
    fn arrival_gap_ms(&mut self) -> f64 {
        self.rng.exponential(1000.0 / self.config.rate_per_s)
    }

    fn schedule(&mut self, at_ms: f64, due: Due) {
        self.seq += 1;
        self.calendar.push(Reverse(Scheduled {
            at_ms,
            seq: self.seq,
            due,
        }));
    }

    fn run(&mut self, due: Due, events: &mut Vec<Event>) {
        match due {
            Due::NewPayment => {
                self.start_payment(events);
                let next = self.now_ms + self.arrival_gap_ms();
                self.schedule(next, Due::NewPayment);
            }
            Due::Arrive {
                payment_id,
                attempt,
                keyed,
            } => self.arrive(payment_id, attempt, keyed),
            Due::Finish {
                payment_id,
                attempt,
                reply,
            } => self.finish(payment_id, attempt, reply, events),
            Due::Respond {
                payment_id,
                attempt,
                reply,
            } => self.respond(payment_id, attempt, reply, events),
            Due::Timeout {
                payment_id,
                attempt,
            } => self.time_out(payment_id, attempt, events),
            Due::Retry { payment_id } => self.send(payment_id, events),
        }
    }

    fn start_payment(&mut self, events: &mut Vec<Event>) {
        let id = self.next_payment_id;
        self.next_payment_id += 1;
        self.started += 1;
        self.payments.insert(
            id,
            Payment {
                started_ms: self.now_ms,
                attempts: 0,
                waiting: None,
                keyed: self.config.keys,
            },
        );
        if self.recent.len() == RECENT_PAYMENTS {
            self.recent.pop_front();
        }
        self.recent.push_back(PaymentView {
            id,
            attempts: Vec::new(),
            charges: 0,
            done: false,
            gave_up: false,
        });
        self.send(id, events);
    }

    /// Sends the payment's next attempt and starts its timer.
    fn send(&mut self, payment_id: u64, events: &mut Vec<Event>) {
        let keys = self.config.keys;
        let Some(payment) = self.payments.get_mut(&payment_id) else {
            return;
        };
        payment.attempts += 1;
        payment.waiting = Some(payment.attempts);
        // The key is made when the payment starts, so an attempt carries one only if keys were on
        // then and are still on now.
        let keyed = payment.keyed && keys;
        let attempt = payment.attempts;

        if attempt > 1 {
            self.retries += 1;
        }
        if let Some(view) = self.view_mut(payment_id) {
            view.attempts.push(AttemptView::Pending);
        }
        events.push(Event::Sent {
            at_ms: self.now_ms,
            payment_id,
            attempt,
            keyed,
        });

        *self.at_server.entry(payment_id).or_insert(0) += 1;
        let arrive = self.now_ms + self.config.network_ms;
        self.schedule(
            arrive,
            Due::Arrive {
                payment_id,
                attempt,
                keyed,
            },
        );
        let timeout = self.now_ms + self.config.timeout_ms;
        self.schedule(
            timeout,
            Due::Timeout {
                payment_id,
                attempt,
            },
        );
    }

    /// Decides at arrival what the server will do, so a second keyed attempt that arrives while
    /// the first is processed sees the key in progress.
    fn arrive(&mut self, payment_id: u64, attempt: u32, keyed: bool) {
        let reply = if keyed {
            match self.keys.get(&payment_id) {
                None => {
                    self.keys.insert(payment_id, KeyEntry::InProgress);
                    Reply::Charged
                }
                Some(KeyEntry::InProgress) => Reply::Conflict,
                Some(KeyEntry::Done) => Reply::Replayed,
            }
        } else {
            Reply::Charged
        };
        let done = self.now_ms + self.config.service_ms;
        self.schedule(
            done,
            Due::Finish {
                payment_id,
                attempt,
                reply,
            },
        );
    }

    fn finish(&mut self, payment_id: u64, attempt: u32, reply: Reply, events: &mut Vec<Event>) {
        let mut duplicate = false;
        if let Some(count) = self.at_server.get_mut(&payment_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.at_server.remove(&payment_id);
            }
        }
        if reply == Reply::Charged {
            let count = self.charges_of.entry(payment_id).or_insert(0);
            *count += 1;
            duplicate = *count > 1;
            self.charges += 1;
            if duplicate {
                self.duplicates += 1;
            }
            if let Some(entry) = self.keys.get_mut(&payment_id) {
                *entry = KeyEntry::Done;
            }
            if let Some(view) = self.view_mut(payment_id) {
                view.charges += 1;
            }
        }
        events.push(Event::Processed {
            at_ms: self.now_ms,
            payment_id,
            attempt,
            reply,
            duplicate,
        });
        self.forget_if_idle(payment_id);
        if self.rng.uniform() * 100.0 < self.config.loss_pct {
            events.push(Event::ResponseLost {
                at_ms: self.now_ms,
                payment_id,
                attempt,
            });
            return;
        }
        let back = self.now_ms + self.config.network_ms;
        self.schedule(
            back,
            Due::Respond {
                payment_id,
                attempt,
                reply,
            },
        );
    }

    fn respond(&mut self, payment_id: u64, attempt: u32, reply: Reply, events: &mut Vec<Event>) {
        let Some(payment) = self.payments.get_mut(&payment_id) else {
            return;
        };
        // A response to an attempt the client already timed out on is ignored.
        if payment.waiting != Some(attempt) {
            return;
        }
        payment.waiting = None;
        let started_ms = payment.started_ms;
        if reply == Reply::Conflict {
            self.mark(payment_id, attempt, AttemptView::Conflict);
            self.retry_or_give_up(payment_id, events);
            return;
        }
        self.mark(payment_id, attempt, AttemptView::Answered);
        self.succeeded += 1;
        self.latencies.record_ms(self.now_ms - started_ms);
        events.push(Event::Succeeded {
            at_ms: self.now_ms,
            payment_id,
            attempts: attempt,
        });
        self.end_payment(payment_id, false);
    }

    fn time_out(&mut self, payment_id: u64, attempt: u32, events: &mut Vec<Event>) {
        let Some(payment) = self.payments.get_mut(&payment_id) else {
            return;
        };
        if payment.waiting != Some(attempt) {
            return;
        }
        payment.waiting = None;
        self.mark(payment_id, attempt, AttemptView::TimedOut);
        events.push(Event::TimedOut {
            at_ms: self.now_ms,
            payment_id,
            attempt,
        });
        self.retry_or_give_up(payment_id, events);
    }

    fn retry_or_give_up(&mut self, payment_id: u64, events: &mut Vec<Event>) {
        let attempts = self.payments.get(&payment_id).map_or(0, |p| p.attempts);
        if attempts < self.config.max_attempts {
            let at = self.now_ms + self.config.backoff_ms;
            self.schedule(at, Due::Retry { payment_id });
            return;
        }
        self.gave_up += 1;
        events.push(Event::GaveUp {
            at_ms: self.now_ms,
            payment_id,
        });
        self.end_payment(payment_id, true);
    }

    /// Forgets a finished payment on the client. Its key and charge count go once no attempt of
    /// it is left in the network or the server.
    fn end_payment(&mut self, payment_id: u64, gave_up: bool) {
        self.payments.remove(&payment_id);
        if let Some(view) = self.view_mut(payment_id) {
            view.done = true;
            view.gave_up = gave_up;
        }
        self.forget_if_idle(payment_id);
    }

    /// Drops the server's key and charge count of a payment the client has finished with, once
    /// none of its attempts is still travelling to the server or being processed.
    fn forget_if_idle(&mut self, payment_id: u64) {
        if self.payments.contains_key(&payment_id) {
            return;
        }
        if !self.at_server.contains_key(&payment_id) {
            self.keys.remove(&payment_id);
            self.charges_of.remove(&payment_id);
        }
    }

    fn mark(&mut self, payment_id: u64, attempt: u32, outcome: AttemptView) {
        let index = attempt.saturating_sub(1) as usize;
        if let Some(slot) = self
            .view_mut(payment_id)
            .and_then(|view| view.attempts.get_mut(index))
        {
            *slot = outcome;
        }
    }

    fn view_mut(&mut self, payment_id: u64) -> Option<&mut PaymentView> {
        self.recent
            .iter_mut()
            .rev()
            .find(|view| view.id == payment_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(IdempotencyConfig::default().validate(), Ok(()));
    }

    #[test]
    fn zero_attempts_are_rejected() {
        let config = IdempotencyConfig {
            max_attempts: 0,
            ..IdempotencyConfig::default()
        };

        assert!(Idempotency::new(config, 1).is_err());
    }

    #[test]
    fn events_serialize_with_type_tag() {
        let event = Event::Processed {
            at_ms: 70.0,
            payment_id: 2,
            attempt: 1,
            reply: Reply::Replayed,
            duplicate: false,
        };

        let json = serde_json::to_string(&event).unwrap_or_default();

        assert_eq!(
            json,
            r#"{"type":"processed","at_ms":70.0,"payment_id":2,"attempt":1,"reply":"replayed","duplicate":false}"#
        );
    }
}
