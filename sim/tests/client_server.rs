//! Invariants of the client-server engine: queueing laws, conservation of requests, worker
//! exclusivity, FIFO order, reader actions, worker crashes and restarts, and determinism.

use std::collections::{BTreeMap, BTreeSet};

use sim::Engine;
use sim::client_server::{
    Action, ClientServer, ClientServerConfig, ClientState, Event, RECENT_SLICE_MS, STEP_MS,
};
use sim::faults::{Fault, Faults};
use sim::rng::SimRng;

const MINUTE_MS: f64 = 60_000.0;

fn config(clients: u32, workers: u32, service_ms: f64, think_ms: f64) -> ClientServerConfig {
    ClientServerConfig {
        clients,
        workers,
        service_ms,
        think_ms,
    }
}

fn build(config: &ClientServerConfig, seed: u64) -> ClientServer {
    match ClientServer::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: {config:?} rejected: {err}"),
    }
}

/// Runs whole steps until at least `ms` of simulated time has passed; returns every event.
fn run_for(engine: &mut ClientServer, ms: f64) -> Vec<Event> {
    let steps = (ms / STEP_MS).ceil() as u64;
    let mut events = Vec::new();
    for _ in 0..steps {
        events.extend(engine.step());
    }
    events
}

fn apply(engine: &mut ClientServer, action: &Action, seed: u64) -> Vec<Event> {
    match engine.apply(action) {
        Ok(events) => events,
        Err(err) => panic!("seed {seed}: {action:?} rejected: {err}"),
    }
}

fn mean_latency(engine: &ClientServer, seed: u64) -> f64 {
    match engine.mean_latency_ms() {
        Some(latency) => latency,
        None => panic!("seed {seed}: no request completed"),
    }
}

/// Four standard errors of a mean of `n` samples whose coefficient of variation is at most 1
/// (an exponential service time, or a think-plus-service cycle), as a fraction of the mean.
fn four_standard_errors(n: u64) -> f64 {
    4.0 / (n as f64).sqrt()
}

/// Runs 40 s of simulated time while a reader changes clients and workers at random moments.
/// Calls `each_step` after every step and returns the events of steps and actions in order.
fn run_with_random_actions(seed: u64, mut each_step: impl FnMut(&ClientServer)) -> Vec<Event> {
    let mut engine = build(&config(6, 2, 50.0, 100.0), seed);
    let mut reader = SimRng::new(seed ^ 0x5eed);
    let mut events = Vec::new();
    for _ in 0..2_000 {
        if reader.below(40) == 0 {
            let action = match reader.below(2) {
                0 => Action::SetClients {
                    clients: 1 + reader.below(30) as u32,
                },
                _ => Action::SetWorkers {
                    workers: 1 + reader.below(6) as u32,
                },
            };
            events.extend(apply(&mut engine, &action, seed));
        }
        events.extend(engine.step());
        each_step(&engine);
    }
    events
}

// Little's law: over a long run, the time-average number of requests in the server L equals
// throughput X times mean response time W. Requests still in flight at the end make the only
// difference, so 2% is a loose bound after 10 simulated minutes.
#[test]
fn queue_agrees_with_littles_law_on_long_run() {
    let configs = [
        config(4, 2, 100.0, 400.0),
        config(20, 2, 100.0, 400.0),
        config(10, 4, 50.0, 0.0),
        config(50, 8, 200.0, 1_000.0),
    ];
    for config in &configs {
        for seed in 0..6 {
            let mut engine = build(config, seed);

            run_for(&mut engine, 10.0 * MINUTE_MS);

            let l = engine.mean_in_server();
            let x_w = engine.throughput_per_s() * mean_latency(&engine, seed) / 1000.0;
            let error = (l - x_w).abs() / x_w;
            assert!(
                error < 0.02,
                "seed {seed}, {config:?}: L = {l:.3}, X*W = {x_w:.3}"
            );
        }
    }
}

// The response time law, Little's law applied to the whole loop: N clients = X * (R + Z), with R
// the mean response time and Z the mean think time. The measured think times average Z only
// within sampling error, so the tolerance is four standard errors of the cycle time.
#[test]
fn clients_obey_response_time_law() {
    let configs = [config(4, 2, 100.0, 400.0), config(20, 2, 100.0, 400.0)];
    for config in &configs {
        for seed in 0..5 {
            let mut engine = build(config, seed);

            run_for(&mut engine, 30.0 * MINUTE_MS);

            let cycle_ms = mean_latency(&engine, seed) + config.think_ms;
            let clients = engine.throughput_per_s() * cycle_ms / 1000.0;
            let tolerance = four_standard_errors(engine.completed());
            let error = (clients - f64::from(config.clients)).abs() / f64::from(config.clients);
            assert!(
                error < tolerance,
                "seed {seed}, {config:?}: X * (R + Z) = {clients:.3}"
            );
        }
    }
}

// With 2 workers, 100 ms of service and 400 ms of thinking the server saturates near 10
// clients. Every client added beyond the workers adds queueing, so mean latency rises with
// each step of this ladder, on every seed.
#[test]
fn latency_grows_as_clients_are_added_beyond_workers() {
    let ladder = [2, 5, 10, 20, 40];
    for seed in 0..10 {
        let mut latencies = Vec::new();
        for clients in ladder {
            let mut engine = build(&config(clients, 2, 100.0, 400.0), seed);

            run_for(&mut engine, 10.0 * MINUTE_MS);

            latencies.push(mean_latency(&engine, seed));
        }

        for (pair, clients) in latencies.windows(2).zip(ladder.windows(2)) {
            assert!(
                pair[1] > pair[0],
                "seed {seed}: latency {:.1} ms at {} clients, {:.1} ms at {}",
                pair[0],
                clients[0],
                pair[1],
                clients[1]
            );
        }
    }
}

