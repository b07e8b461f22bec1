//! Message queue: producers publish, a queue buffers, consumers process and ack.
//!
//! Producers publish as a Poisson process at `publish_per_s`. In [`Mode::Queue`]
//! each message waits in a FIFO queue until an idle consumer takes it; the
//! consumer processes it for `process_ms` and then acks it. A delivered message
//! stays unacked (in flight) until its ack arrives or `ack_timeout_ms` passes,
//! whichever is first; on timeout it returns to the head of the queue and is
//! delivered again with its redelivered flag set. That is how a message held by
//! a crashed consumer survives: delivery is at least once, not exactly once.
//! The timeout works like the visibility timeout of Amazon SQS; RabbitMQ
//! instead requeues when it sees the consumer's connection close.
//!
//! `max_len` caps the messages the queue holds, ready and unacked together, so
//! returning an unacked message never overfills it. NOTE: RabbitMQ's length
//! limit counts ready messages only; counting both keeps this limit exact. When the queue is full,
//! [`Overflow::DropOldest`] discards the oldest ready message to make room and
//! [`Overflow::RejectPublish`] rejects the new one, so the producer gets an error.
//!
//! [`Mode::Direct`] removes the queue: each publish is a synchronous call that an
//! idle consumer must take at once, so a call fails when every consumer is busy
//! or down, and a call in progress fails when its consumer crashes.
//!
//! Within a step, arrivals, completions and ack timeouts are handled one at a
//! time in order of their exact times, so results do not depend on `STEP_MS`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{LatencyHistogram, Metric, Percentiles, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Largest burst one [`Action::Burst`] may publish.
pub const MAX_BURST: u32 = 1000;

/// Most consumers the queue may have at once.
pub const MAX_CONSUMERS: u32 = 8;

/// Largest `max_len`; 0 means no limit.
pub const MAX_QUEUE_LEN: u32 = 10_000;

/// Largest publish rate, in messages per second.
pub const MAX_PUBLISH_PER_S: f64 = 200.0;

/// Window of acks that the latency percentiles cover, in milliseconds, so that they fall
/// again once a backlog drains.
pub const LATENCY_WINDOW_MS: f64 = 10_000.0;

/// Whether producers and consumers talk through a queue or call each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Producers publish to a queue and move on; consumers take messages when free.
    #[default]
    Queue,
    /// Producers call a consumer synchronously and fail if none is free.
    Direct,
}

/// Policy of a full queue for a new message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Discards the oldest ready message and keeps the new one.
    #[default]
    DropOldest,
    /// Rejects the new message, and the producer gets the error.
    RejectPublish,
}

/// Parameters of the message queue widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageQueueConfig {
    /// Queue between producer and consumers, or direct synchronous calls.
    pub mode: Mode,
    /// Mean publish rate (Poisson), messages per second, 0 to 200.
    pub publish_per_s: f64,
    /// Consumers at the start, 1 to [`MAX_CONSUMERS`].
    pub consumers: u32,
    /// Time each consumer spends on one message, in milliseconds.
    pub process_ms: f64,
    /// Most messages the queue holds, ready and unacked; 0 for no limit.
    pub max_len: u32,
    /// Policy of a full queue for a new message.
    pub overflow: Overflow,
    /// Time after a delivery before an unacked message returns to the queue, in milliseconds.
    pub ack_timeout_ms: f64,
}

impl Default for MessageQueueConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Queue,
            publish_per_s: 10.0,
            consumers: 2,
            process_ms: 250.0,
            max_len: 100,
            overflow: Overflow::DropOldest,
            ack_timeout_ms: 2000.0,
        }
    }
}

impl Config for MessageQueueConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_f64("publish_per_s", self.publish_per_s, 0.0, MAX_PUBLISH_PER_S)?;
        ConfigError::check_range_u32("consumers", self.consumers, 1, MAX_CONSUMERS)?;
        ConfigError::check_range_f64("process_ms", self.process_ms, 1.0, 60_000.0)?;
        ConfigError::check_range_u32("max_len", self.max_len, 0, MAX_QUEUE_LEN)?;
        ConfigError::check_range_f64("ack_timeout_ms", self.ack_timeout_ms, 100.0, 600_000.0)?;
        Ok(())
    }
}

