//! Invariants of the sessions engine: where sessions live, what a crash loses in each mode,
//! affinity, conservation of requests, the store's latency cost, the uneven load of sticky
//! sessions, and determinism.

use std::collections::{BTreeMap, BTreeSet};

use sim::Engine;
use sim::faults::Fault;
use sim::rng::SimRng;
use sim::sessions::{Action, Event, Mode, STEP_MS, SessionHome, Sessions, SessionsConfig};

fn config(mode: Mode, compare: bool) -> SessionsConfig {
    SessionsConfig {
        mode,
        compare,
        ..SessionsConfig::default()
    }
}

fn build(config: &SessionsConfig, seed: u64) -> Sessions {
    match Sessions::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: {config:?} rejected: {err}"),
    }
}

fn run_for(engine: &mut Sessions, ms: f64) -> Vec<Event> {
    let steps = (ms / STEP_MS).ceil() as u64;
    let mut events = Vec::new();
    for _ in 0..steps {
        events.extend(engine.step());
    }
    events
}

fn apply(engine: &mut Sessions, action: &Action, seed: u64) -> Vec<Event> {
    match engine.apply(action) {
        Ok(events) => events,
        Err(err) => panic!("seed {seed}: {action:?} rejected: {err}"),
    }
}

fn crash(engine: &mut Sessions, server: u32, seed: u64) -> Vec<Event> {
    apply(engine, &Action::Fault(Fault::Crash { node: server }), seed)
}

fn restart(engine: &mut Sessions, server: u32, seed: u64) -> Vec<Event> {
    apply(
        engine,
        &Action::Fault(Fault::Restart { node: server }),
        seed,
    )
}

/// Runs 30 s in compare mode while a reader crashes and restarts servers at random moments.
/// Calls `each_change` after every step and action; returns every event.
fn run_with_random_faults(seed: u64, mut each_change: impl FnMut(&Sessions)) -> Vec<Event> {
    let config = SessionsConfig {
        servers: 4,
        users: 40,
        requests_per_user_per_s: 1.0,
        activity_skew: 1.0,
        queue_limit: 5,
        compare: true,
        ..SessionsConfig::default()
    };
    let mut engine = build(&config, seed);
    let mut reader = SimRng::new(seed ^ 0x5eed);
    let mut events = Vec::new();
    for _ in 0..1_500 {
        if reader.below(40) == 0 {
            let server = reader.below(4) as u32;
            let up = engine.lanes()[0].servers()[server as usize].up;
            let action = if up {
                Action::Fault(Fault::Crash { node: server })
            } else {
                Action::Fault(Fault::Restart { node: server })
            };
            events.extend(apply(&mut engine, &action, seed));
            each_change(&engine);
        }
        events.extend(engine.step());
        each_change(&engine);
    }
    events
}

/// Sessions held per server in the sticky lane, before a crash.
fn sticky_sessions(engine: &Sessions, server: usize) -> BTreeSet<u32> {
    let lane = engine
        .lanes()
        .iter()
        .find(|lane| lane.mode() == Mode::Sticky);
    lane.map(|lane| lane.servers()[server].sessions.clone())
        .unwrap_or_default()
}

// In shared mode a crash loses no session: every ServerCrashed event of the shared lane lists no
// lost session and no lost item, and no user of that lane ever logs in again.
#[test]
fn shared_store_crash_loses_no_session() {
    for seed in 0..20 {
        let mut engine = build(&config(Mode::Shared, false), seed);
        run_for(&mut engine, 10_000.0);

        let crashed = crash(&mut engine, 1, seed);
        run_for(&mut engine, 10_000.0);

        for event in &crashed {
            if let Event::ServerCrashed {
                lost_sessions,
                lost_items,
                ..
            } = event
            {
                assert!(lost_sessions.is_empty(), "seed {seed}: {event:?}");
                assert_eq!(*lost_items, 0, "seed {seed}");
            }
        }
        let lane = &engine.lanes()[0];
        assert_eq!(lane.sessions_lost(), 0, "seed {seed}");
        assert_eq!(lane.logins_again(), 0, "seed {seed}");
    }
}

