//! Open-loop queue: Poisson arrivals, `servers` FIFO servers, exponential service.
//!
//! Requests arrive as a Poisson process at `arrival_per_s` whatever the state of the system
//! (an open loop, because no client waits for a response before sending the next request). Each request
//! fans out into `fan_out` sub-requests that join one FIFO queue in front of `servers`
//! identical servers, and the request completes when the last of its sub-requests completes.
//! A sub-request's service time is exponential with mean `service_ms`, multiplied by
//! `slow_factor` for a random `slow_fraction` of sub-requests: the slow tail.
//!
//! With `fan_out` 1 and no slow tail this is the M/M/c queue. Its offered utilization is
//! `rho = arrival_per_s * fan_out * E[S] / servers`, and for `servers` 1 the mean latency is
//! `1 / (mu - lambda)`. [`mmc_mean_latency_ms`] gives the formula for any `servers`.
//! At `rho >= 1` the queue would grow without bound, so it holds at most [`MAX_QUEUE`]
//! sub-requests, and a request whose sub-requests do not all fit is dropped and counted.
//!
//! Within each step of [`STEP_MS`] the engine processes arrivals and completions in time order,
//! completions first on a tie, then the lower server index. Metrics over the last
//! [`RECENT_SLICES`] slices of [`SLICE_MS`] follow changes of the arrival rate quickly; totals
//! since the start serve the long-run checks (Little's law, the M/M/1 formula).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::metrics::{LatencyHistogram, Metric, Percentiles, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 20.0;

/// Most sub-requests that wait in the queue; a request that does not fit is dropped.
pub const MAX_QUEUE: usize = 1000;

/// Length of one slice of the recent-metrics window and of one point of the latency curve,
/// in milliseconds.
pub const SLICE_MS: f64 = 1000.0;

/// Slices in the recent-metrics window: the current one and the nine before it.
pub const RECENT_SLICES: usize = 10;

/// Most latencies kept for [`Queue::recent_latencies`]: 10 s at 1000 requests per second.
pub const MAX_RECENT_LATENCIES: usize = 10_000;

/// Points kept for [`Queue::curve`], one per [`SLICE_MS`]: the last two minutes.
pub const CURVE_POINTS: usize = 120;

/// Largest `arrival_per_s`.
pub const MAX_ARRIVAL_PER_S: f64 = 1000.0;

/// Largest `fan_out`.
pub const MAX_FAN_OUT: u32 = 16;

/// Chart the widget draws. The engine runs the same with either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chart {
    /// Mean latency against utilization, measured and from the M/M/c formula.
    #[default]
    LatencyCurve,
    /// The histogram of recent latencies with the mean, p50 and p99 marked.
    Histogram,
}

/// Parameters of the queue widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Mean arrival rate of requests (Poisson), per second.
    pub arrival_per_s: f64,
    /// Identical servers sharing one FIFO queue.
    pub servers: u32,
    /// Mean service time of one sub-request, in milliseconds (exponential).
    pub service_ms: f64,
    /// Share of sub-requests, 0 to 1, that take `slow_factor` times longer.
    pub slow_fraction: f64,
    /// How many times longer a slow sub-request takes.
    pub slow_factor: f64,
    /// Sub-requests per request, served in parallel; the request waits for the slowest.
    pub fan_out: u32,
    /// The chart the widget draws.
    pub chart: Chart,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            arrival_per_s: 50.0,
            servers: 1,
            service_ms: 10.0,
            slow_fraction: 0.0,
            slow_factor: 20.0,
            fan_out: 1,
            chart: Chart::LatencyCurve,
        }
    }
}

impl Config for QueueConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_arrival(self.arrival_per_s)?;
        ConfigError::check_range_u32("servers", self.servers, 1, 16)?;
        ConfigError::check_range_f64("service_ms", self.service_ms, 1.0, 10_000.0)?;
        ConfigError::check_range_f64("slow_fraction", self.slow_fraction, 0.0, 1.0)?;
        ConfigError::check_range_f64("slow_factor", self.slow_factor, 1.0, 100.0)?;
        check_fan_out(self.fan_out)?;
        Ok(())
    }
}

