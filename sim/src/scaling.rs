//! Scaling up and out under the Universal Scalability Law (USL).
//!
//! Requests arrive as a Poisson process at `load_per_s`. In vertical mode one machine with
//! `cores` workers serves them; in horizontal mode a round-robin balancer spreads them over
//! `nodes` machines with `cores` workers each. A request takes `service_ms` on one worker when
//! nothing else runs, and contention (`sigma`) and coherency (`kappa`) stretch that time to
//! `service_ms * (1 + sigma (N - 1) + kappa N (N - 1))`, where `N` is the number of cores
//! (vertical) or of nodes that are up (horizontal). The stretch depends on the units installed,
//! not on how many are busy, so every request pays it even at low load. This simplification
//! makes the served rate under overload match the USL at every size. Total capacity is then
//! `N * per_unit / (1 + sigma (N - 1) + kappa N (N - 1))` requests per second, which is
//! Neil Gunther's USL; with `kappa = 0` it is Amdahl's law.
//!
//! Service times are fixed, not random, so a worker completes at most one request per
//! stretched service time and the served rate cannot pass the USL capacity on average. A
//! 2-second window can still count a little more, when requests that started in the window
//! before finish in this one. Each machine has one FIFO queue of at most `queue_limit`
//! requests, and a request that finds it full is dropped. Queueing delay grows without bound
//! as utilization (offered load over capacity) nears 1.
//!
//! The machine sizes and their hourly prices in [`SIZES`] are illustrative, not a provider's
//! price list.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{LatencyHistogram, Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Machine sizes a reader can pick, as `(cores, price per hour in dollars)`, smallest first.
///
/// The price per core doubles from 32 to 128 cores, as the largest sizes of a family often
/// cost more per core. The last entry is the largest machine there is.
pub const SIZES: [(u32, f64); 8] = [
    (1, 0.05),
    (2, 0.10),
    (4, 0.20),
    (8, 0.40),
    (16, 0.80),
    (32, 1.60),
    (64, 4.00),
    (128, 12.80),
];

/// Maximum number of nodes in horizontal mode.
pub const MAX_NODES: u32 = 32;

/// Largest offered load, in requests per second.
pub const MAX_LOAD_PER_S: f64 = 5_000.0;

/// Window over which the served rate and the recent latencies are measured, in milliseconds.
pub const RATE_WINDOW_MS: f64 = 2_000.0;

/// Time after a change of size, node count or fault before the measured curve counts again,
/// so that queues left from the old size do not bias the new point, in milliseconds.
pub const WARMUP_MS: f64 = 1_000.0;

/// Whether the service grows by a bigger machine or by more machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One machine; the reader changes its number of cores.
    #[default]
    Vertical,
    /// Identical machines behind a round-robin balancer; the reader adds and removes nodes.
    Horizontal,
}

/// Parameters of the scaling widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScalingConfig {
    /// Scale up (one machine) or out (several).
    pub mode: Mode,
    /// Cores per machine, one of the sizes in [`SIZES`].
    pub cores: u32,
    /// Machines at the start, 1 to [`MAX_NODES`]; vertical mode needs 1.
    pub nodes: u32,
    /// Offered load: mean rate of Poisson arrivals, per second.
    pub load_per_s: f64,
    /// Time one request takes on one worker without contention, in milliseconds.
    pub service_ms: f64,
    /// USL contention coefficient: the serialized fraction of the work, 0 to 1.
    pub sigma: f64,
    /// USL coherency coefficient: the cost of keeping each pair of units consistent, 0 to 1.
    pub kappa: f64,
    /// Maximum number of requests waiting in one machine's queue.
    pub queue_limit: u32,
}

impl Default for ScalingConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Vertical,
            cores: 8,
            nodes: 1,
            load_per_s: 350.0,
            service_ms: 20.0,
            sigma: 0.05,
            kappa: 0.001,
            queue_limit: 100,
        }
    }
}