// Past saturation the workers are always busy, X = workers / service_ms, and the response time
// law gives R = N / X - Z: each extra client adds service_ms / workers of latency. Going from 20
// to 40 clients with 2 workers and 100 ms of service adds about 20 * 50 = 1000 ms, within 10%.
#[test]
fn each_client_past_saturation_adds_service_over_workers() {
    for seed in 0..10 {
        let mut at_20 = build(&config(20, 2, 100.0, 400.0), seed);
        let mut at_40 = build(&config(40, 2, 100.0, 400.0), seed);

        run_for(&mut at_20, 10.0 * MINUTE_MS);
        run_for(&mut at_40, 10.0 * MINUTE_MS);

        let added_ms = mean_latency(&at_40, seed) - mean_latency(&at_20, seed);
        assert!(
            (added_ms - 1000.0).abs() < 100.0,
            "seed {seed}: 20 more clients added {added_ms:.1} ms"
        );
    }
}

// The closed-network bounds: X <= workers / service_ms, because each worker completes one
// request per service time at best, and X <= N / (service_ms + think_ms), because each client
// completes one request per cycle at best. Measured throughput may exceed a bound only by the
// sampling error of the drawn times: four standard errors.
#[test]
fn throughput_never_exceeds_closed_network_bounds() {
    for workers in [1, 4] {
        for clients in [1, 4, 16, 64] {
            let config = config(clients, workers, 100.0, 400.0);
            for seed in 0..3 {
                let mut engine = build(&config, seed);

                run_for(&mut engine, 20.0 * MINUTE_MS);

                let worker_bound = f64::from(workers) * 1000.0 / config.service_ms;
                let client_bound =
                    f64::from(clients) * 1000.0 / (config.service_ms + config.think_ms);
                let bound = worker_bound.min(client_bound);
                let slack = 1.0 + four_standard_errors(engine.completed());
                let throughput = engine.throughput_per_s();
                assert!(
                    throughput <= bound * slack,
                    "seed {seed}, {config:?}: X = {throughput:.3}/s, bound {bound:.3}/s"
                );
            }
        }
    }
}

// Far past saturation throughput levels off at the capacity workers / service_ms: 20 requests
// per second for 2 workers and 100 ms, whether 40 or 80 clients ask.
#[test]
fn throughput_levels_off_at_capacity() {
    for clients in [40, 80] {
        for seed in 0..5 {
            let mut engine = build(&config(clients, 2, 100.0, 400.0), seed);

            run_for(&mut engine, 20.0 * MINUTE_MS);

            let throughput = engine.throughput_per_s();
            let tolerance = four_standard_errors(engine.completed());
            let error = (throughput - engine.capacity_per_s()).abs() / engine.capacity_per_s();
            assert!(
                error < tolerance,
                "seed {seed}, {clients} clients: X = {throughput:.3}/s"
            );
        }
    }
}

// The utilization law: U = X * service_ms / workers, the busy fraction of the pool.
#[test]
fn utilization_equals_throughput_times_service_over_workers() {
    for clients in [2, 8, 30] {
        for seed in 0..5 {
            let config = config(clients, 3, 100.0, 400.0);
            let mut engine = build(&config, seed);

            run_for(&mut engine, 20.0 * MINUTE_MS);

            let expected = engine.throughput_per_s() * config.service_ms / 1000.0 / 3.0;
            let tolerance = four_standard_errors(engine.completed());
            let utilization = engine.utilization();
            let error = (utilization - expected).abs() / expected;
            assert!(
                error < tolerance,
                "seed {seed}, {clients} clients: U = {utilization:.3}"
            );
        }
    }
}

// With one client and one worker nothing queues, so latency is the exponential service time:
// p50 = ln 2 * 100 ms = 69.3 ms and p99 = ln 100 * 100 ms = 460.5 ms, within 10% after 7200
// samples (the quantiles' sampling error is 2% to 3%).
#[test]
fn lone_client_latency_percentiles_match_exponential_service() {
    for seed in 0..5 {
        let mut engine = build(&config(1, 1, 100.0, 400.0), seed);

        run_for(&mut engine, 60.0 * MINUTE_MS);

        let Some(percentiles) = engine.latency_percentiles() else {
            panic!("seed {seed}: no percentiles after an hour");
        };
        let p50_error = (percentiles.p50_ms - 69.3).abs() / 69.3;
        let p99_error = (percentiles.p99_ms - 460.5).abs() / 460.5;
        assert!(
            p50_error < 0.1,
            "seed {seed}: p50 = {:.1} ms",
            percentiles.p50_ms
        );
        assert!(
            p99_error < 0.1,
            "seed {seed}: p99 = {:.1} ms",
            percentiles.p99_ms
        );
    }
}

// Percentiles are non-decreasing in the quantile, for the whole run and the recent window.
#[test]
fn percentiles_are_ordered() {
    for seed in 0..10 {
        let mut engine = build(&config(20, 2, 100.0, 400.0), seed);

        run_for(&mut engine, MINUTE_MS);

        for percentiles in [
            engine.latency_percentiles(),
            engine.recent_latency_percentiles(),
        ] {
            let Some(p) = percentiles else {
                panic!("seed {seed}: no percentiles after a minute");
            };
            assert!(p.p50_ms <= p.p95_ms, "seed {seed}: {p:?}");
            assert!(p.p95_ms <= p.p99_ms, "seed {seed}: {p:?}");
        }
    }
}

