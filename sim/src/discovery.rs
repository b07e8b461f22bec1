//! Service discovery: instances keep a TTL lease in a registry by heartbeat, and clients send
//! requests to instances from a cached copy of the registry's list.
//!
//! Each instance registers at start and sends a heartbeat every `heartbeat_ms`, at a random
//! phase. The registry renews the instance's lease on each heartbeat and drops the instance once
//! `ttl_ms` pass without one. The registry replies "unknown" to a heartbeat from an instance it no
//! longer lists, and the instance registers again at once. Each client fetches the list at
//! the start and then every `refresh_ms` (at a random phase), and sends requests as a Poisson
//! process at `rate_per_s`, each to the next instance of its cached list in turn (round-robin).
//! A request to an instance that is down fails at once, as a refused connection does. A client
//! with an empty list fails its requests too. Clients do not retry.
//!
//! Instances crash and restart through [`Fault::Crash`] and [`Fault::Restart`]; instance 1 also
//! crashes on a schedule at `crash_at_ms`, so that the default run shows a stale view. A crashed
//! instance says nothing to the registry. A graceful stop ([`Action::Stop`]) deregisters first,
//! keeps serving for `drain_ms`, then exits. [`Action::CutOff`] cuts an instance off from the
//! registry while clients still reach it: its heartbeats, registrations and deregistrations are
//! lost, so the registry expires an instance that is still serving.
//!
//! Within each step of [`STEP_MS`] the engine processes due events in time order, at their exact
//! times. Ties go to the scheduled crash, then heartbeats, lease expiries, cache refreshes, the
//! end of a drain, and requests last, each group in id order. So a heartbeat that arrives as its
//! lease runs out renews it, and a client that refreshes as a drain ends has already dropped the
//! instance.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Maximum number of instances in a run, counting those added by [`Action::AddInstance`].
pub const MAX_INSTANCES: u32 = 8;

/// Maximum number of clients in a run.
pub const MAX_CLIENTS: u32 = 4;

/// Maximum request rate of one client, per second.
pub const MAX_RATE_PER_S: f64 = 100.0;

/// Window over which [`Discovery::recent_failures`] counts failed requests, in milliseconds.
pub const RECENT_MS: f64 = 1000.0;

/// The instance that the scheduled crash at `crash_at_ms` takes down.
pub const SCHEDULED_CRASH_INSTANCE: u32 = 1;

/// Parameters of the service discovery widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// Instances running at the start, numbered from 1.
    pub instances: u32,
    /// Clients, numbered from 1, each with its own cached list.
    pub clients: u32,
    /// Mean request rate of each client (Poisson arrivals), per second.
    pub rate_per_s: f64,
    /// Time between an instance's heartbeats, in milliseconds.
    pub heartbeat_ms: f64,
    /// Time without a heartbeat after which the registry drops an instance, in milliseconds.
    pub ttl_ms: f64,
    /// Time between a client's fetches of the registry's list, in milliseconds.
    pub refresh_ms: f64,
    /// Time a gracefully stopping instance keeps serving after it deregisters, in milliseconds.
    pub drain_ms: f64,
    /// Simulated time at which instance 1 crashes, in milliseconds; 0 schedules no crash.
    pub crash_at_ms: f64,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            instances: 3,
            clients: 3,
            rate_per_s: 10.0,
            heartbeat_ms: 1000.0,
            ttl_ms: 3000.0,
            refresh_ms: 2000.0,
            drain_ms: 2000.0,
            crash_at_ms: 4000.0,
        }
    }
}

