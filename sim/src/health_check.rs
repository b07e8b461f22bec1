//! Health checks: instances behind a balancer that routes only to instances its readiness
//! checks mark ready, and restarts instances whose liveness checks fail.
//!
//! Requests arrive as a Poisson process at `rate_per_s`. The balancer hands each one to the next
//! instance in its rotation, round-robin in instance order, and rejects it at once when the
//! rotation is empty. The outcome of a request is decided when it is routed. A healthy instance
//! serves it after an exponential time with mean `service_ms`. A cold or not-ready instance fails
//! it at once with a 503 ([`FAST_FAIL_MS`]). A hung instance never responds, so the client gives
//! up after `timeout_ms`. The client timeout applies only to hung instances, because a healthy
//! one always responds, however long it takes.
//!
//! An instance starts cold and is warm `warmup_ms` after its start. It can hang (the reader's
//! **Hang**, or the schedule at `hang_at_ms`), which only a restart ends, and it can lose its
//! dependency, which makes it not ready until the dependency is restored but leaves it running.
//!
//! With `checks` on, a checker probes every instance once per `period_ms`. The liveness probe
//! (`/livez`) passes unless the instance is hung; the readiness probe (`/readyz`) passes only if
//! the instance is warm, not hung and has its dependency. An instance joins the rotation after
//! `success_threshold` readiness passes in a row and leaves it after `failure_threshold` failures
//! in a row; `failure_threshold` failed liveness probes in a row restart it, cold and out of the
//! rotation. A started or restarted instance is first probed one period after its start, and it is
//! never in the rotation before a readiness probe has passed.
//!
//! A probe's result counts at the moment the probe is sent, so a probe of a hung instance fails
//! at once. A real probe fails only when its timeout runs out (1 s by default in Kubernetes), so a
//! real checker catches a hang one probe timeout later than this engine does.
//!
//! At the start the first `warm` instances are warm and in the rotation, as if they had started
//! and passed their probes before the run; the others start cold at 0 ms. With `checks` off the
//! balancer routes to every instance whatever its state, and nothing restarts a hung instance.
//!
//! Within each step of [`STEP_MS`] the engine processes due events in time order. Ties go to the
//! scheduled hang, then warm-ups, then probes, then arrivals, and among instances to the lower id.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::metrics::{LatencyHistogram, Metric, Percentiles, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Largest number of instances behind the balancer.
pub const MAX_INSTANCES: u32 = 8;

/// Time a cold or not-ready instance takes to respond with 503, in milliseconds.
pub const FAST_FAIL_MS: f64 = 1.0;

/// Simulated time that [`HealthCheck::recent_latency_percentiles`] and the widget's history
/// cover, in milliseconds.
pub const RECENT_MS: f64 = 10_000.0;

/// Parameters of the health check widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Instances behind the balancer, from 1 to [`MAX_INSTANCES`].
    pub instances: u32,
    /// Instances that are warm and in the rotation at the start; the rest start cold.
    pub warm: u32,
    /// Mean rate of requests (Poisson arrivals), per second.
    pub rate_per_s: f64,
    /// Mean time a healthy instance takes to serve a request, in milliseconds (exponential).
    pub service_ms: f64,
    /// The client's timeout, which is how long a request sent to a hung instance waits, in
    /// milliseconds.
    pub timeout_ms: f64,
    /// Time between two probes of the same instance, in milliseconds.
    pub period_ms: f64,
    /// Failed probes in a row that take an instance out of the rotation (readiness) or restart
    /// it (liveness).
    pub failure_threshold: u32,
    /// Passed readiness probes in a row that put an instance in the rotation.
    pub success_threshold: u32,
    /// Time from an instance's start until it can serve, in milliseconds.
    pub warmup_ms: f64,
    /// Whether the checker probes the instances; off, the balancer routes to every instance.
    pub checks: bool,
    /// Simulated time at which instance `hang_instance` hangs, in milliseconds; 0 schedules none.
    pub hang_at_ms: f64,
    /// The instance that hangs at `hang_at_ms`.
    pub hang_instance: u32,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            instances: 3,
            warm: 2,
            rate_per_s: 20.0,
            service_ms: 20.0,
            timeout_ms: 1000.0,
            period_ms: 1000.0,
            failure_threshold: 3,
            success_threshold: 1,
            warmup_ms: 2500.0,
            checks: true,
            hang_at_ms: 6000.0,
            hang_instance: 1,
        }
    }
}

