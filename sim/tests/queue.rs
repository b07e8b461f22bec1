//! Invariants of the queue engine, checked over many seeds against the queueing formulas.

use sim::Engine;
use sim::queue::{
    Action, Chart, Event, MAX_QUEUE, Queue, QueueConfig, STEP_MS, mmc_mean_latency_ms,
};
use sim::rng::SimRng;

fn build(config: QueueConfig, seed: u64) -> Queue {
    match Queue::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn steps_for(seconds: f64) -> usize {
    (seconds * 1000.0 / STEP_MS) as usize
}

/// Runs `seconds` of simulated time and returns every event.
fn run(engine: &mut Queue, seconds: f64) -> Vec<Event> {
    (0..steps_for(seconds))
        .flat_map(|_| engine.step())
        .collect()
}

fn mm1(arrival_per_s: f64, service_ms: f64) -> QueueConfig {
    QueueConfig {
        arrival_per_s,
        servers: 1,
        service_ms,
        slow_fraction: 0.0,
        fan_out: 1,
        ..QueueConfig::default()
    }
}

/// Draws a configuration with utilization 0.1 to 0.9, so that the system has a steady state.
fn random_stable_config(rng: &mut SimRng) -> QueueConfig {
    let servers = 1 + rng.below(8) as u32;
    let fan_out = 1 + rng.below(4) as u32;
    let slow_fraction = if rng.below(2) == 0 {
        0.0
    } else {
        0.05 * rng.uniform()
    };
    let mut config = QueueConfig {
        arrival_per_s: 1.0,
        servers,
        service_ms: 2.0 + 20.0 * rng.uniform(),
        slow_fraction,
        slow_factor: 1.0 + 9.0 * rng.uniform(),
        fan_out,
        chart: Chart::LatencyCurve,
    };
    let rho = 0.1 + 0.8 * rng.uniform();
    config.arrival_per_s = (rho / config.utilization()).min(1000.0);
    config
}

/// Computes the nearest-rank percentile: the smallest sample with at least `q` of all samples
/// at or below it. `sorted` must be sorted and non-empty.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn latencies(events: &[Event]) -> Vec<f64> {
    events
        .iter()
        .filter_map(|event| match *event {
            Event::Completed { latency_ms, .. } => Some(latency_ms),
            _ => None,
        })
        .collect()
}

// Invariant (Little's law): over a long run, the time-average number of requests in the
// system L equals the admitted arrival rate lambda times the mean latency W. Over 200 s of
// simulated time at utilization 0.1 to 0.9, with random servers, fan-out and slow tails, the
// two sides agree within 2%; the gap comes only from requests still in the system at the end.
#[test]
fn littles_law_holds_on_a_long_run() {
    for seed in 0..30 {
        let mut rng = SimRng::new(seed ^ 0x11771e);
        let config = random_stable_config(&mut rng);
        let mut engine = build(config.clone(), seed);

        run(&mut engine, 200.0);

        let l = engine.mean_in_system();
        let w_ms = engine.mean_latency_ms().unwrap_or(f64::NAN);
        let lambda_w = engine.admitted_per_s() * w_ms / 1000.0;
        let error = (l - lambda_w).abs() / l;
        assert!(
            error < 0.02,
            "seed {seed}, {config:?}: L = {l:.4}, lambda x W = {lambda_w:.4}, error {error:.4}"
        );
    }
}

// Invariant (M/M/1): with one server, Poisson arrivals at lambda and exponential service at
// rate mu, the mean latency is 1 / (mu - lambda). At mu = 100/s and lambda = 50/s (rho 0.5)
// that is 20 ms. Each seed runs 1000 s (about 50,000 requests), whose sample mean has a
// standard error near 1.5%, so the 5% tolerance is more than three standard errors.
#[test]
fn mm1_mean_latency_matches_one_over_mu_minus_lambda() {
    let config = mm1(50.0, 10.0);
    let expected_ms = 1000.0 / (100.0 - 50.0);

    for seed in 0..5 {
        let mut engine = build(config.clone(), seed);

        run(&mut engine, 1000.0);

        let mean_ms = engine.mean_latency_ms().unwrap_or(f64::NAN);
        let error = (mean_ms - expected_ms).abs() / expected_ms;
        assert!(
            error < 0.05,
            "seed {seed}: mean latency {mean_ms:.3} ms, 1 / (mu - lambda) = {expected_ms} ms, \
             error {error:.4}"
        );
    }
}

