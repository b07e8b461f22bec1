//! Database indexing: rows examined per query with a full scan or a B-tree index.
//!
//! A table starts with `initial_rows` rows and grows by `insert_per_s` rows per
//! second of simulated time. Queries arrive as a Poisson process at
//! `query_per_s`; a share `range_pct` of them are range queries that match
//! `range_rows` rows, and the rest are point lookups by a unique key that match
//! one row.
//!
//! Without an index every query examines every row. With a B-tree index of
//! fan-out `f` a query reads one page per level, `depth = ceil(log_f n)` pages
//! for `n` rows (at least one), and then the rows it returns, so it examines
//! `depth + matches`. The index is paid for on writes: each insert writes its
//! row and also walks the `depth` index pages to put its key in place.
//!
//! Each row or page examined costs `cost_per_row_us` microseconds, so a query's
//! latency is its examined count times that cost. The model counts work only:
//! it has no buffer cache, no page splits and no concurrency.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::metrics::{LatencyHistogram, Metric, Percentiles, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 100.0;

/// Most rows the table grows to; inserts stop there.
pub const MAX_ROWS: u64 = 1_000_000_000;

/// Largest configurable query rate, per second.
pub const MAX_QUERY_PER_S: f64 = 1000.0;

/// Largest configurable insert rate, rows per second.
pub const MAX_INSERT_PER_S: f64 = 1_000_000.0;

/// Largest configurable B-tree fan-out.
pub const MAX_FANOUT: u32 = 1000;

/// Samples kept for [`Indexing::trace`]: 20 s at one per step.
pub const TRACE_LEN: usize = 200;

/// Simulated time that [`Indexing::recent_queries`] covers, in milliseconds: the same 20 s
/// as [`TRACE_LEN`] steps, so the widget can draw a dot for every query on its chart.
pub const RECENT_SPAN_MS: f64 = TRACE_LEN as f64 * STEP_MS;

/// Most queries kept for [`Indexing::recent_queries`]. At the default 20 queries/s the
/// 20 s span holds about 400; above 100 queries/s the cap shortens the span it covers.
pub const RECENT_QUERIES: usize = 2000;

/// Parameters of the indexing widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexingConfig {
    /// Rows in the table at the start.
    pub initial_rows: u32,
    /// Rows inserted per second of simulated time.
    pub insert_per_s: f64,
    /// Mean rate of queries (Poisson arrivals), per second.
    pub query_per_s: f64,
    /// Share of queries that are range queries, in percent; the rest are point lookups.
    pub range_pct: f64,
    /// Rows one range query matches, fewer while the table is smaller.
    pub range_rows: u32,
    /// Keys per B-tree page, so children per inner page.
    pub fanout: u32,
    /// Whether the table has a B-tree index on the queried key.
    pub indexed: bool,
    /// Time to examine one row or one index page, in microseconds.
    pub cost_per_row_us: f64,
}

impl Default for IndexingConfig {
    fn default() -> Self {
        Self {
            initial_rows: 1000,
            insert_per_s: 5000.0,
            query_per_s: 20.0,
            range_pct: 20.0,
            range_rows: 50,
            fanout: 100,
            indexed: false,
            cost_per_row_us: 1.0,
        }
    }
}

impl Config for IndexingConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("initial_rows", self.initial_rows, 1, 10_000_000)?;
        ConfigError::check_range_f64("insert_per_s", self.insert_per_s, 0.0, MAX_INSERT_PER_S)?;
        ConfigError::check_range_f64("query_per_s", self.query_per_s, 0.0, MAX_QUERY_PER_S)?;
        ConfigError::check_range_f64("range_pct", self.range_pct, 0.0, 100.0)?;
        ConfigError::check_range_u32("range_rows", self.range_rows, 1, 100_000)?;
        ConfigError::check_range_u32("fanout", self.fanout, 2, MAX_FANOUT)?;
        ConfigError::check_range_f64("cost_per_row_us", self.cost_per_row_us, 0.01, 1000.0)?;
        Ok(())
    }
}

/// The kind of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    /// `WHERE key = ?`: one row matches.
    Point,
    /// `WHERE key BETWEEN ? AND ?`: `range_rows` rows match.
    Range,
}

