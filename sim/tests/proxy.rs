//! Invariants of the proxy engine in forward and reverse mode, checked over many seeds.

use std::collections::{BTreeMap, BTreeSet};

use sim::Engine;
use sim::faults::{Fault, Faults};
use sim::proxy::{
    Action, Event, Mode, Outcome, PROXY_PUBLIC_ADDR, Proxy, ProxyConfig, SITES, route_for,
};
use sim::rng::SimRng;

/// Seeds each randomized test loops over.
const SEEDS: u64 = 100;

/// Steps per run: 20 simulated seconds.
const STEPS: usize = 400;

fn build(config: ProxyConfig, seed: u64) -> Proxy {
    match Proxy::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn forward_config(rng: &mut SimRng) -> ProxyConfig {
    ProxyConfig {
        mode: Mode::Forward,
        clients: 1 + rng.below(12) as u32,
        arrival_per_s: 5.0 + 60.0 * rng.uniform(),
        cache_ttl_s: [0.0, 1.0, 30.0][rng.below(3) as usize],
        upstream_ms: 10.0 + 200.0 * rng.uniform(),
        objects: 1 + rng.below(50) as u32,
        blocked_sites: rng.below(4) as u32,
        ..ProxyConfig::default()
    }
}

fn reverse_config(rng: &mut SimRng) -> ProxyConfig {
    ProxyConfig {
        mode: Mode::Reverse,
        app_servers: 1 + rng.below(6) as u32,
        api_fraction: rng.uniform(),
        ..forward_config(rng)
    }
}

/// Runs `STEPS` steps, crashing or restarting a random node before about one step in 40,
/// and returns every event with the set of nodes down when it happened.
fn run_with_faults(engine: &mut Proxy, rng: &mut SimRng) -> Vec<(Event, BTreeSet<u32>)> {
    let mut trace = Vec::new();
    let mut down = BTreeSet::new();
    for _ in 0..STEPS {
        if rng.below(40) == 0 {
            let node = rng.below(engine.nodes().len() as u64) as u32;
            let fault = if down.contains(&node) {
                Fault::Restart { node }
            } else {
                Fault::Crash { node }
            };
            let events = engine
                .apply(&Proxy::fault_action(fault))
                .unwrap_or_default();
            for event in events {
                match event {
                    Event::Crashed { node, .. } => {
                        down.insert(node);
                    }
                    Event::Restarted { node, .. } => {
                        down.remove(&node);
                    }
                    _ => {}
                }
                trace.push((event, down.clone()));
            }
        }
        for event in engine.step() {
            trace.push((event, down.clone()));
        }
    }
    trace
}

// Invariant: the proxy responds 403 to a request for a site on the denylist and never
// forwarded, so no origin on the denylist receives a request.
#[test]
fn blocked_sites_never_reach_the_origin() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xb10c);
        let config = ProxyConfig {
            blocked_sites: 1 + rng.below(3) as u32,
            ..forward_config(&mut rng)
        };
        let first_blocked = (SITES.len() - config.blocked_sites as usize) as u32;
        let mut engine = build(config.clone(), seed);

        let trace = run_with_faults(&mut engine, &mut rng);

        for (event, _) in &trace {
            if let Event::Forwarded { node, target, .. } = event {
                assert!(
                    *node < first_blocked,
                    "seed {seed}, {config:?}: blocked {target} was forwarded to node {node}"
                );
            }
        }
        let blocked_served = trace
            .iter()
            .filter(|(event, _)| matches!(event, Event::Served { status: 403, .. }))
            .count() as u64;
        // A 403 takes one LAN round trip, so the last few may still be on their way.
        let blocked = engine.counts().blocked;
        assert!(
            blocked_served <= blocked,
            "seed {seed}: {blocked_served} 403s"
        );
        assert!(
            blocked - blocked_served <= engine.in_flight() as u64,
            "seed {seed}: {blocked} blocked, {blocked_served} answered 403"
        );
    }
}

// Invariant: in forward mode every connection an origin accepts comes from the proxy's
// public address and carries no X-Forwarded-For, so no origin ever sees a client address.
#[test]
fn origin_sees_only_the_proxy_address() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x0419);
        let config = forward_config(&mut rng);
        let mut engine = build(config.clone(), seed);

        let trace = run_with_faults(&mut engine, &mut rng);

        for (event, _) in &trace {
            if let Event::Forwarded {
                from,
                forwarded_for,
                ..
            } = event
            {
                assert_eq!(from, PROXY_PUBLIC_ADDR, "seed {seed}: source address");
                assert_eq!(*forwarded_for, None, "seed {seed}: X-Forwarded-For");
            }
        }
        for node in engine.nodes() {
            assert!(
                node.seen_from.iter().all(|addr| addr == PROXY_PUBLIC_ADDR),
                "seed {seed}: {} saw {:?}",
                node.label,
                node.seen_from
            );
        }
    }
}