// Invariant (M/M/c): with several servers the mean latency matches the Erlang C formula. At 4
// servers of 10 ms and rho 0.8 the formula gives 17.47 ms. Each seed runs 500 s (160,000
// requests) and must come within 5%.
#[test]
fn mmc_mean_latency_matches_erlang_c() {
    let config = QueueConfig {
        servers: 4,
        ..mm1(320.0, 10.0)
    };
    let expected_ms = mmc_mean_latency_ms(320.0, 4, 10.0).unwrap_or(f64::NAN);

    for seed in 0..3 {
        let mut engine = build(config.clone(), seed);

        run(&mut engine, 500.0);

        let mean_ms = engine.mean_latency_ms().unwrap_or(f64::NAN);
        let error = (mean_ms - expected_ms).abs() / expected_ms;
        assert!(
            error < 0.05,
            "seed {seed}: mean latency {mean_ms:.3} ms, Erlang C gives {expected_ms:.3} ms"
        );
    }
}

// Mean latency explodes near full load: at rho 0.95 the M/M/1 mean is 10 times the one at
// rho 0.5 (200 ms against 20 ms). Over 300 s per run the measured ratio exceeds 6 on every seed.
#[test]
fn latency_explodes_as_utilization_nears_one() {
    for seed in 0..5 {
        let mut half = build(mm1(50.0, 10.0), seed);
        let mut near_full = build(mm1(95.0, 10.0), seed);

        run(&mut half, 300.0);
        run(&mut near_full, 300.0);

        let low = half.mean_latency_ms().unwrap_or(f64::NAN);
        let high = near_full.mean_latency_ms().unwrap_or(f64::NAN);
        assert!(
            high > 6.0 * low,
            "seed {seed}: {high:.1} ms at rho 0.95, {low:.1} ms at rho 0.5"
        );
    }
}

// Fan-out raises the tail. When each request waits for the slowest of 8 sub-requests and 1% of
// sub-requests take 20 times longer, about 7.7% of requests hit a slow one instead of 1%. So
// p99 moves from near the edge of the fast requests (about 60 ms) into the slow tail (about
// 400 ms). Over 100 s per run, p99 with fan-out 8 is more than 3 times p99 without, on every seed.
#[test]
fn fan_out_raises_p99() {
    let config = QueueConfig {
        arrival_per_s: 50.0,
        servers: 16,
        service_ms: 10.0,
        slow_fraction: 0.01,
        slow_factor: 20.0,
        fan_out: 1,
        chart: Chart::Histogram,
    };

    for seed in 0..10 {
        let mut single = build(config.clone(), seed);
        let mut fanned = build(
            QueueConfig {
                fan_out: 8,
                ..config.clone()
            },
            seed,
        );

        run(&mut single, 100.0);
        run(&mut fanned, 100.0);

        let p99_single = single.latency_percentiles().map_or(f64::NAN, |p| p.p99_ms);
        let p99_fanned = fanned.latency_percentiles().map_or(f64::NAN, |p| p.p99_ms);
        assert!(
            p99_fanned > 3.0 * p99_single,
            "seed {seed}: p99 {p99_fanned:.1} ms with fan-out 8, {p99_single:.1} ms without"
        );
    }
}

// The share of requests that hit at least one slow sub-request is 1 - (1 - p)^k. At p = 0.05
// and k = 8 that is 33.7%; over 100 s at 50 requests per second (5,000 requests) the standard
// error is 0.7 points, so a tolerance of 3 points is more than four standard errors.
#[test]
fn slow_share_matches_one_minus_fast_to_the_k() {
    let config = QueueConfig {
        arrival_per_s: 50.0,
        servers: 16,
        service_ms: 5.0,
        slow_fraction: 0.05,
        slow_factor: 5.0,
        fan_out: 8,
        chart: Chart::Histogram,
    };
    let expected = 1.0 - 0.95f64.powi(8);

    for seed in 0..10 {
        let mut engine = build(config.clone(), seed);

        run(&mut engine, 100.0);

        let measured = engine.slow_share().unwrap_or(f64::NAN);
        assert!(
            (measured - expected).abs() < 0.03,
            "seed {seed}: {measured:.4} of requests hit a slow sub-request, formula {expected:.4}"
        );
    }
}

