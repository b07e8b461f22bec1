//! Pagination: an offset reader and a cursor (keyset) reader page through the same changing list.
//!
//! The list is sorted by `(created_at, id)` descending, newest first, like a feed. New rows
//! arrive at the top as a Poisson process at `insert_per_s`, and existing rows are deleted at
//! random at `delete_per_s`. Two readers start together and fetch a page of `page_size` rows
//! every `page_ms`:
//!
//! - the offset reader asks for `LIMIT k OFFSET n`, so every insert above its position shifts
//!   rows down and it sees one of them again (a duplicate), and every delete above it shifts
//!   rows up and it never sees one (a miss). The database walks past `n` rows to skip them, so
//!   a page scans `n + k` rows.
//! - the cursor reader asks for `WHERE (created_at, id) < (last_created_at, last_id) LIMIT k`,
//!   which an index on `(created_at, id)` answers by seeking to the key and reading `k` rows.
//!   Changes above the key cannot move it, so it never duplicates or misses a row.
//!
//! A row counts as missed when it existed for the whole read so far, sorts above the reader's
//! last row (the reader has passed its place), and was never returned.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::{Metric, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Largest number of rows the list may start with.
pub const MAX_ROWS: u32 = 1000;

/// Largest page size.
pub const MAX_PAGE_SIZE: u32 = 50;

/// Largest number of rows one [`Action::Insert`] or [`Action::Delete`] may change.
pub const MAX_CHANGE: u32 = 100;

/// Largest insert or delete rate, per second.
pub const MAX_RATE_PER_S: f64 = 50.0;

/// Query form a reader uses for the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `LIMIT k OFFSET n`.
    Offset,
    /// `WHERE (created_at, id) < (last_created_at, last_id) LIMIT k`.
    Cursor,
}

impl Method {
    /// Returns the name the widget shows.
    pub fn label(self) -> &'static str {
        match self {
            Self::Offset => "offset",
            Self::Cursor => "cursor",
        }
    }
}

/// Parameters of the pagination widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaginationConfig {
    /// Rows in the list at the start, 1 to [`MAX_ROWS`].
    pub rows: u32,
    /// Rows per page, the `k` of `LIMIT k`.
    pub page_size: u32,
    /// Mean rate of new rows at the top (Poisson), per second.
    pub insert_per_s: f64,
    /// Mean rate of deletions of random rows (Poisson), per second.
    pub delete_per_s: f64,
    /// Time between two page fetches of each reader, in milliseconds.
    pub page_ms: f64,
}

impl Default for PaginationConfig {
    fn default() -> Self {
        Self {
            rows: 40,
            page_size: 5,
            insert_per_s: 1.0,
            delete_per_s: 0.5,
            page_ms: 1000.0,
        }
    }
}

impl Config for PaginationConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("rows", self.rows, 1, MAX_ROWS)?;
        ConfigError::check_range_u32("page_size", self.page_size, 1, MAX_PAGE_SIZE)?;
        ConfigError::check_range_f64("insert_per_s", self.insert_per_s, 0.0, MAX_RATE_PER_S)?;
        ConfigError::check_range_f64("delete_per_s", self.delete_per_s, 0.0, MAX_RATE_PER_S)?;
        ConfigError::check_range_f64("page_ms", self.page_ms, 100.0, 60_000.0)?;
        Ok(())
    }
}

/// Reader actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Inserts `count` new rows at the top now.
    Insert {
        /// Rows, 1 to [`MAX_CHANGE`].
        count: u32,
    },
    /// Deletes `count` rows now, chosen at random, or every row if fewer are left.
    Delete {
        /// Rows, 1 to [`MAX_CHANGE`].
        count: u32,
    },
    /// Deletes `count` rows now, chosen at random among the rows above the offset reader's
    /// position, or all of those if fewer. Each one shifts the rest of the list up, so the
    /// offset reader's next page skips one row per deletion. Before its first page no row is
    /// above that position, and nothing is deleted.
    DeletePassed {
        /// Rows, 1 to [`MAX_CHANGE`].
        count: u32,
    },
    /// Starts both readers again from the first page.
    Restart,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A new row arrived at the top.
    Inserted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The row's id.
        id: u64,
    },
    /// A row was deleted.
    Deleted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The row's id.
        id: u64,
    },
    /// A reader fetched a page.
    Fetched {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The reader's method.
        method: Method,
        /// The page number, from 1.
        page: u32,
        /// The page's row ids, in list order.
        ids: Vec<u64>,
        /// Rows the database read to produce the page.
        scanned: u64,
        /// Ids on this page that an earlier page of the same read returned.
        duplicates: Vec<u64>,
    },
    /// A reader got a short page, so it reached the end of the list.
    Finished {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The reader's method.
        method: Method,
        /// Rows present for the whole read that the reader never got.
        missed: Vec<u64>,
    },
}

