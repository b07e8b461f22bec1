//! Invariants of the scaling engine: the USL formula, the capacity bound on throughput, the
//! measured curve against the formula, queueing delay near saturation, faults and determinism.

use sim::Engine;
use sim::faults::Fault;
use sim::scaling::{Action, Mode, STEP_MS, Scaling, ScalingConfig, stretch, usl, usl_peak};

fn build(config: &ScalingConfig, seed: u64) -> Scaling {
    match Scaling::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: {config:?} rejected: {err}"),
    }
}

fn vertical(cores: u32, load_per_s: f64, sigma: f64, kappa: f64) -> ScalingConfig {
    ScalingConfig {
        mode: Mode::Vertical,
        cores,
        nodes: 1,
        load_per_s,
        sigma,
        kappa,
        ..ScalingConfig::default()
    }
}

fn horizontal(nodes: u32, load_per_s: f64) -> ScalingConfig {
    ScalingConfig {
        mode: Mode::Horizontal,
        cores: 2,
        nodes,
        load_per_s,
        sigma: 0.05,
        kappa: 0.01,
        ..ScalingConfig::default()
    }
}

fn run_steps(engine: &mut Scaling, steps: u32) {
    for _ in 0..steps {
        engine.step();
    }
}

/// With sigma = kappa = 0, C(N) = N: capacity grows linearly with N.
#[test]
fn usl_with_zero_contention_is_linear() {
    for n in 1..=128 {
        let capacity = usl(f64::from(n), 0.0, 0.0);

        assert!(
            (capacity - f64::from(n)).abs() < 1e-12,
            "C({n}) = {capacity}"
        );
    }
}

/// The peak of C(N) = N / (1 + sigma (N - 1) + kappa N (N - 1)) is at
/// N* = sqrt((1 - sigma) / kappa): C(N*) is at least C(N) for every N on a fine grid.
#[test]
fn usl_peak_is_at_sqrt_of_one_minus_sigma_over_kappa() {
    for (sigma, kappa) in [(0.05, 0.001), (0.0, 0.01), (0.3, 0.0005), (0.9, 0.02)] {
        let Some(peak) = usl_peak(sigma, kappa) else {
            panic!("kappa {kappa} has no peak");
        };
        let expected = ((1.0 - sigma) / kappa).sqrt();
        let best = usl(peak, sigma, kappa);

        assert!((peak - expected).abs() < 1e-9, "peak {peak} vs {expected}");
        for step in 1..=4000 {
            let n = f64::from(step) * 0.1;
            assert!(
                usl(n, sigma, kappa) <= best + 1e-12,
                "sigma {sigma} kappa {kappa}: C({n}) above C(N*) = {best}"
            );
        }
    }
}

/// With kappa = 0 there is no peak, and the USL is Amdahl's law N / (1 + sigma (N - 1)).
#[test]
fn usl_without_coherency_is_amdahl() {
    let sigma = 0.05;

    for n in [1.0, 2.0, 8.0, 128.0] {
        let amdahl = n / (1.0 + sigma * (n - 1.0));

        assert!((usl(n, sigma, 0.0) - amdahl).abs() < 1e-12, "N = {n}");
    }
    assert_eq!(usl_peak(sigma, 0.0), None);
}

/// Every worker completes at most one request per stretched service time, so over a run of T
/// seconds at a fixed size, served <= capacity * T + slots (the requests started at the end
/// may finish within one service time). Checked at every step, for overload and many seeds.
#[test]
fn throughput_never_exceeds_usl_capacity() {
    for seed in 0..20 {
        for config in [
            vertical(8, 2_000.0, 0.05, 0.001),
            vertical(64, 5_000.0, 0.02, 0.0001),
            horizontal(4, 1_000.0),
        ] {
            let mut engine = build(&config, seed);
            let bound_per_s = engine.capacity_per_s();
            let slots = f64::from(engine.slots());

            for step in 1..=200 {
                engine.step();
                let elapsed_s = f64::from(step) * STEP_MS / 1000.0;
                let bound = bound_per_s * elapsed_s + slots;
                assert!(
                    engine.served() as f64 <= bound,
                    "seed {seed}, {config:?}: served {} > bound {bound} at {elapsed_s} s",
                    engine.served()
                );
            }
        }
    }
}