// In sticky mode a crash loses exactly the sessions pinned to that server: the users in the
// crash event are the users whose session lived on the server just before, and their carts'
// items are the items lost.
#[test]
fn sticky_crash_loses_exactly_the_pinned_sessions() {
    for seed in 0..20 {
        let mut engine = build(&config(Mode::Sticky, false), seed);
        run_for(&mut engine, 10_000.0);
        let pinned = sticky_sessions(&engine, 1);
        let items: u64 = pinned
            .iter()
            .map(|&user| engine.lanes()[0].users()[user as usize].cart)
            .sum();

        let events = crash(&mut engine, 1, seed);

        assert!(!pinned.is_empty(), "seed {seed}: server 1 held no session");
        let lost: Vec<(BTreeSet<u32>, u64)> = events
            .iter()
            .filter_map(|event| match event {
                Event::ServerCrashed {
                    lost_sessions,
                    lost_items,
                    ..
                } => Some((lost_sessions.iter().copied().collect(), *lost_items)),
                _ => None,
            })
            .collect();
        assert_eq!(lost, vec![(pinned.clone(), items)], "seed {seed}");
        let lane = &engine.lanes()[0];
        assert_eq!(lane.sessions_lost(), pinned.len() as u64, "seed {seed}");
        for user in &pinned {
            assert_eq!(lane.users()[*user as usize].session, None, "seed {seed}");
            assert!(lane.users()[*user as usize].lost, "seed {seed}");
        }
    }
}

// A user whose session was lost logs in again at the next request: the user's next
// SessionCreated has `again` set and lands on an up server other than the crashed one.
#[test]
fn lost_users_log_in_again_elsewhere() {
    let mut engine = build(&config(Mode::Sticky, false), 3);
    run_for(&mut engine, 10_000.0);
    let pinned = sticky_sessions(&engine, 0);
    crash(&mut engine, 0, 3);

    let events = run_for(&mut engine, 30_000.0);

    let mut again = BTreeSet::new();
    for event in &events {
        if let Event::SessionCreated {
            user,
            home,
            again: true,
            ..
        } = event
        {
            assert!(pinned.contains(user), "user {user} was not on server 0");
            assert_ne!(*home, SessionHome::Server(0));
            again.insert(*user);
        }
    }
    assert_eq!(again, pinned, "every lost user came back within 30 s");
    assert_eq!(engine.lanes()[0].logins_again(), pinned.len() as u64);
}

// Sticky affinity: every request of a user with a session goes to the server that holds the
// session, and a session lives in exactly the memory of the server its user is pinned to.
#[test]
fn sticky_requests_follow_their_session() {
    for seed in 0..20 {
        let mut home: BTreeMap<u32, u32> = BTreeMap::new();
        let mut consistent = true;
        let events = run_with_random_faults(seed, |engine| {
            for lane in engine.lanes() {
                for (id, user) in lane.users().iter().enumerate() {
                    let holders: Vec<u32> = lane
                        .servers()
                        .iter()
                        .filter(|s| s.sessions.contains(&(id as u32)))
                        .map(|s| s.id)
                        .collect();
                    consistent &= match (lane.mode(), user.session) {
                        (Mode::Sticky, Some(SessionHome::Server(server))) => {
                            holders == [server] && lane.servers()[server as usize].up
                        }
                        (Mode::Sticky, None) => holders.is_empty(),
                        (Mode::Shared, session) => {
                            holders.is_empty() && matches!(session, None | Some(SessionHome::Store))
                        }
                        (Mode::Sticky, Some(SessionHome::Store)) => false,
                    };
                }
            }
        });

        for event in &events {
            match event {
                Event::SessionCreated {
                    lane: 0,
                    user,
                    home: SessionHome::Server(server),
                    ..
                } => {
                    home.insert(*user, *server);
                }
                Event::ServerCrashed {
                    lane: 0,
                    lost_sessions,
                    ..
                } => {
                    for user in lost_sessions {
                        home.remove(user);
                    }
                }
                Event::Routed {
                    lane: 0,
                    user,
                    server_id,
                    pinned,
                    ..
                } => {
                    let expected = home.get(user);
                    assert_eq!(*pinned, expected.is_some(), "seed {seed}: {event:?}");
                    if let Some(server) = expected {
                        assert_eq!(server, server_id, "seed {seed}: {event:?}");
                    }
                }
                _ => {}
            }
        }
        assert!(consistent, "seed {seed}: a session sat on the wrong server");
    }
}

