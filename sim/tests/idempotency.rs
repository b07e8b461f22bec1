//! Invariants of the idempotency engine, checked over many seeds and configurations.

use std::collections::BTreeMap;

use sim::Engine;
use sim::idempotency::{
    Action, Event, Idempotency, IdempotencyConfig, MAX_ATTEMPTS, Reply, STEP_MS,
};
use sim::rng::SimRng;

/// Seeds each randomized test loops over.
const SEEDS: u64 = 100;

fn build(config: IdempotencyConfig, seed: u64) -> Idempotency {
    match Idempotency::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn run(engine: &mut Idempotency, ms: f64) -> Vec<Event> {
    (0..(ms / STEP_MS) as usize)
        .flat_map(|_| engine.step())
        .collect()
}

/// Draws a configuration: any loss rate, timeouts both shorter and longer than a round trip,
/// so that some retries arrive while the first attempt is still being processed.
fn random_config(rng: &mut SimRng, keys: bool) -> IdempotencyConfig {
    IdempotencyConfig {
        rate_per_s: 0.5 + 10.0 * rng.uniform(),
        loss_pct: 100.0 * rng.uniform(),
        network_ms: 50.0 * rng.uniform(),
        service_ms: 300.0 * rng.uniform(),
        timeout_ms: 20.0 + 600.0 * rng.uniform(),
        backoff_ms: 200.0 * rng.uniform(),
        max_attempts: 1 + rng.below(u64::from(MAX_ATTEMPTS)) as u32,
        keys,
    }
}

/// Counts the charges per payment in a trace.
fn charges_per_payment(trace: &[Event]) -> BTreeMap<u64, u32> {
    let mut charges = BTreeMap::new();
    for event in trace {
        if let Event::Processed {
            payment_id,
            reply: Reply::Charged,
            ..
        } = *event
        {
            *charges.entry(payment_id).or_insert(0) += 1;
        }
    }
    charges
}

// Invariant: with keys on, every payment that the server has processed at least once has
// exactly one charge, however many attempts reached it.
#[test]
fn with_keys_each_payment_charges_exactly_once() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x1de7);
        let config = random_config(&mut rng, true);
        let mut engine = build(config.clone(), seed);

        let trace = run(&mut engine, 30_000.0);

        let charges = charges_per_payment(&trace);
        let mut processed = BTreeMap::new();
        for event in &trace {
            if let Event::Processed { payment_id, .. } = *event {
                processed.insert(payment_id, ());
            }
        }
        for payment_id in processed.keys() {
            assert_eq!(
                charges.get(payment_id).copied(),
                Some(1),
                "seed {seed}, {config:?}: payment {payment_id}"
            );
        }
        assert_eq!(engine.duplicates(), 0, "seed {seed}, {config:?}");
    }
}

// Invariant: without keys, the duplicate charges are exactly the retries that the server
// processed after an earlier attempt of the same payment had already charged: the retries
// whose original succeeded on the server although the client never heard.
#[test]
fn without_keys_duplicates_equal_retries_whose_original_succeeded() {
    let mut total_duplicates = 0;
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xd0b1);
        let config = random_config(&mut rng, false);
        let mut engine = build(config.clone(), seed);

        let trace = run(&mut engine, 30_000.0);

        let mut charged = BTreeMap::new();
        let mut retries_after_charge = 0u64;
        let mut flagged = 0u64;
        for event in &trace {
            if let Event::Processed {
                payment_id,
                attempt,
                reply,
                duplicate,
                ..
            } = *event
            {
                assert_eq!(reply, Reply::Charged, "seed {seed}: {event:?} without keys");
                if attempt > 1 && charged.contains_key(&payment_id) {
                    retries_after_charge += 1;
                }
                charged.insert(payment_id, ());
                flagged += u64::from(duplicate);
            }
        }
        assert_eq!(flagged, retries_after_charge, "seed {seed}, {config:?}");
        assert_eq!(
            engine.duplicates(),
            retries_after_charge,
            "seed {seed}, {config:?}"
        );
        total_duplicates += engine.duplicates();
    }
    assert!(total_duplicates > 0, "no run made a duplicate charge");
}

// Invariant: a payment is sent at most `max_attempts` times, numbered 1, 2, ... in order, and
// `retries` counts the attempts after the first.
#[test]
fn retry_count_never_exceeds_max_attempts() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x3e77);
        let keys = rng.below(2) == 0;
        let config = random_config(&mut rng, keys);
        let mut engine = build(config.clone(), seed);

        let trace = run(&mut engine, 30_000.0);

        let mut attempts = BTreeMap::new();
        let mut retries = 0;
        for event in &trace {
            if let Event::Sent {
                payment_id,
                attempt,
                ..
            } = *event
            {
                let previous = attempts.insert(payment_id, attempt).unwrap_or(0);
                assert_eq!(attempt, previous + 1, "seed {seed}: payment {payment_id}");
                assert!(
                    attempt <= config.max_attempts,
                    "seed {seed}, {config:?}: attempt {attempt} of payment {payment_id}"
                );
                if attempt > 1 {
                    retries += 1;
                }
            }
        }
        assert_eq!(engine.retries(), retries, "seed {seed}");
    }
}

