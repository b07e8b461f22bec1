//! Invariants of the token bucket engine, checked over many seeds and configurations.

use sim::Engine;
use sim::rng::SimRng;
use sim::token_bucket::{Action, Event, STEP_MS, TokenBucket, TokenBucketConfig};

/// Seeds each randomized test loops over.
const SEEDS: u64 = 200;

/// Slack for float comparisons of token counts, far below a whole token.
const TOLERANCE: f64 = 1e-6;

fn build(config: TokenBucketConfig, seed: u64) -> TokenBucket {
    match TokenBucket::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn burst(engine: &mut TokenBucket, count: u32) -> Vec<Event> {
    match engine.apply(&Action::Burst { count }) {
        Ok(events) => events,
        Err(err) => panic!("burst of {count} failed: {err}"),
    }
}

fn accepted_count(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|event| matches!(event, Event::Accepted { .. }))
        .count()
}

/// Draws a configuration from the ranges the randomized tests cover.
///
/// Capacity 1 to 100, refill 0.01 to 20 per second on a log scale, and
/// background arrivals 0 to 40 per second, so that some runs stay under the
/// refill rate and others flood the bucket.
fn random_config(rng: &mut SimRng) -> TokenBucketConfig {
    let capacity = 1 + rng.below(100) as u32;
    let refill_per_s = 0.01 * 2000f64.powf(rng.uniform());
    let arrival_per_s = if rng.below(4) == 0 {
        0.0
    } else {
        40.0 * rng.uniform()
    };
    TokenBucketConfig {
        capacity,
        refill_per_s,
        arrival_per_s,
    }
}

/// Runs `steps` steps with a burst of 1 to 2 x capacity before about one step in 20.
fn run_with_random_bursts(
    engine: &mut TokenBucket,
    rng: &mut SimRng,
    steps: usize,
    mut check: impl FnMut(&TokenBucket, &[Event]),
) -> Vec<Event> {
    let capacity = u64::from(engine.capacity());
    let mut trace = Vec::new();
    for _ in 0..steps {
        if rng.below(20) == 0 {
            let count = 1 + rng.below(2 * capacity) as u32;
            let events = burst(engine, count);
            check(engine, &events);
            trace.extend(events);
        }
        let events = engine.step();
        check(engine, &events);
        trace.extend(events);
    }
    trace
}

fn accepted_times(trace: &[Event]) -> Vec<f64> {
    trace
        .iter()
        .filter_map(|event| match *event {
            Event::Accepted { at_ms, .. } => Some(at_ms),
            Event::Rejected { .. } => None,
        })
        .collect()
}

// Invariant: between any two accepted requests at times t_i <= t_j, the bucket
// admits at most capacity + refill_per_s * (t_j - t_i) requests, both ends
// included. A window that does not start and end on an accepted request admits
// no more than the tightest such window inside it, so these windows suffice.
#[test]
fn window_admits_at_most_capacity_plus_refill() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x7b0c);
        let config = random_config(&mut rng);
        let mut engine = build(config.clone(), seed);

        let trace = run_with_random_bursts(&mut engine, &mut rng, 400, |_, _| {});
        let times = accepted_times(&trace);

        let capacity = f64::from(config.capacity);
        for (i, &start_ms) in times.iter().enumerate() {
            for (offset, &end_ms) in times[i..].iter().enumerate() {
                let admitted = (offset + 1) as f64;
                let allowed = capacity + config.refill_per_s * (end_ms - start_ms) / 1000.0;
                assert!(
                    admitted <= allowed + TOLERANCE,
                    "seed {seed}, {config:?}: {admitted} admitted in [{start_ms}, {end_ms}] ms, \
                     at most {allowed} allowed"
                );
            }
        }
    }
}

// Invariant: a full bucket that receives capacity + k requests at one instant
// accepts exactly the first capacity of them and rejects the other k.
#[test]
fn burst_rejects_all_beyond_capacity() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed);
        let config = TokenBucketConfig {
            arrival_per_s: 0.0,
            ..random_config(&mut rng)
        };
        let extra = 1 + rng.below(50) as u32;
        let mut engine = build(config.clone(), seed);

        let events = burst(&mut engine, config.capacity + extra);

        let accepted = accepted_count(&events);
        assert_eq!(
            accepted, config.capacity as usize,
            "seed {seed}, {config:?}, extra {extra}"
        );
        let first_rejected = events
            .iter()
            .position(|e| matches!(e, Event::Rejected { .. }));
        assert_eq!(
            first_rejected,
            Some(config.capacity as usize),
            "seed {seed}, {config:?}: accepted and rejected requests interleave"
        );
    }
}

