//! Health check widget: one timeline per instance (its condition, whether the balancer routes to
//! it, the requests it failed and its probes), with controls to hang an instance, take its
//! dependency away, restart it, and turn the checks off.

use sim::Engine;
use sim::health_check::{
    Action, Condition, Event as HealthEvent, HealthCheck, HealthCheckConfig, Instance,
    MAX_INSTANCES, Mark, ProbeOutcome, RECENT_MS, RestartCause,
};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::WidgetProps;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Left edge and width of the timelines, in scene units.
const PLOT_X: f64 = 8.0;
const PLOT_W: f64 = 404.0;
/// Height of one instance's row, and where the first row starts.
const ROW_H: f64 = 66.0;
const ROWS_TOP: f64 = 28.0;

/// Returns the letter the widget and the chapter call an instance by: A for 0, B for 1, ...
fn letter(id: u32) -> char {
    char::from(b'A' + (id % 26) as u8)
}

fn describe(event: &HealthEvent) -> Option<String> {
    let seconds = |at_ms: &f64| at_ms / 1000.0;
    Some(match event {
        HealthEvent::WarmedUp { at_ms, instance } => {
            format!("{:.2} s: {} warmed up", seconds(at_ms), letter(*instance))
        }
        HealthEvent::Probed {
            at_ms,
            instance,
            live,
            ready,
        } if !(*live && *ready) => {
            let failed = if *live {
                "/readyz"
            } else {
                "/livez and /readyz"
            };
            format!(
                "{:.2} s: probe of {} failed {failed}",
                seconds(at_ms),
                letter(*instance)
            )
        }
        HealthEvent::Added { at_ms, instance } => format!(
            "{:.2} s: {} joins the rotation",
            seconds(at_ms),
            letter(*instance)
        ),
        HealthEvent::Removed {
            at_ms,
            instance,
            failures,
        } if *failures > 0 => format!(
            "{:.2} s: {} failed {failures} readiness probes in a row, leaves the rotation",
            seconds(at_ms),
            letter(*instance)
        ),
        HealthEvent::Restarted {
            at_ms,
            instance,
            cause,
            ..
        } => {
            let why = match cause {
                RestartCause::Liveness => "failed liveness probes: restarted",
                RestartCause::Operator => "restarted by hand",
            };
            format!(
                "{:.2} s: {} {why}, cold again",
                seconds(at_ms),
                letter(*instance)
            )
        }
        HealthEvent::Hung { at_ms, instance } => {
            format!("{:.2} s: {} hangs", seconds(at_ms), letter(*instance))
        }
        HealthEvent::DependencyChanged {
            at_ms,
            instance,
            available,
        } => format!(
            "{:.2} s: {} {}",
            seconds(at_ms),
            letter(*instance),
            if *available {
                "has its dependency back"
            } else {
                "lost its dependency: not ready"
            }
        ),
        HealthEvent::ChecksSwitched { at_ms, enabled } => format!(
            "{:.2} s: checks {}",
            seconds(at_ms),
            if *enabled {
                "on"
            } else {
                "off: every instance in the rotation"
            }
        ),
        // Requests come many per second and passing probes every period; the counters and the
        // timelines show them.
        _ => return None,
    })
}