// After a jump from 4 to 20 clients the recent window (the last 4 to 5 s) shows the new
// latency, while the average since the start still carries the quiet minute before it.
#[test]
fn recent_window_follows_change_faster_than_run_average() {
    for seed in 0..10 {
        let mut engine = build(&config(4, 2, 100.0, 400.0), seed);
        run_for(&mut engine, MINUTE_MS);

        apply(&mut engine, &Action::SetClients { clients: 20 }, seed);
        run_for(&mut engine, 20.0 * RECENT_SLICE_MS);

        let recent = engine.recent_mean_latency_ms().unwrap_or(0.0);
        let overall = mean_latency(&engine, seed);
        assert!(
            recent > overall,
            "seed {seed}: recent {recent:.1} ms, overall {overall:.1} ms"
        );
        let window = engine.recent_window_ms();
        assert!(
            (4_000.0..=5_000.0).contains(&window),
            "seed {seed}: window {window} ms"
        );
    }
}

// Conservation: every request sent is completed, failed (lost in a crash) or still in the
// server (queued or in service), so sent = completed + failed + in flight after every step.
// Without crashes none fails, and no id completes twice.
#[test]
fn no_request_is_lost_or_duplicated() {
    for seed in 0..50 {
        let mut counts_agree = true;
        let mut none_failed = true;
        let events = run_with_random_actions(seed, |engine| {
            counts_agree &=
                engine.sent() == engine.completed() + engine.failed() + engine.in_flight() as u64;
            none_failed &= engine.failed() == 0;
        });

        let mut sent = BTreeSet::new();
        let mut completed = BTreeSet::new();
        for event in &events {
            match event {
                Event::Sent { request_id, .. } => {
                    assert!(
                        sent.insert(*request_id),
                        "seed {seed}: request {request_id} sent twice"
                    );
                }
                Event::Completed { request_id, .. } => {
                    assert!(
                        sent.contains(request_id),
                        "seed {seed}: {request_id} completed unsent"
                    );
                    assert!(
                        completed.insert(*request_id),
                        "seed {seed}: {request_id} completed twice"
                    );
                }
                _ => {}
            }
        }
        assert!(
            counts_agree,
            "seed {seed}: sent != completed + failed + in flight after some step"
        );
        assert!(none_failed, "seed {seed}: a request failed without a crash");
    }
}

// The requests in the queue and on the workers are exactly the ones sent and not completed.
#[test]
fn in_flight_requests_are_the_unanswered_ones() {
    for seed in 0..20 {
        let mut engine = build(&config(12, 2, 50.0, 100.0), seed);

        let events = run_for(&mut engine, 30_000.0);

        let mut unanswered = BTreeSet::new();
        for event in &events {
            match event {
                Event::Sent { request_id, .. } => {
                    unanswered.insert(*request_id);
                }
                Event::Completed { request_id, .. } => {
                    unanswered.remove(request_id);
                }
                _ => {}
            }
        }
        let queued = engine.queue().iter().map(|request| request.id);
        let serving = engine
            .workers()
            .iter()
            .filter_map(|worker| worker.serving.as_ref());
        let in_server: BTreeSet<u64> = queued.chain(serving.map(|s| s.request.id)).collect();
        assert_eq!(in_server, unanswered, "seed {seed}");
    }
}

// A worker serves one request at a time: in the trace, each worker alternates Started and
// Completed for the same request, and never starts a second request while busy.
#[test]
fn worker_serves_one_request_at_a_time() {
    for seed in 0..50 {
        let events = run_with_random_actions(seed, |_| {});

        let mut serving: BTreeMap<u32, u64> = BTreeMap::new();
        for event in &events {
            match event {
                Event::Started {
                    worker_id,
                    request_id,
                    at_ms,
                    ..
                } => {
                    let busy_with = serving.insert(*worker_id, *request_id);
                    assert_eq!(
                        busy_with, None,
                        "seed {seed}: worker {worker_id} at {at_ms} ms"
                    );
                }
                Event::Completed {
                    worker_id,
                    request_id,
                    at_ms,
                    ..
                } => {
                    let finished = serving.remove(worker_id);
                    assert_eq!(
                        finished,
                        Some(*request_id),
                        "seed {seed}: worker {worker_id} at {at_ms} ms"
                    );
                }
                _ => {}
            }
        }
    }
}

// A client has at most one request outstanding: in the trace, each client alternates Sent and
// Completed, so the server never has more requests in it than there are clients.
#[test]
fn client_has_at_most_one_request_outstanding() {
    for seed in 0..50 {
        let mut within_clients = true;
        let events = run_with_random_actions(seed, |engine| {
            within_clients &= engine.in_flight() <= engine.clients().len();
        });

        let mut waiting: BTreeMap<u32, u64> = BTreeMap::new();
        for event in &events {
            match event {
                Event::Sent {
                    client_id,
                    request_id,
                    at_ms,
                } => {
                    let earlier = waiting.insert(*client_id, *request_id);
                    assert_eq!(
                        earlier, None,
                        "seed {seed}: client {client_id} at {at_ms} ms"
                    );
                }
                Event::Completed {
                    client_id,
                    request_id,
                    at_ms,
                    ..
                } => {
                    let answered = waiting.remove(client_id);
                    assert_eq!(
                        answered,
                        Some(*request_id),
                        "seed {seed}: client {client_id} at {at_ms} ms"
                    );
                }
                _ => {}
            }
        }
        assert!(
            within_clients,
            "seed {seed}: more requests in flight than clients"
        );
    }
}

// The queue is FIFO: workers start requests in the order clients sent them, because a request
// waits only while every worker is busy and the head of the queue always goes next.
#[test]
fn requests_start_in_the_order_they_were_sent() {
    for seed in 0..50 {
        let events = run_with_random_actions(seed, |_| {});

        let sent: Vec<u64> = events
            .iter()
            .filter_map(|event| match event {
                Event::Sent { request_id, .. } => Some(*request_id),
                _ => None,
            })
            .collect();
        let started: Vec<u64> = events
            .iter()
            .filter_map(|event| match event {
                Event::Started { request_id, .. } => Some(*request_id),
                _ => None,
            })
            .collect();
        assert_eq!(started[..], sent[..started.len()], "seed {seed}");
    }
}

