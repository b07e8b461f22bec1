//! Sessions: users with a log-in session and a cart, behind a balancer, kept in one server's
//! memory (sticky) or in a shared store that every server reads (shared).
//!
//! `users` users make requests as one Poisson stream of `users * requests_per_user_per_s` requests
//! per second. User `i` (from 0) makes a share of them proportional to `1 / (i + 1)^activity_skew`,
//! so a skew of 0 makes every user equally active and a skew of 1 makes user 0 the busiest by far.
//! Each request takes one server `service_ms` times a factor drawn uniformly from 0.5 to 1.5. A
//! server serves one request at a time from its FIFO queue of at most `queue_limit` requests; a
//! request that finds the queue full is rejected, and so is one that arrives while no server is
//! up. A completed request adds one item to the user's cart.
//!
//! Two modes keep the sessions:
//!
//! - [`Mode::Sticky`]: the session lives in the memory of one server. A user's first request goes
//!   to the next up server in round-robin order, which creates the session there, and the balancer
//!   pins the user to that server for every later request. When the server crashes, every session
//!   in its memory is lost with the items in its carts, and those users must log in again: their
//!   next request goes to another server, which starts a new, empty session.
//! - [`Mode::Shared`]: the session lives in a shared store. Every request goes to the next up
//!   server in round-robin order, and the server reads and writes the session in the store, one
//!   round trip of `store_ms` that holds the server for that long. A crash loses the requests on
//!   the server but no session.
//!
//! With `compare` set the engine runs two lanes, one per mode, on the same arrivals (same users,
//! same sizes), so their numbers differ only because of where the sessions live. Crashes and
//! restarts apply to the server with that id in every lane. A restarted server holds no sessions.
//!
//! Within each step of [`STEP_MS`] the engine processes due events in time order. Ties go to
//! completions before arrivals, then to the lower lane and server.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{LatencyHistogram, Metric, Percentiles, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 20.0;

/// Maximum number of servers.
pub const MAX_SERVERS: u32 = 10;

/// Maximum number of users.
pub const MAX_USERS: u32 = 200;

/// Maximum request rate of one user, per second.
pub const MAX_RATE_PER_USER: f64 = 10.0;

/// Maximum activity skew.
pub const MAX_SKEW: f64 = 3.0;

/// Storage of the sessions: one server's memory or a shared store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// In the memory of the server the user is pinned to.
    #[default]
    Sticky,
    /// In a shared store that every server reads on every request.
    Shared,
}

impl Mode {
    /// Returns the name the widget and the metrics show.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sticky => "sticky sessions",
            Self::Shared => "shared store",
        }
    }

    /// Returns the mode the second lane runs in compare mode.
    pub fn other(self) -> Self {
        match self {
            Self::Sticky => Self::Shared,
            Self::Shared => Self::Sticky,
        }
    }
}

/// Parameters of the sessions widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Servers behind the balancer, 1 to [`MAX_SERVERS`].
    pub servers: u32,
    /// Users, each with at most one session, 1 to [`MAX_USERS`].
    pub users: u32,
    /// Mean requests per second of one user, averaged over the users, 0.01 to
    /// [`MAX_RATE_PER_USER`].
    pub requests_per_user_per_s: f64,
    /// Skew of the users' activity, 0 (all equal) to [`MAX_SKEW`].
    pub activity_skew: f64,
    /// Mean time a server works on one request, in milliseconds, 1 to 1000.
    pub service_ms: f64,
    /// Round trip to the shared store that every request pays in shared mode, in milliseconds,
    /// 0 to 1000.
    pub store_ms: f64,
    /// Requests a server queues, the one in service included, 1 to 1000; more are rejected.
    pub queue_limit: u32,
    /// Storage of the sessions.
    pub mode: Mode,
    /// Whether to run a second lane with the other mode on the same requests.
    pub compare: bool,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            servers: 3,
            users: 30,
            requests_per_user_per_s: 0.5,
            activity_skew: 0.0,
            service_ms: 40.0,
            store_ms: 5.0,
            queue_limit: 50,
            mode: Mode::Sticky,
            compare: false,
        }
    }
}

