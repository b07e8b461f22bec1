//! Queue widget: an open-loop queue in front of a few servers, drawn as mean latency against
//! utilization or as a histogram of recent latencies with the mean, p50 and p99 marked.

use sim::queue::{
    Action, Chart, Event as QueueEvent, MAX_ARRIVAL_PER_S, MAX_FAN_OUT, MAX_QUEUE, Queue,
    QueueConfig, mmc_mean_latency_ms,
};
use yew::prelude::*;

use super::WidgetProps;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Plot area of both charts, in scene units.
const PLOT_X: f64 = 52.0;
const PLOT_W: f64 = 352.0;
const PLOT_TOP: f64 = 64.0;
const PLOT_H: f64 = 150.0;
/// Utilizations the preset buttons offer.
const PRESETS: [f64; 5] = [0.5, 0.8, 0.9, 0.95, 1.1];
/// Histogram bins per factor of ten of latency.
const BINS_PER_DECADE: f64 = 8.0;
/// Factors of ten of latency the histogram spans.
const DECADES: f64 = 5.0;

fn describe(event: &QueueEvent) -> Option<String> {
    let seconds = |at_ms: f64| at_ms / 1000.0;
    match event {
        QueueEvent::Completed {
            at_ms,
            request_id,
            latency_ms,
            slow: true,
        } => Some(format!(
            "{:.2} s: request {request_id} hit a slow sub-request and took {latency_ms:.0} ms",
            seconds(*at_ms)
        )),
        QueueEvent::Dropped {
            at_ms,
            request_id,
            queued,
        } => Some(format!(
            "{:.2} s: request {request_id} dropped, {queued} sub-requests already waiting",
            seconds(*at_ms)
        )),
        QueueEvent::ArrivalRateChanged {
            at_ms,
            arrival_per_s,
        } => Some(format!(
            "{:.2} s: arrival rate set to {arrival_per_s} requests/s",
            seconds(*at_ms)
        )),
        QueueEvent::FanOutChanged { at_ms, fan_out } => Some(format!(
            "{:.2} s: each request now fans out to {fan_out} sub-requests",
            seconds(*at_ms)
        )),
        // Arrivals and ordinary completions come dozens per second.
        _ => None,
    }
}

/// The queue widget.
#[component]
pub fn QueueWidget(props: &WidgetProps<QueueConfig>) -> Html {
    let runner: RunnerHandle<Queue> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let run = runner.get();

    // The arrival rate and fan-out change the running system; the rest restart it.
    let current = match &run.engine {
        Ok(queue) => queue.config().clone(),
        Err(_) => run.config.clone(),
    };
    let on_arrival = runner.callback(|value: f64| {
        Command::Act(Action::SetArrivalRate {
            arrival_per_s: value,
        })
    });
    let on_fan_out = runner.callback(|value: f64| {
        Command::Act(Action::SetFanOut {
            fan_out: value as u32,
        })
    });
    let configure = |edit: fn(&mut QueueConfig, f64)| runner.configure(&current, edit);
    let histogram = current.chart == Chart::Histogram;
    let tail_fields = histogram.then(|| {
        html! {
            <>
                <NumberField label="Slow share (0 to 1)" value={current.slow_fraction} min={0.0}
                    max={1.0} step={0.01} on_change={configure(|c, v| c.slow_fraction = v)} />
                <NumberField label="Slow factor (×)" value={current.slow_factor} min={1.0}
                    max={100.0} on_change={configure(|c, v| c.slow_factor = v)} />
                <NumberField label="Fan-out (sub-requests)" value={f64::from(current.fan_out)}
                    min={1.0} max={f64::from(MAX_FAN_OUT)} on_change={on_fan_out} />
            </>
        }
    });
    let params = html! {
        <>
            <NumberField label="Arrivals (req/s)" value={current.arrival_per_s} min={0.0}
                max={MAX_ARRIVAL_PER_S} on_change={on_arrival} />
            <NumberField label="Servers" value={f64::from(current.servers)} min={1.0} max={16.0}
                on_change={configure(|c, v| c.servers = v as u32)} />
            <NumberField label="Service time (ms)" value={current.service_ms} min={1.0}
                max={10_000.0} on_change={configure(|c, v| c.service_ms = v)} />
            { for tail_fields }
        </>
    };
    let actions = if histogram || run.engine.is_err() {
        html! {}
    } else {
        let capacity = current.capacity_per_s();
        let buttons = PRESETS.iter().map(|&rho| {
            // Rounded to a tenth so the field shows a short number.
            let arrival_per_s = (rho * capacity * 10.0).round() / 10.0;
            let onclick =
                runner.callback(move |_: MouseEvent| Command::Act(Action::SetArrivalRate { arrival_per_s }));
            html! {
                <button type="button" class="sdbe-preset" {onclick}>{ format!("ρ = {rho}") }</button>
            }
        });
        html! { <>{ for buttons }</> }
    };
    let (note, scene) = match &run.engine {
        Ok(queue) => (overload_note(queue), draw(queue)),
        Err(_) => (None, html! {}),
    };
    drop(run);

    let scene = html! { <>{ for note }{ scene }</> };
    shell(
        &runner,
        Parts {
            title: "Requests queueing for servers",
            params,
            actions,
            scene,
        },
    )
}

