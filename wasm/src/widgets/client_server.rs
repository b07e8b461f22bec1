//! Client-server widget: clients, the server's queue and its workers, with
//! throughput and latency percentiles as clients are added and workers crash.

use sim::Engine;
use sim::client_server::{
    Action, ClientServer, ClientServerConfig, ClientState, Event as ServerEvent,
};
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Height of one row of the legend, in scene units.
const LEGEND_ROW: f64 = 24.0;
/// Queued requests drawn one by one; longer queues show a count.
const QUEUE_SHOWN: usize = 12;

fn describe(event: &ServerEvent) -> Option<String> {
    let seconds = |at_ms: f64| at_ms / 1000.0;
    match event {
        ServerEvent::Completed {
            at_ms,
            request_id,
            client_id,
            worker_id,
            latency_ms,
        } => Some(format!(
            "{:.2} s: worker {worker_id} answered request {request_id} of client {client_id} in {latency_ms:.0} ms",
            seconds(*at_ms)
        )),
        ServerEvent::Started {
            at_ms,
            request_id,
            worker_id,
            wait_ms,
            ..
        } if *wait_ms > 0.0 => Some(format!(
            "{:.2} s: worker {worker_id} took request {request_id} after {wait_ms:.0} ms in the queue",
            seconds(*at_ms)
        )),
        ServerEvent::ClientJoined { at_ms, client_id } => Some(format!(
            "{:.2} s: client {client_id} joined",
            seconds(*at_ms)
        )),
        ServerEvent::ClientLeft { at_ms, client_id } => {
            Some(format!("{:.2} s: client {client_id} left", seconds(*at_ms)))
        }
        ServerEvent::WorkerAdded { at_ms, worker_id } => Some(format!(
            "{:.2} s: worker {worker_id} added",
            seconds(*at_ms)
        )),
        ServerEvent::WorkerRemoved { at_ms, worker_id } => Some(format!(
            "{:.2} s: worker {worker_id} removed",
            seconds(*at_ms)
        )),
        ServerEvent::WorkerCrashed {
            at_ms,
            worker_id,
            lost_request_id: Some(request_id),
        } => Some(format!(
            "{:.2} s: worker {worker_id} crashed and lost request {request_id}, so its client sent a new one",
            seconds(*at_ms)
        )),
        ServerEvent::WorkerCrashed {
            at_ms,
            worker_id,
            lost_request_id: None,
        } => Some(format!(
            "{:.2} s: worker {worker_id} crashed while idle",
            seconds(*at_ms)
        )),
        ServerEvent::WorkerRestarted { at_ms, worker_id } => Some(format!(
            "{:.2} s: worker {worker_id} restarted",
            seconds(*at_ms)
        )),
        _ => None,
    }
}

/// The client-server widget.
#[component]
pub fn ClientServerWidget(props: &WidgetProps<ClientServerConfig>) -> Html {
    let runner: RunnerHandle<ClientServer> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    // Clients and workers change the running system; the times restart it.
    let on_clients = runner.callback(|value: f64| {
        Command::Act(Action::SetClients {
            clients: value as u32,
        })
    });
    let on_workers = runner.callback(|value: f64| {
        Command::Act(Action::SetWorkers {
            workers: value as u32,
        })
    });
    // Start from the engine's configuration, which contains the clients and
    // workers the reader has set since the start.
    let current = match &run.engine {
        Ok(server) => server.config().clone(),
        Err(_) => run.config.clone(),
    };
    let configure = |edit: fn(&mut ClientServerConfig, f64)| runner.configure(&current, edit);
    let (clients, workers) = match &run.engine {
        Ok(server) => (
            server.clients().iter().filter(|c| !c.leaving).count(),
            server.workers().iter().filter(|w| !w.retiring).count(),
        ),
        Err(_) => (run.config.clients as usize, run.config.workers as usize),
    };
    let params = html! {
        <>
            <NumberField label="Clients" value={clients as f64} min={1.0} max={200.0}
                on_change={on_clients} />
            <NumberField label="Workers" value={workers as f64} min={1.0} max={64.0}
                on_change={on_workers} />
            <NumberField label="Service time (ms)" value={run.config.service_ms} min={1.0}
                max={10_000.0} step={1.0} on_change={configure(|c, v| c.service_ms = v)} />
            <NumberField label="Think time (ms)" value={run.config.think_ms} min={0.0}
                max={60_000.0} step={1.0} on_change={configure(|c, v| c.think_ms = v)} />
        </>
    };
    let actions = fault_controls(&runner, &fault_target);
    let scene = match &run.engine {
        Ok(server) => draw(server),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Clients and a server with a worker pool",
            params,
            actions,
            scene,
        },
    )
}