impl Config for ScalingConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if price_per_hour(self.cores).is_none() {
            return Err(ConfigError::new(
                "cores",
                format!(
                    "{} is not a machine size; use 1, 2, 4, 8, 16, 32, 64 or 128",
                    self.cores
                ),
            ));
        }
        ConfigError::check_range_u32("nodes", self.nodes, 1, MAX_NODES)?;
        if self.mode == Mode::Vertical && self.nodes != 1 {
            return Err(ConfigError::new(
                "nodes",
                format!("vertical mode runs 1 machine, not {}", self.nodes),
            ));
        }
        ConfigError::check_range_f64("load_per_s", self.load_per_s, 0.0, MAX_LOAD_PER_S)?;
        ConfigError::check_range_f64("service_ms", self.service_ms, 1.0, 1_000.0)?;
        ConfigError::check_range_f64("sigma", self.sigma, 0.0, 1.0)?;
        ConfigError::check_range_f64("kappa", self.kappa, 0.0, 1.0)?;
        ConfigError::check_range_u32("queue_limit", self.queue_limit, 1, 10_000)?;
        Ok(())
    }
}

/// Returns the hourly price of a machine with `cores` cores, or `None` if no size has them.
pub fn price_per_hour(cores: u32) -> Option<f64> {
    SIZES
        .iter()
        .find(|&&(size, _)| size == cores)
        .map(|&(_, price)| price)
}

/// Returns the USL relative capacity `C(N) = N / (1 + sigma (N - 1) + kappa N (N - 1))`.
///
/// `C(1) = 1`, and `C(0) = 0`.
pub fn usl(n: f64, sigma: f64, kappa: f64) -> f64 {
    n / stretch(n, sigma, kappa)
}

/// Returns the factor by which contention and coherency stretch each request's service time
/// when `n` units work together: `1 + sigma (n - 1) + kappa n (n - 1)`, at least 1.
pub fn stretch(n: f64, sigma: f64, kappa: f64) -> f64 {
    let n = n.max(1.0);
    1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)
}

/// Returns the `N` at which `C(N)` peaks, `sqrt((1 - sigma) / kappa)`, or `None` when
/// `kappa = 0` and capacity grows for ever.
pub fn usl_peak(sigma: f64, kappa: f64) -> Option<f64> {
    (kappa > 0.0).then(|| libm::sqrt((1.0 - sigma) / kappa))
}

/// An action a reader can take between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Sets the offered load, 0 to [`MAX_LOAD_PER_S`] requests per second.
    SetLoad {
        /// Requests per second.
        per_s: f64,
    },
    /// Moves the machine to the next larger size (vertical mode).
    SizeUp,
    /// Moves the machine to the next smaller size (vertical mode).
    SizeDown,
    /// Adds a node behind the balancer (horizontal mode).
    AddNode,
    /// Removes the newest node; its queued requests fail (horizontal mode).
    RemoveNode,
    /// Crashes or restarts a machine.
    Fault(Fault),
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The machine changed size.
    Resized {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Cores after the change.
        cores: u32,
    },
    /// A node joined the balancer.
    NodeAdded {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new node's id.
        node: u32,
    },
    /// A node left the balancer, failing `lost` requests.
    NodeRemoved {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node's id.
        node: u32,
        /// Requests queued or in service on it.
        lost: u32,
    },
    /// A machine crashed, failing `lost` requests.
    Crashed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The machine's id.
        node: u32,
        /// Requests queued or in service on it.
        lost: u32,
    },
    /// A machine came back, empty.
    Restarted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The machine's id.
        node: u32,
    },
    /// The offered load changed.
    LoadSet {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Requests per second.
        per_s: f64,
    },
    /// A queue was full and turned a request away. Reported once per step with the count.
    Dropped {
        /// Simulated time at the end of the step, in milliseconds.
        at_ms: f64,
        /// Requests dropped during the step.
        count: u32,
    },
}

/// A request in service, ordered by finish time so the heap yields the earliest first.
#[derive(Debug, Clone, Copy, PartialEq)]
struct InService {
    finish_ms: f64,
    arrived_ms: f64,
}

impl Eq for InService {}

