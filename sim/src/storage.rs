//! Block, file and object storage running the same workload, with the requests,
//! bytes and estimated monthly cost that each operation costs on each model.
//!
//! The dataset is `files` files of `file_kb` KiB each. Every operation of the
//! workload ([`Op`]) runs on all three models at once:
//!
//! - **Block**: one volume attached to one machine, read and written in
//!   `block_kb` blocks addressed by number. Files sit at fixed block ranges, so
//!   a partial read or update touches only the blocks it covers. One request
//!   covers a run of adjacent blocks up to [`BLOCK_MAX_IO_KB`]. There is no
//!   namespace, so listing and renaming need a filesystem on top.
//! - **File**: a shared hierarchical namespace reached over a protocol such as
//!   NFS. Each operation looks its path up (one metadata call), then reads or
//!   writes at most [`FILE_TRANSFER_KB`] per call. Partial writes, appends and
//!   renames are single calls.
//! - **Object**: whole objects by key over HTTP. A GET may ask for a byte range,
//!   but there is no partial write, so changing 4 KiB or appending reads the
//!   object and PUTs it back whole. Keys are flat, listing returns at most
//!   [`LIST_PAGE`] keys per request, and a rename is a server-side copy plus a
//!   delete.
//!
//! Background operations arrive as a Poisson process at `ops_per_s`, drawn
//! from a read-heavy mix; the reader runs any single operation with
//! [`Action::Run`]. The monthly cost is storage at a price per GiB-month plus
//! the requests of that mix at `ops_per_s` over a 30-day month, at AWS list
//! prices ([`PRICES`]). It follows from the rate and the mix, not from the
//! operations run so far.

use serde::{Deserialize, Serialize};

use crate::metrics::{Metric, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 100.0;

/// Largest read or write of one file-protocol call, in KiB (a common NFS `rsize` and `wsize`).
pub const FILE_TRANSFER_KB: u64 = 1024;

/// Largest block I/O that counts as one request, in KiB. Amazon EBS counts an SSD volume's
/// I/O of up to 256 KiB as one operation and a larger one as one operation per 256 KiB.
pub const BLOCK_MAX_IO_KB: u64 = 256;

/// Maximum keys one object LIST request returns.
pub const LIST_PAGE: u64 = 1000;

/// Entries one file-protocol directory read returns.
pub const DIR_PAGE: u64 = 1000;

/// Seconds in the 30-day month that costs are projected over.
pub const SECONDS_PER_MONTH: f64 = 30.0 * 24.0 * 3600.0;

/// Maximum number of files.
pub const MAX_FILES: u32 = 1_000_000;

/// Maximum file size, in KiB (1 GiB).
pub const MAX_FILE_KB: u32 = 1024 * 1024;

/// Maximum background operation rate, per second.
pub const MAX_OPS_PER_S: f64 = 10_000.0;

/// A storage model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Fixed-size blocks on one attached volume.
    Block,
    /// A shared hierarchical filesystem over a network protocol.
    File,
    /// Whole objects by key over HTTP.
    Object,
}

impl Model {
    /// Every model, in the order the engine reports them.
    pub const ALL: [Model; 3] = [Model::Block, Model::File, Model::Object];

    /// Returns the model's name as the widget labels it.
    pub fn label(self) -> &'static str {
        match self {
            Model::Block => "block",
            Model::File => "file",
            Model::Object => "object",
        }
    }
}

/// One operation of the workload, on one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Reads the whole file.
    ReadWhole,
    /// Reads `io_kb` from the middle of the file.
    ReadRange,
    /// Overwrites `io_kb` in the middle of the file.
    UpdateRange,
    /// Adds `io_kb` at the end of the file.
    Append,
    /// Lists every file in the directory (or under the prefix).
    List,
    /// Gives the file a new name in the same directory.
    Rename,
}

