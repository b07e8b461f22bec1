//! Proxy: one intermediary between clients and servers, as a forward or a reverse proxy.
//!
//! In forward mode the proxy sits at the edge of a client network. Clients
//! inside send every request for a few origin sites through it. The proxy
//! itself responds `403 Forbidden` to requests for sites on its denylist and
//! serves fresh cached responses, and it forwards the rest from its own
//! address, so an origin sees the proxy and never a client. Every cache hit saves one
//! response's worth of uplink bandwidth.
//!
//! In reverse mode the proxy stands in front of a site's servers. Clients on
//! the internet open TLS connections to it, and it routes each request by the
//! longest matching path prefix: `/api/` and `/` to a pool of app servers,
//! `/static/` to one static server whose responses it caches. Backends see
//! only the proxy's internal address, plus the client's address in
//! `X-Forwarded-For`. A crashed backend gets no requests; the proxy picks the
//! next live server in the pool, responds `503 Service Unavailable` when the
//! pool has none, and `502 Bad Gateway` for requests the backend was serving
//! when it crashed.
//!
//! Arrivals are a Poisson process. Each request picks a client uniformly and
//! an object with a skew towards low numbers, so some objects are popular.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{LatencyHistogram, Metric, Percentiles, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Origin sites in forward mode; the last `blocked_sites` are on the denylist.
pub const SITES: [&str; 4] = [
    "news.example",
    "docs.example",
    "video.example",
    "ads.example",
];

/// Maximum number of clients.
pub const MAX_CLIENTS: u32 = 12;

/// Maximum number of app servers in reverse mode.
pub const MAX_APP_SERVERS: u32 = 6;

/// Maximum arrival rate, in requests per second.
pub const MAX_ARRIVAL_PER_S: f64 = 500.0;

/// Size of every response, in kilobytes, for the bandwidth counters.
pub const RESPONSE_KB: u64 = 100;

/// Round trip between a client and a forward proxy on the same network, in milliseconds.
pub const LAN_RTT_MS: f64 = 2.0;

/// Round trip between an internet client and a reverse proxy, in milliseconds.
pub const EDGE_RTT_MS: f64 = 30.0;

/// Requests a client sends on one connection before it opens a new one, which in reverse
/// mode costs a TLS handshake at the proxy.
pub const REQUESTS_PER_CONNECTION: u32 = 10;

/// Address the origins see in forward mode: the proxy's public address.
pub const PROXY_PUBLIC_ADDR: &str = "203.0.113.1";

/// Address the backends see in reverse mode: the proxy's address on the internal network.
pub const PROXY_INTERNAL_ADDR: &str = "10.0.1.1";

/// Whether the proxy acts for the clients or for the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Clients in one network reach many origin sites through the proxy.
    #[default]
    Forward,
    /// Clients on the internet reach one site's backends through the proxy.
    Reverse,
}

/// Backend pool a reverse-proxy route sends requests to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// The app servers, nodes `0..app_servers`.
    App,
    /// The static file server, node `app_servers`.
    Static,
}

/// One entry of the reverse proxy's routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Path prefix the route matches.
    pub prefix: &'static str,
    /// Pool that serves matching requests.
    pub pool: Pool,
    /// Whether the proxy caches the route's responses.
    pub cached: bool,
}

/// The reverse proxy's routing table, in no particular order: the longest matching prefix wins.
pub const ROUTES: [Route; 3] = [
    Route {
        prefix: "/",
        pool: Pool::App,
        cached: false,
    },
    Route {
        prefix: "/static/",
        pool: Pool::Static,
        cached: true,
    },
    Route {
        prefix: "/api/",
        pool: Pool::App,
        cached: false,
    },
];

/// Returns the route with the longest prefix that `path` starts with, if any.
pub fn route_for(path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .filter(|route| path.starts_with(route.prefix))
        .max_by_key(|route| route.prefix.len())
}