impl Config for HealthCheckConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("instances", self.instances, 1, MAX_INSTANCES)?;
        ConfigError::check_range_u32("warm", self.warm, 0, self.instances)?;
        ConfigError::check_range_f64("rate_per_s", self.rate_per_s, 0.1, 500.0)?;
        ConfigError::check_range_f64("service_ms", self.service_ms, 1.0, 10_000.0)?;
        ConfigError::check_range_f64("timeout_ms", self.timeout_ms, 1.0, 60_000.0)?;
        ConfigError::check_range_f64("period_ms", self.period_ms, 100.0, 60_000.0)?;
        ConfigError::check_range_u32("failure_threshold", self.failure_threshold, 1, 100)?;
        ConfigError::check_range_u32("success_threshold", self.success_threshold, 1, 100)?;
        ConfigError::check_range_f64("warmup_ms", self.warmup_ms, 0.0, 600_000.0)?;
        ConfigError::check_range_f64("hang_at_ms", self.hang_at_ms, 0.0, 600_000.0)?;
        let last = self.instances.saturating_sub(1);
        ConfigError::check_range_u32("hang_instance", self.hang_instance, 0, last)?;
        Ok(())
    }
}

/// A reader's action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Turns the checker on or off. Off puts every instance in the rotation; on keeps the
    /// rotation as it is and lets the next probes decide. Either way the probe streaks restart.
    SetChecks {
        /// Whether the checker probes from now on.
        enabled: bool,
    },
    /// Makes an instance hang: it accepts requests and probes and never responds to them.
    Hang {
        /// The instance, from 0.
        instance: u32,
    },
    /// Takes an instance's dependency away or gives it back. Without it the instance runs but is
    /// not ready, and fails requests with a 503.
    SetDependency {
        /// The instance, from 0.
        instance: u32,
        /// Whether the dependency is available from now on.
        available: bool,
    },
    /// Restarts an instance by hand, as an operator would: it starts again cold.
    Restart {
        /// The instance, from 0.
        instance: u32,
    },
}

/// The reason a routed request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// The instance had not warmed up and responded with 503.
    Cold,
    /// The instance was hung; the client timed out.
    Hung,
    /// The instance had lost its dependency and responded with 503.
    NotReady,
}

/// The cause of a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartCause {
    /// `failure_threshold` liveness probes in a row failed.
    Liveness,
    /// The reader's **Restart**.
    Operator,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An instance finished warming up.
    WarmedUp {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
    },
    /// The checker probed an instance's `/livez` and `/readyz`.
    Probed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// Whether the liveness probe passed.
        live: bool,
        /// Whether the readiness probe passed.
        ready: bool,
    },
    /// The balancer put an instance in its rotation.
    Added {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
    },
    /// The balancer took an instance out of its rotation.
    Removed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// Failed readiness probes in a row, or 0 when a restart took it out.
        failures: u32,
    },
    /// An instance was restarted; it is cold and out of the rotation.
    Restarted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// How many times the instance has started, counting the first start as 1.
        incarnation: u32,
        /// The cause of the restart.
        cause: RestartCause,
    },
    /// An instance hung.
    Hung {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
    },
    /// An instance lost its dependency or got it back.
    DependencyChanged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// Whether the dependency is available now.
        available: bool,
    },
    /// A healthy instance served a request.
    Served {
        /// Simulated time the request was routed, in milliseconds.
        at_ms: f64,
        /// The request, numbered from 0 in arrival order.
        request_id: u64,
        /// The instance.
        instance: u32,
        /// Time until the response, in milliseconds.
        latency_ms: f64,
    },
    /// The balancer routed a request to an instance that could not serve it.
    Failed {
        /// Simulated time the request was routed, in milliseconds.
        at_ms: f64,
        /// The request.
        request_id: u64,
        /// The instance.
        instance: u32,
        /// The reason the instance could not serve it.
        reason: FailReason,
        /// Time until the client saw the failure, in milliseconds.
        latency_ms: f64,
    },
    /// The rotation was empty, so the balancer rejected the request at once.
    Rejected {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The request.
        request_id: u64,
    },
    /// The reader turned the checker on or off.
    ChecksSwitched {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Whether the checker probes from now on.
        enabled: bool,
    },
}

