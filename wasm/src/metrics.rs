//! The metrics panel: counters and gauges, latency percentiles, and
//! sparklines of the values the engine samples over time.

use sim::metrics::Snapshot;
use yew::prelude::*;

/// Properties of [`MetricsPanel`].
#[derive(Properties, PartialEq)]
pub struct MetricsPanelProps {
    /// The engine's metrics now.
    pub snapshot: Snapshot,
    /// Recent values of each of the snapshot's samples, oldest first.
    pub history: Vec<Vec<f64>>,
}

/// Shows an engine's [`Snapshot`]; every number is the engine's own.
#[component]
pub fn MetricsPanel(props: &MetricsPanelProps) -> Html {
    let snapshot = &props.snapshot;
    let cards = snapshot
        .metrics
        .iter()
        .map(|metric| card(metric.key, metric.label, &metric.text));
    let latency = snapshot.latency.map(|p| {
        html! {
            <>
                { card("p50", "p50", &latency_text(p.p50_ms)) }
                { card("p95", "p95", &latency_text(p.p95_ms)) }
                { card("p99", "p99", &latency_text(p.p99_ms)) }
            </>
        }
    });
    let sparklines = snapshot
        .samples
        .iter()
        .zip(&props.history)
        .map(|(sample, values)| {
            html! { <Sparkline label={sample.label} values={values.clone()} /> }
        });
    html! {
        <div class="sdbe-metrics-panel">
            <div class="sdbe-metrics">
                { for cards }
                { for latency }
            </div>
            <div class="sdbe-sparklines">{ for sparklines }</div>
        </div>
    }
}

fn card(key: &'static str, label: &str, text: &str) -> Html {
    html! {
        <div class="sdbe-metric" data-metric={key}>
            <span class="sdbe-metric-label">{ label }</span>
            <span class="sdbe-metric-value">{ text }</span>
        </div>
    }
}

/// Properties of [`Sparkline`].
#[derive(Properties, PartialEq)]
pub struct SparklineProps {
    /// Label of the values, with the unit.
    pub label: AttrValue,
    /// Values oldest first.
    pub values: Vec<f64>,
}

/// A small line chart of recent values, scaled from zero to the largest.
#[component]
pub fn Sparkline(props: &SparklineProps) -> Html {
    const WIDTH: f64 = 160.0;
    const HEIGHT: f64 = 32.0;
    let finite: Vec<f64> = props
        .values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let peak = finite.iter().copied().fold(0.0_f64, f64::max);
    // The scale's top, kept above zero so an all-zero series draws flat.
    let top = peak.max(f64::EPSILON);
    let last = finite.last().copied().unwrap_or(0.0);
    let (last_text, peak_text) = (plain_number(last), plain_number(peak));
    let step = WIDTH / (finite.len().max(2) - 1) as f64;
    let points: Vec<String> = finite
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                HEIGHT - HEIGHT * (v / top).clamp(0.0, 1.0)
            )
        })
        .collect();
    html! {
        <figure class="sdbe-sparkline">
            <svg viewBox={format!("0 0 {WIDTH} {HEIGHT}")} preserveAspectRatio="none"
                role="img" aria-label={format!("{} over time, now {last_text}, peak {peak_text}", props.label)}>
                <polyline class="sdbe-trace" stroke-width="1.5" points={points.join(" ")}
                    vector-effect="non-scaling-stroke" />
            </svg>
            <figcaption>{ format!("{}: {last_text} (peak {peak_text})", props.label) }</figcaption>
        </figure>
    }
}

/// Formats a latency with the precision its size needs, so that a
/// sub-millisecond latency does not read as 0 ms.
fn latency_text(ms: f64) -> String {
    if ms == 0.0 || ms >= 10.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// Formats a whole number, such as a count, without decimals and any other
/// value with one.
fn plain_number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}
