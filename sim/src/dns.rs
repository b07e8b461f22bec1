//! DNS resolution: a caching recursive resolver walks root, TLD and authoritative servers.
//!
//! Clients send lookups as a Poisson process at `query_per_s`. Each lookup names one of
//! `names` hosts, drawn from a Zipf distribution with exponent 1, so a few names are asked
//! for most of the time. Host `i` is `host{i}` in zone `i % zones`, and zone `j` sits under
//! top-level domain `j % tlds` (`com`, `org`, `net`, `io`, `dev`).
//!
//! The resolver answers from its cache while the cached answer's TTL lasts. On a miss it
//! queries iteratively, starting at the closest delegation it has cached: the authoritative
//! server of the zone if it holds the zone's NS records, else the TLD server if it holds the
//! TLD's NS records, else the root. The root returns a referral to the TLD and the TLD a
//! referral to the zone, each cached for `ns_ttl_s`; the authoritative server returns the
//! address, cached for `answer_ttl_s`. Every query takes one round trip of `hop_ms`. A lookup
//! for a name that is already being resolved waits for that walk instead of starting another.
//!
//! Every server can crash and restart through the [`Faults`] interface. A query to a down
//! server gets no response, and the resolver gives up after [`TIMEOUT_MS`] and returns
//! SERVFAIL to the waiting clients. Answers already in the cache keep being served until they
//! expire. [`Action::ChangeRecord`] gives a host a new address on its authoritative server;
//! resolvers that cached the old one serve it, stale, until its TTL runs out.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{LatencyHistogram, Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 20.0;

/// Time the resolver waits for a response before it gives up and returns SERVFAIL, in ms.
///
/// NOTE: real resolvers retry other name servers of the zone with shorter timeouts; this
/// model has one server per zone and no retries.
pub const TIMEOUT_MS: f64 = 2000.0;

/// Window over which [`Dns::recent_hit_ratio`] counts lookups, in milliseconds.
pub const RECENT_WINDOW_MS: f64 = 10_000.0;

/// Top-level domains, in the order zones are spread over them.
pub const TLD_LABELS: [&str; 5] = ["com", "org", "net", "io", "dev"];

/// Parameters of the DNS widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// Distinct host names the clients look up, 1 to 500.
    pub names: u32,
    /// Zones (second-level domains) the names are spread over, 1 to 20.
    pub zones: u32,
    /// Top-level domains the zones are spread over, 1 to 5.
    pub tlds: u32,
    /// TTL of an address record, in seconds (0 disables caching of answers).
    pub answer_ttl_s: f64,
    /// TTL of the NS records in a referral, for TLDs and zones alike, in seconds.
    pub ns_ttl_s: f64,
    /// Mean rate of client lookups (Poisson arrivals), per second.
    pub query_per_s: f64,
    /// Round-trip time of one query from the resolver to any server, in milliseconds.
    pub hop_ms: f64,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            names: 40,
            zones: 6,
            tlds: 3,
            answer_ttl_s: 10.0,
            ns_ttl_s: 120.0,
            query_per_s: 20.0,
            hop_ms: 40.0,
        }
    }
}

impl Config for DnsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("names", self.names, 1, 500)?;
        ConfigError::check_range_u32("zones", self.zones, 1, 20)?;
        ConfigError::check_range_u32("tlds", self.tlds, 1, TLD_LABELS.len() as u32)?;
        ConfigError::check_range_f64("answer_ttl_s", self.answer_ttl_s, 0.0, 86_400.0)?;
        ConfigError::check_range_f64("ns_ttl_s", self.ns_ttl_s, 0.0, 172_800.0)?;
        ConfigError::check_range_f64("query_per_s", self.query_per_s, 0.0, 500.0)?;
        ConfigError::check_range_f64("hop_ms", self.hop_ms, 1.0, 1000.0)?;
        Ok(())
    }
}

