//! Invariants of the availability engine: the formulas, and the Monte Carlo run against them.

use sim::Engine;
use sim::availability::{
    Availability, AvailabilityConfig, Event, HOURS_PER_STEP, HOURS_PER_YEAR, parallel, series,
};
use sim::faults::Fault;

/// Seeds each randomized test loops over.
const SEEDS: u64 = 20;

fn build(config: AvailabilityConfig, seed: u64) -> Availability {
    match Availability::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn run_years(engine: &mut Availability, years: f64) -> Vec<Event> {
    let steps = (years * HOURS_PER_YEAR / HOURS_PER_STEP).ceil() as usize;
    (0..steps).flat_map(|_| engine.step()).collect()
}

/// Returns the measured unavailability relative to the formula's: 1.0 is an exact match.
fn relative_unavailability(engine: &Availability) -> f64 {
    (1.0 - engine.measured()) / (1.0 - engine.formula())
}

// Invariant: components in series are all needed, so the availability is the product. With one
// replica and no standby, the formula is lb × app × db, and a 100-year run measures a system
// unavailability within 10% of 1 − product for every seed.
#[test]
fn series_availability_is_the_product() {
    let config = AvailabilityConfig {
        replicas: 1,
        lb_availability: 0.99,
        app_availability: 0.98,
        db_availability: 0.995,
        ..AvailabilityConfig::default()
    };
    let expected = 0.99 * 0.98 * 0.995;

    assert!((config.formula() - expected).abs() < 1e-12);
    assert!((series(&[0.99, 0.98, 0.995]) - expected).abs() < 1e-12);
    for seed in 0..SEEDS {
        let mut engine = build(config.clone(), seed);

        run_years(&mut engine, 100.0);

        let ratio = relative_unavailability(&engine);
        assert!(
            (ratio - 1.0).abs() < 0.10,
            "seed {seed}: measured {} vs formula {expected} (ratio {ratio})",
            engine.measured()
        );
    }
}

// Invariant: components in parallel fail the system only when all are down, so the
// availability is 1 − Π(1 − A_i). The load balancer and database are made almost perfect
// (99.9999%) so the replicas decide; at 90% each, 2 and 3 replicas give 99% and 99.9%. Over
// 200 years the measured unavailability is within 15% of the formula's for every seed.
#[test]
fn parallel_availability_matches_one_minus_product_of_unavailability() {
    for replicas in [2u32, 3] {
        let config = AvailabilityConfig {
            replicas,
            lb_availability: 0.999_999,
            app_availability: 0.9,
            db_availability: 0.999_999,
            ..AvailabilityConfig::default()
        };
        let replicas_only = parallel(&vec![0.9; replicas as usize]);

        assert!((replicas_only - (1.0 - 0.1f64.powi(replicas as i32))).abs() < 1e-12);
        for seed in 0..SEEDS {
            let mut engine = build(config.clone(), seed);

            run_years(&mut engine, 200.0);

            let ratio = relative_unavailability(&engine);
            assert!(
                (ratio - 1.0).abs() < 0.15,
                "seed {seed}, {replicas} replicas: measured {} vs formula {} (ratio {ratio})",
                engine.measured(),
                engine.formula()
            );
        }
    }
}

// Invariant: the measured availability converges to the formula. With the default topology,
// the error in unavailability averaged over the seeds shrinks from a 1-year run to a 100-year
// run, and after 100 years every seed is within 25% of the formula's unavailability.
#[test]
fn measured_availability_converges_to_formula() {
    let mut short_error = 0.0;
    let mut long_error = 0.0;
    for seed in 0..SEEDS {
        let mut engine = build(AvailabilityConfig::default(), seed);

        run_years(&mut engine, 1.0);
        short_error += (relative_unavailability(&engine) - 1.0).abs();
        run_years(&mut engine, 99.0);
        let ratio = relative_unavailability(&engine);
        long_error += (ratio - 1.0).abs();

        assert!(
            (ratio - 1.0).abs() < 0.25,
            "seed {seed}: ratio {ratio} after 100 years"
        );
    }

    assert!(
        long_error < short_error / 3.0,
        "mean error after 100 years {} vs after 1 year {}",
        long_error / SEEDS as f64,
        short_error / SEEDS as f64
    );
}

// Each component on its own is up for about its configured share of the time.
#[test]
fn component_uptime_matches_its_availability() {
    let mut engine = build(AvailabilityConfig::default(), 3);

    run_years(&mut engine, 100.0);

    let app = engine.measured_component(1).unwrap_or(0.0);
    assert!((1.0 - app) / 0.01 > 0.9, "app measured {app}");
    assert!((1.0 - app) / 0.01 < 1.1, "app measured {app}");
}

// A standby database in parallel raises the formula and the measured availability.
#[test]
fn standby_raises_availability() {
    let without = AvailabilityConfig::default();
    let with = AvailabilityConfig {
        standby: true,
        ..without.clone()
    };
    let mut plain = build(without.clone(), 5);
    let mut standby = build(with.clone(), 5);

    run_years(&mut plain, 50.0);
    run_years(&mut standby, 50.0);

    assert!(with.formula() > without.formula());
    assert!(standby.measured() > plain.measured());
}

// A component crashed by hand stays down until restarted; crashing the only load balancer
// takes the system down at once.
#[test]
fn crashed_load_balancer_keeps_system_down() {
    let mut engine = build(AvailabilityConfig::default(), 1);

    let crashed = engine.apply(&sim::availability::Action::Fault(Fault::Crash { node: 0 }));
    run_years(&mut engine, 1.0);
    let down = engine.system_up();
    let restarted = engine.apply(&sim::availability::Action::Fault(Fault::Restart {
        node: 0,
    }));

    assert!(crashed.is_ok());
    assert!(!down);
    assert!(engine.measured() < 0.01, "measured {}", engine.measured());
    assert!(restarted.is_ok());
    assert!(engine.components().first().is_some_and(|lb| lb.up));
}

// Restarting a component that was not crashed by hand, or crashing an unknown one, is rejected.
#[test]
fn invalid_faults_are_rejected() {
    let mut engine = build(AvailabilityConfig::default(), 1);

    let restart = engine.apply(&sim::availability::Action::Fault(Fault::Restart {
        node: 1,
    }));
    let unknown = engine.apply(&sim::availability::Action::Fault(Fault::Crash { node: 99 }));

    assert!(restart.is_err());
    assert!(unknown.is_err());
}

// Determinism: the same seed, configuration and actions give the same serialized trace.
#[test]
fn same_seed_gives_same_trace() {
    let trace = || {
        let mut engine = build(AvailabilityConfig::default(), 42);
        let mut events = run_years(&mut engine, 2.0);
        if let Ok(more) = engine.apply(&sim::availability::Action::Fault(Fault::Crash { node: 1 }))
        {
            events.extend(more);
        }
        events.extend(run_years(&mut engine, 2.0));
        serde_json::to_string(&events).unwrap_or_default()
    };

    let first = trace();
    let second = trace();

    assert!(first.len() > 1000, "trace too short: {}", first.len());
    assert_eq!(first, second);
}
