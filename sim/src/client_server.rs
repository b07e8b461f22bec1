//! Client-server model: closed-loop clients and a server with a pool of workers.
//!
//! Each client thinks for an exponential time with mean `think_ms`, sends one request and waits
//! for the response before it thinks again, so the server never has more than `clients`
//! requests in it: a closed queueing network. The server hands a request to an idle worker or
//! appends it to a FIFO queue. A worker serves one request at a time for an exponential time
//! with mean `service_ms`. Once every worker is busy all the time, throughput stops at
//! `workers / service_ms`, and each further client only lengthens the queue.
//!
//! Workers can crash and restart through the [`Faults`] interface. A crashed worker is down: it
//! serves nothing and gets no requests until it restarts. The request it was serving is lost,
//! and its client, seeing the connection reset, sends a new request at once. Crashing every
//! worker is allowed, as it happens in real pools: requests then wait in the queue until a
//! worker restarts or [`Action::SetWorkers`] adds one.
//!
//! Within each step of [`STEP_MS`] the engine processes the due events in time order. Ties go to
//! completions before sends, then to the lower worker or client id. Random draws follow that
//! order, so a trace depends on the step size only through the moments when actions apply.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
pub use crate::metrics::Percentiles;
use crate::metrics::{LatencyHistogram, Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 20.0;

/// Length of one slice of the recent-metrics window, in milliseconds.
pub const RECENT_SLICE_MS: f64 = 1000.0;

/// Slices in the recent-metrics window: the current one and the four before it.
pub const RECENT_SLICES: u64 = 5;

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
        Self {
            clients: 4,
            workers: 2,
            service_ms: 100.0,
            think_ms: 400.0,
        }
    }
}

impl Config for ClientServerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_clients(self.clients)?;
        check_workers(self.workers)?;
        ConfigError::check_range_f64("service_ms", self.service_ms, 1.0, 10_000.0)?;
        ConfigError::check_range_f64("think_ms", self.think_ms, 0.0, 60_000.0)?;
        Ok(())
    }
}

fn check_clients(clients: u32) -> Result<(), ConfigError> {
    ConfigError::check_range_u32("clients", clients, 1, 200)
}

fn check_workers(workers: u32) -> Result<(), ConfigError> {
    ConfigError::check_range_u32("workers", workers, 1, 64)
}

/// What a reader can do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Changes the number of clients. New clients start thinking now. Removed clients that are
    /// thinking leave at once, and those with a request in flight leave after its response.
    SetClients {
        /// Clients from now on, 1 to 200.
        clients: u32,
    },
    /// Changes the number of workers, down ones included. New workers start up and take queued
    /// requests at once, while down workers stay down. Removal takes down workers first, newest first,
    /// then the newest up workers: idle ones leave at once, and busy ones finish their request
    /// first and take no other.
    SetWorkers {
        /// Workers from now on, 1 to 64.
        workers: u32,
    },
    /// Crashes or restarts the worker whose id is the fault's node id. See [`ClientServer`]'s
    /// [`Faults`] implementation.
    Fault(Fault),
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A client sent a request, which goes to an idle worker or to the back of the queue.
    Sent {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new request.
        request_id: u64,
        /// The client that sent it.
        client_id: u32,
    },
    /// A worker took a request, either on arrival or from the head of the queue.
    Started {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The request.
        request_id: u64,
        /// The client waiting for it.
        client_id: u32,
        /// The worker that serves it.
        worker_id: u32,
        /// Time the request spent in the queue, in milliseconds (0 if a worker was idle).
        wait_ms: f64,
    },
    /// A worker finished a request and its client received the response.
    Completed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The request.
        request_id: u64,
        /// The client that receives the response.
        client_id: u32,
        /// The worker that served it.
        worker_id: u32,
        /// Response time from send to response (queue wait plus service), in milliseconds.
        latency_ms: f64,
    },
    /// A client joined after [`Action::SetClients`] and started thinking.
    ClientJoined {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new client.
        client_id: u32,
    },
    /// A removed client left, at once or after its last response.
    ClientLeft {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The client.
        client_id: u32,
    },
    /// A worker joined after [`Action::SetWorkers`].
    WorkerAdded {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new worker.
        worker_id: u32,
    },
    /// A removed worker left, at once or after finishing its request, or when it crashed.
    WorkerRemoved {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The worker.
        worker_id: u32,
    },
    /// A worker crashed and is down until restarted. A lost request's client sends a new one at
    /// once, which the [`Event::Sent`] that follows shows.
    WorkerCrashed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The worker.
        worker_id: u32,
        /// The request the worker was serving, now lost, or `None` if it was idle.
        lost_request_id: Option<u64>,
    },
    /// A crashed worker restarted, idle, and took the head of the queue if there was one.
    WorkerRestarted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The worker.
        worker_id: u32,
    },
}

