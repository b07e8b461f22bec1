//! Invariants of the cache engine: counting, TTL, strategies, and the Zipf stream.

use sim::Engine;
use sim::cache::{
    Action, Cache, CacheConfig, Event, KeyState, STEP_MS, Strategy, WriteEffect, Zipf,
};
use sim::rng::SimRng;

/// Seeds each randomized test loops over.
const SEEDS: u64 = 40;

fn build(config: CacheConfig, seed: u64) -> Cache {
    match Cache::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn act(engine: &mut Cache, action: Action) -> Vec<Event> {
    match engine.apply(&action) {
        Ok(events) => events,
        Err(err) => panic!("{action:?} failed: {err}"),
    }
}

/// Runs `seconds` of simulated time and returns every event.
fn run(engine: &mut Cache, seconds: f64) -> Vec<Event> {
    let steps = (seconds * 1000.0 / STEP_MS).round() as usize;
    (0..steps).flat_map(|_| engine.step()).collect()
}

/// Draws a configuration from the ranges the randomized tests cover.
///
/// Keys 1 to 300, skew 0 to 2, up to 300 reads and 20 writes per second, and a TTL
/// of 0 to 20 s. The capacity is sometimes far below the key count, so LRU evicts.
fn random_config(rng: &mut SimRng, strategy: Strategy) -> CacheConfig {
    let keys = 1 + rng.below(300) as u32;
    CacheConfig {
        keys,
        zipf_s: 2.0 * rng.uniform(),
        reads_per_s: 300.0 * rng.uniform(),
        writes_per_s: 20.0 * rng.uniform(),
        ttl_s: 20.0 * rng.uniform(),
        capacity: 1 + rng.below(u64::from(keys)) as u32,
        strategy,
        compare: false,
    }
}

fn hits(trace: &[Event]) -> impl Iterator<Item = (f64, f64, bool)> + '_ {
    trace.iter().filter_map(|event| match *event {
        Event::Hit {
            at_ms,
            age_ms,
            stale,
            ..
        } => Some((at_ms, age_ms, stale)),
        _ => None,
    })
}

// Invariant: every read is either a hit or a miss, for every strategy's cache,
// and the events of the shown cache count the same.
#[test]
fn hits_plus_misses_equal_reads() {
    for seed in 0..SEEDS {
        for strategy in Strategy::ALL {
            let mut rng = SimRng::new(seed ^ 0x4ead);
            let config = random_config(&mut rng, strategy);
            let mut engine = build(config.clone(), seed);

            let trace = run(&mut engine, 20.0);

            for compared in engine.comparison() {
                let stats = compared.stats;
                assert_eq!(
                    stats.hits + stats.misses,
                    stats.reads,
                    "seed {seed}, {config:?}, cache {:?}: {stats:?}",
                    compared.strategy
                );
            }
            let hit_events = hits(&trace).count() as u64;
            let miss_events = trace
                .iter()
                .filter(|event| matches!(event, Event::Miss { .. }))
                .count() as u64;
            let stats = engine.stats();
            assert_eq!(hit_events, stats.hits, "seed {seed}, {config:?}");
            assert_eq!(miss_events, stats.misses, "seed {seed}, {config:?}");
        }
    }
}

// Invariant: under TTL-only every hit is served from an entry stored less than
// ttl_s ago: an entry whose age reached the TTL is a miss, never a hit.
#[test]
fn ttl_only_never_serves_an_entry_older_than_ttl() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x77e1);
        let config = random_config(&mut rng, Strategy::TtlOnly);
        let mut engine = build(config.clone(), seed);
        let ttl_ms = engine.ttl_ms();

        let trace = run(&mut engine, 30.0);

        for (at_ms, age_ms, _) in hits(&trace) {
            assert!(
                age_ms >= 0.0 && age_ms < ttl_ms,
                "seed {seed}, {config:?}: hit at {at_ms} ms on an entry {age_ms} ms old"
            );
        }
    }
}

// Invariant: with one cache and invalidation at the instant of the write, a read
// after a write never finds the old value, so invalidate-on-write serves no stale
// reads. The race of a slow reader storing an old value is outside this model.
#[test]
fn invalidate_on_write_never_serves_stale_reads() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x1a7e);
        let config = CacheConfig {
            writes_per_s: 5.0 + 15.0 * rng.uniform(),
            ..random_config(&mut rng, Strategy::InvalidateOnWrite)
        };
        let mut engine = build(config.clone(), seed);

        let trace = run(&mut engine, 30.0);

        assert_eq!(engine.stats().stale_reads, 0, "seed {seed}, {config:?}");
        assert_eq!(hits(&trace).filter(|hit| hit.2).count(), 0, "seed {seed}");
    }
}