impl QueueConfig {
    /// Returns the mean service time of one sub-request, slow tail included, in milliseconds.
    pub fn mean_service_ms(&self) -> f64 {
        self.service_ms * (1.0 + self.slow_fraction * (self.slow_factor - 1.0))
    }

    /// Returns the offered utilization `rho = arrival_per_s * fan_out * E[S] / servers`.
    pub fn utilization(&self) -> f64 {
        self.arrival_per_s * f64::from(self.fan_out) * self.mean_service_ms()
            / (1000.0 * f64::from(self.servers))
    }

    /// Returns the requests per second the servers complete when always busy.
    pub fn capacity_per_s(&self) -> f64 {
        1000.0 * f64::from(self.servers) / (f64::from(self.fan_out) * self.mean_service_ms())
    }

    /// Returns the share of requests with at least one slow sub-request, `1 - (1 - p)^k`.
    pub fn expected_slow_share(&self) -> f64 {
        1.0 - libm::pow(1.0 - self.slow_fraction, f64::from(self.fan_out))
    }
}

fn check_arrival(arrival_per_s: f64) -> Result<(), ConfigError> {
    ConfigError::check_range_f64("arrival_per_s", arrival_per_s, 0.0, MAX_ARRIVAL_PER_S)
}

fn check_fan_out(fan_out: u32) -> Result<(), ConfigError> {
    ConfigError::check_range_u32("fan_out", fan_out, 1, MAX_FAN_OUT)
}

/// Computes the mean latency of the M/M/c queue in milliseconds, or `None` when
/// `rho = arrival_per_s * service_ms / (1000 * servers)` is 1 or more (no steady state) or an
/// input is out of range.
///
/// The mean wait is `C(c, a) * E[S] / (c * (1 - rho))` with offered load `a = lambda * E[S]`
/// and the Erlang C probability of waiting `C(c, a)`, computed from the Erlang B recursion.
/// For one server this is `1 / (mu - lambda)`.
///
/// ```
/// // One server, 10 ms per request (mu = 100/s), 50 requests/s: 1 / (100 - 50) s = 20 ms.
/// let latency = sim::queue::mmc_mean_latency_ms(50.0, 1, 10.0).unwrap_or(f64::NAN);
/// assert!((latency - 20.0).abs() < 1e-9);
/// ```
pub fn mmc_mean_latency_ms(arrival_per_s: f64, servers: u32, service_ms: f64) -> Option<f64> {
    let valid = servers > 0 && service_ms > 0.0 && arrival_per_s >= 0.0;
    if !valid {
        return None;
    }
    let offered = arrival_per_s * service_ms / 1000.0;
    let rho = offered / f64::from(servers);
    // NaN fails this test too, so an infinite input never reaches the recursion.
    if rho.is_nan() || rho >= 1.0 {
        return None;
    }
    let mut erlang_b = 1.0;
    for n in 1..=servers {
        erlang_b = offered * erlang_b / (f64::from(n) + offered * erlang_b);
    }
    let erlang_c = erlang_b / (1.0 - rho * (1.0 - erlang_b));
    let wait_ms = erlang_c * service_ms / (f64::from(servers) * (1.0 - rho));
    Some(wait_ms + service_ms)
}

/// An action a reader can take between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Changes the arrival rate from now on; requests already in the system stay.
    SetArrivalRate {
        /// Mean arrivals per second, 0 to 1000.
        arrival_per_s: f64,
    },
    /// Changes the sub-requests per request for requests that arrive from now on.
    SetFanOut {
        /// Sub-requests per request, 1 to 16.
        fan_out: u32,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A request arrived and its sub-requests went to idle servers or joined the queue.
    Arrived {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new request, counting from 0 over admitted and dropped requests.
        request_id: u64,
        /// Sub-requests waiting in the queue after this arrival.
        queued: usize,
    },
    /// A request arrived to a queue without room for its sub-requests and was turned away.
    Dropped {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The dropped request.
        request_id: u64,
        /// Sub-requests waiting in the queue, which had no room for this request's.
        queued: usize,
    },
    /// The last sub-request of a request finished.
    Completed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The request.
        request_id: u64,
        /// Time from arrival to completion (queue wait plus service), in milliseconds.
        latency_ms: f64,
        /// Whether at least one of its sub-requests was slow.
        slow: bool,
    },
    /// The reader changed the arrival rate.
    ArrivalRateChanged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new mean arrival rate, per second.
        arrival_per_s: f64,
    },
    /// The reader changed the fan-out.
    FanOutChanged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new sub-requests per request.
        fan_out: u32,
    },
}