// Client states agree with the queue and the workers: a queued client's request is in the
// queue, and a client in service names the worker that is serving its request.
#[test]
fn client_states_match_queue_and_workers() {
    for seed in 0..20 {
        let mut consistent = true;
        run_with_random_actions(seed, |engine| {
            for client in engine.clients() {
                consistent &= match client.state {
                    ClientState::Thinking { .. } => !client.leaving,
                    ClientState::Queued { request_id } => engine
                        .queue()
                        .iter()
                        .any(|r| r.id == request_id && r.client_id == client.id),
                    ClientState::InService {
                        request_id,
                        worker_id,
                    } => engine.workers().iter().any(|worker| {
                        worker.id == worker_id
                            && worker
                                .serving
                                .as_ref()
                                .is_some_and(|s| s.request.id == request_id)
                    }),
                };
            }
        });

        assert!(
            consistent,
            "seed {seed}: a client state disagrees with the queue or workers"
        );
    }
}

// After any action the engine keeps exactly the configured number of active clients and
// workers. Leaving clients and retiring workers come on top, and a retiring worker is busy.
#[test]
fn active_clients_and_workers_match_config() {
    for seed in 0..20 {
        let mut matches = true;
        run_with_random_actions(seed, |engine| {
            let active_clients = engine.clients().iter().filter(|c| !c.leaving).count();
            let active_workers = engine.workers().iter().filter(|w| !w.retiring).count();
            matches &= active_clients == engine.config().clients as usize;
            matches &= active_workers == engine.config().workers as usize;
            matches &= engine
                .workers()
                .iter()
                .all(|w| !w.retiring || w.serving.is_some());
        });

        assert!(
            matches,
            "seed {seed}: active clients or workers differ from the config"
        );
    }
}

// A removed client with a request in flight stays until the response, then leaves without
// sending again.
#[test]
fn removed_client_leaves_after_its_response() {
    for seed in 0..10 {
        let mut engine = build(&config(20, 1, 100.0, 0.0), seed);
        run_for(&mut engine, 2_000.0);

        let at_action = apply(&mut engine, &Action::SetClients { clients: 5 }, seed);
        let leaving: BTreeSet<u32> = engine
            .clients()
            .iter()
            .filter(|c| c.leaving)
            .map(|c| c.id)
            .collect();
        let events = run_for(&mut engine, 10_000.0);

        assert!(
            at_action.is_empty(),
            "seed {seed}: with no think time every client has a request"
        );
        assert_eq!(leaving.len(), 15, "seed {seed}");
        let mut answered = BTreeSet::new();
        for event in &events {
            match event {
                Event::Completed { client_id, .. } => {
                    answered.insert(*client_id);
                }
                Event::ClientLeft { client_id, .. } => {
                    assert!(
                        answered.contains(client_id),
                        "seed {seed}: {client_id} left early"
                    );
                }
                Event::Sent { client_id, .. } => {
                    assert!(
                        !leaving.contains(client_id),
                        "seed {seed}: {client_id} sent again"
                    );
                }
                _ => {}
            }
        }
        assert_eq!(engine.clients().len(), 5, "seed {seed}");
    }
}

// A removed client that is thinking leaves at once.
#[test]
fn removed_thinking_client_leaves_at_once() {
    let mut engine = build(&config(10, 2, 100.0, 60_000.0), 3);

    let events = apply(&mut engine, &Action::SetClients { clients: 4 }, 3);

    let left = events
        .iter()
        .filter(|e| matches!(e, Event::ClientLeft { .. }))
        .count();
    assert_eq!(left, 6);
    assert_eq!(engine.clients().len(), 4);
}

// A removed busy worker finishes its request, takes no other, then leaves.
#[test]
fn removed_busy_worker_finishes_request_then_leaves() {
    for seed in 0..10 {
        let mut engine = build(&config(20, 4, 100.0, 0.0), seed);
        run_for(&mut engine, 1_000.0);

        apply(&mut engine, &Action::SetWorkers { workers: 1 }, seed);
        let retiring: BTreeSet<u32> = engine
            .workers()
            .iter()
            .filter(|w| w.retiring)
            .map(|w| w.id)
            .collect();
        let events = run_for(&mut engine, 5_000.0);

        assert_eq!(retiring.len(), 3, "seed {seed}: all four workers were busy");
        for event in &events {
            if let Event::Started { worker_id, .. } = event {
                assert!(
                    !retiring.contains(worker_id),
                    "seed {seed}: {worker_id} started more"
                );
            }
        }
        let removed = events
            .iter()
            .filter(|e| matches!(e, Event::WorkerRemoved { .. }))
            .count();
        assert_eq!(removed, 3, "seed {seed}");
        assert_eq!(engine.workers().len(), 1, "seed {seed}");
    }
}

// Added workers take queued requests at the moment they join.
#[test]
fn added_workers_take_queued_requests_at_once() {
    let mut engine = build(&config(20, 1, 100.0, 0.0), 5);
    run_for(&mut engine, 1_000.0);
    let queued = engine.queue().len();

    let events = apply(&mut engine, &Action::SetWorkers { workers: 4 }, 5);

    let started = events
        .iter()
        .filter(|e| matches!(e, Event::Started { .. }))
        .count();
    assert_eq!(queued, 19);
    assert_eq!(started, 3);
    assert_eq!(engine.busy_workers(), 4);
}

// Out-of-range actions return an error and leave the engine as it was.
#[test]
fn out_of_range_actions_are_rejected() {
    let actions = [
        Action::SetClients { clients: 0 },
        Action::SetClients { clients: 201 },
        Action::SetWorkers { workers: 0 },
        Action::SetWorkers { workers: 65 },
    ];
    for action in &actions {
        let mut engine = build(&ClientServerConfig::default(), 1);
        run_for(&mut engine, 1_000.0);
        let before = format!("{:?}", engine.clients());

        let result = engine.apply(action);

        assert!(result.is_err(), "{action:?} accepted");
        assert_eq!(
            format!("{:?}", engine.clients()),
            before,
            "{action:?} changed the clients"
        );
        assert_eq!(
            engine.config(),
            &ClientServerConfig::default(),
            "{action:?} changed the config"
        );
    }
}