/// Parameters of the proxy widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// Forward or reverse proxy.
    pub mode: Mode,
    /// Clients sending requests, 1 to [`MAX_CLIENTS`].
    pub clients: u32,
    /// Mean rate of requests from all clients together (Poisson arrivals), per second.
    pub arrival_per_s: f64,
    /// Seconds a cached response stays fresh; 0 turns the cache off.
    pub cache_ttl_s: f64,
    /// Mean time from the proxy to an origin or backend and back, in milliseconds; each
    /// request takes 0.5 to 1.5 times this.
    pub upstream_ms: f64,
    /// Distinct objects per site (forward) or per route (reverse), 1 to 1000.
    pub objects: u32,
    /// Forward mode: how many of the last [`SITES`] are on the denylist, 0 to 3.
    pub blocked_sites: u32,
    /// Reverse mode: app servers behind `/api/` and `/`, 1 to [`MAX_APP_SERVERS`].
    pub app_servers: u32,
    /// Reverse mode: fraction of requests for `/api/`; of the rest, nine in ten are for
    /// `/static/` and one in ten for the home page `/`.
    pub api_fraction: f64,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Forward,
            clients: 4,
            arrival_per_s: 20.0,
            cache_ttl_s: 30.0,
            upstream_ms: 80.0,
            objects: 20,
            blocked_sites: 1,
            app_servers: 3,
            api_fraction: 0.5,
        }
    }
}

impl Config for ProxyConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("clients", self.clients, 1, MAX_CLIENTS)?;
        ConfigError::check_range_f64("arrival_per_s", self.arrival_per_s, 0.0, MAX_ARRIVAL_PER_S)?;
        ConfigError::check_range_f64("cache_ttl_s", self.cache_ttl_s, 0.0, 3600.0)?;
        ConfigError::check_range_f64("upstream_ms", self.upstream_ms, 1.0, 5000.0)?;
        ConfigError::check_range_u32("objects", self.objects, 1, 1000)?;
        let max_blocked = SITES.len() as u32 - 1;
        ConfigError::check_range_u32("blocked_sites", self.blocked_sites, 0, max_blocked)?;
        ConfigError::check_range_u32("app_servers", self.app_servers, 1, MAX_APP_SERVERS)?;
        ConfigError::check_range_f64("api_fraction", self.api_fraction, 0.0, 1.0)?;
        Ok(())
    }
}

/// Reader actions between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Empties the proxy's cache.
    Purge,
    /// Crashes or restarts an origin (forward) or a backend (reverse).
    Fault(Fault),
}

/// Outcome of a request at the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A fresh cached response, with no upstream contact.
    Hit,
    /// A cacheable request with no fresh cache entry, forwarded upstream.
    Miss,
    /// A request the proxy never caches, forwarded upstream.
    Pass,
    /// A request for a site on the denylist: `403 Forbidden`.
    Blocked,
    /// No live server for the request: `503 Service Unavailable` in reverse mode, `502 Bad
    /// Gateway` from a forward proxy whose origin refuses connections.
    Unavailable,
    /// The backend crashed while serving the request: `502 Bad Gateway`.
    Broken,
}

impl Outcome {
    /// Returns whether the proxy forwarded the request upstream.
    pub fn forwarded(self) -> bool {
        matches!(self, Self::Miss | Self::Pass | Self::Broken)
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The proxy sent a request upstream; `from` is the source address the server sees.
    Forwarded {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The request's id, counted from 0.
        request_id: u64,
        /// The origin or backend that receives it.
        node: u32,
        /// Site and path (forward) or path (reverse).
        target: String,
        /// Source address of the connection the server accepts.
        from: String,
        /// `X-Forwarded-For` value the proxy adds, if any.
        forwarded_for: Option<String>,
    },
    /// The proxy sent a response to a client.
    Served {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The request's id.
        request_id: u64,
        /// The client, counted from 0.
        client: u32,
        /// Site and path (forward) or path (reverse).
        target: String,
        /// Prefix of the route that matched, in reverse mode.
        route: Option<&'static str>,
        /// Outcome at the proxy.
        outcome: Outcome,
        /// HTTP status code.
        status: u16,
        /// Time from the client's request to the response, in milliseconds.
        latency_ms: f64,
    },
    /// A client opened a TLS connection to the reverse proxy.
    TlsHandshake {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The client.
        client: u32,
    },
    /// An origin or backend crashed; its requests in flight fail with 502.
    Crashed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node.
        node: u32,
        /// The node's label, as the fault controls show it.
        label: String,
        /// Requests it was serving.
        lost_request_ids: Vec<u64>,
    },
    /// An origin or backend started again.
    Restarted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node.
        node: u32,
        /// The node's label, as the fault controls show it.
        label: String,
    },
    /// The reader emptied the cache.
    Purged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Entries removed.
        entries: usize,
    },
}

