//! A cache with a TTL in front of a database, under a Zipf-distributed key stream.
//!
//! Reads arrive as a Poisson process at `reads_per_s` and writes as another at
//! `writes_per_s`. Each picks key `k` of `keys` with probability proportional to
//! `1 / (k + 1)^zipf_s`, so key 0 is the hottest. The database stores one version
//! number per key and a write increments it.
//!
//! A read looks the key up in the cache. An entry younger than `ttl_s` is a hit,
//! served in [`HIT_MS`]. An absent or expired entry is a miss, which reads the
//! database in [`MISS_MS`] and stores the value with a fresh TTL. A hit whose
//! version differs from the database's current version is a stale read. Expired
//! entries stay until they are read again or evicted, as lazy expiration does.
//! When the cache contains `capacity` entries, storing another evicts the least
//! recently used one.
//!
//! Every write goes to the database; what happens to the cache depends on the
//! strategy: [`Strategy::TtlOnly`] leaves the entry alone (it goes stale until it
//! expires), [`Strategy::InvalidateOnWrite`] deletes it (the next read misses),
//! and [`Strategy::UpdateOnWrite`] stores the new value with a fresh TTL.
//!
//! The engine runs one request stream against three caches, one per strategy, so
//! they can be compared on exactly the same traffic. `strategy` picks the cache
//! whose events, key states and metrics the widget shows; [`Cache::comparison`]
//! reports all three. Cache fills and invalidations happen at the instant of the
//! read or write, in one process, so the race in which a slow reader stores a
//! value read before a write cannot happen here.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::metrics::{LatencyHistogram, Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 100.0;

/// Latency of a read served from the cache, in milliseconds.
pub const HIT_MS: f64 = 1.0;

/// Latency of a read that misses and goes to the database, in milliseconds.
pub const MISS_MS: f64 = 20.0;

/// Maximum number of keys, and of cache entries.
pub const MAX_KEYS: u32 = 1000;

/// Steps in the recent-metrics window: 5 s at [`STEP_MS`].
pub const RECENT_STEPS: usize = 50;

/// A write strategy: the change a write makes to the cached copy of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Leaves the entry in place; it is stale until its TTL runs out.
    #[default]
    TtlOnly,
    /// Deletes the entry, so the next read misses and loads the new value.
    InvalidateOnWrite,
    /// Stores the new value in the cache with a fresh TTL.
    UpdateOnWrite,
}

impl Strategy {
    /// Every strategy, in the order [`Cache::comparison`] reports them.
    pub const ALL: [Strategy; 3] = [
        Strategy::TtlOnly,
        Strategy::InvalidateOnWrite,
        Strategy::UpdateOnWrite,
    ];

    /// Returns the strategy's name as the directive spells it.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::TtlOnly => "ttl_only",
            Strategy::InvalidateOnWrite => "invalidate_on_write",
            Strategy::UpdateOnWrite => "update_on_write",
        }
    }

    fn index(self) -> usize {
        match self {
            Strategy::TtlOnly => 0,
            Strategy::InvalidateOnWrite => 1,
            Strategy::UpdateOnWrite => 2,
        }
    }
}

/// Parameters of the cache widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Distinct keys in the database, 1 to [`MAX_KEYS`].
    pub keys: u32,
    /// Zipf exponent of the key popularity: 0 is uniform, 1 is classic Zipf.
    pub zipf_s: f64,
    /// Mean rate of reads (Poisson arrivals), per second.
    pub reads_per_s: f64,
    /// Mean rate of writes to the database (Poisson arrivals), per second.
    pub writes_per_s: f64,
    /// Time to live of a cache entry, in seconds; 0 caches nothing.
    pub ttl_s: f64,
    /// Maximum number of cache entries; beyond it the least recently used is evicted.
    pub capacity: u32,
    /// The cache whose events, key states and metrics the widget shows.
    pub strategy: Strategy,
    /// Whether the widget draws the three strategies side by side.
    pub compare: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            keys: 100,
            zipf_s: 1.0,
            reads_per_s: 100.0,
            writes_per_s: 2.0,
            ttl_s: 5.0,
            capacity: 100,
            strategy: Strategy::TtlOnly,
            compare: false,
        }
    }
}

