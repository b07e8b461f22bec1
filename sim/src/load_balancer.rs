//! Load balancer: one stream of requests spread over a pool of servers by a policy.
//!
//! Requests arrive as a Poisson process at `arrival_per_s`. Each request has a size, the time a
//! worker needs to serve it: `service_ms` times a factor drawn uniformly from 0.5 to 1.5, and a
//! fraction `slow_fraction` of requests are `slow_factor` times longer still. The balancer sends
//! each request to one server at once. A server has `workers` workers and its own FIFO queue of
//! at most `queue_limit` requests. A request that finds every worker busy and the queue full is
//! dropped, and so is one that arrives while no server is up.
//!
//! Two policies pick the server:
//!
//! - [`Policy::RoundRobin`] takes the servers in turn, skipping servers that are down.
//! - [`Policy::LeastConnections`] takes the server with the fewest requests in it (queued plus
//!   in service), which a real balancer sees as open connections. Ties go to the first such
//!   server in round-robin order from the last pick, so equal servers still share evenly.
//!
//! With `compare` set the engine runs two lanes, one per policy, on the same arrivals and the
//! same request sizes, so their latencies differ only because of the policy. Crashes and
//! restarts apply to the server with that id in every lane. A crash loses the requests queued
//! on the server and in service there; they count as failed.
//!
//! Within each step of [`STEP_MS`] the engine processes due events in time order. Ties go to
//! completions before arrivals, then to the lower lane, server and request id.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{LatencyHistogram, Metric, Percentiles, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 20.0;

/// Maximum number of servers.
pub const MAX_SERVERS: u32 = 20;

/// Maximum arrival rate, in requests per second.
pub const MAX_ARRIVAL_PER_S: f64 = 2_000.0;

/// Rule by which the balancer picks a server for each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Servers in turn, skipping servers that are down.
    #[default]
    RoundRobin,
    /// The up server with the fewest requests queued or in service.
    LeastConnections,
    // NOTE: weighted round-robin and random need per-server weights or random draws, and they
    // are not implemented yet.
}

impl Policy {
    /// Returns the name the widget and the metrics show.
    pub fn label(self) -> &'static str {
        match self {
            Self::RoundRobin => "round-robin",
            Self::LeastConnections => "least-connections",
        }
    }

    /// Returns the policy the second lane runs in compare mode.
    pub fn other(self) -> Self {
        match self {
            Self::RoundRobin => Self::LeastConnections,
            Self::LeastConnections => Self::RoundRobin,
        }
    }
}

/// Parameters of the load balancer widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadBalancerConfig {
    /// Servers behind the balancer, 1 to [`MAX_SERVERS`].
    pub servers: u32,
    /// Requests each server serves at once, 1 to 16.
    pub workers: u32,
    /// Mean arrival rate of requests, per second (Poisson arrivals).
    pub arrival_per_s: f64,
    /// Mean size of an ordinary request: the time one worker needs for it, in milliseconds.
    pub service_ms: f64,
    /// Fraction of requests, 0 to 1, that are `slow_factor` times longer than ordinary ones.
    pub slow_fraction: f64,
    /// How many times longer a slow request is than an ordinary one, 1 to 100.
    pub slow_factor: f64,
    /// Requests a server queues when all its workers are busy, 1 to 1000; more are dropped.
    pub queue_limit: u32,
    /// Rule by which the balancer picks a server.
    pub policy: Policy,
    /// Whether to run a second lane with the other policy on the same requests.
    pub compare: bool,
}

impl Default for LoadBalancerConfig {
    fn default() -> Self {
        Self {
            servers: 4,
            workers: 1,
            arrival_per_s: 30.0,
            service_ms: 100.0,
            slow_fraction: 0.0,
            slow_factor: 10.0,
            queue_limit: 100,
            policy: Policy::RoundRobin,
            compare: false,
        }
    }
}