impl Config for DiscoveryConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("instances", self.instances, 1, MAX_INSTANCES)?;
        ConfigError::check_range_u32("clients", self.clients, 1, MAX_CLIENTS)?;
        ConfigError::check_range_f64("rate_per_s", self.rate_per_s, 0.1, MAX_RATE_PER_S)?;
        ConfigError::check_range_f64("heartbeat_ms", self.heartbeat_ms, 50.0, 60_000.0)?;
        ConfigError::check_range_f64("ttl_ms", self.ttl_ms, 50.0, 600_000.0)?;
        ConfigError::check_range_f64("refresh_ms", self.refresh_ms, 50.0, 600_000.0)?;
        ConfigError::check_range_f64("drain_ms", self.drain_ms, 0.0, 600_000.0)?;
        ConfigError::check_range_f64("crash_at_ms", self.crash_at_ms, 0.0, 600_000.0)?;
        Ok(())
    }
}

/// A reader's action between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Crashes or restarts an instance; see [`Discovery`]'s [`Faults`] implementation.
    Fault(Fault),
    /// Stops an up instance gracefully: it deregisters, serves for `drain_ms`, then exits.
    Stop {
        /// The instance's id.
        instance: u32,
    },
    /// Starts a new instance, which registers at once.
    AddInstance,
    /// Cuts an instance off from the registry, or reconnects it. Clients still reach it.
    CutOff {
        /// The instance's id.
        instance: u32,
        /// Whether its messages to the registry are lost from now on.
        cut: bool,
    },
}

/// An instance's process state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Serving and sending heartbeats.
    Up,
    /// Deregistered and still serving until its drain ends; no heartbeats.
    Draining,
    /// Crashed or stopped: every request to it fails.
    Down,
}

/// The reason an instance registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterReason {
    /// It started with the run.
    Start,
    /// It restarted after a crash or a stop.
    Restart,
    /// The reader added it.
    ScaleUp,
    /// Its heartbeat found its lease expired.
    AfterExpiry,
}

/// The outcome of a heartbeat at the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeartbeatOutcome {
    /// The registry renewed the lease.
    Renewed,
    /// The instance is cut off, so the registry never got it.
    Lost,
    /// The registry no longer lists the instance, which registers again.
    Unknown,
}

/// An event of a step or an action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An instance sent a registration.
    Register {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// The reason it registered.
        reason: RegisterReason,
        /// Whether the registry got it; false while the instance is cut off.
        delivered: bool,
    },
    /// An instance sent a heartbeat.
    Heartbeat {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// Its outcome at the registry.
        outcome: HeartbeatOutcome,
    },
    /// A gracefully stopping instance sent a deregistration.
    Deregister {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// Whether the registry got it; false while the instance is cut off.
        delivered: bool,
    },
    /// The registry dropped an instance whose lease ran `ttl_ms` without a heartbeat.
    Expired {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// When the lease was last renewed, in milliseconds.
        renewed_ms: f64,
        /// Whether the instance was still serving: a false expiry.
        serving: bool,
    },
    /// A client replaced its cached list with the registry's.
    Refreshed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The client.
        client: u32,
        /// The new list, in rising id order.
        instances: Vec<u32>,
        /// Ids in the new list and not in the old one.
        added: Vec<u32>,
        /// Ids in the old list and not in the new one.
        removed: Vec<u32>,
    },
    /// A request reached a serving instance.
    Served {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The client that sent it.
        client: u32,
        /// The request, numbered from 0 across all clients.
        request_id: u64,
        /// The instance that served it.
        instance: u32,
    },
    /// A request failed: its instance was down, or the client's list was empty.
    Failed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The client that sent it.
        client: u32,
        /// The request.
        request_id: u64,
        /// The instance it went to, or `None` when the client's list was empty.
        instance: Option<u32>,
    },
    /// An instance crashed without a word to the registry.
    Crashed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// Whether the reader did it, rather than the schedule.
        manual: bool,
    },
    /// A down instance started again.
    Restarted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
    },
    /// A gracefully stopping instance began to drain.
    Draining {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// When it stops serving, in milliseconds.
        until_ms: f64,
    },
    /// A gracefully stopping instance exited.
    Stopped {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
    },
    /// The reader added an instance.
    Added {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new instance.
        instance: u32,
    },
    /// An instance was cut off from the registry or reconnected.
    CutOffChanged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// Whether it is cut off now.
        cut: bool,
    },
    /// No client's cached list names a down instance any more, so requests to it have stopped.
    StaleCleared {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The instance.
        instance: u32,
        /// When it went down, in milliseconds.
        down_ms: f64,
        /// How long some client still had it cached, in milliseconds: `at_ms - down_ms`.
        stale_ms: f64,
        /// Requests sent to it in that time, all of which failed.
        failed: u64,
    },
}

