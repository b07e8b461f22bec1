//! DNS widget: a caching resolver, its queries to root, TLD and authoritative servers, and
//! the hit ratio as TTLs change, records change and servers crash.

use sim::Engine;
use sim::dns::{Action, Dns, DnsConfig, Event as DnsEvent, Level};
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Left edge of the server rows, in scene units.
const ROWS_X: f64 = 150.0;
/// Width of the server rows, in scene units.
const ROWS_W: f64 = 262.0;
/// Top of the box of each row: root, TLD, authoritative.
const ROW_Y: [f64; 3] = [34.0, 114.0, 194.0];
const BOX_H: f64 = 30.0;
/// Point at which queries leave the resolver.
const RESOLVER_X: f64 = 100.0;
const RESOLVER_Y: f64 = 126.0;

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Root => "root",
        Level::Tld => "TLD",
        Level::Authoritative => "authoritative",
    }
}

fn describe(event: &DnsEvent) -> Option<String> {
    let seconds = |at_ms: f64| at_ms / 1000.0;
    match event {
        DnsEvent::QuerySent {
            at_ms,
            walk,
            name,
            level,
            server,
        } => Some(format!(
            "{:.3} s: walk {walk} asks the {} server ({server}) for host{name}",
            seconds(*at_ms),
            level_name(*level)
        )),
        DnsEvent::Referral {
            at_ms,
            walk,
            level,
            to_server,
            ttl_s,
        } => Some(format!(
            "{:.3} s: walk {walk}: the {} server refers to server {to_server}, NS cached for {ttl_s} s",
            seconds(*at_ms),
            level_name(*level)
        )),
        DnsEvent::Answer {
            at_ms,
            walk,
            name,
            version,
            ttl_s,
        } => Some(format!(
            "{:.3} s: walk {walk}: host{name} has address v{version}, cached for {ttl_s} s",
            seconds(*at_ms)
        )),
        DnsEvent::CacheHit {
            at_ms,
            name,
            stale: true,
            ..
        } => Some(format!(
            "{:.3} s: host{name} served stale from the cache",
            seconds(*at_ms)
        )),
        DnsEvent::TimedOut {
            at_ms,
            name,
            server,
            failed_lookups,
            ..
        } => Some(format!(
            "{:.3} s: server {server} did not respond for host{name}: SERVFAIL to {failed_lookups} lookups",
            seconds(*at_ms)
        )),
        DnsEvent::RecordChanged {
            at_ms,
            name,
            version,
        } => Some(format!(
            "{:.3} s: host{name} changed its address to v{version}",
            seconds(*at_ms)
        )),
        DnsEvent::CacheFlushed { at_ms } => {
            Some(format!("{:.3} s: cache flushed", seconds(*at_ms)))
        }
        DnsEvent::ServerCrashed { at_ms, server } => {
            Some(format!("{:.3} s: server {server} crashed", seconds(*at_ms)))
        }
        DnsEvent::ServerRestarted { at_ms, server } => Some(format!(
            "{:.3} s: server {server} restarted",
            seconds(*at_ms)
        )),
        _ => None,
    }
}