impl Config for LoadBalancerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("servers", self.servers, 1, MAX_SERVERS)?;
        ConfigError::check_range_u32("workers", self.workers, 1, 16)?;
        check_arrival_rate(self.arrival_per_s)?;
        ConfigError::check_range_f64("service_ms", self.service_ms, 1.0, 10_000.0)?;
        ConfigError::check_range_f64("slow_fraction", self.slow_fraction, 0.0, 1.0)?;
        ConfigError::check_range_f64("slow_factor", self.slow_factor, 1.0, 100.0)?;
        ConfigError::check_range_u32("queue_limit", self.queue_limit, 1, 1_000)?;
        Ok(())
    }
}

fn check_arrival_rate(arrival_per_s: f64) -> Result<(), ConfigError> {
    ConfigError::check_range_f64("arrival_per_s", arrival_per_s, 0.1, MAX_ARRIVAL_PER_S)
}

/// Reader actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Changes the mean arrival rate from now on.
    SetArrivalRate {
        /// Requests per second, 0.1 to [`MAX_ARRIVAL_PER_S`].
        arrival_per_s: f64,
    },
    /// Crashes or restarts the server whose id is the fault's node id, in every lane.
    Fault(Fault),
}

/// Events of a step or an action. `lane` is 0, or 1 for the second policy in compare mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A request arrived at the balancer. Every lane receives it.
    Arrived {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new request.
        request_id: u64,
        /// Time one worker needs to serve it, in milliseconds.
        size_ms: f64,
        /// Whether it is one of the slow requests.
        slow: bool,
    },
    /// The lane's policy sent the request to a server, which serves or queues it.
    Routed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
        /// The request.
        request_id: u64,
        /// The chosen server.
        server_id: u32,
        /// Requests the server held just before this one, queued plus in service.
        active: u32,
    },
    /// A server finished a request.
    Completed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
        /// The request.
        request_id: u64,
        /// The server that served it.
        server_id: u32,
        /// Time from arrival to completion (queue wait plus service), in milliseconds.
        latency_ms: f64,
    },
    /// A request was rejected: its server's queue was full, or no server was up.
    Dropped {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
        /// The request.
        request_id: u64,
        /// The server whose queue was full, or `None` if no server was up.
        server_id: Option<u32>,
    },
    /// A server crashed and lost the requests it held.
    ServerCrashed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
        /// The server.
        server_id: u32,
        /// The requests lost with it, in service first, then the queue from its head.
        lost_request_ids: Vec<u64>,
    },
    /// A crashed server restarted, idle and with an empty queue.
    ServerRestarted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
        /// The server.
        server_id: u32,
    },
}

/// A request on a server, queued or in service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Request id, counting from 0 in arrival order.
    pub request_id: u64,
    /// Simulated time the request arrived, in milliseconds.
    pub arrived_at_ms: f64,
    /// Time one worker needs to serve it, in milliseconds.
    pub size_ms: f64,
    /// Whether it is one of the slow requests.
    pub slow: bool,
    /// Simulated time a worker took it, or `None` while it is queued.
    pub started_at_ms: Option<f64>,
}

/// One server behind the balancer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    /// Server id, its position in the lane, from 0.
    pub id: u32,
    /// Whether the server is running. A crashed server gets no requests until restarted.
    pub up: bool,
    /// Requests its workers are serving, at most `workers` of them.
    pub in_service: Vec<Job>,
    /// Requests waiting for a worker, oldest first.
    pub queue: VecDeque<Job>,
    /// Requests the balancer sent here, dropped ones included.
    pub routed: u64,
    /// Requests this server completed.
    pub served: u64,
}

impl Server {
    /// Requests on the server, queued plus in service: its open connections.
    pub fn active(&self) -> u32 {
        (self.in_service.len() + self.queue.len()) as u32
    }
}

/// One policy's view of the cluster: its servers and its counters.
#[derive(Debug, Clone)]
pub struct Lane {
    policy: Policy,
    servers: Vec<Server>,
    /// Position where the next round-robin scan starts: one past the last pick.
    next: usize,
    completed: u64,
    dropped: u64,
    failed: u64,
    latency_sum_ms: f64,
    latencies: LatencyHistogram,
}

