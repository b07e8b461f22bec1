//! Invariants of the indexing engine, checked over many seeds and configurations.

use sim::Engine;
use sim::indexing::{
    Action, Event, Indexing, IndexingConfig, QueryKind, RECENT_QUERIES, RECENT_SPAN_MS, STEP_MS,
    btree_depth, examined,
};
use sim::rng::SimRng;

/// Seeds each randomized test loops over.
const SEEDS: u64 = 100;

fn build(config: IndexingConfig, seed: u64) -> Indexing {
    match Indexing::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn run(engine: &mut Indexing, ms: f64) -> Vec<Event> {
    (0..(ms / STEP_MS) as usize)
        .flat_map(|_| engine.step())
        .collect()
}

fn random_config(rng: &mut SimRng, indexed: bool) -> IndexingConfig {
    IndexingConfig {
        initial_rows: 1 + rng.below(100_000) as u32,
        insert_per_s: 50_000.0 * rng.uniform(),
        query_per_s: 1.0 + 200.0 * rng.uniform(),
        range_pct: 100.0 * rng.uniform(),
        range_rows: 1 + rng.below(1000) as u32,
        fanout: 2 + rng.below(999) as u32,
        indexed,
        cost_per_row_us: 1.0,
    }
}

/// Replays the events: the table size before each query, for checking its examined count.
/// Queries in a step see the rows at the step's start, and inserts land at its end.
fn queries_with_rows(config: &IndexingConfig, events: &[Event]) -> Vec<(u64, Event)> {
    let mut rows = u64::from(config.initial_rows);
    let mut out = Vec::new();
    for event in events {
        match event {
            Event::Inserted { rows: after, .. } => rows = *after,
            Event::Query { .. } => out.push((rows, event.clone())),
            Event::IndexChanged { .. } => {}
        }
    }
    out
}

// Invariant "scan examines every row": without an index, every query, point or range,
// examines exactly the rows the table holds at that moment.
#[test]
fn scan_examines_every_row() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed);
        let config = random_config(&mut rng, false);
        let mut engine = build(config.clone(), seed);

        let events = run(&mut engine, 2000.0);
        let queries = queries_with_rows(&config, &events);

        assert!(!queries.is_empty(), "seed {seed}: no queries ran");
        for (rows, query) in queries {
            let Event::Query { examined, .. } = query else {
                continue;
            };
            assert_eq!(examined, rows, "seed {seed}: scan of {rows} rows");
        }
    }
}

// Invariant "index lookup examines depth plus matches": with the index, a query examines
// ceil(log_f n) index pages plus the rows it returns, 1 for a point lookup and
// min(range_rows, n) for a range.
#[test]
fn index_lookup_examines_depth_plus_matches() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed);
        let config = random_config(&mut rng, true);
        let mut engine = build(config.clone(), seed);

        let events = run(&mut engine, 2000.0);
        let queries = queries_with_rows(&config, &events);

        assert!(!queries.is_empty(), "seed {seed}: no queries ran");
        for (rows, query) in queries {
            let Event::Query {
                kind,
                matches,
                examined,
                ..
            } = query
            else {
                continue;
            };
            let expected_matches = match kind {
                QueryKind::Point => 1,
                QueryKind::Range => u64::from(config.range_rows).min(rows),
            };
            assert_eq!(matches, expected_matches, "seed {seed}: {kind:?} matches");
            assert_eq!(
                examined,
                btree_depth(rows, config.fanout) + matches,
                "seed {seed}: {kind:?} over {rows} rows, fan-out {}",
                config.fanout
            );
        }
    }
}

// Invariant "depth grows logarithmically": depth = ceil(log_f n), so f^(depth-1) < n <= f^depth,
// and multiplying the rows by f adds exactly one level.
#[test]
fn depth_grows_logarithmically() {
    let mut rng = SimRng::new(7);
    for _ in 0..10_000 {
        let fanout = 2 + rng.below(999) as u32;
        let rows = 2 + rng.below(1_000_000_000);

        let depth = btree_depth(rows, fanout);

        let f = u128::from(fanout);
        let below = f.pow(depth as u32 - 1);
        let reach = f.pow(depth as u32);
        assert!(
            below < u128::from(rows),
            "fan-out {fanout}, {rows} rows: depth {depth} too deep"
        );
        assert!(
            u128::from(rows) <= reach,
            "fan-out {fanout}, {rows} rows: depth {depth} too shallow"
        );
        if rows.saturating_mul(u64::from(fanout)) < u64::MAX {
            assert_eq!(
                btree_depth(rows * u64::from(fanout), fanout),
                depth + 1,
                "fan-out {fanout}, {rows} rows times the fan-out"
            );
        }
    }
}

// The closed form ceil(ln n / ln f) agrees with the integer depth away from exact powers.
#[test]
fn depth_matches_log_formula() {
    for (rows, fanout, depth) in [(1_000u64, 10u32, 3u64), (1_001, 10, 4), (50_000, 100, 3)] {
        let formula = libm::ceil(libm::log(rows as f64) / libm::log(f64::from(fanout))) as u64;

        assert_eq!(
            btree_depth(rows, fanout),
            depth,
            "{rows} rows, fan-out {fanout}"
        );
        assert_eq!(formula, depth, "formula for {rows} rows, fan-out {fanout}");
    }
}