// Invariant: update-on-write stores every written value at once, so it serves no
// stale reads either.
#[test]
fn update_on_write_never_serves_stale_reads() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x0bda);
        let config = CacheConfig {
            writes_per_s: 5.0 + 15.0 * rng.uniform(),
            ..random_config(&mut rng, Strategy::UpdateOnWrite)
        };
        let mut engine = build(config.clone(), seed);

        run(&mut engine, 30.0);

        assert_eq!(engine.stats().stale_reads, 0, "seed {seed}, {config:?}");
    }
}

// With writes on, TTL-only does serve stale reads. At the default workload of 100
// reads and 2 writes per second with a 5 s TTL, more than 5% of reads in 60 s are
// stale for every seed, and about 18% on average.
#[test]
fn ttl_only_serves_stale_reads_when_keys_change() {
    for seed in 0..20 {
        let mut engine = build(CacheConfig::default(), seed);

        run(&mut engine, 60.0);

        let stale = engine.stats().stale_ratio();
        assert!(stale > 0.05, "seed {seed}: stale share {stale}");
    }
}

// A longer TTL keeps entries for more reads, so over 20 seeds of 60 s the hit ratio
// at 10 s TTL beats the one at 1 s by at least 15 points on every seed. The formula
// in `hit_ratio_matches_ttl_formula` gives about 91% against 65%.
#[test]
fn longer_ttl_raises_hit_ratio() {
    for seed in 0..20 {
        let ratio = |ttl_s: f64| {
            let config = CacheConfig {
                ttl_s,
                ..CacheConfig::default()
            };
            let mut engine = build(config, seed);
            run(&mut engine, 60.0);
            engine.stats().hit_ratio()
        };

        let short = ratio(1.0);
        let long = ratio(10.0);

        assert!(
            long >= short + 0.15,
            "seed {seed}: hit ratio {long} at 10 s TTL, {short} at 1 s"
        );
    }
}

// Without writes or evictions, a key read at rate r gets one miss per TTL window
// followed by r * ttl hits on average, because Poisson arrivals are memoryless.
// So its hit ratio is r * ttl / (1 + r * ttl). Weighted by the Zipf probabilities this predicts
// the overall hit ratio; over 10 seeds of 300 s each it must match within 1 point.
#[test]
fn hit_ratio_matches_ttl_formula() {
    let config = CacheConfig {
        writes_per_s: 0.0,
        ttl_s: 2.0,
        ..CacheConfig::default()
    };
    let zipf = Zipf::new(config.keys, config.zipf_s);
    let expected: f64 = (0..zipf.len())
        .map(|k| {
            let p = zipf.probability(k);
            let per_window = config.reads_per_s * p * config.ttl_s;
            p * per_window / (1.0 + per_window)
        })
        .sum();
    let (mut hits, mut reads) = (0u64, 0u64);

    for seed in 0..10 {
        let mut engine = build(config.clone(), seed);
        run(&mut engine, 300.0);
        hits += engine.stats().hits;
        reads += engine.stats().reads;
    }

    let measured = hits as f64 / reads as f64;
    assert!(
        (measured - expected).abs() < 0.01,
        "measured {measured}, formula {expected}"
    );
}

// The sampler draws key k with probability proportional to 1 / (k + 1)^s. For 20
// keys and 100,000 draws per seed, the chi-square statistic against the formula has
// 19 degrees of freedom, and 43.8 is its 0.999 quantile. Every one of 20 seeds per
// exponent must stay below it.
#[test]
fn zipf_sampler_matches_its_distribution() {
    for s in [0.0, 0.8, 1.0, 1.5] {
        let zipf = Zipf::new(20, s);
        let draws = 100_000;
        for seed in 0..20 {
            let mut rng = SimRng::new(seed);
            let mut counts = [0u64; 20];

            for _ in 0..draws {
                let key = zipf.sample(&mut rng) as usize;
                counts[key] += 1;
            }

            let chi_square: f64 = counts
                .iter()
                .enumerate()
                .map(|(k, &count)| {
                    let expected = draws as f64 * zipf.probability(k);
                    (count as f64 - expected).powi(2) / expected
                })
                .sum();
            assert!(
                chi_square < 43.8,
                "s {s}, seed {seed}: chi-square {chi_square}, counts {counts:?}"
            );
        }
    }
}

// Invariant: invalidate-on-write reads the database more than TTL-only on the same
// traffic, because every write to a cached key costs the next read a miss, and
// update-on-write reads it least. Default traffic with a 30 s TTL, 20 seeds of 60 s.
#[test]
fn strategies_differ_in_database_reads() {
    for seed in 0..20 {
        let config = CacheConfig {
            ttl_s: 30.0,
            ..CacheConfig::default()
        };
        let mut engine = build(config, seed);

        run(&mut engine, 60.0);

        let [ttl_only, invalidate, update] = engine.comparison().map(|c| c.stats.db_reads);
        assert!(
            invalidate > ttl_only,
            "seed {seed}: invalidate {invalidate}, ttl-only {ttl_only}"
        );
        assert!(
            update <= ttl_only,
            "seed {seed}: update {update}, ttl-only {ttl_only}"
        );
    }
}