// Edge configurations and a storm of actions, crashes and restarts among them (valid or not),
// run without panicking and keep the counts whole.
#[test]
fn edge_configs_and_random_actions_do_not_panic() {
    let configs = [
        config(200, 1, 1.0, 0.0),
        config(200, 64, 1.0, 0.0),
        config(1, 1, 10_000.0, 60_000.0),
        config(200, 1, 10_000.0, 0.0),
        config(1, 64, 1.0, 60_000.0),
    ];
    for config in &configs {
        for seed in 0..3 {
            let mut engine = build(config, seed);
            let mut reader = SimRng::new(seed);

            for _ in 0..500 {
                let action = match reader.below(6) {
                    0 => Action::SetClients {
                        clients: 1 + reader.below(200) as u32,
                    },
                    1 => Action::SetWorkers {
                        workers: 1 + reader.below(64) as u32,
                    },
                    2 => Action::SetClients {
                        clients: reader.below(300) as u32,
                    },
                    3 => Action::Fault(Fault::Crash {
                        node: reader.below(100) as u32,
                    }),
                    _ => Action::Fault(Fault::Restart {
                        node: reader.below(100) as u32,
                    }),
                };
                let _ = engine.apply(&action);
                engine.step();
            }

            let whole =
                engine.sent() == engine.completed() + engine.failed() + engine.in_flight() as u64;
            assert!(
                whole,
                "seed {seed}, {config:?}: sent != completed + failed + in flight"
            );
        }
    }
}

// Determinism: the same seed, configuration and actions give the same serialized trace.
#[test]
fn same_seed_and_actions_give_same_trace() {
    for seed in 0..5 {
        let first = serde_json::to_string(&run_with_random_actions(seed, |_| {}));
        let second = serde_json::to_string(&run_with_random_actions(seed, |_| {}));

        assert!(first.is_ok(), "seed {seed}: trace does not serialize");
        assert_eq!(first.ok(), second.ok(), "seed {seed}");
    }
}

// Different seeds give different traces, so the seed reaches the random draws.
#[test]
fn different_seeds_give_different_traces() {
    let first = serde_json::to_string(&run_with_random_actions(1, |_| {})).ok();
    let second = serde_json::to_string(&run_with_random_actions(2, |_| {})).ok();

    assert_ne!(first, second);
}

// ---------------------------------------------------------------------------------------------
// Worker crashes and restarts, through the shared fault interface.

fn crash(engine: &mut ClientServer, worker: u32, seed: u64) -> Vec<Event> {
    apply(engine, &Action::Fault(Fault::Crash { node: worker }), seed)
}

fn restart(engine: &mut ClientServer, worker: u32, seed: u64) -> Vec<Event> {
    apply(
        engine,
        &Action::Fault(Fault::Restart { node: worker }),
        seed,
    )
}

/// Returns the id of the request the worker is serving, if it is serving one.
fn serving_id(engine: &ClientServer, worker: u32) -> Option<u64> {
    engine
        .workers()
        .iter()
        .find(|w| w.id == worker)
        .and_then(|w| w.serving.as_ref())
        .map(|serving| serving.request.id)
}

fn queue_ids(engine: &ClientServer) -> Vec<u64> {
    engine.queue().iter().map(|request| request.id).collect()
}

/// Runs 40 s of simulated time while a reader changes clients and workers and crashes and
/// restarts workers at random moments. Calls `each_change` after every step and every action and
/// returns the events of steps and actions in order.
fn run_with_random_faults(seed: u64, mut each_change: impl FnMut(&ClientServer)) -> Vec<Event> {
    let mut engine = build(&config(8, 3, 50.0, 100.0), seed);
    let mut reader = SimRng::new(seed ^ 0xfa17);
    let mut events = Vec::new();
    for _ in 0..2_000 {
        if reader.below(15) == 0 {
            let statuses = engine.node_statuses();
            let up: Vec<u32> = statuses.iter().filter(|s| s.up).map(|s| s.id).collect();
            let down: Vec<u32> = statuses.iter().filter(|s| !s.up).map(|s| s.id).collect();
            let pick = |ids: &[u32], reader: &mut SimRng| {
                ids.get(reader.below(ids.len().max(1) as u64) as usize)
                    .copied()
            };
            let action = match reader.below(5) {
                0 => Some(Action::SetClients {
                    clients: 1 + reader.below(30) as u32,
                }),
                1 => Some(Action::SetWorkers {
                    workers: 1 + reader.below(6) as u32,
                }),
                2 | 3 => pick(&up, &mut reader).map(|node| Action::Fault(Fault::Crash { node })),
                _ => pick(&down, &mut reader).map(|node| Action::Fault(Fault::Restart { node })),
            };
            if let Some(action) = action {
                events.extend(apply(&mut engine, &action, seed));
                each_change(&engine);
            }
        }
        events.extend(engine.step());
        each_change(&engine);
    }
    events
}

