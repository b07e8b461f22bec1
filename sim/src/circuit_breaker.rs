//! Circuit breaker: a caller, a dependency that can fail, and a breaker that sheds calls.
//!
//! The caller sends requests to one dependency as a Poisson process at `rate_per_s`. A healthy
//! dependency responds after an exponential time with mean `service_ms`. A failing dependency
//! stalls, so every call sent to it ends when the caller's `timeout_ms` runs out. Whether a call
//! succeeds is decided when it is sent: a call already in flight when the dependency fails or
//! recovers keeps the outcome it had.
//!
//! The breaker has three states. Closed, it sends every call and records the outcome of each
//! call it sent in the current closed period in a count-based sliding window of the last
//! `window` outcomes. Once the window is full and at least `failure_threshold_pct` percent of
//! it are failures, it opens. Open, it sheds every call at once, without sending it, for
//! `open_ms`. Then it turns half-open and sends the next `half_open_probes` calls as probes,
//! shedding the rest. If every probe succeeds it closes with an empty window, and if any probe
//! fails it opens again. Outcomes of calls sent before the breaker left its closed state are
//! ignored when they arrive, because they say nothing about the dependency now.
//!
//! With `breaker` off every call is sent, which is how a caller without a breaker behaves.
//!
//! The dependency fails through [`Fault::FailDependency`] and also on a schedule, from
//! `outage_start_ms` for `outage_ms`, so that the default run shows a whole outage. Within each
//! step of [`STEP_MS`] the engine processes due events in time order. Ties go to dependency
//! changes, then completions, then the end of the open period, then new calls.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{LatencyHistogram, Metric, Percentiles, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Calls kept for [`CircuitBreaker::timeline`], newest last.
pub const TIMELINE_LEN: usize = 600;

/// Window over which [`CircuitBreaker::recent_latency_percentiles`] counts finished calls, in
/// milliseconds.
pub const RECENT_MS: f64 = 5000.0;

/// Parameters of the circuit breaker widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Mean rate of calls from the caller (Poisson arrivals), per second.
    pub rate_per_s: f64,
    /// Mean response time of the healthy dependency, in milliseconds (exponential).
    pub service_ms: f64,
    /// The caller's timeout: a call with no response by then fails, in milliseconds.
    pub timeout_ms: f64,
    /// Whether the breaker is in the call path at all.
    pub breaker: bool,
    /// Outcomes in the sliding window that decides when the breaker opens.
    pub window: u32,
    /// Percentage of failures in a full window at which the breaker opens.
    pub failure_threshold_pct: f64,
    /// Time the breaker stays open before it turns half-open, in milliseconds.
    pub open_ms: f64,
    /// Calls a half-open breaker sends as probes; all must succeed for it to close.
    pub half_open_probes: u32,
    /// Simulated time at which the scheduled outage starts, in milliseconds.
    pub outage_start_ms: f64,
    /// Length of the scheduled outage in milliseconds; 0 schedules none.
    pub outage_ms: f64,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            rate_per_s: 10.0,
            service_ms: 20.0,
            timeout_ms: 1000.0,
            breaker: true,
            window: 10,
            failure_threshold_pct: 50.0,
            open_ms: 3000.0,
            half_open_probes: 1,
            outage_start_ms: 2000.0,
            outage_ms: 8000.0,
        }
    }
}

impl Config for CircuitBreakerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_f64("rate_per_s", self.rate_per_s, 0.1, 200.0)?;
        ConfigError::check_range_f64("service_ms", self.service_ms, 1.0, 10_000.0)?;
        ConfigError::check_range_f64("timeout_ms", self.timeout_ms, 1.0, 60_000.0)?;
        ConfigError::check_range_u32("window", self.window, 1, 1000)?;
        ConfigError::check_range_f64(
            "failure_threshold_pct",
            self.failure_threshold_pct,
            1.0,
            100.0,
        )?;
        ConfigError::check_range_f64("open_ms", self.open_ms, 10.0, 600_000.0)?;
        ConfigError::check_range_u32("half_open_probes", self.half_open_probes, 1, 100)?;
        ConfigError::check_range_f64("outage_start_ms", self.outage_start_ms, 0.0, 600_000.0)?;
        ConfigError::check_range_f64("outage_ms", self.outage_ms, 0.0, 600_000.0)?;
        Ok(())
    }
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Every call is sent and its outcome recorded.
    Closed,
    /// Every call is shed without being sent.
    Open,
    /// Only probe calls are sent; the rest are shed.
    HalfOpen,
}

impl BreakerState {
    /// Returns the state's name as the field writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        }
    }
}

