//! Invariants of the health check engine, checked over many seeds and configurations.

use sim::Engine;
use sim::health_check::{
    Action, Event, FailReason, HealthCheck, HealthCheckConfig, Mark, ProbeOutcome, RestartCause,
    STEP_MS,
};
use sim::rng::SimRng;

/// Seeds each randomized test loops over.
const SEEDS: u64 = 100;

/// Slack for comparing simulated times, far below a step.
const EPSILON_MS: f64 = 1e-6;

fn build(config: HealthCheckConfig, seed: u64) -> HealthCheck {
    match HealthCheck::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn steps_for(ms: f64) -> usize {
    (ms / STEP_MS) as usize
}

fn run(engine: &mut HealthCheck, steps: usize) -> Vec<Event> {
    (0..steps).flat_map(|_| engine.step()).collect()
}

fn act(engine: &mut HealthCheck, action: &Action) -> Vec<Event> {
    match engine.apply(action) {
        Ok(events) => events,
        Err(err) => panic!("{action:?} was not applied: {err}"),
    }
}

/// Draws a configuration with the checks on: 1 to 8 instances, any number warm, 5 to 100
/// requests per second, probes every 100 ms to 2 s, and a hang in the first 10 s.
fn random_config(rng: &mut SimRng) -> HealthCheckConfig {
    let instances = 1 + rng.below(8) as u32;
    HealthCheckConfig {
        instances,
        warm: rng.below(u64::from(instances) + 1) as u32,
        rate_per_s: 5.0 + 95.0 * rng.uniform(),
        service_ms: 1.0 + 100.0 * rng.uniform(),
        timeout_ms: 10.0 + 2000.0 * rng.uniform(),
        period_ms: 100.0 + 1900.0 * rng.uniform(),
        failure_threshold: 1 + rng.below(5) as u32,
        success_threshold: 1 + rng.below(3) as u32,
        warmup_ms: 5000.0 * rng.uniform(),
        checks: true,
        hang_at_ms: 1.0 + 10_000.0 * rng.uniform(),
        hang_instance: rng.below(u64::from(instances)) as u32,
    }
}

/// One instance rebuilt from the events alone.
#[derive(Debug, Clone)]
struct ModelInstance {
    in_rotation: bool,
    warmed: bool,
    hung: bool,
    dependency: bool,
    /// Whether a readiness probe has passed since the latest start.
    passed: bool,
    live_failures: u32,
    ready_failures: u32,
    ready_passes: u32,
    /// Since when the instance has been hung with the checks on, if it is hung.
    hung_checked_since: Option<f64>,
}

/// The balancer and checker rebuilt from the events, which checks every named invariant as it
/// goes.
struct Model {
    config: HealthCheckConfig,
    checks: bool,
    instances: Vec<ModelInstance>,
    next_request: u64,
}

impl Model {
    fn new(config: &HealthCheckConfig) -> Self {
        let instances = (0..config.instances)
            .map(|id| {
                let warm = id < config.warm;
                ModelInstance {
                    in_rotation: warm || !config.checks,
                    warmed: warm,
                    hung: false,
                    dependency: true,
                    passed: warm,
                    live_failures: 0,
                    ready_failures: 0,
                    ready_passes: 0,
                    hung_checked_since: None,
                }
            })
            .collect();
        Self {
            config: config.clone(),
            checks: config.checks,
            instances,
            next_request: 0,
        }
    }

    fn instance(&mut self, id: u32) -> Result<&mut ModelInstance, String> {
        self.instances
            .get_mut(id as usize)
            .ok_or_else(|| format!("event names unknown instance {id}"))
    }

    fn check(&mut self, events: &[Event]) -> Result<(), String> {
        for event in events {
            self.check_event(event)?;
        }
        Ok(())
    }

    fn check_event(&mut self, event: &Event) -> Result<(), String> {
        let checks = self.checks;
        let threshold = self.config.failure_threshold;
        let success_threshold = self.config.success_threshold;
        let bound_ms = f64::from(threshold) * self.config.period_ms;
        match *event {
            Event::WarmedUp { instance, .. } => self.instance(instance)?.warmed = true,
            Event::Hung { at_ms, instance } => {
                let model = self.instance(instance)?;
                model.hung = true;
                model.hung_checked_since = checks.then_some(at_ms);
            }
            Event::DependencyChanged {
                instance,
                available,
                ..
            } => self.instance(instance)?.dependency = available,
            Event::Probed {
                instance,
                live,
                ready,
                ..
            } => {
                if !checks {
                    return Err(format!("{event:?} while the checks are off"));
                }
                let model = self.instance(instance)?;
                let healthy = model.warmed && !model.hung && model.dependency;
                if live == model.hung || ready != healthy {
                    return Err(format!("{event:?} but the model has {model:?}"));
                }
                if ready {
                    model.passed = true;
                    model.ready_passes += 1;
                    model.ready_failures = 0;
                } else {
                    model.ready_passes = 0;
                    model.ready_failures += 1;
                }
                model.live_failures = if live { 0 } else { model.live_failures + 1 };
            }
            Event::Added { instance, .. } => {
                let model = self.instance(instance)?;
                // Invariant: with the checks on, an instance joins the rotation only after
                // `success_threshold` passed readiness probes in a row.
                if checks && model.ready_passes < success_threshold {
                    return Err(format!("{event:?} after {} passes", model.ready_passes));
                }
                model.in_rotation = true;
            }
            Event::Removed {
                instance, failures, ..
            } => {
                let model = self.instance(instance)?;
                if failures > 0 && model.ready_failures < threshold {
                    return Err(format!("{event:?} after {} failures", model.ready_failures));
                }
                model.in_rotation = false;
            }
            Event::Restarted {
                instance, cause, ..
            } => {
                let model = self.instance(instance)?;
                // Invariant: only `failure_threshold` failed liveness probes in a row restart an
                // instance on their own; a failed readiness probe never does.
                if cause == RestartCause::Liveness && model.live_failures < threshold {
                    return Err(format!("{event:?} after {} failures", model.live_failures));
                }
                if model.in_rotation && checks {
                    return Err(format!("{event:?} left the instance in the rotation"));
                }
                model.warmed = false;
                model.hung = false;
                model.passed = !checks;
                model.hung_checked_since = None;
                model.live_failures = 0;
                model.ready_failures = 0;
                model.ready_passes = 0;
            }
            Event::ChecksSwitched { at_ms, enabled } => {
                self.checks = enabled;
                for model in &mut self.instances {
                    model.live_failures = 0;
                    model.ready_failures = 0;
                    model.ready_passes = 0;
                    model.hung_checked_since = (enabled && model.hung).then_some(at_ms);
                    // With the checks off every instance is in the rotation, so the first-probe
                    // rule no longer covers the processes running now.
                    model.passed |= !enabled;
                }
            }
            Event::Served {
                at_ms,
                request_id,
                instance,
                ..
            } => self.routed(at_ms, request_id, instance, None, bound_ms)?,
            Event::Failed {
                at_ms,
                request_id,
                instance,
                reason,
                ..
            } => self.routed(at_ms, request_id, instance, Some(reason), bound_ms)?,
            Event::Rejected { request_id, .. } => {
                self.next(request_id)?;
                if self.instances.iter().any(|m| m.in_rotation) {
                    return Err(format!("{event:?} with a non-empty rotation"));
                }
            }
        }
        Ok(())
    }

    /// Invariant (conservation): every arriving request gets the next id and exactly one
    /// outcome, served, failed or rejected.
    fn next(&mut self, request_id: u64) -> Result<(), String> {
        if request_id != self.next_request {
            return Err(format!(
                "request {request_id} settled, expected {}",
                self.next_request
            ));
        }
        self.next_request += 1;
        Ok(())
    }

    fn routed(
        &mut self,
        at_ms: f64,
        request_id: u64,
        instance: u32,
        failed: Option<FailReason>,
        bound_ms: f64,
    ) -> Result<(), String> {
        self.next(request_id)?;
        let checks = self.checks;
        let model = self.instance(instance)?;
        if !model.in_rotation {
            return Err(format!(
                "request {request_id} sent to {instance} out of rotation"
            ));
        }
        // Invariant: with the checks on, an instance is never in the rotation before a readiness
        // probe has passed since its start, so it gets no request before then.
        if checks && !model.passed {
            return Err(format!(
                "request {request_id} sent to {instance} before a passed readiness probe"
            ));
        }
        // Invariant: a hung instance gets requests for at most failure_threshold x period_ms
        // after it hangs (or after the checks came on), because its probes fail from then on.
        if let Some(since) = model.hung_checked_since
            && at_ms > since + bound_ms + EPSILON_MS
        {
            return Err(format!(
                "request {request_id} sent to hung {instance} at {at_ms} ms, hung since {since} ms"
            ));
        }
        let expected = if model.hung {
            Some(FailReason::Hung)
        } else if !model.warmed {
            Some(FailReason::Cold)
        } else if !model.dependency {
            Some(FailReason::NotReady)
        } else {
            None
        };
        if failed != expected {
            return Err(format!(
                "request {request_id} to {instance}: {failed:?}, model expects {expected:?}"
            ));
        }
        Ok(())
    }
}

/// Runs `steps` steps, checking every event against the model and the engine's rotation against
/// the model's, and panics with the seed.
fn run_checked(engine: &mut HealthCheck, model: &mut Model, steps: usize, seed: u64) -> Vec<Event> {
    let mut trace = Vec::new();
    for step in 0..steps {
        let events = engine.step();
        if let Err(message) = model.check(&events) {
            panic!("seed {seed}, step {step}, {:?}: {message}", model.config);
        }
        let engine_rotation: Vec<bool> = engine.instances().iter().map(|i| i.in_rotation).collect();
        let model_rotation: Vec<bool> = model.instances.iter().map(|m| m.in_rotation).collect();
        assert_eq!(
            engine_rotation, model_rotation,
            "seed {seed}, step {step}: engine and model rotations differ"
        );
        trace.extend(events);
    }
    trace
}

// Invariant: with the checks on, an instance is never in the rotation before its first passed
// readiness probe. So a cold instance never gets a request, because every start and restart
// stays out until it has warmed up and a probe has found it ready.
#[test]
fn instance_never_routed_before_first_passing_readiness_probe() {
    let mut cold_starts = 0;
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x7ead);
        let config = random_config(&mut rng);
        let mut engine = build(config.clone(), seed);
        let mut model = Model::new(&config);

        let trace = run_checked(&mut engine, &mut model, steps_for(30_000.0), seed);

        assert_eq!(
            engine.failed_by(FailReason::Cold),
            0,
            "seed {seed}, {config:?}: requests sent to a cold instance"
        );
        cold_starts += u64::from(config.instances - config.warm) + engine.restarts();
        assert!(!trace.is_empty(), "seed {seed}: no events");
    }
    assert!(cold_starts > SEEDS, "only {cold_starts} cold starts");
}