// A crash loses exactly the request the crashed worker was serving: the other workers keep
// theirs, the queued requests keep their places, and the failed count goes up by one.
#[test]
fn crash_loses_only_the_request_in_service() {
    for seed in 0..20 {
        let mut engine = build(&config(20, 4, 100.0, 0.0), seed);
        run_for(&mut engine, 1_000.0);
        let lost = serving_id(&engine, 1);
        let others: Vec<Option<u64>> = [0, 2, 3].map(|w| serving_id(&engine, w)).to_vec();
        let queued = queue_ids(&engine);

        let events = crash(&mut engine, 1, seed);

        assert!(lost.is_some(), "seed {seed}: worker 1 was idle");
        let crashed = events.first();
        assert!(
            matches!(crashed, Some(Event::WorkerCrashed { worker_id: 1, lost_request_id, .. })
                if *lost_request_id == lost),
            "seed {seed}: {crashed:?}"
        );
        assert_eq!(engine.failed(), 1, "seed {seed}");
        let others_now: Vec<Option<u64>> = [0, 2, 3].map(|w| serving_id(&engine, w)).to_vec();
        assert_eq!(
            others_now, others,
            "seed {seed}: another worker lost its request"
        );
        let queued_now = queue_ids(&engine);
        assert_eq!(
            queued_now[..queued.len()],
            queued[..],
            "seed {seed}: queued requests moved"
        );
        assert_eq!(serving_id(&engine, 1), None, "seed {seed}");
    }
}

// A lost request's client sees the connection reset and sends a new request at once, with a
// new id: to an idle worker if one is up, otherwise to the back of the queue.
#[test]
fn lost_request_is_sent_again_at_once() {
    for seed in 0..20 {
        // One client and two workers: worker 0 takes the request and worker 1 stays idle.
        let mut spare = build(&config(1, 2, 1_000.0, 0.0), seed);
        spare.step();
        let lost = serving_id(&spare, 0);
        let now_ms = spare.now_ms();

        let events = crash(&mut spare, 0, seed);

        assert!(
            lost.is_some(),
            "seed {seed}: worker 0 finished within one step"
        );
        let resent = events.iter().find_map(|event| match event {
            Event::Sent {
                request_id, at_ms, ..
            } => Some((*request_id, *at_ms)),
            _ => None,
        });
        let Some((request_id, at_ms)) = resent else {
            panic!("seed {seed}: the client did not send again: {events:?}");
        };
        assert!(
            Some(request_id) > lost,
            "seed {seed}: the resent id is not new"
        );
        assert_eq!(at_ms, now_ms, "seed {seed}: the client waited");
        assert_eq!(serving_id(&spare, 1), Some(request_id), "seed {seed}");

        // Twenty clients and four busy workers: the new request joins the back of the queue.
        let mut busy = build(&config(20, 4, 100.0, 0.0), seed);
        run_for(&mut busy, 1_000.0);
        let client = busy
            .workers()
            .iter()
            .find(|w| w.id == 2)
            .and_then(|w| w.serving.as_ref())
            .map(|serving| serving.request.client_id);

        crash(&mut busy, 2, seed);

        let back = busy.queue().back();
        assert_eq!(back.map(|r| r.client_id), client, "seed {seed}");
        assert_eq!(
            back.map(|r| r.sent_at_ms),
            Some(busy.now_ms()),
            "seed {seed}"
        );
    }
}

// A crashed worker takes no request and finishes none until it restarts, while the others
// carry on. After the restart it serves again.
#[test]
fn crashed_worker_serves_nothing_until_restart() {
    for seed in 0..20 {
        let mut engine = build(&config(20, 2, 50.0, 0.0), seed);
        run_for(&mut engine, 1_000.0);
        crash(&mut engine, 0, seed);

        let down_events = run_for(&mut engine, 5_000.0);
        let down_state = engine.workers().first().cloned();
        restart(&mut engine, 0, seed);
        let up_events = run_for(&mut engine, 5_000.0);

        let by_worker_0 = |events: &[Event]| {
            events
                .iter()
                .filter(|event| {
                    matches!(
                        event,
                        Event::Started { worker_id: 0, .. } | Event::Completed { worker_id: 0, .. }
                    )
                })
                .count()
        };
        assert_eq!(
            by_worker_0(&down_events),
            0,
            "seed {seed}: worker 0 served while down"
        );
        assert!(
            down_state.is_some_and(|w| !w.up && w.serving.is_none()),
            "seed {seed}: worker 0 is not down and idle"
        );
        assert!(
            down_events
                .iter()
                .any(|e| matches!(e, Event::Completed { worker_id: 1, .. })),
            "seed {seed}: worker 1 stopped too"
        );
        assert!(
            by_worker_0(&up_events) > 0,
            "seed {seed}: worker 0 did not serve again"
        );
    }
}

// A restarted worker is idle, so it takes the head of the queue at the moment it comes back.
#[test]
fn restart_takes_the_head_of_the_queue() {
    for seed in 0..20 {
        let mut engine = build(&config(10, 1, 100.0, 0.0), seed);
        run_for(&mut engine, 1_000.0);
        crash(&mut engine, 0, seed);
        run_for(&mut engine, 1_000.0);
        let queued = queue_ids(&engine);

        let events = restart(&mut engine, 0, seed);

        assert_eq!(queued.len(), 10, "seed {seed}: not every client waits");
        assert!(
            matches!(
                events.first(),
                Some(Event::WorkerRestarted { worker_id: 0, .. })
            ),
            "seed {seed}: {events:?}"
        );
        let started = events.iter().find_map(|event| match event {
            Event::Started {
                request_id,
                worker_id: 0,
                ..
            } => Some(*request_id),
            _ => None,
        });
        assert_eq!(started, queued.first().copied(), "seed {seed}");
        assert_eq!(queue_ids(&engine)[..], queued[1..], "seed {seed}");
    }
}