/// An action a reader can take between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Creates the index (`enabled: true`) or drops it, effective for the next query.
    SetIndex {
        /// Whether the table has the index from now on.
        enabled: bool,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A query ran.
    Query {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Point lookup or range query.
        kind: QueryKind,
        /// Rows the query returned.
        matches: u64,
        /// Rows and index pages the query examined.
        examined: u64,
        /// Whether the query used the index.
        indexed: bool,
        /// Examined count times the cost per row, in milliseconds.
        latency_ms: f64,
    },
    /// Rows were inserted during one step.
    Inserted {
        /// Simulated time at the end of the step, in milliseconds.
        at_ms: f64,
        /// Rows added in this step.
        rows_added: u64,
        /// Rows in the table after the step.
        rows: u64,
        /// Pages each of these inserts wrote or walked: 1, plus the index depth if indexed.
        pages_per_insert: u64,
    },
    /// The index was created over every row, or dropped.
    IndexChanged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Whether the index exists now.
        enabled: bool,
        /// Rows in the table, which is also the number of entries a new index holds.
        rows: u64,
    },
}

/// One sample of the table, as the widget's chart draws it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TracePoint {
    /// Simulated time in milliseconds.
    pub at_ms: f64,
    /// Rows in the table, which a point lookup examines without an index.
    pub rows: u64,
    /// Rows and pages a point lookup examines with the index: depth + 1.
    pub indexed_examined: u64,
}

/// Returns the depth of a B-tree with `fanout` keys per page over `rows` keys.
///
/// The depth is the smallest `d >= 1` with `fanout^d >= rows`, which is
/// `ceil(log_fanout(rows))` for two or more rows. It is computed with integers
/// so that exact powers of the fan-out do not round the wrong way. A fan-out
/// below 2 is treated as 2.
///
/// ```
/// assert_eq!(sim::indexing::btree_depth(100, 100), 1);
/// assert_eq!(sim::indexing::btree_depth(101, 100), 2);
/// assert_eq!(sim::indexing::btree_depth(1_000_000, 100), 3);
/// ```
pub fn btree_depth(rows: u64, fanout: u32) -> u64 {
    let fanout = u64::from(fanout.max(2));
    let mut depth = 1;
    let mut reach = fanout;
    while reach < rows {
        reach = reach.saturating_mul(fanout);
        depth += 1;
    }
    depth
}

/// Returns the rows and pages a query examines: every row without an index,
/// `depth + matches` with one.
///
/// ```
/// use sim::indexing::examined;
/// assert_eq!(examined(50_000, 1, 100, false), 50_000);
/// assert_eq!(examined(50_000, 1, 100, true), 3 + 1);
/// ```
pub fn examined(rows: u64, matches: u64, fanout: u32, indexed: bool) -> u64 {
    if indexed {
        btree_depth(rows, fanout) + matches
    } else {
        rows
    }
}

/// The indexing engine.
#[derive(Debug, Clone)]
pub struct Indexing {
    config: IndexingConfig,
    rng: SimRng,
    now_ms: f64,
    rows: u64,
    /// Fraction of a row carried to the next step, so slow insert rates still add rows.
    pending_rows: f64,
    /// Time of the next query, or infinity when `query_per_s` is 0.
    next_query_ms: f64,
    queries: u64,
    examined_total: u64,
    inserts: u64,
    insert_pages: u64,
    scan_latency: LatencyHistogram,
    index_latency: LatencyHistogram,
    last_examined: Option<u64>,
    trace: VecDeque<TracePoint>,
    recent: VecDeque<(f64, QueryKind, u64, bool)>,
}

impl Indexing {
    /// Returns the configuration, with `indexed` as the reader last set it.
    pub fn config(&self) -> &IndexingConfig {
        &self.config
    }

    /// Returns the rows in the table now.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Returns whether the table has the index now.
    pub fn indexed(&self) -> bool {
        self.config.indexed
    }

    /// Returns the depth the index has, or would have, over the current rows.
    pub fn depth(&self) -> u64 {
        btree_depth(self.rows, self.config.fanout)
    }

    /// Returns the pages one insert writes or walks now: its row, plus the index depth.
    pub fn pages_per_insert(&self) -> u64 {
        if self.config.indexed {
            1 + self.depth()
        } else {
            1
        }
    }

    /// Returns the queries run since the start.
    pub fn queries(&self) -> u64 {
        self.queries
    }

