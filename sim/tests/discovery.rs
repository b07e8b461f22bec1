//! Invariants of the service discovery engine, checked over many seeds and configurations.

use std::collections::{BTreeMap, BTreeSet};

use sim::Engine;
use sim::discovery::{
    Action, Discovery, DiscoveryConfig, Event, HeartbeatOutcome, InstanceState, STEP_MS,
};
use sim::faults::{Fault, Faults};
use sim::rng::SimRng;

/// Seeds each randomized test loops over.
const SEEDS: u64 = 100;

/// Slack for comparing event times, far below a millisecond.
const EPSILON: f64 = 1e-6;

fn build(config: &DiscoveryConfig, seed: u64) -> Discovery {
    match Discovery::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn steps_for(ms: f64) -> usize {
    (ms / STEP_MS).round() as usize
}

fn apply(engine: &mut Discovery, action: &Action) -> Vec<Event> {
    match engine.apply(action) {
        Ok(events) => events,
        Err(err) => panic!("{action:?} was not applied: {err}"),
    }
}

/// Draws a configuration with no scheduled crash: 1 to 8 instances, 1 to 4 clients, and
/// timings from 100 ms to 5 s, heartbeats sometimes slower than the TTL.
fn random_config(rng: &mut SimRng) -> DiscoveryConfig {
    DiscoveryConfig {
        instances: 1 + rng.below(8) as u32,
        clients: 1 + rng.below(4) as u32,
        rate_per_s: 1.0 + 49.0 * rng.uniform(),
        heartbeat_ms: 100.0 + 1900.0 * rng.uniform(),
        ttl_ms: 200.0 + 4800.0 * rng.uniform(),
        refresh_ms: 100.0 + 4900.0 * rng.uniform(),
        drain_ms: 5000.0 * rng.uniform(),
        crash_at_ms: 0.0,
    }
}

/// The registry, the caches and the instances rebuilt from the events alone. Every event is
/// checked against what the model allows, which is how the named invariants are enforced.
struct Model {
    ttl_ms: f64,
    /// Instance id to the time the registry last renewed its lease.
    listed: BTreeMap<u32, f64>,
    /// Every instance that ever sent a delivered registration.
    ever_registered: BTreeSet<u32>,
    caches: BTreeMap<u32, Vec<u32>>,
    serving: BTreeMap<u32, bool>,
    cut_off: BTreeSet<u32>,
}

impl Model {
    fn new(engine: &Discovery) -> Self {
        Self {
            ttl_ms: engine.config().ttl_ms,
            listed: BTreeMap::new(),
            ever_registered: BTreeSet::new(),
            caches: engine
                .clients()
                .iter()
                .map(|c| (c.id, Vec::new()))
                .collect(),
            serving: engine.instances().iter().map(|i| (i.id, true)).collect(),
            cut_off: BTreeSet::new(),
        }
    }

    fn check(&mut self, events: &[Event]) -> Result<(), String> {
        events.iter().try_for_each(|event| self.check_event(event))
    }

    fn check_event(&mut self, event: &Event) -> Result<(), String> {
        match event {
            Event::Register {
                at_ms,
                instance,
                delivered,
                ..
            } => {
                if *delivered == self.cut_off.contains(instance) {
                    return Err(format!("{event:?}: delivery does not match the cut-off"));
                }
                if *delivered {
                    self.listed.insert(*instance, *at_ms);
                    self.ever_registered.insert(*instance);
                }
            }
            Event::Heartbeat {
                at_ms,
                instance,
                outcome,
            } => {
                let expected = if self.cut_off.contains(instance) {
                    HeartbeatOutcome::Lost
                } else if self.listed.contains_key(instance) {
                    HeartbeatOutcome::Renewed
                } else {
                    HeartbeatOutcome::Unknown
                };
                if *outcome != expected {
                    return Err(format!("{event:?}, expected {expected:?}"));
                }
                if *outcome == HeartbeatOutcome::Renewed {
                    self.listed.insert(*instance, *at_ms);
                }
            }
            Event::Deregister {
                instance,
                delivered,
                ..
            } => {
                if *delivered {
                    self.listed.remove(instance);
                }
            }
            Event::Expired {
                at_ms,
                instance,
                renewed_ms,
                ..
            } => {
                // Invariant: the registry drops an instance exactly `ttl_ms` after its last
                // renewal, and only one it lists.
                let Some(renewed) = self.listed.remove(instance) else {
                    return Err(format!("{event:?} for an instance not listed"));
                };
                if (renewed - renewed_ms).abs() > EPSILON
                    || (at_ms - renewed - self.ttl_ms).abs() > EPSILON
                {
                    return Err(format!("{event:?}, model renewed at {renewed}"));
                }
            }
            Event::Refreshed {
                client, instances, ..
            } => {
                // Invariant: the registry lists only instances that registered and have not
                // expired or deregistered since.
                let listed: Vec<u32> = self.listed.keys().copied().collect();
                if *instances != listed {
                    return Err(format!("{event:?}, model lists {listed:?}"));
                }
                if let Some(never) = instances
                    .iter()
                    .find(|id| !self.ever_registered.contains(id))
                {
                    return Err(format!("{event:?}: instance {never} never registered"));
                }
                self.caches.insert(*client, instances.clone());
            }
            Event::Served {
                client, instance, ..
            } => {
                // Invariant: a client sends only to instances in its cached list, and a request
                // succeeds exactly when its instance is serving.
                self.check_cached(*client, *instance, event)?;
                if self.serving.get(instance) != Some(&true) {
                    return Err(format!("{event:?} by an instance that is down"));
                }
            }
            Event::Failed {
                client, instance, ..
            } => match instance {
                Some(instance) => {
                    self.check_cached(*client, *instance, event)?;
                    if self.serving.get(instance) != Some(&false) {
                        return Err(format!("{event:?} to an instance that is serving"));
                    }
                }
                None => {
                    if self.caches.get(client).is_none_or(|c| !c.is_empty()) {
                        return Err(format!("{event:?} with a non-empty cache"));
                    }
                }
            },
            Event::Crashed { instance, .. } | Event::Stopped { instance, .. } => {
                self.serving.insert(*instance, false);
            }
            Event::Restarted { instance, .. } | Event::Added { instance, .. } => {
                self.serving.insert(*instance, true);
            }
            Event::CutOffChanged { instance, cut, .. } => {
                if *cut {
                    self.cut_off.insert(*instance);
                } else {
                    self.cut_off.remove(instance);
                }
            }
            Event::Draining { .. } | Event::StaleCleared { .. } => {}
        }
        Ok(())
    }

    fn check_cached(&self, client: u32, instance: u32, event: &Event) -> Result<(), String> {
        if self
            .caches
            .get(&client)
            .is_some_and(|c| c.contains(&instance))
        {
            Ok(())
        } else {
            Err(format!(
                "{event:?} to an instance not in the client's cache"
            ))
        }
    }
}

/// Runs `steps` steps, checks every event and the registry against the model, and returns the
/// trace; panics with the seed on a violation.
fn run_checked(engine: &mut Discovery, model: &mut Model, steps: usize, seed: u64) -> Vec<Event> {
    let mut trace = Vec::new();
    for step in 0..steps {
        let events = engine.step();
        if let Err(message) = model.check(&events) {
            panic!("seed {seed}, step {step}, {:?}: {message}", engine.config());
        }
        let listed: Vec<u32> = engine.listed().collect();
        let expected: Vec<u32> = model.listed.keys().copied().collect();
        assert_eq!(
            listed, expected,
            "seed {seed}, step {step}: registry differs"
        );
        trace.extend(events);
    }
    trace
}

/// Applies an action, checking its events against the model too.
fn apply_checked(engine: &mut Discovery, model: &mut Model, action: &Action, seed: u64) {
    let events = apply(engine, action);
    if let Err(message) = model.check(&events) {
        panic!("seed {seed}, {action:?}: {message}");
    }
}

fn failures_to(trace: &[Event], id: u32) -> impl Iterator<Item = f64> + '_ {
    trace.iter().filter_map(move |event| match event {
        Event::Failed {
            at_ms,
            instance: Some(instance),
            ..
        } if *instance == id => Some(*at_ms),
        _ => None,
    })
}