// Every payment ends exactly once, as a success or after giving up, and only after the client
// stopped waiting.
#[test]
fn every_payment_ends_once() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xe4d5);
        let keys = rng.below(2) == 0;
        let config = random_config(&mut rng, keys);
        let mut engine = build(config.clone(), seed);

        let trace = run(&mut engine, 30_000.0);

        let mut ended = BTreeMap::new();
        for event in &trace {
            let id = match *event {
                Event::Succeeded { payment_id, .. } | Event::GaveUp { payment_id, .. } => {
                    payment_id
                }
                _ => continue,
            };
            assert!(
                ended.insert(id, ()).is_none(),
                "seed {seed}: payment {id} ended twice"
            );
        }
        let total = engine.succeeded() + engine.gave_up() + engine.in_progress() as u64;
        assert_eq!(total, engine.payments(), "seed {seed}, {config:?}");
    }
}

// Without keys each response is lost with probability p = 0.3, and a lost response means a
// retry, which charges again. With 3 attempts a payment retries p + p^2 = 0.39 times on average,
// and each retry is a duplicate. Over 10 seeds of 500 s at 2 payments per second (about 10,000
// payments, standard deviation of the mean about 0.0065) a tolerance of 0.03 is more than four
// standard deviations.
#[test]
fn duplicates_per_payment_follow_loss_rate() {
    let config = IdempotencyConfig::default();
    let mut payments = 0;
    let mut duplicates = 0;

    for seed in 0..10 {
        let mut engine = build(config.clone(), seed);
        run(&mut engine, 500_000.0);
        payments += engine.payments();
        duplicates += engine.duplicates();
    }

    let per_payment = duplicates as f64 / payments as f64;
    let expected = 0.3 + 0.09;
    assert!(
        (per_payment - expected).abs() < 0.03,
        "{duplicates} duplicates for {payments} payments ({per_payment:.4}), expected {expected}"
    );
}

// A keyed retry that arrives while the first attempt is still being processed gets 409 Conflict
// and charges nothing.
#[test]
fn concurrent_keyed_retry_gets_conflict() {
    let config = IdempotencyConfig {
        rate_per_s: 0.1,
        loss_pct: 0.0,
        network_ms: 10.0,
        service_ms: 1000.0,
        timeout_ms: 200.0,
        backoff_ms: 0.0,
        max_attempts: 2,
        keys: true,
    };
    let mut engine = build(config, 5);

    let trace = run(&mut engine, 60_000.0);

    let conflicts = trace
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Processed {
                    reply: Reply::Conflict,
                    ..
                }
            )
        })
        .count();
    assert!(conflicts > 0, "no conflict in {} events", trace.len());
    assert_eq!(engine.duplicates(), 0);
}

// Turning keys on mid-run stops the duplicates for payments started after it.
#[test]
fn keys_switched_on_stop_new_duplicates() {
    let mut engine = build(IdempotencyConfig::default(), 2);
    run(&mut engine, 20_000.0);
    let before = engine.duplicates();

    let switched = engine.apply(&Action::SetKeys { enabled: true });
    // Payments started before the switch may still retry without a key for a second or so.
    run(&mut engine, 2000.0);
    let settled = engine.duplicates();
    run(&mut engine, 60_000.0);

    assert!(switched.is_ok(), "{switched:?}");
    assert!(before > 0, "no duplicates without keys");
    assert_eq!(engine.duplicates(), settled);
}

// Determinism: the same seed, configuration and actions give the same event trace, serialized
// byte for byte.
#[test]
fn same_seed_gives_same_trace() {
    for seed in 0..20 {
        let run_once = || {
            let mut rng = SimRng::new(seed);
            let mut engine = build(random_config(&mut rng, false), seed);
            let mut trace = run(&mut engine, 5000.0);
            trace.extend(
                engine
                    .apply(&Action::SetKeys { enabled: true })
                    .unwrap_or_default(),
            );
            trace.extend(run(&mut engine, 5000.0));
            serde_json::to_string(&trace).unwrap_or_default()
        };

        let first = run_once();
        let second = run_once();

        assert!(!first.is_empty(), "seed {seed}: trace did not serialize");
        assert_eq!(first, second, "seed {seed}: traces differ");
    }
}

// The chapter's directive names defaults, so the page shows the default run.
#[test]
fn chapter_directive_params_are_valid() {
    let Some(kind) = sim::registry::find("idempotency") else {
        panic!("widget `idempotency` is not registered");
    };
    let params = serde_json::json!({ "loss_pct": 30, "max_attempts": 3, "keys": false });
    let serde_json::Value::Object(params) = params else {
        panic!("json! did not build an object");
    };

    let config = (kind.check)(params);

    let expected = serde_json::to_value(IdempotencyConfig::default()).ok();
    assert_eq!(config.ok(), expected);
}