impl Lane {
    /// Returns the lane's policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Returns the servers, in id order.
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// Requests this lane completed.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Requests this lane rejected because a queue was full or no server was up.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Requests this lane lost in crashes.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Requests queued on this lane's servers.
    pub fn queued(&self) -> u64 {
        self.servers.iter().map(|s| s.queue.len() as u64).sum()
    }

    /// Requests in service on this lane's servers.
    pub fn in_service(&self) -> u64 {
        self.servers.iter().map(|s| s.in_service.len() as u64).sum()
    }

    /// Latency percentiles of the requests this lane completed, or `None` before the first.
    pub fn latency_percentiles(&self) -> Option<Percentiles> {
        self.latencies.percentiles()
    }

    /// Mean latency of the requests this lane completed, or `None` before the first.
    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.completed > 0).then(|| self.latency_sum_ms / self.completed as f64)
    }

    /// Picks the server for the next request, or `None` if no server is up.
    fn pick(&self) -> Option<usize> {
        let count = self.servers.len();
        let order = (0..count).map(|offset| (self.next + offset) % count.max(1));
        let mut up = order.filter(|&index| self.servers.get(index).is_some_and(|s| s.up));
        match self.policy {
            Policy::RoundRobin => up.next(),
            // `min_by_key` keeps the first of equal keys, the earliest in rotation order.
            Policy::LeastConnections => up.min_by_key(|&index| {
                self.servers
                    .get(index)
                    .map_or(u32::MAX, |server| server.active())
            }),
        }
    }
}

/// A completion that will happen at a known simulated time.
#[derive(Debug, Clone, Copy)]
struct Completion {
    at_ms: f64,
    lane: usize,
    server: usize,
    request_id: u64,
}

impl Ord for Completion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at_ms
            .total_cmp(&other.at_ms)
            .then_with(|| self.lane.cmp(&other.lane))
            .then_with(|| self.server.cmp(&other.server))
            .then_with(|| self.request_id.cmp(&other.request_id))
    }
}

impl PartialOrd for Completion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Completion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Completion {}

/// The load balancer engine.
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    config: LoadBalancerConfig,
    rng: SimRng,
    steps: u64,
    now_ms: f64,
    next_arrival_ms: f64,
    next_request_id: u64,
    arrived: u64,
    lanes: Vec<Lane>,
    /// Pending completions. One whose request is no longer in service (its server crashed) is
    /// skipped when popped.
    calendar: BinaryHeap<Reverse<Completion>>,
}