/// An origin site (forward) or a backend server (reverse).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// The id that faults take.
    pub id: u32,
    /// Site name, `app N` or `static`.
    pub label: String,
    /// Whether it accepts connections.
    pub up: bool,
    /// Requests it has received from the proxy.
    pub requests: u64,
    /// Distinct source addresses it has seen, in order of first appearance.
    pub seen_from: Vec<String>,
    /// Whether it is on the denylist (forward mode).
    pub blocked: bool,
}

/// A response the proxy will send once its time comes.
#[derive(Debug, Clone)]
struct Pending {
    done_ms: f64,
    request_id: u64,
    client: u32,
    target: String,
    route: Option<&'static str>,
    outcome: Outcome,
    started_ms: f64,
    /// Upstream node serving it, for forwarded requests.
    node: Option<u32>,
    /// Cache key to store on success, for misses.
    cache_key: Option<String>,
}

/// The proxy engine.
#[derive(Debug, Clone)]
pub struct Proxy {
    config: ProxyConfig,
    rng: SimRng,
    now_ms: f64,
    next_arrival_ms: f64,
    next_request_id: u64,
    nodes: Vec<Node>,
    /// Cached responses: key to expiry time.
    cache: BTreeMap<String, f64>,
    /// Responses in flight, ordered by `done_ms`.
    pending: VecDeque<Pending>,
    /// Requests left on each client's current connection.
    connection_left: Vec<u32>,
    /// Round-robin position in the app pool.
    next_app: u32,
    counts: Counts,
    latency: LatencyHistogram,
    hit_latency: LatencyHistogram,
    forwarded_latency: LatencyHistogram,
    last_forwarded: Option<(u32, u32, String)>,
}

/// Running totals for the metrics panel.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Requests that arrived.
    pub requests: u64,
    /// Responses sent.
    pub served: u64,
    /// Cache hits.
    pub hits: u64,
    /// Cacheable requests that missed.
    pub misses: u64,
    /// Requests refused by the denylist.
    pub blocked: u64,
    /// Responses with status 502 or 503.
    pub errors: u64,
    /// TLS handshakes at the proxy (reverse mode).
    pub edge_handshakes: u64,
    /// TLS handshakes between the proxy and backends; plain HTTP inside, so always 0.
    pub internal_handshakes: u64,
    /// Kilobytes fetched from origins over the uplink.
    pub uplink_kb: u64,
    /// Kilobytes served from the cache instead of the uplink.
    pub saved_kb: u64,
    /// Requests per route, in [`ROUTES`] order (reverse mode).
    pub per_route: [u64; 3],
}

impl Proxy {
    /// Returns the configuration the engine runs with.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// Returns the origins (forward) or the backends (reverse), by id.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Returns the running totals.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Returns the cached entries that are still fresh now.
    pub fn fresh_entries(&self) -> usize {
        self.cache
            .values()
            .filter(|&&expiry| expiry > self.now_ms)
            .count()
    }

    /// Returns hits over cacheable requests, or `None` before the first one.
    pub fn hit_ratio(&self) -> Option<f64> {
        let lookups = self.counts.hits + self.counts.misses;
        (lookups > 0).then(|| self.counts.hits as f64 / lookups as f64)
    }

    /// Returns percentiles of all responses.
    pub fn latency_percentiles(&self) -> Option<Percentiles> {
        self.latency.percentiles()
    }

    /// Returns percentiles of cache hits only.
    pub fn hit_percentiles(&self) -> Option<Percentiles> {
        self.hit_latency.percentiles()
    }

    /// Returns percentiles of forwarded requests only, which is what every request would
    /// take without the cache.
    pub fn forwarded_percentiles(&self) -> Option<Percentiles> {
        self.forwarded_latency.percentiles()
    }

    /// Returns the last forwarded request as (client, node, source address the node saw).
    pub fn last_forwarded(&self) -> Option<(u32, u32, &str)> {
        self.last_forwarded
            .as_ref()
            .map(|(client, node, from)| (*client, *node, from.as_str()))
    }

