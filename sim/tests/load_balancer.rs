//! Invariants of the load balancer engine: round-robin rotation, least-connections choice,
//! conservation of requests, crashes and restarts, the tail latency of both policies, and
//! determinism.

use std::collections::{BTreeMap, BTreeSet};

use sim::Engine;
use sim::faults::Fault;
use sim::load_balancer::{Action, Event, LoadBalancer, LoadBalancerConfig, Policy, STEP_MS};
use sim::rng::SimRng;

fn config(servers: u32, arrival_per_s: f64, policy: Policy) -> LoadBalancerConfig {
    LoadBalancerConfig {
        servers,
        arrival_per_s,
        policy,
        ..LoadBalancerConfig::default()
    }
}

/// Eight single-worker servers at about 80% load, where 1% of requests take 30 times longer.
fn uneven(seed_policy: Policy) -> LoadBalancerConfig {
    LoadBalancerConfig {
        servers: 8,
        workers: 1,
        arrival_per_s: 50.0,
        service_ms: 100.0,
        slow_fraction: 0.01,
        slow_factor: 30.0,
        policy: seed_policy,
        compare: true,
        ..LoadBalancerConfig::default()
    }
}

fn build(config: &LoadBalancerConfig, seed: u64) -> LoadBalancer {
    match LoadBalancer::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: {config:?} rejected: {err}"),
    }
}

fn run_for(engine: &mut LoadBalancer, ms: f64) -> Vec<Event> {
    let steps = (ms / STEP_MS).ceil() as u64;
    let mut events = Vec::new();
    for _ in 0..steps {
        events.extend(engine.step());
    }
    events
}

fn apply(engine: &mut LoadBalancer, action: &Action, seed: u64) -> Vec<Event> {
    match engine.apply(action) {
        Ok(events) => events,
        Err(err) => panic!("seed {seed}: {action:?} rejected: {err}"),
    }
}

fn crash(engine: &mut LoadBalancer, server: u32, seed: u64) -> Vec<Event> {
    apply(engine, &Action::Fault(Fault::Crash { node: server }), seed)
}

fn restart(engine: &mut LoadBalancer, server: u32, seed: u64) -> Vec<Event> {
    apply(
        engine,
        &Action::Fault(Fault::Restart { node: server }),
        seed,
    )
}

/// Runs 30 s in compare mode while a reader changes the rate and crashes and restarts servers
/// at random moments. Calls `each_change` after every step and action; returns every event.
fn run_with_random_faults(seed: u64, mut each_change: impl FnMut(&LoadBalancer)) -> Vec<Event> {
    let config = LoadBalancerConfig {
        servers: 5,
        workers: 2,
        arrival_per_s: 60.0,
        slow_fraction: 0.05,
        queue_limit: 10,
        compare: true,
        ..LoadBalancerConfig::default()
    };
    let mut engine = build(&config, seed);
    let mut reader = SimRng::new(seed ^ 0x5eed);
    let mut events = Vec::new();
    for _ in 0..1_500 {
        if reader.below(30) == 0 {
            let server = reader.below(5) as u32;
            let up = engine.lanes()[0].servers()[server as usize].up;
            let action = match reader.below(3) {
                0 => Action::SetArrivalRate {
                    arrival_per_s: 1.0 + reader.below(150) as f64,
                },
                _ if up => Action::Fault(Fault::Crash { node: server }),
                _ => Action::Fault(Fault::Restart { node: server }),
            };
            events.extend(apply(&mut engine, &action, seed));
            each_change(&engine);
        }
        events.extend(engine.step());
        each_change(&engine);
    }
    events
}

/// A request id within one lane.
type LaneRequest = (u32, u64);

fn routed_counts(engine: &LoadBalancer) -> Vec<u64> {
    engine.lanes()[0]
        .servers()
        .iter()
        .map(|s| s.routed)
        .collect()
}

fn spread(counts: &[u64]) -> u64 {
    let max = counts.iter().max().copied().unwrap_or(0);
    let min = counts.iter().min().copied().unwrap_or(0);
    max - min
}