// Conservation: every request is served, failed or rejected. In every lane, after every step
// and action, arrived = completed + in flight + rejected + failed, and in the trace each
// request ends (completed, rejected or failed in a crash) at most once per lane.
#[test]
fn every_request_is_served_failed_or_rejected() {
    for seed in 0..40 {
        let mut balanced = true;
        let events = run_with_random_faults(seed, |engine| {
            for lane in engine.lanes() {
                balanced &= engine.arrived()
                    == lane.completed() + lane.in_flight() + lane.rejected() + lane.failed();
            }
        });

        let mut ended = BTreeSet::new();
        for event in &events {
            let endings: Vec<(u32, u64)> = match event {
                Event::Completed {
                    lane, request_id, ..
                }
                | Event::Rejected {
                    lane, request_id, ..
                } => vec![(*lane, *request_id)],
                Event::ServerCrashed {
                    lane,
                    failed_request_ids,
                    ..
                } => failed_request_ids.iter().map(|id| (*lane, *id)).collect(),
                _ => Vec::new(),
            };
            for key in endings {
                assert!(ended.insert(key), "seed {seed}: {key:?} ended twice");
            }
        }
        assert!(balanced, "seed {seed}: counts disagree after some change");
    }
}

// A cart counts the user's completed requests since the session began: in shared mode, where
// no session is ever lost, each user's cart equals the user's completed requests.
#[test]
fn shared_carts_count_completed_requests() {
    let events = run_with_random_faults(9, |_| {});

    let mut completed: BTreeMap<u32, u64> = BTreeMap::new();
    for event in &events {
        if let Event::Completed {
            lane: 1,
            user,
            cart,
            ..
        } = event
        {
            let count = completed.entry(*user).or_default();
            *count += 1;
            assert_eq!(cart, count, "user {user}");
        }
    }
    assert!(!completed.is_empty());
}

// Compare mode gives both lanes the same requests: each arrival is routed or rejected once in
// each lane, with the same user.
#[test]
fn compare_lanes_receive_identical_requests() {
    let mut engine = build(&config(Mode::Sticky, true), 11);

    let events = run_for(&mut engine, 20_000.0);

    let mut placements: BTreeMap<u64, Vec<(u32, u32)>> = BTreeMap::new();
    for event in &events {
        if let Event::Routed {
            lane,
            request_id,
            user,
            ..
        } = event
        {
            placements
                .entry(*request_id)
                .or_default()
                .push((*lane, *user));
        }
    }
    assert_eq!(placements.len() as u64, engine.arrived());
    for (request, lanes) in &placements {
        assert_eq!(lanes.len(), 2, "request {request}");
        assert_eq!(lanes[0].1, lanes[1].1, "request {request}");
    }
}

