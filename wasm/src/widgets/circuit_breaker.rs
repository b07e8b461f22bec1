//! Circuit breaker widget: the three breaker states, a timeline of calls (succeeded, timed
//! out, shed) and the caller's latency, with a dependency the reader can fail.

use std::fmt::Write as _;

use sim::Engine;
use sim::circuit_breaker::{
    Action, BreakerState, CircuitBreaker, CircuitBreakerConfig, Event as BreakerEvent, Outcome,
};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Simulated time the timeline shows, in milliseconds.
const TIMELINE_SPAN_MS: f64 = 10_000.0;
const PLOT_X: f64 = 104.0;
const PLOT_W: f64 = 308.0;
/// Timeline rows: label, class and y of the row's centre.
const ROWS: [(&str, &str, f64); 4] = [
    ("waiting", "sdbe-waiting", 132.0),
    ("succeeded", "sdbe-accepted", 156.0),
    ("timed out", "sdbe-rejected", 180.0),
    ("shed", "sdbe-muted", 204.0),
];

fn describe(event: &BreakerEvent) -> Option<String> {
    let seconds = |at_ms: &f64| at_ms / 1000.0;
    Some(match event {
        BreakerEvent::StateChanged {
            at_ms,
            from,
            to,
            failures,
        } => {
            let why = match (from, to) {
                (BreakerState::Closed, BreakerState::Open) => {
                    format!(": {failures} failures in the window")
                }
                (BreakerState::HalfOpen, BreakerState::Open) => ": a probe timed out".to_string(),
                (BreakerState::HalfOpen, BreakerState::Closed) => {
                    ": the probes succeeded".to_string()
                }
                _ => String::new(),
            };
            format!(
                "{:.2} s: breaker {} → {}{why}",
                seconds(at_ms),
                from.name(),
                to.name()
            )
        }
        BreakerEvent::Sent {
            at_ms,
            request_id,
            probe: true,
        } => format!("{:.2} s: probe call {request_id} sent", seconds(at_ms)),
        BreakerEvent::DependencyChanged { at_ms, failing } => format!(
            "{:.2} s: dependency {}",
            seconds(at_ms),
            if *failing {
                "fails: calls stall until the timeout"
            } else {
                "recovered"
            }
        ),
        BreakerEvent::BreakerSwitched { at_ms, enabled } => format!(
            "{:.2} s: breaker {}",
            seconds(at_ms),
            if *enabled { "on, closed" } else { "off" }
        ),
        _ => return None,
    })
}

/// The circuit breaker widget.
#[component]
pub fn CircuitBreakerWidget(props: &WidgetProps<CircuitBreakerConfig>) -> Html {
    let runner: RunnerHandle<CircuitBreaker> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    // Start from the engine's configuration, which has the breaker switch as the reader set it.
    let current = match &run.engine {
        Ok(engine) => engine.config().clone(),
        Err(_) => run.config.clone(),
    };
    let configure = |edit: fn(&mut CircuitBreakerConfig, f64)| runner.configure(&current, edit);
    let on_breaker = runner.callback(|event: Event| {
        let input: HtmlInputElement = event.target_unchecked_into();
        Command::Act(Action::SetBreaker {
            enabled: input.checked(),
        })
    });
    let params = html! {
        <>
            <label class="sdbe-field">
                <span>{ "Breaker on" }</span>
                <input type="checkbox" class="sdbe-breaker-switch" checked={current.breaker}
                    onchange={on_breaker} />
            </label>
            <NumberField label="Calls/s" value={current.rate_per_s} min={0.1} max={200.0}
                step={0.1} on_change={configure(|c, v| c.rate_per_s = v)} />
            <NumberField label="Timeout (ms)" value={current.timeout_ms} min={1.0}
                max={60_000.0} on_change={configure(|c, v| c.timeout_ms = v)} />
            <NumberField label="Window (calls)" value={f64::from(current.window)} min={1.0}
                max={1000.0} on_change={configure(|c, v| c.window = v as u32)} />
            <NumberField label="Threshold (%)" value={current.failure_threshold_pct} min={1.0}
                max={100.0} on_change={configure(|c, v| c.failure_threshold_pct = v)} />
            <NumberField label="Open for (ms)" value={current.open_ms} min={10.0}
                max={600_000.0} on_change={configure(|c, v| c.open_ms = v)} />
            <NumberField label="Probes" value={f64::from(current.half_open_probes)} min={1.0}
                max={100.0} on_change={configure(|c, v| c.half_open_probes = v as u32)} />
        </>
    };
    let actions = fault_controls(&runner, &fault_target);
    let scene = match &run.engine {
        Ok(engine) => draw(engine),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Circuit breaker in front of a dependency",
            params,
            actions,
            scene,
        },
    )
}