/// One service instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The id, from 1.
    pub id: u32,
    /// Up, draining or down.
    pub state: InstanceState,
    /// Whether its messages to the registry are lost.
    pub cut_off: bool,
    /// Requests it served.
    pub served: u64,
    /// Requests sent to it while it was down.
    pub refused: u64,
    next_heartbeat_ms: f64,
    drain_until_ms: f64,
    /// When it went down, while some client may still have it cached.
    down_since_ms: Option<f64>,
    /// Requests sent to it since `down_since_ms`.
    stale_failed: u64,
}

impl Instance {
    /// Returns whether requests sent to it succeed.
    pub fn serving(&self) -> bool {
        self.state != InstanceState::Down
    }
}

/// One client with its cached copy of the registry's list.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// The id, from 1.
    pub id: u32,
    /// The cached list of instance ids, in rising order.
    pub cache: Vec<u32>,
    /// When the cache was last fetched, in milliseconds.
    pub fetched_ms: f64,
    /// When the next fetch is due, in milliseconds.
    pub next_refresh_ms: f64,
    /// Requests sent.
    pub sent: u64,
    /// Requests that failed.
    pub failed: u64,
    next_request_ms: f64,
    /// Position of the next request in the round-robin over `cache`.
    cursor: usize,
}

/// The staleness window of the last down instance that every client has forgotten.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaleWindow {
    /// The instance.
    pub instance: u32,
    /// How long some client still had it cached after it went down, in milliseconds.
    pub stale_ms: f64,
    /// Requests that failed in that time.
    pub failed: u64,
}

/// The next thing due within a step, in tie-break order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    ScheduledCrash,
    Heartbeat(usize),
    Expiry(u32),
    Refresh(usize),
    DrainEnd(usize),
    Request(usize),
}

/// The service discovery engine.
#[derive(Debug, Clone)]
pub struct Discovery {
    config: DiscoveryConfig,
    rng: SimRng,
    steps: u64,
    now_ms: f64,
    instances: Vec<Instance>,
    /// The registry: instance id to the time its lease was last renewed.
    leases: BTreeMap<u32, f64>,
    clients: Vec<Client>,
    crash_pending: bool,
    next_request_id: u64,
    sent: u64,
    succeeded: u64,
    failed: u64,
    last_stale: Option<StaleWindow>,
    /// Times of the failures within the last [`RECENT_MS`].
    recent_failures: VecDeque<f64>,
    /// Events of the start (registrations and first fetches), returned by the first step or
    /// action.
    startup: Vec<Event>,
}