impl Config for CacheConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("keys", self.keys, 1, MAX_KEYS)?;
        ConfigError::check_range_f64("zipf_s", self.zipf_s, 0.0, 3.0)?;
        ConfigError::check_range_f64("reads_per_s", self.reads_per_s, 0.0, 1000.0)?;
        ConfigError::check_range_f64("writes_per_s", self.writes_per_s, 0.0, 100.0)?;
        ConfigError::check_range_f64("ttl_s", self.ttl_s, 0.0, 600.0)?;
        ConfigError::check_range_u32("capacity", self.capacity, 1, MAX_KEYS)?;
        Ok(())
    }
}

/// A reader action, applied between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Writes a new version of one key to the database now.
    Write {
        /// The key, from 0 (the hottest) to `keys - 1`.
        key: u32,
    },
    /// Empties all three caches, as a restart of the cache server does.
    Flush,
}

/// The change a write made to the shown cache's copy of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteEffect {
    /// The key was not cached, or only expired, and the cache was left alone.
    NotCached,
    /// The cached value was left in place and is now stale.
    LeftStale,
    /// The cached value was deleted.
    Invalidated,
    /// The new value was stored in the cache with a fresh TTL.
    Updated,
}

/// An event in the cache the widget shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A read found a live entry.
    Hit {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The key read.
        key: u32,
        /// Time since the entry was stored, in milliseconds; always below the TTL.
        age_ms: f64,
        /// Whether the database has a newer version than the one served.
        stale: bool,
    },
    /// A read found no live entry and went to the database.
    Miss {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The key read.
        key: u32,
        /// Whether an entry was there but its TTL had run out.
        expired: bool,
    },
    /// Storing an entry pushed out the least recently used one.
    Evicted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The key whose entry was removed.
        key: u32,
    },
    /// A new version of a key was written to the database.
    Write {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The key written.
        key: u32,
        /// The key's version in the database after the write.
        version: u64,
        /// The change to the cached copy.
        effect: WriteEffect,
    },
    /// The reader emptied the caches.
    Flushed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Entries the shown cache held, expired ones included.
        entries: u32,
    },
}

/// A key's cached copy as the widget draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Not cached, or cached but expired: the next read misses.
    Absent,
    /// Cached with the database's current version.
    Fresh,
    /// Cached with an older version than the database's.
    Stale,
}

/// One key's cached copy and how much of its TTL is left.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KeyView {
    /// Whether the copy is absent, fresh or stale.
    pub state: KeyState,
    /// Remaining fraction of the TTL, from 0 (absent or expiring) to 1 (just stored).
    pub ttl_left: f64,
}

/// Counters of one cache since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CacheStats {
    /// Reads served, hits and misses together.
    pub reads: u64,
    /// Reads served from a live entry.
    pub hits: u64,
    /// Reads that went to the database.
    pub misses: u64,
    /// Misses that found an expired entry.
    pub expired: u64,
    /// Hits whose value was older than the database's.
    pub stale_reads: u64,
    /// Reads of the database: one per miss.
    pub db_reads: u64,
    /// Writes to the database.
    pub db_writes: u64,
    /// Values stored in the cache, by misses and by update-on-write.
    pub cache_sets: u64,
    /// Entries deleted by invalidate-on-write.
    pub invalidations: u64,
    /// Entries pushed out by the capacity limit.
    pub evictions: u64,
}

impl CacheStats {
    /// Returns hits over reads, or 0 before the first read.
    pub fn hit_ratio(&self) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            self.hits as f64 / self.reads as f64
        }
    }

    /// Returns stale reads over reads, or 0 before the first read.
    pub fn stale_ratio(&self) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            self.stale_reads as f64 / self.reads as f64
        }
    }
}