/// What a reader can do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Puts the breaker in the call path or takes it out. Either way it starts closed with an
    /// empty window.
    SetBreaker {
        /// Whether the breaker is in the call path from now on.
        enabled: bool,
    },
    /// Fails the dependency or recovers it; see [`CircuitBreaker`]'s [`Faults`] implementation.
    Fault(Fault),
}

/// How a call ended, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sent and still waiting for a response.
    InFlight,
    /// The dependency responded in time.
    Succeeded,
    /// No response before the timeout.
    TimedOut,
    /// The breaker rejected it without sending it.
    Shed,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The caller sent a call to the dependency.
    Sent {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The call, numbered from 0 in arrival order; shed calls take a number too.
        request_id: u64,
        /// Whether a half-open breaker sent it as a probe.
        probe: bool,
    },
    /// The dependency responded in time.
    Succeeded {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The call.
        request_id: u64,
        /// Time from send to response, in milliseconds.
        latency_ms: f64,
    },
    /// The caller gave up waiting after `timeout_ms`.
    TimedOut {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The call.
        request_id: u64,
        /// Time from send to giving up, which is `timeout_ms`.
        latency_ms: f64,
    },
    /// The breaker rejected a call at once without sending it: latency 0.
    Shed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The call.
        request_id: u64,
        /// The breaker's state, open or half-open.
        state: BreakerState,
    },
    /// The breaker changed state.
    StateChanged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The state it left.
        from: BreakerState,
        /// The state it entered.
        to: BreakerState,
        /// Failures in the window when it opened from closed, else 0.
        failures: u32,
    },
    /// The dependency started failing or recovered.
    DependencyChanged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Whether it fails from now on.
        failing: bool,
    },
    /// The reader put the breaker in the call path or took it out.
    BreakerSwitched {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Whether the breaker is in the call path now.
        enabled: bool,
    },
}

/// One call, as the widget's timeline draws it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Call {
    /// The call's number, in arrival order.
    pub id: u64,
    /// Simulated time the call arrived, in milliseconds.
    pub at_ms: f64,
    /// Simulated time the call succeeded, timed out or was shed, or `None` while in flight.
    pub done_ms: Option<f64>,
    /// The outcome so far.
    pub outcome: Outcome,
    /// Whether it was a half-open probe.
    pub probe: bool,
}

/// A sent call whose response or timeout is due.
#[derive(Debug, Clone, Copy)]
struct Pending {
    done_ms: f64,
    id: u64,
    sent_ms: f64,
    succeeds: bool,
    /// The breaker period whose outcomes the call counts toward: the closed period it was sent
    /// in, or the half-open period it probed. `None` for calls sent with the breaker off.
    period: Option<u64>,
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        self.done_ms
            .total_cmp(&other.done_ms)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pending {}

/// The next thing due within a step, in tie-break order.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
enum Due {
    Dependency,
    Completion,
    HalfOpen,
    Arrival,
}

/// The circuit breaker engine.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: CircuitBreakerConfig,
    rng: SimRng,
    steps: u64,
    now_ms: f64,
    next_arrival_ms: f64,
    next_id: u64,
    failing: bool,
    /// Scheduled dependency changes, as `(at_ms, failing)`, earliest first.
    schedule: VecDeque<(f64, bool)>,
    state: BreakerState,
    /// Counts state periods, so a late outcome from an earlier one is ignored.
    period: u64,
    /// Outcomes of the current closed period, `true` for a failure, newest last.
    outcomes: VecDeque<bool>,
    /// When the open breaker turns half-open, in milliseconds.
    open_until_ms: f64,
    probes_sent: u32,
    probes_succeeded: u32,
    pending: BinaryHeap<Reverse<Pending>>,
    sent: u64,
    succeeded: u64,
    timed_out: u64,
    shed: u64,
    opened: u64,
    latencies: LatencyHistogram,
    /// `(done_ms, latency_ms)` of the calls finished within the last [`RECENT_MS`].
    recent: VecDeque<(f64, f64)>,
    timeline: VecDeque<Call>,
}