/// A request that a client sent and has not had a response to yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// Request id, counting from 0 in the order requests were sent.
    pub id: u64,
    /// The client waiting for the response.
    pub client_id: u32,
    /// Simulated time the client sent it, in milliseconds.
    pub sent_at_ms: f64,
}

/// Stage of a client in its think-send-wait loop.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ClientState {
    /// Between a response and the next request, which the client sends at `until_ms`.
    Thinking {
        /// Simulated time of the next send, in milliseconds.
        until_ms: f64,
    },
    /// The client's request waits in the server's queue.
    Queued {
        /// The waiting request.
        request_id: u64,
    },
    /// A worker is serving the client's request.
    InService {
        /// The request being served.
        request_id: u64,
        /// The worker serving it.
        worker_id: u32,
    },
}

/// One client.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Client {
    /// Client id, never reused. [`ClientServer::clients`] lists clients in rising id order.
    pub id: u32,
    /// The client's current stage.
    pub state: ClientState,
    /// Whether the client was removed and leaves once its response arrives.
    pub leaving: bool,
}

/// The request a worker is serving.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Serving {
    /// The request.
    pub request: Request,
    /// Simulated time the worker took it, in milliseconds.
    pub started_at_ms: f64,
    /// Simulated time the worker will finish it, in milliseconds.
    pub done_at_ms: f64,
}

/// One worker of the server's pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Worker {
    /// Worker id, never reused. [`ClientServer::workers`] lists workers in rising id order.
    pub id: u32,
    /// The request in service, or `None` while the worker is idle or down.
    pub serving: Option<Serving>,
    /// Whether the worker was removed and leaves once it finishes its request.
    pub retiring: bool,
    /// Whether the worker is running. A crashed worker is down until restarted.
    pub up: bool,
}

/// Something that will happen at a known simulated time.
#[derive(Debug, Clone, Copy)]
struct Scheduled {
    at_ms: f64,
    due: Due,
}

#[derive(Debug, Clone, Copy)]
enum Due {
    /// The worker finishes the request. It is skipped if the worker crashed in the meantime,
    /// even if it restarted and took another request.
    Completion { worker_id: u32, request_id: u64 },
    /// The client stops thinking and sends a request.
    Send { client_id: u32 },
}