// Invariant "index makes writes cost more": with the index each insert writes its row and
// walks the index's depth, so the same inserts cost 1 + depth pages instead of 1.
#[test]
fn index_makes_writes_cost_more() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed);
        let config = random_config(&mut rng, false);
        let indexed_config = IndexingConfig {
            indexed: true,
            insert_per_s: 1000.0 + config.insert_per_s,
            ..config.clone()
        };
        let plain_config = IndexingConfig {
            insert_per_s: indexed_config.insert_per_s,
            ..config
        };
        let mut plain = build(plain_config, seed);
        let mut indexed = build(indexed_config, seed);

        run(&mut plain, 1000.0);
        run(&mut indexed, 1000.0);

        assert_eq!(
            plain.inserts(),
            indexed.inserts(),
            "seed {seed}: same inserts"
        );
        assert_eq!(
            plain.insert_pages(),
            plain.inserts(),
            "seed {seed}: one page per insert without an index"
        );
        assert!(
            indexed.insert_pages() > plain.insert_pages(),
            "seed {seed}: {} pages with the index, {} without",
            indexed.insert_pages(),
            plain.insert_pages()
        );
        assert_eq!(
            indexed.pages_per_insert(),
            1 + indexed.depth(),
            "seed {seed}: pages per insert"
        );
    }
}

// The index turns a query's cost from linear in the rows to logarithmic: with the widget's
// defaults, the scan p99 exceeds the index p99 by more than a hundred times after 10 s.
#[test]
fn index_cuts_default_latency() {
    let mut scan = build(IndexingConfig::default(), 1);
    let mut index = build(
        IndexingConfig {
            indexed: true,
            ..IndexingConfig::default()
        },
        1,
    );

    run(&mut scan, 10_000.0);
    run(&mut index, 10_000.0);

    let scan_p99 = scan.scan_percentiles().map_or(0.0, |p| p.p99_ms);
    let index_p99 = index
        .index_percentiles()
        .map_or(f64::INFINITY, |p| p.p99_ms);
    assert!(
        scan_p99 > 100.0 * index_p99,
        "scan p99 {scan_p99} ms, index p99 {index_p99} ms"
    );
}

// Toggling the index changes the very next query's examined count, and toggling to the
// state the table already has is rejected.
#[test]
fn set_index_takes_effect_for_next_query() {
    let config = IndexingConfig {
        insert_per_s: 0.0,
        query_per_s: 100.0,
        range_pct: 0.0,
        initial_rows: 50_000,
        ..IndexingConfig::default()
    };
    let mut engine = build(config, 3);

    let again = engine.apply(&Action::SetIndex { enabled: false });
    let changed = engine.apply(&Action::SetIndex { enabled: true });
    run(&mut engine, 1000.0);

    assert!(again.is_err(), "dropping a missing index was applied");
    assert!(changed.is_ok(), "creating the index was rejected");
    assert_eq!(engine.last_examined(), Some(examined(50_000, 1, 100, true)));
}

// Inserts stop at zero rate, and a fractional rate still adds rows over time.
#[test]
fn slow_insert_rate_accumulates() {
    let config = IndexingConfig {
        insert_per_s: 0.5,
        ..IndexingConfig::default()
    };
    let mut engine = build(config, 1);

    run(&mut engine, 10_000.0);

    assert_eq!(engine.rows(), 1000 + 5);
}

// The recent queries cover the chart's whole span at the default rate: after 30 s at
// 20 queries/s, the oldest kept query is from the first second of the last 20 s.
#[test]
fn recent_queries_cover_chart_span() {
    let mut engine = build(IndexingConfig::default(), 1);

    run(&mut engine, 30_000.0);

    let now = engine.now_ms();
    let oldest = engine.recent_queries().next().map_or(now, |q| q.0);
    assert!(
        oldest >= now - RECENT_SPAN_MS,
        "oldest kept query at {oldest} ms, now {now} ms"
    );
    assert!(
        oldest < now - RECENT_SPAN_MS + 1000.0,
        "oldest kept query at {oldest} ms, now {now} ms"
    );
}

// At the highest query rate the kept queries stop at the cap.
#[test]
fn recent_queries_are_capped() {
    let config = IndexingConfig {
        query_per_s: 1000.0,
        ..IndexingConfig::default()
    };
    let mut engine = build(config, 1);

    run(&mut engine, 5000.0);

    assert_eq!(engine.recent_queries().len(), RECENT_QUERIES);
}

// Invalid configurations are rejected with the field's name.
#[test]
fn invalid_fanout_is_rejected() {
    let config = IndexingConfig {
        fanout: 1,
        ..IndexingConfig::default()
    };

    let result = Indexing::new(config, 1);

    assert!(
        result
            .as_ref()
            .is_err_and(|err| err.to_string().contains("fanout")),
        "fan-out 1 gave {:?}",
        result.map(|_| ())
    );
}

// Determinism: the same seed, configuration and actions give the same serialized trace.
#[test]
fn determinism() {
    let trace = |seed: u64| {
        let mut engine = build(IndexingConfig::default(), seed);
        let mut events = run(&mut engine, 3000.0);
        events.extend(
            engine
                .apply(&Action::SetIndex { enabled: true })
                .unwrap_or_default(),
        );
        events.extend(run(&mut engine, 3000.0));
        serde_json::to_string(&events).unwrap_or_default()
    };

    for seed in 0..10 {
        assert_eq!(trace(seed), trace(seed), "seed {seed}");
    }
}
