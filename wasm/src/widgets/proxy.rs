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
const ROW: f64 = 32.0;
/// Top of the first row.
const TOP: f64 = 30.0;

fn describe(event: &ProxyEvent) -> Option<String> {
    let seconds = |at_ms: f64| at_ms / 1000.0;
    match event {
        ProxyEvent::Crashed {
            at_ms,
            node,
            lost_request_ids,
        } => Some(format!(
            "{:.2} s: node {node} crashed; {} requests in flight get 502",
            seconds(*at_ms),
            lost_request_ids.len()
        )),
        ProxyEvent::Restarted { at_ms, node } => {
            Some(format!("{:.2} s: node {node} restarted", seconds(*at_ms)))
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

/// Draws the clients, the proxy and one row per node, then a caption about what the servers
/// see or where the routes go.
fn draw(proxy: &Proxy) -> Html {
    let config = proxy.config();
    let nodes = proxy.nodes();
    let rows = nodes.len().max(1) as f64;
    let middle = TOP + rows * ROW / 2.0 - 6.0;
    let forward = config.mode == Mode::Forward;

    let (client_line, proxy_line) = if forward {
        (
            format!("10.0.0.11–{}", 10 + config.clients),
            "denylist, cache".to_string(),
        )
    } else {
        ("internet".to_string(), "TLS ends here".to_string())
    };
    let links = (0..nodes.len()).map(|i| {
        let y = TOP + ROW * i as f64 + 11.0;
        html! {
            <line class="sdbe-line" x1="245" y1={format!("{middle:.1}")} x2="290"
                y2={format!("{y:.1}")} />
        }
    });
    let rows_html = nodes.iter().enumerate().map(|(i, node)| draw_node(node, i));

    let caption_y = TOP + rows * ROW + 20.0;
    let captions = if forward {
        forward_caption(proxy)
    } else {
        reverse_caption(proxy)
    };
    let caption = captions.iter().enumerate().map(|(i, text)| {
        html! {
            <text x="10" y={format!("{:.1}", caption_y + 20.0 * i as f64)} font-size="13">
                { text.clone() }
            </text>
        }
    });
    let height = caption_y + 20.0 * captions.len() as f64;
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
            <text x="10" y="16" font-size="13">{ "clients" }</text>
            <text x="130" y="16" font-size="13">{ "proxy" }</text>
            <text x="290" y="16" font-size="13">{ if forward { "origins" } else { "backends" } }</text>
            <rect class="sdbe-box" x="10" y={format!("{:.1}", middle - 24.0)} width="105"
                height="48" />
            <text x="16" y={format!("{:.1}", middle - 4.0)} font-size="13">
                { format!("{} clients", config.clients) }
            </text>
            <text x="16" y={format!("{:.1}", middle + 14.0)} font-size="13">{ client_line }</text>
            <line class="sdbe-line" x1="115" y1={format!("{middle:.1}")} x2="130"
                y2={format!("{middle:.1}")} />
            <rect class="sdbe-box" x="130" y={format!("{:.1}", middle - 24.0)} width="115"
                height="48" />
            <text x="136" y={format!("{:.1}", middle - 4.0)} font-size="13">
                { format!("cache {}", proxy.fresh_entries()) }
            </text>
            <text x="136" y={format!("{:.1}", middle + 14.0)} font-size="13">{ proxy_line }</text>
            { for links }
            { for rows_html }
            { for caption }
        </svg>
    }
}

/// Draws one origin or backend: its box, coloured by state, and the requests it received.
fn draw_node(node: &Node, index: usize) -> Html {
    let y = TOP + ROW * index as f64;
    let class = if !node.up {
        "sdbe-muted"
    } else if node.blocked {
        "sdbe-rejected"
    } else {
        "sdbe-box"
    };
    let note = if !node.up {
        "down".to_string()
    } else if node.blocked {
        "blocked".to_string()
    } else {
        node.requests.to_string()
    };
    html! {
        <g>
            <rect class={class} x="290" y={format!("{y:.1}")} width="120" height="22" />
            <text x="295" y={format!("{:.1}", y + 16.0)} font-size="13">{ node.label.clone() }</text>
            <text x="286" y={format!("{:.1}", y - 2.0)} font-size="13" text-anchor="end">
                { note }
            </text>
        </g>
    }
}

/// Lines under the forward scene: what the last origin saw and the bandwidth the cache saved.
fn forward_caption(proxy: &Proxy) -> Vec<String> {
    let seen = match proxy.last_forwarded() {
        Some((client, node, from)) => {
            let site = proxy
                .nodes()
                .get(node as usize)
                .map_or("", |n| n.label.as_str());
            format!("{} asked {site}; it saw {from}", proxy.client_addr(client))
        }
        None => "no request has reached an origin yet".to_string(),
    };
    let counts = proxy.counts();
    vec![
        seen,
        format!(
            "uplink {:.1} MB, saved by cache {:.1} MB",
            counts.uplink_kb as f64 / 1000.0,
            counts.saved_kb as f64 / 1000.0
        ),
    ]
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
