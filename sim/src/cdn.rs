//! A CDN: users in up to four regions fetch objects through their region's edge cache.
//!
//! Each region sends requests as a Poisson process at `requests_per_s`, each for
//! object `k` of `objects` with probability proportional to `1 / (k + 1)^zipf_s`,
//! so object 0 is the hottest. A request goes to its region's edge. A copy
//! younger than `ttl_s` (the origin's `Cache-Control: max-age`) is a hit, served
//! in [`EDGE_MS`] without contacting anything else. Otherwise the edge fetches
//! the object over the region's round trip to the origin region
//! ([`REGION_RTT_MS`]) and stores it with the origin's fetch time, so its age
//! counts from the moment the origin produced it.
//!
//! With `shield` on, edges fetch from one shield cache in the origin region
//! instead, and only the shield's misses reach the origin, so the origin sees
//! at most one request per object per TTL instead of one per region. An edge's
//! copy from the shield inherits the shield copy's age, as the `Age` header
//! makes it do.
//!
//! The origin keeps a version number per object, and [`Action::Publish`]
//! increments it. Caches keep serving the old version until their copy expires
//! or [`Action::Purge`] removes it. A crashed origin ([`Fault::Crash`] of node
//! 0) answers nothing: hits still work, misses fail, unless `stale_if_error_s`
//! (RFC 5861 `stale-if-error`) lets an edge serve its expired copy for that
//! many seconds past the TTL.
//!
//! NOTE: a fetch completes at the instant of the request and its latency is
//! only recorded, so two misses for one object in one region both reach the
//! origin only if they are in different instants; request collapsing is not
//! modelled. Caches have no size limit, so nothing is evicted.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::cache::Zipf;
use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{LatencyHistogram, Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 100.0;

/// Latency of a request served by the user's edge, in milliseconds.
pub const EDGE_MS: f64 = 5.0;

/// Round trip from each region's edge to the origin region, in milliseconds.
pub const REGION_RTT_MS: [f64; MAX_REGIONS as usize] = [10.0, 80.0, 150.0, 250.0];

/// Names of the regions, in the order of [`REGION_RTT_MS`].
pub const REGION_NAMES: [&str; MAX_REGIONS as usize] = ["R1", "R2", "R3", "R4"];

/// Time the origin takes to produce an object, in milliseconds.
pub const ORIGIN_MS: f64 = 20.0;

/// Round trip between the shield and the origin, both in the origin region, in milliseconds.
pub const SHIELD_ORIGIN_MS: f64 = 2.0;

/// Maximum number of regions.
pub const MAX_REGIONS: u32 = 4;

/// Maximum number of objects.
pub const MAX_OBJECTS: u32 = 1000;

/// Maximum request rate per region, per second.
pub const MAX_REQUESTS_PER_S: f64 = 500.0;

/// Maximum TTL and stale-if-error window, in seconds.
pub const MAX_TTL_S: f64 = 3600.0;

/// Steps in the recent-metrics window: 5 s at [`STEP_MS`].
pub const RECENT_STEPS: usize = 50;

/// The node id of the origin in [`Fault::Crash`] and [`Fault::Restart`].
pub const ORIGIN_NODE: u32 = 0;

/// Parameters of the CDN widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CdnConfig {
    /// Regions with users and an edge, 1 to [`MAX_REGIONS`], nearest to the origin first.
    pub regions: u32,
    /// Distinct objects at the origin, 1 to [`MAX_OBJECTS`].
    pub objects: u32,
    /// Zipf exponent of object popularity: 0 is uniform, 1 is classic Zipf.
    pub zipf_s: f64,
    /// Mean rate of requests in each region (Poisson arrivals), per second.
    pub requests_per_s: f64,
    /// The origin's `Cache-Control: max-age`, in seconds; 0 caches nothing.
    pub ttl_s: f64,
    /// Whether edges fetch through a shield cache in the origin region.
    pub shield: bool,
    /// Seconds past the TTL during which an edge serves its expired copy
    /// when the origin fails; 0 turns `stale-if-error` off.
    pub stale_if_error_s: f64,
}

