//! Load balancer widget: per-server queues and busy workers under round-robin or
//! least-connections, one lane per policy in compare mode, with crashes and restarts.

use sim::load_balancer::{
    Action, Event as BalancerEvent, Lane, LoadBalancer, LoadBalancerConfig, Policy, Server,
};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Queued requests that fill a queue bar. A longer queue shows a full bar, and every queue
/// shows its length above the bar.
const QUEUE_SCALE: usize = 10;
/// Left edge and width of the server columns, in scene units.
const LEFT: f64 = 10.0;
const WIDTH: f64 = 400.0;

fn describe(event: &BalancerEvent) -> Option<String> {
    let seconds = |at_ms: f64| at_ms / 1000.0;
    match event {
        BalancerEvent::Arrived {
            at_ms,
            request_id,
            size_ms,
            slow: true,
        } => Some(format!(
            "{:.2} s: slow request {request_id} arrived, {size_ms:.0} ms of work",
            seconds(*at_ms)
        )),
        BalancerEvent::Dropped {
            at_ms,
            request_id,
            server_id: Some(server_id),
            ..
        } => Some(format!(
            "{:.2} s: server {server_id}'s queue is full, request {request_id} dropped",
            seconds(*at_ms)
        )),
        BalancerEvent::Dropped {
            at_ms,
            request_id,
            server_id: None,
            ..
        } => Some(format!(
            "{:.2} s: no server is up, request {request_id} dropped",
            seconds(*at_ms)
        )),
        BalancerEvent::ServerCrashed {
            at_ms,
            lane: 0,
            server_id,
            lost_request_ids,
        } => Some(format!(
            "{:.2} s: server {server_id} crashed and lost {} requests",
            seconds(*at_ms),
            lost_request_ids.len()
        )),
        BalancerEvent::ServerRestarted {
            at_ms,
            lane: 0,
            server_id,
        } => Some(format!(
            "{:.2} s: server {server_id} restarted",
            seconds(*at_ms)
        )),
        _ => None,
    }
}

/// Renders the load balancer widget: one panel per policy, the parameter fields and the fault
/// controls.
#[component]
pub fn LoadBalancerWidget(props: &WidgetProps<LoadBalancerConfig>) -> Html {
    let runner: RunnerHandle<LoadBalancer> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    // The arrival rate changes the running system; the other fields restart it.
    let current = match &run.engine {
        Ok(balancer) => balancer.config().clone(),
        Err(_) => run.config.clone(),
    };
    let on_rate = runner.callback(|value: f64| {
        Command::Act(Action::SetArrivalRate {
            arrival_per_s: value,
        })
    });
    let configure = |edit: fn(&mut LoadBalancerConfig, f64)| runner.configure(&current, edit);
    let on_policy = {
        let config = current.clone();
        runner.callback(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            let mut config = config.clone();
            config.policy = match select.value().as_str() {
                "least_connections" => Policy::LeastConnections,
                _ => Policy::RoundRobin,
            };
            Command::Configure(config)
        })
    };
    let policy_field = (!current.compare).then(|| {
        let option = |policy: Policy, value: &'static str| {
            html! {
                <option value={value} selected={current.policy == policy}>{ policy.label() }</option>
            }
        };
        html! {
            <label class="sdbe-field">
                <span>{ "Policy" }</span>
                <select onchange={on_policy} aria-label="Load balancing policy">
                    { option(Policy::RoundRobin, "round_robin") }
                    { option(Policy::LeastConnections, "least_connections") }
                </select>
            </label>
        }
    });
    let params = html! {
        <>
            { for policy_field }
            <NumberField label="Servers" value={f64::from(run.config.servers)} min={1.0}
                max={20.0} on_change={configure(|c, v| c.servers = v as u32)} />
            <NumberField label="Arrivals (req/s)" value={current.arrival_per_s} min={0.1}
                max={2000.0} step={0.1} on_change={on_rate} />
            <NumberField label="Service time (ms)" value={run.config.service_ms} min={1.0}
                max={10_000.0} on_change={configure(|c, v| c.service_ms = v)} />
            <NumberField label="Slow requests (%)" value={run.config.slow_fraction * 100.0}
                min={0.0} max={100.0} step={0.5}
                on_change={configure(|c, v| c.slow_fraction = v / 100.0)} />
        </>
    };
    let actions = fault_controls(&runner, &fault_target);
    let scene = match &run.engine {
        Ok(balancer) => draw(balancer),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Load balancer and its servers",
            params,
            actions,
            scene,
        },
    )
}