/// Reader actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Changes the publish rate of the running system.
    SetPublishRate {
        /// Messages per second, 0 to [`MAX_PUBLISH_PER_S`].
        publish_per_s: f64,
    },
    /// Changes every consumer's processing time, from the next message on.
    SetProcessTime {
        /// Milliseconds per message, 1 to 60,000.
        process_ms: f64,
    },
    /// Publishes `count` messages at the current instant.
    Burst {
        /// Number of messages, 1 to [`MAX_BURST`].
        count: u32,
    },
    /// Starts one more consumer.
    AddConsumer,
    /// Stops the newest consumer cleanly: a message in hand goes back to the queue at once.
    RemoveConsumer,
    /// Crashes or restarts a consumer.
    Fault(Fault),
}

/// Reason a producer's publish or call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The queue was full and its overflow is [`Overflow::RejectPublish`].
    QueueFull,
    /// Direct mode: no consumer was up and idle to take the call.
    NoConsumer,
    /// Direct mode: the consumer crashed during the call.
    ConsumerCrashed,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The queue accepted a message.
    Published {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The message id, counting from 1 in publish order.
        message: u64,
    },
    /// The queue or the consumer rejected a message, and the producer got the error.
    Rejected {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The message id.
        message: u64,
        /// Reason for the rejection.
        reason: RejectReason,
    },
    /// A full queue discarded its oldest ready message without notifying anyone.
    Dropped {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The discarded message.
        message: u64,
    },
    /// A consumer took a message.
    Delivered {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The message id.
        message: u64,
        /// The consumer's id.
        consumer: u32,
        /// Whether the message was delivered before (the redelivered flag).
        redelivered: bool,
    },
    /// A consumer finished a message and acked it, so the queue deleted it.
    Acked {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The message id.
        message: u64,
        /// The consumer's id.
        consumer: u32,
        /// Time from publish to ack, in milliseconds.
        latency_ms: f64,
    },
    /// A consumer finished a message whose ack timeout had already passed, so the
    /// ack is ignored: the message was requeued and is processed again.
    LateAck {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The message id.
        message: u64,
        /// The consumer's id.
        consumer: u32,
    },
    /// An unacked message's ack timeout passed and it went back to the queue head.
    Requeued {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The message id.
        message: u64,
    },
    /// A consumer started.
    ConsumerAdded {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The consumer's id.
        consumer: u32,
    },
    /// A consumer stopped cleanly.
    ConsumerRemoved {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The consumer's id.
        consumer: u32,
        /// The message it had in hand, returned to the queue head.
        requeued: Option<u64>,
    },
    /// A consumer crashed.
    ConsumerCrashed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The consumer's id.
        consumer: u32,
        /// The message it had in hand, unacked until its ack timeout.
        in_flight: Option<u64>,
    },
    /// A crashed consumer started again, with nothing in hand.
    ConsumerRestarted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The consumer's id.
        consumer: u32,
    },
}

/// One message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Message {
    /// Id, counting from 1 in publish order.
    pub id: u64,
    /// Simulated publish time in milliseconds.
    pub published_ms: f64,
    /// Deliveries so far.
    pub deliveries: u32,
}

/// A message a consumer is processing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Work {
    /// The message id.
    pub message: u64,
    /// The delivery this work belongs to.
    pub delivery: u64,
    /// When processing ends, in milliseconds.
    pub done_ms: f64,
}

/// One consumer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Consumer {
    /// Id, counting from 1; ids are never reused.
    pub id: u32,
    /// Whether it is running.
    pub up: bool,
    /// The message in hand, if any.
    pub work: Option<Work>,
    /// Messages it acked.
    pub acked: u64,
}

/// A delivered message waiting for its ack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Unacked {
    /// The message.
    pub message: Message,
    /// The delivery, so that an ack for an older delivery is ignored.
    pub delivery: u64,
    /// When the message returns to the queue if no ack came, in milliseconds.
    pub deadline_ms: f64,
}

/// Message counters since the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Messages producers sent, accepted or not.
    pub published: u64,
    /// Deliveries to consumers, first deliveries and redeliveries.
    pub delivered: u64,
    /// Messages acked. An ack counts only for the current delivery, so each message once at most.
    pub acked: u64,
    /// Deliveries of a message that was delivered before.
    pub redelivered: u64,
    /// Messages a full queue discarded.
    pub dropped: u64,
    /// Publishes or direct calls that failed with an error to the producer.
    pub rejected: u64,
}

/// The next thing that happens, in the order ties are handled.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Next {
    Done(usize),
    Timeout(usize),
    Arrival,
}