/// An instance's condition, as the widget colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Warm, not hung, and with its dependency: it serves requests.
    Healthy,
    /// Still warming up.
    Cold,
    /// Hung until restarted.
    Hung,
    /// Running without its dependency.
    NotReady,
}

impl Condition {
    /// Returns the condition's name as the widget writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Healthy => "ready",
            Self::Cold => "cold",
            Self::Hung => "hung",
            Self::NotReady => "not ready",
        }
    }
}

/// A stretch of time over which an instance's condition and rotation membership did not change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Simulated time the stretch began, in milliseconds.
    pub start_ms: f64,
    /// The instance's condition.
    pub condition: Condition,
    /// Whether the instance was in the rotation.
    pub in_rotation: bool,
}

/// Outcome of one probe of an instance's `/livez` and `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Both passed: the instance runs and can serve.
    Passed,
    /// `/livez` passed and `/readyz` failed: the instance runs but cannot serve (cold, or without
    /// its dependency). Enough of these take it out of the rotation; none restarts it.
    ReadyFailed,
    /// `/livez` failed, and `/readyz` with it: the instance is hung. Enough of these restart it.
    LiveFailed,
}

impl ProbeOutcome {
    /// Returns the outcome of a probe whose liveness and readiness results were `live` and
    /// `ready`.
    pub fn of(live: bool, ready: bool) -> Self {
        match (live, ready) {
            (true, true) => Self::Passed,
            (true, false) => Self::ReadyFailed,
            (false, _) => Self::LiveFailed,
        }
    }
}

/// Something the widget marks on an instance's timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// A probe of `/livez` and `/readyz`.
    Probe {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The probes that passed.
        outcome: ProbeOutcome,
    },
    /// A request the instance failed.
    Failed {
        /// Simulated time in milliseconds.
        at_ms: f64,
    },
    /// A restart.
    Restart {
        /// Simulated time in milliseconds.
        at_ms: f64,
    },
}

impl Mark {
    /// Simulated time of the mark, in milliseconds.
    pub fn at_ms(&self) -> f64 {
        match *self {
            Self::Probe { at_ms, .. } | Self::Failed { at_ms } | Self::Restart { at_ms } => at_ms,
        }
    }
}

/// One instance as the checker and the balancer see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The instance's id, from 0.
    pub id: u32,
    /// How many times it has started, counting the first start as 1.
    pub incarnation: u32,
    /// Simulated time of its latest start or restart, in milliseconds; negative for an instance
    /// that was warm at the start.
    pub started_ms: f64,
    /// Whether it has warmed up since its latest start.
    pub warmed: bool,
    /// Simulated time its warm-up ends, in milliseconds.
    pub warm_at_ms: f64,
    /// Whether it is hung.
    pub hung: bool,
    /// Whether its dependency is available.
    pub dependency: bool,
    /// Whether the balancer routes to it.
    pub in_rotation: bool,
    /// Whether a readiness probe has passed since its latest start.
    pub passed_readiness: bool,
    /// Failed liveness probes in a row.
    pub live_failures: u32,
    /// Failed readiness probes in a row.
    pub ready_failures: u32,
    /// Passed readiness probes in a row.
    pub ready_passes: u32,
    /// Simulated time of its next probe, in milliseconds.
    pub next_probe_ms: f64,
    /// Requests it served.
    pub served: u64,
    /// Requests routed to it that failed.
    pub failed: u64,
    /// Times it was restarted.
    pub restarts: u32,
    /// Simulated time it spent in the rotation while not healthy, in milliseconds.
    pub unhealthy_in_rotation_ms: f64,
    /// Its recent conditions, oldest first, covering at least the last [`RECENT_MS`].
    pub segments: VecDeque<Segment>,
    /// Its recent probes, failed requests and restarts, oldest first, within [`RECENT_MS`].
    pub marks: VecDeque<Mark>,
}