/// A sub-request waiting in the queue.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Waiting {
    request_id: u64,
}

/// The sub-request a server is working on.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Busy {
    request_id: u64,
    done_at_ms: f64,
    slow: bool,
}

/// A request that arrived and has not completed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct InFlight {
    request_id: u64,
    arrived_at_ms: f64,
    /// Sub-requests not finished yet.
    remaining: u32,
    /// Whether a finished sub-request was slow.
    slow: bool,
}

/// Counts within one slice of [`SLICE_MS`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Slice {
    admitted: u64,
    dropped: u64,
    completed: u64,
    /// Completed requests that had a slow sub-request.
    completed_slow: u64,
    latency_sum_ms: f64,
    /// Integral over the slice of requests in the system, in request-ms.
    in_system_area: f64,
    /// Simulated time the slice covers so far, in milliseconds.
    covered_ms: f64,
}

/// One point of the latency curve: the utilization offered during one slice and the mean
/// latency of the requests that completed in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Offered utilization at the end of the slice.
    pub utilization: f64,
    /// Mean latency of the requests completed in the slice, in milliseconds.
    pub mean_latency_ms: f64,
    /// Requests completed in the slice.
    pub completed: u64,
}

/// The queue engine.
#[derive(Debug, Clone)]
pub struct Queue {
    config: QueueConfig,
    rng: SimRng,
    steps: u64,
    now_ms: f64,
    /// Time of the next arrival, or infinity while `arrival_per_s` is 0.
    next_arrival_ms: f64,
    servers: Vec<Option<Busy>>,
    queue: VecDeque<Waiting>,
    /// Requests in the system, in rising id order: at most about [`MAX_QUEUE`] plus the servers.
    /// A sorted vector with binary search costs less wasm code than a map.
    in_flight: Vec<InFlight>,
    next_request_id: u64,
    admitted: u64,
    dropped: u64,
    completed: u64,
    completed_slow: u64,
    latency_sum_ms: f64,
    latencies: LatencyHistogram,
    /// Integral since the start of requests in the system, in request-ms.
    in_system_area: f64,
    /// The current slice last, at most [`RECENT_SLICES`].
    slices: VecDeque<Slice>,
    /// `(at_ms, latency_ms)` of requests completed within the recent window.
    recent_latencies: VecDeque<(f64, f64)>,
    curve: VecDeque<CurvePoint>,
}