// Invariant: a request served from the cache has no Forwarded event, in either mode.
#[test]
fn cache_hit_never_contacts_the_origin() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xcac4);
        let config = if seed % 2 == 0 {
            forward_config(&mut rng)
        } else {
            reverse_config(&mut rng)
        };
        let mut engine = build(config.clone(), seed);

        let trace = run_with_faults(&mut engine, &mut rng);

        let forwarded: BTreeSet<u64> = trace
            .iter()
            .filter_map(|(event, _)| match event {
                Event::Forwarded { request_id, .. } => Some(*request_id),
                _ => None,
            })
            .collect();
        for (event, _) in &trace {
            if let Event::Served {
                request_id,
                outcome: Outcome::Hit,
                ..
            } = event
            {
                assert!(
                    !forwarded.contains(request_id),
                    "seed {seed}, {config:?}: hit {request_id} was forwarded"
                );
            }
        }
    }
}

// Invariant: in reverse mode each request takes the route with the longest prefix that its
// path starts with, and goes to a node of that route's pool: `/static/` to the static
// server, `/api/` and `/` to an app server.
#[test]
fn routes_follow_longest_prefix() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x9a7e);
        let config = reverse_config(&mut rng);
        let static_node = config.app_servers;
        let mut engine = build(config.clone(), seed);

        let trace = run_with_faults(&mut engine, &mut rng);

        let mut node_of: BTreeMap<u64, u32> = BTreeMap::new();
        for (event, _) in &trace {
            match event {
                Event::Forwarded {
                    request_id,
                    node,
                    target,
                    ..
                } => {
                    node_of.insert(*request_id, *node);
                    let to_static = target.starts_with("/static/");
                    assert_eq!(
                        *node == static_node,
                        to_static,
                        "seed {seed}: {target} went to node {node}"
                    );
                }
                Event::Served { target, route, .. } => {
                    let longest = route_for(target).map(|r| r.prefix);
                    assert_eq!(*route, longest, "seed {seed}: route of {target}");
                }
                _ => {}
            }
        }
    }
}

// Invariant: no request is forwarded to a node between its crash and its restart.
#[test]
fn down_backend_gets_no_requests() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xd0a1);
        let config = if seed % 2 == 0 {
            reverse_config(&mut rng)
        } else {
            forward_config(&mut rng)
        };
        let mut engine = build(config.clone(), seed);

        let trace = run_with_faults(&mut engine, &mut rng);

        for (event, down) in &trace {
            if let Event::Forwarded { node, at_ms, .. } = event {
                assert!(
                    !down.contains(node),
                    "seed {seed}, {config:?}: node {node} is down but got a request at {at_ms} ms"
                );
            }
        }
    }
}

// With one of three app servers down, every /api/ request still succeeds: the proxy routes
// around the crash. With all of them down, /api/ gets 503.
#[test]
fn crashed_app_server_is_routed_around() {
    let config = ProxyConfig {
        mode: Mode::Reverse,
        app_servers: 3,
        api_fraction: 1.0,
        ..ProxyConfig::default()
    };
    let mut engine = build(config, 7);
    for _ in 0..20 {
        engine.step();
    }
    engine
        .apply(&Proxy::fault_action(Fault::Crash { node: 1 }))
        .ok();
    let before = engine.counts().errors;

    let mut statuses = Vec::new();
    for _ in 0..100 {
        for event in engine.step() {
            if let Event::Served { status, .. } = event {
                statuses.push(status);
            }
        }
    }

    assert!(statuses.len() > 50, "only {} responses", statuses.len());
    assert!(statuses.iter().all(|&s| s == 200), "statuses {statuses:?}");
    assert_eq!(engine.counts().errors, before);

    engine
        .apply(&Proxy::fault_action(Fault::Crash { node: 0 }))
        .ok();
    engine
        .apply(&Proxy::fault_action(Fault::Crash { node: 2 }))
        .ok();
    for _ in 0..40 {
        engine.step();
    }
    let statuses: Vec<u16> = engine
        .step()
        .into_iter()
        .chain((0..20).flat_map(|_| engine.step()))
        .filter_map(|event| match event {
            Event::Served { status, .. } => Some(status),
            _ => None,
        })
        .collect();
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|&s| s == 503), "statuses {statuses:?}");
}

// A crash fails the requests the backend was serving with 502.
#[test]
fn crash_fails_requests_in_flight_with_502() {
    let config = ProxyConfig {
        mode: Mode::Reverse,
        app_servers: 1,
        api_fraction: 1.0,
        arrival_per_s: 200.0,
        upstream_ms: 1000.0,
        ..ProxyConfig::default()
    };
    let mut engine = build(config, 3);
    for _ in 0..10 {
        engine.step();
    }

    let events = engine
        .apply(&Proxy::fault_action(Fault::Crash { node: 0 }))
        .unwrap_or_default();

    let lost = match events.first() {
        Some(Event::Crashed {
            lost_request_ids, ..
        }) => lost_request_ids.len(),
        other => panic!("expected a crash event, got {other:?}"),
    };
    let bad_gateway = events
        .iter()
        .filter(|e| matches!(e, Event::Served { status: 502, .. }))
        .count();
    assert!(lost > 0, "nothing was in flight");
    assert_eq!(bad_gateway, lost);
}