/// A level of the DNS hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The root zone, which refers the resolver to a TLD's servers.
    Root,
    /// A top-level domain, which refers the resolver to a zone's servers.
    Tld,
    /// The zone's authoritative server, which returns the address.
    Authoritative,
}

/// An action a reader can take between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// A client looks up host `name` now.
    Lookup {
        /// Host index, 0 to `names - 1`.
        name: u32,
    },
    /// Host `name` gets a new address on its authoritative server.
    ChangeRecord {
        /// Host index, 0 to `names - 1`.
        name: u32,
    },
    /// Empties the resolver's cache, answers and referrals alike.
    FlushCache,
    /// Crashes or restarts the server whose id is the fault's node id: 0 is the root,
    /// `1..=tlds` the TLD servers, and the rest the zones' authoritative servers.
    Fault(Fault),
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The resolver answered a lookup from its cache without sending a query.
    CacheHit {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Host index.
        name: u32,
        /// Time since the answer was cached, in milliseconds; always below `ttl_s * 1000`.
        age_ms: f64,
        /// TTL the answer was cached with, in seconds.
        ttl_s: f64,
        /// Whether the authoritative server has changed the address since it was cached.
        stale: bool,
    },
    /// A lookup missed the cache; `joined` is true if it waits for a walk already running.
    CacheMiss {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Host index.
        name: u32,
        /// Whether a walk for this name was already running.
        joined: bool,
    },
    /// The resolver sent a query to a server.
    QuerySent {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The walk, numbered from 0 in the order walks started.
        walk: u64,
        /// Host index being resolved.
        name: u32,
        /// Level of the server.
        level: Level,
        /// Server id, as [`Faults`] numbers them.
        server: u32,
    },
    /// A root or TLD server returned a referral, which the resolver cached.
    Referral {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The walk.
        walk: u64,
        /// Level of the server that referred.
        level: Level,
        /// The server the referral points to.
        to_server: u32,
        /// TTL of the NS records, in seconds.
        ttl_s: f64,
    },
    /// The authoritative server returned the address, which the resolver cached.
    Answer {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The walk.
        walk: u64,
        /// Host index.
        name: u32,
        /// Version of the record, raised by every [`Action::ChangeRecord`].
        version: u32,
        /// TTL of the record, in seconds.
        ttl_s: f64,
    },
    /// A lookup that missed got its answer.
    Resolved {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Host index.
        name: u32,
        /// Time from the lookup to the answer, in milliseconds.
        latency_ms: f64,
    },
    /// A query got no response within [`TIMEOUT_MS`], so every waiting lookup gets SERVFAIL.
    TimedOut {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The walk.
        walk: u64,
        /// Host index.
        name: u32,
        /// The server that did not respond.
        server: u32,
        /// Lookups that got SERVFAIL.
        failed_lookups: u32,
    },
    /// An authoritative server changed a host's address.
    RecordChanged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Host index.
        name: u32,
        /// The new version.
        version: u32,
    },
    /// The cache was emptied.
    CacheFlushed {
        /// Simulated time in milliseconds.
        at_ms: f64,
    },
    /// A server crashed and drops every query until restarted.
    ServerCrashed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Server id.
        server: u32,
    },
    /// A crashed server restarted.
    ServerRestarted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Server id.
        server: u32,
    },
}

/// One server of the hierarchy, as the widget draws it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    /// Server id: 0 is the root, then the TLD servers, then the authoritative servers.
    pub id: u32,
    /// Level in the hierarchy.
    pub level: Level,
    /// Zone the server is authoritative for: `.`, `com`, `site0.com`.
    pub zone: String,
    /// Whether the server responds.
    pub up: bool,
    /// Queries the resolver has sent to it.
    pub queries: u64,
}

/// A query on the wire, as the widget draws it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InFlight {
    /// The walk.
    pub walk: u64,
    /// Host index being resolved.
    pub name: u32,
    /// Server queried.
    pub server: u32,
    /// Simulated time the query was sent, in milliseconds.
    pub sent_ms: f64,
    /// Simulated time the response arrives or the timeout fires, in milliseconds.
    pub due_ms: f64,
}