impl Default for CdnConfig {
    fn default() -> Self {
        Self {
            regions: MAX_REGIONS,
            objects: 100,
            zipf_s: 1.0,
            requests_per_s: 25.0,
            ttl_s: 10.0,
            shield: false,
            stale_if_error_s: 0.0,
        }
    }
}

impl Config for CdnConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("regions", self.regions, 1, MAX_REGIONS)?;
        ConfigError::check_range_u32("objects", self.objects, 1, MAX_OBJECTS)?;
        ConfigError::check_range_f64("zipf_s", self.zipf_s, 0.0, 3.0)?;
        ConfigError::check_range_f64(
            "requests_per_s",
            self.requests_per_s,
            0.0,
            MAX_REQUESTS_PER_S,
        )?;
        ConfigError::check_range_f64("ttl_s", self.ttl_s, 0.0, MAX_TTL_S)?;
        ConfigError::check_range_f64("stale_if_error_s", self.stale_if_error_s, 0.0, MAX_TTL_S)?;
        Ok(())
    }
}

/// A reader action, applied between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Publishes a new version of one object at the origin.
    Publish {
        /// The object, from 0 (the hottest) to `objects - 1`.
        object: u32,
    },
    /// Removes cached copies from every edge and the shield.
    Purge {
        /// The object to purge, or `None` for every object.
        object: Option<u32>,
    },
    /// Crashes or restarts the origin (node [`ORIGIN_NODE`]).
    Fault(Fault),
}

/// The cache or server that served a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The user's edge had a copy younger than the TTL.
    Edge,
    /// The edge missed and the shield had a copy younger than the TTL.
    Shield,
    /// The request reached the origin.
    Origin,
    /// The origin failed and the edge served its expired copy (stale-if-error).
    StaleIfError,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A request was served.
    Served {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The user's region, from 0 (nearest to the origin).
        region: u32,
        /// The object requested.
        object: u32,
        /// The cache or server the response came from.
        source: Source,
        /// Time since the origin produced the copy served, in milliseconds.
        age_ms: f64,
        /// Whether the origin has a newer version than the one served.
        stale: bool,
        /// Time the user waited, in milliseconds.
        latency_ms: f64,
    },
    /// A request missed every cache and the origin was down.
    Failed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The user's region.
        region: u32,
        /// The object requested.
        object: u32,
    },
    /// A new version of an object was published at the origin.
    Published {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The object.
        object: u32,
        /// The object's version after publishing.
        version: u64,
        /// Caches that still contain an older version.
        stale_copies: u32,
    },
    /// Cached copies were removed.
    Purged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The object purged, or `None` for all.
        object: Option<u32>,
        /// Copies removed from edges and shield, expired ones included.
        copies: u32,
    },
    /// The origin crashed.
    OriginDown {
        /// Simulated time in milliseconds.
        at_ms: f64,
    },
    /// The origin restarted.
    OriginUp {
        /// Simulated time in milliseconds.
        at_ms: f64,
    },
}

/// A cached copy.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CachedCopy {
    version: u64,
    /// When the origin produced this copy, so its age is `now - origin_ms`.
    origin_ms: f64,
}

/// Counts of one region in one step, for the recent-metrics window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct StepCounts {
    requests: u64,
    hits: u64,
    failed: u64,
    latency_sum_ms: f64,
}

/// One region's counters since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RegionStats {
    /// Requests from this region.
    pub requests: u64,
    /// Requests its edge served from a copy younger than the TTL.
    pub hits: u64,
    /// Requests its edge could not answer from a copy younger than the TTL.
    pub misses: u64,
    /// Misses that failed because the origin was down.
    pub failed: u64,
    /// Answers whose version was older than the origin's.
    pub stale: u64,
    /// Answers of an expired copy under stale-if-error.
    pub stale_if_error: u64,
}