impl Engine for Queue {
    type Config = QueueConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: QueueConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let servers = vec![None; config.servers as usize];
        let mut engine = Self {
            config,
            rng: SimRng::new(seed),
            steps: 0,
            now_ms: 0.0,
            next_arrival_ms: f64::INFINITY,
            servers,
            queue: VecDeque::new(),
            in_flight: Vec::new(),
            next_request_id: 0,
            admitted: 0,
            dropped: 0,
            completed: 0,
            completed_slow: 0,
            latency_sum_ms: 0.0,
            latencies: LatencyHistogram::new(),
            in_system_area: 0.0,
            slices: VecDeque::from([Slice::default()]),
            recent_latencies: VecDeque::new(),
            curve: VecDeque::new(),
        };
        engine.next_arrival_ms = engine.next_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_ms = self.steps as f64 * STEP_MS;
        let mut events = Vec::new();
        loop {
            let completion = self.next_completion();
            let next_ms = completion.map_or(f64::INFINITY, |(_, at_ms)| at_ms);
            let arrival_first = self.next_arrival_ms < next_ms;
            let at_ms = next_ms.min(self.next_arrival_ms);
            if at_ms > end_ms {
                break;
            }
            self.advance_clock(at_ms);
            match completion {
                Some((server, _)) if !arrival_first => self.complete(server, &mut events),
                _ => {
                    self.arrive(&mut events);
                    self.next_arrival_ms = at_ms + self.next_gap_ms();
                }
            }
        }
        self.advance_clock(end_ms);
        self.close_slice_if_full();
        self.trim_recent_latencies();
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let at_ms = self.now_ms;
        match *action {
            Action::SetArrivalRate { arrival_per_s } => {
                check_arrival(arrival_per_s).map_err(|err| ActionError(err.to_string()))?;
                self.config.arrival_per_s = arrival_per_s;
                // Arrivals are memoryless, so drawing the next gap from now keeps them Poisson.
                self.next_arrival_ms = at_ms + self.next_gap_ms();
                Ok(vec![Event::ArrivalRateChanged {
                    at_ms,
                    arrival_per_s,
                }])
            }
            Action::SetFanOut { fan_out } => {
                check_fan_out(fan_out).map_err(|err| ActionError(err.to_string()))?;
                self.config.fan_out = fan_out;
                Ok(vec![Event::FanOutChanged { at_ms, fan_out }])
            }
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let recent = self.recent_percentiles();
        let rho = self.config.utilization();
        let mut metrics = vec![
            Metric::new("utilization", "Utilization ρ", rho, format!("{rho:.2}")),
            Metric::new(
                "throughput",
                "Throughput (10 s)",
                self.recent_throughput_per_s(),
                format!(
                    "{:.1} of {:.0} req/s",
                    self.recent_throughput_per_s(),
                    self.config.capacity_per_s()
                ),
            ),
            Metric::millis(
                "mean-latency",
                "Mean latency (10 s)",
                self.recent_mean_latency_ms(),
            ),
            Metric::new(
                "in-system",
                "In system L (10 s)",
                self.recent_mean_in_system(),
                format!("{:.2}", self.recent_mean_in_system()),
            ),
            Metric::new(
                "lambda-w",
                "λ × W (10 s)",
                self.recent_little_product(),
                format!("{:.2}", self.recent_little_product()),
            ),
            Metric::count("queue", "Queue now", self.queue.len() as u64),
            Metric::count("dropped", "Dropped (queue full)", self.dropped),
        ];
        if self.config.chart == Chart::Histogram {
            let measured = self.recent_slow_share();
            metrics.push(Metric::new(
                "slow-share",
                "Hit a slow sub-request (10 s)",
                measured.unwrap_or(f64::NAN),
                format!(
                    "{} (formula {:.1}%)",
                    measured.map_or("–".to_string(), |share| format!("{:.1}%", 100.0 * share)),
                    100.0 * self.config.expected_slow_share()
                ),
            ));
        }
        Snapshot {
            at_ms: self.now_ms,
            metrics,
            latency: recent,
            samples: vec![
                Sample {
                    label: "queue length",
                    value: self.queue.len() as f64,
                },
                Sample {
                    label: "mean latency ms",
                    value: self.recent_mean_latency_ms().unwrap_or(0.0),
                },
            ],
        }
    }
}

/// The rules: arrivals, service and completions.
impl Queue {
    /// Draws the gap to the next arrival, or infinity while the arrival rate is 0.
    fn next_gap_ms(&mut self) -> f64 {
        if self.config.arrival_per_s > 0.0 {
            self.rng.exponential(1000.0 / self.config.arrival_per_s)
        } else {
            f64::INFINITY
        }
    }

    /// Returns the server that finishes first and when, the lower index on a tie.
    fn next_completion(&self) -> Option<(usize, f64)> {
        let mut first: Option<(usize, f64)> = None;
        for (index, server) in self.servers.iter().enumerate() {
            if let Some(busy) = server
                && first.is_none_or(|(_, at_ms)| busy.done_at_ms < at_ms)
            {
                first = Some((index, busy.done_at_ms));
            }
        }
        first
    }

    /// Moves time to `at_ms`, adding the requests in the system over the gap to the areas.
    fn advance_clock(&mut self, at_ms: f64) {
        let elapsed = (at_ms - self.now_ms).max(0.0);
        let area = self.in_flight.len() as f64 * elapsed;
        self.in_system_area += area;
        if let Some(slice) = self.slices.back_mut() {
            slice.in_system_area += area;
            slice.covered_ms += elapsed;
        }
        self.now_ms = at_ms;
    }

    /// Starts a sub-request of `request_id` on `server` now.
    fn start(&mut self, server: usize, request_id: u64) {
        let mut service_ms = self.rng.exponential(self.config.service_ms);
        let slow =
            self.config.slow_fraction > 0.0 && self.rng.uniform() < self.config.slow_fraction;
        if slow {
            service_ms *= self.config.slow_factor;
        }
        if let Some(slot) = self.servers.get_mut(server) {
            *slot = Some(Busy {
                request_id,
                done_at_ms: self.now_ms + service_ms,
                slow,
            });
        }
    }