/// Under overload (offered load 3 times capacity, long queue) every worker stays busy, so the
/// measured throughput at each N is within 3% of per_unit * C(N), for 10 seeds and N from 1
/// to 128 cores.
#[test]
fn measured_throughput_matches_usl() {
    for seed in 0..10 {
        for cores in [1, 2, 4, 8, 16, 32, 64, 128] {
            let mut config = vertical(cores, 0.0, 0.05, 0.001);
            config.queue_limit = 2_000;
            let probe = build(&config, seed);
            config.load_per_s = (3.0 * probe.capacity_per_s()).min(5_000.0);
            let mut engine = build(&config, seed);

            run_steps(&mut engine, 100);
            let curve = engine.measured_curve();
            let Some(&(n, measured)) = curve.first() else {
                panic!("seed {seed}: no measured point at {cores} cores");
            };
            let predicted = engine.capacity_at(cores);

            assert_eq!(n, cores, "seed {seed}");
            assert!(
                (measured - predicted).abs() <= 0.03 * predicted,
                "seed {seed}, {cores} cores: measured {measured:.1}/s vs USL {predicted:.1}/s"
            );
        }
    }
}

/// Mean latency (queueing plus service) grows as utilization nears 1: at 50%, 80% and 95%
/// of capacity on one 8-core machine, each level's mean over 20 s is higher than the last.
/// The queueing delay (mean latency less the service time) is under a tenth of the service
/// time at 50% and over half of it at 95%. Checked for 10 seeds.
#[test]
fn latency_rises_as_utilization_nears_one() {
    for seed in 0..10 {
        let mut means = Vec::new();
        for utilization in [0.5, 0.8, 0.95] {
            let mut config = vertical(8, 0.0, 0.05, 0.001);
            config.queue_limit = 10_000;
            let probe = build(&config, seed);
            config.load_per_s = utilization * probe.capacity_per_s();
            let mut engine = build(&config, seed);

            run_steps(&mut engine, 400);
            let Some(mean) = engine.mean_latency_ms() else {
                panic!("seed {seed}: nothing served at {utilization}");
            };
            means.push((mean, engine.service_ms_now()));
        }

        assert!(means[0].0 < means[1].0, "seed {seed}: {means:?}");
        assert!(means[1].0 < means[2].0, "seed {seed}: {means:?}");
        assert!(
            means[0].0 - means[0].1 < 0.1 * means[0].1,
            "seed {seed}: {means:?}"
        );
        assert!(
            means[2].0 - means[2].1 > 0.5 * means[2].1,
            "seed {seed}: {means:?}"
        );
    }
}

/// Past N* = sqrt((1 - sigma) / kappa) a bigger machine has less capacity: with sigma 0.05
/// and kappa 0.001 (N* about 31), 64 cores serve less than 32.
#[test]
fn size_past_peak_lowers_capacity() {
    let mut engine = build(&vertical(32, 350.0, 0.05, 0.001), 1);
    let at_32 = engine.capacity_per_s();

    let events = engine.apply(&Action::SizeUp);

    assert!(events.is_ok(), "{events:?}");
    assert_eq!(engine.cores(), 64);
    assert!(engine.capacity_per_s() < at_32);
}

/// The largest size cannot grow, and the smallest cannot shrink.
#[test]
fn size_ladder_has_ends() {
    let mut largest = build(&vertical(128, 100.0, 0.05, 0.001), 1);
    let mut smallest = build(&vertical(1, 10.0, 0.05, 0.001), 1);

    assert!(largest.apply(&Action::SizeUp).is_err());
    assert!(smallest.apply(&Action::SizeDown).is_err());
    assert_eq!(largest.cores(), 128);
    assert_eq!(smallest.cores(), 1);
}