impl Scheduled {
    /// Orders by time, then completions before sends, then by worker or client id, then by
    /// request id.
    fn tie_break(&self) -> (u8, u32, u64) {
        match self.due {
            Due::Completion {
                worker_id,
                request_id,
            } => (0, worker_id, request_id),
            Due::Send { client_id } => (1, client_id, 0),
        }
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at_ms
            .total_cmp(&other.at_ms)
            .then_with(|| self.tie_break().cmp(&other.tie_break()))
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

/// Completions within one slice of the recent-metrics window.
#[derive(Debug, Clone)]
struct Slice {
    /// `floor(at_ms / RECENT_SLICE_MS)` of the completions counted here.
    index: u64,
    completed: u64,
    latency_sum_ms: f64,
    latencies: LatencyHistogram,
}

/// The client-server engine.
#[derive(Debug, Clone)]
pub struct ClientServer {
    config: ClientServerConfig,
    rng: SimRng,
    steps: u64,
    /// Time up to which the engine has run, in milliseconds.
    now_ms: f64,
    clients: Vec<Client>,
    workers: Vec<Worker>,
    queue: VecDeque<Request>,
    /// Pending completions and sends. A send whose client has left, and a completion whose worker
    /// crashed, are skipped when popped.
    calendar: BinaryHeap<Reverse<Scheduled>>,
    next_request_id: u64,
    next_client_id: u32,
    next_worker_id: u32,
    sent: u64,
    started: u64,
    completed: u64,
    /// Requests lost when their worker crashed.
    failed: u64,
    wait_sum_ms: f64,
    latency_sum_ms: f64,
    latencies: LatencyHistogram,
    recent: VecDeque<Slice>,
    /// Integral over time of requests in the server (queued plus in service), in request-ms.
    in_server_area: f64,
    /// Integral over time of busy workers, in worker-ms.
    busy_area: f64,
    /// Integral over time of up workers in the pool, in worker-ms.
    pool_area: f64,
}

impl Engine for ClientServer {
    type Config = ClientServerConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: ClientServerConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut engine = Self {
            config: config.clone(),
            rng: SimRng::new(seed),
            steps: 0,
            now_ms: 0.0,
            clients: Vec::new(),
            workers: Vec::new(),
            queue: VecDeque::new(),
            calendar: BinaryHeap::new(),
            next_request_id: 0,
            next_client_id: 0,
            next_worker_id: 0,
            sent: 0,
            started: 0,
            completed: 0,
            failed: 0,
            wait_sum_ms: 0.0,
            latency_sum_ms: 0.0,
            latencies: LatencyHistogram::new(),
            recent: VecDeque::new(),
            in_server_area: 0.0,
            busy_area: 0.0,
            pool_area: 0.0,
        };
        for _ in 0..config.clients {
            engine.add_client();
        }
        for _ in 0..config.workers {
            engine.add_worker();
        }
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
            self.advance_clock(next.at_ms);
            match next.due {
                Due::Completion {
                    worker_id,
                    request_id,
                } => self.complete(worker_id, request_id, &mut events),
                Due::Send { client_id } => self.send_due(client_id, &mut events),
            }
        }
        self.advance_clock(end_ms);
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match action {
            Action::SetClients { clients } => {
                check_clients(*clients).map_err(|err| ActionError(err.to_string()))?;
                Ok(self.set_clients(*clients))
            }
            Action::SetWorkers { workers } => {
                check_workers(*workers).map_err(|err| ActionError(err.to_string()))?;
                Ok(self.set_workers(*workers))
            }
            Action::Fault(fault) => self.inject(fault),
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let recent = self.recent_latency_percentiles();
        let throughput = self.recent_throughput_per_s();
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::new(
                    "throughput",
                    "Requests/s of capacity",
                    throughput,
                    format!("{throughput:.1} of {:.0}", self.capacity_per_s()),
                ),
                Metric::millis(
                    "mean-latency",
                    "Mean latency",
                    self.recent_mean_latency_ms(),
                ),
                Metric::count("queue", "Queue now", self.queue.len() as u64),
                Metric::new(
                    "busy",
                    "Busy workers",
                    self.busy_workers() as f64,
                    format!("{} of {} up", self.busy_workers(), self.up_workers()),
                ),
                Metric::count("completed", "Completed", self.completed),
                Metric::count("failed", "Failed (crash)", self.failed),
            ],
            latency: recent,
            samples: vec![
                Sample {
                    label: "requests/s",
                    value: throughput,
                },
                Sample {
                    label: "p99 ms",
                    value: recent.map_or(0.0, |p| p.p99_ms),
                },
            ],
        }
    }
}

/// Reading the state and the metrics, for the widget and the tests.
impl ClientServer {
    /// Returns the configuration, with `clients` and `workers` as the last actions set them.
    pub fn config(&self) -> &ClientServerConfig {
        &self.config
    }

    /// Returns every client, leaving ones included, in rising id order.
    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// Returns the requests waiting for a worker, head (next to start) first.
    pub fn queue(&self) -> &VecDeque<Request> {
        &self.queue
    }

    /// Returns every worker, retiring and down ones included, in rising id order.
    pub fn workers(&self) -> &[Worker] {
        &self.workers
    }

    /// Requests sent since the start.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Requests that a worker has taken since the start.
    pub fn started(&self) -> u64 {
        self.started
    }

    /// Requests completed since the start.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Requests lost since the start because their worker crashed while serving them.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Workers serving a request now, all of them up because a down worker serves nothing.
    pub fn busy_workers(&self) -> usize {
        self.workers
            .iter()
            .filter(|worker| worker.serving.is_some())
            .count()
    }

    /// Workers running now, retiring ones included.
    pub fn up_workers(&self) -> usize {
        self.workers.iter().filter(|worker| worker.up).count()
    }