    /// Admits or drops the request arriving now.
    fn arrive(&mut self, events: &mut Vec<Event>) {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let at_ms = self.now_ms;
        let fan_out = self.config.fan_out;
        let idle = self
            .servers
            .iter()
            .filter(|server| server.is_none())
            .count();
        let must_wait = (fan_out as usize).saturating_sub(idle);
        if self.queue.len() + must_wait > MAX_QUEUE {
            self.dropped += 1;
            if let Some(slice) = self.slices.back_mut() {
                slice.dropped += 1;
            }
            events.push(Event::Dropped {
                at_ms,
                request_id,
                queued: self.queue.len(),
            });
            return;
        }

        self.admitted += 1;
        if let Some(slice) = self.slices.back_mut() {
            slice.admitted += 1;
        }
        // Ids rise with every arrival, so pushing keeps the vector sorted.
        self.in_flight.push(InFlight {
            request_id,
            arrived_at_ms: at_ms,
            remaining: fan_out,
            slow: false,
        });
        for _ in 0..fan_out {
            match self.servers.iter().position(Option::is_none) {
                Some(server) => self.start(server, request_id),
                None => self.queue.push_back(Waiting { request_id }),
            }
        }
        events.push(Event::Arrived {
            at_ms,
            request_id,
            queued: self.queue.len(),
        });
    }

    /// Finishes the sub-request on `server`, completes its request if it was the last one, and
    /// gives the server the head of the queue.
    fn complete(&mut self, server: usize, events: &mut Vec<Event>) {
        let Some(busy) = self.servers.get_mut(server).and_then(Option::take) else {
            return;
        };
        let at_ms = self.now_ms;
        let mut finished = None;
        if let Ok(index) = self
            .in_flight
            .binary_search_by_key(&busy.request_id, |request| request.request_id)
            && let Some(request) = self.in_flight.get_mut(index)
        {
            request.remaining = request.remaining.saturating_sub(1);
            request.slow |= busy.slow;
            if request.remaining == 0 {
                finished = Some((index, *request));
            }
        }
        if let Some((index, request)) = finished {
            self.in_flight.remove(index);
            let latency_ms = at_ms - request.arrived_at_ms;
            self.record_completion(at_ms, latency_ms, request.slow);
            events.push(Event::Completed {
                at_ms,
                request_id: busy.request_id,
                latency_ms,
                slow: request.slow,
            });
        }
        if let Some(next) = self.queue.pop_front() {
            self.start(server, next.request_id);
        }
    }

    fn record_completion(&mut self, at_ms: f64, latency_ms: f64, slow: bool) {
        self.completed += 1;
        if slow {
            self.completed_slow += 1;
        }
        self.latency_sum_ms += latency_ms;
        self.latencies.record_ms(latency_ms);
        if let Some(slice) = self.slices.back_mut() {
            slice.completed += 1;
            slice.completed_slow += u64::from(slow);
            slice.latency_sum_ms += latency_ms;
        }
        if self.recent_latencies.len() == MAX_RECENT_LATENCIES {
            self.recent_latencies.pop_front();
        }
        self.recent_latencies.push_back((at_ms, latency_ms));
    }

    /// Ends the current slice once it covers [`SLICE_MS`], adds its point to the curve and
    /// starts the next one.
    fn close_slice_if_full(&mut self) {
        let Some(current) = self.slices.back().copied() else {
            self.slices.push_back(Slice::default());
            return;
        };
        // Steps of 20 ms add up to 1000 ms exactly only up to rounding.
        if current.covered_ms < SLICE_MS - STEP_MS / 2.0 {
            return;
        }
        if current.completed > 0 {
            if self.curve.len() == CURVE_POINTS {
                self.curve.pop_front();
            }
            self.curve.push_back(CurvePoint {
                utilization: self.config.utilization(),
                mean_latency_ms: current.latency_sum_ms / current.completed as f64,
                completed: current.completed,
            });
        }
        if self.slices.len() == RECENT_SLICES {
            self.slices.pop_front();
        }
        self.slices.push_back(Slice::default());
    }