impl Config for SessionsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("servers", self.servers, 1, MAX_SERVERS)?;
        ConfigError::check_range_u32("users", self.users, 1, MAX_USERS)?;
        ConfigError::check_range_f64(
            "requests_per_user_per_s",
            self.requests_per_user_per_s,
            0.01,
            MAX_RATE_PER_USER,
        )?;
        ConfigError::check_range_f64("activity_skew", self.activity_skew, 0.0, MAX_SKEW)?;
        ConfigError::check_range_f64("service_ms", self.service_ms, 1.0, 1_000.0)?;
        ConfigError::check_range_f64("store_ms", self.store_ms, 0.0, 1_000.0)?;
        ConfigError::check_range_u32("queue_limit", self.queue_limit, 1, 1_000)?;
        Ok(())
    }
}

/// Reader actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Crashes or restarts the server whose id is the fault's node id, in every lane.
    Fault(Fault),
}

/// Location of a user's session, if the user has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "at", content = "server", rename_all = "snake_case")]
pub enum SessionHome {
    /// In the memory of this server, which the user is pinned to.
    Server(u32),
    /// In the shared store.
    Store,
}

/// Events of a step or an action. `lane` is 0, or 1 for the second mode in compare mode. The
/// events a log shows per lane also carry the lane's `mode`, so a log line can name it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A user sent a request to the balancer. Every lane receives it.
    Arrived {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new request.
        request_id: u64,
        /// The user who sent it.
        user: u32,
        /// Time a server works on it, store round trip excluded, in milliseconds.
        size_ms: f64,
    },
    /// The balancer sent the request to a server, which serves or queues it.
    Routed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
        /// The request.
        request_id: u64,
        /// The user.
        user: u32,
        /// The chosen server.
        server_id: u32,
        /// Whether the user was pinned to this server before the request (sticky mode only).
        pinned: bool,
    },
    /// A user without a session logged in, and the session was created where `home` says.
    SessionCreated {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
        /// The lane's mode.
        mode: Mode,
        /// The user.
        user: u32,
        /// Location of the session.
        home: SessionHome,
        /// Whether the user had a session that a crash lost: a forced second log-in.
        again: bool,
    },
    /// A server finished a request and the user's cart gained an item.
    Completed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
        /// The request.
        request_id: u64,
        /// The user.
        user: u32,
        /// The server that served it.
        server_id: u32,
        /// Time from arrival to completion (queue wait, work and store round trip), in ms.
        latency_ms: f64,
        /// Items in the user's cart after this request.
        cart: u64,
    },
    /// A request was rejected: its server's queue was full, or no server was up.
    Rejected {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
        /// The request.
        request_id: u64,
        /// The user.
        user: u32,
        /// The server whose queue was full, or `None` if no server was up.
        server_id: Option<u32>,
    },
    /// A server crashed: the requests on it failed and the sessions in its memory were lost.
    ServerCrashed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
        /// The lane's mode.
        mode: Mode,
        /// The server.
        server_id: u32,
        /// The requests that failed with it, in service first, then the queue from its head.
        failed_request_ids: Vec<u64>,
        /// The users whose sessions were in its memory, in rising order. Empty in shared mode.
        lost_sessions: Vec<u32>,
        /// Cart items lost with those sessions.
        lost_items: u64,
    },
    /// A crash left no server up in the lane: every request is rejected until one restarts.
    /// Comes after the crash's [`Event::ServerCrashed`] of every lane.
    AllServersDown {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The lane.
        lane: u32,
    },
    /// A crashed server restarted, idle and with no sessions.
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
    /// The user who sent it.
    pub user: u32,
    /// Simulated time the request arrived, in milliseconds.
    pub arrived_at_ms: f64,
    /// Time the server is held: the work plus, in shared mode, the store round trip, in ms.
    pub hold_ms: f64,
    /// Simulated time the request will complete, or `None` while it waits in the queue.
    pub done_at_ms: Option<f64>,
}

/// One server behind the balancer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    /// Server id, its position in the lane, from 0.
    pub id: u32,
    /// Whether the server is running. A crashed server gets no requests until restarted.
    pub up: bool,
    /// Requests on the server; the front one is in service, the rest wait.
    pub queue: VecDeque<Job>,
    /// Users whose sessions live in this server's memory (sticky mode only).
    pub sessions: BTreeSet<u32>,
    /// Requests this server completed.
    pub served: u64,
}