/// Renders the health check widget: the parameter fields, the fault controls and one timeline
/// per instance.
#[component]
pub fn HealthCheckWidget(props: &WidgetProps<HealthCheckConfig>) -> Html {
    let runner: RunnerHandle<HealthCheck> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let target = use_state(|| 1_u32);
    let run = runner.get();

    // Start from the engine's configuration, which has the checks switch as the reader set it.
    let current = match &run.engine {
        Ok(engine) => engine.config().clone(),
        Err(_) => run.config.clone(),
    };
    let configure = |edit: fn(&mut HealthCheckConfig, f64)| runner.configure(&current, edit);
    let on_checks = runner.callback(|event: Event| {
        let input: HtmlInputElement = event.target_unchecked_into();
        Command::Act(Action::SetChecks {
            enabled: input.checked(),
        })
    });
    let params = html! {
        <>
            <label class="sdbe-field">
                <span>{ "Checks on" }</span>
                <input type="checkbox" class="sdbe-checks-switch" checked={current.checks}
                    onchange={on_checks} />
            </label>
            <NumberField label="Instances" value={f64::from(current.instances)} min={1.0}
                max={f64::from(MAX_INSTANCES)}
                on_change={configure(|c, v| c.instances = v as u32)} />
            <NumberField label="Requests/s" value={current.rate_per_s} min={0.1} max={500.0}
                step={0.1} on_change={configure(|c, v| c.rate_per_s = v)} />
            <NumberField label="Probe period (ms)" value={current.period_ms} min={100.0}
                max={60_000.0} step={100.0} on_change={configure(|c, v| c.period_ms = v)} />
            <NumberField label="Failure threshold" value={f64::from(current.failure_threshold)}
                min={1.0} max={100.0}
                on_change={configure(|c, v| c.failure_threshold = v as u32)} />
            <NumberField label="Success threshold" value={f64::from(current.success_threshold)}
                min={1.0} max={100.0}
                on_change={configure(|c, v| c.success_threshold = v as u32)} />
            <NumberField label="Warm-up (ms)" value={current.warmup_ms} min={0.0}
                max={600_000.0} step={100.0} on_change={configure(|c, v| c.warmup_ms = v)} />
        </>
    };
    let (actions, scene) = match &run.engine {
        Ok(engine) => (fault_group(&runner, &target, engine), draw(engine)),
        Err(_) => (html! {}, html! {}),
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Health checks: what the balancer routes to",
            params,
            actions,
            scene,
        },
    )
}

/// Builds the instance picker and the buttons that hang an instance, take its dependency away or
/// give it back, and restart it.
fn fault_group(
    runner: &RunnerHandle<HealthCheck>,
    target: &UseStateHandle<u32>,
    engine: &HealthCheck,
) -> Html {
    let instances = engine.instances();
    let id = (**target).min(instances.len().saturating_sub(1) as u32);
    let chosen = instances.get(id as usize);
    let send =
        |make: fn(u32) -> Action| runner.callback(move |_: MouseEvent| Command::Act(make(id)));
    let on_select = {
        let target = target.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            if let Ok(id) = select.value().parse() {
                target.set(id);
            }
        })
    };
    let options = instances.iter().map(|instance| {
        html! {
            <option value={instance.id.to_string()} selected={instance.id == id}>
                { format!("{} ({})", letter(instance.id), instance.condition().name()) }
            </option>
        }
    });
    let hung = chosen.is_some_and(|i| i.hung);
    let has_dependency = chosen.is_none_or(|i| i.dependency);
    html! {
        <div class="sdbe-faults" role="group" aria-label="Fault injection">
            <span class="sdbe-faults-title">{ "Faults:" }</span>
            <label>
                { "Instance " }
                <select onchange={on_select} aria-label="Instance to break or restart">
                    { for options }
                </select>
            </label>
            <button type="button" class="sdbe-hang" disabled={hung}
                onclick={send(|instance| Action::Hang { instance })}>{ "Hang" }</button>
            <button type="button" class="sdbe-lose-dependency" disabled={!has_dependency}
                onclick={send(|instance| Action::SetDependency { instance, available: false })}>
                { "Lose dependency" }
            </button>
            <button type="button" class="sdbe-restore-dependency" disabled={has_dependency}
                onclick={send(|instance| Action::SetDependency { instance, available: true })}>
                { "Restore dependency" }
            </button>
            <button type="button" class="sdbe-restart"
                onclick={send(|instance| Action::Restart { instance })}>{ "Restart" }</button>
        </div>
    }
}

/// Returns the theme class that colours a condition.
fn condition_class(condition: Condition) -> &'static str {
    match condition {
        Condition::Healthy => "sdbe-accepted",
        Condition::Cold => "sdbe-waiting",
        Condition::Hung => "sdbe-rejected",
        Condition::NotReady => "sdbe-muted",
    }
}

/// Maps simulated time in the last [`RECENT_MS`] to an x in the plot.
struct TimeAxis {
    start_ms: f64,
}

impl TimeAxis {
    fn x(&self, at_ms: f64) -> f64 {
        PLOT_X + PLOT_W * ((at_ms - self.start_ms) / RECENT_MS).clamp(0.0, 1.0)
    }
}