    fn trim_recent_latencies(&mut self) {
        let window_ms = self
            .slices
            .iter()
            .map(|slice| slice.covered_ms)
            .sum::<f64>();
        let cutoff = self.now_ms - window_ms;
        while self
            .recent_latencies
            .front()
            .is_some_and(|&(at_ms, _)| at_ms <= cutoff)
        {
            self.recent_latencies.pop_front();
        }
    }

    /// Sums the recent slices.
    fn recent(&self) -> Slice {
        self.slices
            .iter()
            .fold(Slice::default(), |sum, slice| Slice {
                admitted: sum.admitted + slice.admitted,
                dropped: sum.dropped + slice.dropped,
                completed: sum.completed + slice.completed,
                completed_slow: sum.completed_slow + slice.completed_slow,
                latency_sum_ms: sum.latency_sum_ms + slice.latency_sum_ms,
                in_system_area: sum.in_system_area + slice.in_system_area,
                covered_ms: sum.covered_ms + slice.covered_ms,
            })
    }
}

/// Reading the state and the metrics, for the widget and the tests.
impl Queue {
    /// Returns the configuration, with the arrival rate and fan-out the last actions set.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Returns the sub-requests waiting in the queue.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Returns the servers working on a sub-request.
    pub fn busy_servers(&self) -> usize {
        self.servers
            .iter()
            .filter(|server| server.is_some())
            .count()
    }

    /// Returns the requests in the system now: arrived, not dropped and not completed.
    pub fn in_system(&self) -> usize {
        self.in_flight.len()
    }

    /// Returns the requests admitted since the start.
    pub fn admitted_total(&self) -> u64 {
        self.admitted
    }

    /// Returns the requests dropped since the start because the queue was full.
    pub fn dropped_total(&self) -> u64 {
        self.dropped
    }

    /// Returns the requests completed since the start.
    pub fn completed_total(&self) -> u64 {
        self.completed
    }

