//! Token bucket widget: the bucket level, a timeline of decisions, and a burst button.

use sim::Engine;
use sim::token_bucket::{Action, Event as BucketEvent, TokenBucket, TokenBucketConfig};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::WidgetProps;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Simulated time the timeline shows, in milliseconds.
const TIMELINE_SPAN_MS: f64 = 10_000.0;
const DEFAULT_BURST: u32 = 10;

fn describe(event: &BucketEvent) -> Option<String> {
    Some(match event {
        BucketEvent::Accepted { at_ms, tokens } => {
            format!("{:.2} s: accepted, {tokens:.2} tokens left", at_ms / 1000.0)
        }
        BucketEvent::Rejected { at_ms, tokens } => {
            format!(
                "{:.2} s: rejected (429), only {tokens:.2} tokens",
                at_ms / 1000.0
            )
        }
    })
}

/// The token bucket widget.
#[component]
pub fn TokenBucketWidget(props: &WidgetProps<TokenBucketConfig>) -> Html {
    let runner: RunnerHandle<TokenBucket> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let burst = use_state(|| DEFAULT_BURST);
    let run = runner.get();

    let configure = |edit: fn(&mut TokenBucketConfig, f64)| runner.configure(&run.config, edit);
    let on_burst = {
        let burst = *burst;
        runner.callback(move |_: MouseEvent| Command::Act(Action::Burst { count: burst }))
    };
    let on_burst_size = {
        let burst = burst.clone();
        Callback::from(move |event: Event| {
            let input: HtmlInputElement = event.target_unchecked_into();
            match input.value().trim().parse::<u32>() {
                Ok(count) if (1..=sim::token_bucket::MAX_BURST).contains(&count) => {
                    burst.set(count)
                }
                _ => input.set_value(&burst.to_string()),
            }
        })
    };
    let params = html! {
        <>
            <NumberField label="Capacity (tokens)" value={f64::from(run.config.capacity)}
                min={1.0} max={1000.0}
                on_change={configure(|c, v| c.capacity = v as u32)} />
            <NumberField label="Refill (tokens/s)" value={run.config.refill_per_s}
                min={0.01} max={1000.0} step={0.01}
                on_change={configure(|c, v| c.refill_per_s = v)} />
            <NumberField label="Background (req/s)" value={run.config.arrival_per_s}
                min={0.0} max={1000.0} step={0.1}
                on_change={configure(|c, v| c.arrival_per_s = v)} />
        </>
    };
    let actions = html! {
        <>
            <button type="button" class="sdbe-primary sdbe-burst" onclick={on_burst}
                disabled={run.engine.is_err()}>
                { format!("Burst of {}", *burst) }
            </button>
            <label class="sdbe-field">
                <span>{ "Burst size" }</span>
                <input type="number" min="1" max="1000" value={burst.to_string()}
                    onchange={on_burst_size} aria-label="Requests per burst" />
            </label>
        </>
    };
    let scene = match &run.engine {
        Ok(bucket) => draw(bucket),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Token bucket",
            params,
            actions,
            scene,
        },
    )
}

/// Draws the bucket on the left and the last ten seconds of decisions on the right.
fn draw(bucket: &TokenBucket) -> Html {
    const BUCKET_X: f64 = 8.0;
    const BUCKET_W: f64 = 64.0;
    const TOP: f64 = 28.0;
    const HEIGHT: f64 = 140.0;
    const PLOT_X: f64 = 92.0;
    const PLOT_W: f64 = 320.0;

    let capacity = f64::from(bucket.capacity());
    let fill = (bucket.tokens() / capacity).clamp(0.0, 1.0);
    let fill_h = HEIGHT * fill;
    let now = bucket.now_ms();
    let start = (now - TIMELINE_SPAN_MS).max(0.0);
    let x_of = |at_ms: f64| PLOT_X + PLOT_W * ((at_ms - start) / TIMELINE_SPAN_MS).clamp(0.0, 1.0);
    let y_of = |tokens: f64| TOP + HEIGHT * (1.0 - (tokens / capacity).clamp(0.0, 1.0));

    let level: Vec<String> = bucket
        .level_trace()
        .filter(|(at, _)| *at >= start)
        .map(|(at, tokens)| format!("{:.1},{:.1}", x_of(*at), y_of(*tokens)))
        .collect();
    // Decisions at the same instant (a burst) spread sideways so each one shows.
    let mut previous: Option<(f64, bool)> = None;
    let mut stacked: f64 = 0.0;
    let decisions: Vec<Html> = bucket
        .timeline()
        .filter(|d| d.at_ms >= start)
        .map(|d| {
            stacked = if previous == Some((d.at_ms, d.accepted)) {
                stacked + 1.0
            } else {
                0.0
            };
            previous = Some((d.at_ms, d.accepted));
            let (class, row) = if d.accepted {
                ("sdbe-accepted", 20.0)
            } else {
                ("sdbe-rejected", 36.0)
            };
            let x = x_of(d.at_ms) + 4.0 * stacked.min(12.0);
            let y = TOP + HEIGHT + row;
            html! { <circle class={class} cx={format!("{x:.1}")} cy={format!("{y:.1}")} r="3" /> }
        })
        .collect();

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 250" role="img"
            aria-label={format!("Bucket holds {:.1} of {} tokens", bucket.tokens(), bucket.capacity())}>
            <rect class="sdbe-box" x={BUCKET_X.to_string()} y={TOP.to_string()}
                width={BUCKET_W.to_string()} height={HEIGHT.to_string()} rx="6" />
            <rect class="sdbe-busy" x={BUCKET_X.to_string()} y={(TOP + HEIGHT - fill_h).to_string()}
                width={BUCKET_W.to_string()} height={fill_h.to_string()} rx="6" />
            <text x={(BUCKET_X + BUCKET_W / 2.0).to_string()} y={(TOP + HEIGHT + 24.0).to_string()}
                text-anchor="middle" font-size="15">
                { format!("{:.1} / {}", bucket.tokens(), bucket.capacity()) }
            </text>
            <line class="sdbe-line" x1={PLOT_X.to_string()} y1={(TOP + HEIGHT).to_string()}
                x2={(PLOT_X + PLOT_W).to_string()} y2={(TOP + HEIGHT).to_string()} />
            <polyline class="sdbe-trace" stroke-width="2.5" points={level.join(" ")} />
            { for decisions }
            <text x={BUCKET_X.to_string()} y="16" font-size="14">{ "bucket" }</text>
            <text x={PLOT_X.to_string()} y="16" font-size="14">{ "tokens, last 10 s" }</text>
            <circle class="sdbe-accepted" cx={(PLOT_X + 6.0).to_string()} cy="238" r="5" />
            <text x={(PLOT_X + 16.0).to_string()} y="243" font-size="13">{ "accepted" }</text>
            <circle class="sdbe-rejected" cx={(PLOT_X + 96.0).to_string()} cy="238" r="5" />
            <text x={(PLOT_X + 106.0).to_string()} y="243" font-size="13">{ "rejected (429)" }</text>
        </svg>
    }
}