// Round-robin spreads requests evenly: with every server up, the numbers of requests sent to
// any two servers differ by at most 1 after every step, whatever the load.
#[test]
fn round_robin_spreads_requests_evenly() {
    for seed in 0..20 {
        let servers = 1 + (seed % 20) as u32;
        let arrival = 5.0 + 40.0 * (seed % 7) as f64;
        let mut engine = build(&config(servers, arrival, Policy::RoundRobin), seed);
        let mut widest = 0;

        for _ in 0..1_000 {
            engine.step();
            widest = widest.max(spread(&routed_counts(&engine)));
        }

        assert!(
            widest <= 1,
            "seed {seed}, {servers} servers: counts differed by {widest}"
        );
    }
}

// Round-robin takes the servers in turn: the n-th request goes to server n mod N.
#[test]
fn round_robin_takes_servers_in_turn() {
    let mut engine = build(&config(4, 30.0, Policy::RoundRobin), 3);

    let events = run_for(&mut engine, 10_000.0);

    let servers: Vec<u32> = events
        .iter()
        .filter_map(|event| match event {
            Event::Routed { server_id, .. } => Some(*server_id),
            _ => None,
        })
        .collect();
    assert!(servers.len() > 100, "only {} requests", servers.len());
    for (n, server) in servers.iter().enumerate() {
        assert_eq!(*server as usize, n % 4, "request {n}");
    }
}

// Round-robin keeps its rotation over the live servers: after server 1 of 4 crashes, no
// request goes to it, the others still take turns 0, 2, 3, and after the restart it rejoins.
#[test]
fn round_robin_skips_down_servers() {
    for seed in 0..10 {
        let mut engine = build(&config(4, 20.0, Policy::RoundRobin), seed);
        run_for(&mut engine, 1_000.0);
        crash(&mut engine, 1, seed);

        let during = run_for(&mut engine, 10_000.0);
        restart(&mut engine, 1, seed);
        let after = run_for(&mut engine, 2_000.0);

        let targets = |events: &[Event]| -> Vec<u32> {
            events
                .iter()
                .filter_map(|event| match event {
                    Event::Routed { server_id, .. } => Some(*server_id),
                    _ => None,
                })
                .collect()
        };
        let during = targets(&during);
        assert!(
            !during.contains(&1),
            "seed {seed}: down server 1 got a request"
        );
        for pair in during.windows(2) {
            let next = match pair[0] {
                0 => 2,
                2 => 3,
                _ => 0,
            };
            assert_eq!(pair[1], next, "seed {seed}: rotation broke at {pair:?}");
        }
        assert!(
            targets(&after).contains(&1),
            "seed {seed}: restarted server 1 got no request"
        );
    }
}

// Least-connections never picks a busier server: when it routes a request, no up server has
// fewer requests (queued plus in service) than the one it picked. The counts are rebuilt from
// the events: +1 on Routed (unless dropped), -1 on Completed, 0 on a crash.
#[test]
fn least_connections_never_picks_a_busier_server() {
    for seed in 0..30 {
        let mut active: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        let mut down: BTreeSet<(u32, u32)> = BTreeSet::new();
        let mut routed: Option<(u32, u32)> = None;
        let events = run_with_random_faults(seed, |_| {});

        for event in &events {
            match event {
                Event::Routed {
                    lane,
                    server_id,
                    active: reported,
                    ..
                } => {
                    let chosen = active.get(&(*lane, *server_id)).copied().unwrap_or(0);
                    assert_eq!(chosen, *reported, "seed {seed}: {event:?}");
                    let policy = if *lane == 0 {
                        Policy::RoundRobin
                    } else {
                        Policy::LeastConnections
                    };
                    if policy == Policy::LeastConnections {
                        let least = (0..5)
                            .filter(|id| !down.contains(&(*lane, *id)))
                            .map(|id| active.get(&(*lane, id)).copied().unwrap_or(0))
                            .min();
                        assert_eq!(Some(chosen), least, "seed {seed}: {event:?}");
                    }
                    *active.entry((*lane, *server_id)).or_default() += 1;
                    routed = Some((*lane, *server_id));
                }
                Event::Dropped {
                    lane,
                    server_id: Some(server_id),
                    ..
                } => {
                    // A drop at a full queue follows its Routed event, which counted it.
                    assert_eq!(routed, Some((*lane, *server_id)), "seed {seed}");
                    if let Some(count) = active.get_mut(&(*lane, *server_id)) {
                        *count -= 1;
                    }
                }
                Event::Completed {
                    lane, server_id, ..
                } => {
                    if let Some(count) = active.get_mut(&(*lane, *server_id)) {
                        *count -= 1;
                    }
                }
                Event::ServerCrashed {
                    lane, server_id, ..
                } => {
                    active.insert((*lane, *server_id), 0);
                    down.insert((*lane, *server_id));
                }
                Event::ServerRestarted {
                    lane, server_id, ..
                } => {
                    down.remove(&(*lane, *server_id));
                }
                _ => {}
            }
        }
    }
}