impl Engine for LoadBalancer {
    type Config = LoadBalancerConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: LoadBalancerConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut policies = vec![config.policy];
        if config.compare {
            policies.push(config.policy.other());
        }
        let lanes = policies
            .into_iter()
            .map(|policy| Lane {
                policy,
                servers: (0..config.servers)
                    .map(|id| Server {
                        id,
                        up: true,
                        in_service: Vec::new(),
                        queue: VecDeque::new(),
                        routed: 0,
                        served: 0,
                    })
                    .collect(),
                next: 0,
                completed: 0,
                dropped: 0,
                failed: 0,
                latency_sum_ms: 0.0,
                latencies: LatencyHistogram::new(),
            })
            .collect();
        let mut engine = Self {
            config,
            rng: SimRng::new(seed),
            steps: 0,
            now_ms: 0.0,
            next_arrival_ms: 0.0,
            next_request_id: 0,
            arrived: 0,
            lanes,
            calendar: BinaryHeap::new(),
        };
        engine.next_arrival_ms = engine.draw_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_ms = self.steps as f64 * STEP_MS;
        let mut events = Vec::new();
        loop {
            let completion = self.calendar.peek().map(|Reverse(c)| *c);
            match completion {
                Some(due) if due.at_ms <= end_ms && due.at_ms <= self.next_arrival_ms => {
                    self.calendar.pop();
                    self.now_ms = due.at_ms;
                    self.complete(due, &mut events);
                }
                _ if self.next_arrival_ms <= end_ms => {
                    self.now_ms = self.next_arrival_ms;
                    self.arrive(&mut events);
                    self.next_arrival_ms = self.now_ms + self.draw_gap_ms();
                }
                _ => break,
            }
        }
        self.now_ms = end_ms;
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match action {
            Action::SetArrivalRate { arrival_per_s } => {
                check_arrival_rate(*arrival_per_s).map_err(|err| ActionError(err.to_string()))?;
                self.config.arrival_per_s = *arrival_per_s;
                // Poisson arrivals are memoryless, so drawing the next gap afresh at the new
                // rate is exact.
                self.next_arrival_ms = self.now_ms + self.draw_gap_ms();
                Ok(Vec::new())
            }
            Action::Fault(fault) => self.inject(fault),
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        // NOTE: percentiles cover the whole run, so after a crash or a rate change they take tens
        // of seconds to move. A recent window like client_server's would show the change sooner.
        let mut metrics = vec![Metric::count("arrived", "Arrived", self.arrived)];
        let mut samples = Vec::new();
        match self.lanes.as_slice() {
            [lane] => {
                metrics.push(Metric::count("completed", "Completed", lane.completed));
                metrics.push(Metric::new(
                    "throughput",
                    "Throughput",
                    self.throughput_per_s(lane),
                    format!("{:.1}/s", self.throughput_per_s(lane)),
                ));
                metrics.push(Metric::count(
                    "dropped",
                    "Dropped (queue full)",
                    lane.dropped,
                ));
                metrics.push(Metric::count("failed", "Failed (crash)", lane.failed));
                let (low, high) = served_range(lane);
                metrics.push(Metric::new(
                    "served-spread",
                    "Served per server",
                    (high - low) as f64,
                    format!("{low}–{high}"),
                ));
                samples.push(Sample {
                    label: "Queued requests",
                    value: lane.queued() as f64,
                });
            }
            lanes => {
                for lane in lanes {
                    let p = lane.latency_percentiles();
                    let [p50, p95, p99, lost] = lane_keys(lane.policy);
                    metrics.push(Metric::millis(p50.0, p50.1, p.map(|p| p.p50_ms)));
                    metrics.push(Metric::millis(p95.0, p95.1, p.map(|p| p.p95_ms)));
                    metrics.push(Metric::millis(p99.0, p99.1, p.map(|p| p.p99_ms)));
                    metrics.push(Metric::count(lost.0, lost.1, lane.dropped + lane.failed));
                    samples.push(Sample {
                        label: lane_keys_queued(lane.policy),
                        value: lane.queued() as f64,
                    });
                }
            }
        }
        let latency = match self.lanes.as_slice() {
            [lane] => lane.latency_percentiles(),
            _ => None,
        };
        Snapshot {
            at_ms: self.now_ms,
            metrics,
            latency,
            samples,
        }
    }
}

/// Metric key and label.
type KeyLabel = (&'static str, &'static str);

/// Returns the metric keys and labels of one lane in compare mode: p50, p95, p99, and dropped
/// plus failed.
fn lane_keys(policy: Policy) -> [KeyLabel; 4] {
    match policy {
        Policy::RoundRobin => [
            ("rr-p50", "Round-robin p50"),
            ("rr-p95", "Round-robin p95"),
            ("rr-p99", "Round-robin p99"),
            ("rr-lost", "Round-robin lost"),
        ],
        Policy::LeastConnections => [
            ("lc-p50", "Least-conn. p50"),
            ("lc-p95", "Least-conn. p95"),
            ("lc-p99", "Least-conn. p99"),
            ("lc-lost", "Least-conn. lost"),
        ],
    }
}

fn lane_keys_queued(policy: Policy) -> &'static str {
    match policy {
        Policy::RoundRobin => "Queued, round-robin",
        Policy::LeastConnections => "Queued, least-conn.",
    }
}

/// Returns the lowest and highest served count over the lane's servers.
fn served_range(lane: &Lane) -> (u64, u64) {
    let served = lane.servers.iter().map(|server| server.served);
    let low = served.clone().min().unwrap_or(0);
    let high = served.max().unwrap_or(0);
    (low, high)
}

/// Read-only accessors for the widget and the tests.
impl LoadBalancer {
    /// Returns the configuration, with the arrival rate the reader set since the start.
    pub fn config(&self) -> &LoadBalancerConfig {
        &self.config
    }