// Invariant: with the checks on, a hung instance gets requests for at most
// failure_threshold x period_ms after it hangs. Its probes fail from the hang on, and the
// failure_threshold-th one, at most that long after the hang, takes it out of the rotation.
#[test]
fn hung_instance_gets_traffic_at_most_threshold_periods() {
    let mut hung_requests = 0;
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x4a96);
        let config = random_config(&mut rng);
        let mut engine = build(config.clone(), seed);
        let mut model = Model::new(&config);

        let trace = run_checked(&mut engine, &mut model, steps_for(30_000.0), seed);

        let hung_at = trace.iter().find_map(|e| match e {
            Event::Hung { at_ms, instance } => Some((*at_ms, *instance)),
            _ => None,
        });
        let Some((hung_ms, hung_id)) = hung_at else {
            panic!("seed {seed}: the scheduled hang did not happen");
        };
        let bound_ms = f64::from(config.failure_threshold) * config.period_ms;
        for event in &trace {
            if let Event::Failed {
                at_ms,
                instance,
                reason: FailReason::Hung,
                ..
            } = *event
            {
                hung_requests += 1;
                assert_eq!(instance, hung_id, "seed {seed}");
                assert!(
                    at_ms <= hung_ms + bound_ms + EPSILON_MS,
                    "seed {seed}, {config:?}: sent to hung at {at_ms} ms, hung at {hung_ms} ms"
                );
            }
        }
    }
    assert!(
        hung_requests > 0,
        "no run routed a request to a hung instance"
    );
}