// Invariant: the registry never lists an instance that never registered, and every list a
// client fetches equals the registry's leases rebuilt from the events. Random crashes,
// restarts, graceful stops, scale-ups and cut-offs run in between.
#[test]
fn registry_never_lists_unregistered_instance() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xd15c);
        let config = random_config(&mut rng);
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);

        for _ in 0..20 {
            run_checked(&mut engine, &mut model, 1 + rng.below(40) as usize, seed);
            let count = engine.instances().len() as u64;
            let target = 1 + rng.below(count) as u32;
            let action = match rng.below(5) {
                0 => Action::Fault(Fault::Crash { node: target }),
                1 => Action::Fault(Fault::Restart { node: target }),
                2 => Action::Stop { instance: target },
                3 => Action::AddInstance,
                _ => Action::CutOff {
                    instance: target,
                    cut: !engine.instances()[target as usize - 1].cut_off,
                },
            };
            if let Ok(events) = engine.apply(&action)
                && let Err(message) = model.check(&events)
            {
                panic!("seed {seed}, {action:?}: {message}");
            }
        }
        run_checked(&mut engine, &mut model, steps_for(10_000.0), seed);
    }
}

// Invariant: after a crash, the registry drops the instance within `ttl_ms`: its last
// heartbeat came at or before the crash, and the lease runs out `ttl_ms` after that. The engine
// processes events at their exact times, so no step of slack is needed.
#[test]
fn registry_drops_crashed_instance_within_ttl() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x77a1);
        let config = random_config(&mut rng);
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        run_checked(&mut engine, &mut model, 20 + rng.below(60) as usize, seed);
        let target = 1 + rng.below(u64::from(config.instances)) as u32;
        let crashed_ms = engine.now_ms();

        apply_checked(
            &mut engine,
            &mut model,
            &Action::Fault(Fault::Crash { node: target }),
            seed,
        );
        let trace = run_checked(&mut engine, &mut model, steps_for(config.ttl_ms) + 1, seed);

        let expired_ms = trace.iter().find_map(|event| match event {
            Event::Expired {
                at_ms, instance, ..
            } if *instance == target => Some(*at_ms),
            _ => None,
        });
        assert!(
            engine.listed().all(|id| id != target),
            "seed {seed}, {config:?}: instance {target} still listed"
        );
        if let Some(at_ms) = expired_ms {
            assert!(
                at_ms <= crashed_ms + config.ttl_ms + EPSILON,
                "seed {seed}: crashed at {crashed_ms}, expired at {at_ms}"
            );
        }
    }
}