// With the default forward configuration the cache serves most requests within 20 s,
// and hits are far faster than forwarded requests.
#[test]
fn default_forward_cache_hits_most_requests() {
    for seed in 0..SEEDS {
        let mut engine = build(ProxyConfig::default(), seed);

        for _ in 0..STEPS {
            engine.step();
        }

        let ratio = engine.hit_ratio().unwrap_or(0.0);
        assert!(ratio > 0.6, "seed {seed}: hit ratio {ratio}");
        let hit = engine.hit_percentiles().map_or(f64::NAN, |p| p.p50_ms);
        let forwarded = engine
            .forwarded_percentiles()
            .map_or(f64::NAN, |p| p.p50_ms);
        assert!(
            hit * 10.0 < forwarded,
            "seed {seed}: p50 hit {hit}, forwarded {forwarded}"
        );
    }
}

// Reverse mode does TLS only at the edge: one handshake per client connection, none inside.
#[test]
fn tls_terminates_at_the_edge() {
    let config = ProxyConfig {
        mode: Mode::Reverse,
        ..ProxyConfig::default()
    };
    let mut engine = build(config, 5);

    for _ in 0..STEPS {
        engine.step();
    }

    let counts = engine.counts();
    assert!(counts.edge_handshakes > 0);
    assert!(counts.edge_handshakes * 10 >= counts.requests);
    assert_eq!(counts.internal_handshakes, 0);
}

// Determinism: the same seed, configuration and actions give the same serialized trace.
#[test]
fn determinism() {
    for mode in [Mode::Forward, Mode::Reverse] {
        let run = || {
            let mut rng = SimRng::new(11);
            let config = ProxyConfig {
                mode,
                ..ProxyConfig::default()
            };
            let mut engine = build(config, 42);
            let trace: Vec<Event> = run_with_faults(&mut engine, &mut rng)
                .into_iter()
                .map(|(event, _)| event)
                .collect();
            serde_json::to_string(&trace).unwrap_or_default()
        };

        let first = run();
        let second = run();

        assert!(first.len() > 1000, "trace too short for {mode:?}");
        assert_eq!(first, second, "traces differ for {mode:?}");
    }
}

// Purging empties the cache, so the next request for a popular object misses.
#[test]
fn purge_empties_the_cache() {
    let mut engine = build(ProxyConfig::default(), 2);
    for _ in 0..100 {
        engine.step();
    }

    let events = engine.apply(&Action::Purge).unwrap_or_default();

    assert!(matches!(events.first(), Some(Event::Purged { entries, .. }) if *entries > 0));
    assert_eq!(engine.fresh_entries(), 0);
}

// Crash and restart events carry the node's label, so the event log can name the node the
// reader picked in the fault controls.
#[test]
fn fault_events_name_the_node_label() {
    let config = ProxyConfig {
        mode: Mode::Reverse,
        app_servers: 3,
        ..ProxyConfig::default()
    };
    let mut engine = build(config, 1);

    let crashed = engine
        .apply(&Proxy::fault_action(Fault::Crash { node: 1 }))
        .unwrap_or_default();
    let restarted = engine
        .apply(&Proxy::fault_action(Fault::Restart { node: 1 }))
        .unwrap_or_default();

    assert!(
        matches!(crashed.first(), Some(Event::Crashed { label, .. }) if label == "app 2"),
        "crash events: {crashed:?}"
    );
    assert!(
        matches!(restarted.first(), Some(Event::Restarted { label, .. }) if label == "app 2"),
        "restart events: {restarted:?}"
    );
}

/// Runs chapter 14's forward widget with seed 1 to 16 s, crashes `news.example`, purges the
/// cache if asked, and returns the 502 metric 2 s later.
fn errors_two_seconds_after_crash(cache_ttl_s: f64, purge: bool) -> Option<f64> {
    let config = ProxyConfig {
        mode: Mode::Forward,
        clients: 4,
        arrival_per_s: 20.0,
        cache_ttl_s,
        upstream_ms: 80.0,
        objects: 20,
        blocked_sites: 1,
        ..ProxyConfig::default()
    };
    let mut engine = build(config, 1);
    for _ in 0..320 {
        engine.step();
    }
    engine
        .apply(&Proxy::fault_action(Fault::Crash { node: 0 }))
        .unwrap_or_default();
    if purge {
        engine.apply(&Action::Purge).unwrap_or_default();
    }
    for _ in 0..40 {
        engine.step();
    }
    engine
        .snapshot()
        .metrics
        .iter()
        .find(|metric| metric.key == "errors")
        .map(|metric| metric.value)
}

// In forward mode a miss for a crashed origin gets 502 and the metrics panel counts it.
// Chapter 14 promises these numbers for seed 1.
#[test]
fn forward_502_count_after_crash() {
    assert_eq!(errors_two_seconds_after_crash(30.0, false), Some(0.0));
    assert_eq!(errors_two_seconds_after_crash(30.0, true), Some(10.0));
    assert_eq!(errors_two_seconds_after_crash(1.0, false), Some(9.0));
}