impl Ord for InService {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed so that `BinaryHeap`, a max-heap, pops the earliest finish.
        other.finish_ms.total_cmp(&self.finish_ms)
    }
}

impl PartialOrd for InService {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One machine: its workers, its queue and whether it is up.
#[derive(Debug, Clone)]
pub struct Machine {
    id: u32,
    up: bool,
    in_service: BinaryHeap<InService>,
    queue: VecDeque<f64>,
}

impl Machine {
    fn new(id: u32) -> Self {
        Self {
            id,
            up: true,
            in_service: BinaryHeap::new(),
            queue: VecDeque::new(),
        }
    }

    /// Returns the machine's id, from 1.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Returns whether the machine is up.
    pub fn up(&self) -> bool {
        self.up
    }

    /// Returns the requests in service.
    pub fn busy(&self) -> usize {
        self.in_service.len()
    }

    /// Returns the requests waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Fails every request on the machine and returns how many there were.
    fn clear(&mut self) -> u32 {
        let lost = self.in_service.len() + self.queue.len();
        self.in_service.clear();
        self.queue.clear();
        u32::try_from(lost).unwrap_or(u32::MAX)
    }
}

/// The scaling engine.
#[derive(Debug, Clone)]
pub struct Scaling {
    config: ScalingConfig,
    rng: SimRng,
    now_ms: f64,
    next_arrival_ms: f64,
    machines: Vec<Machine>,
    next_id: u32,
    /// Index into the up machines for the next round-robin pick.
    rotation: usize,
    arrived: u64,
    served: u64,
    dropped: u64,
    failed: u64,
    /// Finish times of requests served within the last [`RATE_WINDOW_MS`].
    recent_served: VecDeque<f64>,
    /// `(finish time, latency)` of requests served within the last [`RATE_WINDOW_MS`].
    recent_latency: VecDeque<(f64, f64)>,
    latency_sum_ms: f64,
    /// Time of the last change to the size, the nodes or a fault.
    changed_ms: f64,
    /// Served requests and measured milliseconds per unit count, after [`WARMUP_MS`].
    measured: BTreeMap<u32, (u64, f64)>,
}

impl Scaling {
    /// Returns the configuration the engine was built with, with the live load and size.
    pub fn config(&self) -> &ScalingConfig {
        &self.config
    }

    /// Returns the machines, up and down, in id order.
    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    /// Returns the cores of each machine.
    pub fn cores(&self) -> u32 {
        self.config.cores
    }

    /// Returns the number of machines that are up.
    pub fn nodes_up(&self) -> u32 {
        let up = self.machines.iter().filter(|machine| machine.up).count();
        u32::try_from(up).unwrap_or(u32::MAX)
    }

    /// Returns `N` in the USL: cores in vertical mode, nodes up in horizontal mode.
    pub fn units(&self) -> u32 {
        match self.config.mode {
            Mode::Vertical => self.config.cores,
            Mode::Horizontal => self.nodes_up(),
        }
    }

    /// Returns the requests per second one unit serves alone: one core, or one whole node.
    pub fn per_unit_per_s(&self) -> f64 {
        let per_core = 1000.0 / self.config.service_ms;
        match self.config.mode {
            Mode::Vertical => per_core,
            Mode::Horizontal => per_core * f64::from(self.config.cores),
        }
    }

    /// Returns the USL capacity with `n` units, in requests per second.
    pub fn capacity_at(&self, n: u32) -> f64 {
        self.per_unit_per_s() * usl(f64::from(n), self.config.sigma, self.config.kappa)
    }

    /// Returns the USL capacity now, in requests per second; 0 when every machine is down.
    pub fn capacity_per_s(&self) -> f64 {
        if self.nodes_up() == 0 {
            return 0.0;
        }
        self.capacity_at(self.units())
    }

    /// Returns the worker slots on the machines that are up.
    pub fn slots(&self) -> u32 {
        self.nodes_up().saturating_mul(self.config.cores)
    }