// The percentiles the engine reports from its HDR histogram match the nearest-rank percentiles
// of the latencies in its own Completed events, within the histogram's 0.1% precision plus the
// 1 microsecond it rounds to. This holds for the totals and for the recent window.
#[test]
fn percentiles_match_the_engine_samples() {
    for seed in 0..20 {
        let mut rng = SimRng::new(seed ^ 0x9e7c);
        let config = random_stable_config(&mut rng);
        let mut engine = build(config.clone(), seed);

        let events = run(&mut engine, 30.0);
        let mut all = latencies(&events);
        all.sort_by(f64::total_cmp);
        let mut recent: Vec<f64> = engine.recent_latencies().collect();
        recent.sort_by(f64::total_cmp);

        let checks = [
            ("all", engine.latency_percentiles(), &all),
            ("recent", engine.recent_percentiles(), &recent),
        ];
        for (name, reported, samples) in checks {
            let Some(reported) = reported else {
                panic!("seed {seed}, {config:?}: no {name} percentiles");
            };
            for (label, q, value) in [
                ("p50", 0.50, reported.p50_ms),
                ("p95", 0.95, reported.p95_ms),
                ("p99", 0.99, reported.p99_ms),
            ] {
                let exact = nearest_rank(samples, q);
                let allowed = exact * 0.001 + 0.001;
                assert!(
                    (value - exact).abs() <= allowed,
                    "seed {seed}, {config:?}: {name} {label} is {value} ms, nearest rank of \
                     {} samples is {exact} ms",
                    samples.len()
                );
            }
        }
    }
}

// Conservation: every arrival is admitted or dropped, and every admitted request has completed
// or is still in the system.
#[test]
fn every_request_is_counted_once() {
    for seed in 0..20 {
        let mut rng = SimRng::new(seed ^ 0xc0c0);
        let config = QueueConfig {
            arrival_per_s: 400.0 * rng.uniform(),
            ..random_stable_config(&mut rng)
        };
        let mut engine = build(config.clone(), seed);

        let events = run(&mut engine, 20.0);

        let arrived = events
            .iter()
            .filter(|e| matches!(e, Event::Arrived { .. } | Event::Dropped { .. }))
            .count() as u64;
        let completed = latencies(&events).len() as u64;
        assert_eq!(
            arrived,
            engine.admitted_total() + engine.dropped_total(),
            "seed {seed}, {config:?}"
        );
        assert_eq!(
            completed,
            engine.completed_total(),
            "seed {seed}, {config:?}"
        );
        assert_eq!(
            engine.admitted_total(),
            engine.completed_total() + engine.in_system() as u64,
            "seed {seed}, {config:?}"
        );
    }
}

// Overload is bounded: at twice the capacity the queue never contains more than MAX_QUEUE
// sub-requests, the excess is dropped, and the servers still complete requests at capacity
// (100 per second here, within 5%).
#[test]
fn overload_caps_the_queue_and_drops() {
    let config = mm1(200.0, 10.0);

    for seed in 0..5 {
        let mut engine = build(config.clone(), seed);
        let mut longest = 0;

        for _ in 0..steps_for(60.0) {
            engine.step();
            longest = longest.max(engine.queue_len());
        }

        assert!(longest <= MAX_QUEUE, "seed {seed}: queue reached {longest}");
        assert!(
            longest >= MAX_QUEUE - 5,
            "seed {seed}: queue only reached {longest}"
        );
        assert!(
            engine.dropped_total() > 4000,
            "seed {seed}: {} dropped",
            engine.dropped_total()
        );
        let throughput = engine.recent_throughput_per_s();
        assert!(
            (throughput - 100.0).abs() < 5.0,
            "seed {seed}: throughput {throughput} req/s at capacity 100"
        );
    }
}