    /// Returns the requests waiting for a response.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Returns a client's address: private in forward mode, public in reverse mode.
    pub fn client_addr(&self, client: u32) -> String {
        match self.config.mode {
            Mode::Forward => format!("10.0.0.{}", 11 + client),
            Mode::Reverse => format!("198.51.100.{}", 11 + client),
        }
    }

    fn draw_gap_ms(&mut self) -> f64 {
        if self.config.arrival_per_s > 0.0 {
            self.rng.exponential(1000.0 / self.config.arrival_per_s)
        } else {
            f64::INFINITY
        }
    }

    /// Draws an object number, skewed so that object 0 is the most popular.
    fn draw_object(&mut self) -> u64 {
        let limit = self.rng.below(u64::from(self.config.objects)) + 1;
        self.rng.below(limit)
    }

    fn upstream_latency_ms(&mut self) -> f64 {
        self.config.upstream_ms * (0.5 + self.rng.uniform())
    }

    /// Queues a response so that `pending` stays ordered by time, ties in arrival order.
    fn schedule(&mut self, pending: Pending) {
        let index = self
            .pending
            .partition_point(|other| other.done_ms <= pending.done_ms);
        self.pending.insert(index, pending);
    }

    /// Looks `key` up, returning whether it has a fresh entry.
    fn cache_fresh(&self, key: &str, at_ms: f64) -> bool {
        self.config.cache_ttl_s > 0.0 && self.cache.get(key).is_some_and(|&expiry| expiry > at_ms)
    }

    /// Sends a request upstream to `node` and records what the node sees.
    fn forward_to(
        &mut self,
        at_ms: f64,
        request_id: u64,
        client: u32,
        node: u32,
        target: &str,
    ) -> Event {
        let (from, forwarded_for) = match self.config.mode {
            // A forward proxy adds nothing that identifies the client.
            Mode::Forward => (PROXY_PUBLIC_ADDR.to_string(), None),
            Mode::Reverse => (
                PROXY_INTERNAL_ADDR.to_string(),
                Some(self.client_addr(client)),
            ),
        };
        if let Some(entry) = self.nodes.get_mut(node as usize) {
            entry.requests += 1;
            if !entry.seen_from.contains(&from) {
                entry.seen_from.push(from.clone());
            }
        }
        self.last_forwarded = Some((client, node, from.clone()));
        Event::Forwarded {
            at_ms,
            request_id,
            node,
            target: target.to_string(),
            from,
            forwarded_for,
        }
    }

    fn arrive(&mut self, at_ms: f64, events: &mut Vec<Event>) {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.counts.requests += 1;
        let client = self.rng.below(u64::from(self.config.clients)) as u32;
        match self.config.mode {
            Mode::Forward => self.arrive_forward(at_ms, request_id, client, events),
            Mode::Reverse => self.arrive_reverse(at_ms, request_id, client, events),
        }
    }

    fn arrive_forward(
        &mut self,
        at_ms: f64,
        request_id: u64,
        client: u32,
        events: &mut Vec<Event>,
    ) {
        let site = self.rng.below(SITES.len() as u64) as u32;
        let object = self.draw_object();
        let target = format!("{}/page/{object}", SITES[site as usize]);
        let mut pending = Pending {
            done_ms: at_ms + LAN_RTT_MS,
            request_id,
            client,
            target: target.clone(),
            route: None,
            outcome: Outcome::Blocked,
            started_ms: at_ms,
            node: None,
            cache_key: None,
        };
        let blocked = self
            .nodes
            .get(site as usize)
            .is_none_or(|node| node.blocked);
        if blocked {
            self.counts.blocked += 1;
        } else if self.cache_fresh(&target, at_ms) {
            pending.outcome = Outcome::Hit;
            self.counts.hits += 1;
        } else {
            self.counts.misses += 1;
            let up = self.nodes.get(site as usize).is_some_and(|node| node.up);
            if up {
                pending.outcome = Outcome::Miss;
                pending.done_ms += self.upstream_latency_ms();
                pending.node = Some(site);
                pending.cache_key = Some(target.clone());
                events.push(self.forward_to(at_ms, request_id, client, site, &target));
            } else {
                pending.outcome = Outcome::Unavailable;
            }
        }
        self.schedule(pending);
    }