/// The message queue engine.
#[derive(Debug, Clone)]
pub struct MessageQueue {
    config: MessageQueueConfig,
    rng: SimRng,
    now_ms: f64,
    next_arrival_ms: f64,
    next_message: u64,
    next_delivery: u64,
    next_consumer: u32,
    ready: VecDeque<Message>,
    unacked: Vec<Unacked>,
    consumers: Vec<Consumer>,
    counts: Counts,
    /// `(ack time, publish-to-ack latency)` of the acks within the last [`LATENCY_WINDOW_MS`].
    recent_latency: VecDeque<(f64, f64)>,
}

impl MessageQueue {
    /// Returns the configuration, with the live publish rate and processing time.
    pub fn config(&self) -> &MessageQueueConfig {
        &self.config
    }

    /// Returns the ready messages, oldest (next to deliver) first.
    pub fn ready(&self) -> impl ExactSizeIterator<Item = &Message> + '_ {
        self.ready.iter()
    }

    /// Returns the delivered messages that wait for an ack.
    pub fn unacked(&self) -> &[Unacked] {
        &self.unacked
    }

    /// Returns the queue depth: messages ready for delivery.
    pub fn depth(&self) -> usize {
        self.ready.len()
    }

    /// Returns the messages the queue holds, ready and unacked, which `max_len` caps.
    pub fn held(&self) -> usize {
        self.ready.len() + self.unacked.len()
    }

    /// Returns the consumers, removed ones excluded, in id order.
    pub fn consumers(&self) -> &[Consumer] {
        &self.consumers
    }

    /// Returns the counters since the start.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Returns the age of the oldest message the queue holds, or `None` when empty.
    pub fn oldest_age_ms(&self) -> Option<f64> {
        let ready = self.ready.iter().map(|m| m.published_ms);
        let unacked = self.unacked.iter().map(|u| u.message.published_ms);
        ready
            .chain(unacked)
            .reduce(f64::min)
            .map(|published| self.now_ms - published)
    }

    /// Returns publish-to-ack latency percentiles of the acks in the last
    /// [`LATENCY_WINDOW_MS`], or `None` when there were none.
    pub fn latency_percentiles(&self) -> Option<Percentiles> {
        let mut histogram = LatencyHistogram::new();
        for &(_, latency_ms) in &self.recent_latency {
            histogram.record_ms(latency_ms);
        }
        histogram.percentiles()
    }

    /// Forgets the acks older than [`LATENCY_WINDOW_MS`].
    fn trim_latency_window(&mut self) {
        let cutoff = self.now_ms - LATENCY_WINDOW_MS;
        while self
            .recent_latency
            .front()
            .is_some_and(|&(at_ms, _)| at_ms <= cutoff)
        {
            self.recent_latency.pop_front();
        }
    }

    fn next_gap_ms(&mut self) -> f64 {
        if self.config.publish_per_s > 0.0 {
            self.rng.exponential(1000.0 / self.config.publish_per_s)
        } else {
            f64::INFINITY
        }
    }

    /// Finds the earliest completion, ack timeout or arrival at or before `end_ms`.
    fn next_due(&self, end_ms: f64) -> Option<(f64, Next)> {
        let mut best: Option<(f64, Next)> = None;
        let mut consider = |at: f64, next: Next| {
            if at <= end_ms && best.is_none_or(|(t, _)| at < t) {
                best = Some((at, next));
            }
        };
        for (index, consumer) in self.consumers.iter().enumerate() {
            if let Some(work) = consumer.work {
                consider(work.done_ms, Next::Done(index));
            }
        }
        for (index, unacked) in self.unacked.iter().enumerate() {
            consider(unacked.deadline_ms, Next::Timeout(index));
        }
        consider(self.next_arrival_ms, Next::Arrival);
        best
    }

    /// Publishes one message at `at_ms`.
    fn publish(&mut self, at_ms: f64, events: &mut Vec<Event>) {
        self.counts.published += 1;
        let message = Message {
            id: self.next_message,
            published_ms: at_ms,
            deliveries: 0,
        };
        self.next_message += 1;

        if self.config.mode == Mode::Direct {
            match self.idle_consumer() {
                Some(index) => {
                    events.push(Event::Published {
                        at_ms,
                        message: message.id,
                    });
                    self.deliver(index, message, at_ms, events);
                }
                None => self.reject(at_ms, message.id, RejectReason::NoConsumer, events),
            }
            return;
        }

        let limit = self.config.max_len as usize;
        if limit > 0 && self.held() >= limit {
            match self.config.overflow {
                Overflow::RejectPublish => {
                    self.reject(at_ms, message.id, RejectReason::QueueFull, events);
                    return;
                }
                Overflow::DropOldest => {
                    // Every held message may be unacked; then the new one has no room.
                    let dropped = self.ready.pop_front().map_or(message.id, |m| m.id);
                    self.counts.dropped += 1;
                    events.push(Event::Dropped {
                        at_ms,
                        message: dropped,
                    });
                    if dropped == message.id {
                        return;
                    }
                }
            }
        }
        self.ready.push_back(message);
        events.push(Event::Published {
            at_ms,
            message: message.id,
        });
        self.dispatch(at_ms, events);
    }

    fn reject(&mut self, at_ms: f64, message: u64, reason: RejectReason, events: &mut Vec<Event>) {
        self.counts.rejected += 1;
        events.push(Event::Rejected {
            at_ms,
            message,
            reason,
        });
    }

    fn idle_consumer(&self) -> Option<usize> {
        self.consumers
            .iter()
            .position(|consumer| consumer.up && consumer.work.is_none())
    }

    /// Hands ready messages to idle consumers, lowest id first, in FIFO order.
    fn dispatch(&mut self, at_ms: f64, events: &mut Vec<Event>) {
        while let Some(index) = self.idle_consumer() {
            let Some(message) = self.ready.pop_front() else {
                break;
            };
            self.deliver(index, message, at_ms, events);
        }
    }

    fn deliver(&mut self, index: usize, mut message: Message, at_ms: f64, events: &mut Vec<Event>) {
        let Some(consumer) = self.consumers.get_mut(index) else {
            return;
        };
        let redelivered = message.deliveries > 0;
        message.deliveries += 1;
        let delivery = self.next_delivery;
        self.next_delivery += 1;
        consumer.work = Some(Work {
            message: message.id,
            delivery,
            done_ms: at_ms + self.config.process_ms,
        });
        self.counts.delivered += 1;
        if redelivered {
            self.counts.redelivered += 1;
        }
        // A direct call has no ack timeout: it ends when the consumer returns or crashes.
        let deadline_ms = match self.config.mode {
            Mode::Queue => at_ms + self.config.ack_timeout_ms,
            Mode::Direct => f64::INFINITY,
        };
        self.unacked.push(Unacked {
            message,
            delivery,
            deadline_ms,
        });
        events.push(Event::Delivered {
            at_ms,
            message: message.id,
            consumer: consumer.id,
            redelivered,
        });
    }

    /// Finishes the work of consumer `index` at `at_ms` and acks it if its delivery is current.
    fn complete(&mut self, index: usize, at_ms: f64, events: &mut Vec<Event>) {
        let Some(consumer) = self.consumers.get_mut(index) else {
            return;
        };
        let Some(work) = consumer.work.take() else {
            return;
        };
        let consumer_id = consumer.id;
        match self
            .unacked
            .iter()
            .position(|u| u.delivery == work.delivery)
        {
            Some(position) => {
                let unacked = self.unacked.swap_remove(position);
                consumer.acked += 1;
                let latency_ms = at_ms - unacked.message.published_ms;
                self.recent_latency.push_back((at_ms, latency_ms));
                self.counts.acked += 1;
                events.push(Event::Acked {
                    at_ms,
                    message: work.message,
                    consumer: consumer_id,
                    latency_ms,
                });
            }
            None => events.push(Event::LateAck {
                at_ms,
                message: work.message,
                consumer: consumer_id,
            }),
        }
        self.dispatch(at_ms, events);
    }

    /// Returns unacked entry `index` to the queue head because its ack timeout passed.
    fn time_out(&mut self, index: usize, at_ms: f64, events: &mut Vec<Event>) {
        if index >= self.unacked.len() {
            return;
        }
        let unacked = self.unacked.swap_remove(index);
        self.ready.push_front(unacked.message);
        events.push(Event::Requeued {
            at_ms,
            message: unacked.message.id,
        });
        self.dispatch(at_ms, events);
    }

    /// Removes the unacked entry of `delivery` and returns its message.
    fn take_unacked(&mut self, delivery: u64) -> Option<Message> {
        let position = self.unacked.iter().position(|u| u.delivery == delivery)?;
        Some(self.unacked.swap_remove(position).message)
    }

    fn consumer_index(&self, id: u32) -> Result<usize, ActionError> {
        self.consumers
            .iter()
            .position(|consumer| consumer.id == id)
            .ok_or_else(|| ActionError(format!("no consumer has id {id}")))
    }

    fn crash(&mut self, id: u32) -> Result<Vec<Event>, ActionError> {
        let index = self.consumer_index(id)?;
        let at_ms = self.now_ms;
        let mut events = Vec::new();
        let Some(consumer) = self.consumers.get_mut(index) else {
            return Ok(events);
        };
        if !consumer.up {
            return Err(ActionError(format!("consumer {id} is already down")));
        }
        consumer.up = false;
        let work = consumer.work.take();
        events.push(Event::ConsumerCrashed {
            at_ms,
            consumer: id,
            in_flight: work.map(|w| w.message),
        });
        // In queue mode the message stays unacked until its timeout; a direct call fails now.
        if let (Some(work), Mode::Direct) = (work, self.config.mode) {
            if self.take_unacked(work.delivery).is_some() {
                self.reject(
                    at_ms,
                    work.message,
                    RejectReason::ConsumerCrashed,
                    &mut events,
                );
            }
        }
        Ok(events)
    }

    fn restart(&mut self, id: u32) -> Result<Vec<Event>, ActionError> {
        let index = self.consumer_index(id)?;
        let at_ms = self.now_ms;
        let mut events = Vec::new();
        if let Some(consumer) = self.consumers.get_mut(index) {
            if consumer.up {
                return Err(ActionError(format!("consumer {id} is already up")));
            }
            consumer.up = true;
            events.push(Event::ConsumerRestarted {
                at_ms,
                consumer: id,
            });
        }
        self.dispatch(at_ms, &mut events);
        Ok(events)
    }

    fn add_consumer(&mut self) -> Result<Vec<Event>, ActionError> {
        if self.consumers.len() >= MAX_CONSUMERS as usize {
            return Err(ActionError(format!(
                "already {MAX_CONSUMERS} consumers, the most this simulation runs"
            )));
        }
        let id = self.next_consumer;
        self.next_consumer += 1;
        self.consumers.push(Consumer {
            id,
            up: true,
            work: None,
            acked: 0,
        });
        let at_ms = self.now_ms;
        let mut events = vec![Event::ConsumerAdded {
            at_ms,
            consumer: id,
        }];
        self.dispatch(at_ms, &mut events);
        Ok(events)
    }

    fn remove_consumer(&mut self) -> Result<Vec<Event>, ActionError> {
        if self.consumers.len() <= 1 {
            return Err(ActionError(
                "cannot remove the last consumer; crash it to stop it".to_string(),
            ));
        }
        let Some(consumer) = self.consumers.pop() else {
            return Ok(Vec::new());
        };
        let at_ms = self.now_ms;
        let mut events = Vec::new();
        let mut requeued = None;
        if let Some(work) = consumer.work {
            if let Some(message) = self.take_unacked(work.delivery) {
                match self.config.mode {
                    // A clean stop hands the message back (a negative ack) instead of waiting.
                    Mode::Queue => {
                        self.ready.push_front(message);
                        requeued = Some(message.id);
                    }
                    Mode::Direct => self.reject(
                        at_ms,
                        message.id,
                        RejectReason::ConsumerCrashed,
                        &mut events,
                    ),
                }
            }
        }
        events.insert(
            0,
            Event::ConsumerRemoved {
                at_ms,
                consumer: consumer.id,
                requeued,
            },
        );
        self.dispatch(at_ms, &mut events);
        Ok(events)
    }
}