impl Engine for Discovery {
    type Config = DiscoveryConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: DiscoveryConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = SimRng::new(seed);
        let instances = (1..=config.instances)
            .map(|id| {
                let phase = rng.uniform() * config.heartbeat_ms;
                new_instance(id, phase)
            })
            .collect();
        let clients = (1..=config.clients)
            .map(|id| Client {
                id,
                cache: Vec::new(),
                fetched_ms: 0.0,
                next_refresh_ms: rng.uniform() * config.refresh_ms,
                sent: 0,
                failed: 0,
                next_request_ms: 0.0,
                cursor: 0,
            })
            .collect();
        let mut engine = Self {
            crash_pending: config.crash_at_ms > 0.0,
            config,
            rng,
            steps: 0,
            now_ms: 0.0,
            instances,
            leases: BTreeMap::new(),
            clients,
            next_request_id: 0,
            sent: 0,
            succeeded: 0,
            failed: 0,
            last_stale: None,
            recent_failures: VecDeque::new(),
            startup: Vec::new(),
        };
        let mut events = Vec::new();
        for index in 0..engine.instances.len() {
            engine.register(index, RegisterReason::Start, &mut events);
        }
        for index in 0..engine.clients.len() {
            engine.fetch(index, &mut events);
            let gap = engine.request_gap_ms();
            if let Some(client) = engine.clients.get_mut(index) {
                client.next_request_ms = gap;
            }
        }
        engine.startup = events;
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_ms = self.steps as f64 * STEP_MS;
        let mut events = std::mem::take(&mut self.startup);
        while let Some((at_ms, due)) = self.next_due().filter(|(at_ms, _)| *at_ms <= end_ms) {
            self.now_ms = self.now_ms.max(at_ms);
            match due {
                Due::ScheduledCrash => {
                    self.crash_pending = false;
                    if let Some(index) = self.index_of(SCHEDULED_CRASH_INSTANCE)
                        && self.instances[index].serving()
                    {
                        self.crash(index, false, &mut events);
                    }
                }
                Due::Heartbeat(index) => self.heartbeat(index, &mut events),
                Due::Expiry(id) => self.expire(id, &mut events),
                Due::Refresh(index) => {
                    self.fetch(index, &mut events);
                    self.clear_stale(&mut events);
                }
                Due::DrainEnd(index) => {
                    if let Some(instance) = self.instances.get(index) {
                        events.push(Event::Stopped {
                            at_ms: self.now_ms,
                            instance: instance.id,
                        });
                    }
                    self.go_down(index, &mut events);
                }
                Due::Request(index) => {
                    self.request(index, &mut events);
                    let gap = self.request_gap_ms();
                    if let Some(client) = self.clients.get_mut(index) {
                        client.next_request_ms = at_ms + gap;
                    }
                }
            }
        }
        self.now_ms = end_ms;
        let cutoff = end_ms - RECENT_MS;
        while self.recent_failures.front().is_some_and(|&at| at <= cutoff) {
            self.recent_failures.pop_front();
        }
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let mut events = self.apply_action(action)?;
        // The start's events come first, so that a trace stays in time order when the reader
        // acts before the first step.
        let mut all = std::mem::take(&mut self.startup);
        all.append(&mut events);
        Ok(all)
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let up = self.instances.iter().filter(|i| i.serving()).count() as u64;
        let total = self.instances.len();
        let stale = self.stale_entries() as u64;
        let (window_value, window_text) = match self.last_stale {
            Some(window) => (
                window.stale_ms,
                format!(
                    "{:.1} s, {} failed",
                    window.stale_ms / 1000.0,
                    window.failed
                ),
            ),
            None => (0.0, "–".to_string()),
        };
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::new("up", "Instances up", up as f64, format!("{up} of {total}")),
                Metric::count("listed", "Registry lists", self.leases.len() as u64),
                Metric::count("stale-entries", "Stale cache entries", stale),
                Metric::count("sent", "Requests", self.sent),
                Metric::count("succeeded", "Succeeded", self.succeeded),
                Metric::count("failed", "Failed", self.failed),
                Metric::new(
                    "stale-window",
                    "Last stale window",
                    window_value,
                    window_text,
                ),
                Metric::new(
                    "time",
                    "Time",
                    self.now_ms / 1000.0,
                    format!("{:.1} s", self.now_ms / 1000.0),
                ),
            ],
            latency: None,
            samples: vec![
                Sample {
                    label: "failed/s (last 1 s)",
                    value: self.recent_failures.len() as f64,
                },
                Sample {
                    label: "stale cache entries",
                    value: stale as f64,
                },
            ],
        }
    }
}

