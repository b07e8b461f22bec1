//! Scaling widget: one machine sized up or nodes added behind a balancer, with the measured
//! throughput drawn against the Universal Scalability Law curve.

use sim::scaling::{Action, Event as ScalingEvent, Mode, SIZES, Scaling, ScalingConfig};
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Left edge, width, top and height of the throughput chart, in scene units.
const PLOT_X: f64 = 48.0;
const PLOT_W: f64 = 360.0;
const PLOT_TOP: f64 = 124.0;
const PLOT_H: f64 = 130.0;

fn describe(event: &ScalingEvent) -> Option<String> {
    let s = |at_ms: &f64| at_ms / 1000.0;
    Some(match event {
        ScalingEvent::Resized { at_ms, cores } => {
            format!("{:.1} s: resized to {cores} cores", s(at_ms))
        }
        ScalingEvent::NodeAdded { at_ms, node } => {
            format!("{:.1} s: node {node} added", s(at_ms))
        }
        ScalingEvent::NodeRemoved { at_ms, node, lost } => {
            format!(
                "{:.1} s: node {node} removed, {lost} requests lost",
                s(at_ms)
            )
        }
        ScalingEvent::Crashed { at_ms, node, lost } => {
            format!(
                "{:.1} s: machine {node} crashed, {lost} requests lost",
                s(at_ms)
            )
        }
        ScalingEvent::Restarted { at_ms, node } => {
            format!("{:.1} s: machine {node} restarted", s(at_ms))
        }
        ScalingEvent::LoadSet { at_ms, per_s } => {
            format!("{:.1} s: load set to {per_s:.0} req/s", s(at_ms))
        }
        ScalingEvent::Dropped { .. } => return None,
    })
}

/// The scaling widget.
#[component]
pub fn ScalingWidget(props: &WidgetProps<ScalingConfig>) -> Html {
    let runner: RunnerHandle<Scaling> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();
    // Rebuilds start from the live size and node count, not the directive's.
    let live = match &run.engine {
        Ok(engine) => engine.config().clone(),
        Err(_) => run.config.clone(),
    };
    let mode = live.mode;

    let configure = |edit: fn(&mut ScalingConfig, f64)| runner.configure(&live, edit);
    let on_load = runner.callback(|per_s: f64| Command::Act(Action::SetLoad { per_s }));
    let act = |action: Action| runner.callback(move |_: MouseEvent| Command::Act(action.clone()));
    let params = html! {
        <>
            <NumberField label="Load (req/s)" value={live.load_per_s}
                min={0.0} max={5000.0} step={10.0} on_change={on_load} />
            <NumberField label="Contention σ" value={live.sigma}
                min={0.0} max={1.0} step={0.01}
                on_change={configure(|c, v| c.sigma = v)} />
            <NumberField label="Coherency κ" value={live.kappa}
                min={0.0} max={1.0} step={0.001}
                on_change={configure(|c, v| c.kappa = v)} />
            <NumberField label="Service (ms)" value={live.service_ms}
                min={1.0} max={1000.0}
                on_change={configure(|c, v| c.service_ms = v)} />
        </>
    };
    let disabled = run.engine.is_err();
    let resize = match mode {
        Mode::Vertical => html! {
            <>
                <button type="button" class="sdbe-primary sdbe-size-up" {disabled}
                    onclick={act(Action::SizeUp)}>{ "Size up" }</button>
                <button type="button" class="sdbe-size-down" {disabled}
                    onclick={act(Action::SizeDown)}>{ "Size down" }</button>
            </>
        },
        Mode::Horizontal => html! {
            <>
                <button type="button" class="sdbe-primary sdbe-add-node" {disabled}
                    onclick={act(Action::AddNode)}>{ "Add node" }</button>
                <button type="button" class="sdbe-remove-node" {disabled}
                    onclick={act(Action::RemoveNode)}>{ "Remove node" }</button>
            </>
        },
    };
    let actions = html! {
        <>
            { resize }
            { fault_controls(&runner, &fault_target) }
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
            title: match mode {
                Mode::Vertical => "Scale up: one bigger machine",
                Mode::Horizontal => "Scale out: more machines",
            },
            params,
            actions,
            scene,
        },
    )
}

/// Draws the machines as bars of busy workers and queued requests, one per machine.
fn draw_machines(engine: &Scaling) -> Html {
    let machines = engine.machines();
    let count = machines.len().max(1) as f64;
    let gap = if count > 16.0 { 2.0 } else { 6.0 };
    let width = ((404.0 - gap * (count - 1.0)) / count).min(120.0);
    let cores = f64::from(engine.cores());
    let limit = f64::from(engine.config().queue_limit);
    let bars = machines.iter().enumerate().map(|(i, machine)| {
        let x = 8.0 + (width + gap) * i as f64;
        let busy = (machine.busy() as f64 / cores).min(1.0);
        let queued = (machine.queued() as f64 / limit).min(1.0);
        let class = if machine.up() { "sdbe-box" } else { "sdbe-rejected" };
        html! {
            <g>
                <rect class={class} x={format!("{x:.1}")} y="34" width={format!("{width:.1}")}
                    height="40" rx="3" />
                <rect class="sdbe-busy" x={format!("{x:.1}")} y={format!("{:.1}", 74.0 - 40.0 * busy)}
                    width={format!("{width:.1}")} height={format!("{:.1}", 40.0 * busy)} rx="3" />
                <rect class="sdbe-waiting" x={format!("{x:.1}")} y="78"
                    width={format!("{:.1}", width * queued)} height="8" />
            </g>
        }
    });
    html! { <g>{ for bars }</g> }
}