impl Instance {
    /// Returns the instance's condition now.
    pub fn condition(&self) -> Condition {
        if self.hung {
            Condition::Hung
        } else if !self.warmed {
            Condition::Cold
        } else if !self.dependency {
            Condition::NotReady
        } else {
            Condition::Healthy
        }
    }

    /// Returns whether the instance is healthy: warm, not hung and with its dependency.
    pub fn healthy(&self) -> bool {
        self.condition() == Condition::Healthy
    }
}

/// The next thing due within a step, in tie-break order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Hang,
    WarmUp(u32),
    Probe(u32),
    Arrival,
}

/// The health check engine.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    config: HealthCheckConfig,
    rng: SimRng,
    steps: u64,
    now_ms: f64,
    /// Time up to which `unhealthy_in_rotation_ms` has been counted, in milliseconds.
    counted_ms: f64,
    next_arrival_ms: f64,
    next_id: u64,
    /// Requests routed so far, which picks the next instance round-robin.
    routed: u64,
    /// Whether the scheduled hang has yet to happen.
    hang_pending: bool,
    instances: Vec<Instance>,
    served: u64,
    failed_cold: u64,
    failed_hung: u64,
    failed_not_ready: u64,
    rejected: u64,
    restarts: u64,
    latencies: LatencyHistogram,
    /// `(at_ms, latency_ms)` of the requests routed within the last [`RECENT_MS`].
    recent: VecDeque<(f64, f64)>,
}

impl Engine for HealthCheck {
    type Config = HealthCheckConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: HealthCheckConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let instances = (0..config.instances)
            .map(|id| Self::initial_instance(&config, id))
            .collect();
        let mut engine = Self {
            hang_pending: config.hang_at_ms > 0.0,
            config,
            rng: SimRng::new(seed),
            steps: 0,
            now_ms: 0.0,
            counted_ms: 0.0,
            next_arrival_ms: 0.0,
            next_id: 0,
            routed: 0,
            instances,
            served: 0,
            failed_cold: 0,
            failed_hung: 0,
            failed_not_ready: 0,
            rejected: 0,
            restarts: 0,
            latencies: LatencyHistogram::new(),
            recent: VecDeque::new(),
        };
        engine.next_arrival_ms = engine.arrival_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_ms = self.steps as f64 * STEP_MS;
        let mut events = Vec::new();
        while let Some((at_ms, due)) = self.next_due().filter(|(at_ms, _)| *at_ms <= end_ms) {
            self.count_until(at_ms);
            self.now_ms = self.now_ms.max(at_ms);
            match due {
                Due::Hang => {
                    self.hang_pending = false;
                    self.hang(self.config.hang_instance, &mut events);
                }
                Due::WarmUp(id) => self.warm_up(id, &mut events),
                Due::Probe(id) => self.probe(id, &mut events),
                Due::Arrival => {
                    self.arrive(&mut events);
                    self.next_arrival_ms = at_ms + self.arrival_gap_ms();
                }
            }
        }
        self.count_until(end_ms);
        self.now_ms = end_ms;
        self.forget_before(end_ms - RECENT_MS);
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let mut events = Vec::new();
        match *action {
            Action::SetChecks { enabled } => self.set_checks(enabled, &mut events),
            Action::Hang { instance } => {
                let current = self.instance(instance)?;
                if current.hung {
                    return Err(ActionError(format!(
                        "instance {instance} is already hung; only a restart ends a hang"
                    )));
                }
                self.hang(instance, &mut events);
            }
            Action::SetDependency {
                instance,
                available,
            } => {
                let current = self.instance(instance)?;
                if current.dependency == available {
                    let state = if available { "has" } else { "has lost" };
                    return Err(ActionError(format!(
                        "instance {instance} already {state} its dependency"
                    )));
                }
                self.set_dependency(instance, available, &mut events);
            }
            Action::Restart { instance } => {
                self.instance(instance)?;
                self.restart(instance, RestartCause::Operator, &mut events);
            }
        }
        Ok(events)
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let recent = self.recent_latency_percentiles();
        let in_rotation = self.in_rotation();
        let unhealthy_s = self.unhealthy_in_rotation_ms() / 1000.0;
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::new(
                    "checks",
                    "Checks",
                    if self.config.checks { 1.0 } else { 0.0 },
                    if self.config.checks { "on" } else { "off" }.to_string(),
                ),
                Metric::new(
                    "rotation",
                    "In rotation",
                    in_rotation as f64,
                    format!("{in_rotation} of {}", self.instances.len()),
                ),
                Metric::count("served", "Served", self.served),
                Metric::count("failed", "Failed", self.failed()),
                Metric::count("failed-cold", "Sent to cold", self.failed_cold),
                Metric::count("failed-hung", "Sent to hung", self.failed_hung),
                Metric::count(
                    "failed-not-ready",
                    "Sent to not ready",
                    self.failed_not_ready,
                ),
                Metric::count("rejected", "None ready (503)", self.rejected),
                Metric::count("restarts", "Restarts", self.restarts),
                Metric::new(
                    "unhealthy-in-rotation",
                    "Unhealthy in rotation",
                    unhealthy_s,
                    format!("{unhealthy_s:.1} s"),
                ),
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
                    label: "failed (total)",
                    value: self.failed() as f64,
                },
                Sample {
                    label: "in rotation",
                    value: in_rotation as f64,
                },
            ],
        }
    }
}

