//! Indexing widget: rows examined per query with and without a B-tree index, on a log scale,
//! as the table grows.

use std::fmt::Write as _;

use sim::Engine;
use sim::indexing::{Action, Event as IndexEvent, Indexing, IndexingConfig, QueryKind};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::WidgetProps;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Simulated time the chart shows, in milliseconds.
const SPAN_MS: f64 = sim::indexing::RECENT_SPAN_MS;
const PLOT_X: f64 = 52.0;
const PLOT_W: f64 = 356.0;
const TOP: f64 = 40.0;
const HEIGHT: f64 = 160.0;

fn describe(event: &IndexEvent) -> Option<String> {
    Some(match event {
        IndexEvent::Query {
            at_ms,
            kind,
            matches,
            examined,
            indexed,
            latency_ms,
        } => {
            let kind = match kind {
                QueryKind::Point => "point lookup",
                QueryKind::Range => "range query",
            };
            let how = if *indexed { "index" } else { "full scan" };
            format!(
                "{:.2} s: {kind}, {how}: {examined} examined for {matches} returned, {latency_ms:.3} ms",
                at_ms / 1000.0
            )
        }
        IndexEvent::IndexChanged {
            at_ms,
            enabled,
            rows,
        } => {
            if *enabled {
                format!("{:.2} s: index created over {rows} rows", at_ms / 1000.0)
            } else {
                format!("{:.2} s: index dropped", at_ms / 1000.0)
            }
        }
        IndexEvent::Inserted { .. } => return None,
    })
}

/// The indexing widget.
#[component]
pub fn IndexingWidget(props: &WidgetProps<IndexingConfig>) -> Html {
    let runner: RunnerHandle<Indexing> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let run = runner.get();

    // Start from the engine's configuration, which has the index switch as the reader set it.
    let current = match &run.engine {
        Ok(engine) => engine.config().clone(),
        Err(_) => run.config.clone(),
    };
    let configure = |edit: fn(&mut IndexingConfig, f64)| runner.configure(&current, edit);
    let on_index = runner.callback(|event: Event| {
        let input: HtmlInputElement = event.target_unchecked_into();
        Command::Act(Action::SetIndex {
            enabled: input.checked(),
        })
    });
    let params = html! {
        <>
            <label class="sdbe-field">
                <span>{ "B-tree index" }</span>
                <input type="checkbox" class="sdbe-index-switch" checked={current.indexed}
                    onchange={on_index} />
            </label>
            <NumberField label="Inserts (rows/s)" value={current.insert_per_s} min={0.0}
                max={sim::indexing::MAX_INSERT_PER_S}
                on_change={configure(|c, v| c.insert_per_s = v)} />
            <NumberField label="Fan-out (keys/page)" value={f64::from(current.fanout)} min={2.0}
                max={f64::from(sim::indexing::MAX_FANOUT)}
                on_change={configure(|c, v| c.fanout = v as u32)} />
            <NumberField label="Range queries (%)" value={current.range_pct} min={0.0}
                max={100.0} on_change={configure(|c, v| c.range_pct = v)} />
            <NumberField label="Queries/s" value={current.query_per_s} min={0.0}
                max={sim::indexing::MAX_QUERY_PER_S}
                on_change={configure(|c, v| c.query_per_s = v)} />
        </>
    };
    let scene = match &run.engine {
        Ok(engine) => draw(engine),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Rows examined per query",
            params,
            actions: html! {},
            scene,
        },
    )
}

/// Formats a count briefly: 950, 12k, 3.4M.
fn short(count: f64) -> String {
    if count >= 1e6 {
        format!("{:.0}M", count / 1e6)
    } else if count >= 1e3 {
        format!("{:.0}k", count / 1e3)
    } else {
        format!("{count:.0}")
    }
}