/// A cached record: an address or the NS records of a delegation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cached {
    stored_ms: f64,
    ttl_s: f64,
    version: u32,
}

impl Cached {
    fn is_fresh(&self, now_ms: f64) -> bool {
        now_ms < self.stored_ms + self.ttl_s * 1000.0
    }
}

/// One iterative resolution of a name, from the first query to the answer or timeout.
#[derive(Debug, Clone)]
struct Walk {
    id: u64,
    name: u32,
    server: u32,
    level: Level,
    sent_ms: f64,
    due_ms: f64,
    /// Whether `due_ms` is the timeout rather than a response.
    timing_out: bool,
    /// Arrival times of the lookups waiting for this walk.
    waiters: Vec<f64>,
}

/// The DNS resolution engine.
#[derive(Debug, Clone)]
pub struct Dns {
    config: DnsConfig,
    rng: SimRng,
    steps: u64,
    now_ms: f64,
    next_arrival_ms: f64,
    /// Cumulative Zipf weights of the names, for sampling by binary search.
    cumulative: Vec<f64>,
    servers: Vec<Server>,
    answers: Vec<Option<Cached>>,
    zone_ns: Vec<Option<Cached>>,
    tld_ns: Vec<Option<Cached>>,
    versions: Vec<u32>,
    walks: Vec<Walk>,
    next_walk: u64,
    lookups: u64,
    hits: u64,
    stale_hits: u64,
    failed: u64,
    latencies: LatencyHistogram,
    /// Times and outcomes (hit or not) of the lookups in the last [`RECENT_WINDOW_MS`].
    recent: VecDeque<(f64, bool)>,
    /// Levels of the queries of the most recently started walk, in order.
    last_walk: Vec<Level>,
}

impl Dns {
    /// Returns the configuration the engine runs with.
    pub fn config(&self) -> &DnsConfig {
        &self.config
    }

    /// Returns the name of host `name`, such as `host3.site3.com`.
    pub fn host_name(&self, name: u32) -> String {
        let zone = name % self.config.zones;
        format!("host{name}.{}", self.zone_name(zone))
    }

    /// Returns the servers: the root, the TLD servers, then the authoritative servers.
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// Returns the queries on the wire now.
    pub fn in_flight(&self) -> Vec<InFlight> {
        self.walks
            .iter()
            .map(|walk| InFlight {
                walk: walk.id,
                name: walk.name,
                server: walk.server,
                sent_ms: walk.sent_ms,
                due_ms: walk.due_ms,
            })
            .collect()
    }

    /// Returns whether the cache contains a fresh answer for host `name`.
    pub fn is_cached(&self, name: u32) -> bool {
        self.fresh_answer(name).is_some()
    }

    /// Returns how many records in the cache are fresh, answers and NS records together.
    pub fn cached_records(&self) -> usize {
        let now = self.now_ms;
        [&self.answers, &self.zone_ns, &self.tld_ns]
            .iter()
            .flat_map(|records| records.iter())
            .filter(|record| record.is_some_and(|r| r.is_fresh(now)))
            .count()
    }

    /// Returns the levels queried by the most recently started walk, in order.
    pub fn last_walk(&self) -> &[Level] {
        &self.last_walk
    }

    /// Returns the lookups since the start.
    pub fn lookups(&self) -> u64 {
        self.lookups
    }

    /// Returns the lookups answered from the cache since the start.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Returns the cache hits that served an address the authoritative server had changed.
    pub fn stale_hits(&self) -> u64 {
        self.stale_hits
    }

    /// Returns the lookups that got SERVFAIL since the start.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Returns the queries sent to servers of `level` since the start.
    pub fn queries_to(&self, level: Level) -> u64 {
        self.servers
            .iter()
            .filter(|server| server.level == level)
            .map(|server| server.queries)
            .sum()
    }