/// Draws one panel per lane, stacked, and a legend under them.
fn draw(balancer: &LoadBalancer) -> Html {
    let lanes = balancer.lanes();
    let compare = lanes.len() > 1;
    // Compare mode has two panels, so each gets shorter queue bars.
    let bar_h = if compare { 50.0 } else { 70.0 };
    let panel_h = bar_h + 108.0;
    let workers = balancer.config().workers;

    let panels = lanes
        .iter()
        .enumerate()
        .map(|(index, lane)| draw_lane(lane, workers, index as f64 * panel_h, bar_h));
    let legend_y = panel_h * lanes.len() as f64 + 16.0;

    let label = lanes
        .iter()
        .map(|lane| {
            let queued: Vec<String> = lane
                .servers()
                .iter()
                .map(|s| s.queue.len().to_string())
                .collect();
            format!("{}: queues {}", lane.policy().label(), queued.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");

    // Two rows, so the legend still fits when narrow screens enlarge the text.
    let row = |offset: f64| {
        (
            format!("{:.0}", legend_y + offset - 11.0),
            format!("{:.0}", legend_y + offset),
        )
    };
    let (mark_1, text_1) = row(0.0);
    let (mark_2, text_2) = row(24.0);
    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {:.0}", legend_y + 34.0)} role="img"
            aria-label={label}>
            { for panels }
            <rect class="sdbe-waiting" x="10" y={mark_1.clone()} width="12" height="12" />
            <text x="27" y={text_1.clone()} font-size="13">{ "queued" }</text>
            <rect class="sdbe-busy" x="260" y={mark_1} width="12" height="12" />
            <text x="277" y={text_1} font-size="13">{ "serving" }</text>
            <rect class="sdbe-rejected" x="10" y={mark_2.clone()} width="12" height="12" />
            <text x="27" y={text_2.clone()} font-size="13">{ "serving a slow one" }</text>
            { cross(260.0, legend_y + 13.0, 12.0, 12.0) }
            <text x="277" y={text_2} font-size="13">{ "server down" }</text>
        </svg>
    }
}

/// Draws one lane: its policy and p95, then a column per server with its queue bar, its busy
/// workers, its id and the requests it served.
fn draw_lane(lane: &Lane, workers: u32, top: f64, bar_h: f64) -> Html {
    let servers = lane.servers();
    let count = servers.len().max(1);
    let column = WIDTH / count as f64;
    let bar_w = (column * 0.7).min(48.0);
    let bar_top = top + 40.0;
    let base = bar_top + bar_h;
    // p95 leads because with 1% slow requests p99 falls on the slow requests themselves.
    let p95 = lane
        .latency_percentiles()
        .map_or("–".to_string(), |p| format!("{:.0} ms", p.p95_ms));
    let title = format!("{}: p95 {p95}", lane.policy().label());

    // Ids and served counts fit under the columns only up to 10 servers.
    let labelled = count <= 10;
    let columns = servers.iter().enumerate().map(|(i, server)| {
        let x = LEFT + column * i as f64 + (column - bar_w) / 2.0;
        let slot = Slot {
            x,
            width: bar_w,
            base,
            height: bar_h,
        };
        draw_server(server, &slot, workers, labelled)
    });

    html! {
        <g>
            <text x="10" y={format!("{:.1}", top + 18.0)} font-size="14">{ title }</text>
            <line class="sdbe-line" x1="10" y1={format!("{base:.1}")} x2="410" y2={format!("{base:.1}")} />
            { for columns }
        </g>
    }
}

/// Where one server's column sits in the scene: its left edge, width, baseline and the height
/// of a full queue bar.
struct Slot {
    x: f64,
    width: f64,
    base: f64,
    height: f64,
}

/// Draws one server: its queue slot and queued requests above the baseline, its busy workers
/// below it (or a cross if it is down), then its id and served count if `labelled`.
fn draw_server(server: &Server, slot: &Slot, workers: u32, labelled: bool) -> Html {
    let Slot {
        x,
        width: bar_w,
        base,
        height: bar_h,
    } = *slot;
    let center = x + bar_w / 2.0;
    let queued = server.queue.len();
    let height = bar_h * queued.min(QUEUE_SCALE) as f64 / QUEUE_SCALE as f64;
    let count_label = (queued > 0).then(|| {
        html! {
            <text x={format!("{center:.1}")} y={format!("{:.1}", base - height - 4.0)}
                font-size="13" text-anchor="middle">{ queued }</text>
        }
    });

    let busy = server.in_service.len() as f64 / f64::from(workers.max(1));
    let slow = server.in_service.iter().any(|job| job.slow);
    let busy_class = if slow { "sdbe-rejected" } else { "sdbe-busy" };
    let worker_box = if server.up {
        html! {
            <>
                <rect class="sdbe-box" x={format!("{x:.1}")} y={format!("{:.1}", base + 4.0)}
                    width={format!("{bar_w:.1}")} height="18" />
                <rect class={busy_class} x={format!("{x:.1}")} y={format!("{:.1}", base + 4.0)}
                    width={format!("{:.1}", bar_w * busy)} height="18" />
            </>
        }
    } else {
        cross(x, base - bar_h, bar_w, bar_h + 22.0)
    };

    let labels = labelled.then(|| {
        html! {
            <>
                <text x={format!("{center:.1}")} y={format!("{:.1}", base + 42.0)}
                    font-size="13" text-anchor="middle">{ format!("S{}", server.id) }</text>
                <text x={format!("{center:.1}")} y={format!("{:.1}", base + 62.0)}
                    font-size="13" text-anchor="middle">{ server.served }</text>
            </>
        }
    });
    html! {
        <g>
            <rect class="sdbe-line" x={format!("{x:.1}")} y={format!("{:.1}", base - bar_h)}
                width={format!("{bar_w:.1}")} height={format!("{bar_h:.1}")} />
            <rect class="sdbe-waiting" x={format!("{x:.1}")} y={format!("{:.1}", base - height)}
                width={format!("{bar_w:.1}")} height={format!("{height:.1}")} />
            { for count_label }
            { worker_box }
            { for labels }
        </g>
    }
}

/// Draws a grey X over a down server as two filled bands, so red stays for slow requests.
fn cross(x: f64, y: f64, width: f64, height: f64) -> Html {
    let band = (width * 0.12).clamp(2.0, 5.0);
    let (right, bottom) = (x + width, y + height);
    let falling = format!(
        "{x:.1},{y:.1} {:.1},{y:.1} {right:.1},{bottom:.1} {:.1},{bottom:.1}",
        x + band,
        right - band
    );
    let rising = format!(
        "{:.1},{y:.1} {right:.1},{y:.1} {:.1},{bottom:.1} {x:.1},{bottom:.1}",
        right - band,
        x + band
    );
    html! {
        <>
            <polygon class="sdbe-muted" points={falling} />
            <polygon class="sdbe-muted" points={rising} />
        </>
    }
}