    /// Returns one lane per policy: the configured one first, then the other in compare mode.
    pub fn lanes(&self) -> &[Lane] {
        &self.lanes
    }

    /// Requests that arrived at the balancer. Every lane received each of them.
    pub fn arrived(&self) -> u64 {
        self.arrived
    }

    /// Completions per second of simulated time in `lane`, since the start.
    pub fn throughput_per_s(&self, lane: &Lane) -> f64 {
        if self.now_ms > 0.0 {
            lane.completed as f64 * 1000.0 / self.now_ms
        } else {
            0.0
        }
    }
}

/// Arrivals, routing and completions.
impl LoadBalancer {
    /// Draws the time to the next arrival: exponential with mean 1 / `arrival_per_s`.
    fn draw_gap_ms(&mut self) -> f64 {
        self.rng.exponential(1000.0 / self.config.arrival_per_s)
    }

    /// Draws a request's size, then routes it in every lane.
    fn arrive(&mut self, events: &mut Vec<Event>) {
        // Both draws happen for every request, so the stream does not depend on the fraction.
        let spread = 0.5 + self.rng.uniform();
        let slow = self.rng.uniform() < self.config.slow_fraction;
        let factor = if slow { self.config.slow_factor } else { 1.0 };
        let size_ms = self.config.service_ms * spread * factor;
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.arrived += 1;
        events.push(Event::Arrived {
            at_ms: self.now_ms,
            request_id,
            size_ms,
            slow,
        });
        let job = Job {
            request_id,
            arrived_at_ms: self.now_ms,
            size_ms,
            slow,
            started_at_ms: None,
        };
        for lane in 0..self.lanes.len() {
            self.route(lane, job.clone(), events);
        }
    }

    fn route(&mut self, lane_index: usize, mut job: Job, events: &mut Vec<Event>) {
        let now_ms = self.now_ms;
        let lane_id = lane_index as u32;
        let workers = self.config.workers as usize;
        let queue_limit = self.config.queue_limit as usize;
        let Some(lane) = self.lanes.get_mut(lane_index) else {
            return;
        };
        let Some(index) = lane.pick() else {
            lane.dropped += 1;
            events.push(Event::Dropped {
                at_ms: now_ms,
                lane: lane_id,
                request_id: job.request_id,
                server_id: None,
            });
            return;
        };
        lane.next = index + 1;
        let Some(server) = lane.servers.get_mut(index) else {
            return;
        };
        server.routed += 1;
        events.push(Event::Routed {
            at_ms: now_ms,
            lane: lane_id,
            request_id: job.request_id,
            server_id: server.id,
            active: server.active(),
        });
        if server.in_service.len() < workers {
            job.started_at_ms = Some(now_ms);
            self.calendar.push(Reverse(Completion {
                at_ms: now_ms + job.size_ms,
                lane: lane_index,
                server: index,
                request_id: job.request_id,
            }));
            server.in_service.push(job);
        } else if server.queue.len() < queue_limit {
            server.queue.push_back(job);
        } else {
            lane.dropped += 1;
            events.push(Event::Dropped {
                at_ms: now_ms,
                lane: lane_id,
                request_id: job.request_id,
                server_id: Some(server.id),
            });
        }
    }

    /// Finishes a request, then gives the freed worker the head of the server's queue.
    fn complete(&mut self, due: Completion, events: &mut Vec<Event>) {
        let now_ms = self.now_ms;
        let Some(lane) = self.lanes.get_mut(due.lane) else {
            return;
        };
        let Some(server) = lane.servers.get_mut(due.server) else {
            return;
        };
        let Some(position) = server
            .in_service
            .iter()
            .position(|job| job.request_id == due.request_id)
        else {
            // The server crashed after this request started, and the crash counted it.
            return;
        };
        let job = server.in_service.swap_remove(position);

        let latency_ms = now_ms - job.arrived_at_ms;
        server.served += 1;
        lane.completed += 1;
        lane.latency_sum_ms += latency_ms;
        lane.latencies.record_ms(latency_ms);
        events.push(Event::Completed {
            at_ms: now_ms,
            lane: due.lane as u32,
            request_id: job.request_id,
            server_id: server.id,
            latency_ms,
        });

        if let Some(mut next) = server.queue.pop_front() {
            next.started_at_ms = Some(now_ms);
            self.calendar.push(Reverse(Completion {
                at_ms: now_ms + next.size_ms,
                lane: due.lane,
                server: due.server,
                request_id: next.request_id,
            }));
            server.in_service.push(next);
        }
    }
}

