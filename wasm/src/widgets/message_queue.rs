//! Message queue widget: a producer, the queue's ready messages, and consumers that take, process
//! and ack them, or direct calls with no queue; bursts, consumer changes and crashes.

use sim::message_queue::{
    Action, Consumer, Event as QueueEvent, MessageQueue, MessageQueueConfig, Mode, Overflow,
    RejectReason,
};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Messages one [`Action::Burst`] publishes.
const BURST: u32 = 20;
/// Ready messages drawn as cells; the count above the queue shows the rest.
const CELLS: usize = 40;

fn describe(event: &QueueEvent) -> Option<String> {
    let s = |at_ms: &f64| at_ms / 1000.0;
    match event {
        QueueEvent::Rejected {
            at_ms,
            message,
            reason,
        } => {
            let why = match reason {
                RejectReason::QueueFull => "the queue is full",
                RejectReason::NoConsumer => "no consumer was free",
                RejectReason::ConsumerCrashed => "the consumer crashed mid-call",
            };
            Some(format!(
                "{:.2} s: message {message} failed, {why}",
                s(at_ms)
            ))
        }
        QueueEvent::Dropped { at_ms, message } => Some(format!(
            "{:.2} s: queue full, dropped message {message}",
            s(at_ms)
        )),
        QueueEvent::Delivered {
            at_ms,
            message,
            consumer,
            redelivered: true,
        } => Some(format!(
            "{:.2} s: message {message} redelivered to consumer {consumer}",
            s(at_ms)
        )),
        QueueEvent::Requeued { at_ms, message } => Some(format!(
            "{:.2} s: ack timeout, message {message} back in the queue",
            s(at_ms)
        )),
        QueueEvent::LateAck {
            at_ms,
            message,
            consumer,
        } => Some(format!(
            "{:.2} s: consumer {consumer} finished message {message} too late, ack ignored",
            s(at_ms)
        )),
        QueueEvent::ConsumerCrashed {
            at_ms,
            consumer,
            in_flight,
        } => Some(match in_flight {
            Some(message) => format!(
                "{:.2} s: consumer {consumer} crashed holding message {message}, unacked",
                s(at_ms)
            ),
            None => format!("{:.2} s: consumer {consumer} crashed", s(at_ms)),
        }),
        QueueEvent::ConsumerRestarted { at_ms, consumer } => {
            Some(format!("{:.2} s: consumer {consumer} restarted", s(at_ms)))
        }
        QueueEvent::ConsumerAdded { at_ms, consumer } => {
            Some(format!("{:.2} s: consumer {consumer} added", s(at_ms)))
        }
        QueueEvent::ConsumerRemoved {
            at_ms, consumer, ..
        } => Some(format!("{:.2} s: consumer {consumer} removed", s(at_ms))),
        _ => None,
    }
}

/// Renders the message queue widget.
#[component]
pub fn MessageQueueWidget(props: &WidgetProps<MessageQueueConfig>) -> Html {
    let runner: RunnerHandle<MessageQueue> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    // Publish rate and processing time change the running system; the other fields restart it.
    let current = match &run.engine {
        Ok(queue) => queue.config().clone(),
        Err(_) => run.config.clone(),
    };
    let configure = |edit: fn(&mut MessageQueueConfig, f64)| runner.configure(&current, edit);
    let on_rate = runner.callback(|value: f64| {
        Command::Act(Action::SetPublishRate {
            publish_per_s: value,
        })
    });
    let on_process =
        runner.callback(|value: f64| Command::Act(Action::SetProcessTime { process_ms: value }));
    let on_mode = {
        let config = current.clone();
        runner.callback(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            let mut config = config.clone();
            config.mode = if select.value() == "direct" {
                Mode::Direct
            } else {
                Mode::Queue
            };
            Command::Configure(config)
        })
    };
    let on_overflow = {
        let config = current.clone();
        runner.callback(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            let mut config = config.clone();
            config.overflow = if select.value() == "reject_publish" {
                Overflow::RejectPublish
            } else {
                Overflow::DropOldest
            };
            Command::Configure(config)
        })
    };
    let queued = current.mode == Mode::Queue;
    // The live count, which Add and Remove consumer change; editing the field restarts the run.
    let live_consumers = match &run.engine {
        Ok(queue) => queue.consumers().len() as f64,
        Err(_) => f64::from(run.config.consumers),
    };
    let params = html! {
        <>
            <label class="sdbe-field">
                <span>{ "Mode" }</span>
                <select onchange={on_mode} aria-label="Queue or direct calls">
                    <option value="queue" selected={queued}>{ "Queue" }</option>
                    <option value="direct" selected={!queued}>{ "Direct call" }</option>
                </select>
            </label>
            <NumberField label="Publish (msg/s)" value={current.publish_per_s} min={0.0}
                max={200.0} step={0.5} on_change={on_rate} />
            <NumberField label="Processing (ms)" value={current.process_ms} min={1.0}
                max={60_000.0} on_change={on_process} />
            <NumberField label="Consumers" value={live_consumers} min={1.0}
                max={8.0} on_change={configure(|c, v| c.consumers = v as u32)} />
            <NumberField label="Max length (0 = none)" value={f64::from(run.config.max_len)}
                min={0.0} max={10_000.0} on_change={configure(|c, v| c.max_len = v as u32)} />
            <label class="sdbe-field">
                <span>{ "When full" }</span>
                <select onchange={on_overflow} aria-label="What a full queue does">
                    <option value="drop_oldest"
                        selected={current.overflow == Overflow::DropOldest}>{ "Drop oldest" }</option>
                    <option value="reject_publish"
                        selected={current.overflow == Overflow::RejectPublish}>{ "Reject publish" }</option>
                </select>
            </label>
            <NumberField label="Ack timeout (ms)" value={run.config.ack_timeout_ms} min={100.0}
                max={600_000.0} step={100.0}
                on_change={configure(|c, v| c.ack_timeout_ms = v)} />
        </>
    };
    let disabled = run.engine.is_err();
    let act = |action: Action| runner.callback(move |_: MouseEvent| Command::Act(action.clone()));
    let actions = html! {
        <>
            <button type="button" class="sdbe-primary sdbe-burst" disabled={disabled}
                onclick={act(Action::Burst { count: BURST })}>{ format!("Burst of {BURST}") }</button>
            <button type="button" class="sdbe-add" disabled={disabled}
                onclick={act(Action::AddConsumer)}>{ "Add consumer" }</button>
            <button type="button" class="sdbe-remove" disabled={disabled}
                onclick={act(Action::RemoveConsumer)}>{ "Remove consumer" }</button>
            { fault_controls(&runner, &fault_target) }
        </>
    };
    let scene = match &run.engine {
        Ok(queue) => draw(queue),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Producer, queue and consumers",
            params,
            actions,
            scene,
        },
    )
}

