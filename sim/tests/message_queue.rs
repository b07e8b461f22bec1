//! Invariants of the message queue engine: conservation of messages, depth growth when consumers
//! fall behind, redelivery after a crash, the length limit, FIFO order, direct calls, and
//! determinism.

use sim::Engine;
use sim::faults::Fault;
use sim::message_queue::{
    Action, Event, LATENCY_WINDOW_MS, MessageQueue, MessageQueueConfig, Mode, Overflow,
    RejectReason, STEP_MS,
};

fn build(config: &MessageQueueConfig, seed: u64) -> MessageQueue {
    match MessageQueue::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: {config:?} rejected: {err}"),
    }
}

fn run_for(engine: &mut MessageQueue, ms: f64) -> Vec<Event> {
    let steps = (ms / STEP_MS).ceil() as u64;
    let mut events = Vec::new();
    for _ in 0..steps {
        events.extend(engine.step());
    }
    events
}

fn apply(engine: &mut MessageQueue, action: &Action, seed: u64) -> Vec<Event> {
    match engine.apply(action) {
        Ok(events) => events,
        Err(err) => panic!("seed {seed}: {action:?} rejected: {err}"),
    }
}

/// Checks published = acked + ready + unacked + dropped + rejected.
fn assert_conserved(engine: &MessageQueue, context: &str) {
    let counts = engine.counts();
    let accounted = counts.acked
        + engine.depth() as u64
        + engine.unacked().len() as u64
        + counts.dropped
        + counts.rejected;
    assert_eq!(counts.published, accounted, "{context}: {counts:?}");
}

/// Runs a default queue with bursts, rate changes, consumer changes and crashes drawn from the
/// seed, and returns the whole trace.
fn run_with_random_actions(seed: u64, config: &MessageQueueConfig) -> Vec<Event> {
    let mut engine = build(config, seed);
    let mut chooser = sim::rng::SimRng::new(seed ^ 0x9e37);
    let mut trace = Vec::new();
    for round in 0..60 {
        trace.extend(run_for(&mut engine, 500.0));
        let action = match chooser.below(7) {
            0 => Action::Burst {
                count: 1 + chooser.below(40) as u32,
            },
            1 => Action::AddConsumer,
            2 => Action::RemoveConsumer,
            3 => Action::SetPublishRate {
                publish_per_s: chooser.uniform() * 30.0,
            },
            4 => Action::SetProcessTime {
                process_ms: 50.0 + chooser.uniform() * 3000.0,
            },
            5 => {
                let ids: Vec<u32> = engine.consumers().iter().map(|c| c.id).collect();
                let node = ids[chooser.below(ids.len() as u64) as usize];
                Action::Fault(Fault::Crash { node })
            }
            _ => {
                let ids: Vec<u32> = engine.consumers().iter().map(|c| c.id).collect();
                let node = ids[chooser.below(ids.len() as u64) as usize];
                Action::Fault(Fault::Restart { node })
            }
        };
        // Some actions are invalid in the current state (crash a crashed consumer); that is fine.
        if let Ok(events) = engine.apply(&action) {
            trace.extend(events);
        }
        assert_conserved(&engine, &format!("seed {seed}, round {round}"));
    }
    trace
}

// Invariant: every published message is, at every moment, in exactly one place: acked, ready in
// the queue, unacked with a consumer, dropped by a full queue, or rejected back to the producer.
#[test]
fn every_published_message_is_acked_or_queued_or_dropped() {
    let limited = MessageQueueConfig {
        max_len: 20,
        ..MessageQueueConfig::default()
    };
    let rejecting = MessageQueueConfig {
        overflow: Overflow::RejectPublish,
        ..limited.clone()
    };
    let direct = MessageQueueConfig {
        mode: Mode::Direct,
        ..MessageQueueConfig::default()
    };

    for seed in 0..20 {
        for config in [
            &MessageQueueConfig::default(),
            &limited,
            &rejecting,
            &direct,
        ] {
            run_with_random_actions(seed, config);
        }
    }
}

// Invariant: when producers publish faster than consumers can process, the queue depth grows by
// the difference of the rates. 10 msg/s in, 2 consumers at 250 ms = 8/s out, so after 60 s the
// depth is about 120. Arrivals are Poisson (standard deviation about 25 over 60 s), so each seed
// must exceed 30 and the mean over 50 seeds must be within 15% of 120 (about 5 standard errors).
#[test]
fn depth_grows_when_consumers_are_slower_than_producers() {
    let config = MessageQueueConfig {
        max_len: 0,
        ..MessageQueueConfig::default()
    };
    let mut total = 0.0;

    for seed in 0..50 {
        let mut engine = build(&config, seed);

        run_for(&mut engine, 60_000.0);

        let depth = engine.depth();
        assert!(depth > 30, "seed {seed}: depth {depth}");
        total += depth as f64;
    }

    let mean = total / 50.0;
    assert!((mean - 120.0).abs() <= 18.0, "mean depth {mean}");
}