impl Op {
    /// Every operation, in the order the widget lists them.
    pub const ALL: [Op; 6] = [
        Op::ReadWhole,
        Op::ReadRange,
        Op::UpdateRange,
        Op::Append,
        Op::List,
        Op::Rename,
    ];

    /// Returns the operation's name as the widget labels it.
    pub fn label(self) -> &'static str {
        match self {
            Op::ReadWhole => "read whole",
            Op::ReadRange => "read range",
            Op::UpdateRange => "update range",
            Op::Append => "append",
            Op::List => "list",
            Op::Rename => "rename",
        }
    }

    /// Returns the operation's share of background operations, in percent; the shares add up
    /// to 100.
    pub fn weight(self) -> u64 {
        match self {
            Op::ReadWhole => 44,
            Op::ReadRange => 30,
            Op::UpdateRange => 10,
            Op::Append => 10,
            Op::List => 1,
            Op::Rename => 5,
        }
    }
}

/// List prices of one model, in US dollars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prices {
    /// Price of one GiB stored (or provisioned) for a month.
    pub per_gb_month: f64,
    /// Price of 1000 read-class requests (GET, HEAD).
    pub per_1000_reads: f64,
    /// Price of 1000 write-class requests (PUT, COPY, LIST).
    pub per_1000_writes: f64,
}

/// Prices for block, file and object storage, in [`Model::ALL`] order: the AWS us-east-1 list
/// prices of Amazon EBS gp3, Amazon EFS Standard and Amazon S3 Standard (first 50 TB).
///
/// NOTE: checked on 2026-12-04, and AWS changes its prices. The model leaves out gp3 IOPS and
/// throughput above the included 3,000 IOPS and 125 MiB/s, and the per-GB read and write
/// charges of EFS Elastic throughput. It also leaves out S3 transfer out of the region, bills
/// no S3 DELETE, as AWS does not, and prices a GiB as a GB.
pub const PRICES: [Prices; 3] = [
    Prices {
        per_gb_month: 0.08,
        per_1000_reads: 0.0,
        per_1000_writes: 0.0,
    },
    Prices {
        per_gb_month: 0.30,
        per_1000_reads: 0.0,
        per_1000_writes: 0.0,
    },
    Prices {
        per_gb_month: 0.023,
        per_1000_reads: 0.0004,
        per_1000_writes: 0.005,
    },
];

/// What one operation costs on one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Requests sent: block I/Os, protocol calls or HTTP requests.
    pub requests: u64,
    /// Requests that change or list data (PUT, COPY, LIST, or writes).
    pub write_requests: u64,
    /// Bytes transferred from storage to the client.
    pub bytes_read: u64,
    /// Bytes transferred from the client to storage.
    pub bytes_written: u64,
    /// Bytes the storage copied internally, without crossing the network.
    pub bytes_copied: u64,
}

impl Cost {
    fn add(&mut self, other: &Cost) {
        self.requests += other.requests;
        self.write_requests += other.write_requests;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        self.bytes_copied += other.bytes_copied;
    }
}

/// Parameters of the storage widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Files in the dataset, all in one directory (or under one prefix).
    pub files: u32,
    /// Size of each file, in KiB.
    pub file_kb: u32,
    /// Block size of the block volume, in KiB.
    pub block_kb: u32,
    /// Size of a range read, a range update and an append, in KiB.
    pub io_kb: u32,
    /// Mean rate of background operations (Poisson arrivals), per second.
    pub ops_per_s: f64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            files: 100_000,
            file_kb: 1024,
            block_kb: 4,
            io_kb: 4,
            ops_per_s: 0.1,
        }
    }
}

impl Config for StorageConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("files", self.files, 1, MAX_FILES)?;
        ConfigError::check_range_u32("file_kb", self.file_kb, 1, MAX_FILE_KB)?;
        ConfigError::check_range_u32("block_kb", self.block_kb, 1, 1024)?;
        ConfigError::check_range_u32("io_kb", self.io_kb, 1, self.file_kb)?;
        ConfigError::check_range_f64("ops_per_s", self.ops_per_s, 0.0, MAX_OPS_PER_S)?;
        Ok(())
    }
}