/// One row: its sort key is `(created_ms, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Row {
    /// Creation time in milliseconds; rows of the starting list have negative times.
    pub created_ms: f64,
    /// Id, unique, increasing with creation.
    pub id: u64,
}

impl Row {
    /// Returns whether `self` sorts after `key` in the descending order, that is
    /// `(created_ms, id) < key`.
    fn below(&self, key: (f64, u64)) -> bool {
        self.created_ms < key.0 || (self.created_ms == key.0 && self.id < key.1)
    }
}

/// One page as a reader got it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    /// Page number, from 1.
    pub number: u32,
    /// The page's row ids, in list order.
    pub ids: Vec<u64>,
    /// Ids that an earlier page returned.
    pub duplicates: Vec<u64>,
    /// Rows the database read for this page.
    pub scanned: u64,
}

/// One reader paging through the list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reader {
    /// Query form of its page requests.
    pub method: Method,
    /// Pages so far, first page first.
    pub pages: Vec<Page>,
    /// Whether it got a short page and stopped.
    pub finished: bool,
    /// Rows to skip for the next page (offset reader).
    offset: u64,
    /// Key of the last row returned, the cursor of the next page.
    last_key: Option<(f64, u64)>,
    /// How many times each id was returned.
    seen: BTreeMap<u64, u32>,
}

impl Reader {
    fn new(method: Method) -> Self {
        Self {
            method,
            pages: Vec::new(),
            finished: false,
            offset: 0,
            last_key: None,
            seen: BTreeMap::new(),
        }
    }

    /// Returns the rows returned more than once, counting each extra copy.
    pub fn duplicate_count(&self) -> u64 {
        self.seen
            .values()
            .map(|&n| u64::from(n.saturating_sub(1)))
            .sum()
    }

    /// Returns the rows returned so far, distinct.
    pub fn distinct_count(&self) -> usize {
        self.seen.len()
    }

    /// Returns the rows the database scanned over every page.
    pub fn scanned_total(&self) -> u64 {
        self.pages.iter().map(|page| page.scanned).sum()
    }
}

/// The pagination engine.
#[derive(Debug, Clone)]
pub struct Pagination {
    config: PaginationConfig,
    rng: SimRng,
    now_ms: f64,
    /// The list, newest first.
    table: Vec<Row>,
    next_id: u64,
    next_insert_ms: f64,
    next_delete_ms: f64,
    next_fetch_ms: f64,
    /// When the current read started.
    read_start_ms: f64,
    readers: [Reader; 2],
    /// Latest misses of each reader, kept up to date after every change and fetch.
    missed: [Vec<u64>; 2],
}

impl Pagination {
    /// Returns the configuration the engine runs with.
    pub fn config(&self) -> &PaginationConfig {
        &self.config
    }

    /// Returns the list, newest first.
    pub fn table(&self) -> &[Row] {
        &self.table
    }

    /// Returns the offset reader and the cursor reader, in that order.
    pub fn readers(&self) -> &[Reader; 2] {
        &self.readers
    }

    /// Returns the rows each reader has missed so far, in the order of [`Pagination::readers`].
    pub fn missed(&self) -> &[Vec<u64>; 2] {
        &self.missed
    }

    /// Returns the reader that uses `method`.
    pub fn reader(&self, method: Method) -> &Reader {
        match method {
            Method::Offset => &self.readers[0],
            Method::Cursor => &self.readers[1],
        }
    }

    /// Returns the rows the reader that uses `method` has missed so far.
    pub fn missed_by(&self, method: Method) -> &[u64] {
        match method {
            Method::Offset => &self.missed[0],
            Method::Cursor => &self.missed[1],
        }
    }

    fn gap_ms(&mut self, rate_per_s: f64) -> f64 {
        if rate_per_s > 0.0 {
            self.rng.exponential(1000.0 / rate_per_s)
        } else {
            f64::INFINITY
        }
    }

    fn insert(&mut self, at_ms: f64, events: &mut Vec<Event>) {
        let id = self.next_id;
        self.next_id += 1;
        // New rows are the newest, so they go to the top. Several at one instant sort by id.
        self.table.insert(
            0,
            Row {
                created_ms: at_ms,
                id,
            },
        );
        events.push(Event::Inserted { at_ms, id });
    }