// No request is lost or served twice: in every lane, after every step and action, arrived =
// completed + queued + in service + dropped + failed. In the trace each request is routed or
// dropped for lack of a server once per lane, and ends (completed, dropped at a full queue, or
// lost in a crash) at most once per lane.
#[test]
fn no_request_is_lost_or_served_twice() {
    for seed in 0..40 {
        let mut balanced = true;
        let events = run_with_random_faults(seed, |engine| {
            for lane in engine.lanes() {
                balanced &= engine.arrived()
                    == lane.completed()
                        + lane.queued()
                        + lane.in_service()
                        + lane.dropped()
                        + lane.failed();
            }
        });

        let mut placed = BTreeSet::new();
        let mut ended = BTreeSet::new();
        for event in &events {
            let (placement, endings): (Option<LaneRequest>, Vec<LaneRequest>) = match event {
                Event::Routed {
                    lane, request_id, ..
                }
                | Event::Dropped {
                    lane,
                    request_id,
                    server_id: None,
                    ..
                } => (Some((*lane, *request_id)), Vec::new()),
                Event::Completed {
                    lane, request_id, ..
                }
                | Event::Dropped {
                    lane, request_id, ..
                } => (None, vec![(*lane, *request_id)]),
                Event::ServerCrashed {
                    lane,
                    lost_request_ids,
                    ..
                } => (
                    None,
                    lost_request_ids.iter().map(|id| (*lane, *id)).collect(),
                ),
                _ => (None, Vec::new()),
            };
            if let Some(key) = placement {
                assert!(placed.insert(key), "seed {seed}: {key:?} placed twice");
            }
            for key in endings {
                assert!(ended.insert(key), "seed {seed}: {key:?} ended twice");
            }
        }
        assert!(balanced, "seed {seed}: counts disagree after some change");
    }
}

// Compare mode gives both lanes the same requests: for each arrival, each lane places it
// (routes or drops it) once, with the same request id, before the next arrival.
#[test]
fn compare_lanes_receive_identical_requests() {
    let mut engine = build(&uneven(Policy::RoundRobin), 11);

    let events = run_for(&mut engine, 20_000.0);

    let mut placements: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for event in &events {
        if let Event::Routed {
            lane, request_id, ..
        } = event
        {
            placements.entry(*request_id).or_default().push(*lane);
        }
    }
    assert_eq!(placements.len() as u64, engine.arrived());
    assert!(placements.values().all(|lanes| lanes == &[0, 1]));
}

// A worker serves one request at a time: no server has more requests in service than workers,
// and a request waits in a queue only while every worker of its server is busy.
#[test]
fn servers_never_exceed_their_workers() {
    for seed in 0..20 {
        let mut ok = true;
        run_with_random_faults(seed, |engine| {
            for lane in engine.lanes() {
                for server in lane.servers() {
                    ok &= server.in_service.len() <= 2;
                    ok &= server.queue.is_empty() || server.in_service.len() == 2;
                    ok &= server.queue.len() <= 10;
                    ok &= server.up || server.active() == 0;
                }
            }
        });

        assert!(ok, "seed {seed}: a server broke its limits");
    }
}