    fn arrive_reverse(
        &mut self,
        at_ms: f64,
        request_id: u64,
        client: u32,
        events: &mut Vec<Event>,
    ) {
        let mut start_ms = at_ms;
        if let Some(left) = self.connection_left.get_mut(client as usize) {
            if *left == 0 {
                *left = REQUESTS_PER_CONNECTION;
                self.counts.edge_handshakes += 1;
                // TCP and TLS 1.3 each take one round trip before the request can go.
                start_ms += 2.0 * EDGE_RTT_MS;
                events.push(Event::TlsHandshake { at_ms, client });
            }
            *left -= 1;
        }

        let object = self.draw_object();
        let path = if self.rng.uniform() < self.config.api_fraction {
            format!("/api/items/{object}")
        } else if self.rng.below(10) == 0 {
            "/".to_string()
        } else {
            format!("/static/app-{object}.js")
        };
        let Some(route_index) = ROUTES
            .iter()
            .position(|route| Some(route) == route_for(&path))
        else {
            return;
        };
        let route = ROUTES[route_index];
        if let Some(count) = self.counts.per_route.get_mut(route_index) {
            *count += 1;
        }

        let mut pending = Pending {
            done_ms: start_ms + EDGE_RTT_MS,
            request_id,
            client,
            target: path.clone(),
            route: Some(route.prefix),
            outcome: Outcome::Pass,
            started_ms: at_ms,
            node: None,
            cache_key: None,
        };
        if route.cached && self.cache_fresh(&path, at_ms) {
            pending.outcome = Outcome::Hit;
            self.counts.hits += 1;
            self.schedule(pending);
            return;
        }
        if route.cached {
            self.counts.misses += 1;
            pending.outcome = Outcome::Miss;
            pending.cache_key = Some(path.clone());
        }
        match self.pick_backend(route.pool) {
            Some(node) => {
                pending.done_ms += self.upstream_latency_ms();
                pending.node = Some(node);
                events.push(self.forward_to(start_ms, request_id, client, node, &path));
            }
            None => {
                pending.outcome = Outcome::Unavailable;
                pending.cache_key = None;
            }
        }
        self.schedule(pending);
    }

    /// Picks a live server from `pool`: round-robin over the app servers, skipping down ones.
    fn pick_backend(&mut self, pool: Pool) -> Option<u32> {
        let apps = self.config.app_servers;
        match pool {
            Pool::Static => self
                .nodes
                .get(apps as usize)
                .filter(|node| node.up)
                .map(|node| node.id),
            Pool::App => {
                for offset in 0..apps {
                    let candidate = (self.next_app + offset) % apps;
                    if self
                        .nodes
                        .get(candidate as usize)
                        .is_some_and(|node| node.up)
                    {
                        self.next_app = (candidate + 1) % apps;
                        return Some(candidate);
                    }
                }
                None
            }
        }
    }

    /// Sends a response to its client and records it.
    fn complete(&mut self, pending: Pending, at_ms: f64, events: &mut Vec<Event>) {
        let latency_ms = at_ms - pending.started_ms;
        let status = match (pending.outcome, self.config.mode) {
            (Outcome::Hit | Outcome::Miss | Outcome::Pass, _) => 200,
            (Outcome::Blocked, _) => 403,
            (Outcome::Unavailable, Mode::Reverse) => 503,
            (Outcome::Unavailable, Mode::Forward) | (Outcome::Broken, _) => 502,
        };
        if let Some(key) = pending.cache_key.as_ref().filter(|_| status == 200) {
            if self.config.cache_ttl_s > 0.0 {
                self.cache
                    .insert(key.clone(), at_ms + self.config.cache_ttl_s * 1000.0);
            }
        }
        self.counts.served += 1;
        if status >= 500 {
            self.counts.errors += 1;
        }
        match pending.outcome {
            Outcome::Hit => {
                self.counts.saved_kb += RESPONSE_KB;
                self.hit_latency.record_ms(latency_ms);
            }
            Outcome::Miss | Outcome::Pass if status == 200 => {
                if self.config.mode == Mode::Forward {
                    self.counts.uplink_kb += RESPONSE_KB;
                }
                self.forwarded_latency.record_ms(latency_ms);
            }
            _ => {}
        }
        self.latency.record_ms(latency_ms);
        events.push(Event::Served {
            at_ms,
            request_id: pending.request_id,
            client: pending.client,
            target: pending.target,
            route: pending.route,
            outcome: pending.outcome,
            status,
            latency_ms,
        });
    }