// Invariant: failure_threshold failed liveness probes restart a hung instance, which warms up
// again out of the rotation and returns at its first passing readiness probe. With the
// defaults (probes of B at 0.667 s + k s, threshold 3, warm-up 2.5 s) B hangs at 6 s, is
// restarted at 8.667 s, is warm at 11.167 s and rejoins at 11.667 s.
#[test]
fn hung_instance_restarts_and_rejoins() {
    let config = HealthCheckConfig::default();
    let mut engine = build(config.clone(), 1);
    let mut model = Model::new(&config);

    let trace = run_checked(&mut engine, &mut model, steps_for(15_000.0), 1);

    let restarted = trace.iter().find_map(|e| match e {
        Event::Restarted {
            at_ms,
            instance: 1,
            cause,
            ..
        } => Some((*at_ms, *cause)),
        _ => None,
    });
    let rejoined = trace.iter().rev().find_map(|e| match e {
        Event::Added { at_ms, instance: 1 } => Some(*at_ms),
        _ => None,
    });
    let (restart_ms, cause) = restarted.unwrap_or((f64::NAN, RestartCause::Operator));
    assert!(
        (restart_ms - 8666.667).abs() < 0.01,
        "restarted at {restart_ms}"
    );
    assert_eq!(cause, RestartCause::Liveness);
    assert!(
        rejoined.is_some_and(|at| (at - 11_666.667).abs() < 0.01),
        "rejoined at {rejoined:?}"
    );
    assert_eq!(engine.restarts(), 1);
}