/// One region as the widget draws it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionView {
    /// Region name.
    pub name: &'static str,
    /// Round trip to the origin region, in milliseconds.
    pub rtt_ms: f64,
    /// Counters since the start.
    pub stats: RegionStats,
    /// Hit ratio over the last [`RECENT_STEPS`] steps, or `None` without requests.
    pub recent_hit_ratio: Option<f64>,
    /// Mean latency of served requests over the last [`RECENT_STEPS`] steps.
    pub recent_mean_ms: Option<f64>,
    /// Version of object 0 in this edge, with whether it is younger than the TTL.
    pub hot_copy: Option<(u64, bool)>,
}

/// One region: its edge cache, arrivals and counters.
#[derive(Debug, Clone)]
struct Region {
    edge: Vec<Option<CachedCopy>>,
    next_arrival_ms: f64,
    stats: RegionStats,
    recent: VecDeque<StepCounts>,
}

/// The CDN engine.
#[derive(Debug, Clone)]
pub struct Cdn {
    config: CdnConfig,
    rng: SimRng,
    zipf: Zipf,
    now_ms: f64,
    regions: Vec<Region>,
    shield: Vec<Option<CachedCopy>>,
    versions: Vec<u64>,
    origin_up: bool,
    origin_requests: u64,
    recent_origin: VecDeque<u64>,
    latency: LatencyHistogram,
}

impl Cdn {
    /// Returns the configuration the engine runs with.
    pub fn config(&self) -> &CdnConfig {
        &self.config
    }

    /// Returns whether the origin is running.
    pub fn origin_up(&self) -> bool {
        self.origin_up
    }

    /// Returns the requests the origin has served since the start.
    pub fn origin_requests(&self) -> u64 {
        self.origin_requests
    }

    /// Returns the origin's requests per second over the last [`RECENT_STEPS`] steps.
    pub fn origin_per_s(&self) -> f64 {
        let steps = self.recent_origin.len().max(1) as f64;
        self.recent_origin.iter().sum::<u64>() as f64 * 1000.0 / (steps * STEP_MS)
    }

    /// Returns the origin's current version of `object`, or `None` outside `0..objects`.
    pub fn version(&self, object: u32) -> Option<u64> {
        self.versions.get(object as usize).copied()
    }

    /// Returns the counters of every region added together.
    pub fn totals(&self) -> RegionStats {
        let mut total = RegionStats::default();
        for region in &self.regions {
            total.requests += region.stats.requests;
            total.hits += region.stats.hits;
            total.misses += region.stats.misses;
            total.failed += region.stats.failed;
            total.stale += region.stats.stale;
            total.stale_if_error += region.stats.stale_if_error;
        }
        total
    }

    /// Returns hits over requests in every region since the start, or 0 before the first.
    pub fn hit_ratio(&self) -> f64 {
        let total = self.totals();
        if total.requests == 0 {
            0.0
        } else {
            total.hits as f64 / total.requests as f64
        }
    }

    /// Returns each region's counters and recent figures, nearest to the origin first.
    pub fn regions(&self) -> Vec<RegionView> {
        self.regions
            .iter()
            .enumerate()
            .map(|(index, region)| {
                let mut sum = StepCounts::default();
                for counts in &region.recent {
                    sum.requests += counts.requests;
                    sum.hits += counts.hits;
                    sum.failed += counts.failed;
                    sum.latency_sum_ms += counts.latency_sum_ms;
                }
                let served = sum.requests.saturating_sub(sum.failed);
                let hot_copy = region.edge.first().copied().flatten().map(|copy| {
                    let fresh = self.now_ms - copy.origin_ms < self.ttl_ms();
                    (copy.version, fresh)
                });
                RegionView {
                    name: REGION_NAMES.get(index).copied().unwrap_or("R?"),
                    rtt_ms: REGION_RTT_MS.get(index).copied().unwrap_or(0.0),
                    stats: region.stats,
                    recent_hit_ratio: (sum.requests > 0)
                        .then(|| sum.hits as f64 / sum.requests as f64),
                    recent_mean_ms: (served > 0).then(|| sum.latency_sum_ms / served as f64),
                    hot_copy,
                }
            })
            .collect()
    }