impl Engine for CircuitBreaker {
    type Config = CircuitBreakerConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: CircuitBreakerConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut schedule = VecDeque::new();
        if config.outage_ms > 0.0 {
            schedule.push_back((config.outage_start_ms, true));
            schedule.push_back((config.outage_start_ms + config.outage_ms, false));
        }
        let mut engine = Self {
            config,
            rng: SimRng::new(seed),
            steps: 0,
            now_ms: 0.0,
            next_arrival_ms: 0.0,
            next_id: 0,
            failing: false,
            schedule,
            state: BreakerState::Closed,
            period: 0,
            outcomes: VecDeque::new(),
            open_until_ms: 0.0,
            probes_sent: 0,
            probes_succeeded: 0,
            pending: BinaryHeap::new(),
            sent: 0,
            succeeded: 0,
            timed_out: 0,
            shed: 0,
            opened: 0,
            latencies: LatencyHistogram::new(),
            recent: VecDeque::new(),
            timeline: VecDeque::with_capacity(TIMELINE_LEN),
        };
        engine.next_arrival_ms = engine.arrival_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_ms = self.steps as f64 * STEP_MS;
        let mut events = Vec::new();
        while let Some((at_ms, due)) = self.next_due().filter(|(at_ms, _)| *at_ms <= end_ms) {
            self.now_ms = self.now_ms.max(at_ms);
            match due {
                Due::Dependency => {
                    if let Some((_, failing)) = self.schedule.pop_front() {
                        self.set_failing(failing, &mut events);
                    }
                }
                Due::Completion => {
                    if let Some(Reverse(call)) = self.pending.pop() {
                        self.complete(call, &mut events);
                    }
                }
                Due::HalfOpen => self.transition(BreakerState::HalfOpen, 0, &mut events),
                Due::Arrival => {
                    self.arrive(&mut events);
                    self.next_arrival_ms = at_ms + self.arrival_gap_ms();
                }
            }
        }
        self.now_ms = end_ms;
        let cutoff = end_ms - RECENT_MS;
        while self.recent.front().is_some_and(|&(at, _)| at <= cutoff) {
            self.recent.pop_front();
        }
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match action {
            Action::SetBreaker { enabled } => Ok(self.set_breaker(*enabled)),
            Action::Fault(fault) => self.inject(fault),
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let recent = self.recent_latency_percentiles();
        let state = if self.config.breaker {
            self.state.name()
        } else {
            "off"
        };
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::new("state", "Breaker", self.state_code(), state.to_string()),
                Metric::new(
                    "dependency",
                    "Dependency",
                    if self.failing { 1.0 } else { 0.0 },
                    if self.failing { "failing" } else { "healthy" }.to_string(),
                ),
                Metric::count("sent", "Sent", self.sent),
                Metric::count("succeeded", "Succeeded", self.succeeded),
                Metric::count("timed-out", "Timed out", self.timed_out),
                Metric::count("shed", "Shed (fail fast)", self.shed),
                Metric::count("in-flight", "In flight", self.pending.len() as u64),
                Metric::new(
                    "time",
                    "Time",
                    self.now_ms / 1000.0,
                    format!("{:.1} s", self.now_ms / 1000.0),
                ),
            ],
            latency: recent,
            samples: vec![
                Sample {
                    label: "p99 ms (last 5 s)",
                    value: recent.map_or(0.0, |p| p.p99_ms),
                },
                Sample {
                    label: "in flight",
                    value: self.pending.len() as f64,
                },
            ],
        }
    }
}

/// Reading the state and the counters, for the widget and the tests.
impl CircuitBreaker {
    /// Returns the configuration, with `breaker` as the last action set it.
    pub fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    /// Returns the breaker's state; it stays closed while the breaker is off.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Returns whether the dependency is failing now.
    pub fn dependency_failing(&self) -> bool {
        self.failing
    }

    /// Returns the failures and the outcomes in the window of the current closed period.
    pub fn window_counts(&self) -> (u32, u32) {
        let failures = self.outcomes.iter().filter(|&&failed| failed).count();
        (failures as u32, self.outcomes.len() as u32)
    }

    /// Returns the probes sent and the probes that succeeded in the current half-open period.
    pub fn probe_counts(&self) -> (u32, u32) {
        (self.probes_sent, self.probes_succeeded)
    }

    /// Calls sent to the dependency since the start.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Calls that succeeded since the start.
    pub fn succeeded(&self) -> u64 {
        self.succeeded
    }

    /// Calls that timed out since the start.
    pub fn timed_out(&self) -> u64 {
        self.timed_out
    }

    /// Calls the breaker shed since the start.
    pub fn shed(&self) -> u64 {
        self.shed
    }

    /// Times the breaker has opened since the start.
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// Calls sent and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Latency percentiles of every finished call since the start, shed calls included at 0.
    pub fn latency_percentiles(&self) -> Option<Percentiles> {
        self.latencies.percentiles()
    }