    fn delete_random(&mut self, at_ms: f64, events: &mut Vec<Event>) {
        if self.table.is_empty() {
            return;
        }
        let index = self.rng.below(self.table.len() as u64) as usize;
        if index < self.table.len() {
            let row = self.table.remove(index);
            events.push(Event::Deleted { at_ms, id: row.id });
        }
    }

    /// Deletes up to `count` rows among those at positions above the offset reader's offset.
    fn delete_passed(&mut self, count: u32, at_ms: f64, events: &mut Vec<Event>) {
        let passed = (self.readers[0].offset as usize).min(self.table.len());
        // After `deleted` removals the rows that were above the offset fill positions
        // `0..passed - deleted`, so every pick is one of them and each skips a different row.
        for deleted in 0..(count as usize).min(passed) {
            let index = self.rng.below((passed - deleted) as u64) as usize;
            if index < self.table.len() {
                let row = self.table.remove(index);
                events.push(Event::Deleted { at_ms, id: row.id });
            }
        }
    }

    /// Fetches the next page of reader `index`.
    fn fetch(&mut self, index: usize, at_ms: f64, events: &mut Vec<Event>) {
        let k = self.config.page_size as usize;
        let table = &self.table;
        let Some(reader) = self.readers.get_mut(index) else {
            return;
        };
        if reader.finished {
            return;
        }
        let (rows, scanned): (Vec<Row>, u64) = match reader.method {
            Method::Offset => {
                let start = (reader.offset as usize).min(table.len());
                let rows: Vec<Row> = table.iter().skip(start).take(k).copied().collect();
                reader.offset += k as u64;
                // The database reads and discards the `n` skipped rows, then reads the page.
                (rows.clone(), (start + rows.len()) as u64)
            }
            Method::Cursor => {
                let rows: Vec<Row> = match reader.last_key {
                    // The list is sorted, so the rows below the key are a suffix of it.
                    Some(key) => table
                        .iter()
                        .filter(|row| row.below(key))
                        .take(k)
                        .copied()
                        .collect(),
                    None => table.iter().take(k).copied().collect(),
                };
                // An index seek to the key, then the page's rows.
                let scanned = rows.len() as u64;
                (rows, scanned)
            }
        };
        if let Some(last) = rows.last() {
            reader.last_key = Some((last.created_ms, last.id));
        }
        let ids: Vec<u64> = rows.iter().map(|row| row.id).collect();
        let duplicates: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| reader.seen.contains_key(id))
            .collect();
        for id in &ids {
            *reader.seen.entry(*id).or_insert(0) += 1;
        }
        let number = reader.pages.len() as u32 + 1;
        let short = ids.len() < k;
        reader.pages.push(Page {
            number,
            ids: ids.clone(),
            duplicates: duplicates.clone(),
            scanned,
        });
        let method = reader.method;
        events.push(Event::Fetched {
            at_ms,
            method,
            page: number,
            ids,
            scanned,
            duplicates,
        });
        if short {
            reader.finished = true;
            self.update_missed();
            let missed = self.missed.get(index).cloned().unwrap_or_default();
            events.push(Event::Finished {
                at_ms,
                method,
                missed,
            });
        }
    }

    /// Recomputes each reader's misses: rows present since the read started, still present,
    /// above the reader's last row (or anywhere once it finished), and never returned.
    fn update_missed(&mut self) {
        for (reader, missed) in self.readers.iter().zip(self.missed.iter_mut()) {
            missed.clear();
            let Some(last) = reader.last_key else {
                continue;
            };
            for row in &self.table {
                let present_throughout = row.created_ms <= self.read_start_ms;
                let passed = reader.finished || !row.below(last);
                if present_throughout && passed && !reader.seen.contains_key(&row.id) {
                    missed.push(row.id);
                }
            }
        }
    }

    fn restart_readers(&mut self) {
        self.readers = [Reader::new(Method::Offset), Reader::new(Method::Cursor)];
        self.missed = [Vec::new(), Vec::new()];
        self.read_start_ms = self.now_ms;
        self.next_fetch_ms = self.now_ms;
    }

    fn check_count(count: u32) -> Result<(), ActionError> {
        if count == 0 || count > MAX_CHANGE {
            return Err(ActionError(format!(
                "invalid row count {count}: use 1 to {MAX_CHANGE}"
            )));
        }
        Ok(())
    }
}