    /// Returns each request's service time now, stretched by contention and coherency.
    pub fn service_ms_now(&self) -> f64 {
        let n = f64::from(self.units());
        self.config.service_ms * stretch(n, self.config.sigma, self.config.kappa)
    }

    /// Returns offered load over capacity; infinity when nothing is up and load is offered.
    pub fn utilization(&self) -> f64 {
        let capacity = self.capacity_per_s();
        if capacity > 0.0 {
            self.config.load_per_s / capacity
        } else if self.config.load_per_s > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }

    /// Returns the hourly price of every machine, up or crashed: a crashed machine is still
    /// paid for until it is removed.
    pub fn cost_per_hour(&self) -> f64 {
        let each = price_per_hour(self.config.cores).unwrap_or(0.0);
        each * self.machines.len() as f64
    }

    /// Returns the dollars per million requests served at the recent served rate, or `None`
    /// when nothing was served.
    pub fn cost_per_million(&self) -> Option<f64> {
        let per_s = self.served_per_s();
        (per_s > 0.0).then(|| self.cost_per_hour() / (per_s * 3600.0) * 1e6)
    }

    /// Returns the requests served in the last [`RATE_WINDOW_MS`], per second. During the
    /// first window the count is divided by the time so far.
    pub fn served_per_s(&self) -> f64 {
        let window = self.now_ms.min(RATE_WINDOW_MS);
        if window <= 0.0 {
            return 0.0;
        }
        self.recent_served.len() as f64 * 1000.0 / window
    }

    /// Returns the requests that arrived since the start.
    pub fn arrived(&self) -> u64 {
        self.arrived
    }

    /// Returns the requests served since the start.
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Returns the requests turned away by a full queue or with no machine up.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Returns the requests lost when their machine crashed or was removed.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Returns the requests queued or in service now.
    pub fn in_system(&self) -> u64 {
        self.machines
            .iter()
            .map(|machine| (machine.busy() + machine.queued()) as u64)
            .sum()
    }