    fn ttl_ms(&self) -> f64 {
        self.config.ttl_s * 1000.0
    }

    fn next_gap_ms(&mut self) -> f64 {
        if self.config.requests_per_s > 0.0 {
            self.rng.exponential(1000.0 / self.config.requests_per_s)
        } else {
            f64::INFINITY
        }
    }

    /// Fetches `object` from the origin, counting the request, or `None` if it is down.
    fn fetch_origin(&mut self, object: usize, at_ms: f64) -> Option<CachedCopy> {
        if !self.origin_up {
            return None;
        }
        self.origin_requests += 1;
        if let Some(count) = self.recent_origin.back_mut() {
            *count += 1;
        }
        let version = self.versions.get(object).copied().unwrap_or(1);
        Some(CachedCopy {
            version,
            origin_ms: at_ms,
        })
    }

    /// Fetches `object` for an edge that missed. Returns the copy, where it came from, and the
    /// time spent beyond the region's round trip; `None` if the origin is down.
    fn fetch_upstream(&mut self, object: usize, at_ms: f64) -> Option<(CachedCopy, Source, f64)> {
        if !self.config.shield {
            let copy = self.fetch_origin(object, at_ms)?;
            return Some((copy, Source::Origin, ORIGIN_MS));
        }
        let ttl_ms = self.ttl_ms();
        if let Some(copy) = self.shield.get(object).copied().flatten() {
            if at_ms - copy.origin_ms < ttl_ms {
                return Some((copy, Source::Shield, 0.0));
            }
        }
        let copy = self.fetch_origin(object, at_ms)?;
        if let Some(slot) = self.shield.get_mut(object) {
            *slot = Some(copy);
        }
        Some((copy, Source::Origin, SHIELD_ORIGIN_MS + ORIGIN_MS))
    }

    /// Answers one request from `region` for `object` at `at_ms`.
    fn request(&mut self, region: usize, object: u32, at_ms: f64) -> Event {
        let index = object as usize;
        let ttl_ms = self.ttl_ms();
        let rtt_ms = REGION_RTT_MS.get(region).copied().unwrap_or(0.0);
        let current = self.versions.get(index).copied().unwrap_or(1);
        let cached = self
            .regions
            .get(region)
            .and_then(|r| r.edge.get(index).copied().flatten());

        let answer = match cached {
            Some(copy) if at_ms - copy.origin_ms < ttl_ms => Some((copy, Source::Edge, EDGE_MS)),
            _ => match self.fetch_upstream(index, at_ms) {
                Some((copy, source, extra_ms)) => {
                    if let Some(slot) = self
                        .regions
                        .get_mut(region)
                        .and_then(|r| r.edge.get_mut(index))
                    {
                        *slot = Some(copy);
                    }
                    Some((copy, source, EDGE_MS + rtt_ms + extra_ms))
                }
                None => cached
                    .filter(|copy| {
                        at_ms - copy.origin_ms < ttl_ms + self.config.stale_if_error_s * 1000.0
                    })
                    .map(|copy| (copy, Source::StaleIfError, EDGE_MS + rtt_ms)),
            },
        };

        if let Some((_, _, latency_ms)) = answer {
            self.latency.record_ms(latency_ms);
        }
        let Some(state) = self.regions.get_mut(region) else {
            return Event::Failed {
                at_ms,
                region: region as u32,
                object,
            };
        };
        state.stats.requests += 1;
        if state.recent.is_empty() {
            state.recent.push_back(StepCounts::default());
        }
        let step = state.recent.back_mut();
        match answer {
            Some((copy, source, latency_ms)) => {
                let stale = copy.version < current;
                if source == Source::Edge {
                    state.stats.hits += 1;
                } else {
                    state.stats.misses += 1;
                }
                if source == Source::StaleIfError {
                    state.stats.stale_if_error += 1;
                }
                if stale {
                    state.stats.stale += 1;
                }
                if let Some(step) = step {
                    step.requests += 1;
                    step.hits += u64::from(source == Source::Edge);
                    step.latency_sum_ms += latency_ms;
                }
                Event::Served {
                    at_ms,
                    region: region as u32,
                    object,
                    source,
                    age_ms: at_ms - copy.origin_ms,
                    stale,
                    latency_ms,
                }
            }
            None => {
                state.stats.misses += 1;
                state.stats.failed += 1;
                if let Some(step) = step {
                    step.requests += 1;
                    step.failed += 1;
                }
                Event::Failed {
                    at_ms,
                    region: region as u32,
                    object,
                }
            }
        }
    }