impl Engine for Pagination {
    type Config = PaginationConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: PaginationConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        // The starting rows were created one second apart before time 0, newest first.
        let table = (1..=u64::from(config.rows))
            .rev()
            .map(|id| Row {
                created_ms: (id as f64 - f64::from(config.rows)) * 1000.0 - 1000.0,
                id,
            })
            .collect();
        let mut engine = Self {
            next_id: u64::from(config.rows) + 1,
            config,
            rng: SimRng::new(seed),
            now_ms: 0.0,
            table,
            next_insert_ms: f64::INFINITY,
            next_delete_ms: f64::INFINITY,
            next_fetch_ms: 0.0,
            read_start_ms: 0.0,
            readers: [Reader::new(Method::Offset), Reader::new(Method::Cursor)],
            missed: [Vec::new(), Vec::new()],
        };
        engine.next_insert_ms = engine.gap_ms(engine.config.insert_per_s);
        engine.next_delete_ms = engine.gap_ms(engine.config.delete_per_s);
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        let end_ms = self.now_ms + STEP_MS;
        let mut events = Vec::new();
        loop {
            // Fetches come first at a tie, then inserts, then deletes.
            let next = [self.next_fetch_ms, self.next_insert_ms, self.next_delete_ms]
                .into_iter()
                .enumerate()
                .filter(|(_, at)| *at <= end_ms)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((kind, at_ms)) = next else {
                break;
            };
            self.now_ms = at_ms;
            match kind {
                0 => {
                    self.fetch(0, at_ms, &mut events);
                    self.fetch(1, at_ms, &mut events);
                    self.next_fetch_ms = at_ms + self.config.page_ms;
                }
                1 => {
                    self.insert(at_ms, &mut events);
                    self.next_insert_ms = at_ms + self.gap_ms(self.config.insert_per_s);
                }
                _ => {
                    self.delete_random(at_ms, &mut events);
                    self.next_delete_ms = at_ms + self.gap_ms(self.config.delete_per_s);
                }
            }
        }
        self.now_ms = end_ms;
        self.update_missed();
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let at_ms = self.now_ms;
        let mut events = Vec::new();
        match *action {
            Action::Insert { count } => {
                Self::check_count(count)?;
                for _ in 0..count {
                    self.insert(at_ms, &mut events);
                }
            }
            Action::Delete { count } => {
                Self::check_count(count)?;
                for _ in 0..count {
                    self.delete_random(at_ms, &mut events);
                }
            }
            Action::DeletePassed { count } => {
                Self::check_count(count)?;
                self.delete_passed(count, at_ms, &mut events);
            }
            Action::Restart => self.restart_readers(),
        }
        self.update_missed();
        Ok(events)
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let mut metrics = vec![Metric::count("rows", "Rows", self.table.len() as u64)];
        for (reader, missed) in self.readers.iter().zip(&self.missed) {
            let (pages, duplicates, misses, scanned) = match reader.method {
                Method::Offset => (
                    "offset-pages",
                    "offset-duplicates",
                    "offset-missed",
                    "offset-scanned",
                ),
                Method::Cursor => (
                    "cursor-pages",
                    "cursor-duplicates",
                    "cursor-missed",
                    "cursor-scanned",
                ),
            };
            let (pages_label, duplicates_label, misses_label, scanned_label) = match reader.method {
                Method::Offset => (
                    "Offset pages",
                    "Offset duplicates",
                    "Offset missed",
                    "Offset rows scanned",
                ),
                Method::Cursor => (
                    "Cursor pages",
                    "Cursor duplicates",
                    "Cursor missed",
                    "Cursor rows scanned",
                ),
            };
            metrics.push(Metric::count(pages, pages_label, reader.pages.len() as u64));
            metrics.push(Metric::count(
                duplicates,
                duplicates_label,
                reader.duplicate_count(),
            ));
            metrics.push(Metric::count(misses, misses_label, missed.len() as u64));
            metrics.push(Metric::count(
                scanned,
                scanned_label,
                reader.scanned_total(),
            ));
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
            latency: None,
            samples: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(PaginationConfig::default().validate(), Ok(()));
    }

    #[test]
    fn starting_list_is_sorted_newest_first() {
        let engine = Pagination::new(PaginationConfig::default(), 1).ok();

        let ids: Vec<u64> = engine
            .map(|e| e.table().iter().map(|row| row.id).collect())
            .unwrap_or_default();

        assert_eq!(ids.first(), Some(&40));
        assert_eq!(ids.last(), Some(&1));
    }
}