    /// Returns the share of all lookups since the start that the cache answered, 0 to 1.
    pub fn hit_ratio(&self) -> f64 {
        if self.lookups == 0 {
            0.0
        } else {
            self.hits as f64 / self.lookups as f64
        }
    }

    /// Returns the share of lookups in the last [`RECENT_WINDOW_MS`] that the cache answered.
    pub fn recent_hit_ratio(&self) -> f64 {
        if self.recent.is_empty() {
            return 0.0;
        }
        let hits = self.recent.iter().filter(|(_, hit)| *hit).count();
        hits as f64 / self.recent.len() as f64
    }

    fn zone_name(&self, zone: u32) -> String {
        let tld = (zone % self.config.tlds) as usize;
        let label = TLD_LABELS.get(tld).copied().unwrap_or("com");
        format!("site{zone}.{label}")
    }

    fn zone_of(&self, name: u32) -> u32 {
        name % self.config.zones
    }

    fn tld_of_zone(&self, zone: u32) -> u32 {
        zone % self.config.tlds
    }

    fn tld_server(&self, tld: u32) -> u32 {
        1 + tld
    }

    fn auth_server(&self, zone: u32) -> u32 {
        1 + self.config.tlds + zone
    }

    fn fresh_answer(&self, name: u32) -> Option<Cached> {
        let cached = self.answers.get(name as usize).copied().flatten()?;
        cached.is_fresh(self.now_ms).then_some(cached)
    }

    fn fresh(records: &[Option<Cached>], index: u32, now_ms: f64) -> bool {
        records
            .get(index as usize)
            .copied()
            .flatten()
            .is_some_and(|cached| cached.is_fresh(now_ms))
    }

    fn server_up(&self, server: u32) -> bool {
        self.servers
            .get(server as usize)
            .is_some_and(|server| server.up)
    }

    fn draw_name(&mut self) -> u32 {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = self.rng.uniform() * total;
        let index = self.cumulative.partition_point(|&c| c <= target);
        (index as u32).min(self.config.names - 1)
    }

    fn next_gap_ms(&mut self) -> f64 {
        if self.config.query_per_s > 0.0 {
            self.rng.exponential(1000.0 / self.config.query_per_s)
        } else {
            f64::INFINITY
        }
    }

    fn record_outcome(&mut self, hit: bool) {
        self.lookups += 1;
        if hit {
            self.hits += 1;
        }
        self.recent.push_back((self.now_ms, hit));
    }

    /// Handles one client lookup at the current time.
    fn lookup(&mut self, name: u32, events: &mut Vec<Event>) {
        let at_ms = self.now_ms;
        if let Some(cached) = self.fresh_answer(name) {
            let current = self.versions.get(name as usize).copied().unwrap_or(0);
            let stale = cached.version < current;
            self.record_outcome(true);
            if stale {
                self.stale_hits += 1;
            }
            self.latencies.record_ms(0.0);
            events.push(Event::CacheHit {
                at_ms,
                name,
                age_ms: at_ms - cached.stored_ms,
                ttl_s: cached.ttl_s,
                stale,
            });
            return;
        }
        self.record_outcome(false);
        if let Some(walk) = self.walks.iter_mut().find(|walk| walk.name == name) {
            walk.waiters.push(at_ms);
            events.push(Event::CacheMiss {
                at_ms,
                name,
                joined: true,
            });
            return;
        }
        events.push(Event::CacheMiss {
            at_ms,
            name,
            joined: false,
        });

        // Start at the closest delegation the cache holds.
        let zone = self.zone_of(name);
        let tld = self.tld_of_zone(zone);
        let (level, server) = if Self::fresh(&self.zone_ns, zone, at_ms) {
            (Level::Authoritative, self.auth_server(zone))
        } else if Self::fresh(&self.tld_ns, tld, at_ms) {
            (Level::Tld, self.tld_server(tld))
        } else {
            (Level::Root, 0)
        };
        let id = self.next_walk;
        self.next_walk += 1;
        self.last_walk.clear();
        let mut walk = Walk {
            id,
            name,
            server,
            level,
            sent_ms: at_ms,
            due_ms: at_ms,
            timing_out: false,
            waiters: vec![at_ms],
        };
        self.send(&mut walk, level, server, events);
        self.walks.push(walk);
    }