    /// Latency percentiles of the calls finished within the last [`RECENT_MS`].
    pub fn recent_latency_percentiles(&self) -> Option<Percentiles> {
        let mut histogram = LatencyHistogram::new();
        for &(_, latency_ms) in &self.recent {
            histogram.record_ms(latency_ms);
        }
        histogram.percentiles()
    }

    /// Returns the last [`TIMELINE_LEN`] calls, oldest first.
    pub fn timeline(&self) -> impl ExactSizeIterator<Item = &Call> + '_ {
        self.timeline.iter()
    }

    /// Returns the state as a number for the metrics panel: 0 closed or off, 1 half-open, 2 open.
    fn state_code(&self) -> f64 {
        match self.state {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// The rules: arrivals, completions and state changes.
impl CircuitBreaker {
    fn arrival_gap_ms(&mut self) -> f64 {
        self.rng.exponential(1000.0 / self.config.rate_per_s)
    }

    /// Finds the earliest due event and its kind, ties broken in [`Due`] order.
    fn next_due(&self) -> Option<(f64, Due)> {
        let open_end =
            (self.state == BreakerState::Open).then_some((self.open_until_ms, Due::HalfOpen));
        [
            self.schedule.front().map(|&(at, _)| (at, Due::Dependency)),
            self.pending
                .peek()
                .map(|Reverse(call)| (call.done_ms, Due::Completion)),
            open_end,
            Some((self.next_arrival_ms, Due::Arrival)),
        ]
        .into_iter()
        .flatten()
        .min_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal))
        })
    }

    /// Decides what happens to a call arriving now: sent, or shed by the breaker.
    fn arrive(&mut self, events: &mut Vec<Event>) {
        let id = self.next_id;
        self.next_id += 1;
        let at_ms = self.now_ms;
        let admit = if !self.config.breaker {
            Some((false, None))
        } else {
            match self.state {
                BreakerState::Closed => Some((false, Some(self.period))),
                BreakerState::HalfOpen if self.probes_sent < self.config.half_open_probes => {
                    self.probes_sent += 1;
                    Some((true, Some(self.period)))
                }
                BreakerState::HalfOpen | BreakerState::Open => None,
            }
        };
        let Some((probe, period)) = admit else {
            self.shed += 1;
            self.record_latency(at_ms, 0.0);
            self.push_call(Call {
                id,
                at_ms,
                done_ms: Some(at_ms),
                outcome: Outcome::Shed,
                probe: false,
            });
            events.push(Event::Shed {
                at_ms,
                request_id: id,
                state: self.state,
            });
            return;
        };

        // A stalled dependency never responds, and a response later than the timeout is a timeout too.
        let latency_ms = if self.failing {
            f64::INFINITY
        } else {
            self.rng.exponential(self.config.service_ms)
        };
        let succeeds = latency_ms < self.config.timeout_ms;
        let done_ms = at_ms + latency_ms.min(self.config.timeout_ms);
        self.sent += 1;
        self.pending.push(Reverse(Pending {
            done_ms,
            id,
            sent_ms: at_ms,
            succeeds,
            period,
        }));
        self.push_call(Call {
            id,
            at_ms,
            done_ms: None,
            outcome: Outcome::InFlight,
            probe,
        });
        events.push(Event::Sent {
            at_ms,
            request_id: id,
            probe,
        });
    }

    /// Finishes a sent call and feeds its outcome to the breaker.
    fn complete(&mut self, call: Pending, events: &mut Vec<Event>) {
        let at_ms = call.done_ms;
        let latency_ms = call.done_ms - call.sent_ms;
        let outcome = if call.succeeds {
            self.succeeded += 1;
            events.push(Event::Succeeded {
                at_ms,
                request_id: call.id,
                latency_ms,
            });
            Outcome::Succeeded
        } else {
            self.timed_out += 1;
            events.push(Event::TimedOut {
                at_ms,
                request_id: call.id,
                latency_ms,
            });
            Outcome::TimedOut
        };
        self.record_latency(at_ms, latency_ms);
        if let Ok(index) = self.timeline.binary_search_by_key(&call.id, |c| c.id)
            && let Some(entry) = self.timeline.get_mut(index)
        {
            entry.done_ms = Some(at_ms);
            entry.outcome = outcome;
        }

        if !self.config.breaker || call.period != Some(self.period) {
            return;
        }
        match self.state {
            BreakerState::Closed => {
                self.outcomes.push_back(!call.succeeds);
                while self.outcomes.len() > self.config.window as usize {
                    self.outcomes.pop_front();
                }
                let (failures, recorded) = self.window_counts();
                let full = recorded >= self.config.window;
                let rate_pct = f64::from(failures) * 100.0 / f64::from(self.config.window);
                if full && rate_pct >= self.config.failure_threshold_pct {
                    self.transition(BreakerState::Open, failures, events);
                }
            }
            BreakerState::HalfOpen => {
                if !call.succeeds {
                    self.transition(BreakerState::Open, 0, events);
                } else {
                    self.probes_succeeded += 1;
                    if self.probes_succeeded >= self.config.half_open_probes {
                        self.transition(BreakerState::Closed, 0, events);
                    }
                }
            }
            BreakerState::Open => {}
        }
    }

    /// Moves the breaker to `to` and resets what the new state counts.
    fn transition(&mut self, to: BreakerState, failures: u32, events: &mut Vec<Event>) {
        let from = self.state;
        self.state = to;
        self.period += 1;
        match to {
            BreakerState::Closed => self.outcomes.clear(),
            BreakerState::Open => {
                self.opened += 1;
                self.open_until_ms = self.now_ms + self.config.open_ms;
            }
            BreakerState::HalfOpen => {
                self.probes_sent = 0;
                self.probes_succeeded = 0;
            }
        }
        events.push(Event::StateChanged {
            at_ms: self.now_ms,
            from,
            to,
            failures,
        });
    }

    fn set_failing(&mut self, failing: bool, events: &mut Vec<Event>) {
        if self.failing == failing {
            return;
        }
        self.failing = failing;
        events.push(Event::DependencyChanged {
            at_ms: self.now_ms,
            failing,
        });
    }

    fn set_breaker(&mut self, enabled: bool) -> Vec<Event> {
        let mut events = Vec::new();
        self.config.breaker = enabled;
        events.push(Event::BreakerSwitched {
            at_ms: self.now_ms,
            enabled,
        });
        if self.state == BreakerState::Closed {
            self.period += 1;
            self.outcomes.clear();
        } else {
            self.transition(BreakerState::Closed, 0, &mut events);
        }
        events
    }

    fn record_latency(&mut self, at_ms: f64, latency_ms: f64) {
        self.latencies.record_ms(latency_ms);
        self.recent.push_back((at_ms, latency_ms));
    }

    fn push_call(&mut self, call: Call) {
        if self.timeline.len() == TIMELINE_LEN {
            self.timeline.pop_front();
        }
        self.timeline.push_back(call);
    }

    fn inject(&mut self, fault: &Fault) -> Result<Vec<Event>, ActionError> {
        Self::check_fault(fault)?;
        let Fault::FailDependency { failing } = *fault else {
            // `check_fault` lets through only dependency faults.
            return Err(ActionError(format!("unsupported fault {fault:?}")));
        };
        if failing == self.failing {
            let hint = if failing {
                "already failing; recover it first"
            } else {
                "already healthy; fail it first"
            };
            return Err(ActionError(format!("the dependency is {hint}")));
        }
        let mut events = Vec::new();
        self.set_failing(failing, &mut events);
        Ok(events)
    }
}