// Invariant: once a burst has emptied the bucket, a request is rejected before
// 1 / refill_per_s seconds have passed and accepted once they have.
#[test]
fn bucket_accepts_again_after_refilling() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed);
        let config = TokenBucketConfig {
            arrival_per_s: 0.0,
            ..random_config(&mut rng)
        };
        let mut engine = build(config.clone(), seed);
        burst(&mut engine, config.capacity + 1);
        let emptied_ms = engine.now_ms();
        let one_token_ms = 1000.0 / config.refill_per_s;

        while engine.now_ms() + STEP_MS - emptied_ms < one_token_ms {
            engine.step();
        }
        let early = burst(&mut engine.clone(), 1);
        engine.step();
        let on_time = burst(&mut engine, 1);

        assert_eq!(
            accepted_count(&early),
            0,
            "seed {seed}, {config:?}: accepted too early"
        );
        assert_eq!(
            accepted_count(&on_time),
            1,
            "seed {seed}, {config:?}: not accepted"
        );
    }
}

// Invariant: the level is never above capacity and never below zero, whether
// read from the engine between steps or from the events it returns.
#[test]
fn tokens_stay_between_zero_and_capacity() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x51ab);
        let config = random_config(&mut rng);
        let capacity = f64::from(config.capacity);
        let mut engine = build(config.clone(), seed);

        run_with_random_bursts(&mut engine, &mut rng, 400, |engine, events| {
            let now = engine.tokens();
            assert!(
                now >= 0.0,
                "seed {seed}, {config:?}: level {now} is negative"
            );
            assert!(
                now <= capacity,
                "seed {seed}, {config:?}: level {now} is over capacity"
            );
            for event in events {
                let (Event::Accepted { tokens, .. } | Event::Rejected { tokens, .. }) = *event;
                assert!(
                    tokens >= 0.0,
                    "seed {seed}, {config:?}: {event:?} is negative"
                );
                assert!(
                    tokens <= capacity,
                    "seed {seed}, {config:?}: {event:?} over capacity"
                );
            }
        });
    }
}

// Invariant: a rejected request leaves less than one token in the bucket, so
// no request is turned away while a whole token is there.
#[test]
fn rejects_only_without_whole_token() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x9e37);
        let config = random_config(&mut rng);
        let mut engine = build(config.clone(), seed);

        let trace = run_with_random_bursts(&mut engine, &mut rng, 400, |_, _| {});

        for event in &trace {
            if let Event::Rejected { tokens, .. } = *event {
                assert!(
                    tokens < 1.0,
                    "seed {seed}, {config:?}: {event:?} had a whole token"
                );
            }
        }
    }
}

// Determinism: the same seed, configuration and actions give the same event
// trace, serialized byte for byte.
#[test]
fn same_seed_gives_same_trace() {
    for seed in 0..20 {
        let run = || {
            let mut rng = SimRng::new(seed);
            let config = random_config(&mut rng);
            let mut engine = build(config, seed);
            let trace = run_with_random_bursts(&mut engine, &mut rng, 400, |_, _| {});
            serde_json::to_string(&trace).unwrap_or_default()
        };

        let first = run();
        let second = run();

        assert!(!first.is_empty(), "seed {seed}: trace did not serialize");
        assert_eq!(first, second, "seed {seed}: traces differ");
    }
}

// The seed drives the background arrivals, so two seeds give two traces.
#[test]
fn different_seeds_give_different_traces() {
    let config = TokenBucketConfig::default();
    let run = |seed| {
        let mut engine = build(config.clone(), seed);
        let trace: Vec<Event> = (0..400).flat_map(|_| engine.step()).collect();
        serde_json::to_string(&trace).unwrap_or_default()
    };

    let first = run(1);
    let second = run(2);

    assert_ne!(first, second);
}

// Background requests form a Poisson process: over 10 seeds of 100 s at 20 per
// second, 20,000 arrivals are expected with a standard deviation of about 141,
// so a 3% tolerance (600) is more than four standard deviations.
#[test]
fn background_arrivals_follow_arrival_rate() {
    let config = TokenBucketConfig {
        capacity: 100,
        refill_per_s: 1000.0,
        arrival_per_s: 20.0,
    };
    let steps = (100_000.0 / STEP_MS) as usize;
    let mut arrivals = 0usize;

    for seed in 0..10 {
        let mut engine = build(config.clone(), seed);
        for _ in 0..steps {
            arrivals += engine.step().len();
        }
    }

    let expected = 20_000.0;
    let error = (arrivals as f64 - expected).abs() / expected;
    assert!(
        error < 0.03,
        "{arrivals} arrivals, expected about {expected}"
    );
}