/// Draws the three states on top and the last ten seconds of calls below.
fn draw(engine: &CircuitBreaker) -> Html {
    let on = engine.config().breaker;
    let state = engine.state();
    let states = [
        (BreakerState::Closed, 8.0),
        (BreakerState::HalfOpen, 148.0),
        (BreakerState::Open, 288.0),
    ];
    let boxes = states.iter().map(|&(shown, x)| {
        let current = on && shown == state;
        let bar = current.then(|| {
            html! { <rect class="sdbe-busy" x={format!("{x}")} y="56" width="124" height="6" rx="2" /> }
        });
        html! {
            <g>
                <rect class="sdbe-box" x={format!("{x}")} y="26" width="124" height="36" rx="6" />
                { for bar }
                <text x={format!("{}", x + 62.0)} y="48" text-anchor="middle" font-size="15"
                    font-weight={if current { "700" } else { "400" }}>{ shown.name() }</text>
            </g>
        }
    });

    let now = engine.now_ms();
    let start = (now - TIMELINE_SPAN_MS).max(0.0);
    let x_of = |at_ms: f64| PLOT_X + PLOT_W * ((at_ms - start) / TIMELINE_SPAN_MS).clamp(0.0, 1.0);
    // Hundreds of calls are on the timeline at full speed, so each row is one
    // path of shapes rather than an element per call.
    let mut rows: [String; 4] = Default::default();
    for call in engine
        .timeline()
        .filter(|call| call.done_ms.unwrap_or(now) >= start)
    {
        let row = match call.outcome {
            Outcome::InFlight => 0,
            Outcome::Succeeded => 1,
            Outcome::TimedOut => 2,
            Outcome::Shed => 3,
        };
        let y = ROWS[row].2;
        let x = x_of(call.at_ms);
        if call.outcome == Outcome::Shed {
            let _ = write!(rows[row], "M{:.1} {y}a3 3 0 1 0 6 0a3 3 0 1 0-6 0", x - 3.0);
            continue;
        }
        // A call is a bar from its send to its response or timeout, so waiting shows as length.
        let width = (x_of(call.done_ms.unwrap_or(now)) - x).max(2.0);
        let _ = write!(rows[row], "M{x:.1} {}h{width:.1}v8h-{width:.1}z", y - 4.0);
    }
    let calls = ROWS.iter().zip(rows).map(|(&(_, class, _), d)| {
        html! { <path class={class} {d} /> }
    });
    let labels = ROWS.iter().map(|&(label, _, y)| {
        html! { <text x="8" y={format!("{}", y + 5.0)} font-size="13">{ label }</text> }
    });
    let dependency = if engine.dependency_failing() {
        "dependency: failing (calls stall)"
    } else {
        "dependency: healthy"
    };
    let (failures, recorded) = engine.window_counts();
    let status = if on {
        format!("window: {failures} failed of {recorded}")
    } else {
        "breaker off: every call is sent".to_string()
    };

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 244" role="img"
            aria-label={format!("Breaker {}, {dependency}, {} calls in flight",
                if on { state.name() } else { "off" }, engine.in_flight())}>
            <text x="8" y="18" font-size="14">{ "breaker state" }</text>
            { for boxes }
            <text x="8" y="84" font-size="13">{ dependency }</text>
            <text x="8" y="104" font-size="13">{ status }</text>
            <line class="sdbe-line" x1={PLOT_X.to_string()} y1="116"
                x2={PLOT_X.to_string()} y2="216" />
            { for labels }
            { for calls }
            <text x={PLOT_X.to_string()} y="236" font-size="13">{ "calls, last 10 s (bar = wait)" }</text>
        </svg>
    }
}