/// One strategy's counters, as [`Cache::comparison`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StrategyStats {
    /// The strategy.
    pub strategy: Strategy,
    /// Its cache's counters since the start.
    pub stats: CacheStats,
}

/// A sampler of key indexes `0..n` with `P(k)` proportional to `1 / (k + 1)^s`.
#[derive(Debug, Clone)]
pub struct Zipf {
    /// Cumulative probabilities, the last one exactly 1.
    cdf: Vec<f64>,
}

impl Zipf {
    /// Builds the sampler for `n` keys (at least one is used) and exponent `s`.
    pub fn new(n: u32, s: f64) -> Self {
        let weights: Vec<f64> = (1..=n.max(1))
            .map(|rank| 1.0 / libm::pow(f64::from(rank), s))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut running = 0.0;
        let mut cdf: Vec<f64> = weights
            .iter()
            .map(|weight| {
                running += weight / total;
                running
            })
            .collect();
        // Rounding can leave the sum a hair below 1; the last key takes the rest.
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Self { cdf }
    }

    /// Returns the number of keys.
    pub fn len(&self) -> usize {
        self.cdf.len()
    }

    /// Returns whether there are no keys; a sampler always has at least one.
    pub fn is_empty(&self) -> bool {
        self.cdf.is_empty()
    }

    /// Returns the probability of key `k`, or 0 outside `0..n`.
    pub fn probability(&self, k: usize) -> f64 {
        let below = if k == 0 {
            0.0
        } else {
            self.cdf.get(k - 1).copied().unwrap_or(1.0)
        };
        self.cdf.get(k).map_or(0.0, |&upto| upto - below)
    }

    /// Draws one key index.
    pub fn sample(&self, rng: &mut SimRng) -> u32 {
        let u = rng.uniform();
        // The first index whose cumulative probability exceeds u; u < 1 = cdf[n - 1].
        let index = self.cdf.partition_point(|&upto| upto <= u);
        index.min(self.cdf.len().saturating_sub(1)) as u32
    }
}

/// One cached value.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    version: u64,
    stored_ms: f64,
    expires_ms: f64,
    /// Use counter at the last read or store, for LRU eviction.
    last_used: u64,
}

/// Counts of one step, for the recent-metrics window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct StepCounts {
    reads: u64,
    hits: u64,
    stale_reads: u64,
    db_reads: u64,
}

/// One cache with its own entries and counters.
#[derive(Debug, Clone)]
struct Store {
    strategy: Strategy,
    /// Entries by key; `None` where the key is not cached.
    entries: Vec<Option<Entry>>,
    len: u32,
    use_counter: u64,
    stats: CacheStats,
    latency: LatencyHistogram,
    recent: VecDeque<StepCounts>,
}

impl Store {
    fn new(strategy: Strategy, keys: u32) -> Self {
        let mut recent = VecDeque::with_capacity(RECENT_STEPS);
        recent.push_back(StepCounts::default());
        Self {
            strategy,
            entries: vec![None; keys as usize],
            len: 0,
            use_counter: 0,
            stats: CacheStats::default(),
            latency: LatencyHistogram::new(),
            recent,
        }
    }

    fn current(&mut self) -> &mut StepCounts {
        if self.recent.is_empty() {
            self.recent.push_back(StepCounts::default());
        }
        let last = self.recent.len() - 1;
        &mut self.recent[last]
    }

    fn next_use(&mut self) -> u64 {
        self.use_counter += 1;
        self.use_counter
    }