    /// Returns the rows and pages examined by all queries since the start.
    pub fn examined_total(&self) -> u64 {
        self.examined_total
    }

    /// Returns the rows inserted since the start.
    pub fn inserts(&self) -> u64 {
        self.inserts
    }

    /// Returns the pages written or walked by all inserts since the start.
    pub fn insert_pages(&self) -> u64 {
        self.insert_pages
    }

    /// Returns the rows and pages the last query examined, if any query ran.
    pub fn last_examined(&self) -> Option<u64> {
        self.last_examined
    }

    /// Returns latency percentiles of the queries that scanned the table.
    pub fn scan_percentiles(&self) -> Option<Percentiles> {
        self.scan_latency.percentiles()
    }

    /// Returns latency percentiles of the queries that used the index.
    pub fn index_percentiles(&self) -> Option<Percentiles> {
        self.index_latency.percentiles()
    }

    /// Returns one sample per step for the last [`TRACE_LEN`] steps, oldest first.
    pub fn trace(&self) -> impl ExactSizeIterator<Item = &TracePoint> + '_ {
        self.trace.iter()
    }

    /// Returns the queries of the last [`RECENT_SPAN_MS`], at most the last
    /// [`RECENT_QUERIES`] of them, as `(at_ms, kind, examined, indexed)`, oldest first.
    pub fn recent_queries(
        &self,
    ) -> impl ExactSizeIterator<Item = &(f64, QueryKind, u64, bool)> + '_ {
        self.recent.iter()
    }

    /// Draws the gap to the next query, or infinity if there are none.
    fn next_gap_ms(&mut self) -> f64 {
        if self.config.query_per_s > 0.0 {
            self.rng.exponential(1000.0 / self.config.query_per_s)
        } else {
            f64::INFINITY
        }
    }

    /// Runs one query at `at_ms` against the current table.
    fn query(&mut self, at_ms: f64) -> Event {
        let kind = if self.rng.uniform() * 100.0 < self.config.range_pct {
            QueryKind::Range
        } else {
            QueryKind::Point
        };
        let matches = match kind {
            QueryKind::Point => 1,
            QueryKind::Range => u64::from(self.config.range_rows).min(self.rows),
        };
        let indexed = self.config.indexed;
        let examined = examined(self.rows, matches, self.config.fanout, indexed);
        let latency_ms = examined as f64 * self.config.cost_per_row_us / 1000.0;

        self.queries += 1;
        self.examined_total = self.examined_total.saturating_add(examined);
        self.last_examined = Some(examined);
        if indexed {
            self.index_latency.record_ms(latency_ms);
        } else {
            self.scan_latency.record_ms(latency_ms);
        }
        if self.recent.len() == RECENT_QUERIES {
            self.recent.pop_front();
        }
        self.recent.push_back((at_ms, kind, examined, indexed));
        Event::Query {
            at_ms,
            kind,
            matches,
            examined,
            indexed,
            latency_ms,
        }
    }

    /// Adds this step's rows, at most up to [`MAX_ROWS`].
    fn insert(&mut self, at_ms: f64) -> Option<Event> {
        self.pending_rows += self.config.insert_per_s * STEP_MS / 1000.0;
        let whole = self.pending_rows.floor();
        self.pending_rows -= whole;
        let rows_added = (whole as u64).min(MAX_ROWS - self.rows.min(MAX_ROWS));
        if rows_added == 0 {
            return None;
        }
        // Every insert in one step is charged the depth after the step, a slight overcount
        // in the step where the tree gains a level.
        self.rows += rows_added;
        let pages_per_insert = self.pages_per_insert();
        self.inserts += rows_added;
        self.insert_pages = self
            .insert_pages
            .saturating_add(rows_added.saturating_mul(pages_per_insert));
        Some(Event::Inserted {
            at_ms,
            rows_added,
            rows: self.rows,
            pages_per_insert,
        })
    }
}