// Invariant: a client's failures to a crashed instance stop within `ttl_ms + refresh_ms` of the
// crash: the registry drops it within `ttl_ms`, and every client fetches the list within
// `refresh_ms` after that.
#[test]
fn crash_failures_stop_within_ttl_plus_refresh() {
    let mut runs_with_failures = 0;
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x5a1e);
        let config = random_config(&mut rng);
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        run_checked(&mut engine, &mut model, 20 + rng.below(60) as usize, seed);
        let target = 1 + rng.below(u64::from(config.instances)) as u32;
        let crashed_ms = engine.now_ms();

        apply_checked(
            &mut engine,
            &mut model,
            &Action::Fault(Fault::Crash { node: target }),
            seed,
        );
        let window_ms = config.ttl_ms + config.refresh_ms;
        let trace = run_checked(&mut engine, &mut model, steps_for(window_ms) + 20, seed);

        let last = failures_to(&trace, target).fold(None, |_, at| Some(at));
        if let Some(last_ms) = last {
            runs_with_failures += 1;
            assert!(
                last_ms <= crashed_ms + window_ms + EPSILON,
                "seed {seed}, {config:?}: crashed at {crashed_ms}, failed at {last_ms}"
            );
        }
        assert!(
            engine
                .clients()
                .iter()
                .all(|client| !client.cache.contains(&target)),
            "seed {seed}: a client still caches instance {target}"
        );
    }
    assert!(
        runs_with_failures > SEEDS / 2,
        "only {runs_with_failures} runs failed any request, so the bound went untested"
    );
}