/// Reading the state and the counters, for the widget and the tests.
impl HealthCheck {
    /// Returns the configuration, with `checks` as the last action set it.
    pub fn config(&self) -> &HealthCheckConfig {
        &self.config
    }

    /// Returns the instances in id order.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Instances in the rotation now.
    pub fn in_rotation(&self) -> usize {
        self.instances.iter().filter(|i| i.in_rotation).count()
    }

    /// Requests that arrived since the start.
    pub fn arrived(&self) -> u64 {
        self.next_id
    }

    /// Requests a healthy instance served since the start.
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Requests routed to an instance that failed them, since the start.
    pub fn failed(&self) -> u64 {
        self.failed_cold + self.failed_hung + self.failed_not_ready
    }

    /// Failed requests since the start, by reason.
    pub fn failed_by(&self, reason: FailReason) -> u64 {
        match reason {
            FailReason::Cold => self.failed_cold,
            FailReason::Hung => self.failed_hung,
            FailReason::NotReady => self.failed_not_ready,
        }
    }

    /// Requests rejected because the rotation was empty, since the start.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Restarts of any instance since the start, by liveness or by hand.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Time all instances together spent in the rotation while not healthy, in milliseconds.
    pub fn unhealthy_in_rotation_ms(&self) -> f64 {
        self.instances
            .iter()
            .map(|i| i.unhealthy_in_rotation_ms)
            .sum()
    }

    /// Latency percentiles of every request since the start, rejections included at 0.
    pub fn latency_percentiles(&self) -> Option<Percentiles> {
        self.latencies.percentiles()
    }

    /// Latency percentiles of the requests routed within the last [`RECENT_MS`].
    pub fn recent_latency_percentiles(&self) -> Option<Percentiles> {
        let mut histogram = LatencyHistogram::new();
        for &(_, latency_ms) in &self.recent {
            histogram.record_ms(latency_ms);
        }
        histogram.percentiles()
    }
}

/// The rules: warm-ups, probes, routing and restarts.
impl HealthCheck {
    fn initial_instance(config: &HealthCheckConfig, id: u32) -> Instance {
        let warm = id < config.warm;
        // Warm instances are probed at staggered offsets within the first period; a cold one is
        // first probed one period after its start at 0 ms.
        let next_probe_ms = if warm {
            config.period_ms * f64::from(id + 1) / f64::from(config.instances)
        } else {
            config.period_ms
        };
        let in_rotation = warm || !config.checks;
        let started_ms = if warm { -config.warmup_ms } else { 0.0 };
        let condition = if warm {
            Condition::Healthy
        } else {
            Condition::Cold
        };
        Instance {
            id,
            incarnation: 1,
            started_ms,
            warmed: warm,
            warm_at_ms: started_ms + config.warmup_ms,
            hung: false,
            dependency: true,
            in_rotation,
            passed_readiness: warm,
            live_failures: 0,
            ready_failures: 0,
            ready_passes: 0,
            next_probe_ms,
            served: 0,
            failed: 0,
            restarts: 0,
            unhealthy_in_rotation_ms: 0.0,
            segments: VecDeque::from([Segment {
                start_ms: 0.0,
                condition,
                in_rotation,
            }]),
            marks: VecDeque::new(),
        }
    }