/// Explains the cap on the queue while the offered load is at or above capacity.
fn overload_note(queue: &Queue) -> Option<Html> {
    let rho = queue.config().utilization();
    (rho >= 1.0).then(|| {
        html! {
            <p class="sdbe-notice sdbe-overload" role="status">
                { format!(
                    "Utilization ρ = {rho:.2}: requests arrive faster than the servers finish them, \
                     so a real queue would grow without end. This one holds at most {MAX_QUEUE} \
                     sub-requests and drops the rest ({} dropped so far).",
                    queue.dropped_total()
                ) }
            </p>
        }
    })
}

fn draw(queue: &Queue) -> Html {
    match queue.config().chart {
        Chart::LatencyCurve => draw_curve(queue),
        Chart::Histogram => draw_histogram(queue),
    }
}

fn num(value: f64) -> String {
    format!("{value:.1}")
}

/// Draws mean latency against utilization: the M/M/c formula as a line and one dot per second
/// of the run, the latest one larger.
fn draw_curve(queue: &Queue) -> Html {
    let config = queue.config();
    let service_ms = config.mean_service_ms();
    // One server at rho 0.9 takes 10 service times, so the chart's top is 20 service times.
    // Slower points sit on the top edge.
    let top_ms = 20.0 * service_ms;
    let x_of = |rho: f64| PLOT_X + PLOT_W * rho.clamp(0.0, 1.0);
    let y_of = |ms: f64| PLOT_TOP + PLOT_H * (1.0 - (ms / top_ms).clamp(0.0, 1.0));

    // The formula holds for exponential service and one sub-request per request.
    let formula = (config.slow_fraction == 0.0 && config.fan_out == 1).then(|| {
        let servers = config.servers;
        let mut points = Vec::new();
        for i in 0..100 {
            let rho = f64::from(i) / 100.0;
            let arrival_per_s = rho * f64::from(servers) * 1000.0 / service_ms;
            let Some(ms) = mmc_mean_latency_ms(arrival_per_s, servers, service_ms) else {
                break;
            };
            points.push(format!("{},{}", num(x_of(rho)), num(y_of(ms))));
            // The line ends where it leaves the top of the chart.
            if ms > top_ms {
                break;
            }
        }
        html! { <polyline class="sdbe-trace" stroke-width="2" points={points.join(" ")} /> }
    });
    let count = queue.curve().len();
    let dots = queue.curve().enumerate().map(|(i, point)| {
        let latest = i + 1 == count;
        html! {
            <circle class={if latest { "sdbe-rejected" } else { "sdbe-waiting" }}
                cx={num(x_of(point.utilization))} cy={num(y_of(point.mean_latency_ms))}
                r={if latest { "6" } else { "3.5" }} />
        }
    });
    let now = queue.recent_mean_latency_ms();
    let heading = match now {
        Some(ms) => format!(
            "ρ = {:.2}: mean latency {ms:.0} ms = {:.1} × service time",
            config.utilization(),
            ms / service_ms
        ),
        None => format!("ρ = {:.2}: no request finished yet", config.utilization()),
    };
    let bottom = PLOT_TOP + PLOT_H;

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 300" role="img"
            aria-label={format!("Mean latency against utilization. {heading}")}>
            <text x="8" y="20" font-size="15">{ heading }</text>
            <text x="8" y="48" font-size="13">{ "mean latency (ms)" }</text>
            { axes(bottom) }
            <text x={num(PLOT_X - 6.0)} y={num(PLOT_TOP + 5.0)} font-size="13" text-anchor="end">
                { format!("{top_ms:.0}") }
            </text>
            <text x={num(PLOT_X - 6.0)} y={num(bottom)} font-size="13" text-anchor="end">{ "0" }</text>
            <text x={num(x_of(0.0))} y={num(bottom + 18.0)} font-size="13" text-anchor="middle">{ "0" }</text>
            <text x={num(x_of(0.5))} y={num(bottom + 18.0)} font-size="13" text-anchor="middle">{ "0.5" }</text>
            <text x={num(x_of(1.0))} y={num(bottom + 18.0)} font-size="13" text-anchor="middle">{ "1" }</text>
            <text x={num(x_of(0.75))} y={num(bottom + 18.0)} font-size="13" text-anchor="middle">
                { "utilization ρ" }
            </text>
            { for formula }
            { for dots }
            <line class="sdbe-trace" stroke-width="2" x1="14" y1="256" x2="34" y2="256" />
            <text x="40" y="261" font-size="13">{ "M/M/c formula (exponential service)" }</text>
            <circle class="sdbe-waiting" cx="24" cy="280" r="4" />
            <text x="40" y="285" font-size="13">{ "mean of one second of the run" }</text>
        </svg>
    }
}