// Invariant: conservation of requests. Every request sent either succeeds or fails, for each
// client and in total, and the instances' served and refused counts add up to the same totals.
#[test]
fn requests_are_conserved() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xc0de);
        let config = random_config(&mut rng);
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        run_checked(&mut engine, &mut model, steps_for(3000.0), seed);
        apply_checked(
            &mut engine,
            &mut model,
            &Action::Fault(Fault::Crash { node: 1 }),
            seed,
        );

        run_checked(&mut engine, &mut model, steps_for(10_000.0), seed);

        let sent: u64 = engine.clients().iter().map(|c| c.sent).sum();
        let failed: u64 = engine.clients().iter().map(|c| c.failed).sum();
        let served: u64 = engine.instances().iter().map(|i| i.served).sum();
        let refused: u64 = engine.instances().iter().map(|i| i.refused).sum();
        assert_eq!(
            engine.sent(),
            engine.succeeded() + engine.failed(),
            "seed {seed}"
        );
        assert_eq!(sent, engine.sent(), "seed {seed}: clients' sent");
        assert_eq!(failed, engine.failed(), "seed {seed}: clients' failed");
        assert_eq!(served, engine.succeeded(), "seed {seed}: instances' served");
        assert!(refused <= engine.failed(), "seed {seed}: refused {refused}");
    }
}

// A graceful stop whose drain lasts at least `refresh_ms` fails no request: the instance leaves
// the registry at once, every client fetches the list within `refresh_ms`, and the instance
// serves until then.
#[test]
fn graceful_stop_with_drain_over_refresh_fails_nothing() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x9ace);
        let mut config = random_config(&mut rng);
        config.instances = config.instances.max(2);
        config.drain_ms = config.refresh_ms * (1.0 + rng.uniform());
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        run_checked(&mut engine, &mut model, steps_for(2000.0), seed);

        apply_checked(&mut engine, &mut model, &Action::Stop { instance: 2 }, seed);
        let trace = run_checked(
            &mut engine,
            &mut model,
            steps_for(config.drain_ms) + 10,
            seed,
        );

        let failures = failures_to(&trace, 2).count();
        assert_eq!(failures, 0, "seed {seed}, {config:?}");
        assert_eq!(
            engine.instances()[1].state,
            InstanceState::Down,
            "seed {seed}"
        );
    }
}

// A graceful stop without a drain still fails far fewer requests than a crash: the stale window
// is at most `refresh_ms` instead of up to `ttl_ms + refresh_ms`. Summed over the seeds with
// the default timings (TTL 3 s, refresh 2 s), the stop fails fewer than half as many.
#[test]
fn graceful_stop_fails_far_fewer_than_crash() {
    let config = DiscoveryConfig {
        drain_ms: 0.0,
        crash_at_ms: 0.0,
        ..DiscoveryConfig::default()
    };
    let mut crash_failures = 0;
    let mut stop_failures = 0;

    for seed in 0..SEEDS {
        let mut crashed = build(&config, seed);
        let mut stopped = build(&config, seed);
        for engine in [&mut crashed, &mut stopped] {
            for _ in 0..steps_for(3000.0) {
                engine.step();
            }
        }
        apply(&mut crashed, &Action::Fault(Fault::Crash { node: 2 }));
        apply(&mut stopped, &Action::Stop { instance: 2 });
        for engine in [&mut crashed, &mut stopped] {
            for _ in 0..steps_for(10_000.0) {
                engine.step();
            }
        }
        crash_failures += crashed.instances()[1].refused;
        stop_failures += stopped.instances()[1].refused;
    }

    assert!(
        stop_failures * 2 < crash_failures,
        "graceful stop failed {stop_failures}, crash {crash_failures}"
    );
}

