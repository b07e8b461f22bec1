//! CDN widget: the origin above a strip of regional edges, each with its
//! round trip, recent hit ratio and latency, and its copy of object 0.

use sim::cdn::{Action, Cdn, CdnConfig, Event as CdnEvent, RegionView};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Width of one region's box, in SVG units.
const BOX_W: f64 = 96.0;

/// Horizontal distance between region boxes, in SVG units.
const BOX_GAP: f64 = 104.0;

fn describe(event: &CdnEvent) -> Option<String> {
    match event {
        CdnEvent::Published {
            at_ms,
            object,
            version,
            stale_copies,
        } => Some(format!(
            "{:.1} s: object {object} v{version} published, {stale_copies} cached copies now stale",
            at_ms / 1000.0
        )),
        CdnEvent::Purged {
            at_ms,
            object,
            copies,
        } => {
            let what = object.map_or("everything".to_string(), |o| format!("object {o}"));
            Some(format!(
                "{:.1} s: purged {what}, {copies} copies removed",
                at_ms / 1000.0
            ))
        }
        CdnEvent::OriginDown { at_ms } => Some(format!("{:.1} s: origin crashed", at_ms / 1000.0)),
        CdnEvent::OriginUp { at_ms } => Some(format!("{:.1} s: origin restarted", at_ms / 1000.0)),
        // Requests come hundreds per second; the counters and the strip show them.
        CdnEvent::Served { .. } | CdnEvent::Failed { .. } => None,
    }
}

/// Draws the CDN widget: parameters, publish and purge buttons, origin faults and the world strip.
#[component]
pub fn CdnWidget(props: &WidgetProps<CdnConfig>) -> Html {
    let runner: RunnerHandle<Cdn> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();
    let current = run.config.clone();

    let configure = |edit: fn(&mut CdnConfig, f64)| runner.configure(&current, edit);
    let on_shield = {
        let config = current.clone();
        runner.callback(move |event: Event| {
            let input: HtmlInputElement = event.target_unchecked_into();
            Command::Configure(CdnConfig {
                shield: input.checked(),
                ..config.clone()
            })
        })
    };
    let params = html! {
        <>
            <NumberField label="TTL, max-age (s)" value={current.ttl_s} min={0.0} max={3600.0}
                step={1.0} on_change={configure(|c, v| c.ttl_s = v)} />
            <NumberField label="Requests/s per region" value={current.requests_per_s} min={0.0}
                max={500.0} step={5.0} on_change={configure(|c, v| c.requests_per_s = v)} />
            <NumberField label="Objects" value={f64::from(current.objects)} min={1.0}
                max={1000.0} on_change={configure(|c, v| c.objects = v as u32)} />
            <NumberField label="Zipf skew" value={current.zipf_s} min={0.0} max={3.0} step={0.1}
                on_change={configure(|c, v| c.zipf_s = v)} />
            <NumberField label="stale-if-error (s)" value={current.stale_if_error_s} min={0.0}
                max={3600.0} step={10.0} on_change={configure(|c, v| c.stale_if_error_s = v)} />
            <label class="sdbe-field">
                <span>{ "Shield" }</span>
                <input type="checkbox" class="sdbe-shield-switch" checked={current.shield}
                    onchange={on_shield} />
            </label>
        </>
    };
    let disabled = run.engine.is_err();
    let on_publish = runner.callback(|_: MouseEvent| Command::Act(Action::Publish { object: 0 }));
    let on_purge = runner.callback(|_: MouseEvent| Command::Act(Action::Purge { object: Some(0) }));
    let on_purge_all =
        runner.callback(|_: MouseEvent| Command::Act(Action::Purge { object: None }));
    let actions = html! {
        <>
            <button type="button" class="sdbe-primary sdbe-publish" onclick={on_publish}
                disabled={disabled}>{ "Publish object 0" }</button>
            <button type="button" class="sdbe-purge" onclick={on_purge}
                disabled={disabled}>{ "Purge object 0" }</button>
            <button type="button" class="sdbe-purge-all" onclick={on_purge_all}
                disabled={disabled}>{ "Purge all" }</button>
            { fault_controls(&runner, &fault_target) }
        </>
    };
    let scene = match &run.engine {
        Ok(cdn) => draw(cdn),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "CDN edges in four regions",
            params,
            actions,
            scene,
        },
    )
}