// The widget's default page: at rho 0.5 the recent mean latency is near 20 ms after 10 s, and
// 20 s after raising the arrival rate to 95 per second (rho 0.95) it is above 80 ms.
#[test]
fn default_page_shows_the_climb() {
    for seed in 0..5 {
        let mut engine = build(QueueConfig::default(), seed);
        run(&mut engine, 10.0);
        let half = engine.recent_mean_latency_ms().unwrap_or(f64::NAN);

        let changed = engine.apply(&Action::SetArrivalRate {
            arrival_per_s: 95.0,
        });
        run(&mut engine, 20.0);
        let near_full = engine.recent_mean_latency_ms().unwrap_or(f64::NAN);

        assert!(changed.is_ok(), "seed {seed}: {changed:?}");
        assert!(
            half > 10.0 && half < 35.0,
            "seed {seed}: {half} ms at rho 0.5"
        );
        assert!(near_full > 80.0, "seed {seed}: {near_full} ms at rho 0.95");
    }
}

// The curve gets one point per second with completions, at the utilization then offered.
#[test]
fn curve_records_one_point_per_second() {
    let mut engine = build(QueueConfig::default(), 3);

    run(&mut engine, 5.0);
    let changed = engine.apply(&Action::SetArrivalRate {
        arrival_per_s: 80.0,
    });
    run(&mut engine, 5.0);

    let points: Vec<f64> = engine.curve().map(|point| point.utilization).collect();
    assert!(changed.is_ok());
    assert_eq!(points.len(), 10, "{points:?}");
    assert!((points[0] - 0.5).abs() < 1e-12, "{points:?}");
    assert!((points[9] - 0.8).abs() < 1e-12, "{points:?}");
}

// Determinism: the same seed, configuration and actions give the same event trace, serialized
// byte for byte.
#[test]
fn same_seed_gives_same_trace() {
    for seed in 0..10 {
        let trace = || {
            let mut rng = SimRng::new(seed);
            let config = random_stable_config(&mut rng);
            let mut engine = build(config, seed);
            let mut events = run(&mut engine, 5.0);
            events.extend(
                engine
                    .apply(&Action::SetFanOut { fan_out: 3 })
                    .unwrap_or_default(),
            );
            events.extend(run(&mut engine, 5.0));
            serde_json::to_string(&events).unwrap_or_default()
        };

        let first = trace();
        let second = trace();

        assert!(!first.is_empty(), "seed {seed}: trace did not serialize");
        assert_eq!(first, second, "seed {seed}: traces differ");
    }
}

// The seed drives arrivals and service times, so two seeds give two traces.
#[test]
fn different_seeds_give_different_traces() {
    let trace = |seed| {
        let mut engine = build(QueueConfig::default(), seed);
        serde_json::to_string(&run(&mut engine, 5.0)).unwrap_or_default()
    };

    assert_ne!(trace(1), trace(2));
}

// The recent slow share follows a live fan-out change: 20 s after switching from fan-out 1 to 8
// at a 1% slow share, the last 10 s (about 500 requests, standard error 1.2 points) show
// 1 - 0.99^8 = 7.7% within 4 points, free of the requests from before the change.
#[test]
fn recent_slow_share_follows_fan_out() {
    let config = QueueConfig {
        arrival_per_s: 50.0,
        servers: 16,
        service_ms: 10.0,
        slow_fraction: 0.01,
        slow_factor: 20.0,
        fan_out: 1,
        chart: Chart::Histogram,
    };
    let expected = 1.0 - 0.99f64.powi(8);

    for seed in 0..10 {
        let mut engine = build(config.clone(), seed);
        run(&mut engine, 20.0);
        let changed = engine.apply(&Action::SetFanOut { fan_out: 8 });
        run(&mut engine, 20.0);

        let share = engine.recent_slow_share().unwrap_or(f64::NAN);
        assert!(changed.is_ok(), "seed {seed}: {changed:?}");
        assert!(
            (share - expected).abs() < 0.04,
            "seed {seed}: recent slow share {share:.4}, formula {expected:.4}"
        );
    }
}