/// Draws the chart's left and bottom edges.
fn axes(bottom: f64) -> Html {
    html! {
        <>
            <line class="sdbe-line" x1={num(PLOT_X)} y1={num(PLOT_TOP)} x2={num(PLOT_X)} y2={num(bottom)} />
            <line class="sdbe-line" x1={num(PLOT_X)} y1={num(bottom)} x2={num(PLOT_X + PLOT_W)} y2={num(bottom)} />
        </>
    }
}

/// Draws the recent latencies as a histogram on a logarithmic axis, with the mean, p50 and p99
/// as vertical lines.
fn draw_histogram(queue: &Queue) -> Html {
    let config = queue.config();
    // Five factors of ten from a hundredth of the service time, rounded down to a power of ten,
    // so that both the fast peak and a slow tail 100 times longer fit.
    let low_ms = 10f64.powf((config.service_ms / 100.0).log10().floor());
    let bins = (BINS_PER_DECADE * DECADES) as usize;
    let bin_of = |ms: f64| {
        let position = (ms.max(low_ms) / low_ms).log10() * BINS_PER_DECADE;
        (position as usize).min(bins - 1)
    };
    let mut counts = vec![0u32; bins];
    for latency_ms in queue.recent_latencies() {
        if let Some(count) = counts.get_mut(bin_of(latency_ms)) {
            *count += 1;
        }
    }
    let tallest = counts.iter().copied().max().unwrap_or(0).max(1);
    let x_of = |ms: f64| {
        let position = (ms.max(low_ms) / low_ms).log10() / DECADES;
        PLOT_X + PLOT_W * position.clamp(0.0, 1.0)
    };
    let bottom = PLOT_TOP + PLOT_H;
    let bar_w = PLOT_W / bins as f64;
    let bars = counts
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(i, &count)| {
            // Square root heights keep the few slow requests visible beside the many fast ones.
            let height = PLOT_H * (f64::from(count) / f64::from(tallest)).sqrt();
            html! {
                <rect class="sdbe-busy" x={num(PLOT_X + bar_w * i as f64)} y={num(bottom - height)}
                    width={num(bar_w - 1.0)} height={num(height)} />
            }
        });
    let ticks = (0..=DECADES as i32).map(|decade| {
        let ms = low_ms * 10f64.powi(decade);
        let x = num(x_of(ms));
        html! {
            <>
                <line class="sdbe-line" x1={x.clone()} y1={num(bottom)} x2={x.clone()} y2={num(bottom + 5.0)} />
                <text x={x} y={num(bottom + 19.0)} font-size="13" text-anchor="middle">{ format_ms(ms) }</text>
            </>
        }
    });
    let mut markers = Vec::new();
    if let (Some(mean), Some(p)) = (queue.recent_mean_latency_ms(), queue.recent_percentiles()) {
        for (row, (label, ms)) in [("p50", p.p50_ms), ("mean", mean), ("p99", p.p99_ms)]
            .into_iter()
            .enumerate()
        {
            let x = x_of(ms);
            let text_y = 20.0 + 16.0 * row as f64;
            // Labels near the right edge read leftwards so they stay inside the scene.
            let anchor = if x > 330.0 { "end" } else { "start" };
            let text_x = if x > 330.0 { x - 4.0 } else { x + 4.0 };
            markers.push(html! {
                <>
                    <line class="sdbe-line" stroke-width="2" stroke-dasharray={if label == "mean" { "5 3" } else { "none" }}
                        x1={num(x)} y1={num(text_y - 10.0)} x2={num(x)} y2={num(bottom)} />
                    <text x={num(text_x)} y={num(text_y)} font-size="13" text-anchor={anchor}>
                        { format!("{label} {}", format_ms(ms)) }
                    </text>
                </>
            });
        }
    }
    let summary = match (queue.recent_mean_latency_ms(), queue.recent_percentiles()) {
        (Some(mean), Some(p)) => format!(
            "Latencies of the last 10 s: mean {mean:.0} ms, p50 {:.0} ms, p99 {:.0} ms",
            p.p50_ms, p.p99_ms
        ),
        _ => "No request finished yet".to_string(),
    };

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 262" role="img" aria-label={summary}>
            { axes(bottom) }
            { for bars }
            { for ticks }
            { for markers }
            <text x={num(PLOT_X + PLOT_W / 2.0)} y="252" font-size="13" text-anchor="middle">
                { "latency, last 10 s (log scale)" }
            </text>
        </svg>
    }
}

/// Formats a latency for a label: whole seconds as "10 s", other seconds with one decimal,
/// milliseconds whole above 1 ms and with up to two decimals below.
fn format_ms(ms: f64) -> String {
    let seconds = ms / 1000.0;
    if ms >= 1000.0 && seconds.fract() == 0.0 {
        format!("{seconds:.0} s")
    } else if ms >= 1000.0 {
        format!("{seconds:.1} s")
    } else if ms >= 1.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{} ms", (ms * 100.0).round() / 100.0)
    }
}