// When requests arrive five times faster than tokens, nearly every token is
// used: over 200 s at refill 2 per second the bucket accepts at least 95% of
// the 400 refilled tokens, and never more than capacity + 400.
#[test]
fn flooded_bucket_accepts_at_refill_rate() {
    let config = TokenBucketConfig {
        capacity: 5,
        refill_per_s: 2.0,
        arrival_per_s: 10.0,
    };

    for seed in 0..20 {
        let mut engine = build(config.clone(), seed);
        for _ in 0..(200_000.0 / STEP_MS) as usize {
            engine.step();
        }

        let accepted = engine.accepted_total();
        assert!(accepted >= 380, "seed {seed}: only {accepted} accepted");
        assert!(accepted <= 405, "seed {seed}: {accepted} accepted");
    }
}

// The widget's default page: pressing Burst for 10 requests on the full
// bucket accepts 5 and rejects 5.
#[test]
fn default_burst_of_ten_accepts_five() {
    let mut engine = build(TokenBucketConfig::default(), 1);

    let events = burst(&mut engine, 10);

    assert_eq!(accepted_count(&events), 5);
    assert_eq!(engine.accepted_total(), 5);
    assert_eq!(engine.rejected_total(), 5);
}

// The accepted rate counts the last second only: a burst of 5 shows as 5 per
// second until it is a second old, then drops out.
#[test]
fn accepted_rate_covers_last_second() {
    let config = TokenBucketConfig {
        capacity: 5,
        refill_per_s: 1.0,
        arrival_per_s: 0.0,
    };
    let mut engine = build(config, 1);
    burst(&mut engine, 8);

    let steps_per_second = (1000.0 / STEP_MS) as usize;
    for _ in 0..steps_per_second - 1 {
        engine.step();
    }
    let within = (engine.accepted_per_s(), engine.rejected_per_s());
    engine.step();
    let after = (engine.accepted_per_s(), engine.rejected_per_s());

    assert_eq!(within, (5.0, 3.0));
    assert_eq!(after, (0.0, 0.0));
}

// The timeline ends with the latest decision and matches the events returned.
#[test]
fn timeline_ends_with_latest_decision() {
    let mut engine = build(TokenBucketConfig::default(), 3);
    for _ in 0..40 {
        engine.step();
    }

    let events = burst(&mut engine, 7);

    let last = engine.timeline().last().copied();
    let Some(Event::Rejected { at_ms, tokens }) = events.last().cloned() else {
        panic!("the 7th request of a burst on a 5-token bucket was not rejected: {events:?}");
    };
    let last = last.map(|decision| (decision.at_ms, decision.accepted, decision.tokens));
    assert_eq!(last, Some((at_ms, false, tokens)));
}

// Every configuration at the edges of its ranges runs bursts of every size
// without panicking and keeps its counters consistent.
#[test]
fn extreme_configs_run_without_panic() {
    let edges = [
        TokenBucketConfig {
            capacity: 1,
            refill_per_s: 0.01,
            arrival_per_s: 0.0,
        },
        TokenBucketConfig {
            capacity: 1,
            refill_per_s: 0.01,
            arrival_per_s: 1000.0,
        },
        TokenBucketConfig {
            capacity: 1000,
            refill_per_s: 1000.0,
            arrival_per_s: 1000.0,
        },
        TokenBucketConfig {
            capacity: 1000,
            refill_per_s: 0.01,
            arrival_per_s: 1000.0,
        },
    ];

    for config in edges {
        let mut engine = build(config.clone(), 9);
        let mut decisions = 0u64;
        for count in [1, 999, 1000] {
            decisions += burst(&mut engine, count).len() as u64;
            for _ in 0..100 {
                decisions += engine.step().len() as u64;
            }
        }

        let counted = engine.accepted_total() + engine.rejected_total();
        assert_eq!(counted, decisions, "{config:?}");
    }
}

// Bursts outside 1..=1000 are invalid actions and change nothing.
#[test]
fn invalid_burst_sizes_are_action_errors() {
    let mut engine = build(TokenBucketConfig::default(), 1);

    for count in [0, 1001, u32::MAX] {
        let result = engine.apply(&Action::Burst { count });

        let message = result.err().map(|err| err.to_string()).unwrap_or_default();
        assert!(
            message.contains(&count.to_string()),
            "burst of {count}: {message:?}"
        );
    }
    assert_eq!(engine.accepted_total() + engine.rejected_total(), 0);
    assert_eq!(engine.tokens(), 5.0);
}

// The chapter's directive passes `refill_per_s=1` as a whole number, which must
// still fill the real-valued field.
#[test]
fn chapter_directive_params_are_valid() {
    let Some(kind) = sim::registry::find("token-bucket") else {
        panic!("widget `token-bucket` is not registered");
    };
    let params = serde_json::json!({ "capacity": 5, "refill_per_s": 1, "arrival_per_s": 0.5 });
    let serde_json::Value::Object(params) = params else {
        panic!("json! did not build an object");
    };

    let config = (kind.check)(params);

    let expected = serde_json::json!({ "capacity": 5, "refill_per_s": 1.0, "arrival_per_s": 0.5 });
    assert_eq!(config, Ok(expected));
}