/// The dependency is the only thing that fails; there are no nodes to crash.
impl Faults for CircuitBreaker {
    const KINDS: &'static [FaultKind] = &[FaultKind::Dependency];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(CircuitBreakerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn zero_window_is_rejected() {
        let config = CircuitBreakerConfig {
            window: 0,
            ..CircuitBreakerConfig::default()
        };

        let result = CircuitBreaker::new(config, 1);

        assert!(result.is_err(), "window 0 was accepted");
    }

    #[test]
    fn failing_twice_is_an_action_error() {
        let Ok(mut engine) = CircuitBreaker::new(CircuitBreakerConfig::default(), 1) else {
            panic!("default config rejected");
        };
        let fail = Action::Fault(Fault::FailDependency { failing: true });

        let first = engine.apply(&fail);
        let second = engine.apply(&fail);

        assert!(first.is_ok(), "{first:?}");
        assert!(second.is_err(), "{second:?}");
    }

    #[test]
    fn crash_is_unsupported() {
        let Ok(mut engine) = CircuitBreaker::new(CircuitBreakerConfig::default(), 1) else {
            panic!("default config rejected");
        };

        let result = engine.apply(&Action::Fault(Fault::Crash { node: 0 }));

        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn events_serialize_with_type_tag() {
        let event = Event::Shed {
            at_ms: 50.0,
            request_id: 3,
            state: BreakerState::HalfOpen,
        };

        let json = serde_json::to_string(&event).unwrap_or_default();

        assert_eq!(
            json,
            r#"{"type":"shed","at_ms":50.0,"request_id":3,"state":"half_open"}"#
        );
    }
}
