//! Proxy widget: clients, the proxy with its cache, and the origins or backends behind it,
//! with what the servers see and, in reverse mode, the routing table.

use sim::proxy::{Action, Event as ProxyEvent, Mode, Node, Pool, Proxy, ProxyConfig, ROUTES};
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Height of one origin or backend row, in scene units.
const ROW: f64 = 34.0;
/// Height of one origin or backend box.
const NODE_H: f64 = 26.0;
/// Top of the first row, below the column heading.
const TOP: f64 = 26.0;
/// Left edge and width of the column with the clients above the proxy.
const LEFT_X: f64 = 10.0;
const LEFT_W: f64 = 140.0;
/// Left edge and width of the origin or backend boxes.
const NODE_X: f64 = 180.0;
const NODE_W: f64 = 230.0;
/// Distance between lines of text, in scene units.
/// On narrow screens the theme draws scene text at 17 px while the scene shrinks to about 0.7,
/// so text is about 24 units tall there. The layout keeps every line short enough for that.
const LINE: f64 = 20.0;

fn describe(event: &ProxyEvent) -> Option<String> {
    let seconds = |at_ms: f64| at_ms / 1000.0;
    match event {
        ProxyEvent::Crashed {
            at_ms,
            label,
            lost_request_ids,
            ..
        } => Some(format!(
            "{:.2} s: {label} crashed; {} requests in flight get 502",
            seconds(*at_ms),
            lost_request_ids.len()
        )),
        ProxyEvent::Restarted { at_ms, label, .. } => {
            Some(format!("{:.2} s: {label} restarted", seconds(*at_ms)))
        }
        ProxyEvent::Purged { at_ms, entries } => Some(format!(
            "{:.2} s: cache purged, {entries} entries dropped",
            seconds(*at_ms)
        )),
        // Responses come dozens per second; the counters show them.
        ProxyEvent::Served { .. }
        | ProxyEvent::Forwarded { .. }
        | ProxyEvent::TlsHandshake { .. } => None,
    }
}

/// Renders the proxy widget: parameter fields, purge and fault controls, and the scene.
#[component]
pub fn ProxyWidget(props: &WidgetProps<ProxyConfig>) -> Html {
    let runner: RunnerHandle<Proxy> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    let configure = |edit: fn(&mut ProxyConfig, f64)| runner.configure(&run.config, edit);
    let c = &run.config;
    let mode_fields = match c.mode {
        Mode::Forward => html! {
            <NumberField label="Blocked sites" value={f64::from(c.blocked_sites)} min={0.0}
                max={3.0} on_change={configure(|c, v| c.blocked_sites = v as u32)} />
        },
        Mode::Reverse => html! {
            <>
                <NumberField label="App servers" value={f64::from(c.app_servers)} min={1.0}
                    max={6.0} on_change={configure(|c, v| c.app_servers = v as u32)} />
                <NumberField label="/api/ share (%)" value={c.api_fraction * 100.0} min={0.0}
                    max={100.0} on_change={configure(|c, v| c.api_fraction = v / 100.0)} />
            </>
        },
    };
    let params = html! {
        <>
            <NumberField label="Clients" value={f64::from(c.clients)} min={1.0} max={12.0}
                on_change={configure(|c, v| c.clients = v as u32)} />
            <NumberField label="Requests/s" value={c.arrival_per_s} min={0.0} max={500.0}
                on_change={configure(|c, v| c.arrival_per_s = v)} />
            <NumberField label="Cache TTL (s)" value={c.cache_ttl_s} min={0.0} max={3600.0}
                on_change={configure(|c, v| c.cache_ttl_s = v)} />
            <NumberField label="Upstream (ms)" value={c.upstream_ms} min={1.0} max={5000.0}
                on_change={configure(|c, v| c.upstream_ms = v)} />
            <NumberField label="Objects" value={f64::from(c.objects)} min={1.0} max={1000.0}
                on_change={configure(|c, v| c.objects = v as u32)} />
            { mode_fields }
        </>
    };
    let on_purge = runner.callback(|_: MouseEvent| Command::Act(Action::Purge));
    let actions = html! {
        <>
            <button type="button" class="sdbe-purge" onclick={on_purge}
                disabled={run.engine.is_err()}>{ "Purge cache" }</button>
            { fault_controls(&runner, &fault_target) }
        </>
    };
    let title = match c.mode {
        Mode::Forward => "Forward proxy for a client network",
        Mode::Reverse => "Reverse proxy in front of a site",
    };
    let scene = match &run.engine {
        Ok(proxy) => draw(proxy),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title,
            params,
            actions,
            scene,
        },
    )
}