// All three caches see the same reads and writes, whichever one the widget shows.
#[test]
fn strategies_share_one_request_stream() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x5a3e);
        let config = random_config(&mut rng, Strategy::TtlOnly);
        let mut engine = build(config.clone(), seed);

        run(&mut engine, 10.0);

        let [first, second, third] = engine
            .comparison()
            .map(|c| (c.stats.reads, c.stats.db_writes));
        assert_eq!(first, second, "seed {seed}, {config:?}");
        assert_eq!(first, third, "seed {seed}, {config:?}");
    }
}

// Invariant: no cache ever contains more than `capacity` entries.
#[test]
fn entries_never_exceed_capacity() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xcaca);
        let config = random_config(&mut rng, Strategy::UpdateOnWrite);
        let mut engine = build(config.clone(), seed);

        for _ in 0..100 {
            engine.step();
            for strategy in Strategy::ALL {
                let entries = engine.entries_for(strategy);
                assert!(
                    entries <= config.capacity,
                    "seed {seed}, {config:?}: {strategy:?} holds {entries}"
                );
            }
        }
    }
}

// A reader's write to a cached key leaves a stale copy under TTL-only, which the
// next read of that key serves, and the key's bar turns stale.
#[test]
fn write_leaves_stale_copy_under_ttl_only() {
    let config = CacheConfig {
        writes_per_s: 0.0,
        ttl_s: 60.0,
        ..CacheConfig::default()
    };
    let mut engine = build(config, 1);
    run(&mut engine, 2.0);
    let cached = engine.key_view(0).map(|view| view.state);

    let events = act(&mut engine, Action::Write { key: 0 });
    let after = engine.key_view(0).map(|view| view.state);
    let trace = run(&mut engine, 1.0);

    assert_eq!(cached, Some(KeyState::Fresh));
    assert!(
        matches!(
            events.last(),
            Some(Event::Write {
                effect: WriteEffect::LeftStale,
                ..
            })
        ),
        "{events:?}"
    );
    assert_eq!(after, Some(KeyState::Stale));
    let stale_hits_of_key_0 = trace
        .iter()
        .filter(|event| {
            matches!(
                event,
                Event::Hit {
                    key: 0,
                    stale: true,
                    ..
                }
            )
        })
        .count();
    assert!(stale_hits_of_key_0 > 0, "no stale read of key 0: {trace:?}");
}

// The same write under invalidate-on-write deletes the copy, and under
// update-on-write replaces it with the new version.
#[test]
fn write_invalidates_or_updates_the_copy() {
    for (strategy, effect, state) in [
        (
            Strategy::InvalidateOnWrite,
            WriteEffect::Invalidated,
            KeyState::Absent,
        ),
        (
            Strategy::UpdateOnWrite,
            WriteEffect::Updated,
            KeyState::Fresh,
        ),
    ] {
        let config = CacheConfig {
            writes_per_s: 0.0,
            ttl_s: 60.0,
            strategy,
            ..CacheConfig::default()
        };
        let mut engine = build(config, 1);
        run(&mut engine, 2.0);

        let events = act(&mut engine, Action::Write { key: 0 });

        let reported = events.iter().find_map(|event| match *event {
            Event::Write { effect, .. } => Some(effect),
            _ => None,
        });
        assert_eq!(reported, Some(effect), "{strategy:?}");
        assert_eq!(
            engine.key_view(0).map(|view| view.state),
            Some(state),
            "{strategy:?}"
        );
    }
}

// Flushing empties every cache, and the reads right after it miss.
#[test]
fn flush_empties_every_cache() {
    let mut engine = build(CacheConfig::default(), 2);
    run(&mut engine, 5.0);
    let misses_before = engine.stats().misses;

    let events = act(&mut engine, Action::Flush);

    assert!(
        matches!(events.as_slice(), [Event::Flushed { entries, .. }] if *entries > 0),
        "{events:?}"
    );
    for strategy in Strategy::ALL {
        assert_eq!(engine.entries_for(strategy), 0, "{strategy:?}");
    }
    run(&mut engine, 0.5);
    assert!(engine.stats().misses > misses_before + 10);
}

// A TTL of 0 caches nothing: every read misses.
#[test]
fn zero_ttl_caches_nothing() {
    let config = CacheConfig {
        ttl_s: 0.0,
        ..CacheConfig::default()
    };
    let mut engine = build(config, 3);

    run(&mut engine, 10.0);

    let stats = engine.stats();
    assert!(stats.reads > 0);
    assert_eq!(stats.hits, 0);
}