    /// Serves one read and returns its event.
    fn read(
        &mut self,
        key: u32,
        at_ms: f64,
        db_version: u64,
        ttl_ms: f64,
        capacity: u32,
    ) -> Vec<Event> {
        let used = self.next_use();
        self.stats.reads += 1;
        self.current().reads += 1;
        let slot = key as usize;
        let cached = self.entries.get(slot).copied().flatten();
        if let Some(entry) = cached.filter(|entry| at_ms < entry.expires_ms) {
            let stale = entry.version != db_version;
            if let Some(Some(live)) = self.entries.get_mut(slot) {
                live.last_used = used;
            }
            self.stats.hits += 1;
            self.current().hits += 1;
            if stale {
                self.stats.stale_reads += 1;
                self.current().stale_reads += 1;
            }
            self.latency.record_ms(HIT_MS);
            return vec![Event::Hit {
                at_ms,
                key,
                age_ms: at_ms - entry.stored_ms,
                stale,
            }];
        }

        let expired = cached.is_some();
        self.stats.misses += 1;
        self.stats.db_reads += 1;
        self.current().db_reads += 1;
        if expired {
            self.stats.expired += 1;
        }
        self.latency.record_ms(MISS_MS);
        let mut events = vec![Event::Miss {
            at_ms,
            key,
            expired,
        }];
        events.extend(self.store(key, at_ms, db_version, ttl_ms, capacity));
        events
    }

    /// Stores `version` of `key` with a fresh TTL, evicting the LRU entry if full.
    fn store(
        &mut self,
        key: u32,
        at_ms: f64,
        version: u64,
        ttl_ms: f64,
        capacity: u32,
    ) -> Option<Event> {
        let slot = key as usize;
        let mut evicted = None;
        let present = matches!(self.entries.get(slot), Some(Some(_)));
        if !present && self.len >= capacity {
            evicted = self.evict_lru();
            if let Some(victim) = evicted {
                if let Some(entry) = self.entries.get_mut(victim as usize) {
                    *entry = None;
                }
                self.len = self.len.saturating_sub(1);
                self.stats.evictions += 1;
            }
        }
        let used = self.next_use();
        if let Some(entry) = self.entries.get_mut(slot) {
            if entry.is_none() {
                self.len += 1;
            }
            *entry = Some(Entry {
                version,
                stored_ms: at_ms,
                expires_ms: at_ms + ttl_ms,
                last_used: used,
            });
            self.stats.cache_sets += 1;
        }
        evicted.map(|key| Event::Evicted { at_ms, key })
    }

    /// Finds the least recently used key, if any entry is cached.
    fn evict_lru(&self) -> Option<u32> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(key, entry)| entry.map(|entry| (entry.last_used, key)))
            .min()
            .map(|(_, key)| key as u32)
    }

    /// Applies a database write of `key`, now at `version`, to this cache.
    fn write(
        &mut self,
        key: u32,
        at_ms: f64,
        version: u64,
        ttl_ms: f64,
        capacity: u32,
    ) -> (WriteEffect, Option<Event>) {
        self.stats.db_writes += 1;
        let slot = key as usize;
        let live = matches!(self.entries.get(slot), Some(Some(entry)) if at_ms < entry.expires_ms);
        match self.strategy {
            Strategy::TtlOnly if live => (WriteEffect::LeftStale, None),
            Strategy::TtlOnly => (WriteEffect::NotCached, None),
            Strategy::InvalidateOnWrite => {
                let removed = self.entries.get_mut(slot).and_then(Option::take);
                if removed.is_some() {
                    self.len = self.len.saturating_sub(1);
                    self.stats.invalidations += 1;
                }
                if live {
                    (WriteEffect::Invalidated, None)
                } else {
                    (WriteEffect::NotCached, None)
                }
            }
            Strategy::UpdateOnWrite => {
                let evicted = self.store(key, at_ms, version, ttl_ms, capacity);
                (WriteEffect::Updated, evicted)
            }
        }
    }

    fn flush(&mut self) -> u32 {
        let entries = self.len;
        for entry in &mut self.entries {
            *entry = None;
        }
        self.len = 0;
        entries
    }

    fn end_step(&mut self) {
        if self.recent.len() >= RECENT_STEPS {
            self.recent.pop_front();
        }
        self.recent.push_back(StepCounts::default());
    }

    fn recent_totals(&self) -> StepCounts {
        self.recent
            .iter()
            .fold(StepCounts::default(), |sum, step| StepCounts {
                reads: sum.reads + step.reads,
                hits: sum.hits + step.hits,
                stale_reads: sum.stale_reads + step.stale_reads,
                db_reads: sum.db_reads + step.db_reads,
            })
    }
}