/// Reading the state and the counters, for the widget and the tests.
impl Discovery {
    /// Returns the configuration.
    pub fn config(&self) -> &DiscoveryConfig {
        &self.config
    }

    /// Returns every instance, in id order.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Returns every client, in id order.
    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// Returns the ids the registry lists, in rising order.
    pub fn listed(&self) -> impl Iterator<Item = u32> + '_ {
        self.leases.keys().copied()
    }

    /// Returns the time left on an instance's lease, in milliseconds, or `None` if unlisted.
    pub fn lease_left_ms(&self, instance: u32) -> Option<f64> {
        self.leases
            .get(&instance)
            .map(|&renewed_ms| (renewed_ms + self.config.ttl_ms - self.now_ms).max(0.0))
    }

    /// Requests sent since the start.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Requests that succeeded since the start.
    pub fn succeeded(&self) -> u64 {
        self.succeeded
    }

    /// Requests that failed since the start.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Failed requests within the last [`RECENT_MS`].
    pub fn recent_failures(&self) -> usize {
        self.recent_failures.len()
    }

    /// Returns the staleness window of the last down instance that every client has forgotten.
    pub fn last_stale(&self) -> Option<StaleWindow> {
        self.last_stale
    }

    /// Counts cached entries, over all clients, that name an instance that is down.
    pub fn stale_entries(&self) -> usize {
        self.clients
            .iter()
            .flat_map(|client| client.cache.iter())
            .filter(|&&id| {
                self.index_of(id)
                    .is_some_and(|i| !self.instances[i].serving())
            })
            .count()
    }
}

fn new_instance(id: u32, first_heartbeat_ms: f64) -> Instance {
    Instance {
        id,
        state: InstanceState::Up,
        cut_off: false,
        served: 0,
        refused: 0,
        next_heartbeat_ms: first_heartbeat_ms,
        drain_until_ms: 0.0,
        down_since_ms: None,
        stale_failed: 0,
    }
}

/// The rules: heartbeats, leases, refreshes, requests and instance changes.
impl Discovery {
    /// Applies a reader action and returns its events, or why it cannot apply.
    fn apply_action(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let mut events = Vec::new();
        match action {
            Action::Fault(fault) => {
                Self::check_fault(fault)?;
                match *fault {
                    Fault::Crash { node } => {
                        let index = self.find(node)?;
                        if !self.instances[index].serving() {
                            return Err(ActionError(format!(
                                "instance {node} is already down; restart it first"
                            )));
                        }
                        self.crash(index, true, &mut events);
                    }
                    Fault::Restart { node } => {
                        let index = self.find(node)?;
                        if self.instances[index].serving() {
                            return Err(ActionError(format!(
                                "instance {node} is running; crash or stop it first"
                            )));
                        }
                        self.restart(index, &mut events);
                    }
                    _ => {
                        return Err(ActionError(
                            "this simulation has only crash and restart faults".to_string(),
                        ));
                    }
                }
            }
            Action::Stop { instance } => {
                let index = self.find(*instance)?;
                if self.instances[index].state != InstanceState::Up {
                    return Err(ActionError(format!(
                        "instance {instance} is not up; only an up instance can stop gracefully"
                    )));
                }
                self.stop(index, &mut events);
            }
            Action::AddInstance => {
                let count = self.instances.len() as u32;
                if count >= MAX_INSTANCES {
                    return Err(ActionError(format!(
                        "already {count} instances, the most this simulation runs"
                    )));
                }
                self.add_instance(&mut events);
            }
            Action::CutOff { instance, cut } => {
                let index = self.find(*instance)?;
                let target = &mut self.instances[index];
                if target.cut_off == *cut {
                    let state = if *cut {
                        "already cut off"
                    } else {
                        "not cut off"
                    };
                    return Err(ActionError(format!("instance {instance} is {state}")));
                }
                target.cut_off = *cut;
                events.push(Event::CutOffChanged {
                    at_ms: self.now_ms,
                    instance: *instance,
                    cut: *cut,
                });
            }
        }
        Ok(events)
    }