// A crashed worker's completion is still in the calendar when it comes due. If the worker has
// restarted and taken another request meanwhile, that request must run for its own service
// time: the stale completion ends nothing. Seeds where the stale completion does not fall in an
// earlier step than the new request's completion test nothing here and are skipped. About half
// qualify.
#[test]
fn stale_completion_after_restart_is_ignored() {
    let mut tested = 0;
    for seed in 0..60 {
        let mut engine = build(&config(5, 1, 1_000.0, 0.0), seed);
        engine.step();
        let Some(stale_ms) = engine.workers()[0].serving.as_ref().map(|s| s.done_at_ms) else {
            continue;
        };
        crash(&mut engine, 0, seed);
        restart(&mut engine, 0, seed);
        let Some(fresh) = engine.workers()[0].serving.clone() else {
            panic!("seed {seed}: the restarted worker took nothing from the queue");
        };
        let stale_step_end_ms = (stale_ms / STEP_MS).ceil() * STEP_MS;
        if stale_step_end_ms >= fresh.done_at_ms {
            continue;
        }
        tested += 1;

        let mut early = Vec::new();
        while engine.now_ms() < stale_ms {
            early.extend(engine.step());
        }
        let still_serving = engine.workers()[0].serving.clone();
        let mut events = early.clone();
        while engine.now_ms() < fresh.done_at_ms {
            events.extend(engine.step());
        }

        assert!(
            !early.iter().any(|e| matches!(e, Event::Completed { .. })),
            "seed {seed}: a completion before {} ms: {early:?}",
            fresh.done_at_ms
        );
        assert_eq!(still_serving, Some(fresh.clone()), "seed {seed}");
        let first_completion = events.iter().find_map(|event| match event {
            Event::Completed {
                request_id, at_ms, ..
            } => Some((*request_id, *at_ms)),
            _ => None,
        });
        assert_eq!(
            first_completion,
            Some((fresh.request.id, fresh.done_at_ms)),
            "seed {seed}"
        );
    }
    assert!(
        tested >= 15,
        "only {tested} of 60 seeds had a stale completion first"
    );
}

// Conservation with crashes: every request sent is completed, failed or in flight, so
// sent = completed + failed + in flight after every step and action, whatever the reader
// crashes, restarts or resizes. In the trace each request ends at most once, either completed
// or lost, and a lost request never completes.
#[test]
fn requests_are_conserved_with_crashes() {
    for seed in 0..100 {
        let mut counts_agree = true;
        let mut failed = 0;
        let mut engine_in_server = BTreeSet::new();
        let events = run_with_random_faults(seed, |engine| {
            counts_agree &=
                engine.sent() == engine.completed() + engine.failed() + engine.in_flight() as u64;
            failed = engine.failed();
            let queued = engine.queue().iter().map(|request| request.id);
            let serving = engine.workers().iter().filter_map(|w| w.serving.as_ref());
            engine_in_server = queued.chain(serving.map(|s| s.request.id)).collect();
        });

        let mut unanswered = BTreeSet::new();
        let mut ended = BTreeSet::new();
        let mut lost = 0;
        for event in &events {
            match event {
                Event::Sent { request_id, .. } => {
                    assert!(
                        unanswered.insert(*request_id),
                        "seed {seed}: {request_id} sent twice"
                    );
                }
                Event::Completed { request_id, .. }
                | Event::WorkerCrashed {
                    lost_request_id: Some(request_id),
                    ..
                } => {
                    assert!(
                        unanswered.remove(request_id),
                        "seed {seed}: {request_id} ended without being in flight"
                    );
                    assert!(
                        ended.insert(*request_id),
                        "seed {seed}: {request_id} ended twice"
                    );
                    lost += u64::from(matches!(event, Event::WorkerCrashed { .. }));
                }
                _ => {}
            }
        }
        assert!(
            counts_agree,
            "seed {seed}: sent != completed + failed + in flight after some change"
        );
        assert_eq!(
            lost, failed,
            "seed {seed}: failed count disagrees with the trace"
        );
        assert_eq!(engine_in_server, unanswered, "seed {seed}");
    }
}

// Client states, worker states and the config stay consistent under crashes: a queued client's
// request is in the queue, a client in service names an up worker serving its request, a down
// worker serves nothing, and the config counts every worker that is not retiring.
#[test]
fn states_stay_consistent_with_crashes() {
    for seed in 0..30 {
        let mut consistent = true;
        run_with_random_faults(seed, |engine| {
            for client in engine.clients() {
                consistent &= match client.state {
                    ClientState::Thinking { .. } => !client.leaving,
                    ClientState::Queued { request_id } => {
                        engine.queue().iter().any(|r| r.id == request_id)
                    }
                    ClientState::InService {
                        request_id,
                        worker_id,
                    } => engine.workers().iter().any(|w| {
                        w.id == worker_id
                            && w.up
                            && w.serving
                                .as_ref()
                                .is_some_and(|s| s.request.id == request_id)
                    }),
                };
            }
            for worker in engine.workers() {
                consistent &= worker.up || (worker.serving.is_none() && !worker.retiring);
            }
            let active = engine.workers().iter().filter(|w| !w.retiring).count();
            consistent &= active == engine.config().workers as usize;
            consistent &= engine.in_flight() <= engine.clients().len();
        });

        assert!(
            consistent,
            "seed {seed}: a state disagrees after some change"
        );
    }
}

// Crashing every worker is allowed. Nothing completes, clients keep sending, and their requests
// pile up in the queue until every client waits. A restart lets them through again.
#[test]
fn crashing_all_workers_grows_the_queue() {
    for seed in 0..10 {
        let mut engine = build(&config(8, 2, 100.0, 200.0), seed);
        run_for(&mut engine, 2_000.0);
        let completed = engine.completed();
        crash(&mut engine, 0, seed);
        crash(&mut engine, 1, seed);

        let mut lengths = vec![engine.queue().len()];
        for _ in 0..500 {
            engine.step();
            lengths.push(engine.queue().len());
        }
        let snapshot = engine.snapshot();
        restart(&mut engine, 1, seed);
        run_for(&mut engine, 2_000.0);

        assert!(
            lengths.windows(2).all(|pair| pair[1] >= pair[0]),
            "seed {seed}: the queue shrank with no worker up"
        );
        assert_eq!(
            lengths.last(),
            Some(&8),
            "seed {seed}: not every client waits"
        );
        assert!(
            engine.capacity_per_s() > 0.0,
            "seed {seed}: no capacity after the restart"
        );
        let busy = snapshot.metric("busy").map(|metric| metric.text.clone());
        assert_eq!(busy.as_deref(), Some("0 of 0 up"), "seed {seed}");
        assert!(
            engine.completed() > completed,
            "seed {seed}: no completion after the restart"
        );
    }
}