/// Draws the producer on the left, the queue's ready messages in the middle and the consumers on
/// the right, with the queue's numbers underneath.
fn draw(queue: &MessageQueue) -> Html {
    let consumers = queue.consumers();
    // Three rows at least, so the queue box fits beside the consumers.
    let rows = consumers.len().max(3) as f64;
    let row_h = 26.0;
    let top = 30.0;
    let height = top + rows * row_h + 62.0;
    let mid = top + rows * row_h / 2.0;
    let direct = queue.config().mode == Mode::Direct;
    let depth = queue.depth();

    let middle = if direct {
        html! {
            <>
                <line class="sdbe-line" x1="92" y1={f(mid)} x2="300" y2={f(mid)} />
                <text x="196" y={f(mid - 8.0)} font-size="13" text-anchor="middle">
                    { "direct call, no queue" }</text>
            </>
        }
    } else {
        // Ready messages fill cells from the right, where consumers take them.
        let cells = (0..depth.min(CELLS)).map(|i| {
            let (col, row) = ((i % 10) as f64, (i / 10) as f64);
            html! {
                <rect class="sdbe-waiting" x={f(284.0 - col * 18.0)} y={f(mid - 36.0 + row * 18.0)}
                    width="14" height="14" />
            }
        });
        html! {
            <>
                <line class="sdbe-line" x1="90" y1={f(mid)} x2="104" y2={f(mid)} />
                <rect class="sdbe-box" x="104" y={f(mid - 40.0)} width="196" height="80" rx="4" />
                { for cells }
                <text x="202" y={f(mid - 48.0)} font-size="13" text-anchor="middle">
                    { format!("queue: {depth} ready") }</text>
            </>
        }
    };
    let boxes = consumers
        .iter()
        .enumerate()
        .map(|(i, c)| draw_consumer(c, top + i as f64 * row_h));
    let age = queue
        .oldest_age_ms()
        .map_or("–".to_string(), |ms| format!("{:.1} s", ms / 1000.0));
    let counts = queue.counts();
    let status = if direct {
        format!(
            "calls {} · done {} · failed {}",
            counts.published, counts.acked, counts.rejected
        )
    } else {
        format!(
            "unacked {} · oldest {age} · redelivered {}",
            queue.unacked().len(),
            counts.redelivered
        )
    };
    let label = format!(
        "{depth} messages ready, {} unacked, {} acked, {} redelivered, {} dropped, {} rejected",
        queue.unacked().len(),
        counts.acked,
        counts.redelivered,
        counts.dropped,
        counts.rejected
    );
    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {height:.0}")} role="img"
            aria-label={label}>
            <rect class="sdbe-box" x="10" y={f(mid - 20.0)} width="80" height="40" rx="4" />
            <text x="50" y={f(mid + 5.0)} font-size="13" text-anchor="middle">{ "producer" }</text>
            { middle }
            { for boxes }
            <text x="10" y={f(height - 34.0)} font-size="14">{ status }</text>
            <text x="10" y={f(height - 12.0)} font-size="14">
                { format!("acked {} · dropped {} · rejected {}", counts.acked, counts.dropped,
                    counts.rejected) }</text>
        </svg>
    }
}

/// Draws one consumer as a box with a status square: filled while it processes a message, grey
/// when down, empty when idle.
fn draw_consumer(consumer: &Consumer, y: f64) -> Html {
    let (class, text) = match (consumer.up, consumer.work) {
        (false, _) => ("sdbe-muted", format!("C{} down", consumer.id)),
        (true, Some(work)) => ("sdbe-busy", format!("C{} m{}", consumer.id, work.message)),
        (true, None) => ("sdbe-idle", format!("C{} idle", consumer.id)),
    };
    html! {
        <g>
            <line class="sdbe-line" x1="300" y1={f(y + 11.0)} x2="312" y2={f(y + 11.0)} />
            <rect class="sdbe-box" x="312" y={f(y)} width="100" height="22" rx="3" />
            <rect class={class} x="316" y={f(y + 4.0)} width="14" height="14" />
            <text x="336" y={f(y + 16.0)} font-size="13">{ text }</text>
        </g>
    }
}

fn f(value: f64) -> String {
    format!("{value:.1}")
}