// Invariant: a not-ready instance (a lost dependency) leaves the rotation after
// failure_threshold failed readiness probes but is not restarted, because its liveness probe
// still passes. Once the dependency is back it returns after success_threshold passes.
#[test]
fn not_ready_instance_leaves_rotation_without_restart() {
    for seed in 0..SEEDS {
        let config = HealthCheckConfig {
            hang_at_ms: 0.0,
            success_threshold: 2,
            ..HealthCheckConfig::default()
        };
        let mut engine = build(config.clone(), seed);
        let mut model = Model::new(&config);
        run_checked(&mut engine, &mut model, steps_for(5000.0), seed);

        let lost = act(
            &mut engine,
            &Action::SetDependency {
                instance: 0,
                available: false,
            },
        );
        model
            .check(&lost)
            .unwrap_or_else(|m| panic!("seed {seed}: {m}"));
        let outage = run_checked(&mut engine, &mut model, steps_for(5000.0), seed);
        let removed = outage.iter().any(|e| {
            matches!(
                e,
                Event::Removed {
                    instance: 0,
                    failures: 3,
                    ..
                }
            )
        });
        let back = act(
            &mut engine,
            &Action::SetDependency {
                instance: 0,
                available: true,
            },
        );
        model
            .check(&back)
            .unwrap_or_else(|m| panic!("seed {seed}: {m}"));
        let recovery = run_checked(&mut engine, &mut model, steps_for(2000.0), seed);

        assert!(removed, "seed {seed}: instance 0 stayed in the rotation");
        assert_eq!(
            engine.restarts(),
            0,
            "seed {seed}: a not-ready instance restarted"
        );
        assert!(engine.failed_by(FailReason::NotReady) > 0, "seed {seed}");
        assert!(
            recovery
                .iter()
                .any(|e| matches!(e, Event::Added { instance: 0, .. })),
            "seed {seed}: instance 0 did not return"
        );
    }
}

/// Returns the outcomes of the probe marks on instance `id`'s timeline, oldest first.
fn probe_marks(engine: &HealthCheck, id: usize) -> Vec<ProbeOutcome> {
    engine.instances()[id]
        .marks
        .iter()
        .filter_map(|mark| match *mark {
            Mark::Probe { outcome, .. } => Some(outcome),
            _ => None,
        })
        .collect()
}