/// The DNS resolution widget.
#[component]
pub fn DnsWidget(props: &WidgetProps<DnsConfig>) -> Html {
    let runner: RunnerHandle<Dns> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    let configure = |edit: fn(&mut DnsConfig, f64)| runner.configure(&run.config, edit);
    // The first host with no fresh answer and no walk running: a lookup that must walk.
    let cold = run.engine.as_ref().ok().and_then(|dns| {
        let busy: Vec<u32> = dns.in_flight().iter().map(|query| query.name).collect();
        (0..dns.config().names).find(|name| !dns.is_cached(*name) && !busy.contains(name))
    });
    let on_lookup = runner.callback(move |_: MouseEvent| match cold {
        Some(name) => Command::Act(Action::Lookup { name }),
        None => Command::Step,
    });
    let on_change = runner.callback(|_: MouseEvent| Command::Act(Action::ChangeRecord { name: 0 }));
    let on_flush = runner.callback(|_: MouseEvent| Command::Act(Action::FlushCache));
    let params = html! {
        <>
            <NumberField label="Answer TTL (s)" value={run.config.answer_ttl_s}
                min={0.0} max={86_400.0} step={1.0}
                on_change={configure(|c, v| c.answer_ttl_s = v)} />
            <NumberField label="NS TTL (s)" value={run.config.ns_ttl_s}
                min={0.0} max={172_800.0} step={1.0}
                on_change={configure(|c, v| c.ns_ttl_s = v)} />
            <NumberField label="Lookups/s" value={run.config.query_per_s}
                min={0.0} max={500.0} step={1.0}
                on_change={configure(|c, v| c.query_per_s = v)} />
            <NumberField label="Round trip per hop (ms)" value={run.config.hop_ms}
                min={1.0} max={1000.0} step={1.0}
                on_change={configure(|c, v| c.hop_ms = v)} />
            <NumberField label="Names" value={f64::from(run.config.names)}
                min={1.0} max={500.0}
                on_change={configure(|c, v| c.names = v as u32)} />
        </>
    };
    let runnable = run.engine.is_ok();
    let actions = html! {
        <>
            <button type="button" class="sdbe-primary sdbe-lookup" onclick={on_lookup}
                disabled={!runnable || cold.is_none()}>
                { match cold {
                    Some(name) => format!("Look up host{name}"),
                    None => "Every name is cached".to_string(),
                } }
            </button>
            <button type="button" class="sdbe-change" onclick={on_change} disabled={!runnable}>
                { "Change host0's address" }
            </button>
            <button type="button" class="sdbe-flush" onclick={on_flush} disabled={!runnable}>
                { "Flush cache" }
            </button>
            { fault_controls(&runner, &fault_target) }
        </>
    };
    let scene = match &run.engine {
        Ok(dns) => draw(dns),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "A caching resolver and the DNS hierarchy",
            params,
            actions,
            scene,
        },
    )
}

/// Returns the box of `server` in its row as (x, y, width).
fn server_box(dns: &Dns, id: u32) -> Option<(f64, f64, f64)> {
    let server = dns.servers().get(id as usize)?;
    let row = match server.level {
        Level::Root => 0,
        Level::Tld => 1,
        Level::Authoritative => 2,
    };
    let peers: Vec<u32> = dns
        .servers()
        .iter()
        .filter(|other| other.level == server.level)
        .map(|other| other.id)
        .collect();
    let slot = peers.iter().position(|other| *other == id)?;
    let gap = 4.0;
    let count = peers.len().max(1) as f64;
    let width = ((ROWS_W - gap * (count - 1.0)) / count).min(80.0);
    Some((ROWS_X + (width + gap) * slot as f64, ROW_Y[row], width))
}