/// Draws both costs of a point lookup over the last 20 s on a log scale, the queries that ran
/// as dots, and the write cost underneath.
fn draw(engine: &Indexing) -> Html {
    let now = engine.now_ms();
    let start = (now - SPAN_MS).max(0.0);
    // The scale reaches one decade above the largest table shown, and at least 10^4.
    let largest = engine
        .trace()
        .map(|p| p.rows)
        .max()
        .unwrap_or(engine.rows());
    let decades = ((largest.max(1) as f64).log10().ceil() + 1.0).max(4.0);
    let x_of = |at_ms: f64| PLOT_X + PLOT_W * ((at_ms - start) / SPAN_MS).clamp(0.0, 1.0);
    let y_of = |count: f64| {
        let fraction = (count.max(1.0).log10() / decades).clamp(0.0, 1.0);
        TOP + HEIGHT * (1.0 - fraction)
    };
    let points = |value: fn(&sim::indexing::TracePoint) -> u64| -> String {
        let mut points = String::new();
        for p in engine.trace().filter(|p| p.at_ms >= start) {
            let _ = write!(points, "{:.1},{:.1} ", x_of(p.at_ms), y_of(value(p) as f64));
        }
        points
    };
    let ticks = (0..=decades as u32).step_by(2).map(|decade| {
        let y = y_of(10f64.powi(decade as i32));
        html! {
            <g>
                <line class="sdbe-line" x1={PLOT_X.to_string()} y1={format!("{y:.1}")}
                    x2={(PLOT_X + PLOT_W).to_string()} y2={format!("{y:.1}")} opacity="0.3" />
                <text x={(PLOT_X - 6.0).to_string()} y={format!("{:.1}", y + 4.0)}
                    text-anchor="end" font-size="13">
                    { short(10f64.powi(decade as i32)) }
                </text>
            </g>
        }
    });
    // Up to 2000 queries are on the chart at once, so each kind is one path
    // of small circles rather than an element per query.
    let mut scans = String::new();
    let mut lookups = String::new();
    for &(at_ms, _, examined, indexed) in engine.recent_queries().filter(|q| q.0 >= start) {
        let path = if indexed { &mut lookups } else { &mut scans };
        let (x, y) = (x_of(at_ms), y_of(examined as f64));
        let _ = write!(path, "M{:.1} {y:.1}a3 3 0 1 0 6 0a3 3 0 1 0-6 0", x - 3.0);
    }
    let write = if engine.indexed() {
        format!(
            "insert: 1 row + {} index pages = {}",
            engine.depth(),
            engine.pages_per_insert()
        )
    } else {
        "insert: 1 row page, no index to update".to_string()
    };
    let rows_y = y_of(engine.rows() as f64);
    let index_y = y_of((engine.depth() + 1) as f64);

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 262" role="img"
            aria-label={format!("{} rows; a point lookup examines {} rows without an index, {} with it",
                engine.rows(), engine.rows(), engine.depth() + 1)}>
            <text x="8" y="18" font-size="14">
                { format!("{} rows, index depth {}", engine.rows(), engine.depth()) }
            </text>
            { for ticks }
            <polyline class="sdbe-trace" stroke-width="2.5" points={points(|p| p.rows)} />
            <polyline class="sdbe-trace" stroke-width="2.5" stroke-dasharray="6 4"
                points={points(|p| p.indexed_examined)} />
            <path class="sdbe-rejected sdbe-query-dots" d={scans} />
            <path class="sdbe-accepted sdbe-query-dots" d={lookups} />
            <text x={(PLOT_X + PLOT_W).to_string()} y={format!("{:.1}", (rows_y - 8.0).max(32.0))}
                text-anchor="end" font-size="13">{ "full scan: every row" }</text>
            <text x={(PLOT_X + PLOT_W).to_string()} y={format!("{:.1}", index_y - 8.0)}
                text-anchor="end" font-size="13">{ "index: depth + 1" }</text>
            // Short enough to fit at the 17 px that narrow screens give scene text.
            <text x="8" y={(TOP + HEIGHT + 20.0).to_string()} font-size="13">
                { "per point lookup, last 20 s (log scale)" }
            </text>
            <circle class="sdbe-rejected" cx={(PLOT_X + 6.0).to_string()} cy="228" r="5" />
            <text x={(PLOT_X + 16.0).to_string()} y="233" font-size="13">{ "query, scan" }</text>
            <circle class="sdbe-accepted" cx={(PLOT_X + 176.0).to_string()} cy="228" r="5" />
            <text x={(PLOT_X + 186.0).to_string()} y="233" font-size="13">{ "query, index" }</text>
            <text x={PLOT_X.to_string()} y="254" font-size="13">{ write }</text>
        </svg>
    }
}