// The store round trip shows in latency: at a load so low that requests almost never queue
// (30 users at 0.05 requests per second, 1.5 requests per second on 3 servers, 2% busy), the
// shared lane's p50 is store_ms (5 ms) above the sticky lane's, within 1 ms, on every seed.
// NOTE: at higher load the gap shrinks, because round-robin spreads requests over the servers
// more evenly than pinning does, so shared requests wait less in the queues.
#[test]
fn shared_store_adds_its_round_trip_to_latency() {
    for seed in 0..10 {
        let config = SessionsConfig {
            requests_per_user_per_s: 0.05,
            ..config(Mode::Sticky, true)
        };
        let mut engine = build(&config, seed);

        run_for(&mut engine, 600_000.0);

        let p50: Vec<f64> = engine
            .lanes()
            .iter()
            .map(|lane| lane.latency_percentiles().map_or(f64::NAN, |p| p.p50_ms))
            .collect();
        let gap = p50[1] - p50[0];
        assert!((gap - 5.0).abs() < 1.0, "seed {seed}: p50 {p50:?}");
    }
}

// Sticky pins load unevenly when users differ in activity. With skew 1 (user 0 sends about a
// quarter of all requests) the busiest server serves at least 1.3 times the quietest in the
// sticky lane, while round-robin over a shared store keeps every server within 2% of the
// others. Checked over 10 seeds for 2 minutes each; sticky must be uneven on at least 8.
#[test]
fn sticky_load_is_uneven_with_skewed_users() {
    let mut uneven = 0;
    for seed in 0..10 {
        let config = SessionsConfig {
            activity_skew: 1.0,
            ..config(Mode::Sticky, true)
        };
        let mut engine = build(&config, seed);

        run_for(&mut engine, 120_000.0);

        let ratio = |index: usize| {
            let (low, high) = engine.lanes()[index].served_range();
            high as f64 / low.max(1) as f64
        };
        if ratio(0) >= 1.3 {
            uneven += 1;
        }
        assert!(ratio(1) <= 1.02, "seed {seed}: shared ratio {}", ratio(1));
    }

    assert!(uneven >= 8, "sticky uneven on only {uneven} of 10 seeds");
}

// User activity follows the weights: over many requests each user's share of arrivals is
// within four standard errors of 1 / (i + 1)^skew normalized, for skew 1 and 30 users.
#[test]
fn user_activity_matches_the_skew() {
    let config = SessionsConfig {
        activity_skew: 1.0,
        requests_per_user_per_s: 5.0,
        ..config(Mode::Shared, false)
    };
    let mut engine = build(&config, 4);

    let events = run_for(&mut engine, 300_000.0);

    let mut counts = vec![0u64; 30];
    for event in &events {
        if let Event::Arrived { user, .. } = event {
            counts[*user as usize] += 1;
        }
    }
    let total = engine.arrived() as f64;
    for (user, share) in engine.activity_shares().iter().enumerate() {
        let error = (share * (1.0 - share) / total).sqrt();
        let measured = counts[user] as f64 / total;
        assert!(
            (measured - share).abs() < 4.0 * error,
            "user {user}: {measured:.4} vs {share:.4}"
        );
    }
}

// A restarted server holds no sessions and takes new users again: after a restart the server
// starts empty, and within 30 s some user who lost a session logs in there.
#[test]
fn restarted_server_starts_empty() {
    let mut engine = build(&config(Mode::Sticky, false), 6);
    run_for(&mut engine, 10_000.0);
    crash(&mut engine, 2, 6);
    crash(&mut engine, 1, 6);
    run_for(&mut engine, 5_000.0);

    restart(&mut engine, 2, 6);

    assert!(sticky_sessions(&engine, 2).is_empty());
    run_for(&mut engine, 30_000.0);
    assert!(!sticky_sessions(&engine, 2).is_empty());
}

// With every server down each request is rejected, and no session is created.
#[test]
fn no_server_up_rejects_every_request() {
    let mut engine = build(&config(Mode::Shared, false), 4);
    for server in 0..3 {
        crash(&mut engine, server, 4);
    }

    run_for(&mut engine, 5_000.0);

    let lane = &engine.lanes()[0];
    assert!(engine.arrived() > 0);
    assert_eq!(lane.rejected(), engine.arrived());
    assert_eq!(lane.active_sessions(), 0);
}