    fn inject(&mut self, fault: &Fault) -> Result<Vec<Event>, ActionError> {
        Self::check_fault(fault)?;
        let (node, up) = match fault {
            Fault::Crash { node } => (*node, false),
            Fault::Restart { node } => (*node, true),
            // `check_fault` lets through only crash and restart.
            _ => return Err(ActionError(format!("unsupported fault {fault:?}"))),
        };
        let verb = if up { "restart" } else { "crash" };
        let last = self.nodes.len().saturating_sub(1);
        let Some(entry) = self.nodes.get_mut(node as usize) else {
            return Err(ActionError(format!(
                "cannot {verb} node {node}: not found. Node ids are 0 to {last}."
            )));
        };
        if entry.up == up {
            let state = if up {
                "up. Crash it first"
            } else {
                "already down. Restart it first"
            };
            return Err(ActionError(format!(
                "cannot {verb} node {node}: it is {state}."
            )));
        }
        entry.up = up;
        let label = entry.label.clone();
        let at_ms = self.now_ms;
        if up {
            return Ok(vec![Event::Restarted { at_ms, node, label }]);
        }

        // The requests the node was serving fail now with 502.
        let (lost, kept): (VecDeque<Pending>, VecDeque<Pending>) =
            std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|pending| pending.node == Some(node));
        self.pending = kept;
        let lost_request_ids = lost.iter().map(|pending| pending.request_id).collect();
        let mut events = vec![Event::Crashed {
            at_ms,
            node,
            label,
            lost_request_ids,
        }];
        for mut pending in lost {
            pending.outcome = Outcome::Broken;
            self.complete(pending, at_ms, &mut events);
        }
        Ok(events)
    }
}

impl Engine for Proxy {
    type Config = ProxyConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: ProxyConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let nodes = match config.mode {
            Mode::Forward => SITES
                .iter()
                .enumerate()
                .map(|(id, site)| Node {
                    id: id as u32,
                    label: (*site).to_string(),
                    up: true,
                    requests: 0,
                    seen_from: Vec::new(),
                    blocked: id + config.blocked_sites as usize >= SITES.len(),
                })
                .collect(),
            Mode::Reverse => (0..=config.app_servers)
                .map(|id| Node {
                    id,
                    label: if id < config.app_servers {
                        format!("app {}", id + 1)
                    } else {
                        "static".to_string()
                    },
                    up: true,
                    requests: 0,
                    seen_from: Vec::new(),
                    blocked: false,
                })
                .collect(),
        };
        let mut engine = Self {
            connection_left: vec![0; config.clients as usize],
            config,
            rng: SimRng::new(seed),
            now_ms: 0.0,
            next_arrival_ms: f64::INFINITY,
            next_request_id: 0,
            nodes,
            cache: BTreeMap::new(),
            pending: VecDeque::new(),
            next_app: 0,
            counts: Counts::default(),
            latency: LatencyHistogram::new(),
            hit_latency: LatencyHistogram::new(),
            forwarded_latency: LatencyHistogram::new(),
            last_forwarded: None,
        };
        engine.next_arrival_ms = engine.draw_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        let end_ms = self.now_ms + STEP_MS;
        let mut events = Vec::new();
        // Arrivals and responses are handled in time order. A response due at the same
        // instant as an arrival goes first, so the arrival finds its cache entry.
        loop {
            let due = self.pending.front().map_or(f64::INFINITY, |p| p.done_ms);
            let next = due.min(self.next_arrival_ms);
            if next > end_ms {
                break;
            }
            if due <= self.next_arrival_ms {
                if let Some(pending) = self.pending.pop_front() {
                    self.complete(pending, due, &mut events);
                }
            } else {
                let at_ms = self.next_arrival_ms;
                self.arrive(at_ms, &mut events);
                self.next_arrival_ms = at_ms + self.draw_gap_ms();
            }
        }
        self.now_ms = end_ms;
        // Expired entries are never served again, so dropping them keeps the map small.
        let now_ms = self.now_ms;
        self.cache.retain(|_, expiry| *expiry > now_ms);
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match action {
            Action::Purge => {
                let entries = self.cache.len();
                self.cache.clear();
                Ok(vec![Event::Purged {
                    at_ms: self.now_ms,
                    entries,
                }])
            }
            Action::Fault(fault) => self.inject(fault),
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let counts = &self.counts;
        let ratio = self.hit_ratio();
        let ratio_text = ratio.map_or("–".to_string(), |r| format!("{:.0}%", r * 100.0));
        let mut metrics = vec![
            Metric::count("requests", "Requests", counts.requests),
            Metric::new(
                "hit-ratio",
                "Hit ratio",
                ratio.unwrap_or(f64::NAN),
                ratio_text,
            ),
            Metric::millis(
                "p50-hit",
                "p50 of hits",
                self.hit_percentiles().map(|p| p.p50_ms),
            ),
            Metric::millis(
                "p50-forwarded",
                "p50 forwarded (no cache)",
                self.forwarded_percentiles().map(|p| p.p50_ms),
            ),
        ];
        match self.config.mode {
            Mode::Forward => {
                metrics.push(Metric::count("blocked", "Blocked (403)", counts.blocked));
                // A forward proxy answers 502 for a miss whose origin is down.
                metrics.push(Metric::count("errors", "502 Bad Gateway", counts.errors));
                metrics.push(Metric::new(
                    "uplink",
                    "Uplink used",
                    counts.uplink_kb as f64,
                    format!("{:.1} MB", counts.uplink_kb as f64 / 1000.0),
                ));
                metrics.push(Metric::new(
                    "saved",
                    "Uplink saved",
                    counts.saved_kb as f64,
                    format!("{:.1} MB", counts.saved_kb as f64 / 1000.0),
                ));
            }
            Mode::Reverse => {
                metrics.push(Metric::count("errors", "502/503", counts.errors));
                metrics.push(Metric::count(
                    "edge-handshakes",
                    "TLS handshakes at edge",
                    counts.edge_handshakes,
                ));
                metrics.push(Metric::count(
                    "internal-handshakes",
                    "TLS handshakes inside",
                    counts.internal_handshakes,
                ));
            }
        }
        metrics.push(Metric::new(
            "time",
            "Time",
            self.now_ms / 1000.0,
            format!("{:.1} s", self.now_ms / 1000.0),
        ));
        Snapshot {
            at_ms: self.now_ms,
            metrics,
            latency: self.latency_percentiles(),
            samples: vec![Sample {
                label: "hit ratio %",
                value: ratio.map_or(0.0, |r| r * 100.0),
            }],
        }
    }
}