    /// Returns the mean latency of every request completed since the start, in milliseconds.
    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.completed > 0).then(|| self.latency_sum_ms / self.completed as f64)
    }

    /// Returns the time-average number of requests in the system since the start (L).
    pub fn mean_in_system(&self) -> f64 {
        if self.now_ms > 0.0 {
            self.in_system_area / self.now_ms
        } else {
            0.0
        }
    }

    /// Returns the admitted requests per second since the start (the lambda of Little's law).
    pub fn admitted_per_s(&self) -> f64 {
        if self.now_ms > 0.0 {
            self.admitted as f64 * 1000.0 / self.now_ms
        } else {
            0.0
        }
    }

    /// Returns p50, p95 and p99 of every latency since the start, from the HDR histogram.
    pub fn latency_percentiles(&self) -> Option<Percentiles> {
        self.latencies.percentiles()
    }

    /// Returns the share of completed requests that had a slow sub-request, since the start.
    pub fn slow_share(&self) -> Option<f64> {
        (self.completed > 0).then(|| self.completed_slow as f64 / self.completed as f64)
    }

    /// Returns the share of requests completed in the recent window that had a slow sub-request.
    pub fn recent_slow_share(&self) -> Option<f64> {
        let recent = self.recent();
        (recent.completed > 0).then(|| recent.completed_slow as f64 / recent.completed as f64)
    }

    /// Returns the simulated time the recent window covers, up to 10 s, in milliseconds.
    pub fn recent_window_ms(&self) -> f64 {
        self.slices.iter().map(|slice| slice.covered_ms).sum()
    }

    /// Returns the requests completed per second over the recent window.
    pub fn recent_throughput_per_s(&self) -> f64 {
        let recent = self.recent();
        if recent.covered_ms > 0.0 {
            recent.completed as f64 * 1000.0 / recent.covered_ms
        } else {
            0.0
        }
    }

    /// Returns the mean latency of the requests completed in the recent window.
    pub fn recent_mean_latency_ms(&self) -> Option<f64> {
        let recent = self.recent();
        (recent.completed > 0).then(|| recent.latency_sum_ms / recent.completed as f64)
    }

    /// Returns the time-average number of requests in the system over the recent window.
    pub fn recent_mean_in_system(&self) -> f64 {
        let recent = self.recent();
        if recent.covered_ms > 0.0 {
            recent.in_system_area / recent.covered_ms
        } else {
            0.0
        }
    }

    /// Returns admitted requests per second times mean latency over the recent window. By
    /// Little's law it approaches [`Queue::recent_mean_in_system`] in a steady state.
    pub fn recent_little_product(&self) -> f64 {
        let recent = self.recent();
        if recent.covered_ms > 0.0 && recent.completed > 0 {
            let arrival_per_ms = recent.admitted as f64 / recent.covered_ms;
            arrival_per_ms * recent.latency_sum_ms / recent.completed as f64
        } else {
            0.0
        }
    }

    /// Returns p50, p95 and p99 of the latencies in the recent window, from an HDR histogram.
    pub fn recent_percentiles(&self) -> Option<Percentiles> {
        let mut histogram = LatencyHistogram::new();
        for &(_, latency_ms) in &self.recent_latencies {
            histogram.record_ms(latency_ms);
        }
        histogram.percentiles()
    }

    /// Returns the latencies of the requests completed in the recent window, oldest first, at
    /// most [`MAX_RECENT_LATENCIES`].
    pub fn recent_latencies(&self) -> impl ExactSizeIterator<Item = f64> + '_ {
        self.recent_latencies
            .iter()
            .map(|&(_, latency_ms)| latency_ms)
    }

    /// Returns one point per finished slice with completions, oldest first.
    pub fn curve(&self) -> impl ExactSizeIterator<Item = &CurvePoint> + '_ {
        self.curve.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(config: QueueConfig) -> Queue {
        match Queue::new(config, 1) {
            Ok(engine) => engine,
            Err(err) => panic!("valid config rejected: {err}"),
        }
    }

    #[test]
    fn default_config_offers_half_load() {
        let config = QueueConfig::default();

        assert!((config.utilization() - 0.5).abs() < 1e-12);
        assert!((config.capacity_per_s() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn mmc_formula_for_two_servers() {
        // M/M/2 with a = 1 erlang: C(2, 1) = 1/3, wait = (1/3) * 10 / (2 * 0.5) = 3.33 ms.
        let latency = mmc_mean_latency_ms(100.0, 2, 10.0).unwrap_or(f64::NAN);

        assert!((latency - (10.0 + 10.0 / 3.0)).abs() < 1e-9, "{latency}");
    }

    #[test]
    fn mmc_formula_has_no_value_at_full_load() {
        assert_eq!(mmc_mean_latency_ms(100.0, 1, 10.0), None);
        assert_eq!(mmc_mean_latency_ms(500.0, 4, 10.0), None);
    }

    #[test]
    fn slow_share_formula() {
        let config = QueueConfig {
            slow_fraction: 0.01,
            fan_out: 16,
            ..QueueConfig::default()
        };

        // 1 - 0.99^16 = 0.14854...
        assert!((config.expected_slow_share() - 0.148_542_8).abs() < 1e-6);
    }

    #[test]
    fn zero_arrivals_leave_the_system_empty() {
        let mut engine = build(QueueConfig {
            arrival_per_s: 0.0,
            ..QueueConfig::default()
        });

        let events: Vec<Event> = (0..100).flat_map(|_| engine.step()).collect();

        assert!(events.is_empty(), "{events:?}");
        assert_eq!(engine.in_system(), 0);
    }

    #[test]
    fn invalid_arrival_rate_is_rejected() {
        let mut engine = build(QueueConfig::default());

        let result = engine.apply(&Action::SetArrivalRate {
            arrival_per_s: f64::NAN,
        });

        assert!(result.is_err(), "NaN arrival rate was applied");
        assert_eq!(engine.config().arrival_per_s, 50.0);
    }

    #[test]
    fn fan_out_above_max_is_rejected() {
        let mut engine = build(QueueConfig::default());

        let result = engine.apply(&Action::SetFanOut {
            fan_out: MAX_FAN_OUT + 1,
        });

        assert!(result.is_err(), "fan-out {} was applied", MAX_FAN_OUT + 1);
    }

    #[test]
    fn chart_serializes_in_snake_case() {
        let json = serde_json::to_string(&Chart::LatencyCurve).unwrap_or_default();

        assert_eq!(json, r#""latency_curve""#);
    }
}