// The outage is reported once per lane: only the crash of the last up server is followed by
// AllServersDown, one per lane, after every lane's ServerCrashed.
#[test]
fn last_crash_reports_all_servers_down() {
    let mut engine = build(&config(Mode::Sticky, true), 4);
    run_for(&mut engine, 5_000.0);
    let mut earlier = Vec::new();

    for server in 0..2 {
        earlier.extend(crash(&mut engine, server, 4));
    }
    let last = crash(&mut engine, 2, 4);

    let is_outage = |event: &Event| matches!(event, Event::AllServersDown { .. });
    assert!(!earlier.iter().any(is_outage), "{earlier:?}");
    let kinds: Vec<(&str, u32)> = last
        .iter()
        .map(|event| match event {
            Event::ServerCrashed { lane, .. } => ("crashed", *lane),
            Event::AllServersDown { lane, .. } => ("all down", *lane),
            _ => ("other", u32::MAX),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("crashed", 0),
            ("crashed", 1),
            ("all down", 0),
            ("all down", 1)
        ]
    );
}

// Events that name a lane's mode name the right one: in compare mode lane 0 runs the configured
// mode and lane 1 the other, and every SessionCreated and ServerCrashed names that mode.
#[test]
fn events_carry_their_lane_mode() {
    for first in [Mode::Sticky, Mode::Shared] {
        let mut engine = build(&config(first, true), 8);
        let mut events = run_for(&mut engine, 10_000.0);
        events.extend(crash(&mut engine, 1, 8));
        events.extend(run_for(&mut engine, 5_000.0));

        let expected = |lane: u32| if lane == 0 { first } else { first.other() };
        let mut named = 0;
        for event in &events {
            let (lane, mode) = match event {
                Event::SessionCreated { lane, mode, .. }
                | Event::ServerCrashed { lane, mode, .. } => (*lane, *mode),
                _ => continue,
            };
            named += 1;
            assert_eq!(mode, expected(lane), "{first:?} first: {event:?}");
        }
        assert!(
            named > 60,
            "{first:?} first: only {named} events name a mode"
        );
    }
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
        let mut engine = build(&config(Mode::Sticky, true), 1);
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
    let mut engine = build(&config(Mode::Sticky, false), 1);

    let unknown = engine.apply(&Action::Fault(Fault::Crash { node: 7 }));
    let up = engine.apply(&Action::Fault(Fault::Restart { node: 1 }));

    assert_eq!(
        unknown.err().map(|err| err.0),
        Some("cannot crash server 7: not found. Server ids are 0 to 2.".to_string())
    );
    assert_eq!(
        up.err().map(|err| err.0),
        Some("cannot restart server 1: it is up. Crash it first.".to_string())
    );
}

// Out-of-range parameters are rejected with the field and the range.
#[test]
fn invalid_config_names_the_field() {
    let cases = [
        (
            SessionsConfig {
                servers: 0,
                ..SessionsConfig::default()
            },
            "invalid `servers`: 0 is out of range; use 1 to 10",
        ),
        (
            SessionsConfig {
                store_ms: f64::NAN,
                ..SessionsConfig::default()
            },
            "invalid `store_ms`: NaN is not a number; use a value in range",
        ),
        (
            SessionsConfig {
                activity_skew: -1.0,
                ..SessionsConfig::default()
            },
            "invalid `activity_skew`: -1 is out of range; use 0 to 3",
        ),
    ];
    for (config, message) in cases {
        let err = Sessions::new(config, 1).err().map(|err| err.to_string());

        assert_eq!(err.as_deref(), Some(message));
    }
}

// Determinism: the same seed and the same schedule of faults give the same serialized trace.
#[test]
fn same_seed_and_faults_give_same_trace() {
    for seed in 0..5 {
        let first = serde_json::to_string(&run_with_random_faults(seed, |_| {}));
        let second = serde_json::to_string(&run_with_random_faults(seed, |_| {}));

        assert!(first.is_ok(), "seed {seed}: trace does not serialize");
        assert_eq!(first.ok(), second.ok(), "seed {seed}");
    }
}