/// One user as a lane sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct User {
    /// Location of the user's session, or `None` before the first log-in and after a loss.
    pub session: Option<SessionHome>,
    /// Items in the cart of the current session.
    pub cart: u64,
    /// Whether a crash lost the user's session, so that the next request logs in again.
    pub lost: bool,
    /// Times the user had to log in again after a lost session.
    pub logins_again: u32,
}

/// One mode's view of the cluster: its servers, its users and its counters.
#[derive(Debug, Clone)]
pub struct Lane {
    mode: Mode,
    servers: Vec<Server>,
    users: Vec<User>,
    /// Position where the next round-robin scan starts: one past the last pick.
    next: usize,
    completed: u64,
    rejected: u64,
    failed: u64,
    sessions_lost: u64,
    items_lost: u64,
    logins_again: u64,
    latencies: LatencyHistogram,
}

impl Lane {
    /// Returns the lane's mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Returns the servers, in id order.
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// Returns the users, in id order.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Requests this lane completed.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Requests this lane rejected because a queue was full or no server was up.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Requests this lane lost in crashes.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Requests on this lane's servers, queued or in service.
    pub fn in_flight(&self) -> u64 {
        self.servers.iter().map(|s| s.queue.len() as u64).sum()
    }

    /// Sessions this lane lost in crashes.
    pub fn sessions_lost(&self) -> u64 {
        self.sessions_lost
    }

    /// Cart items lost with those sessions.
    pub fn items_lost(&self) -> u64 {
        self.items_lost
    }

    /// Log-ins forced by a lost session.
    pub fn logins_again(&self) -> u64 {
        self.logins_again
    }

    /// Users with a session now.
    pub fn active_sessions(&self) -> u64 {
        self.users.iter().filter(|u| u.session.is_some()).count() as u64
    }

    /// Users whose session a crash lost and who have not logged in again yet.
    pub fn users_logged_out(&self) -> u64 {
        self.users.iter().filter(|u| u.lost).count() as u64
    }

    /// Latency percentiles of the requests this lane completed, or `None` before the first.
    pub fn latency_percentiles(&self) -> Option<Percentiles> {
        self.latencies.percentiles()
    }

    /// Returns the lowest and highest served count over the servers.
    pub fn served_range(&self) -> (u64, u64) {
        let served = self.servers.iter().map(|server| server.served);
        let low = served.clone().min().unwrap_or(0);
        let high = served.max().unwrap_or(0);
        (low, high)
    }

    /// Returns the next up server in round-robin order, or `None` if none is up.
    fn next_up(&self) -> Option<usize> {
        let count = self.servers.len();
        (0..count)
            .map(|offset| (self.next + offset) % count.max(1))
            .find(|&index| self.servers.get(index).is_some_and(|s| s.up))
    }
}

/// The sessions engine.
#[derive(Debug, Clone)]
pub struct Sessions {
    config: SessionsConfig,
    rng: SimRng,
    /// Cumulative activity weights of the users, for drawing who sends the next request.
    cumulative: Vec<f64>,
    steps: u64,
    now_ms: f64,
    next_arrival_ms: f64,
    next_request_id: u64,
    arrived: u64,
    lanes: Vec<Lane>,
}