    /// Requests in the server now: queued plus in service. Always `sent - completed - failed`.
    pub fn in_flight(&self) -> usize {
        self.queue.len() + self.busy_workers()
    }

    /// Completions per second of simulated time since the start (0 before the first step).
    pub fn throughput_per_s(&self) -> f64 {
        per_second(self.completed, self.now_ms)
    }

    /// Maximum completions per second the workers that are up and not retiring can sustain:
    /// `workers / service_ms`. It equals the configured capacity until a worker crashes.
    pub fn capacity_per_s(&self) -> f64 {
        let serving = self
            .workers
            .iter()
            .filter(|worker| worker.up && !worker.retiring);
        serving.count() as f64 * 1000.0 / self.config.service_ms
    }

    /// Time-average number of requests in the server since the start (Little's `L`).
    pub fn mean_in_server(&self) -> f64 {
        ratio(self.in_server_area, self.now_ms)
    }

    /// Fraction of up-worker time spent serving since the start, from 0 to 1. Time a worker
    /// spends down counts neither as busy nor as available.
    pub fn utilization(&self) -> f64 {
        ratio(self.busy_area, self.pool_area)
    }

    /// Mean latency of the completed requests, in milliseconds (Little's `W`).
    pub fn mean_latency_ms(&self) -> Option<f64> {
        mean(self.latency_sum_ms, self.completed)
    }

    /// Mean time the started requests waited in the queue, in milliseconds.
    pub fn mean_wait_ms(&self) -> Option<f64> {
        mean(self.wait_sum_ms, self.started)
    }

    /// Latency percentiles of every completed request since the start.
    pub fn latency_percentiles(&self) -> Option<Percentiles> {
        self.latencies.percentiles()
    }

    /// Span of the recent window, in milliseconds: from the start of the oldest of its
    /// [`RECENT_SLICES`] slices to now, so between 4 and 5 seconds once the run is that long.
    pub fn recent_window_ms(&self) -> f64 {
        self.now_ms - self.recent_start_slice() as f64 * RECENT_SLICE_MS
    }

    /// Completions per second over the recent window (0 before the first step).
    pub fn recent_throughput_per_s(&self) -> f64 {
        let completed = self.recent_slices().map(|slice| slice.completed).sum();
        per_second(completed, self.recent_window_ms())
    }

    /// Mean latency of the requests completed in the recent window, in milliseconds.
    pub fn recent_mean_latency_ms(&self) -> Option<f64> {
        let completed = self.recent_slices().map(|slice| slice.completed).sum();
        let latency_sum_ms = self.recent_slices().map(|slice| slice.latency_sum_ms).sum();
        mean(latency_sum_ms, completed)
    }

    /// Latency percentiles of the requests completed in the recent window.
    pub fn recent_latency_percentiles(&self) -> Option<Percentiles> {
        let mut merged = LatencyHistogram::new();
        for slice in self.recent_slices() {
            // An auto-resizing histogram grows to take the other's values, so adding fails only
            // if the counts would need more than `usize::MAX` entries.
            merged.add(&slice.latencies);
        }
        merged.percentiles()
    }
}

/// Moving requests, clients and workers.
impl ClientServer {
    /// Integrates the time-weighted metrics up to `at_ms` and moves the clock there.
    fn advance_clock(&mut self, at_ms: f64) {
        let elapsed_ms = at_ms - self.now_ms;
        if elapsed_ms > 0.0 {
            let busy = self.busy_workers() as f64;
            self.in_server_area += (self.queue.len() as f64 + busy) * elapsed_ms;
            self.busy_area += busy * elapsed_ms;
            self.pool_area += self.up_workers() as f64 * elapsed_ms;
            self.now_ms = at_ms;
        }
    }

    /// Sends the client's next request when its think time ends, unless the send was cancelled.
    fn send_due(&mut self, client_id: u32, events: &mut Vec<Event>) {
        let now_ms = self.now_ms;
        let Some(client) = self.client_mut(client_id) else {
            // The client left while thinking, so this send was cancelled.
            return;
        };
        let ClientState::Thinking { until_ms } = client.state else {
            return;
        };
        if until_ms != now_ms {
            return;
        }
        self.send(client_id, events);
    }