    /// Returns the mean latency (queueing plus service) of all requests served so far.
    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.served > 0).then(|| self.latency_sum_ms / self.served as f64)
    }

    /// Returns the latencies of the requests served in the last [`RATE_WINDOW_MS`].
    pub fn recent_latency(&self) -> LatencyHistogram {
        let mut histogram = LatencyHistogram::new();
        for &(_, latency) in &self.recent_latency {
            histogram.record_ms(latency);
        }
        histogram
    }

    /// Returns the measured served rate per unit count, as `(N, requests per second)`,
    /// counting only time at least [`WARMUP_MS`] after the last change.
    pub fn measured_curve(&self) -> Vec<(u32, f64)> {
        self.measured
            .iter()
            .filter(|&(_, &(_, ms))| ms > 0.0)
            .map(|(&n, &(count, ms))| (n, count as f64 * 1000.0 / ms))
            .collect()
    }

    /// Returns the largest `N` the reader can reach: 128 cores or [`MAX_NODES`] nodes.
    pub fn max_units(&self) -> u32 {
        match self.config.mode {
            Mode::Vertical => SIZES[SIZES.len() - 1].0,
            Mode::Horizontal => MAX_NODES,
        }
    }

    fn next_gap_ms(&mut self) -> f64 {
        if self.config.load_per_s > 0.0 {
            self.rng.exponential(1000.0 / self.config.load_per_s)
        } else {
            f64::INFINITY
        }
    }

    /// Returns the index of the machine with the earliest finish, and that time.
    fn earliest_finish(&self) -> Option<(usize, f64)> {
        self.machines
            .iter()
            .enumerate()
            .filter_map(|(index, machine)| machine.in_service.peek().map(|r| (index, r.finish_ms)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Starts queued requests on `index` while it has free workers.
    fn start_waiting(&mut self, index: usize, at_ms: f64) {
        let service_ms = self.service_ms_now();
        let workers = self.config.cores as usize;
        let Some(machine) = self.machines.get_mut(index) else {
            return;
        };
        while machine.up && machine.in_service.len() < workers {
            let Some(arrived_ms) = machine.queue.pop_front() else {
                break;
            };
            machine.in_service.push(InService {
                finish_ms: at_ms + service_ms,
                arrived_ms,
            });
        }
    }

    /// Routes one arrival round-robin over the up machines; returns false if it was dropped.
    fn arrive(&mut self, at_ms: f64) -> bool {
        self.arrived += 1;
        let up: Vec<usize> = (0..self.machines.len())
            .filter(|&index| self.machines[index].up)
            .collect();
        if up.is_empty() {
            self.dropped += 1;
            return false;
        }
        let index = up[self.rotation % up.len()];
        self.rotation = (self.rotation + 1) % up.len();
        let limit = self.config.queue_limit as usize;
        let workers = self.config.cores as usize;
        let machine = &mut self.machines[index];
        if machine.in_service.len() >= workers && machine.queue.len() >= limit {
            self.dropped += 1;
            return false;
        }
        machine.queue.push_back(at_ms);
        self.start_waiting(index, at_ms);
        true
    }

    fn complete(&mut self, index: usize, at_ms: f64) {
        let Some(request) = self
            .machines
            .get_mut(index)
            .and_then(|machine| machine.in_service.pop())
        else {
            return;
        };
        let latency = at_ms - request.arrived_ms;
        self.served += 1;
        self.latency_sum_ms += latency;
        self.recent_served.push_back(at_ms);
        self.recent_latency.push_back((at_ms, latency));
        self.start_waiting(index, at_ms);
    }

    /// Marks a change that alters capacity, so the measured curve waits out [`WARMUP_MS`].
    fn mark_change(&mut self) {
        self.changed_ms = self.now_ms;
    }

    /// Refills free workers on every machine after a change of service time or size.
    fn start_all(&mut self) {
        for index in 0..self.machines.len() {
            self.start_waiting(index, self.now_ms);
        }
    }

    fn machine_index(&self, node: u32) -> Option<usize> {
        self.machines.iter().position(|machine| machine.id == node)
    }

    fn resize(&mut self, up: bool) -> Result<Vec<Event>, ActionError> {
        if self.config.mode != Mode::Vertical {
            return Err(ActionError(
                "resizing is for vertical mode; add or remove nodes instead".to_string(),
            ));
        }
        let position = SIZES
            .iter()
            .position(|&(cores, _)| cores == self.config.cores)
            .unwrap_or(0);
        let target = if up {
            SIZES.get(position + 1)
        } else {
            position.checked_sub(1).and_then(|p| SIZES.get(p))
        };
        let Some(&(cores, _)) = target else {
            let message = if up {
                format!(
                    "no larger machine: {} cores is the largest size",
                    self.config.cores
                )
            } else {
                format!(
                    "no smaller machine: {} core is the smallest size",
                    self.config.cores
                )
            };
            return Err(ActionError(message));
        };
        // Requests already in service keep their old finish time; new ones get the new size.
        self.config.cores = cores;
        self.mark_change();
        self.start_all();
        Ok(vec![Event::Resized {
            at_ms: self.now_ms,
            cores,
        }])
    }

    fn add_node(&mut self) -> Result<Vec<Event>, ActionError> {
        if self.config.mode != Mode::Horizontal {
            return Err(ActionError(
                "adding nodes is for horizontal mode; resize the machine instead".to_string(),
            ));
        }
        if self.machines.len() >= MAX_NODES as usize {
            return Err(ActionError(format!(
                "cannot add a node: {MAX_NODES} is the maximum"
            )));
        }
        let node = self.next_id;
        self.next_id += 1;
        self.machines.push(Machine::new(node));
        self.config.nodes = u32::try_from(self.machines.len()).unwrap_or(MAX_NODES);
        self.mark_change();
        Ok(vec![Event::NodeAdded {
            at_ms: self.now_ms,
            node,
        }])
    }

    fn remove_node(&mut self) -> Result<Vec<Event>, ActionError> {
        if self.config.mode != Mode::Horizontal {
            return Err(ActionError(
                "removing nodes is for horizontal mode; resize the machine instead".to_string(),
            ));
        }
        if self.machines.len() <= 1 {
            return Err(ActionError(
                "cannot remove the last node; crash it to stop it".to_string(),
            ));
        }
        let Some(mut machine) = self.machines.pop() else {
            return Err(ActionError("no node to remove".to_string()));
        };
        let lost = machine.clear();
        self.failed += u64::from(lost);
        self.config.nodes = u32::try_from(self.machines.len()).unwrap_or(MAX_NODES);
        self.mark_change();
        Ok(vec![Event::NodeRemoved {
            at_ms: self.now_ms,
            node: machine.id,
            lost,
        }])
    }

    fn apply_fault(&mut self, fault: &Fault) -> Result<Vec<Event>, ActionError> {
        Self::check_fault(fault)?;
        match *fault {
            Fault::Crash { node } => {
                let Some(index) = self.machine_index(node) else {
                    return Err(ActionError(format!("no machine {node}")));
                };
                let machine = &mut self.machines[index];
                if !machine.up {
                    return Err(ActionError(format!("machine {node} is already down")));
                }
                machine.up = false;
                let lost = machine.clear();
                self.failed += u64::from(lost);
                self.mark_change();
                Ok(vec![Event::Crashed {
                    at_ms: self.now_ms,
                    node,
                    lost,
                }])
            }
            Fault::Restart { node } => {
                let Some(index) = self.machine_index(node) else {
                    return Err(ActionError(format!("no machine {node}")));
                };
                let machine = &mut self.machines[index];
                if machine.up {
                    return Err(ActionError(format!("machine {node} is already up")));
                }
                machine.up = true;
                self.mark_change();
                Ok(vec![Event::Restarted {
                    at_ms: self.now_ms,
                    node,
                }])
            }
            _ => Err(ActionError(format!(
                "this simulation has no {:?} faults",
                fault.kind()
            ))),
        }
    }

    fn trim_windows(&mut self) {
        let cutoff = self.now_ms - RATE_WINDOW_MS;
        while self.recent_served.front().is_some_and(|&at| at <= cutoff) {
            self.recent_served.pop_front();
        }
        while self
            .recent_latency
            .front()
            .is_some_and(|&(at, _)| at <= cutoff)
        {
            self.recent_latency.pop_front();
        }
    }
}

impl Engine for Scaling {
    type Config = ScalingConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: ScalingConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let machines: Vec<Machine> = (1..=config.nodes).map(Machine::new).collect();
        let mut engine = Self {
            next_id: config.nodes + 1,
            config,
            rng: SimRng::new(seed),
            now_ms: 0.0,
            next_arrival_ms: f64::INFINITY,
            machines,
            rotation: 0,
            arrived: 0,
            served: 0,
            dropped: 0,
            failed: 0,
            recent_served: VecDeque::new(),
            recent_latency: VecDeque::new(),
            latency_sum_ms: 0.0,
            changed_ms: 0.0,
            measured: BTreeMap::new(),
        };
        engine.next_arrival_ms = engine.next_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        let start_ms = self.now_ms;
        let end_ms = start_ms + STEP_MS;
        let served_before = self.served;
        let mut dropped = 0u32;
        // Completions and arrivals are handled in time order. A completion at the same instant
        // as an arrival goes first, so the arrival can take the freed worker.
        loop {
            let finish = self.earliest_finish().filter(|&(_, at)| at <= end_ms);
            let arrival = (self.next_arrival_ms <= end_ms).then_some(self.next_arrival_ms);
            match (finish, arrival) {
                (Some((index, at)), Some(next)) if at <= next => self.complete(index, at),
                (Some((index, at)), None) => self.complete(index, at),
                (_, Some(next)) => {
                    if !self.arrive(next) {
                        dropped = dropped.saturating_add(1);
                    }
                    self.next_arrival_ms = next + self.next_gap_ms();
                }
                (None, None) => break,
            }
        }
        self.now_ms = end_ms;
        self.trim_windows();

        // The measured curve counts only steps wholly past the warm-up after a change.
        if start_ms >= self.changed_ms + WARMUP_MS && self.nodes_up() > 0 {
            let entry = self.measured.entry(self.units()).or_insert((0, 0.0));
            entry.0 += self.served - served_before;
            entry.1 += STEP_MS;
        }

        if dropped > 0 {
            vec![Event::Dropped {
                at_ms: end_ms,
                count: dropped,
            }]
        } else {
            Vec::new()
        }
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match action {
            Action::SetLoad { per_s } => {
                let per_s = *per_s;
                if !(0.0..=MAX_LOAD_PER_S).contains(&per_s) {
                    return Err(ActionError(format!(
                        "invalid load {per_s}; use 0 to {MAX_LOAD_PER_S} requests per second"
                    )));
                }
                self.config.load_per_s = per_s;
                self.next_arrival_ms = self.now_ms + self.next_gap_ms();
                self.mark_change();
                Ok(vec![Event::LoadSet {
                    at_ms: self.now_ms,
                    per_s,
                }])
            }
            Action::SizeUp => self.resize(true),
            Action::SizeDown => self.resize(false),
            Action::AddNode => self.add_node(),
            Action::RemoveNode => self.remove_node(),
            Action::Fault(fault) => self.apply_fault(fault),
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let served_per_s = self.served_per_s();
        let capacity = self.capacity_per_s();
        let utilization = self.utilization();
        let cost_per_million = self.cost_per_million();
        let (size_key, size_label, size_text) = match self.config.mode {
            Mode::Vertical => ("cores", "Cores", format!("{}", self.config.cores)),
            Mode::Horizontal => (
                "nodes",
                "Nodes up",
                format!("{} of {}", self.nodes_up(), self.machines.len()),
            ),
        };
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::new(size_key, size_label, f64::from(self.units()), size_text),
                Metric::new(
                    "capacity",
                    "USL capacity/s",
                    capacity,
                    format!("{capacity:.0}"),
                ),
                Metric::new(
                    "served-rate",
                    "Served/s (last 2 s)",
                    served_per_s,
                    format!("{served_per_s:.0}"),
                ),
                Metric::new(
                    "utilization",
                    "Utilization",
                    utilization,
                    if utilization.is_finite() {
                        format!("{:.0}%", utilization * 100.0)
                    } else {
                        "–".to_string()
                    },
                ),
                Metric::count("dropped", "Dropped", self.dropped),
                Metric::count("failed", "Failed", self.failed),
                Metric::new(
                    "cost-hour",
                    "Cost/hour",
                    self.cost_per_hour(),
                    format!("${:.2}", self.cost_per_hour()),
                ),
                Metric::new(
                    "cost-million",
                    "Cost/million served",
                    cost_per_million.unwrap_or(f64::NAN),
                    cost_per_million.map_or("–".to_string(), |cost| format!("${cost:.2}")),
                ),
            ],
            latency: self.recent_latency().percentiles(),
            samples: vec![Sample {
                label: "served/s",
                value: served_per_s,
            }],
        }
    }
}

impl Faults for Scaling {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        self.machines
            .iter()
            .map(|machine| NodeStatus {
                id: machine.id,
                label: format!("machine {}", machine.id),
                up: machine.up,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usl_of_one_is_one() {
        assert_eq!(usl(1.0, 0.3, 0.1), 1.0);
    }

    #[test]
    fn amdahl_is_kappa_zero() {
        // Amdahl: speedup = N / (1 + sigma (N - 1)).
        let amdahl = 16.0 / (1.0 + 0.1 * 15.0);

        assert!((usl(16.0, 0.1, 0.0) - amdahl).abs() < 1e-12);
    }

    #[test]
    fn price_of_unknown_size_is_none() {
        assert_eq!(price_per_hour(3), None);
    }

    #[test]
    fn vertical_with_two_nodes_is_rejected() {
        let config = ScalingConfig {
            nodes: 2,
            ..ScalingConfig::default()
        };

        assert!(Scaling::new(config, 1).is_err());
    }
}