/// Maps a unit count to the chart's x: log 2 for core counts, linear for node counts.
fn x_of(engine: &Scaling, n: f64) -> f64 {
    let max = f64::from(engine.max_units());
    let fraction = match engine.config().mode {
        Mode::Vertical => n.max(1.0).log2() / max.log2(),
        Mode::Horizontal => (n - 1.0) / (max - 1.0),
    };
    PLOT_X + PLOT_W * fraction.clamp(0.0, 1.0)
}

/// Draws the machines, then the USL capacity curve with the served rate measured at each size
/// as dots, the offered load as a dashed line and the current size as a vertical line.
fn draw(engine: &Scaling) -> Html {
    let config = engine.config();
    let units: Vec<u32> = match config.mode {
        Mode::Vertical => SIZES.iter().map(|&(cores, _)| cores).collect(),
        Mode::Horizontal => (1..=engine.max_units()).collect(),
    };
    let curve_max = units
        .iter()
        .map(|&n| engine.capacity_at(n))
        .fold(0.0, f64::max);
    let measured = engine.measured_curve();
    let measured_max = measured.iter().map(|&(_, rate)| rate).fold(0.0, f64::max);
    let y_max = (curve_max.max(config.load_per_s).max(measured_max) * 1.1).max(1.0);
    let y_of = |rate: f64| PLOT_TOP + PLOT_H * (1.0 - (rate / y_max).clamp(0.0, 1.0));

    let curve: Vec<String> = units
        .iter()
        .map(|&n| {
            let x = x_of(engine, f64::from(n));
            format!("{x:.1},{:.1}", y_of(engine.capacity_at(n)))
        })
        .collect();
    let points = measured.iter().map(|&(n, rate)| {
        html! {
            <circle class="sdbe-accepted" cx={format!("{:.1}", x_of(engine, f64::from(n)))}
                cy={format!("{:.1}", y_of(rate))} r="4" />
        }
    });
    let load_y = y_of(config.load_per_s);
    let now_x = x_of(engine, f64::from(engine.units()));
    let (unit, first, last) = match config.mode {
        Mode::Vertical => ("cores (log scale)", "1", "128"),
        Mode::Horizontal => ("nodes up", "1", "32"),
    };
    let size = match config.mode {
        Mode::Vertical => format!("{} cores", engine.cores()),
        Mode::Horizontal => format!(
            "{} of {} nodes up",
            engine.nodes_up(),
            engine.machines().len()
        ),
    };
    let headline = format!(
        "{size}: capacity {:.0}/s, served {:.0}/s",
        engine.capacity_per_s(),
        engine.served_per_s()
    );
    let bottom = PLOT_TOP + PLOT_H;

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 316" role="img" aria-label={headline.clone()}>
            <text x="8" y="20" font-size="14">{ headline }</text>
            { draw_machines(engine) }
            <text x="8" y="104" font-size="13">{ "busy workers (fill), queue (bar below)" }</text>
            <line class="sdbe-line" x1={PLOT_X.to_string()} y1={bottom.to_string()}
                x2={(PLOT_X + PLOT_W).to_string()} y2={bottom.to_string()} />
            <line class="sdbe-line" x1={PLOT_X.to_string()} y1={PLOT_TOP.to_string()}
                x2={PLOT_X.to_string()} y2={bottom.to_string()} />
            <line class="sdbe-line" stroke-dasharray="5 4" x1={PLOT_X.to_string()}
                y1={format!("{load_y:.1}")} x2={(PLOT_X + PLOT_W).to_string()}
                y2={format!("{load_y:.1}")} />
            <line class="sdbe-line" x1={format!("{now_x:.1}")} y1={PLOT_TOP.to_string()}
                x2={format!("{now_x:.1}")} y2={bottom.to_string()} />
            <polyline class="sdbe-trace" stroke-width="2.5" points={curve.join(" ")} />
            { for points }
            <text x="4" y={(PLOT_TOP + 10.0).to_string()} font-size="13">
                { format!("{y_max:.0}") }
            </text>
            <text x="4" y={bottom.to_string()} font-size="13">{ "0/s" }</text>
            <text x={PLOT_X.to_string()} y={(bottom + 16.0).to_string()} font-size="13">
                { first }
            </text>
            <text x={(PLOT_X + PLOT_W).to_string()} y={(bottom + 16.0).to_string()}
                text-anchor="end" font-size="13">{ last }</text>
            <text x={(PLOT_X + PLOT_W / 2.0).to_string()} y={(bottom + 16.0).to_string()}
                text-anchor="middle" font-size="13">{ unit }</text>
            // Two short lines, so that the legend fits at 360 px.
            <text x="8" y="292" font-size="13">
                { "line: USL capacity · dots: served/s" }
            </text>
            <text x="8" y="310" font-size="13">{ "dashed: offered load" }</text>
        </svg>
    }
}