    /// Sends a new request from the client to an idle worker or to the back of the queue.
    fn send(&mut self, client_id: u32, events: &mut Vec<Event>) {
        let request_id = self.next_request_id;
        let Some(client) = self.client_mut(client_id) else {
            return;
        };

        client.state = ClientState::Queued { request_id };
        self.next_request_id += 1;
        self.sent += 1;
        let request = Request {
            id: request_id,
            client_id,
            sent_at_ms: self.now_ms,
        };
        events.push(Event::Sent {
            at_ms: self.now_ms,
            request_id,
            client_id,
        });

        // A queue forms only while every up, active worker is busy, so an idle worker means the
        // queue is empty and the request starts at once.
        match self.workers.iter().position(Worker::takes_requests) {
            Some(index) => self.start(index, request, events),
            None => self.queue.push_back(request),
        }
    }

    /// Puts `request` in service on the worker at `index` and schedules its completion.
    fn start(&mut self, index: usize, request: Request, events: &mut Vec<Event>) {
        let service_ms = self.rng.exponential(self.config.service_ms);
        let done_at_ms = self.now_ms + service_ms;
        let Some(worker) = self.workers.get_mut(index) else {
            return;
        };
        let worker_id = worker.id;
        let request_id = request.id;
        let client_id = request.client_id;
        let wait_ms = self.now_ms - request.sent_at_ms;
        worker.serving = Some(Serving {
            request,
            started_at_ms: self.now_ms,
            done_at_ms,
        });

        if let Some(client) = self.client_mut(client_id) {
            client.state = ClientState::InService {
                request_id,
                worker_id,
            };
        }
        self.started += 1;
        self.wait_sum_ms += wait_ms;
        self.calendar.push(Reverse(Scheduled {
            at_ms: done_at_ms,
            due: Due::Completion {
                worker_id,
                request_id,
            },
        }));
        events.push(Event::Started {
            at_ms: self.now_ms,
            request_id,
            client_id,
            worker_id,
            wait_ms,
        });
    }

    /// Finishes the worker's request, returns the client to thinking (or lets it leave), and
    /// gives the worker the head of the queue (or lets it leave).
    fn complete(&mut self, worker_id: u32, request_id: u64, events: &mut Vec<Event>) {
        let Some(index) = self.worker_index(worker_id) else {
            return;
        };
        let Some(worker) = self.workers.get_mut(index) else {
            return;
        };
        // The worker crashed while serving this request, so the request is lost. A restarted
        // worker may be serving another request by now, which this completion must not end.
        let serves_it = worker
            .serving
            .as_ref()
            .is_some_and(|serving| serving.request.id == request_id);
        if !serves_it {
            return;
        }
        let Some(serving) = worker.serving.take() else {
            return;
        };
        let retiring = worker.retiring;

        let request = serving.request;
        let latency_ms = self.now_ms - request.sent_at_ms;
        self.record_latency(latency_ms);
        events.push(Event::Completed {
            at_ms: self.now_ms,
            request_id: request.id,
            client_id: request.client_id,
            worker_id,
            latency_ms,
        });
        self.release_client(request.client_id, events);

        if retiring {
            self.workers.remove(index);
            events.push(Event::WorkerRemoved {
                at_ms: self.now_ms,
                worker_id,
            });
        } else if let Some(next) = self.queue.pop_front() {
            self.start(index, next, events);
        }
    }

    /// Starts the client's think time after a response, or removes it if it is leaving.
    fn release_client(&mut self, client_id: u32, events: &mut Vec<Event>) {
        let Ok(index) = self
            .clients
            .binary_search_by_key(&client_id, |client| client.id)
        else {
            return;
        };
        let leaving = self.clients.get(index).is_some_and(|client| client.leaving);
        if leaving {
            self.clients.remove(index);
            events.push(Event::ClientLeft {
                at_ms: self.now_ms,
                client_id,
            });
        } else {
            let until_ms = self.schedule_send(client_id);
            if let Some(client) = self.clients.get_mut(index) {
                client.state = ClientState::Thinking { until_ms };
            }
        }
    }

    /// Draws a think time, schedules the client's next send, and returns the send time.
    fn schedule_send(&mut self, client_id: u32) -> f64 {
        let until_ms = self.now_ms + self.rng.exponential(self.config.think_ms);
        self.calendar.push(Reverse(Scheduled {
            at_ms: until_ms,
            due: Due::Send { client_id },
        }));
        until_ms
    }