// The timeline tells a readiness-only failure (the instance runs, so nothing restarts it) from a
// liveness failure (hung, so it restarts): A loses its dependency at 5 s, B hangs at 6 s.
#[test]
fn probe_marks_separate_readiness_from_liveness() {
    for seed in 0..SEEDS {
        let mut engine = build(HealthCheckConfig::default(), seed);
        let mut events = run(&mut engine, steps_for(5000.0));
        events.extend(act(
            &mut engine,
            &Action::SetDependency {
                instance: 0,
                available: false,
            },
        ));
        events.extend(run(&mut engine, steps_for(5000.0)));

        // Every probe mark in the window matches the probe event it came from.
        let cutoff_ms = engine.now_ms() - sim::health_check::RECENT_MS;
        for id in 0..3_u32 {
            let probed: Vec<ProbeOutcome> = events
                .iter()
                .filter_map(|e| match *e {
                    Event::Probed {
                        at_ms,
                        instance,
                        live,
                        ready,
                    } if instance == id && at_ms >= cutoff_ms => {
                        Some(ProbeOutcome::of(live, ready))
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(
                probe_marks(&engine, id as usize),
                probed,
                "seed {seed}: instance {id}"
            );
        }

        let a = probe_marks(&engine, 0);
        let b = probe_marks(&engine, 1);
        assert!(
            a.contains(&ProbeOutcome::ReadyFailed),
            "seed {seed}: A's lost dependency drew no readiness-only failure: {a:?}"
        );
        assert!(
            !a.contains(&ProbeOutcome::LiveFailed),
            "seed {seed}: A runs, yet a probe mark says /livez failed: {a:?}"
        );
        assert_eq!(
            b.iter().filter(|&&o| o == ProbeOutcome::LiveFailed).count(),
            3,
            "seed {seed}: hung B should fail /livez 3 times before its restart: {b:?}"
        );
        assert!(
            b.contains(&ProbeOutcome::ReadyFailed),
            "seed {seed}: the restarted B is cold, so it should fail only /readyz: {b:?}"
        );
    }
}

// Without checks the balancer routes round-robin to every instance, so a cold instance gets
// every n-th request for its whole warm-up. The expected number of failures is
// rate_per_s x warmup_ms / 1000 / instances: 20 x 2.5 / 3 = 16.67 with the defaults. Over 200
// seeds the mean has a standard deviation of about 0.17 (Poisson arrivals, variance 50 / 9 per
// run), so a tolerance of 1.0 is about six standard deviations.
#[test]
fn without_checks_cold_failures_follow_rate_times_warmup() {
    let config = HealthCheckConfig {
        checks: false,
        hang_at_ms: 0.0,
        ..HealthCheckConfig::default()
    };
    let seeds = 200;
    let mut failed = 0;

    for seed in 0..seeds {
        let mut engine = build(config.clone(), seed);
        run(&mut engine, steps_for(5000.0));
        failed += engine.failed_by(FailReason::Cold);
    }

    let mean = failed as f64 / seeds as f64;
    let expected = config.rate_per_s * config.warmup_ms / 1000.0 / f64::from(config.instances);
    assert!(
        (mean - expected).abs() < 1.0,
        "mean cold failures {mean:.2}, expected {expected:.2}"
    );
}

// Without checks nothing restarts a hung instance and the balancer keeps routing to it, so from
// the hang on every n-th request times out: after the default hang at 6 s, about a third of the
// requests of the next 24 s (20 x 24 / 3 = 160) fail. With checks the same run loses at most
// failure_threshold x period_ms of them, about 20 x 3 / 3 = 20.
#[test]
fn without_checks_hung_instance_keeps_its_share() {
    for seed in 0..20 {
        let with = HealthCheckConfig::default();
        let without = HealthCheckConfig {
            checks: false,
            ..with.clone()
        };
        let mut checked = build(with.clone(), seed);
        let mut model = Model::new(&with);
        let mut unchecked = build(without, seed);

        run_checked(&mut checked, &mut model, steps_for(30_000.0), seed);
        run(&mut unchecked, steps_for(30_000.0));

        let hung_without = unchecked.failed_by(FailReason::Hung);
        let hung_with = checked.failed_by(FailReason::Hung);
        assert!(
            (120..=200).contains(&hung_without),
            "seed {seed}: {hung_without} timed out without checks"
        );
        assert!(
            hung_with <= 40,
            "seed {seed}: {hung_with} timed out with checks"
        );
        assert_eq!(unchecked.restarts(), 0, "seed {seed}");
        assert_eq!(unchecked.in_rotation(), 3, "seed {seed}");
    }
}

// The time instances spend in the rotation while not healthy. Without checks it is the cold
// instance's whole warm-up (2.5 s) plus the hung instance's time from 6 s to the end. With
// checks it is only the hung instance's 2.667 s between its hang and its third failed probe.
#[test]
fn unhealthy_time_in_rotation_is_counted_exactly() {
    let with = HealthCheckConfig::default();
    let without = HealthCheckConfig {
        checks: false,
        ..with.clone()
    };
    let mut checked = build(with, 5);
    let mut unchecked = build(without, 5);

    run(&mut checked, steps_for(20_000.0));
    run(&mut unchecked, steps_for(20_000.0));

    let checked_ms = checked.unhealthy_in_rotation_ms();
    let unchecked_ms = unchecked.unhealthy_in_rotation_ms();
    assert!(
        (checked_ms - 2666.667).abs() < 0.01,
        "with checks {checked_ms}"
    );
    assert!(
        (unchecked_ms - (2500.0 + 14_000.0)).abs() < 0.01,
        "without checks {unchecked_ms}"
    );
}

// Turning the checks off puts every instance in the rotation; turning them back on removes a
// hung one within failure_threshold x period_ms and restarts it.
#[test]
fn checks_switched_back_on_catch_a_hung_instance() {
    let config = HealthCheckConfig {
        hang_at_ms: 0.0,
        ..HealthCheckConfig::default()
    };
    let mut engine = build(config.clone(), 9);
    let mut model = Model::new(&config);
    run_checked(&mut engine, &mut model, steps_for(4000.0), 9);

    for action in [
        Action::SetChecks { enabled: false },
        Action::Hang { instance: 2 },
    ] {
        let events = act(&mut engine, &action);
        model.check(&events).unwrap_or_else(|m| panic!("{m}"));
    }
    run_checked(&mut engine, &mut model, steps_for(3000.0), 9);
    let restarts_while_off = engine.restarts();
    let on = act(&mut engine, &Action::SetChecks { enabled: true });
    model.check(&on).unwrap_or_else(|m| panic!("{m}"));
    run_checked(&mut engine, &mut model, steps_for(4000.0), 9);

    assert_eq!(restarts_while_off, 0);
    assert_eq!(engine.restarts(), 1);
    assert!(engine.failed_by(FailReason::Hung) > 0);
}

// Invariant (conservation): every request that arrived was served, failed or rejected, and the
// per-instance counts add up to the totals.
#[test]
fn requests_are_conserved() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xc0de);
        let mut config = random_config(&mut rng);
        config.checks = seed % 2 == 0;
        let mut engine = build(config.clone(), seed);

        run(&mut engine, steps_for(20_000.0));

        let served: u64 = engine.instances().iter().map(|i| i.served).sum();
        let failed: u64 = engine.instances().iter().map(|i| i.failed).sum();
        assert_eq!(served, engine.served(), "seed {seed}");
        assert_eq!(failed, engine.failed(), "seed {seed}");
        assert_eq!(
            engine.arrived(),
            engine.served() + engine.failed() + engine.rejected(),
            "seed {seed}, {config:?}"
        );
    }
}

