//! Cost rules of the storage engine: what each operation costs on block, file and object
//! storage.

use sim::Engine;
use sim::storage::{
    Action, Cost, Event, Model, Op, PRICES, SECONDS_PER_MONTH, Storage, StorageConfig, cost,
};

const KIB: u64 = 1024;

fn config() -> StorageConfig {
    StorageConfig::default()
}

fn must(model: Model, op: Op, config: &StorageConfig) -> Cost {
    match cost(model, op, config) {
        Some(cost) => cost,
        None => panic!("{model:?} does not support {op:?}"),
    }
}

// Rule: an object store has no partial write, so changing 4 KiB of a 1 MiB object
// reads the whole object and writes the whole object back.
#[test]
fn object_update_rewrites_the_whole_object() {
    let config = config();
    let file = u64::from(config.file_kb) * KIB;

    let update = must(Model::Object, Op::UpdateRange, &config);

    assert_eq!(update.bytes_written, file);
    assert_eq!(update.bytes_read, file);
    assert_eq!(update.requests, 2);
}

// Rule: a block update writes only the blocks the range covers, so an aligned
// 4 KiB update on 4 KiB blocks writes one block whatever the file size.
#[test]
fn block_update_touches_only_its_blocks() {
    for file_kb in [4, 1024, 1024 * 1024] {
        let config = StorageConfig {
            file_kb,
            ..config()
        };

        let update = must(Model::Block, Op::UpdateRange, &config);

        assert_eq!(update.bytes_written, 4 * KIB, "file of {file_kb} KiB");
        assert_eq!(update.write_requests, 1, "file of {file_kb} KiB");
    }
}

// Rule: a write that covers part of a block must read that block first.
#[test]
fn block_partial_write_reads_first() {
    let config = StorageConfig {
        block_kb: 16,
        ..config()
    };

    let update = must(Model::Block, Op::UpdateRange, &config);

    assert_eq!(update.bytes_read, 16 * KIB);
    assert_eq!(update.bytes_written, 16 * KIB);
}

// Rule: one block request carries adjacent blocks up to 256 KiB, so reading a 1 MiB file
// of 4 KiB blocks takes 4 requests, not 256.
#[test]
fn block_read_is_one_request_per_256_kib() {
    let read = must(Model::Block, Op::ReadWhole, &config());

    assert_eq!(read.requests, 4);
    assert_eq!(read.bytes_read, 1024 * KIB);
}

// Rule: a block larger than 256 KiB takes one request per 256 KiB.
#[test]
fn block_of_1_mib_takes_4_requests() {
    let config = StorageConfig {
        block_kb: 1024,
        ..config()
    };

    let read = must(Model::Block, Op::ReadWhole, &config);

    assert_eq!(read.requests, 4);
    assert_eq!(read.bytes_read, 1024 * KIB);
}

// Rule: a 6 KiB update on 4 KiB blocks starting mid-block reads the partly covered first
// block, then writes both blocks in one request.
#[test]
fn block_straddling_update_is_one_read_one_write() {
    let config = StorageConfig {
        io_kb: 6,
        ..config()
    };

    let update = must(Model::Block, Op::UpdateRange, &config);

    assert_eq!(update.requests, 2);
    assert_eq!(update.write_requests, 1);
    assert_eq!(update.bytes_read, 4 * KIB);
    assert_eq!(update.bytes_written, 8 * KIB);
}

// Rule: an append at a block-aligned end of file reads nothing first, because the block
// past the end of the file holds nothing to keep.
#[test]
fn block_append_reads_no_new_block() {
    let config = StorageConfig {
        io_kb: 6,
        ..config()
    };

    let append = must(Model::Block, Op::Append, &config);

    assert_eq!(append.requests, 1);
    assert_eq!(append.bytes_read, 0);
    assert_eq!(append.bytes_written, 8 * KIB);
}

// Rule: an append to a file that ends mid-block reads that last block first.
#[test]
fn block_append_reads_partial_last_block() {
    let config = StorageConfig {
        file_kb: 6,
        io_kb: 4,
        ..config()
    };

    let append = must(Model::Block, Op::Append, &config);

    assert_eq!(append.requests, 2);
    assert_eq!(append.bytes_read, 4 * KIB);
    assert_eq!(append.bytes_written, 8 * KIB);
}

// Rule: an object store has no rename: the new key is a server-side COPY and the
// old one is removed with a DELETE, and the copy moves the whole object inside the store.
#[test]
fn object_rename_is_copy_plus_delete() {
    let config = config();

    let rename = must(Model::Object, Op::Rename, &config);

    assert_eq!(rename.requests, 2);
    assert_eq!(rename.bytes_copied, u64::from(config.file_kb) * KIB);
    assert_eq!(rename.bytes_read + rename.bytes_written, 0);
}

// Rule: a file rename is one metadata call that moves no data.
#[test]
fn file_rename_is_one_metadata_call() {
    let rename = must(Model::File, Op::Rename, &config());

    assert_eq!(rename.requests, 1);
    assert_eq!(
        rename.bytes_copied + rename.bytes_read + rename.bytes_written,
        0
    );
}