    fn request_gap_ms(&mut self) -> f64 {
        self.rng.exponential(1000.0 / self.config.rate_per_s)
    }

    fn index_of(&self, id: u32) -> Option<usize> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        (index < self.instances.len()).then_some(index)
    }

    fn find(&self, id: u32) -> Result<usize, ActionError> {
        self.index_of(id).ok_or_else(|| {
            ActionError(format!(
                "no instance {id}; the instances are 1 to {}",
                self.instances.len()
            ))
        })
    }

    /// Finds the earliest due event, ties broken in [`Due`] order.
    fn next_due(&self) -> Option<(f64, Due)> {
        let crash = self
            .crash_pending
            .then_some((self.config.crash_at_ms, Due::ScheduledCrash));
        let heartbeats = self
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| i.state == InstanceState::Up)
            .map(|(index, i)| (i.next_heartbeat_ms, Due::Heartbeat(index)));
        let expiries = self
            .leases
            .iter()
            .map(|(&id, &renewed_ms)| (renewed_ms + self.config.ttl_ms, Due::Expiry(id)));
        let refreshes = self
            .clients
            .iter()
            .enumerate()
            .map(|(index, c)| (c.next_refresh_ms, Due::Refresh(index)));
        let drains = self
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| i.state == InstanceState::Draining)
            .map(|(index, i)| (i.drain_until_ms, Due::DrainEnd(index)));
        let requests = self
            .clients
            .iter()
            .enumerate()
            .map(|(index, c)| (c.next_request_ms, Due::Request(index)));
        crash
            .into_iter()
            .chain(heartbeats)
            .chain(expiries)
            .chain(refreshes)
            .chain(drains)
            .chain(requests)
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
    }

    /// Sends a registration from an instance; the registry stores a fresh lease if it arrives.
    fn register(&mut self, index: usize, reason: RegisterReason, events: &mut Vec<Event>) {
        let Some(instance) = self.instances.get(index) else {
            return;
        };
        let delivered = !instance.cut_off;
        if delivered {
            self.leases.insert(instance.id, self.now_ms);
        }
        events.push(Event::Register {
            at_ms: self.now_ms,
            instance: instance.id,
            reason,
            delivered,
        });
    }

    fn heartbeat(&mut self, index: usize, events: &mut Vec<Event>) {
        let Some(instance) = self.instances.get_mut(index) else {
            return;
        };
        instance.next_heartbeat_ms += self.config.heartbeat_ms;
        let (id, cut_off) = (instance.id, instance.cut_off);
        let outcome = if cut_off {
            HeartbeatOutcome::Lost
        } else if let Some(renewed_ms) = self.leases.get_mut(&id) {
            *renewed_ms = self.now_ms;
            HeartbeatOutcome::Renewed
        } else {
            HeartbeatOutcome::Unknown
        };
        events.push(Event::Heartbeat {
            at_ms: self.now_ms,
            instance: id,
            outcome,
        });
        if outcome == HeartbeatOutcome::Unknown {
            self.register(index, RegisterReason::AfterExpiry, events);
        }
    }

    fn expire(&mut self, id: u32, events: &mut Vec<Event>) {
        let Some(renewed_ms) = self.leases.remove(&id) else {
            return;
        };
        let serving = self
            .index_of(id)
            .is_some_and(|index| self.instances[index].serving());
        events.push(Event::Expired {
            at_ms: self.now_ms,
            instance: id,
            renewed_ms,
            serving,
        });
    }

    /// Replaces a client's cached list with the registry's and schedules its next fetch.
    fn fetch(&mut self, index: usize, events: &mut Vec<Event>) {
        let fresh: Vec<u32> = self.leases.keys().copied().collect();
        let now_ms = self.now_ms;
        let refresh_ms = self.config.refresh_ms;
        let Some(client) = self.clients.get_mut(index) else {
            return;
        };
        let added = fresh
            .iter()
            .filter(|id| !client.cache.contains(id))
            .copied()
            .collect();
        let removed = client
            .cache
            .iter()
            .filter(|id| !fresh.contains(id))
            .copied()
            .collect();
        client.cache = fresh.clone();
        client.fetched_ms = now_ms;
        // The next fetch keeps the client's phase; at the start it was drawn at random.
        if client.next_refresh_ms <= now_ms {
            client.next_refresh_ms += refresh_ms;
        }
        events.push(Event::Refreshed {
            at_ms: now_ms,
            client: client.id,
            instances: fresh,
            added,
            removed,
        });
    }

    /// Sends one request from a client to the next instance of its cached list.
    fn request(&mut self, index: usize, events: &mut Vec<Event>) {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let at_ms = self.now_ms;
        let Some(client) = self.clients.get_mut(index) else {
            return;
        };
        client.sent += 1;
        self.sent += 1;
        let target = match client.cache.len() {
            0 => None,
            len => {
                let id = client.cache.get(client.cursor % len).copied();
                client.cursor = client.cursor.wrapping_add(1);
                id
            }
        };
        let client_id = client.id;
        let instance = target.and_then(|id| {
            let index = usize::try_from(id).ok()?.checked_sub(1)?;
            self.instances.get_mut(index)
        });
        match instance {
            Some(instance) if instance.serving() => {
                instance.served += 1;
                self.succeeded += 1;
                events.push(Event::Served {
                    at_ms,
                    client: client_id,
                    request_id,
                    instance: instance.id,
                });
            }
            other => {
                if let Some(instance) = other {
                    instance.refused += 1;
                    instance.stale_failed += 1;
                }
                if let Some(client) = self.clients.get_mut(index) {
                    client.failed += 1;
                }
                self.failed += 1;
                self.recent_failures.push_back(at_ms);
                events.push(Event::Failed {
                    at_ms,
                    client: client_id,
                    request_id,
                    instance: target,
                });
            }
        }
    }

    fn crash(&mut self, index: usize, manual: bool, events: &mut Vec<Event>) {
        if let Some(instance) = self.instances.get(index) {
            events.push(Event::Crashed {
                at_ms: self.now_ms,
                instance: instance.id,
                manual,
            });
        }
        self.go_down(index, events);
    }

    /// Takes an instance down and starts counting how long clients keep it cached.
    fn go_down(&mut self, index: usize, events: &mut Vec<Event>) {
        let Some(instance) = self.instances.get_mut(index) else {
            return;
        };
        instance.state = InstanceState::Down;
        instance.down_since_ms = Some(self.now_ms);
        instance.stale_failed = 0;
        self.clear_stale(events);
    }

    /// Closes the staleness window of every down instance that no client has cached any more.
    fn clear_stale(&mut self, events: &mut Vec<Event>) {
        for instance in &mut self.instances {
            let Some(down_ms) = instance.down_since_ms else {
                continue;
            };
            if self.clients.iter().any(|c| c.cache.contains(&instance.id)) {
                continue;
            }
            instance.down_since_ms = None;
            let window = StaleWindow {
                instance: instance.id,
                stale_ms: self.now_ms - down_ms,
                failed: instance.stale_failed,
            };
            self.last_stale = Some(window);
            events.push(Event::StaleCleared {
                at_ms: self.now_ms,
                instance: instance.id,
                down_ms,
                stale_ms: window.stale_ms,
                failed: window.failed,
            });
        }
    }

    fn restart(&mut self, index: usize, events: &mut Vec<Event>) {
        let now_ms = self.now_ms;
        let heartbeat_ms = self.config.heartbeat_ms;
        let Some(instance) = self.instances.get_mut(index) else {
            return;
        };
        instance.state = InstanceState::Up;
        instance.next_heartbeat_ms = now_ms + heartbeat_ms;
        // A restart ends the staleness window without closing it: the cached entries are right again.
        instance.down_since_ms = None;
        events.push(Event::Restarted {
            at_ms: now_ms,
            instance: instance.id,
        });
        self.register(index, RegisterReason::Restart, events);
    }

    fn stop(&mut self, index: usize, events: &mut Vec<Event>) {
        let now_ms = self.now_ms;
        let drain_ms = self.config.drain_ms;
        let Some(instance) = self.instances.get_mut(index) else {
            return;
        };
        let (id, delivered) = (instance.id, !instance.cut_off);
        if drain_ms > 0.0 {
            instance.state = InstanceState::Draining;
            instance.drain_until_ms = now_ms + drain_ms;
        }
        if delivered {
            self.leases.remove(&id);
        }
        events.push(Event::Deregister {
            at_ms: now_ms,
            instance: id,
            delivered,
        });
        if drain_ms > 0.0 {
            events.push(Event::Draining {
                at_ms: now_ms,
                instance: id,
                until_ms: now_ms + drain_ms,
            });
        } else {
            events.push(Event::Stopped {
                at_ms: now_ms,
                instance: id,
            });
            self.go_down(index, events);
        }
    }

    fn add_instance(&mut self, events: &mut Vec<Event>) {
        let id = self.instances.len() as u32 + 1;
        self.instances
            .push(new_instance(id, self.now_ms + self.config.heartbeat_ms));
        events.push(Event::Added {
            at_ms: self.now_ms,
            instance: id,
        });
        self.register(self.instances.len() - 1, RegisterReason::ScaleUp, events);
    }
}