const KIB: u64 = 1024;

/// Returns what `op` costs on `model` under `config`, or `None` where the model has no such
/// operation.
pub fn cost(model: Model, op: Op, config: &StorageConfig) -> Option<Cost> {
    let file = u64::from(config.file_kb) * KIB;
    let io = u64::from(config.io_kb) * KIB;
    let files = u64::from(config.files);
    match model {
        Model::Block => block_cost(op, file, io, u64::from(config.block_kb) * KIB),
        Model::File => Some(file_cost(op, file, io, files)),
        Model::Object => Some(object_cost(op, file, io, files)),
    }
}

/// Counts the requests of one I/O over `blocks` adjacent blocks of `block` bytes. A request
/// carries whole blocks up to [`BLOCK_MAX_IO_KB`], and a block larger than that takes several.
fn io_requests(blocks: u64, block: u64) -> u64 {
    let max_io = BLOCK_MAX_IO_KB * KIB;
    if block <= max_io {
        max_io
            .checked_div(block)
            .map_or(blocks, |per_request| blocks.div_ceil(per_request))
    } else {
        blocks * block.div_ceil(max_io)
    }
}

/// Blocks a byte range of `len` bytes starting at `offset` covers.
fn blocks_covered(offset: u64, len: u64, block: u64) -> u64 {
    if len == 0 || block == 0 {
        return 0;
    }
    let first = offset / block;
    let last = (offset + len - 1) / block;
    last - first + 1
}

fn block_cost(op: Op, file: u64, io: u64, block: u64) -> Option<Cost> {
    // The range in the middle of the file starts at a multiple of its own size, so it ends
    // inside the file. It is block-aligned only when the range size is a multiple of the block.
    let middle = (file / 2).checked_div(io).map_or(0, |slots| slots * io);
    match op {
        Op::ReadWhole => {
            let blocks = blocks_covered(0, file, block);
            Some(Cost {
                requests: io_requests(blocks, block),
                bytes_read: blocks * block,
                ..Cost::default()
            })
        }
        Op::ReadRange => {
            let blocks = blocks_covered(middle, io, block);
            Some(Cost {
                requests: io_requests(blocks, block),
                bytes_read: blocks * block,
                ..Cost::default()
            })
        }
        Op::UpdateRange | Op::Append => {
            let offset = if op == Op::Append { file } else { middle };
            let blocks = blocks_covered(offset, io, block);
            let writes = io_requests(blocks, block);
            // A write that covers part of a block must read that block first, to keep the
            // bytes it does not cover. An append's last block lies past the end of the file,
            // so it has nothing to keep, unless it is also the first block.
            let head = offset % block != 0;
            let tail = op == Op::UpdateRange && (offset + io) % block != 0;
            let partial = (u64::from(head) + u64::from(tail)).min(blocks);
            // The two partial blocks are read in one request when they are adjacent.
            let reads = if partial == 2 && blocks == 2 {
                io_requests(2, block)
            } else {
                partial * io_requests(1, block)
            };
            Some(Cost {
                requests: writes + reads,
                write_requests: writes,
                bytes_read: partial * block,
                bytes_written: blocks * block,
                bytes_copied: 0,
            })
        }
        Op::List | Op::Rename => None,
    }
}

fn file_cost(op: Op, file: u64, io: u64, files: u64) -> Cost {
    let calls = |bytes: u64| bytes.div_ceil(FILE_TRANSFER_KB * KIB).max(1);
    // Every data operation first looks the path up: one metadata call.
    match op {
        Op::ReadWhole => Cost {
            requests: 1 + calls(file),
            bytes_read: file,
            ..Cost::default()
        },
        Op::ReadRange => Cost {
            requests: 1 + calls(io),
            bytes_read: io,
            ..Cost::default()
        },
        Op::UpdateRange | Op::Append => Cost {
            requests: 1 + calls(io),
            write_requests: calls(io),
            bytes_written: io,
            ..Cost::default()
        },
        Op::List => Cost {
            requests: files.div_ceil(DIR_PAGE).max(1),
            ..Cost::default()
        },
        Op::Rename => Cost {
            requests: 1,
            write_requests: 1,
            ..Cost::default()
        },
    }
}