    fn record_latency(&mut self, latency_ms: f64) {
        self.completed += 1;
        self.latency_sum_ms += latency_ms;
        self.latencies.record_ms(latency_ms);

        let index = (self.now_ms / RECENT_SLICE_MS) as u64;
        while self
            .recent
            .front()
            .is_some_and(|slice| slice.index + RECENT_SLICES <= index)
        {
            self.recent.pop_front();
        }
        if self.recent.back().is_none_or(|slice| slice.index != index) {
            let slice = Slice {
                index,
                completed: 0,
                latency_sum_ms: 0.0,
                latencies: LatencyHistogram::new(),
            };
            self.recent.push_back(slice);
        }
        if let Some(slice) = self.recent.back_mut() {
            slice.completed += 1;
            slice.latency_sum_ms += latency_ms;
            slice.latencies.record_ms(latency_ms);
        }
    }

    fn recent_start_slice(&self) -> u64 {
        let now_slice = (self.now_ms / RECENT_SLICE_MS) as u64;
        now_slice.saturating_sub(RECENT_SLICES - 1)
    }

    fn recent_slices(&self) -> impl Iterator<Item = &Slice> {
        let start = self.recent_start_slice();
        self.recent.iter().filter(move |slice| slice.index >= start)
    }

    /// Returns the worker's position in `workers`, or `None` if there is no such worker.
    fn worker_index(&self, worker_id: u32) -> Option<usize> {
        self.workers
            .binary_search_by_key(&worker_id, |worker| worker.id)
            .ok()
    }

    fn client_mut(&mut self, client_id: u32) -> Option<&mut Client> {
        let index = self
            .clients
            .binary_search_by_key(&client_id, |client| client.id)
            .ok()?;
        self.clients.get_mut(index)
    }

    fn add_client(&mut self) -> u32 {
        let client_id = self.next_client_id;
        self.next_client_id = self.next_client_id.wrapping_add(1);
        let until_ms = self.schedule_send(client_id);
        let state = ClientState::Thinking { until_ms };
        self.clients.push(Client {
            id: client_id,
            state,
            leaving: false,
        });
        client_id
    }

    fn add_worker(&mut self) -> u32 {
        let worker_id = self.next_worker_id;
        self.next_worker_id = self.next_worker_id.wrapping_add(1);
        self.workers.push(Worker {
            id: worker_id,
            serving: None,
            retiring: false,
            up: true,
        });
        worker_id
    }

    fn set_clients(&mut self, target: u32) -> Vec<Event> {
        let mut events = Vec::new();
        let active = self.clients.iter().filter(|client| !client.leaving).count() as u32;
        if target > active {
            let mut missing = target - active;

            // A leaving client still has a request in flight, so keeping it is the quickest way
            // back to `target` active clients.
            for client in self.clients.iter_mut().filter(|client| client.leaving) {
                if missing == 0 {
                    break;
                }
                client.leaving = false;
                missing -= 1;
            }
            for _ in 0..missing {
                let client_id = self.add_client();
                events.push(Event::ClientJoined {
                    at_ms: self.now_ms,
                    client_id,
                });
            }
        } else {
            let mut excess = active - target;

            // The newest clients leave first. Thinking ones go now, the others after a response.
            for index in (0..self.clients.len()).rev() {
                if excess == 0 {
                    break;
                }
                let Some(client) = self.clients.get_mut(index) else {
                    continue;
                };
                if client.leaving {
                    continue;
                }
                excess -= 1;
                if matches!(client.state, ClientState::Thinking { .. }) {
                    let client_id = client.id;
                    self.clients.remove(index);
                    events.push(Event::ClientLeft {
                        at_ms: self.now_ms,
                        client_id,
                    });
                } else {
                    client.leaving = true;
                }
            }
        }
        self.config.clients = target;
        events
    }