/// Instances crash and restart; the registry and the clients do not fail.
impl Faults for Discovery {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        self.instances
            .iter()
            .map(|instance| NodeStatus {
                id: instance.id,
                label: format!("instance {}", instance.id),
                up: instance.serving(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(config: DiscoveryConfig) -> Discovery {
        match Discovery::new(config, 1) {
            Ok(engine) => engine,
            Err(err) => panic!("valid config rejected: {err}"),
        }
    }

    #[test]
    fn default_config_is_valid() {
        assert_eq!(DiscoveryConfig::default().validate(), Ok(()));
    }

    #[test]
    fn zero_instances_are_rejected() {
        let config = DiscoveryConfig {
            instances: 0,
            ..DiscoveryConfig::default()
        };

        let result = Discovery::new(config, 1);

        assert!(result.is_err(), "instances 0 was accepted");
    }

    #[test]
    fn nan_ttl_is_rejected() {
        let config = DiscoveryConfig {
            ttl_ms: f64::NAN,
            ..DiscoveryConfig::default()
        };

        assert!(config.validate().is_err());
    }

    #[test]
    fn every_instance_is_listed_at_the_start() {
        let engine = engine(DiscoveryConfig::default());

        let listed: Vec<u32> = engine.listed().collect();

        assert_eq!(listed, vec![1, 2, 3]);
    }

    #[test]
    fn crash_of_unknown_instance_is_an_action_error() {
        let mut engine = engine(DiscoveryConfig::default());

        let result = engine.apply(&Action::Fault(Fault::Crash { node: 9 }));

        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn partition_is_unsupported() {
        let mut engine = engine(DiscoveryConfig::default());

        let result = engine.apply(&Action::Fault(Fault::Heal));

        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn events_serialize_with_type_tag() {
        let event = Event::Heartbeat {
            at_ms: 50.0,
            instance: 2,
            outcome: HeartbeatOutcome::Lost,
        };

        let json = serde_json::to_string(&event).unwrap_or_default();

        assert_eq!(
            json,
            r#"{"type":"heartbeat","at_ms":50.0,"instance":2,"outcome":"lost"}"#
        );
    }
}