/// Draws the rotation on top, one row per instance, and a legend.
fn draw(engine: &HealthCheck) -> Html {
    let now = engine.now_ms();
    let axis = TimeAxis {
        start_ms: (now - RECENT_MS).max(0.0),
    };
    let instances = engine.instances();
    let rotation: Vec<String> = instances
        .iter()
        .filter(|i| i.in_rotation)
        .map(|i| letter(i.id).to_string())
        .collect();
    let rotation = if rotation.is_empty() {
        "rotation: empty".to_string()
    } else {
        format!("rotation: {}", rotation.join(", "))
    };
    let threshold = engine.config().failure_threshold;
    let checks = engine.config().checks;
    let rows = instances.iter().enumerate().map(|(row, instance)| {
        draw_row(
            instance,
            ROWS_TOP + ROW_H * row as f64,
            &axis,
            now,
            checks.then_some(threshold),
        )
    });
    let legend_y = ROWS_TOP + ROW_H * instances.len() as f64 + 8.0;
    let label = instances
        .iter()
        .map(|i| {
            format!(
                "{} {}, {}",
                letter(i.id),
                i.condition().name(),
                if i.in_rotation {
                    "in rotation"
                } else {
                    "out of rotation"
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ");

    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {:.0}", legend_y + 88.0)} role="img"
            aria-label={label}>
            <text x={PLOT_X.to_string()} y="18" font-size="14">{ rotation }</text>
            <text x="412" y="18" font-size="13" text-anchor="end">{ "last 10 s" }</text>
            { for rows }
            { legend(legend_y) }
        </svg>
    }
}

/// Returns the failed-probe streaks that will act at `threshold`, as the row's label shows them:
/// the `/livez` streak, which restarts, and the `/readyz` streak only while the instance is in
/// the rotation, since out of it nothing more happens however long the streak grows. A hung
/// instance fails both, and its restart takes it out, so the `/readyz` streak shows only when it
/// is the longer one.
fn streak_label(instance: &Instance, threshold: u32) -> String {
    let mut parts = Vec::new();
    if instance.in_rotation && instance.ready_failures > instance.live_failures {
        parts.push(format!("readyz {}/{threshold}", instance.ready_failures));
    }
    if instance.live_failures > 0 {
        parts.push(format!("livez {}/{threshold}", instance.live_failures));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" · {} failed", parts.join(", "))
    }
}

/// Draws a probe mark centred on `(x, y)`: a ring when both probes passed, a ring with a slash
/// when only `/readyz` failed, and a cross when `/livez` failed.
fn probe_mark(outcome: ProbeOutcome, x: f64, y: f64) -> Html {
    let ring = html! {
        <circle class="sdbe-idle" cx={format!("{x:.1}")} cy={format!("{y:.1}")} r="3" />
    };
    let (name, shape) = match outcome {
        ProbeOutcome::Passed => ("passed", ring),
        ProbeOutcome::ReadyFailed => (
            "ready-failed",
            html! {
                <>
                    { ring }
                    <path class="sdbe-line" stroke-width="1.5"
                        d={format!("M{:.1} {:.1} L{:.1} {:.1}",
                            x - 4.0, y + 4.0, x + 4.0, y - 4.0)} />
                </>
            },
        ),
        ProbeOutcome::LiveFailed => (
            "live-failed",
            html! {
                <path class="sdbe-line" stroke-width="1.5"
                    d={format!("M{:.1} {:.1} L{:.1} {:.1} M{:.1} {:.1} L{:.1} {:.1}",
                        x - 3.0, y - 3.0, x + 3.0, y + 3.0, x - 3.0, y + 3.0, x + 3.0, y - 3.0)} />
            },
        ),
    };
    html! { <g data-probe={name}>{ shape }</g> }
}

/// Draws one instance's row. The row has its name, condition and probe streaks, then a band
/// coloured by condition, thick while in the rotation and thin while out. Under the band are
/// ticks for failed requests and the probe marks ([`probe_mark`]). `threshold` is the failure
/// threshold while the checks are on.
fn draw_row(
    instance: &Instance,
    top: f64,
    axis: &TimeAxis,
    now: f64,
    threshold: Option<u32>,
) -> Html {
    let condition = instance.condition();
    let rotation = if instance.in_rotation {
        "in rotation"
    } else {
        "out"
    };
    let streak = threshold.map_or_else(String::new, |t| streak_label(instance, t));

    let segments: Vec<_> = instance.segments.iter().collect();
    let bands = segments.iter().enumerate().map(|(i, segment)| {
        let end = segments.get(i + 1).map_or(now, |next| next.start_ms);
        let (x1, x2) = (axis.x(segment.start_ms), axis.x(end));
        let (y, height) = if segment.in_rotation {
            (top + 18.0, 14.0)
        } else {
            (top + 23.0, 4.0)
        };
        html! {
            <rect class={condition_class(segment.condition)} x={format!("{x1:.1}")}
                y={format!("{y:.1}")} width={format!("{:.1}", (x2 - x1).max(0.0))}
                height={format!("{height:.1}")} />
        }
    });
    let marks = instance.marks.iter().map(|mark| {
        let x = axis.x(mark.at_ms());
        match *mark {
            Mark::Failed { .. } => html! {
                <rect class="sdbe-rejected" x={format!("{:.1}", x - 0.75)}
                    y={format!("{:.1}", top + 35.0)} width="1.5" height="8" />
            },
            Mark::Probe { outcome, .. } => probe_mark(outcome, x, top + 51.0),
            Mark::Restart { .. } => html! {
                <line class="sdbe-line" stroke-width="1.5" x1={format!("{x:.1}")}
                    y1={format!("{:.1}", top + 16.0)} x2={format!("{x:.1}")}
                    y2={format!("{:.1}", top + 34.0)} />
            },
        }
    });
    html! {
        <g data-instance={letter(instance.id).to_string()}>
            <text x={PLOT_X.to_string()} y={format!("{:.1}", top + 13.0)} font-size="14"
                font-weight={if instance.in_rotation { "700" } else { "400" }}>
                { format!("{}: {}", letter(instance.id), condition.name()) }
            </text>
            <text x="412" y={format!("{:.1}", top + 13.0)} font-size="13" text-anchor="end">
                { format!("{rotation}{streak}") }
            </text>
            { for bands }
            { for marks }
        </g>
    }
}

/// Draws the legend in four rows, so it still fits when narrow screens enlarge the text. The
/// rotation key is drawn in outline, so that it reads as thickness, not as a condition.
fn legend(top: f64) -> Html {
    let swatches = [
        (Condition::Healthy, 8.0),
        (Condition::Cold, 110.0),
        (Condition::Hung, 200.0),
        (Condition::NotReady, 290.0),
    ]
    .map(|(condition, x)| {
        html! {
            <>
                <rect class={condition_class(condition)} x={format!("{x}")}
                    y={format!("{:.1}", top + 3.0)} width="12" height="12" />
                <text x={format!("{}", x + 17.0)} y={format!("{:.1}", top + 14.0)}
                    font-size="13">{ condition.name() }</text>
            </>
        }
    });
    let y2 = top + 24.0;
    let y3 = top + 46.0;
    let y4 = top + 68.0;
    html! {
        <g>
            { for swatches }
            <rect class="sdbe-box" x="8" y={format!("{:.1}", y2 + 2.0)} width="24" height="12" />
            <rect class="sdbe-box" x="36" y={format!("{:.1}", y2 + 6.0)} width="24" height="4" />
            <text x="66" y={format!("{:.1}", y2 + 13.0)} font-size="13">
                { "in rotation / out" }
            </text>
            <rect class="sdbe-rejected" x="230" y={format!("{:.1}", y2 + 3.0)} width="2" height="10" />
            <text x="238" y={format!("{:.1}", y2 + 13.0)} font-size="13">{ "failed request" }</text>
            { probe_mark(ProbeOutcome::Passed, 14.0, y3 + 8.0) }
            <text x="24" y={format!("{:.1}", y3 + 13.0)} font-size="13">{ "probes passed" }</text>
            { probe_mark(ProbeOutcome::ReadyFailed, 176.0, y3 + 8.0) }
            <text x="186" y={format!("{:.1}", y3 + 13.0)} font-size="13">
                { "only /readyz failed" }
            </text>
            { probe_mark(ProbeOutcome::LiveFailed, 14.0, y4 + 8.0) }
            <text x="24" y={format!("{:.1}", y4 + 13.0)} font-size="13">{ "/livez failed" }</text>
            <line class="sdbe-line" stroke-width="1.5" x1="176" y1={format!("{:.1}", y4 + 2.0)}
                x2="176" y2={format!("{:.1}", y4 + 14.0)} />
            <text x="183" y={format!("{:.1}", y4 + 13.0)} font-size="13">{ "restart" }</text>
        </g>
    }
}