/// The cache engine: one request stream, one database, three caches.
#[derive(Debug, Clone)]
pub struct Cache {
    config: CacheConfig,
    rng: SimRng,
    zipf: Zipf,
    now_ms: f64,
    steps: u64,
    /// The database: the current version of every key.
    versions: Vec<u64>,
    /// One cache per strategy, in the order of [`Strategy::ALL`].
    stores: [Store; 3],
    next_read_ms: f64,
    next_write_ms: f64,
}

impl Cache {
    /// Returns the configuration the engine runs with.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Returns the TTL in milliseconds.
    pub fn ttl_ms(&self) -> f64 {
        self.config.ttl_s * 1000.0
    }

    /// Returns the key sampler that reads and writes draw from.
    pub fn zipf(&self) -> &Zipf {
        &self.zipf
    }

    /// Returns the database's current version of `key`, or `None` for an unknown key.
    pub fn db_version(&self, key: u32) -> Option<u64> {
        self.versions.get(key as usize).copied()
    }

    /// Returns the counters of the cache the widget shows.
    pub fn stats(&self) -> CacheStats {
        self.shown().stats
    }

    /// Returns the counters of the cache that uses `strategy`.
    pub fn stats_for(&self, strategy: Strategy) -> CacheStats {
        self.store(strategy).stats
    }

    /// Returns every strategy's counters, in the order of [`Strategy::ALL`].
    pub fn comparison(&self) -> [StrategyStats; 3] {
        Strategy::ALL.map(|strategy| StrategyStats {
            strategy,
            stats: self.stats_for(strategy),
        })
    }

    /// Returns the number of entries in the shown cache, expired ones included.
    pub fn entries(&self) -> u32 {
        self.shown().len
    }

    /// Returns the number of entries in the cache that uses `strategy`, expired ones included.
    pub fn entries_for(&self, strategy: Strategy) -> u32 {
        self.store(strategy).len
    }

    /// Returns the shown cache's copy of `key` now, or `None` for an unknown key.
    pub fn key_view(&self, key: u32) -> Option<KeyView> {
        self.key_view_for(self.config.strategy, key)
    }

    /// Returns the copy of `key` in the cache that uses `strategy`, or `None` for an unknown key.
    pub fn key_view_for(&self, strategy: Strategy, key: u32) -> Option<KeyView> {
        let db_version = self.db_version(key)?;
        let entry = self.store(strategy).entries.get(key as usize).copied()?;
        let ttl_ms = self.ttl_ms();
        Some(match entry {
            Some(entry) if self.now_ms < entry.expires_ms => KeyView {
                state: if entry.version == db_version {
                    KeyState::Fresh
                } else {
                    KeyState::Stale
                },
                ttl_left: if ttl_ms > 0.0 {
                    ((entry.expires_ms - self.now_ms) / ttl_ms).clamp(0.0, 1.0)
                } else {
                    0.0
                },
            },
            _ => KeyView {
                state: KeyState::Absent,
                ttl_left: 0.0,
            },
        })
    }

    /// Returns the shown cache's hit ratio over the last [`RECENT_STEPS`] steps, or
    /// `None` if there were no reads.
    pub fn recent_hit_ratio(&self) -> Option<f64> {
        let recent = self.shown().recent_totals();
        (recent.reads > 0).then(|| recent.hits as f64 / recent.reads as f64)
    }

    /// Returns the shown cache's stale reads per second over the recent window.
    pub fn recent_stale_per_s(&self) -> f64 {
        self.per_second(self.shown().recent_totals().stale_reads)
    }

    /// Returns the shown cache's database reads per second over the recent window.
    pub fn recent_db_reads_per_s(&self) -> f64 {
        self.per_second(self.shown().recent_totals().db_reads)
    }

    fn per_second(&self, count: u64) -> f64 {
        // The window covers the finished steps in it plus the step under way.
        let steps = (self.shown().recent.len().saturating_sub(1)).max(1) as f64;
        count as f64 * 1000.0 / (steps * STEP_MS)
    }