    fn arrival_gap_ms(&mut self) -> f64 {
        self.rng.exponential(1000.0 / self.config.rate_per_s)
    }

    fn instance(&self, id: u32) -> Result<&Instance, ActionError> {
        self.instances.get(id as usize).ok_or_else(|| {
            ActionError(format!(
                "no instance {id}; use 0 to {}",
                self.instances.len().saturating_sub(1)
            ))
        })
    }

    /// Finds the earliest due event and its kind, ties broken in [`Due`] order.
    fn next_due(&self) -> Option<(f64, Due)> {
        let hang = self
            .hang_pending
            .then_some((self.config.hang_at_ms, Due::Hang));
        let warm_ups = self
            .instances
            .iter()
            .filter(|i| !i.warmed)
            .map(|i| (i.warm_at_ms, Due::WarmUp(i.id)));
        let probes = self
            .instances
            .iter()
            .map(|i| (i.next_probe_ms, Due::Probe(i.id)));
        hang.into_iter()
            .chain(warm_ups)
            .chain(probes)
            .chain([(self.next_arrival_ms, Due::Arrival)])
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
    }

    /// Adds the time up to `at_ms` to every instance that is in the rotation but not healthy.
    fn count_until(&mut self, at_ms: f64) {
        let elapsed = at_ms - self.counted_ms;
        if elapsed <= 0.0 {
            return;
        }
        for instance in &mut self.instances {
            if instance.in_rotation && !instance.healthy() {
                instance.unhealthy_in_rotation_ms += elapsed;
            }
        }
        self.counted_ms = at_ms;
    }

    /// Drops history older than `cutoff_ms`, keeping the segment in force at the cutoff.
    fn forget_before(&mut self, cutoff_ms: f64) {
        while self.recent.front().is_some_and(|&(at, _)| at < cutoff_ms) {
            self.recent.pop_front();
        }
        for instance in &mut self.instances {
            while instance
                .marks
                .front()
                .is_some_and(|m| m.at_ms() < cutoff_ms)
            {
                instance.marks.pop_front();
            }
            while instance
                .segments
                .get(1)
                .is_some_and(|next| next.start_ms <= cutoff_ms)
            {
                instance.segments.pop_front();
            }
        }
    }

    /// Starts a new timeline segment for `id` if its condition or rotation changed.
    fn note_segment(&mut self, id: u32) {
        let now_ms = self.now_ms;
        let Some(instance) = self.instances.get_mut(id as usize) else {
            return;
        };
        let segment = Segment {
            start_ms: now_ms,
            condition: instance.condition(),
            in_rotation: instance.in_rotation,
        };
        let unchanged = instance.segments.back().is_some_and(|last| {
            last.condition == segment.condition && last.in_rotation == segment.in_rotation
        });
        if !unchanged {
            instance.segments.push_back(segment);
        }
    }

    fn warm_up(&mut self, id: u32, events: &mut Vec<Event>) {
        let at_ms = self.now_ms;
        if let Some(instance) = self.instances.get_mut(id as usize) {
            instance.warmed = true;
            events.push(Event::WarmedUp {
                at_ms,
                instance: id,
            });
        }
        self.note_segment(id);
    }