fn object_cost(op: Op, file: u64, io: u64, files: u64) -> Cost {
    match op {
        Op::ReadWhole => Cost {
            requests: 1,
            bytes_read: file,
            ..Cost::default()
        },
        Op::ReadRange => Cost {
            requests: 1,
            bytes_read: io,
            ..Cost::default()
        },
        // No partial write: GET the object, change it, PUT it back whole.
        Op::UpdateRange => Cost {
            requests: 2,
            write_requests: 1,
            bytes_read: file,
            bytes_written: file,
            bytes_copied: 0,
        },
        Op::Append => Cost {
            requests: 2,
            write_requests: 1,
            bytes_read: file,
            bytes_written: file + io,
            bytes_copied: 0,
        },
        Op::List => {
            let pages = files.div_ceil(LIST_PAGE).max(1);
            Cost {
                requests: pages,
                write_requests: pages,
                ..Cost::default()
            }
        }
        // No rename: COPY to the new key inside the store, then DELETE the old key.
        // DELETE is counted as a request but priced as neither class.
        Op::Rename => Cost {
            requests: 2,
            write_requests: 1,
            bytes_copied: file,
            ..Cost::default()
        },
    }
}

/// A reader action, applied between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Runs one operation on all three models now.
    Run {
        /// The operation.
        op: Op,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An operation ran on all three models.
    Ran {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The operation.
        op: Op,
        /// The file it ran on, from 0 to `files - 1`.
        file: u32,
        /// Its cost per model in [`Model::ALL`] order, `None` where unsupported.
        costs: [Option<Cost>; 3],
    },
}

/// One model's totals since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ModelTotals {
    /// Costs added up over every supported operation.
    pub cost: Cost,
    /// Operations this model could not run.
    pub unsupported: u64,
}

/// The storage comparison engine.
#[derive(Debug, Clone)]
pub struct Storage {
    config: StorageConfig,
    rng: SimRng,
    now_ms: f64,
    next_arrival_ms: f64,
    totals: [ModelTotals; 3],
    operations: u64,
    last: Option<Op>,
}

impl Storage {
    /// Returns the configuration the engine runs with.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// Returns each model's totals, in [`Model::ALL`] order.
    pub fn totals(&self) -> &[ModelTotals; 3] {
        &self.totals
    }

    /// Returns the operations run since the start.
    pub fn operations(&self) -> u64 {
        self.operations
    }

    /// Returns the last operation run, if any.
    pub fn last_op(&self) -> Option<Op> {
        self.last
    }

    /// Returns the dataset size in GiB.
    pub fn dataset_gb(&self) -> f64 {
        f64::from(self.config.files) * f64::from(self.config.file_kb) / (1024.0 * 1024.0)
    }

    /// Returns the estimated monthly cost of `model` in dollars: storage, plus the
    /// requests of the background mix at `ops_per_s` over a 30-day month.
    ///
    /// The request part uses the mix's expected share of each operation ([`Op::weight`]), not
    /// the operations drawn so far, so the estimate does not jump while the simulation runs.
    pub fn monthly_cost(&self, model: Model) -> f64 {
        let index = Model::ALL.iter().position(|m| *m == model).unwrap_or(0);
        let prices = PRICES.get(index).copied().unwrap_or(PRICES[0]);
        let storage = self.dataset_gb() * prices.per_gb_month;
        let per_op: f64 = Op::ALL
            .into_iter()
            .map(|op| {
                let Some(c) = cost(model, op, &self.config) else {
                    return 0.0;
                };
                // An object rename's DELETE is free, so it is neither a read nor a write.
                let free = u64::from(model == Model::Object && op == Op::Rename);
                let reads = c.requests.saturating_sub(c.write_requests + free);
                let dollars = (reads as f64 * prices.per_1000_reads
                    + c.write_requests as f64 * prices.per_1000_writes)
                    / 1000.0;
                dollars * op.weight() as f64 / 100.0
            })
            .sum();
        storage + per_op * self.config.ops_per_s * SECONDS_PER_MONTH
    }