    /// Sends the walk's next query and schedules its response or timeout.
    fn send(&mut self, walk: &mut Walk, level: Level, server: u32, events: &mut Vec<Event>) {
        let at_ms = self.now_ms;
        walk.level = level;
        walk.server = server;
        walk.sent_ms = at_ms;
        walk.timing_out = !self.server_up(server);
        walk.due_ms = if walk.timing_out {
            at_ms + TIMEOUT_MS
        } else {
            at_ms + self.config.hop_ms
        };
        if let Some(entry) = self.servers.get_mut(server as usize) {
            entry.queries += 1;
        }
        self.last_walk.push(level);
        events.push(Event::QuerySent {
            at_ms,
            walk: walk.id,
            name: walk.name,
            level,
            server,
        });
    }

    /// Handles the response (or timeout) due for the walk at `index`, at the current time.
    fn advance_walk(&mut self, index: usize, events: &mut Vec<Event>) {
        if index >= self.walks.len() {
            return;
        }
        let mut walk = self.walks.swap_remove(index);
        let at_ms = self.now_ms;

        // The server crashed while the query was on the wire: wait out the timeout.
        if !walk.timing_out && !self.server_up(walk.server) {
            walk.timing_out = true;
            walk.due_ms = walk.sent_ms + TIMEOUT_MS;
            self.walks.push(walk);
            return;
        }
        if walk.timing_out {
            let failed_lookups = walk.waiters.len() as u32;
            for arrived in &walk.waiters {
                self.latencies.record_ms(at_ms - arrived);
            }
            self.failed += u64::from(failed_lookups);
            events.push(Event::TimedOut {
                at_ms,
                walk: walk.id,
                name: walk.name,
                server: walk.server,
                failed_lookups,
            });
            return;
        }

        let zone = self.zone_of(walk.name);
        let tld = self.tld_of_zone(zone);
        let cached = |ttl_s: f64, version: u32| {
            Some(Cached {
                stored_ms: at_ms,
                ttl_s,
                version,
            })
        };
        match walk.level {
            Level::Root => {
                let to_server = self.tld_server(tld);
                if let Some(slot) = self.tld_ns.get_mut(tld as usize) {
                    *slot = cached(self.config.ns_ttl_s, 0);
                }
                events.push(Event::Referral {
                    at_ms,
                    walk: walk.id,
                    level: Level::Root,
                    to_server,
                    ttl_s: self.config.ns_ttl_s,
                });
                self.send(&mut walk, Level::Tld, to_server, events);
                self.walks.push(walk);
            }
            Level::Tld => {
                let to_server = self.auth_server(zone);
                if let Some(slot) = self.zone_ns.get_mut(zone as usize) {
                    *slot = cached(self.config.ns_ttl_s, 0);
                }
                events.push(Event::Referral {
                    at_ms,
                    walk: walk.id,
                    level: Level::Tld,
                    to_server,
                    ttl_s: self.config.ns_ttl_s,
                });
                self.send(&mut walk, Level::Authoritative, to_server, events);
                self.walks.push(walk);
            }
            Level::Authoritative => {
                let version = self.versions.get(walk.name as usize).copied().unwrap_or(0);
                if let Some(slot) = self.answers.get_mut(walk.name as usize) {
                    *slot = cached(self.config.answer_ttl_s, version);
                }
                events.push(Event::Answer {
                    at_ms,
                    walk: walk.id,
                    name: walk.name,
                    version,
                    ttl_s: self.config.answer_ttl_s,
                });
                for arrived in &walk.waiters {
                    let latency_ms = at_ms - arrived;
                    self.latencies.record_ms(latency_ms);
                    events.push(Event::Resolved {
                        at_ms,
                        name: walk.name,
                        latency_ms,
                    });
                }
            }
        }
    }