/// Crashing and restarting servers.
impl LoadBalancer {
    fn inject(&mut self, fault: &Fault) -> Result<Vec<Event>, ActionError> {
        Self::check_fault(fault)?;
        match fault {
            Fault::Crash { node } => self.set_up(*node, false),
            Fault::Restart { node } => self.set_up(*node, true),
            // `check_fault` lets through only crash and restart.
            _ => Err(ActionError(format!("unsupported fault {fault:?}"))),
        }
    }

    /// Crashes (`up` false) or restarts (`up` true) the server in every lane.
    fn set_up(&mut self, server_id: u32, up: bool) -> Result<Vec<Event>, ActionError> {
        let verb = if up { "restart" } else { "crash" };
        let index = server_id as usize;
        let Some(current) = self
            .lanes
            .first()
            .and_then(|lane| lane.servers.get(index))
            .map(|server| server.up)
        else {
            return Err(ActionError(format!(
                "cannot {verb} server {server_id}: not found. Server ids are 0 to {}.",
                self.config.servers.saturating_sub(1)
            )));
        };
        if current == up {
            let state = if up {
                "up. Crash it first"
            } else {
                "already down. Restart it first"
            };
            return Err(ActionError(format!(
                "cannot {verb} server {server_id}: it is {state}."
            )));
        }
        let now_ms = self.now_ms;
        let mut events = Vec::new();
        for (lane_index, lane) in self.lanes.iter_mut().enumerate() {
            let Some(server) = lane.servers.get_mut(index) else {
                continue;
            };
            server.up = up;
            if up {
                events.push(Event::ServerRestarted {
                    at_ms: now_ms,
                    lane: lane_index as u32,
                    server_id,
                });
                continue;
            }
            let lost: Vec<u64> = server
                .in_service
                .drain(..)
                .chain(server.queue.drain(..))
                .map(|job| job.request_id)
                .collect();
            lane.failed += lost.len() as u64;
            events.push(Event::ServerCrashed {
                at_ms: now_ms,
                lane: lane_index as u32,
                server_id,
                lost_request_ids: lost,
            });
        }
        Ok(events)
    }
}

/// Servers are the nodes: a crash loses the requests on the server in every lane.
impl Faults for LoadBalancer {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        let servers = self.lanes.first().map_or(&[][..], |lane| &lane.servers);
        servers
            .iter()
            .map(|server| NodeStatus {
                id: server.id,
                label: format!("server {}", server.id),
                up: server.up,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(LoadBalancerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn policy_deserializes_from_snake_case() {
        let config: Result<LoadBalancerConfig, _> =
            serde_json::from_str(r#"{"policy":"least_connections","compare":true}"#);

        let config = config.ok();
        assert_eq!(
            config.as_ref().map(|c| c.policy),
            Some(Policy::LeastConnections)
        );
        assert_eq!(config.map(|c| c.compare), Some(true));
    }

    #[test]
    fn config_rejects_too_many_servers() {
        let config = LoadBalancerConfig {
            servers: 21,
            ..LoadBalancerConfig::default()
        };

        let err = LoadBalancer::new(config, 1).err();

        assert_eq!(err.map(|err| err.field), Some("servers"));
    }

    #[test]
    fn compare_mode_runs_both_policies() {
        let config = LoadBalancerConfig {
            policy: Policy::LeastConnections,
            compare: true,
            ..LoadBalancerConfig::default()
        };

        let engine = LoadBalancer::new(config, 1).ok();

        let policies: Vec<Policy> = engine
            .map(|e| e.lanes().iter().map(Lane::policy).collect())
            .unwrap_or_default();
        assert_eq!(policies, [Policy::LeastConnections, Policy::RoundRobin]);
    }
}