/// Draws clients on the left, the queue in the middle and workers on the right.
fn draw(server: &ClientServer) -> Html {
    let clients = server.clients();
    let columns = match clients.len() {
        0..=8 => 2,
        9..=40 => 5,
        _ => 10,
    };
    let rows = clients.len().div_ceil(columns).max(1);
    let cell = (110.0 / columns as f64).min(190.0 / rows as f64).min(40.0);
    let client_dots = clients.iter().enumerate().map(|(i, client)| {
        let x = 8.0 + cell * (i % columns) as f64 + cell / 2.0;
        let y = 30.0 + cell * (i / columns) as f64 + cell / 2.0;
        let class = match client.state {
            ClientState::Thinking { .. } => "sdbe-idle",
            ClientState::Queued { .. } => "sdbe-waiting",
            ClientState::InService { .. } => "sdbe-busy",
        };
        html! {
            <circle class={class} cx={format!("{x:.1}")} cy={format!("{y:.1}")}
                r={format!("{:.1}", cell * 0.36)} />
        }
    });

    let queue = server.queue();
    let queued = queue.iter().take(QUEUE_SHOWN).enumerate().map(|(i, _)| {
        // The head of the queue sits next to the workers.
        let x = 262.0 - 10.0 * i as f64;
        html! { <rect class="sdbe-waiting" x={format!("{x:.1}")} y="104" width="8" height="24" rx="2" /> }
    });
    let overflow = queue.len().saturating_sub(QUEUE_SHOWN);
    let queue_label = if overflow > 0 {
        format!("{} waiting (+{overflow})", queue.len())
    } else {
        format!("{} waiting", queue.len())
    };

    let workers = server.workers();
    let row_h = (190.0 / workers.len().max(1) as f64).min(36.0);
    let now = server.now_ms();
    let worker_rows = workers.iter().enumerate().map(|(i, worker)| {
        let y = 30.0 + row_h * i as f64;
        let progress = worker.serving.as_ref().map_or(0.0, |serving| {
            let span = (serving.done_at_ms - serving.started_at_ms).max(f64::EPSILON);
            ((now - serving.started_at_ms) / span).clamp(0.0, 1.0)
        });
        let height = row_h * 0.75;
        if !worker.up {
            return html! {
                <g>
                    <rect class="sdbe-box sdbe-down" x="290" y={format!("{y:.1}")} width="122"
                        height={format!("{height:.1}")} rx="3" />
                    { cross(290.0, y, 122.0, height) }
                </g>
            };
        }
        html! {
            <g>
                <rect class="sdbe-box" x="290" y={format!("{y:.1}")} width="122" height={format!("{height:.1}")} rx="3" />
                <rect class="sdbe-busy" x="290" y={format!("{y:.1}")} width={format!("{:.1}", 122.0 * progress)}
                    height={format!("{height:.1}")} rx="3" />
            </g>
        }
    });
    let down = workers.iter().filter(|worker| !worker.up).count();

    // The legend sits under the taller of the clients and the workers, and
    // never above the queue's label.
    let clients_bottom = 30.0 + cell * rows as f64;
    let workers_bottom = 30.0 + row_h * workers.len() as f64;
    let legend_y = clients_bottom.max(workers_bottom).max(160.0) + 22.0;
    let legend_dot = format!("{:.0}", legend_y - 5.0);
    let legend_text = format!("{legend_y:.0}");
    // Two rows, so the legend still fits when narrow screens enlarge the text.
    let second_dot = format!("{:.0}", legend_y + LEGEND_ROW - 5.0);
    let second_text = format!("{:.0}", legend_y + LEGEND_ROW);

    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {:.0}", legend_y + LEGEND_ROW + 14.0)} role="img"
            aria-label={format!("{} clients, {} requests queued, {} of {} up workers busy, {down} down",
                clients.len(), queue.len(), server.busy_workers(), server.up_workers())}>
            <text x="8" y="18" font-size="14">{ "clients" }</text>
            <text x="200" y="18" font-size="14" text-anchor="middle">{ "queue" }</text>
            <text x="290" y="18" font-size="14">{ "workers" }</text>
            { for client_dots }
            <line class="sdbe-line" x1="128" y1="134" x2="284" y2="134" />
            { for queued }
            <text x="200" y="154" text-anchor="middle" font-size="14">{ queue_label }</text>
            { for worker_rows }
            <circle class="sdbe-idle" cx="14" cy={legend_dot.clone()} r="6" />
            <text x="25" y={legend_text.clone()} font-size="13">{ "thinking" }</text>
            <circle class="sdbe-waiting" cx="150" cy={legend_dot.clone()} r="6" />
            <text x="161" y={legend_text.clone()} font-size="13">{ "queued" }</text>
            <circle class="sdbe-busy" cx="14" cy={second_dot.clone()} r="6" />
            <text x="25" y={second_text.clone()} font-size="13">{ "in service" }</text>
            <rect class="sdbe-box sdbe-down" x="143" y={format!("{:.0}", legend_y + LEGEND_ROW - 11.0)} width="14"
                height="12" />
            { cross(143.0, legend_y + LEGEND_ROW - 11.0, 14.0, 12.0) }
            <text x="161" y={second_text} font-size="13">{ "worker down" }</text>
        </svg>
    }
}

/// Draws an X over a box as two filled bands, so the marker takes its colour
/// from the `sdbe-rejected` fill like the other scene shapes.
fn cross(x: f64, y: f64, width: f64, height: f64) -> Html {
    let band = (width * 0.06).clamp(2.0, 4.0);
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
            <polygon class="sdbe-rejected" points={falling} />
            <polygon class="sdbe-rejected" points={rising} />
        </>
    }
}