    fn run(&mut self, op: Op, at_ms: f64) -> Event {
        let file = self.rng.below(u64::from(self.config.files)) as u32;
        let mut costs = [None; 3];
        for (index, model) in Model::ALL.into_iter().enumerate() {
            let result = cost(model, op, &self.config);
            if let Some(totals) = self.totals.get_mut(index) {
                match &result {
                    Some(c) => totals.cost.add(c),
                    None => totals.unsupported += 1,
                }
            }
            if let Some(slot) = costs.get_mut(index) {
                *slot = result;
            }
        }
        self.operations += 1;
        self.last = Some(op);
        Event::Ran {
            at_ms,
            op,
            file,
            costs,
        }
    }

    fn next_gap_ms(&mut self) -> f64 {
        if self.config.ops_per_s > 0.0 {
            self.rng.exponential(1000.0 / self.config.ops_per_s)
        } else {
            f64::INFINITY
        }
    }

    fn draw_op(&mut self) -> Op {
        let mut pick = self.rng.below(100);
        for op in Op::ALL {
            if pick < op.weight() {
                return op;
            }
            pick -= op.weight();
        }
        Op::ReadWhole
    }
}

impl Engine for Storage {
    type Config = StorageConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: StorageConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut engine = Self {
            config,
            rng: SimRng::new(seed),
            now_ms: 0.0,
            next_arrival_ms: f64::INFINITY,
            totals: [ModelTotals::default(); 3],
            operations: 0,
            last: None,
        };
        engine.next_arrival_ms = engine.next_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        let end_ms = self.now_ms + STEP_MS;
        let mut events = Vec::new();
        while self.next_arrival_ms <= end_ms {
            let at_ms = self.next_arrival_ms;
            let op = self.draw_op();
            events.push(self.run(op, at_ms));
            self.next_arrival_ms = at_ms + self.next_gap_ms();
        }
        self.now_ms = end_ms;
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match *action {
            Action::Run { op } => Ok(vec![self.run(op, self.now_ms)]),
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let mut metrics = vec![Metric::count("operations", "Operations", self.operations)];
        let keys = [
            ("block-cost", "Block $/month"),
            ("file-cost", "File $/month"),
            ("object-cost", "Object $/month"),
        ];
        for (model, (key, label)) in Model::ALL.into_iter().zip(keys) {
            let dollars = self.monthly_cost(model);
            metrics.push(Metric::new(key, label, dollars, format!("${dollars:.2}")));
        }
        let object = self.totals.get(2).map(|t| t.cost).unwrap_or_default();
        let object_mib_moved =
            (object.bytes_read + object.bytes_written) as f64 / (1u64 << 20) as f64;
        metrics.push(Metric::new(
            "object-mib-moved",
            "Object MiB moved",
            object_mib_moved,
            format!("{object_mib_moved:.1}"),
        ));
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
        assert_eq!(StorageConfig::default().validate(), Ok(()));
    }

    #[test]
    fn io_larger_than_file_is_rejected() {
        let config = StorageConfig {
            file_kb: 4,
            io_kb: 8,
            ..StorageConfig::default()
        };

        let err = Storage::new(config, 1).err();

        assert_eq!(err.map(|err| err.field), Some("io_kb"));
    }

    #[test]
    fn blocks_covered_counts_a_straddling_range() {
        assert_eq!(blocks_covered(4094, 4, 4096), 2);
    }
}