impl Engine for MessageQueue {
    type Config = MessageQueueConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: MessageQueueConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let consumers = (1..=config.consumers)
            .map(|id| Consumer {
                id,
                up: true,
                work: None,
                acked: 0,
            })
            .collect();
        let mut engine = Self {
            next_consumer: config.consumers + 1,
            config,
            rng: SimRng::new(seed),
            now_ms: 0.0,
            next_arrival_ms: f64::INFINITY,
            next_message: 1,
            next_delivery: 1,
            ready: VecDeque::new(),
            unacked: Vec::new(),
            consumers,
            counts: Counts::default(),
            recent_latency: VecDeque::new(),
        };
        engine.next_arrival_ms = engine.next_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        let end_ms = self.now_ms + STEP_MS;
        let mut events = Vec::new();
        while let Some((at_ms, next)) = self.next_due(end_ms) {
            self.now_ms = at_ms;
            match next {
                Next::Done(index) => self.complete(index, at_ms, &mut events),
                Next::Timeout(index) => self.time_out(index, at_ms, &mut events),
                Next::Arrival => {
                    self.publish(at_ms, &mut events);
                    self.next_arrival_ms = at_ms + self.next_gap_ms();
                }
            }
        }
        self.now_ms = end_ms;
        self.trim_latency_window();
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match action {
            Action::SetPublishRate { publish_per_s } => {
                let rate = *publish_per_s;
                if !(0.0..=MAX_PUBLISH_PER_S).contains(&rate) {
                    return Err(ActionError(format!(
                        "invalid publish rate {rate}: use 0 to {MAX_PUBLISH_PER_S} messages/s"
                    )));
                }
                self.config.publish_per_s = rate;
                // The arrival process is memoryless, so drawing the next gap afresh is exact.
                self.next_arrival_ms = self.now_ms + self.next_gap_ms();
                Ok(Vec::new())
            }
            Action::SetProcessTime { process_ms } => {
                let ms = *process_ms;
                if !(1.0..=60_000.0).contains(&ms) {
                    return Err(ActionError(format!(
                        "invalid processing time {ms} ms: use 1 to 60000 ms"
                    )));
                }
                self.config.process_ms = ms;
                Ok(Vec::new())
            }
            Action::Burst { count } => {
                let count = *count;
                if count == 0 || count > MAX_BURST {
                    return Err(ActionError(format!(
                        "invalid burst size {count}: publish 1 to {MAX_BURST} messages"
                    )));
                }
                let mut events = Vec::new();
                for _ in 0..count {
                    self.publish(self.now_ms, &mut events);
                }
                Ok(events)
            }
            Action::AddConsumer => self.add_consumer(),
            Action::RemoveConsumer => self.remove_consumer(),
            Action::Fault(fault) => {
                Self::check_fault(fault)?;
                match *fault {
                    Fault::Crash { node } => self.crash(node),
                    Fault::Restart { node } => self.restart(node),
                    _ => Err(ActionError(
                        "this simulation has only crash and restart faults".to_string(),
                    )),
                }
            }
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let counts = self.counts;
        let age_ms = self.oldest_age_ms();
        let mut metrics = vec![
            Metric::count("depth", "Queue depth", self.depth() as u64),
            Metric::count("in-flight", "Unacked", self.unacked.len() as u64),
            Metric::millis("oldest-age", "Oldest message age", age_ms),
            Metric::count("published", "Published", counts.published),
            Metric::count("delivered", "Delivered", counts.delivered),
            Metric::count("acked", "Acked", counts.acked),
            Metric::count("redelivered", "Redelivered", counts.redelivered),
            Metric::count("dropped", "Dropped", counts.dropped),
            Metric::count("rejected", "Rejected", counts.rejected),
        ];
        if self.config.mode == Mode::Direct {
            // Direct calls have no queue, so the queue's own numbers would only show zeros.
            metrics.retain(|m| {
                !matches!(
                    m.key,
                    "depth" | "in-flight" | "oldest-age" | "redelivered" | "dropped"
                )
            });
        }
        metrics.push(Metric::new(
            "time",
            "Time",
            self.now_ms / 1000.0,
            format!("{:.1} s", self.now_ms / 1000.0),
        ));
        Snapshot {
            at_ms: self.now_ms,
            metrics,
            latency: self.latency_percentiles(),
            samples: vec![Sample {
                label: "queue depth",
                value: self.depth() as f64,
            }],
        }
    }
}

impl Faults for MessageQueue {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        self.consumers
            .iter()
            .map(|consumer| NodeStatus {
                id: consumer.id,
                label: format!("consumer {}", consumer.id),
                up: consumer.up,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(MessageQueueConfig::default().validate(), Ok(()));
    }

    #[test]
    fn mode_deserializes_from_snake_case() {
        let config: Result<MessageQueueConfig, _> =
            serde_json::from_str(r#"{"mode":"direct","overflow":"reject_publish"}"#);

        let config = config.ok();
        assert_eq!(config.as_ref().map(|c| c.mode), Some(Mode::Direct));
        assert_eq!(config.map(|c| c.overflow), Some(Overflow::RejectPublish));
    }
}