impl Engine for Sessions {
    type Config = SessionsConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: SessionsConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut modes = vec![config.mode];
        if config.compare {
            modes.push(config.mode.other());
        }
        let lanes = modes
            .into_iter()
            .map(|mode| Lane {
                mode,
                servers: (0..config.servers)
                    .map(|id| Server {
                        id,
                        up: true,
                        queue: VecDeque::new(),
                        sessions: BTreeSet::new(),
                        served: 0,
                    })
                    .collect(),
                users: vec![
                    User {
                        session: None,
                        cart: 0,
                        lost: false,
                        logins_again: 0,
                    };
                    config.users as usize
                ],
                next: 0,
                completed: 0,
                rejected: 0,
                failed: 0,
                sessions_lost: 0,
                items_lost: 0,
                logins_again: 0,
                latencies: LatencyHistogram::new(),
            })
            .collect();
        let mut total = 0.0;
        let cumulative = (0..config.users)
            .map(|user| {
                total += libm::pow(f64::from(user) + 1.0, -config.activity_skew);
                total
            })
            .collect();
        let mut engine = Self {
            config,
            rng: SimRng::new(seed),
            cumulative,
            steps: 0,
            now_ms: 0.0,
            next_arrival_ms: 0.0,
            next_request_id: 0,
            arrived: 0,
            lanes,
        };
        engine.next_arrival_ms = engine.draw_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_ms = self.steps as f64 * STEP_MS;
        let mut events = Vec::new();
        loop {
            match self.next_completion() {
                Some((at_ms, lane, server)) if at_ms <= end_ms && at_ms <= self.next_arrival_ms => {
                    self.now_ms = at_ms;
                    self.complete(lane, server, &mut events);
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
            Action::Fault(fault) => self.inject(fault),
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let seconds = self.now_ms / 1000.0;
        let mut metrics = vec![
            Metric::new("time", "Time", seconds, format!("{seconds:.1} s")),
            Metric::count("arrived", "Requests", self.arrived),
        ];
        let mut samples = Vec::new();
        match self.lanes.as_slice() {
            [lane] => {
                metrics.push(Metric::count("completed", "Completed", lane.completed));
                metrics.push(Metric::count(
                    "sessions-lost",
                    "Sessions lost",
                    lane.sessions_lost,
                ));
                metrics.push(Metric::count(
                    "logins-again",
                    "Logged in again",
                    lane.logins_again,
                ));
                metrics.push(Metric::count(
                    "items-lost",
                    "Cart items lost",
                    lane.items_lost,
                ));
                metrics.push(Metric::count("failed", "Failed (crash)", lane.failed));
                metrics.push(Metric::count("rejected", "Rejected", lane.rejected));
                let (low, high) = lane.served_range();
                metrics.push(Metric::new(
                    "served-spread",
                    "Served per server",
                    (high - low) as f64,
                    format!("{low}–{high}"),
                ));
                samples.push(Sample {
                    label: "Users logged out",
                    value: lane.users_logged_out() as f64,
                });
            }
            lanes => {
                for lane in lanes {
                    let keys = lane_keys(lane.mode);
                    let percentiles = lane.latency_percentiles();
                    metrics.push(Metric::count(keys.lost.0, keys.lost.1, lane.sessions_lost));
                    metrics.push(Metric::count(keys.again.0, keys.again.1, lane.logins_again));
                    metrics.push(Metric::count(keys.items.0, keys.items.1, lane.items_lost));
                    let p50 = percentiles.map(|p| p.p50_ms);
                    let p99 = percentiles.map(|p| p.p99_ms);
                    metrics.push(Metric::millis(keys.p50.0, keys.p50.1, p50));
                    metrics.push(Metric::millis(keys.p99.0, keys.p99.1, p99));
                    samples.push(Sample {
                        label: keys.logged_out,
                        value: lane.users_logged_out() as f64,
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

/// Metric keys and labels of one lane in compare mode.
struct LaneKeys {
    lost: KeyLabel,
    again: KeyLabel,
    items: KeyLabel,
    p50: KeyLabel,
    p99: KeyLabel,
    logged_out: &'static str,
}

fn lane_keys(mode: Mode) -> LaneKeys {
    match mode {
        Mode::Sticky => LaneKeys {
            lost: ("sticky-lost", "Sticky: sessions lost"),
            again: ("sticky-again", "Sticky: logged in again"),
            items: ("sticky-items", "Sticky: cart items lost"),
            p50: ("sticky-p50", "Sticky: p50"),
            p99: ("sticky-p99", "Sticky: p99"),
            logged_out: "Logged out, sticky",
        },
        Mode::Shared => LaneKeys {
            lost: ("shared-lost", "Shared: sessions lost"),
            again: ("shared-again", "Shared: logged in again"),
            items: ("shared-items", "Shared: cart items lost"),
            p50: ("shared-p50", "Shared: p50"),
            p99: ("shared-p99", "Shared: p99"),
            logged_out: "Logged out, shared",
        },
    }
}

/// Read-only accessors for the widget and the tests.
impl Sessions {
    /// Returns the configuration.
    pub fn config(&self) -> &SessionsConfig {
        &self.config
    }

    /// Returns one lane per mode: the configured one first, then the other in compare mode.
    pub fn lanes(&self) -> &[Lane] {
        &self.lanes
    }

    /// Requests that arrived at the balancer. Every lane received each of them.
    pub fn arrived(&self) -> u64 {
        self.arrived
    }

    /// Returns each user's expected share of the requests, in user order; they sum to 1.
    pub fn activity_shares(&self) -> Vec<f64> {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let mut previous = 0.0;
        self.cumulative
            .iter()
            .map(|&sum| {
                let share = (sum - previous) / total;
                previous = sum;
                share
            })
            .collect()
    }
}

/// Arrivals, routing and completions.
impl Sessions {
    /// Draws the time to the next arrival: exponential with mean 1 / (users * rate per user).
    fn draw_gap_ms(&mut self) -> f64 {
        let rate = f64::from(self.config.users) * self.config.requests_per_user_per_s;
        self.rng.exponential(1000.0 / rate)
    }

    /// Draws the user who sends the next request, weighted by activity.
    fn draw_user(&mut self) -> u32 {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = self.rng.uniform() * total;
        let index = self.cumulative.partition_point(|&sum| sum <= target);
        index.min(self.cumulative.len().saturating_sub(1)) as u32
    }

    /// Returns the earliest completion as (time, lane, server), ties to the lower lane and server.
    fn next_completion(&self) -> Option<(f64, usize, usize)> {
        let mut best: Option<(f64, usize, usize)> = None;
        for (lane_index, lane) in self.lanes.iter().enumerate() {
            for (server_index, server) in lane.servers.iter().enumerate() {
                let Some(done_at_ms) = server.queue.front().and_then(|job| job.done_at_ms) else {
                    continue;
                };
                if best.is_none_or(|(at_ms, _, _)| done_at_ms < at_ms) {
                    best = Some((done_at_ms, lane_index, server_index));
                }
            }
        }
        best
    }

    /// Draws the request's user and size, then routes it in every lane.
    fn arrive(&mut self, events: &mut Vec<Event>) {
        let user = self.draw_user();
        let size_ms = self.config.service_ms * (0.5 + self.rng.uniform());
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.arrived += 1;
        events.push(Event::Arrived {
            at_ms: self.now_ms,
            request_id,
            user,
            size_ms,
        });
        for lane in 0..self.lanes.len() {
            self.route(lane, request_id, user, size_ms, events);
        }
    }

    fn route(
        &mut self,
        lane_index: usize,
        request_id: u64,
        user: u32,
        size_ms: f64,
        events: &mut Vec<Event>,
    ) {
        let now_ms = self.now_ms;
        let lane_id = lane_index as u32;
        let queue_limit = self.config.queue_limit as usize;
        let store_ms = self.config.store_ms;
        let Some(lane) = self.lanes.get_mut(lane_index) else {
            return;
        };
        let Some(state) = lane.users.get(user as usize).copied() else {
            return;
        };
        let pinned = match (lane.mode, state.session) {
            (Mode::Sticky, Some(SessionHome::Server(id))) => Some(id as usize),
            _ => None,
        };
        let Some(index) = pinned.or_else(|| lane.next_up()) else {
            lane.rejected += 1;
            events.push(Event::Rejected {
                at_ms: now_ms,
                lane: lane_id,
                request_id,
                user,
                server_id: None,
            });
            return;
        };
        if pinned.is_none() {
            lane.next = index + 1;
        }
        let Some(server) = lane.servers.get_mut(index) else {
            return;
        };
        events.push(Event::Routed {
            at_ms: now_ms,
            lane: lane_id,
            request_id,
            user,
            server_id: server.id,
            pinned: pinned.is_some(),
        });
        if server.queue.len() >= queue_limit {
            lane.rejected += 1;
            events.push(Event::Rejected {
                at_ms: now_ms,
                lane: lane_id,
                request_id,
                user,
                server_id: Some(server.id),
            });
            return;
        }

        let hold_ms = match lane.mode {
            Mode::Sticky => size_ms,
            Mode::Shared => size_ms + store_ms,
        };
        let done_at_ms = server.queue.is_empty().then_some(now_ms + hold_ms);
        server.queue.push_back(Job {
            request_id,
            user,
            arrived_at_ms: now_ms,
            hold_ms,
            done_at_ms,
        });

        // The server that accepts a user's request without a session logs the user in.
        if state.session.is_none() {
            let home = match lane.mode {
                Mode::Sticky => {
                    server.sessions.insert(user);
                    SessionHome::Server(server.id)
                }
                Mode::Shared => SessionHome::Store,
            };
            let again = state.lost;
            if again {
                lane.logins_again += 1;
            }
            if let Some(record) = lane.users.get_mut(user as usize) {
                *record = User {
                    session: Some(home),
                    cart: 0,
                    lost: false,
                    logins_again: record.logins_again + u32::from(again),
                };
            }
            events.push(Event::SessionCreated {
                at_ms: now_ms,
                lane: lane_id,
                mode: lane.mode,
                user,
                home,
                again,
            });
        }
    }

    /// Finishes the request in service on a server, adds an item to the user's cart, and starts
    /// the next request in the queue.
    fn complete(&mut self, lane_index: usize, server_index: usize, events: &mut Vec<Event>) {
        let now_ms = self.now_ms;
        let Some(lane) = self.lanes.get_mut(lane_index) else {
            return;
        };
        let Some(server) = lane.servers.get_mut(server_index) else {
            return;
        };
        let Some(job) = server.queue.pop_front() else {
            return;
        };
        if let Some(next) = server.queue.front_mut() {
            next.done_at_ms = Some(now_ms + next.hold_ms);
        }
        server.served += 1;
        let server_id = server.id;

        let latency_ms = now_ms - job.arrived_at_ms;
        lane.completed += 1;
        lane.latencies.record_ms(latency_ms);
        let cart = match lane.users.get_mut(job.user as usize) {
            Some(user) => {
                user.cart += 1;
                user.cart
            }
            None => 0,
        };
        events.push(Event::Completed {
            at_ms: now_ms,
            lane: lane_index as u32,
            request_id: job.request_id,
            user: job.user,
            server_id,
            latency_ms,
            cart,
        });
    }
}

/// Crashing and restarting servers.
impl Sessions {
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
        // Outages follow every lane's crash, so the crashes come first in the log.
        let mut outages = Vec::new();
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
            let failed: Vec<u64> = server.queue.drain(..).map(|job| job.request_id).collect();
            let lost: Vec<u32> = std::mem::take(&mut server.sessions).into_iter().collect();
            let mut lost_items = 0;
            for &user in &lost {
                if let Some(record) = lane.users.get_mut(user as usize) {
                    lost_items += record.cart;
                    record.session = None;
                    record.cart = 0;
                    record.lost = true;
                }
            }
            lane.failed += failed.len() as u64;
            lane.sessions_lost += lost.len() as u64;
            lane.items_lost += lost_items;
            events.push(Event::ServerCrashed {
                at_ms: now_ms,
                lane: lane_index as u32,
                mode: lane.mode,
                server_id,
                failed_request_ids: failed,
                lost_sessions: lost,
                lost_items,
            });
            if lane.servers.iter().all(|server| !server.up) {
                outages.push(Event::AllServersDown {
                    at_ms: now_ms,
                    lane: lane_index as u32,
                });
            }
        }
        events.extend(outages);
        Ok(events)
    }
}

/// Servers are the nodes: a crash fails the requests on the server in every lane and, in sticky
/// mode, loses the sessions in its memory.
impl Faults for Sessions {
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
        assert_eq!(SessionsConfig::default().validate(), Ok(()));
    }

    #[test]
    fn mode_deserializes_from_snake_case() {
        let config: Result<SessionsConfig, _> =
            serde_json::from_str(r#"{"mode":"shared","compare":true}"#);

        let config = config.ok();
        assert_eq!(config.as_ref().map(|c| c.mode), Some(Mode::Shared));
        assert_eq!(config.map(|c| c.compare), Some(true));
    }

    #[test]
    fn activity_shares_sum_to_one() {
        let config = SessionsConfig {
            activity_skew: 1.0,
            ..SessionsConfig::default()
        };
        let engine = Sessions::new(config, 1).ok();

        let shares = engine.map(|e| e.activity_shares()).unwrap_or_default();

        assert_eq!(shares.len(), 30);
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(shares[0] > shares[1]);
    }
}