    /// Returns the index and due time of the walk whose response comes first.
    fn next_due(&self) -> Option<(usize, f64)> {
        self.walks
            .iter()
            .enumerate()
            .map(|(index, walk)| (index, walk.due_ms))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    fn check_name(&self, name: u32) -> Result<(), ActionError> {
        if name < self.config.names {
            Ok(())
        } else {
            Err(ActionError(format!(
                "no host {name}: use 0 to {}",
                self.config.names - 1
            )))
        }
    }

    fn inject(&mut self, fault: &Fault) -> Result<Vec<Event>, ActionError> {
        Self::check_fault(fault)?;
        let at_ms = self.now_ms;
        let (server, crash) = match *fault {
            Fault::Crash { node } => (node, true),
            Fault::Restart { node } => (node, false),
            _ => return Err(ActionError("only crash and restart apply here".to_string())),
        };
        let count = self.servers.len();
        let Some(entry) = self.servers.get_mut(server as usize) else {
            return Err(ActionError(format!(
                "no server {server}: use 0 to {}",
                count.saturating_sub(1)
            )));
        };
        if entry.up != crash {
            let state = if entry.up { "up" } else { "down" };
            return Err(ActionError(format!("server {server} is already {state}")));
        }
        entry.up = !crash;
        Ok(vec![if crash {
            Event::ServerCrashed { at_ms, server }
        } else {
            Event::ServerRestarted { at_ms, server }
        }])
    }
}

impl Engine for Dns {
    type Config = DnsConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: DnsConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut total = 0.0;
        let cumulative = (0..config.names)
            .map(|rank| {
                total += 1.0 / f64::from(rank + 1);
                total
            })
            .collect();
        let mut servers = vec![Server {
            id: 0,
            level: Level::Root,
            zone: ".".to_string(),
            up: true,
            queries: 0,
        }];
        for (tld, label) in TLD_LABELS.iter().take(config.tlds as usize).enumerate() {
            servers.push(Server {
                id: 1 + tld as u32,
                level: Level::Tld,
                zone: (*label).to_string(),
                up: true,
                queries: 0,
            });
        }
        let mut engine = Self {
            rng: SimRng::new(seed),
            steps: 0,
            now_ms: 0.0,
            next_arrival_ms: f64::INFINITY,
            cumulative,
            servers,
            answers: vec![None; config.names as usize],
            zone_ns: vec![None; config.zones as usize],
            tld_ns: vec![None; config.tlds as usize],
            versions: vec![0; config.names as usize],
            walks: Vec::new(),
            next_walk: 0,
            lookups: 0,
            hits: 0,
            stale_hits: 0,
            failed: 0,
            latencies: LatencyHistogram::new(),
            recent: VecDeque::new(),
            last_walk: Vec::new(),
            config,
        };
        for zone in 0..engine.config.zones {
            let server = Server {
                id: engine.auth_server(zone),
                level: Level::Authoritative,
                zone: engine.zone_name(zone),
                up: true,
                queries: 0,
            };
            engine.servers.push(server);
        }
        engine.next_arrival_ms = engine.next_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_ms = self.steps as f64 * STEP_MS;
        let mut events = Vec::new();
        // Responses come before arrivals at the same instant, so a lookup that arrives just
        // as an answer lands finds it in the cache.
        loop {
            let response = self.next_due().filter(|(_, due)| *due <= end_ms);
            let arrival = Some(self.next_arrival_ms).filter(|at| *at <= end_ms);
            match (response, arrival) {
                (Some((index, due)), Some(at)) if due <= at => {
                    self.now_ms = due;
                    self.advance_walk(index, &mut events);
                }
                (Some((index, due)), None) => {
                    self.now_ms = due;
                    self.advance_walk(index, &mut events);
                }
                (_, Some(at)) => {
                    self.now_ms = at;
                    let name = self.draw_name();
                    self.lookup(name, &mut events);
                    self.next_arrival_ms = at + self.next_gap_ms();
                }
                (None, None) => break,
            }
        }
        self.now_ms = end_ms;
        let cutoff = end_ms - RECENT_WINDOW_MS;
        while self.recent.front().is_some_and(|(at, _)| *at <= cutoff) {
            self.recent.pop_front();
        }
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let mut events = Vec::new();
        match *action {
            Action::Lookup { name } => {
                self.check_name(name)?;
                self.lookup(name, &mut events);
            }
            Action::ChangeRecord { name } => {
                self.check_name(name)?;
                let version = match self.versions.get_mut(name as usize) {
                    Some(version) => {
                        *version = version.saturating_add(1);
                        *version
                    }
                    None => 0,
                };
                events.push(Event::RecordChanged {
                    at_ms: self.now_ms,
                    name,
                    version,
                });
            }
            Action::FlushCache => {
                self.answers.iter_mut().for_each(|slot| *slot = None);
                self.zone_ns.iter_mut().for_each(|slot| *slot = None);
                self.tld_ns.iter_mut().for_each(|slot| *slot = None);
                events.push(Event::CacheFlushed { at_ms: self.now_ms });
            }
            Action::Fault(ref fault) => return self.inject(fault),
        }
        Ok(events)
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let recent = self.recent_hit_ratio();
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::count("lookups", "Lookups", self.lookups),
                Metric::new(
                    "hit-ratio",
                    "Hit ratio (last 10 s)",
                    recent,
                    format!("{:.0}%", recent * 100.0),
                ),
                Metric::count("root-queries", "Root queries", self.queries_to(Level::Root)),
                Metric::count("tld-queries", "TLD queries", self.queries_to(Level::Tld)),
                Metric::count(
                    "auth-queries",
                    "Authoritative queries",
                    self.queries_to(Level::Authoritative),
                ),
                Metric::count("stale", "Stale answers", self.stale_hits),
                Metric::count("servfail", "SERVFAIL", self.failed),
                Metric::count("cached", "Cached records", self.cached_records() as u64),
                Metric::new(
                    "time",
                    "Time",
                    self.now_ms / 1000.0,
                    format!("{:.1} s", self.now_ms / 1000.0),
                ),
            ],
            latency: self.latencies.percentiles(),
            samples: vec![Sample {
                label: "hit ratio, last 10 s",
                value: recent,
            }],
        }
    }
}

impl Faults for Dns {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        self.servers
            .iter()
            .map(|server| NodeStatus {
                id: server.id,
                label: match server.level {
                    Level::Root => "root".to_string(),
                    Level::Tld => format!("{} TLD", server.zone),
                    Level::Authoritative => server.zone.clone(),
                },
                up: server.up,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_spread_over_zones_and_tlds() {
        let engine = Dns::new(DnsConfig::default(), 1).ok();

        let names = engine.map(|dns| (dns.host_name(0), dns.host_name(7)));

        assert_eq!(
            names,
            Some(("host0.site0.com".to_string(), "host7.site1.org".to_string()))
        );
    }

    #[test]
    fn new_rejects_zero_hop() {
        let config = DnsConfig {
            hop_ms: 0.0,
            ..DnsConfig::default()
        };

        assert!(Dns::new(config, 1).is_err());
    }

    #[test]
    fn lookup_of_unknown_host_is_rejected() {
        let mut dns = Dns::new(DnsConfig::default(), 1).ok();

        let result = dns
            .as_mut()
            .map(|dns| dns.apply(&Action::Lookup { name: 40 }));

        assert!(matches!(result, Some(Err(_))));
    }
}