    fn check_object(&self, object: u32) -> Result<(), ActionError> {
        if object < self.config.objects {
            Ok(())
        } else {
            Err(ActionError(format!(
                "object {object} not found: use 0 to {}",
                self.config.objects.saturating_sub(1)
            )))
        }
    }

    fn publish(&mut self, object: u32) -> Result<Vec<Event>, ActionError> {
        self.check_object(object)?;
        let index = object as usize;
        let version = match self.versions.get_mut(index) {
            Some(version) => {
                *version += 1;
                *version
            }
            None => return Ok(Vec::new()),
        };
        let older = |slot: Option<&Option<CachedCopy>>| {
            slot.copied()
                .flatten()
                .is_some_and(|copy| copy.version < version)
        };
        let edge_copies = self
            .regions
            .iter()
            .filter(|region| older(region.edge.get(index)))
            .count();
        let stale_copies = edge_copies + usize::from(older(self.shield.get(index)));
        Ok(vec![Event::Published {
            at_ms: self.now_ms,
            object,
            version,
            stale_copies: stale_copies as u32,
        }])
    }

    fn purge(&mut self, object: Option<u32>) -> Result<Vec<Event>, ActionError> {
        if let Some(object) = object {
            self.check_object(object)?;
        }
        let mut copies = 0u32;
        let mut clear = |slots: &mut Vec<Option<CachedCopy>>| {
            for (index, slot) in slots.iter_mut().enumerate() {
                if object.is_none_or(|object| object as usize == index) && slot.take().is_some() {
                    copies += 1;
                }
            }
        };
        for region in &mut self.regions {
            clear(&mut region.edge);
        }
        clear(&mut self.shield);
        Ok(vec![Event::Purged {
            at_ms: self.now_ms,
            object,
            copies,
        }])
    }

    fn inject(&mut self, fault: &Fault) -> Result<Vec<Event>, ActionError> {
        Self::check_fault(fault)?;
        let at_ms = self.now_ms;
        match *fault {
            Fault::Crash { node } | Fault::Restart { node } if node != ORIGIN_NODE => {
                Err(ActionError(format!(
                    "node {node} not found: the origin is node {ORIGIN_NODE}"
                )))
            }
            Fault::Crash { .. } if !self.origin_up => {
                Err(ActionError("the origin is already down".to_string()))
            }
            Fault::Crash { .. } => {
                self.origin_up = false;
                Ok(vec![Event::OriginDown { at_ms }])
            }
            Fault::Restart { .. } if self.origin_up => {
                Err(ActionError("the origin is already running".to_string()))
            }
            Fault::Restart { .. } => {
                self.origin_up = true;
                Ok(vec![Event::OriginUp { at_ms }])
            }
            _ => Err(ActionError(
                "this simulation supports only crash and restart of the origin".to_string(),
            )),
        }
    }
}