// A new instance registers at once, but a client sends it nothing until the client's next
// fetch of the list, and that fetch comes within `refresh_ms`.
#[test]
fn new_instance_gets_traffic_only_after_refresh() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xadd1);
        let mut config = random_config(&mut rng);
        config.instances = config.instances.min(7);
        // Heartbeats slower than the TTL would let the new lease expire before a fetch.
        config.heartbeat_ms = config.heartbeat_ms.min(config.ttl_ms * 0.9);
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        run_checked(&mut engine, &mut model, steps_for(1000.0), seed);
        let added_ms = engine.now_ms();
        let new_id = config.instances + 1;

        apply_checked(&mut engine, &mut model, &Action::AddInstance, seed);
        let trace = run_checked(
            &mut engine,
            &mut model,
            steps_for(config.refresh_ms) + 1,
            seed,
        );

        let mut seen: BTreeMap<u32, f64> = BTreeMap::new();
        for event in &trace {
            match event {
                Event::Refreshed {
                    at_ms,
                    client,
                    added,
                    ..
                } if added.contains(&new_id) => {
                    seen.entry(*client).or_insert(*at_ms);
                }
                Event::Served {
                    at_ms,
                    client,
                    instance,
                    ..
                } if *instance == new_id => {
                    let since = seen.get(client).copied();
                    assert!(
                        since.is_some_and(|s| s <= *at_ms),
                        "seed {seed}: client {client} sent to {new_id} at {at_ms} before its refresh"
                    );
                }
                _ => {}
            }
        }
        for client in engine.clients() {
            let at = seen.get(&client.id).copied();
            assert!(
                at.is_some_and(|at| at <= added_ms + config.refresh_ms + EPSILON),
                "seed {seed}: client {} saw instance {new_id} at {at:?}",
                client.id
            );
        }
    }
}

// A partition between an instance and the registry makes a false expiry: the registry drops an
// instance that still serves, within `ttl_ms` of the cut, and clients stop sending it requests.
// After the reconnect, its next heartbeat finds it unknown and it registers again, within
// `heartbeat_ms`.
#[test]
fn cut_off_instance_expires_while_serving() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xc7);
        let mut config = random_config(&mut rng);
        config.heartbeat_ms = config.heartbeat_ms.min(config.ttl_ms * 0.9);
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        run_checked(&mut engine, &mut model, steps_for(1000.0), seed);
        let cut_ms = engine.now_ms();

        apply_checked(
            &mut engine,
            &mut model,
            &Action::CutOff {
                instance: 1,
                cut: true,
            },
            seed,
        );
        let during = run_checked(&mut engine, &mut model, steps_for(config.ttl_ms) + 1, seed);
        apply_checked(
            &mut engine,
            &mut model,
            &Action::CutOff {
                instance: 1,
                cut: false,
            },
            seed,
        );
        let reconnected_ms = engine.now_ms();
        let after = run_checked(
            &mut engine,
            &mut model,
            steps_for(config.heartbeat_ms) + 1,
            seed,
        );

        let expired = during.iter().find_map(|event| match event {
            Event::Expired {
                at_ms,
                instance: 1,
                serving,
                ..
            } => Some((*at_ms, *serving)),
            _ => None,
        });
        let Some((expired_ms, serving)) = expired else {
            panic!("seed {seed}, {config:?}: instance 1 never expired while cut off");
        };
        assert!(serving, "seed {seed}: the expiry was not a false one");
        assert!(
            expired_ms <= cut_ms + config.ttl_ms + EPSILON,
            "seed {seed}: cut at {cut_ms}, expired at {expired_ms}"
        );
        let registered = after.iter().find_map(|event| match event {
            Event::Register {
                at_ms,
                instance: 1,
                delivered: true,
                ..
            } => Some(*at_ms),
            _ => None,
        });
        assert!(
            registered.is_some_and(|at| at <= reconnected_ms + config.heartbeat_ms + EPSILON),
            "seed {seed}: reconnected at {reconnected_ms}, registered at {registered:?}"
        );
    }
}