// Invariant: with enough consumers (3 at 250 ms = 12/s for 10/s in) the depth stays small.
#[test]
fn depth_stays_small_when_consumers_keep_up() {
    let config = MessageQueueConfig {
        consumers: 3,
        max_len: 0,
        ..MessageQueueConfig::default()
    };

    for seed in 0..50 {
        let mut engine = build(&config, seed);

        run_for(&mut engine, 20_000.0);

        assert!(engine.depth() < 20, "seed {seed}: depth {}", engine.depth());
    }
}

// Invariant: the latency percentiles cover only the acks of the last LATENCY_WINDOW_MS, so p95
// climbs while a backlog builds and falls back below 1.5 s once added consumers drain it.
#[test]
fn latency_recovers_after_backlog_drains() {
    for seed in 0..10 {
        let mut engine = build(&MessageQueueConfig::default(), seed);
        run_for(&mut engine, 30_000.0);
        let backlog_p95 = engine.latency_percentiles().map_or(0.0, |p| p.p95_ms);

        apply(&mut engine, &Action::AddConsumer, seed);
        apply(&mut engine, &Action::AddConsumer, seed);
        run_for(&mut engine, 30_000.0);
        let drained_p95 = engine
            .latency_percentiles()
            .map_or(f64::INFINITY, |p| p.p95_ms);

        assert!(
            backlog_p95 > 3_000.0,
            "seed {seed}: p95 {backlog_p95} ms with a backlog"
        );
        assert!(
            drained_p95 < 1_500.0,
            "seed {seed}: p95 {drained_p95} ms after draining"
        );
    }
}

// Invariant: the percentiles forget an ack once it is LATENCY_WINDOW_MS old, so with no
// publishes they are empty a window after the last ack.
#[test]
fn latency_window_forgets_old_acks() {
    let mut engine = build(&MessageQueueConfig::default(), 1);
    run_for(&mut engine, 5_000.0);
    apply(
        &mut engine,
        &Action::SetPublishRate { publish_per_s: 0.0 },
        1,
    );
    // Step until the last message is acked, at most 20 s.
    for _ in 0..400 {
        if engine.depth() + engine.unacked().len() == 0 {
            break;
        }
        engine.step();
    }
    let drained = engine.depth() + engine.unacked().len();
    let at_last_ack = engine.latency_percentiles();

    run_for(&mut engine, LATENCY_WINDOW_MS);

    assert_eq!(drained, 0, "the queue drains with no publishes");
    assert!(at_last_ack.is_some(), "the last acks are in the window");
    assert_eq!(engine.latency_percentiles(), None);
}

// Invariant: a message held by a consumer that crashes is not lost. After the ack timeout it is
// delivered again, with the redelivered flag, and acked by a live consumer.
#[test]
fn crashed_consumer_message_is_redelivered() {
    let config = MessageQueueConfig {
        publish_per_s: 0.0,
        ..MessageQueueConfig::default()
    };
    let mut engine = build(&config, 1);
    apply(&mut engine, &Action::Burst { count: 1 }, 1);
    let crash = apply(&mut engine, &Action::Fault(Fault::Crash { node: 1 }), 1);

    let events = run_for(&mut engine, config.ack_timeout_ms + 1000.0);

    assert!(
        matches!(
            crash.as_slice(),
            [Event::ConsumerCrashed {
                in_flight: Some(1),
                ..
            }]
        ),
        "{crash:?}"
    );
    let requeued = events
        .iter()
        .find_map(|e| match e {
            Event::Requeued { at_ms, message: 1 } => Some(*at_ms),
            _ => None,
        })
        .unwrap_or(f64::NAN);
    assert_eq!(requeued, config.ack_timeout_ms, "{events:?}");
    let redelivery = events.iter().any(|e| {
        matches!(
            e,
            Event::Delivered {
                message: 1,
                consumer: 2,
                redelivered: true,
                ..
            }
        )
    });
    assert!(redelivery, "{events:?}");
    assert_eq!(engine.counts().acked, 1);
    assert_eq!(engine.counts().redelivered, 1);
}

// Invariant: an ack that arrives after the ack timeout is ignored, because the message went back
// to the queue; the message is acked once, by the later delivery.
#[test]
fn late_ack_is_ignored_and_message_acked_once() {
    let config = MessageQueueConfig {
        publish_per_s: 0.0,
        process_ms: 3000.0,
        ack_timeout_ms: 1000.0,
        ..MessageQueueConfig::default()
    };
    let mut engine = build(&config, 1);
    apply(&mut engine, &Action::Burst { count: 1 }, 1);

    let events = run_for(&mut engine, 10_000.0);

    let late = events
        .iter()
        .filter(|e| matches!(e, Event::LateAck { .. }))
        .count();
    assert!(late >= 1, "{events:?}");
    assert_eq!(engine.counts().acked, 0, "{events:?}");
    assert_conserved(&engine, "late ack");
}