// A request's latency is never less than its size, and equals it when the request started at
// once: latency = queue wait + size.
#[test]
fn latency_is_at_least_request_size() {
    let mut engine = build(&uneven(Policy::LeastConnections), 5);

    let events = run_for(&mut engine, 30_000.0);

    let mut sizes = BTreeMap::new();
    for event in &events {
        match event {
            Event::Arrived {
                request_id,
                size_ms,
                ..
            } => {
                sizes.insert(*request_id, *size_ms);
            }
            Event::Completed {
                request_id,
                latency_ms,
                ..
            } => {
                let size = sizes.get(request_id).copied().unwrap_or(f64::NAN);
                assert!(
                    *latency_ms >= size - 1e-9,
                    "request {request_id}: latency {latency_ms} < size {size}"
                );
            }
            _ => {}
        }
    }
}

// Below capacity every request is served, so throughput equals the arrival rate: 24 per second
// for 4 servers that could serve 40, within four standard errors of a Poisson count.
#[test]
fn throughput_matches_arrival_rate_below_capacity() {
    for seed in 0..10 {
        let mut engine = build(&config(4, 24.0, Policy::RoundRobin), seed);

        run_for(&mut engine, 300_000.0);

        let lane = &engine.lanes()[0];
        let throughput = engine.throughput_per_s(lane);
        let tolerance = 4.0 / (engine.arrived() as f64).sqrt();
        let error = (throughput - 24.0).abs() / 24.0;
        assert!(error < tolerance, "seed {seed}: {throughput:.3}/s");
    }
}

// With requests of similar size (0.5 to 1.5 times 100 ms) round-robin is about as good as
// least-connections: over 5 minutes their mean latencies differ by less than 15%.
#[test]
fn similar_sizes_make_the_policies_close() {
    for seed in 0..10 {
        let config = LoadBalancerConfig {
            compare: true,
            ..config(4, 24.0, Policy::RoundRobin)
        };
        let mut engine = build(&config, seed);

        run_for(&mut engine, 300_000.0);

        let means: Vec<f64> = engine
            .lanes()
            .iter()
            .map(|lane| lane.mean_latency_ms().unwrap_or(f64::NAN))
            .collect();
        let gap = (means[0] - means[1]).abs() / means[1];
        assert!(gap < 0.15, "seed {seed}: means {means:?}");
    }
}

// With uneven sizes (1% of requests 30 times longer, at about 80% load) round-robin keeps
// sending every eighth request to a server stuck on a 3 s request, while least-connections
// sends them elsewhere. Over 60 s, least-connections has the lower p99 on at least 28 of 30
// seeds, and its p99 is on average at most half of round-robin's.
#[test]
fn least_connections_beats_round_robin_p99_with_uneven_sizes() {
    let mut wins = 0;
    let mut ratio_sum = 0.0;
    let mut losers = Vec::new();
    for seed in 0..30 {
        let mut engine = build(&uneven(Policy::RoundRobin), seed);

        run_for(&mut engine, 60_000.0);

        let p99: Vec<f64> = engine
            .lanes()
            .iter()
            .map(|lane| lane.latency_percentiles().map_or(f64::NAN, |p| p.p99_ms))
            .collect();
        if p99[1] < p99[0] {
            wins += 1;
        } else {
            losers.push(seed);
        }
        ratio_sum += p99[1] / p99[0];
    }

    assert!(wins >= 28, "least-connections lost on seeds {losers:?}");
    assert!(
        ratio_sum / 30.0 <= 0.5,
        "mean p99 ratio {}",
        ratio_sum / 30.0
    );
}

// A crash loses the requests on the server, in service and queued, in every lane; they count
// as failed and the server has none until it restarts.
#[test]
fn crash_fails_the_requests_on_the_server() {
    let mut engine = build(&uneven(Policy::RoundRobin), 2);
    run_for(&mut engine, 5_000.0);
    let held: Vec<u32> = engine
        .lanes()
        .iter()
        .map(|lane| lane.servers()[3].active())
        .collect();

    let events = crash(&mut engine, 3, 2);

    let lost: Vec<usize> = events
        .iter()
        .filter_map(|event| match event {
            Event::ServerCrashed {
                lost_request_ids, ..
            } => Some(lost_request_ids.len()),
            _ => None,
        })
        .collect();
    assert_eq!(lost, held.iter().map(|&n| n as usize).collect::<Vec<_>>());
    for (lane, held) in engine.lanes().iter().zip(&held) {
        assert_eq!(lane.failed(), u64::from(*held));
        assert_eq!(lane.servers()[3].active(), 0);
    }
}