// The mean stale window after a crash follows from the uniform phases. The time since the
// instance's last heartbeat is uniform on [0, heartbeat_ms), so the registry drops it
// `ttl_ms - heartbeat_ms / 2` after the crash on average. Each of C clients then fetches the
// list at a uniform time within `refresh_ms`, and the window closes at the last of them, whose
// mean is `refresh_ms * C / (C + 1)`. With the default timings that is 3500 ms for one client
// and 4000 ms for three. The standard deviation of one window is under 650 ms, so the mean of
// 1000 seeds has a standard deviation under 21 ms, and the tolerance of 100 ms is about five.
#[test]
fn mean_stale_window_follows_uniform_phases() {
    for clients in [1, 3] {
        let config = DiscoveryConfig {
            clients,
            ..DiscoveryConfig::default()
        };
        let c = f64::from(clients);
        let expected =
            config.ttl_ms - config.heartbeat_ms / 2.0 + config.refresh_ms * c / (c + 1.0);
        let mut total = 0.0;
        let seeds = 1000;

        for seed in 0..seeds {
            let mut engine = build(&config, seed);
            for _ in 0..steps_for(10_000.0) {
                engine.step();
            }
            let Some(window) = engine.last_stale() else {
                panic!("seed {seed}: the crash of instance 1 never cleared");
            };
            total += window.stale_ms;
        }

        let mean = total / seeds as f64;
        assert!(
            (mean - expected).abs() < 100.0,
            "{clients} clients: mean stale window {mean:.0} ms, expected {expected:.0} ms"
        );
    }
}

// The scheduled crash takes instance 1 down at `crash_at_ms`, once.
#[test]
fn scheduled_crash_hits_instance_one() {
    let config = DiscoveryConfig::default();
    let mut engine = build(&config, 5);

    let trace: Vec<Event> = (0..steps_for(6000.0)).flat_map(|_| engine.step()).collect();

    let crashes: Vec<(f64, u32, bool)> = trace
        .iter()
        .filter_map(|event| match event {
            Event::Crashed {
                at_ms,
                instance,
                manual,
            } => Some((*at_ms, *instance, *manual)),
            _ => None,
        })
        .collect();
    assert_eq!(crashes, vec![(config.crash_at_ms, 1, false)]);
}

// The fault controls list every instance with whether it is serving.
#[test]
fn node_statuses_follow_crash_and_restart() {
    let mut engine = build(&DiscoveryConfig::default(), 2);
    apply(&mut engine, &Action::Fault(Fault::Crash { node: 3 }));

    let up: Vec<(u32, bool)> = engine
        .node_statuses()
        .iter()
        .map(|status| (status.id, status.up))
        .collect();

    assert_eq!(up, vec![(1, true), (2, true), (3, false)]);
}

// Determinism: the same seed, configuration and actions give the same trace.
#[test]
fn same_seed_gives_same_trace() {
    let run = || {
        let mut engine = build(&DiscoveryConfig::default(), 42);
        let mut trace = Vec::new();
        for step in 0..400 {
            if step == 100 {
                trace.extend(apply(&mut engine, &Action::AddInstance));
            }
            if step == 150 {
                trace.extend(apply(&mut engine, &Action::Stop { instance: 2 }));
            }
            trace.extend(engine.step());
        }
        serde_json::to_string(&trace).unwrap_or_default()
    };

    let first = run();
    let second = run();

    assert!(!first.is_empty());
    assert_eq!(first, second);
}