/// Draws the clients above the proxy, one row per node beside them, then a caption about what
/// the servers see or where the routes go.
fn draw(proxy: &Proxy) -> Html {
    let config = proxy.config();
    let nodes = proxy.nodes();
    let forward = config.mode == Mode::Forward;

    let client_lines = if forward {
        vec![
            format!("{} clients", config.clients),
            format!("10.0.0.11–{}", 10 + config.clients),
        ]
    } else {
        vec![format!("{} clients", config.clients), "internet".to_string()]
    };
    let proxy_lines = vec![
        "proxy".to_string(),
        format!("cache {}", proxy.fresh_entries()),
        if forward { "denylist" } else { "TLS ends here" }.to_string(),
    ];
    let clients_h = LINE * client_lines.len() as f64 + 8.0;
    let proxy_top = TOP + clients_h + 16.0;
    let proxy_h = LINE * proxy_lines.len() as f64 + 8.0;
    let proxy_middle = proxy_top + proxy_h / 2.0;
    let left_bottom = proxy_top + proxy_h;
    let nodes_bottom = TOP + ROW * nodes.len() as f64;

    let links = (0..nodes.len()).map(|i| {
        let y = TOP + ROW * i as f64 + NODE_H / 2.0;
        html! {
            <line class="sdbe-line" x1={format!("{:.1}", LEFT_X + LEFT_W)}
                y1={format!("{proxy_middle:.1}")} x2={format!("{NODE_X:.1}")}
                y2={format!("{y:.1}")} />
        }
    });
    let rows_html = nodes.iter().enumerate().map(|(i, node)| draw_node(node, i));

    let caption_y = left_bottom.max(nodes_bottom) + 24.0;
    let captions = if forward {
        forward_caption(proxy)
    } else {
        reverse_caption(proxy)
    };
    let caption = captions.iter().enumerate().map(|(i, text)| {
        html! {
            <text x="10" y={format!("{:.1}", caption_y + LINE * i as f64)} font-size="13">
                { text.clone() }
            </text>
        }
    });
    let height = caption_y + LINE * captions.len() as f64;
    let label = format!(
        "{} clients, proxy with {} fresh cache entries, {}",
        config.clients,
        proxy.fresh_entries(),
        nodes
            .iter()
            .map(|n| format!(
                "{} {} with {} requests",
                n.label,
                if n.up { "up" } else { "down" },
                n.requests
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );

    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {height:.0}")} role="img"
            aria-label={label}>
            <text x={format!("{NODE_X:.0}")} y="16" font-size="13">
                { if forward { "origins" } else { "backends" } }
            </text>
            { draw_box(TOP, &client_lines) }
            <line class="sdbe-line" x1={format!("{:.1}", LEFT_X + LEFT_W / 2.0)}
                y1={format!("{:.1}", TOP + clients_h)} x2={format!("{:.1}", LEFT_X + LEFT_W / 2.0)}
                y2={format!("{proxy_top:.1}")} />
            { draw_box(proxy_top, &proxy_lines) }
            { for links }
            { for rows_html }
            { for caption }
        </svg>
    }
}

/// Draws a box in the left column with one line of text per entry.
fn draw_box(top: f64, lines: &[String]) -> Html {
    let height = LINE * lines.len() as f64 + 8.0;
    let texts = lines.iter().enumerate().map(|(i, line)| {
        html! {
            <text x={format!("{:.1}", LEFT_X + 6.0)} y={format!("{:.1}", top + LINE * (i as f64 + 1.0))}
                font-size="13">{ line.clone() }</text>
        }
    });
    html! {
        <g>
            <rect class="sdbe-box" x={format!("{LEFT_X:.1}")} y={format!("{top:.1}")}
                width={format!("{LEFT_W:.1}")} height={format!("{height:.1}")} />
            { for texts }
        </g>
    }
}

/// Draws one origin or backend: its box, coloured by state, its label and the requests it
/// received, marked down or blocked.
fn draw_node(node: &Node, index: usize) -> Html {
    let y = TOP + ROW * index as f64;
    let class = if !node.up {
        "sdbe-muted"
    } else if node.blocked {
        "sdbe-rejected"
    } else {
        "sdbe-box"
    };
    let note = if node.blocked {
        "blocked".to_string()
    } else if !node.up {
        format!("{} down", node.requests)
    } else {
        node.requests.to_string()
    };
    let baseline = y + NODE_H - 7.0;
    html! {
        <g>
            <rect class={class} x={format!("{NODE_X:.1}")} y={format!("{y:.1}")}
                width={format!("{NODE_W:.1}")} height={format!("{NODE_H:.1}")} />
            <text x={format!("{:.1}", NODE_X + 6.0)} y={format!("{baseline:.1}")} font-size="13">
                { node.label.clone() }
            </text>
            <text x={format!("{:.1}", NODE_X + NODE_W - 6.0)} y={format!("{baseline:.1}")}
                font-size="13" text-anchor="end">{ note }</text>
        </g>
    }
}

/// Lines under the forward scene: what the last origin saw and the bandwidth the cache saved.
fn forward_caption(proxy: &Proxy) -> Vec<String> {
    let mut seen = match proxy.last_forwarded() {
        Some((client, node, from)) => {
            let site = proxy
                .nodes()
                .get(node as usize)
                .map_or("", |n| n.label.as_str());
            vec![
                format!("{} asked {site};", proxy.client_addr(client)),
                format!("{site} saw {from}"),
            ]
        }
        None => vec!["no request has reached".to_string(), "an origin yet".to_string()],
    };
    let counts = proxy.counts();
    seen.push(format!(
        "uplink {:.1} MB, saved by cache {:.1} MB",
        counts.uplink_kb as f64 / 1000.0,
        counts.saved_kb as f64 / 1000.0
    ));
    seen
}

/// Lines under the reverse scene: each route's prefix, pool and request count.
fn reverse_caption(proxy: &Proxy) -> Vec<String> {
    let counts = proxy.counts();
    let mut lines: Vec<String> = ROUTES
        .iter()
        .zip(counts.per_route)
        .map(|(route, count)| {
            let pool = match route.pool {
                Pool::App => "app pool",
                Pool::Static => "static, cached",
            };
            format!("{} → {pool}: {count} requests", route.prefix)
        })
        .collect();
    if let Some((client, _, from)) = proxy.last_forwarded() {
        lines.push(format!("backends see {from}, with"));
        lines.push(format!("X-Forwarded-For: {}", proxy.client_addr(client)));
    }
    lines
}