/// Origins (forward) or backends (reverse) are the nodes: a crash fails their requests in
/// flight with 502.
impl Faults for Proxy {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        self.nodes
            .iter()
            .map(|node| NodeStatus {
                id: node.id,
                label: node.label.clone(),
                up: node.up,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(ProxyConfig::default().validate(), Ok(()));
    }

    #[test]
    fn mode_deserializes_from_snake_case() {
        let config: Result<ProxyConfig, _> = serde_json::from_str(r#"{"mode":"reverse"}"#);

        assert_eq!(config.ok().map(|c| c.mode), Some(Mode::Reverse));
    }

    #[test]
    fn config_rejects_blocking_every_site() {
        let config = ProxyConfig {
            blocked_sites: 4,
            ..ProxyConfig::default()
        };

        let err = Proxy::new(config, 1).err();

        assert_eq!(err.map(|err| err.field), Some("blocked_sites"));
    }

    #[test]
    fn route_for_picks_longest_prefix() {
        assert_eq!(route_for("/api/items/1").map(|r| r.prefix), Some("/api/"));
        assert_eq!(
            route_for("/static/a.js").map(|r| r.prefix),
            Some("/static/")
        );
        assert_eq!(route_for("/static").map(|r| r.prefix), Some("/"));
        assert_eq!(route_for("/").map(|r| r.prefix), Some("/"));
        assert_eq!(route_for("api"), None);
    }

    #[test]
    fn reverse_nodes_end_with_static_server() {
        let config = ProxyConfig {
            mode: Mode::Reverse,
            app_servers: 2,
            ..ProxyConfig::default()
        };

        let labels: Vec<String> = Proxy::new(config, 1)
            .map(|engine| engine.nodes().iter().map(|n| n.label.clone()).collect())
            .unwrap_or_default();

        assert_eq!(labels, ["app 1", "app 2", "static"]);
    }
}