impl Engine for Cdn {
    type Config = CdnConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: CdnConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let objects = config.objects as usize;
        let mut recent_origin = VecDeque::with_capacity(RECENT_STEPS);
        recent_origin.push_back(0);
        let mut engine = Self {
            rng: SimRng::new(seed),
            zipf: Zipf::new(config.objects, config.zipf_s),
            now_ms: 0.0,
            regions: Vec::new(),
            shield: vec![None; objects],
            versions: vec![1; objects],
            origin_up: true,
            origin_requests: 0,
            recent_origin,
            latency: LatencyHistogram::new(),
            config,
        };
        for _ in 0..engine.config.regions {
            let next_arrival_ms = engine.next_gap_ms();
            let mut recent = VecDeque::with_capacity(RECENT_STEPS);
            recent.push_back(StepCounts::default());
            engine.regions.push(Region {
                edge: vec![None; objects],
                next_arrival_ms,
                stats: RegionStats::default(),
                recent,
            });
        }
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        let end_ms = self.now_ms + STEP_MS;
        let mut events = Vec::new();
        // Requests from all regions are served in time order, because the
        // shield and the origin are shared between regions.
        loop {
            let next = self
                .regions
                .iter()
                .enumerate()
                .map(|(index, region)| (index, region.next_arrival_ms))
                .filter(|&(_, at_ms)| at_ms <= end_ms)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((region, at_ms)) = next else {
                break;
            };
            let object = self.zipf.sample(&mut self.rng);
            events.push(self.request(region, object, at_ms));
            let gap = self.next_gap_ms();
            if let Some(state) = self.regions.get_mut(region) {
                state.next_arrival_ms = at_ms + gap;
            }
        }
        self.now_ms = end_ms;

        // Open the next step's slot in every recent window.
        for region in &mut self.regions {
            if region.recent.len() == RECENT_STEPS {
                region.recent.pop_front();
            }
            region.recent.push_back(StepCounts::default());
        }
        if self.recent_origin.len() == RECENT_STEPS {
            self.recent_origin.pop_front();
        }
        self.recent_origin.push_back(0);
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match action {
            Action::Publish { object } => self.publish(*object),
            Action::Purge { object } => self.purge(*object),
            Action::Fault(fault) => self.inject(fault),
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let total = self.totals();
        let hit_ratio = self.hit_ratio();
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::new(
                    "hit-ratio",
                    "Hit ratio",
                    hit_ratio,
                    format!("{:.1}%", hit_ratio * 100.0),
                ),
                Metric::new(
                    "origin-rate",
                    "Origin req/s (last 5 s)",
                    self.origin_per_s(),
                    format!("{:.1}", self.origin_per_s()),
                ),
                Metric::count("origin-requests", "Origin requests", self.origin_requests),
                Metric::count("requests", "Requests", total.requests),
                Metric::count("stale", "Stale answers", total.stale),
                Metric::count("failed", "Failed", total.failed),
                Metric::new(
                    "time",
                    "Time",
                    self.now_ms / 1000.0,
                    format!("{:.1} s", self.now_ms / 1000.0),
                ),
            ],
            latency: self.latency.percentiles(),
            samples: vec![
                Sample {
                    label: "origin req/s",
                    value: self.origin_per_s(),
                },
                Sample {
                    label: "hit ratio %",
                    value: hit_ratio * 100.0,
                },
            ],
        }
    }
}

impl Faults for Cdn {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        vec![NodeStatus {
            id: ORIGIN_NODE,
            label: "origin".to_string(),
            up: self.origin_up,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(CdnConfig::default().validate(), Ok(()));
    }

    #[test]
    fn config_rejects_five_regions() {
        let config = CdnConfig {
            regions: 5,
            ..CdnConfig::default()
        };

        let err = Cdn::new(config, 1).err();

        assert_eq!(err.map(|err| err.field), Some("regions"));
    }

    #[test]
    fn publish_of_unknown_object_is_rejected() {
        let mut engine = Cdn::new(CdnConfig::default(), 1).ok();

        let result = engine
            .as_mut()
            .map(|engine| engine.apply(&Action::Publish { object: 100 }));

        assert!(matches!(result, Some(Err(_))), "{result:?}");
    }

    #[test]
    fn events_serialize_with_type_tag() {
        let event = Event::OriginDown { at_ms: 100.0 };

        let json = serde_json::to_string(&event).unwrap_or_default();

        assert_eq!(json, r#"{"type":"origin_down","at_ms":100.0}"#);
    }
}