    fn store(&self, strategy: Strategy) -> &Store {
        &self.stores[strategy.index()]
    }

    fn shown(&self) -> &Store {
        self.store(self.config.strategy)
    }

    fn read(&mut self, key: u32, at_ms: f64) -> Vec<Event> {
        let db_version = self.db_version(key).unwrap_or(0);
        let ttl_ms = self.ttl_ms();
        let capacity = self.config.capacity;
        let shown = self.config.strategy.index();
        let mut events = Vec::new();
        for (index, store) in self.stores.iter_mut().enumerate() {
            let store_events = store.read(key, at_ms, db_version, ttl_ms, capacity);
            if index == shown {
                events = store_events;
            }
        }
        events
    }

    fn write(&mut self, key: u32, at_ms: f64) -> Vec<Event> {
        let Some(version) = self.versions.get_mut(key as usize) else {
            return Vec::new();
        };
        *version += 1;
        let version = *version;
        let ttl_ms = self.ttl_ms();
        let capacity = self.config.capacity;
        let shown = self.config.strategy.index();
        let mut events = Vec::new();
        for (index, store) in self.stores.iter_mut().enumerate() {
            let (effect, evicted) = store.write(key, at_ms, version, ttl_ms, capacity);
            if index == shown {
                events.extend(evicted);
                events.push(Event::Write {
                    at_ms,
                    key,
                    version,
                    effect,
                });
            }
        }
        events
    }

    fn gap_ms(&mut self, per_s: f64) -> f64 {
        if per_s > 0.0 {
            self.rng.exponential(1000.0 / per_s)
        } else {
            f64::INFINITY
        }
    }
}