// With every server down each arriving request is dropped, and the snapshot counts it.
#[test]
fn no_server_up_drops_every_request() {
    let mut engine = build(&config(2, 50.0, Policy::LeastConnections), 4);
    crash(&mut engine, 0, 4);
    crash(&mut engine, 1, 4);

    run_for(&mut engine, 5_000.0);

    let lane = &engine.lanes()[0];
    assert!(engine.arrived() > 0);
    assert_eq!(lane.dropped(), engine.arrived());
    let dropped = engine.snapshot().metric("dropped").map(|m| m.value);
    assert_eq!(dropped, Some(engine.arrived() as f64));
}

// A server whose workers are busy and whose queue is at `queue_limit` requests drops the next
// one it is sent: one server, one worker, a queue of 2, and a burst far above capacity.
#[test]
fn full_queue_drops_requests() {
    let config = LoadBalancerConfig {
        servers: 1,
        queue_limit: 2,
        ..config(1, 500.0, Policy::RoundRobin)
    };
    let mut engine = build(&config, 8);

    run_for(&mut engine, 2_000.0);

    let lane = &engine.lanes()[0];
    assert!(lane.dropped() > 0);
    assert!(lane.queued() <= 2);
}

// Impossible faults return an error and leave the engine as it was.
#[test]
fn invalid_faults_are_rejected() {
    let faults = [
        Fault::Crash { node: 9 },
        Fault::Restart { node: 0 },
        Fault::Crash { node: 1 },
        Fault::Heal,
        Fault::DropMessages { probability: 0.5 },
        Fault::FailDependency { failing: true },
    ];
    for fault in faults {
        let mut engine = build(&config(4, 30.0, Policy::RoundRobin), 1);
        run_for(&mut engine, 1_000.0);
        crash(&mut engine, 1, 1);
        let before = format!("{:?}", engine.lanes());

        let result = engine.apply(&Action::Fault(fault.clone()));

        assert!(result.is_err(), "{fault:?} accepted");
        assert_eq!(format!("{:?}", engine.lanes()), before, "{fault:?}");
    }
}

// Error messages name the server and the action that would succeed.
#[test]
fn fault_errors_name_the_server() {
    let mut engine = build(&config(4, 30.0, Policy::RoundRobin), 1);

    let unknown = engine.apply(&Action::Fault(Fault::Crash { node: 7 }));
    let up = engine.apply(&Action::Fault(Fault::Restart { node: 1 }));

    assert_eq!(
        unknown.err().map(|err| err.0),
        Some("cannot crash server 7: not found. Server ids are 0 to 3.".to_string())
    );
    assert_eq!(
        up.err().map(|err| err.0),
        Some("cannot restart server 1: it is up. Crash it first.".to_string())
    );
}

// An arrival rate outside 0.1 to 2000 per second is rejected with the range.
#[test]
fn arrival_rate_out_of_range_is_rejected() {
    let mut engine = build(&config(4, 30.0, Policy::RoundRobin), 1);

    let result = engine.apply(&Action::SetArrivalRate { arrival_per_s: 0.0 });

    assert_eq!(
        result.err().map(|err| err.0),
        Some("invalid `arrival_per_s`: 0 is out of range; use 0.1 to 2000".to_string())
    );
}

// Determinism: the same seed and the same schedule of faults and rate changes give the same
// serialized trace.
#[test]
fn same_seed_and_faults_give_same_trace() {
    for seed in 0..5 {
        let first = serde_json::to_string(&run_with_random_faults(seed, |_| {}));
        let second = serde_json::to_string(&run_with_random_faults(seed, |_| {}));

        assert!(first.is_ok(), "seed {seed}: trace does not serialize");
        assert_eq!(first.ok(), second.ok(), "seed {seed}");
    }
}