/// The stretch factor at N equals N over C(N), so capacity is N workers at the stretched time.
#[test]
fn stretch_times_usl_is_n() {
    for n in [1.0, 3.0, 17.0, 128.0] {
        let product = stretch(n, 0.1, 0.01) * usl(n, 0.1, 0.01);

        assert!((product - n).abs() < 1e-9, "N = {n}: {product}");
    }
}

/// A crash fails exactly the requests on the node, the balancer stops sending to it, and the
/// capacity falls to the USL value for one node fewer.
#[test]
fn crash_moves_load_to_survivors() {
    let mut engine = build(&horizontal(4, 250.0), 7);
    run_steps(&mut engine, 40);
    let on_node: u64 = engine
        .machines()
        .first()
        .map_or(0, |m| (m.busy() + m.queued()) as u64);

    let events = engine.apply(&Action::Fault(Fault::Crash { node: 1 }));
    run_steps(&mut engine, 40);

    assert!(events.is_ok(), "{events:?}");
    assert_eq!(engine.failed(), on_node);
    assert_eq!(engine.nodes_up(), 3);
    assert_eq!(
        engine.machines()[0].busy() + engine.machines()[0].queued(),
        0
    );
    assert!((engine.capacity_per_s() - engine.capacity_at(3)).abs() < 1e-9);
}

/// A crashed machine is still paid for: the hourly cost counts every machine, up or down,
/// and falls only when a node is removed.
#[test]
fn crashed_machine_still_costs() {
    let mut engine = build(&horizontal(4, 250.0), 3);
    let before = engine.cost_per_hour();

    engine
        .apply(&Action::Fault(Fault::Crash { node: 1 }))
        .expect("crash machine 1");
    let crashed = engine.cost_per_hour();
    engine.apply(&Action::RemoveNode).expect("remove node 4");
    let removed = engine.cost_per_hour();

    assert!((before - 4.0 * 0.10).abs() < 1e-9, "4 nodes cost {before}");
    assert!((crashed - before).abs() < 1e-9, "after a crash {crashed}");
    assert!(
        (removed - 3.0 * 0.10).abs() < 1e-9,
        "after removing one {removed}"
    );
}

/// Every request is served, dropped, failed or still in the system.
#[test]
fn requests_are_conserved() {
    for seed in 0..10 {
        let mut engine = build(&horizontal(3, 400.0), seed);
        run_steps(&mut engine, 50);
        engine.apply(&Action::RemoveNode).ok();
        engine.apply(&Action::Fault(Fault::Crash { node: 1 })).ok();
        run_steps(&mut engine, 50);

        let accounted = engine.served() + engine.dropped() + engine.failed() + engine.in_system();

        assert_eq!(engine.arrived(), accounted, "seed {seed}");
    }
}

/// The same seed, configuration and actions give the same serialized trace.
#[test]
fn determinism() {
    let trace = |seed: u64| {
        let mut engine = build(&horizontal(4, 300.0), seed);
        let mut lines = Vec::new();
        for step in 0..200 {
            let events = match step {
                50 => engine.apply(&Action::Fault(Fault::Crash { node: 2 })),
                80 => engine.apply(&Action::AddNode),
                120 => engine.apply(&Action::SetLoad { per_s: 500.0 }),
                _ => Ok(engine.step()),
            };
            lines.push(serde_json::to_string(&events.unwrap_or_default()).unwrap_or_default());
        }
        lines.push(format!(
            "{} {} {} {:?}",
            engine.served(),
            engine.dropped(),
            engine.failed(),
            engine.measured_curve()
        ));
        lines
    };

    assert_eq!(trace(11), trace(11));
    assert_ne!(trace(11), trace(12));
}