impl Engine for Cache {
    type Config = CacheConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: CacheConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let keys = config.keys;
        let stores = Strategy::ALL.map(|strategy| Store::new(strategy, keys));
        let mut engine = Self {
            zipf: Zipf::new(keys, config.zipf_s),
            config,
            rng: SimRng::new(seed),
            now_ms: 0.0,
            steps: 0,
            versions: vec![0; keys as usize],
            stores,
            next_read_ms: f64::INFINITY,
            next_write_ms: f64::INFINITY,
        };
        engine.next_read_ms = engine.gap_ms(engine.config.reads_per_s);
        engine.next_write_ms = engine.gap_ms(engine.config.writes_per_s);
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        let end_ms = self.now_ms + STEP_MS;
        let mut events = Vec::new();
        // Reads and writes are handled in time order; at a tie the write goes first.
        loop {
            let write_first = self.next_write_ms <= self.next_read_ms;
            let at_ms = self.next_write_ms.min(self.next_read_ms);
            if at_ms > end_ms {
                break;
            }
            let key = self.zipf.sample(&mut self.rng);
            if write_first {
                events.extend(self.write(key, at_ms));
                self.next_write_ms = at_ms + self.gap_ms(self.config.writes_per_s);
            } else {
                events.extend(self.read(key, at_ms));
                self.next_read_ms = at_ms + self.gap_ms(self.config.reads_per_s);
            }
        }
        self.now_ms = end_ms;
        self.steps += 1;
        for store in &mut self.stores {
            store.end_step();
        }
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match *action {
            Action::Write { key } => {
                if key >= self.config.keys {
                    return Err(ActionError(format!(
                        "invalid key {key}: write a key from 0 to {}",
                        self.config.keys - 1
                    )));
                }
                Ok(self.write(key, self.now_ms))
            }
            Action::Flush => {
                let shown = self.config.strategy.index();
                let mut entries = 0;
                for (index, store) in self.stores.iter_mut().enumerate() {
                    let flushed = store.flush();
                    if index == shown {
                        entries = flushed;
                    }
                }
                Ok(vec![Event::Flushed {
                    at_ms: self.now_ms,
                    entries,
                }])
            }
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let stats = self.stats();
        let hit_ratio = stats.hit_ratio() * 100.0;
        let recent_hit = self.recent_hit_ratio().unwrap_or(0.0) * 100.0;
        let db_per_s = self.recent_db_reads_per_s();
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::new(
                    "hit-ratio",
                    "Hit ratio",
                    hit_ratio,
                    format!("{hit_ratio:.1}%"),
                ),
                Metric::count("hits", "Hits", stats.hits),
                Metric::count("misses", "Misses", stats.misses),
                Metric::count("stale-reads", "Stale reads", stats.stale_reads),
                Metric::new(
                    "stale-share",
                    "Stale share of reads",
                    stats.stale_ratio() * 100.0,
                    format!("{:.1}%", stats.stale_ratio() * 100.0),
                ),
                Metric::count("db-reads", "Database reads", stats.db_reads),
                Metric::new(
                    "time",
                    "Time",
                    self.now_ms / 1000.0,
                    format!("{:.1} s", self.now_ms / 1000.0),
                ),
            ],
            latency: self.shown().latency.percentiles(),
            samples: vec![
                Sample {
                    label: "hit ratio % (last 5 s)",
                    value: recent_hit,
                },
                Sample {
                    label: "stale reads/s",
                    value: self.recent_stale_per_s(),
                },
                Sample {
                    label: "database reads/s",
                    value: db_per_s,
                },
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(strategy: Strategy, ttl_s: f64, capacity: u32) -> Cache {
        let config = CacheConfig {
            keys: 10,
            reads_per_s: 0.0,
            writes_per_s: 0.0,
            ttl_s,
            capacity,
            strategy,
            ..CacheConfig::default()
        };
        match Cache::new(config, 1) {
            Ok(engine) => engine,
            Err(err) => panic!("valid config rejected: {err}"),
        }
    }

    #[test]
    fn zipf_probabilities_sum_to_one() {
        let zipf = Zipf::new(50, 1.2);

        let total: f64 = (0..50).map(|k| zipf.probability(k)).sum();

        assert!((total - 1.0).abs() < 1e-12, "total {total}");
    }

    #[test]
    fn zipf_with_zero_exponent_is_uniform() {
        let zipf = Zipf::new(4, 0.0);

        let probabilities: Vec<f64> = (0..4).map(|k| zipf.probability(k)).collect();

        assert_eq!(probabilities, [0.25, 0.25, 0.25, 0.25]);
    }

    #[test]
    fn read_after_miss_hits() {
        let mut engine = quiet(Strategy::TtlOnly, 5.0, 10);

        let first = engine.read(3, 0.0);
        let second = engine.read(3, 10.0);

        assert!(matches!(
            first.first(),
            Some(Event::Miss { expired: false, .. })
        ));
        assert!(matches!(
            second.first(),
            Some(Event::Hit { stale: false, .. })
        ));
    }

    #[test]
    fn entry_expires_at_ttl() {
        let mut engine = quiet(Strategy::TtlOnly, 1.0, 10);
        engine.read(3, 0.0);

        let before = engine.read(3, 999.0);
        let at = engine.read(3, 1000.0);

        assert!(matches!(before.first(), Some(Event::Hit { .. })));
        assert!(matches!(
            at.first(),
            Some(Event::Miss { expired: true, .. })
        ));
    }

    #[test]
    fn full_cache_evicts_least_recently_used() {
        let mut engine = quiet(Strategy::TtlOnly, 60.0, 2);
        engine.read(0, 0.0);
        engine.read(1, 1.0);
        engine.read(0, 2.0);

        let events = engine.read(2, 3.0);

        assert!(
            events.contains(&Event::Evicted { at_ms: 3.0, key: 1 }),
            "{events:?}"
        );
        assert_eq!(engine.entries(), 2);
    }

    #[test]
    fn write_to_unknown_key_is_rejected() {
        let mut engine = quiet(Strategy::TtlOnly, 5.0, 10);

        let result = engine.apply(&Action::Write { key: 10 });

        assert!(result.is_err(), "key 10 of 10 was written");
    }
}