// Capacity counts only up workers: 3 of 4 workers at 100 ms give 30 requests/s, and none up
// give 0.
#[test]
fn capacity_counts_only_up_workers() {
    let mut engine = build(&config(8, 4, 100.0, 200.0), 1);

    crash(&mut engine, 0, 1);
    let three_up = engine.capacity_per_s();
    for worker in 1..4 {
        crash(&mut engine, worker, 1);
    }

    assert_eq!(three_up, 30.0);
    assert_eq!(engine.capacity_per_s(), 0.0);
}

// The snapshot reports the failed count and busy workers out of those up.
#[test]
fn snapshot_reports_failed_and_up_workers() {
    let mut engine = build(&config(20, 3, 100.0, 0.0), 4);
    run_for(&mut engine, 1_000.0);

    crash(&mut engine, 2, 4);
    let snapshot = engine.snapshot();

    let failed = snapshot.metric("failed");
    assert_eq!(failed.map(|metric| metric.value), Some(1.0));
    assert_eq!(failed.map(|metric| metric.label), Some("Failed (crash)"));
    let busy = snapshot.metric("busy").map(|metric| metric.text.clone());
    assert_eq!(busy.as_deref(), Some("2 of 2 up"));
}

// Removing workers takes down ones first, newest first and at once, so the up workers stay.
#[test]
fn removing_workers_takes_down_ones_first() {
    let mut engine = build(&config(20, 4, 100.0, 0.0), 2);
    run_for(&mut engine, 1_000.0);
    crash(&mut engine, 1, 2);
    crash(&mut engine, 3, 2);

    let events = apply(&mut engine, &Action::SetWorkers { workers: 2 }, 2);

    let removed: Vec<u32> = events
        .iter()
        .filter_map(|event| match event {
            Event::WorkerRemoved { worker_id, .. } => Some(*worker_id),
            _ => None,
        })
        .collect();
    assert_eq!(removed, [3, 1]);
    let left: Vec<(u32, bool)> = engine.workers().iter().map(|w| (w.id, w.up)).collect();
    assert_eq!(left, [(0, true), (2, true)]);
}

// A retiring worker would leave after its request. When it crashes instead, the request is lost
// and the worker leaves at once.
#[test]
fn crashed_retiring_worker_leaves_at_once() {
    let mut engine = build(&config(20, 4, 100.0, 0.0), 6);
    run_for(&mut engine, 1_000.0);
    apply(&mut engine, &Action::SetWorkers { workers: 1 }, 6);

    let events = crash(&mut engine, 3, 6);

    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::WorkerRemoved { worker_id: 3, .. })),
        "{events:?}"
    );
    assert_eq!(engine.failed(), 1);
    assert!(engine.workers().iter().all(|w| w.id != 3));
}

// Impossible faults return an error and leave the engine as it was: an unknown worker,
// restarting an up worker, crashing a down one, and fault kinds this engine does not have.
#[test]
fn invalid_faults_are_rejected() {
    let faults = [
        Fault::Crash { node: 9 },
        Fault::Restart { node: 9 },
        Fault::Restart { node: 0 },
        Fault::Crash { node: 1 },
        Fault::Partition {
            groups: vec![vec![0], vec![1]],
        },
        Fault::Heal,
        Fault::DropMessages { probability: 0.5 },
        Fault::DelayMessages { ms: 10.0 },
        Fault::FailDependency { failing: true },
    ];
    for fault in faults {
        let mut engine = build(&config(10, 2, 100.0, 0.0), 1);
        run_for(&mut engine, 1_000.0);
        crash(&mut engine, 1, 1);
        let before = format!(
            "{:?} {:?} {:?} {}",
            engine.workers(),
            engine.clients(),
            engine.queue(),
            engine.sent()
        );

        let result = engine.apply(&Action::Fault(fault.clone()));

        assert!(result.is_err(), "{fault:?} accepted");
        let after = format!(
            "{:?} {:?} {:?} {}",
            engine.workers(),
            engine.clients(),
            engine.queue(),
            engine.sent()
        );
        assert_eq!(after, before, "{fault:?} changed the engine");
    }
}

// Error messages name the worker and say what to do.
#[test]
fn fault_errors_name_the_worker() {
    let mut engine = build(&config(4, 2, 100.0, 400.0), 1);

    let unknown = engine.apply(&Action::Fault(Fault::Crash { node: 7 }));
    let up = engine.apply(&Action::Fault(Fault::Restart { node: 1 }));

    assert_eq!(
        unknown.err().map(|err| err.0),
        Some("cannot crash worker 7: not found. Worker ids are [0, 1].".to_string())
    );
    assert_eq!(
        up.err().map(|err| err.0),
        Some("cannot restart worker 1: it is up. Crash it first.".to_string())
    );
}

// Determinism with faults: the same seed and the same schedule of crashes, restarts and other
// actions give the same serialized trace.
#[test]
fn same_seed_and_faults_give_same_trace() {
    for seed in 0..5 {
        let first = serde_json::to_string(&run_with_random_faults(seed, |_| {}));
        let second = serde_json::to_string(&run_with_random_faults(seed, |_| {}));

        assert!(first.is_ok(), "seed {seed}: trace does not serialize");
        assert_eq!(first.ok(), second.ok(), "seed {seed}");
    }
}