// Invariant: the queue never contains more than `max_len` messages, ready and unacked together,
// under either overflow policy and through crashes and bursts.
#[test]
fn queue_never_exceeds_its_limit() {
    for overflow in [Overflow::DropOldest, Overflow::RejectPublish] {
        let config = MessageQueueConfig {
            max_len: 15,
            overflow,
            publish_per_s: 40.0,
            ..MessageQueueConfig::default()
        };
        for seed in 0..20 {
            let mut engine = build(&config, seed);
            apply(&mut engine, &Action::Fault(Fault::Crash { node: 1 }), seed);
            for round in 0..100 {
                if round % 10 == 0 {
                    apply(&mut engine, &Action::Burst { count: 30 }, seed);
                }
                run_for(&mut engine, 200.0);

                assert!(
                    engine.held() <= 15,
                    "seed {seed} {overflow:?}: held {}",
                    engine.held()
                );
            }
        }
    }
}

// Invariant: a full queue with reject_publish rejects the new message with the reason QueueFull; with
// drop_oldest it discards the oldest ready message instead.
#[test]
fn full_queue_rejects_or_drops_oldest() {
    let quiet = MessageQueueConfig {
        publish_per_s: 0.0,
        consumers: 1,
        max_len: 3,
        ..MessageQueueConfig::default()
    };
    let mut rejecting = build(
        &MessageQueueConfig {
            overflow: Overflow::RejectPublish,
            ..quiet.clone()
        },
        1,
    );
    let mut dropping = build(&quiet, 1);

    let rejected = apply(&mut rejecting, &Action::Burst { count: 4 }, 1);
    let dropped = apply(&mut dropping, &Action::Burst { count: 4 }, 1);

    assert!(
        rejected.iter().any(|e| matches!(
            e,
            Event::Rejected {
                message: 4,
                reason: RejectReason::QueueFull,
                ..
            }
        )),
        "{rejected:?}"
    );
    // Message 1 is with the consumer, so 2 is the oldest ready one.
    assert!(
        dropped
            .iter()
            .any(|e| matches!(e, Event::Dropped { message: 2, .. })),
        "{dropped:?}"
    );
}

// Invariant: with one consumer and no crashes, messages are acked in the order they were
// published.
#[test]
fn fifo_order_with_one_consumer() {
    let config = MessageQueueConfig {
        consumers: 1,
        max_len: 0,
        ..MessageQueueConfig::default()
    };

    for seed in 0..10 {
        let mut engine = build(&config, seed);
        apply(&mut engine, &Action::Burst { count: 20 }, seed);
        let acked: Vec<u64> = run_for(&mut engine, 30_000.0)
            .iter()
            .filter_map(|e| match e {
                Event::Acked { message, .. } => Some(*message),
                _ => None,
            })
            .collect();

        assert!(acked.len() > 20, "seed {seed}: only {} acked", acked.len());
        assert!(
            acked.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: {acked:?}"
        );
    }
}

// Invariant: in direct mode the producer fails when every consumer is busy or down, where a queue
// would have buffered the message. With both consumers crashed every call fails.
#[test]
fn direct_calls_fail_when_consumers_are_down() {
    let config = MessageQueueConfig {
        mode: Mode::Direct,
        ..MessageQueueConfig::default()
    };
    let mut engine = build(&config, 3);
    apply(&mut engine, &Action::Fault(Fault::Crash { node: 1 }), 3);
    apply(&mut engine, &Action::Fault(Fault::Crash { node: 2 }), 3);

    run_for(&mut engine, 5000.0);

    let counts = engine.counts();
    assert!(counts.published > 20, "{counts:?}");
    assert_eq!(counts.rejected, counts.published, "{counts:?}");
}

// Invariant: the same load through a queue loses nothing while direct calls fail. 10 msg/s on two
// consumers that can do 8/s: over 10 s the queue rejects none, direct calls reject over 10%.
#[test]
fn queue_absorbs_what_direct_calls_reject() {
    for seed in 0..20 {
        let queued = MessageQueueConfig {
            max_len: 0,
            ..MessageQueueConfig::default()
        };
        let direct = MessageQueueConfig {
            mode: Mode::Direct,
            ..queued.clone()
        };
        let mut queue = build(&queued, seed);
        let mut call = build(&direct, seed);

        run_for(&mut queue, 10_000.0);
        run_for(&mut call, 10_000.0);

        assert_eq!(queue.counts().rejected, 0, "seed {seed}");
        let failed = call.counts().rejected as f64 / call.counts().published.max(1) as f64;
        assert!(failed > 0.1, "seed {seed}: {failed}");
    }
}

// Invariant: the same seed, configuration and actions give the same serialized trace.
#[test]
fn determinism() {
    for seed in 0..5 {
        let config = MessageQueueConfig::default();
        let first = serde_json::to_string(&run_with_random_actions(seed, &config));
        let second = serde_json::to_string(&run_with_random_actions(seed, &config));

        assert!(first.is_ok(), "seed {seed}: trace does not serialize");
        assert_eq!(first.ok(), second.ok(), "seed {seed}");
    }
}