/// Draws the resolver on the left, the three rows of servers on the right, and the queries
/// on the wire between them.
fn draw(dns: &Dns) -> Html {
    let now = dns.now_ms();
    let boxes = dns.servers().iter().filter_map(|server| {
        let (x, y, width) = server_box(dns, server.id)?;
        let class = if server.up {
            "sdbe-box"
        } else {
            "sdbe-rejected"
        };
        // Zone names fit only in wide boxes; narrow ones show the zone number.
        let label = match server.level {
            Level::Root => ".".to_string(),
            Level::Tld => server.zone.clone(),
            Level::Authoritative if width >= 76.0 => server.zone.clone(),
            Level::Authoritative => {
                let index = server.id.saturating_sub(1 + dns.config().tlds);
                if width >= 18.0 {
                    format!("s{index}")
                } else {
                    String::new()
                }
            }
        };
        Some(html! {
            <g>
                <rect class={class} x={format!("{x:.1}")} y={format!("{y:.1}")}
                    width={format!("{width:.1}")} height={BOX_H.to_string()} rx="3" />
                <text x={format!("{:.1}", x + width / 2.0)} y={format!("{:.1}", y + 20.0)}
                    text-anchor="middle" font-size="13">{ label }</text>
            </g>
        })
    });
    let queries = dns.in_flight().into_iter().filter_map(|query| {
        let (x, y, width) = server_box(dns, query.server)?;
        // Lines end at the edge of the box that faces the resolver, clear of the row labels.
        let level = dns
            .servers()
            .get(query.server as usize)
            .map(|server| server.level);
        let ty = match level {
            Some(Level::Root) => y + BOX_H,
            Some(Level::Authoritative) => y,
            _ => y + BOX_H / 2.0,
        };
        let tx = x + width / 2.0;
        let span = (query.due_ms - query.sent_ms).max(f64::EPSILON);
        let progress = ((now - query.sent_ms) / span).clamp(0.0, 1.0);
        let timing_out = dns
            .servers()
            .get(query.server as usize)
            .is_some_and(|server| !server.up);
        // Out to the server in the first half of the round trip, back in the second.
        let along = if timing_out {
            progress.min(0.5) * 2.0
        } else if progress < 0.5 {
            progress * 2.0
        } else {
            2.0 - progress * 2.0
        };
        let (dx, dy) = (
            RESOLVER_X + (tx - RESOLVER_X) * along,
            RESOLVER_Y + (ty - RESOLVER_Y) * along,
        );
        let class = if timing_out {
            "sdbe-rejected"
        } else {
            "sdbe-busy"
        };
        Some(html! {
            <g>
                <line class="sdbe-line" x1={RESOLVER_X.to_string()} y1={RESOLVER_Y.to_string()}
                    x2={format!("{tx:.1}")} y2={format!("{ty:.1}")} />
                <circle class={class} cx={format!("{dx:.1}")} cy={format!("{dy:.1}")} r="5" />
            </g>
        })
    });
    let row_labels = [Level::Root, Level::Tld, Level::Authoritative]
        .into_iter()
        .zip(ROW_Y)
        .map(|(level, y)| {
            // The authoritative row is labelled below, where no query line crosses.
            let label_y = if level == Level::Authoritative {
                y + BOX_H + 17.0
            } else {
                y - 7.0
            };
            html! {
                <text x={ROWS_X.to_string()} y={format!("{label_y:.0}")} font-size="13">
                    { queries_label(level, dns.queries_to(level)) }
                </text>
            }
        });
    let walk: Vec<&str> = dns
        .last_walk()
        .iter()
        .map(|level| level_name(*level))
        .collect();
    let walk_text = if walk.is_empty() {
        "no miss yet".to_string()
    } else {
        format!("last miss: {}", walk.join(" → "))
    };

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 276" role="img"
            aria-label={format!("{} records cached, hit ratio {:.0}%, {walk_text}",
                dns.cached_records(), dns.recent_hit_ratio() * 100.0)}>
            { for queries }
            <text x="8" y="100" font-size="14">{ "resolver" }</text>
            <rect class="sdbe-box" x="8" y="108" width={(RESOLVER_X - 8.0).to_string()} height="36" rx="4" />
            <text x="54" y="131" text-anchor="middle" font-size="13">
                { format!("{} cached", dns.cached_records()) }
            </text>
            <text x="8" y="168" font-size="13">
                { format!("hits {:.0}%", dns.recent_hit_ratio() * 100.0) }
            </text>
            { for row_labels }
            { for boxes }
            <text x="8" y="266" font-size="13">{ walk_text }</text>
        </svg>
    }
}

/// Labels a row of servers with the number of queries it has answered.
fn queries_label(level: Level, count: u64) -> String {
    let noun = if count == 1 { "query" } else { "queries" };
    format!("{}: {count} {noun}", level_name(level))
}