// Determinism: the same seed, configuration and actions give the same event trace,
// serialized byte for byte.
#[test]
fn same_seed_gives_same_trace() {
    for seed in 0..10 {
        let run_once = || {
            let mut rng = SimRng::new(seed);
            let config = random_config(&mut rng, Strategy::TtlOnly);
            let mut engine = build(config.clone(), seed);
            let mut trace = run(&mut engine, 5.0);
            trace.extend(act(&mut engine, Action::Write { key: 0 }));
            trace.extend(act(&mut engine, Action::Flush));
            trace.extend(run(&mut engine, 5.0));
            serde_json::to_string(&trace).unwrap_or_default()
        };

        let first = run_once();
        let second = run_once();

        assert!(!first.is_empty(), "seed {seed}: trace did not serialize");
        assert_eq!(first, second, "seed {seed}: traces differ");
    }
}

// The seed drives the request stream, so two seeds give two traces.
#[test]
fn different_seeds_give_different_traces() {
    let trace = |seed| {
        let mut engine = build(CacheConfig::default(), seed);
        serde_json::to_string(&run(&mut engine, 5.0)).unwrap_or_default()
    };

    assert_ne!(trace(1), trace(2));
}

// Writes to keys outside 0..keys are invalid actions and change nothing.
#[test]
fn write_to_unknown_key_is_an_action_error() {
    let mut engine = build(CacheConfig::default(), 1);
    run(&mut engine, 1.0);
    let before = engine.stats();

    for key in [100, 1000, u32::MAX] {
        let message = engine
            .apply(&Action::Write { key })
            .err()
            .map(|err| err.to_string())
            .unwrap_or_default();

        assert!(message.contains(&key.to_string()), "key {key}: {message:?}");
    }
    assert_eq!(engine.stats(), before);
}

// The widget's default page makes its point within seconds: after 10 s of the
// default traffic the hit ratio is above 70% and some reads were stale.
#[test]
fn default_config_shows_hits_and_stale_reads_quickly() {
    let mut engine = build(CacheConfig::default(), 1);

    run(&mut engine, 10.0);

    let stats = engine.stats();
    assert!(stats.hit_ratio() > 0.7, "{stats:?}");
    assert!(stats.stale_reads > 0, "{stats:?}");
}

// Both chapters' directives name valid configurations, the strategy as a string.
#[test]
fn chapter_directive_params_are_valid() {
    let Some(kind) = sim::registry::find("cache") else {
        panic!("widget `cache` is not registered");
    };
    let params = serde_json::json!({
        "ttl_s": 30, "writes_per_s": 5, "strategy": "invalidate_on_write", "compare": true
    });
    let serde_json::Value::Object(params) = params else {
        panic!("json! did not build an object");
    };

    let config = (kind.check)(params);

    let config = config.unwrap_or_else(|err| panic!("rejected: {err}"));
    assert_eq!(config["strategy"], "invalidate_on_write");
    assert_eq!(config["ttl_s"], 30.0);
}

// An unknown strategy name is rejected with the name in the message.
#[test]
fn unknown_strategy_is_rejected() {
    let Some(kind) = sim::registry::find("cache") else {
        panic!("widget `cache` is not registered");
    };
    let params = serde_json::json!({ "strategy": "write_back" });
    let serde_json::Value::Object(params) = params else {
        panic!("json! did not build an object");
    };

    let result = (kind.check)(params);

    let message = result.err().unwrap_or_default();
    assert!(message.contains("write_back"), "{message}");
}

// Configurations at the edges of every range run without panicking.
#[test]
fn extreme_configs_run_without_panic() {
    for (keys, capacity, zipf_s, reads, writes, ttl_s) in [
        (1, 1, 0.0, 1000.0, 100.0, 0.0),
        (1000, 1, 3.0, 1000.0, 100.0, 600.0),
        (1000, 1000, 0.0, 1000.0, 100.0, 600.0),
        (1, 1000, 3.0, 0.0, 0.0, 0.0),
    ] {
        for strategy in Strategy::ALL {
            let config = CacheConfig {
                keys,
                zipf_s,
                reads_per_s: reads,
                writes_per_s: writes,
                ttl_s,
                capacity,
                strategy,
                compare: true,
            };
            let mut engine = build(config.clone(), 9);

            run(&mut engine, 2.0);
            act(&mut engine, Action::Write { key: keys - 1 });
            act(&mut engine, Action::Flush);
            run(&mut engine, 1.0);

            let stats = engine.stats();
            assert_eq!(stats.hits + stats.misses, stats.reads, "{config:?}");
            let _ = engine.snapshot();
        }
    }
}