// Rule: a raw block volume has no names, so listing and renaming are not supported.
#[test]
fn block_has_no_list_or_rename() {
    assert_eq!(cost(Model::Block, Op::List, &config()), None);
    assert_eq!(cost(Model::Block, Op::Rename, &config()), None);
}

// Rule: a range GET returns only the range.
#[test]
fn object_range_read_moves_only_the_range() {
    let read = must(Model::Object, Op::ReadRange, &config());

    assert_eq!(read.bytes_read, 4 * KIB);
    assert_eq!(read.requests, 1);
}

// Rule: an object LIST returns at most 1000 keys, so 2500 keys take 3 requests.
#[test]
fn object_list_pages_by_1000_keys() {
    let config = StorageConfig {
        files: 2500,
        ..config()
    };

    assert_eq!(must(Model::Object, Op::List, &config).requests, 3);
}

// Rule: without operations, the monthly cost is storage at the model's price per GiB-month.
#[test]
fn idle_cost_is_storage_only() {
    let idle = StorageConfig {
        ops_per_s: 0.0,
        ..config()
    };
    let engine = Storage::new(idle, 1).ok();

    let dollars = engine.map(|e| e.monthly_cost(Model::Object));

    // 100,000 files of 1 MiB are 100,000/1024 GiB.
    let expected = 100_000.0 / 1024.0 * PRICES[2].per_gb_month;
    assert!(
        dollars.is_some_and(|d| (d - expected).abs() < 1e-9),
        "{dollars:?}"
    );
}

// Rule: object requests are billed per 1000 at the read or write price. The monthly
// request charge is the mix's expected charge per operation times the rate times a month.
#[test]
fn object_requests_priced_per_thousand() {
    let config = StorageConfig {
        ops_per_s: 1.0,
        ..config()
    };
    let Ok(engine) = Storage::new(config.clone(), 1) else {
        panic!("config rejected");
    };
    let storage = engine.dataset_gb() * PRICES[2].per_gb_month;
    let mut expected = 0.0;
    for op in Op::ALL {
        let c = must(Model::Object, op, &config);
        let free = u64::from(op == Op::Rename);
        let reads = (c.requests - c.write_requests - free) as f64;
        let writes = c.write_requests as f64;
        let dollars =
            (reads * PRICES[2].per_1000_reads + writes * PRICES[2].per_1000_writes) / 1000.0;
        expected += dollars * op.weight() as f64 / 100.0;
    }
    expected *= SECONDS_PER_MONTH;

    let requests_part = engine.monthly_cost(Model::Object) - storage;

    assert!(
        (requests_part - expected).abs() < 1e-6,
        "{requests_part} vs {expected}"
    );
}

// Rule: block and file requests are free at the list prices, so their
// monthly cost does not depend on the operation rate.
#[test]
fn block_and_file_cost_is_capacity_only() {
    let quiet = Storage::new(
        StorageConfig {
            ops_per_s: 0.0,
            ..config()
        },
        1,
    )
    .ok();
    let busy = Storage::new(
        StorageConfig {
            ops_per_s: 10_000.0,
            ..config()
        },
        1,
    )
    .ok();

    for model in [Model::Block, Model::File] {
        let quiet_cost = quiet.as_ref().map(|e| e.monthly_cost(model));
        let busy_cost = busy.as_ref().map(|e| e.monthly_cost(model));
        assert_eq!(quiet_cost, busy_cost, "{model:?}");
    }
}

// Invariant: each model's totals are the sum of the costs in the events.
#[test]
fn totals_equal_the_sum_of_events() {
    for seed in 0..20 {
        let Ok(mut engine) = Storage::new(config(), seed) else {
            panic!("seed {seed}: default config rejected");
        };
        let mut sums = [Cost::default(); 3];
        let mut unsupported = [0u64; 3];

        for _ in 0..200 {
            for event in engine.step() {
                let Event::Ran { costs, .. } = event;
                for (index, cost) in costs.iter().enumerate() {
                    match cost {
                        Some(c) => {
                            sums[index].requests += c.requests;
                            sums[index].bytes_written += c.bytes_written;
                        }
                        None => unsupported[index] += 1,
                    }
                }
            }
        }

        for (index, totals) in engine.totals().iter().enumerate() {
            assert_eq!(totals.cost.requests, sums[index].requests, "seed {seed}");
            assert_eq!(
                totals.cost.bytes_written, sums[index].bytes_written,
                "seed {seed}"
            );
            assert_eq!(totals.unsupported, unsupported[index], "seed {seed}");
        }
    }
}

// Invariant: the same seed, configuration and actions give the same trace.
#[test]
fn determinism() {
    let run = || {
        let Ok(mut engine) = Storage::new(config(), 42) else {
            panic!("default config rejected");
        };
        let mut trace = Vec::new();
        for step in 0..100 {
            if step % 10 == 0 {
                let events = engine.apply(&Action::Run { op: Op::Rename });
                trace.push(serde_json::to_string(&events.unwrap_or_default()).unwrap_or_default());
            }
            trace.push(serde_json::to_string(&engine.step()).unwrap_or_default());
        }
        trace
    };

    assert_eq!(run(), run());
}