    fn set_workers(&mut self, target: u32) -> Vec<Event> {
        let mut events = Vec::new();
        let active = self
            .workers
            .iter()
            .filter(|worker| !worker.retiring)
            .count() as u32;
        if target > active {
            let mut missing = target - active;

            // A retiring worker is still busy, so keeping it adds capacity without a new worker.
            for worker in self.workers.iter_mut().filter(|worker| worker.retiring) {
                if missing == 0 {
                    break;
                }
                worker.retiring = false;
                missing -= 1;
            }
            for _ in 0..missing {
                let worker_id = self.add_worker();
                events.push(Event::WorkerAdded {
                    at_ms: self.now_ms,
                    worker_id,
                });
            }
            self.config.workers = target;
            self.drain_queue(&mut events);
        } else {
            let mut excess = active - target;

            // Down workers go first, newest first, because removing them costs no capacity and
            // loses no request.
            for index in (0..self.workers.len()).rev() {
                if excess == 0 {
                    break;
                }
                let down = self.workers.get(index).is_some_and(|worker| !worker.up);
                if !down {
                    continue;
                }
                excess -= 1;
                let worker = self.workers.remove(index);
                events.push(Event::WorkerRemoved {
                    at_ms: self.now_ms,
                    worker_id: worker.id,
                });
            }

            // Then the newest up workers. Idle ones go now, busy ones after their request.
            for index in (0..self.workers.len()).rev() {
                if excess == 0 {
                    break;
                }
                let Some(worker) = self.workers.get_mut(index) else {
                    continue;
                };
                if worker.retiring {
                    continue;
                }
                excess -= 1;
                if worker.serving.is_none() {
                    let worker_id = worker.id;
                    self.workers.remove(index);
                    events.push(Event::WorkerRemoved {
                        at_ms: self.now_ms,
                        worker_id,
                    });
                } else {
                    worker.retiring = true;
                }
            }
            self.config.workers = target;
        }
        events
    }

    /// Gives queued requests to idle, up, active workers, lowest id first.
    fn drain_queue(&mut self, events: &mut Vec<Event>) {
        for index in 0..self.workers.len() {
            let idle = self.workers.get(index).is_some_and(Worker::takes_requests);
            if !idle {
                continue;
            }
            let Some(request) = self.queue.pop_front() else {
                break;
            };
            self.start(index, request, events);
        }
    }
}

/// Crashing and restarting workers.
impl ClientServer {
    fn inject(&mut self, fault: &Fault) -> Result<Vec<Event>, ActionError> {
        Self::check_fault(fault)?;
        match fault {
            Fault::Crash { node } => self.crash(*node),
            Fault::Restart { node } => self.restart(*node),
            // `check_fault` lets through only crash and restart.
            _ => Err(ActionError(format!("unsupported fault {fault:?}"))),
        }
    }

    /// Takes the worker down. Its request, if any, is lost and the client sends a new one at
    /// once. A retiring worker would have left after that request, so it leaves now.
    fn crash(&mut self, worker_id: u32) -> Result<Vec<Event>, ActionError> {
        let index = self.find_worker("crash", worker_id)?;
        let Some(worker) = self.workers.get_mut(index) else {
            return Err(self.unknown_worker("crash", worker_id));
        };
        if !worker.up {
            return Err(ActionError(format!(
                "cannot crash worker {worker_id}: it is already down. Restart it first."
            )));
        }
        worker.up = false;
        let lost = worker.serving.take().map(|serving| serving.request);
        let retiring = worker.retiring;

        let mut events = vec![Event::WorkerCrashed {
            at_ms: self.now_ms,
            worker_id,
            lost_request_id: lost.as_ref().map(|request| request.id),
        }];
        if retiring {
            self.workers.remove(index);
            events.push(Event::WorkerRemoved {
                at_ms: self.now_ms,
                worker_id,
            });
        }
        if let Some(request) = lost {
            self.failed += 1;
            self.reset_client(request.client_id, &mut events);
        }
        Ok(events)
    }

    /// Brings a down worker back, idle, and gives it the head of the queue.
    fn restart(&mut self, worker_id: u32) -> Result<Vec<Event>, ActionError> {
        let index = self.find_worker("restart", worker_id)?;
        let Some(worker) = self.workers.get_mut(index) else {
            return Err(self.unknown_worker("restart", worker_id));
        };
        if worker.up {
            return Err(ActionError(format!(
                "cannot restart worker {worker_id}: it is up. Crash it first."
            )));
        }
        worker.up = true;

        let mut events = vec![Event::WorkerRestarted {
            at_ms: self.now_ms,
            worker_id,
        }];
        if let Some(next) = self.queue.pop_front() {
            self.start(index, next, &mut events);
        }
        Ok(events)
    }