impl Engine for Indexing {
    type Config = IndexingConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: IndexingConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut engine = Self {
            rows: u64::from(config.initial_rows),
            config,
            rng: SimRng::new(seed),
            now_ms: 0.0,
            pending_rows: 0.0,
            next_query_ms: f64::INFINITY,
            queries: 0,
            examined_total: 0,
            inserts: 0,
            insert_pages: 0,
            scan_latency: LatencyHistogram::new(),
            index_latency: LatencyHistogram::new(),
            last_examined: None,
            trace: VecDeque::with_capacity(TRACE_LEN),
            recent: VecDeque::new(),
        };
        engine.next_query_ms = engine.next_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        let end_ms = self.now_ms + STEP_MS;
        let mut events = Vec::new();
        // Queries run against the table as it was at the start of the step, and the
        // step's inserts land at its end.
        while self.next_query_ms <= end_ms {
            let at_ms = self.next_query_ms;
            events.push(self.query(at_ms));
            self.next_query_ms = at_ms + self.next_gap_ms();
        }
        self.now_ms = end_ms;
        events.extend(self.insert(end_ms));
        while self
            .recent
            .front()
            .is_some_and(|q| q.0 < end_ms - RECENT_SPAN_MS)
        {
            self.recent.pop_front();
        }

        if self.trace.len() == TRACE_LEN {
            self.trace.pop_front();
        }
        self.trace.push_back(TracePoint {
            at_ms: self.now_ms,
            rows: self.rows,
            indexed_examined: examined(self.rows, 1, self.config.fanout, true),
        });
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match *action {
            Action::SetIndex { enabled } => {
                if enabled == self.config.indexed {
                    let state = if enabled { "already has" } else { "has no" };
                    return Err(ActionError(format!(
                        "the table {state} an index: nothing to change"
                    )));
                }
                self.config.indexed = enabled;
                Ok(vec![Event::IndexChanged {
                    at_ms: self.now_ms,
                    enabled,
                    rows: self.rows,
                }])
            }
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let current = if self.config.indexed {
            &self.index_latency
        } else {
            &self.scan_latency
        };
        let ms_text = |ms: Option<f64>| match ms {
            Some(ms) => format!("{ms:.3} ms"),
            None => "–".to_string(),
        };
        let p99_text = |p: Option<Percentiles>| ms_text(p.map(|p| p.p99_ms));
        let current = current.percentiles();
        let scan = self.scan_percentiles();
        let index = self.index_percentiles();
        let examined = self.last_examined.unwrap_or(0);
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::count("rows", "Rows", self.rows),
                Metric::count("depth", "Index depth", self.depth()),
                Metric::count("examined", "Examined, last query", examined),
                Metric::new(
                    "scan-p99",
                    "p99, scans",
                    scan.map_or(f64::NAN, |p| p.p99_ms),
                    p99_text(scan),
                ),
                Metric::new(
                    "index-p99",
                    "p99, index",
                    index.map_or(f64::NAN, |p| p.p99_ms),
                    p99_text(index),
                ),
                Metric::count("write-pages", "Pages per insert", self.pages_per_insert()),
                Metric::count("queries", "Queries", self.queries),
                Metric::new(
                    "p50",
                    "p50",
                    current.map_or(f64::NAN, |p| p.p50_ms),
                    ms_text(current.map(|p| p.p50_ms)),
                ),
                Metric::new(
                    "p95",
                    "p95",
                    current.map_or(f64::NAN, |p| p.p95_ms),
                    ms_text(current.map(|p| p.p95_ms)),
                ),
                Metric::new(
                    "p99",
                    "p99",
                    current.map_or(f64::NAN, |p| p.p99_ms),
                    ms_text(current.map(|p| p.p99_ms)),
                ),
            ],
            // The percentiles of the current mode go in as metrics with 3 decimals, because the
            // panel's own latency cards round to whole milliseconds and an index lookup takes
            // a few microseconds.
            latency: None,
            samples: vec![Sample {
                label: "rows examined, last query",
                value: examined as f64,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_of_one_row_is_one() {
        assert_eq!(btree_depth(1, 100), 1);
    }

    #[test]
    fn depth_saturates_for_huge_tables() {
        assert_eq!(btree_depth(u64::MAX, 2), 64);
    }

    #[test]
    fn events_serialize_with_type_tag() {
        let event = Event::IndexChanged {
            at_ms: 100.0,
            enabled: true,
            rows: 7,
        };

        let json = serde_json::to_string(&event).unwrap_or_default();

        assert_eq!(
            json,
            r#"{"type":"index_changed","at_ms":100.0,"enabled":true,"rows":7}"#
        );
    }
}