    /// Probes one instance, or only moves its probe time on while the checks are off.
    fn probe(&mut self, id: u32, events: &mut Vec<Event>) {
        let at_ms = self.now_ms;
        let period_ms = self.config.period_ms;
        let checks = self.config.checks;
        let failure_threshold = self.config.failure_threshold;
        let success_threshold = self.config.success_threshold;
        let Some(instance) = self.instances.get_mut(id as usize) else {
            return;
        };
        instance.next_probe_ms = at_ms + period_ms;
        if !checks {
            return;
        }

        // /livez passes while the process responds at all, and /readyz also needs the warm-up
        // and the dependency.
        let live = !instance.hung;
        let ready = instance.healthy();
        events.push(Event::Probed {
            at_ms,
            instance: id,
            live,
            ready,
        });
        instance.marks.push_back(Mark::Probe {
            at_ms,
            outcome: ProbeOutcome::of(live, ready),
        });

        if ready {
            instance.ready_failures = 0;
            instance.ready_passes += 1;
            instance.passed_readiness = true;
            if !instance.in_rotation && instance.ready_passes >= success_threshold {
                instance.in_rotation = true;
                events.push(Event::Added {
                    at_ms,
                    instance: id,
                });
            }
        } else {
            instance.ready_passes = 0;
            instance.ready_failures += 1;
            if instance.in_rotation && instance.ready_failures >= failure_threshold {
                instance.in_rotation = false;
                events.push(Event::Removed {
                    at_ms,
                    instance: id,
                    failures: instance.ready_failures,
                });
            }
        }

        let restart = if live {
            instance.live_failures = 0;
            false
        } else {
            instance.live_failures += 1;
            instance.live_failures >= failure_threshold
        };
        self.note_segment(id);
        if restart {
            self.restart(id, RestartCause::Liveness, events);
        }
    }

    /// Kills an instance and starts a fresh process: cold, out of the rotation, probe streaks
    /// cleared, first probed one period from now. A lost dependency stays lost.
    fn restart(&mut self, id: u32, cause: RestartCause, events: &mut Vec<Event>) {
        let at_ms = self.now_ms;
        let period_ms = self.config.period_ms;
        let warmup_ms = self.config.warmup_ms;
        let checks = self.config.checks;
        let Some(instance) = self.instances.get_mut(id as usize) else {
            return;
        };
        if instance.in_rotation && checks {
            instance.in_rotation = false;
            events.push(Event::Removed {
                at_ms,
                instance: id,
                failures: 0,
            });
        }

        instance.incarnation += 1;
        instance.restarts += 1;
        instance.started_ms = at_ms;
        instance.warmed = false;
        instance.warm_at_ms = at_ms + warmup_ms;
        instance.hung = false;
        instance.passed_readiness = false;
        instance.live_failures = 0;
        instance.ready_failures = 0;
        instance.ready_passes = 0;
        instance.next_probe_ms = at_ms + period_ms;
        instance.marks.push_back(Mark::Restart { at_ms });

        self.restarts += 1;
        events.push(Event::Restarted {
            at_ms,
            instance: id,
            incarnation: instance.incarnation,
            cause,
        });
        self.note_segment(id);
    }

    fn hang(&mut self, id: u32, events: &mut Vec<Event>) {
        let at_ms = self.now_ms;
        let Some(instance) = self.instances.get_mut(id as usize) else {
            return;
        };
        if instance.hung {
            return;
        }
        instance.hung = true;
        events.push(Event::Hung {
            at_ms,
            instance: id,
        });
        self.note_segment(id);
    }

    fn set_dependency(&mut self, id: u32, available: bool, events: &mut Vec<Event>) {
        let at_ms = self.now_ms;
        if let Some(instance) = self.instances.get_mut(id as usize) {
            instance.dependency = available;
            events.push(Event::DependencyChanged {
                at_ms,
                instance: id,
                available,
            });
        }
        self.note_segment(id);
    }

    fn set_checks(&mut self, enabled: bool, events: &mut Vec<Event>) {
        let at_ms = self.now_ms;
        self.config.checks = enabled;
        events.push(Event::ChecksSwitched { at_ms, enabled });
        for id in 0..self.instances.len() as u32 {
            let Some(instance) = self.instances.get_mut(id as usize) else {
                continue;
            };
            instance.live_failures = 0;
            instance.ready_failures = 0;
            instance.ready_passes = 0;
            if !enabled && !instance.in_rotation {
                instance.in_rotation = true;
                events.push(Event::Added {
                    at_ms,
                    instance: id,
                });
            }
            self.note_segment(id);
        }
    }