    /// Handles a connection reset after a crash: a leaving client leaves, and any other sends a
    /// new request at once, without thinking first.
    fn reset_client(&mut self, client_id: u32, events: &mut Vec<Event>) {
        let Ok(index) = self
            .clients
            .binary_search_by_key(&client_id, |client| client.id)
        else {
            return;
        };
        let leaving = self.clients.get(index).is_some_and(|client| client.leaving);
        if leaving {
            self.clients.remove(index);
            events.push(Event::ClientLeft {
                at_ms: self.now_ms,
                client_id,
            });
        } else {
            self.send(client_id, events);
        }
    }

    fn find_worker(&self, verb: &str, worker_id: u32) -> Result<usize, ActionError> {
        self.worker_index(worker_id)
            .ok_or_else(|| self.unknown_worker(verb, worker_id))
    }

    fn unknown_worker(&self, verb: &str, worker_id: u32) -> ActionError {
        let ids: Vec<u32> = self.workers.iter().map(|worker| worker.id).collect();
        ActionError(format!(
            "cannot {verb} worker {worker_id}: not found. Worker ids are {ids:?}."
        ))
    }
}

/// Workers are the nodes: a crash loses the request in service, and the client sends a new one.
impl Faults for ClientServer {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        self.workers
            .iter()
            .map(|worker| NodeStatus {
                id: worker.id,
                label: format!("worker {}", worker.id),
                up: worker.up,
            })
            .collect()
    }
}

impl Worker {
    /// Whether the worker can take a request now: up, not retiring and idle.
    fn takes_requests(&self) -> bool {
        self.up && !self.retiring && self.serving.is_none()
    }
}

fn per_second(count: u64, span_ms: f64) -> f64 {
    ratio(count as f64 * 1000.0, span_ms)
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

fn mean(sum: f64, count: u64) -> Option<f64> {
    (count > 0).then(|| sum / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(config: ClientServerConfig) -> ClientServer {
        match ClientServer::new(config, 7) {
            Ok(engine) => engine,
            Err(err) => panic!("valid config rejected: {err}"),
        }
    }

    #[test]
    fn default_config_is_valid() {
        let config = ClientServerConfig::default();

        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn config_rejects_zero_workers() {
        let config = ClientServerConfig {
            workers: 0,
            ..ClientServerConfig::default()
        };

        let err = ClientServer::new(config, 1).err();

        assert_eq!(err.map(|err| err.field), Some("workers"));
    }

    #[test]
    fn set_clients_out_of_range_names_the_range() {
        let mut engine = engine(ClientServerConfig::default());

        let err = engine.apply(&Action::SetClients { clients: 201 });

        assert_eq!(
            err,
            Err(ActionError(
                "invalid `clients`: 201 is out of range; use 1 to 200".to_string()
            ))
        );
    }

    #[test]
    fn new_engine_starts_idle() {
        let engine = engine(ClientServerConfig::default());

        assert_eq!(engine.clients().len(), 4);
        assert!(
            engine
                .clients()
                .iter()
                .all(|c| matches!(c.state, ClientState::Thinking { .. }))
        );
        assert_eq!(engine.workers().len(), 2);
        assert_eq!(engine.busy_workers(), 0);
    }

    #[test]
    fn zero_think_time_sends_in_first_step() {
        let config = ClientServerConfig {
            think_ms: 0.0,
            ..ClientServerConfig::default()
        };
        let mut engine = engine(config);

        let events = engine.step();

        let sent = events
            .iter()
            .filter(|event| matches!(event, Event::Sent { .. }))
            .count();
        assert_eq!(sent, 4);
        assert_eq!(engine.queue().len(), 2);
    }

    #[test]
    fn events_serialize_with_snake_case_type_tag() {
        let event = Event::Sent {
            at_ms: 1.5,
            request_id: 3,
            client_id: 2,
        };

        let json = serde_json::to_string(&event).ok();

        assert_eq!(
            json.as_deref(),
            Some(r#"{"type":"sent","at_ms":1.5,"request_id":3,"client_id":2}"#)
        );
    }

    #[test]
    fn actions_deserialize_from_snake_case_type_tag() {
        let action: Result<Action, _> =
            serde_json::from_str(r#"{"type":"set_workers","workers":3}"#);

        assert_eq!(action.ok(), Some(Action::SetWorkers { workers: 3 }));
    }
}