// With every instance cold and the checks on, nothing is in the rotation until the first
// probe after the warm-up, and the balancer rejects the requests that arrive meanwhile.
#[test]
fn empty_rotation_rejects_requests() {
    let config = HealthCheckConfig {
        warm: 0,
        hang_at_ms: 0.0,
        ..HealthCheckConfig::default()
    };
    let mut engine = build(config.clone(), 2);
    let mut model = Model::new(&config);

    run_checked(&mut engine, &mut model, steps_for(2900.0), 2);
    let rejected_before = engine.rejected();
    run_checked(&mut engine, &mut model, steps_for(1000.0), 2);

    assert!(
        rejected_before > 30,
        "{rejected_before} rejected in 2.9 s at 20/s"
    );
    assert_eq!(engine.failed(), 0);
    assert!(
        engine.served() > 0,
        "nothing served after the probes at 3 s"
    );
    assert_eq!(engine.in_rotation(), 3);
}

// Determinism: the same seed, configuration and actions give the same event trace, serialized
// byte for byte.
#[test]
fn same_seed_gives_same_trace() {
    for seed in 0..20 {
        let run_once = || {
            let mut rng = SimRng::new(seed);
            let mut engine = build(random_config(&mut rng), seed);
            let mut trace = run(&mut engine, 100);
            for action in [
                Action::SetDependency {
                    instance: 0,
                    available: false,
                },
                Action::SetChecks { enabled: false },
            ] {
                trace.extend(engine.apply(&action).unwrap_or_default());
            }
            trace.extend(run(&mut engine, 100));
            serde_json::to_string(&trace).unwrap_or_default()
        };

        let first = run_once();
        let second = run_once();

        assert!(!first.is_empty(), "seed {seed}: trace did not serialize");
        assert_eq!(first, second, "seed {seed}: traces differ");
    }
}

// The chapter's directive names every default, so the page shows the default run.
#[test]
fn chapter_directive_params_are_valid() {
    let Some(kind) = sim::registry::find("health-check") else {
        panic!("widget `health-check` is not registered");
    };
    let params = serde_json::json!({
        "instances": 3, "warm": 2, "period_ms": 1000, "failure_threshold": 3,
        "warmup_ms": 2500, "checks": true,
    });
    let serde_json::Value::Object(params) = params else {
        panic!("json! did not build an object");
    };

    let config = (kind.check)(params);

    let expected = serde_json::to_value(HealthCheckConfig::default()).ok();
    assert_eq!(config.ok(), expected);
}