    /// Routes one arriving request round-robin over the rotation, or rejects it.
    fn arrive(&mut self, events: &mut Vec<Event>) {
        let request_id = self.next_id;
        self.next_id += 1;
        let at_ms = self.now_ms;
        let rotation: Vec<u32> = self
            .instances
            .iter()
            .filter(|i| i.in_rotation)
            .map(|i| i.id)
            .collect();
        if rotation.is_empty() {
            self.rejected += 1;
            self.record_latency(at_ms, 0.0);
            events.push(Event::Rejected { at_ms, request_id });
            return;
        }
        let index = (self.routed % rotation.len() as u64) as usize;
        self.routed += 1;
        let id = rotation.get(index).copied().unwrap_or(0);
        let condition = self
            .instances
            .get(id as usize)
            .map_or(Condition::Healthy, Instance::condition);

        let (reason, latency_ms) = match condition {
            Condition::Healthy => {
                let latency_ms = self.rng.exponential(self.config.service_ms);
                self.served += 1;
                if let Some(instance) = self.instances.get_mut(id as usize) {
                    instance.served += 1;
                }
                self.record_latency(at_ms, latency_ms);
                events.push(Event::Served {
                    at_ms,
                    request_id,
                    instance: id,
                    latency_ms,
                });
                return;
            }
            Condition::Cold => {
                self.failed_cold += 1;
                (FailReason::Cold, FAST_FAIL_MS)
            }
            Condition::Hung => {
                self.failed_hung += 1;
                (FailReason::Hung, self.config.timeout_ms)
            }
            Condition::NotReady => {
                self.failed_not_ready += 1;
                (FailReason::NotReady, FAST_FAIL_MS)
            }
        };
        if let Some(instance) = self.instances.get_mut(id as usize) {
            instance.failed += 1;
            instance.marks.push_back(Mark::Failed { at_ms });
        }
        self.record_latency(at_ms, latency_ms);
        events.push(Event::Failed {
            at_ms,
            request_id,
            instance: id,
            reason,
            latency_ms,
        });
    }

    fn record_latency(&mut self, at_ms: f64, latency_ms: f64) {
        self.latencies.record_ms(latency_ms);
        self.recent.push_back((at_ms, latency_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(HealthCheckConfig::default().validate(), Ok(()));
    }

    #[test]
    fn more_warm_than_instances_is_rejected() {
        let config = HealthCheckConfig {
            instances: 2,
            warm: 3,
            hang_instance: 0,
            ..HealthCheckConfig::default()
        };

        let result = HealthCheck::new(config, 1);

        assert!(matches!(result, Err(ConfigError { field: "warm", .. })));
    }

    #[test]
    fn hang_instance_out_of_range_is_rejected() {
        let config = HealthCheckConfig {
            hang_instance: 3,
            ..HealthCheckConfig::default()
        };

        let result = HealthCheck::new(config, 1);

        assert!(matches!(
            result,
            Err(ConfigError {
                field: "hang_instance",
                ..
            })
        ));
    }

    #[test]
    fn hanging_twice_is_an_action_error() {
        let Ok(mut engine) = HealthCheck::new(HealthCheckConfig::default(), 1) else {
            panic!("default config rejected");
        };
        let hang = Action::Hang { instance: 0 };

        let first = engine.apply(&hang);
        let second = engine.apply(&hang);

        assert!(first.is_ok(), "{first:?}");
        assert!(second.is_err(), "{second:?}");
    }

    #[test]
    fn unknown_instance_is_an_action_error() {
        let Ok(mut engine) = HealthCheck::new(HealthCheckConfig::default(), 1) else {
            panic!("default config rejected");
        };

        let result = engine.apply(&Action::Restart { instance: 3 });

        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn events_serialize_with_type_tag() {
        let event = Event::Failed {
            at_ms: 50.0,
            request_id: 3,
            instance: 1,
            reason: FailReason::NotReady,
            latency_ms: 1.0,
        };

        let json = serde_json::to_string(&event).unwrap_or_default();

        assert_eq!(
            json,
            r#"{"type":"failed","at_ms":50.0,"request_id":3,"instance":1,"reason":"not_ready","latency_ms":1.0}"#
        );
    }
}
