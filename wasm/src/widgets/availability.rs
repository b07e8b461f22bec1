//! Availability widget: a load balancer, parallel replicas and a database failing and being
//! repaired, with the measured availability beside the series and parallel formula.

use sim::availability::{
    Availability, AvailabilityConfig, Component, Event as AvailabilityEvent, Role,
};
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Top and height of the area the tiers are drawn in, in scene units.
const TOP: f64 = 34.0;
const HEIGHT: f64 = 170.0;

fn describe(event: &AvailabilityEvent) -> Option<String> {
    let day = |at_h: f64| at_h / 24.0;
    match event {
        AvailabilityEvent::SystemDown { at_h } => {
            Some(format!("day {:.1}: the system is down", day(*at_h)))
        }
        AvailabilityEvent::SystemUp { at_h, outage_h } => Some(format!(
            "day {:.1}: the system is up again after {:.0} min",
            day(*at_h),
            outage_h * 60.0
        )),
        AvailabilityEvent::Crashed { at_h, component } => Some(format!(
            "day {:.1}: component {component} crashed by hand",
            day(*at_h)
        )),
        AvailabilityEvent::Restarted { at_h, component } => Some(format!(
            "day {:.1}: component {component} restarted",
            day(*at_h)
        )),
        _ => None,
    }
}

/// The availability widget.
#[component]
pub fn AvailabilityWidget(props: &WidgetProps<AvailabilityConfig>) -> Html {
    let runner: RunnerHandle<Availability> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    let configure = |edit: fn(&mut AvailabilityConfig, f64)| runner.configure(&run.config, edit);
    let on_standby = {
        let mut config = run.config.clone();
        config.standby = !config.standby;
        runner.callback(move |_: MouseEvent| Command::Configure(config.clone()))
    };
    let percent = |fraction: f64| (fraction * 100.0 * 1e4).round() / 1e4;
    let params = html! {
        <>
            <NumberField label="Replicas" value={f64::from(run.config.replicas)}
                min={1.0} max={8.0}
                on_change={configure(|c, v| c.replicas = v as u32)} />
            <NumberField label="Load balancer (%)" value={percent(run.config.lb_availability)}
                min={50.0} max={99.9999} step={0.01}
                on_change={configure(|c, v| c.lb_availability = v / 100.0)} />
            <NumberField label="Each replica (%)" value={percent(run.config.app_availability)}
                min={50.0} max={99.9999} step={0.01}
                on_change={configure(|c, v| c.app_availability = v / 100.0)} />
            <NumberField label="Database (%)" value={percent(run.config.db_availability)}
                min={50.0} max={99.9999} step={0.01}
                on_change={configure(|c, v| c.db_availability = v / 100.0)} />
            <NumberField label="MTTR (h)" value={run.config.mttr_h}
                min={0.1} max={720.0} step={0.1}
                on_change={configure(|c, v| c.mttr_h = v)} />
        </>
    };
    let actions = html! {
        <>
            <button type="button" class="sdbe-standby" onclick={on_standby}
                aria-pressed={run.config.standby.to_string()}>
                { if run.config.standby { "Remove standby" } else { "Add standby database" } }
            </button>
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
            title: "Availability in series and in parallel",
            params,
            actions,
            scene,
        },
    )
}

/// Draws one component as a box: up, failed (waiting for repair) or crashed by hand.
fn component_box(component: &Component, x: f64, y: f64, width: f64, height: f64) -> Html {
    let class = if component.crashed {
        "sdbe-rejected"
    } else if component.up {
        "sdbe-box"
    } else {
        "sdbe-waiting"
    };
    let label = match component.role {
        Role::LoadBalancer => "LB".to_string(),
        Role::App => format!("app {}", component.id),
        Role::Database => "DB".to_string(),
        Role::Standby => "standby".to_string(),
    };
    html! {
        <g>
            <rect class={class} x={format!("{x:.1}")} y={format!("{y:.1}")}
                width={format!("{width:.1}")} height={format!("{height:.1}")} rx="4" />
            <text x={format!("{:.1}", x + width / 2.0)} y={format!("{:.1}", y + height / 2.0 + 5.0)}
                text-anchor="middle" font-size="13">{ label }</text>
        </g>
    }
}

/// Draws the load balancer on the left, the replicas in a column, and the database tier on the
/// right, with the formula and the measured availability below.
fn draw(engine: &Availability) -> Html {
    let components = engine.components();
    let apps: Vec<&Component> = components.iter().filter(|c| c.role == Role::App).collect();
    let databases: Vec<&Component> = components
        .iter()
        .filter(|c| matches!(c.role, Role::Database | Role::Standby))
        .collect();
    let middle = TOP + HEIGHT / 2.0;

    let lb = components
        .iter()
        .find(|c| c.role == Role::LoadBalancer)
        .map(|c| component_box(c, 8.0, middle - 20.0, 70.0, 40.0));
    let app_row = HEIGHT / apps.len().max(1) as f64;
    let app_height = (app_row - 4.0).min(36.0);
    let app_boxes = apps.iter().enumerate().map(|(i, app)| {
        let y = TOP + app_row * i as f64 + (app_row - app_height) / 2.0;
        let centre = y + app_height / 2.0;
        html! {
            <g>
                <line class="sdbe-line" x1="78" y1={format!("{middle:.1}")} x2="160"
                    y2={format!("{centre:.1}")} />
                <line class="sdbe-line" x1="250" y1={format!("{centre:.1}")} x2="330"
                    y2={format!("{middle:.1}")} />
                { component_box(app, 160.0, y, 90.0, app_height) }
            </g>
        }
    });
    let db_row = HEIGHT / databases.len().max(1) as f64;
    let db_boxes = databases.iter().enumerate().map(|(i, db)| {
        let y = TOP + db_row * i as f64 + (db_row - 44.0) / 2.0;
        component_box(db, 330.0, y, 82.0, 44.0)
    });

    let status = if engine.system_up() {
        "system up"
    } else {
        "system DOWN"
    };
    let summary = format!(
        "formula {:.4}%  measured {:.4}%",
        engine.formula() * 100.0,
        engine.measured() * 100.0
    );
    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 280" role="img"
            aria-label={format!("{status}; {summary}")}>
            <text x="8" y="20" font-size="14">{ status }</text>
            <text x="160" y="20" font-size="13">{ "replicas (parallel)" }</text>
            { for app_boxes }
            { lb }
            { for db_boxes }
            <text x="8" y="228" font-size="13">{ summary }</text>
            <rect class="sdbe-waiting" x="8" y="240" width="12" height="10" />
            <text x="24" y="250" font-size="13">{ "failed, repairing" }</text>
            <rect class="sdbe-rejected" x="8" y="260" width="12" height="10" />
            <text x="24" y="270" font-size="13">{ "crashed by hand" }</text>
        </svg>
    }
}