/// Draws the origin, a line to each region's edge, and one box per region.
fn draw(cdn: &Cdn) -> Html {
    let regions = cdn.regions();
    let version = cdn.version(0).unwrap_or(1);
    let origin_class = if cdn.origin_up() {
        "sdbe-busy"
    } else {
        "sdbe-rejected"
    };
    let origin_text = format!(
        "origin{}: {:.1} req/s, object 0 is v{version}",
        if cdn.origin_up() { "" } else { " DOWN" },
        cdn.origin_per_s()
    );
    let upstream = if cdn.config().shield {
        "edges fetch through a shield"
    } else {
        "edges fetch from the origin"
    };
    let boxes = regions
        .iter()
        .enumerate()
        .map(|(index, region)| draw_region(region, index, version));
    let label = regions
        .iter()
        .map(|region| {
            format!(
                "{}: hit ratio {}",
                region.name,
                percent(region.recent_hit_ratio)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 270" role="img"
            aria-label={format!("{origin_text}; {label}")}>
            <rect class={origin_class} x="150" y="8" width="120" height="14" rx="3" />
            <text x="210" y="42" text-anchor="middle" font-size="14" font-weight="600">
                { origin_text }
            </text>
            <text x="210" y="62" text-anchor="middle" font-size="13">{ upstream }</text>
            { for boxes }
            <rect class="sdbe-busy" x="10" y="246" width="12" height="12" />
            <text x="26" y="257" font-size="13">{ "fresh" }</text>
            <rect class="sdbe-rejected" x="80" y="246" width="12" height="12" />
            <text x="96" y="257" font-size="13">{ "stale" }</text>
            <rect class="sdbe-waiting" x="150" y="246" width="12" height="12" />
            <text x="166" y="257" font-size="13">{ "expired" }</text>
            <rect class="sdbe-box" x="236" y="246" width="12" height="12" />
            <text x="252" y="257" font-size="13">{ "not cached" }</text>
        </svg>
    }
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("–".to_string(), |r| format!("{:.0}%", r * 100.0))
}

/// Draws one region's box: name, round trip, recent hit ratio and latency, and object 0's copy.
fn draw_region(region: &RegionView, index: usize, version: u64) -> Html {
    const TOP: f64 = 110.0;

    let x = 8.0 + BOX_GAP * index as f64;
    let center = x + BOX_W / 2.0;
    let latency = region
        .recent_mean_ms
        .map_or("–".to_string(), |ms| format!("{ms:.0} ms avg"));
    let (copy_class, copy_text) = match region.hot_copy {
        None => ("sdbe-box", "none".to_string()),
        Some((v, _)) if v < version => ("sdbe-rejected", format!("v{v}")),
        Some((v, true)) => ("sdbe-busy", format!("v{v}")),
        Some((v, false)) => ("sdbe-waiting", format!("v{v}")),
    };
    let text = |dy: f64, content: String, weight: &'static str| {
        html! {
            <text x={format!("{center:.0}")} y={format!("{:.0}", TOP + dy)} text-anchor="middle"
                font-size="13" font-weight={weight}>{ content }</text>
        }
    };

    html! {
        <g>
            <line class="sdbe-line" x1="210" y1="70" x2={format!("{center:.0}")}
                y2={format!("{TOP:.0}")} />
            <rect class="sdbe-box" x={format!("{x:.0}")} y={format!("{TOP:.0}")}
                width={BOX_W.to_string()} height="124" rx="4" />
            { text(18.0, region.name.to_string(), "600") }
            { text(36.0, format!("RTT {:.0} ms", region.rtt_ms), "400") }
            { text(56.0, format!("hit {}", percent(region.recent_hit_ratio)), "600") }
            { text(74.0, latency, "400") }
            { text(96.0, "object 0:".to_string(), "400") }
            <rect class={copy_class} x={format!("{:.0}", center - 30.0)}
                y={format!("{:.0}", TOP + 103.0)} width="12" height="12" />
            <text x={format!("{:.0}", center - 14.0)} y={format!("{:.0}", TOP + 114.0)}
                font-size="13">{ copy_text }</text>
        </g>
    }
}
