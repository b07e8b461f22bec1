//! Service discovery widget: instances, the registry's leases with the TTL they have left, and
//! each client's cached list, which goes stale when an instance crashes.

use sim::Engine;
use sim::discovery::{
    Action, Discovery, DiscoveryConfig, Event as DiscoveryEvent, InstanceState, MAX_CLIENTS,
    MAX_INSTANCES, MAX_RATE_PER_S, RegisterReason,
};
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Left edge of the instance columns; row labels sit to its left.
const COLUMNS_X: f64 = 100.0;
/// Width the instance columns share.
const COLUMNS_W: f64 = 316.0;
/// Widest column, so that a few instances do not stretch across the scene.
const MAX_COLUMN_W: f64 = 84.0;
const INSTANCE_Y: f64 = 26.0;
const REGISTRY_Y: f64 = 78.0;
const CLIENTS_Y: f64 = 116.0;
const CLIENT_ROW_H: f64 = 28.0;

fn describe(event: &DiscoveryEvent) -> Option<String> {
    let s = |at_ms: &f64| at_ms / 1000.0;
    Some(match event {
        DiscoveryEvent::Register {
            at_ms,
            instance,
            reason,
            delivered,
        } => {
            let what = match reason {
                RegisterReason::Start => "registered",
                RegisterReason::Restart => "restarted and registered",
                RegisterReason::ScaleUp => "registered",
                RegisterReason::AfterExpiry => "heard its lease had expired, registered again",
            };
            let lost = if *delivered {
                ""
            } else {
                " (lost: cut off from the registry)"
            };
            format!("{:.2} s: instance {instance} {what}{lost}", s(at_ms))
        }
        DiscoveryEvent::Deregister {
            at_ms,
            instance,
            delivered,
        } => format!(
            "{:.2} s: instance {instance} deregistered{}",
            s(at_ms),
            if *delivered {
                ""
            } else {
                " (lost: cut off from the registry)"
            }
        ),
        DiscoveryEvent::Expired {
            at_ms,
            instance,
            serving,
            ..
        } => format!(
            "{:.2} s: registry dropped instance {instance}: no heartbeat for a TTL{}",
            s(at_ms),
            if *serving {
                ", yet it still serves (false expiry)"
            } else {
                ""
            }
        ),
        DiscoveryEvent::Refreshed {
            at_ms,
            client,
            added,
            removed,
            ..
        } if !added.is_empty() || !removed.is_empty() => {
            let list = |ids: &[u32]| {
                ids.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut changes = Vec::new();
            if !added.is_empty() {
                changes.push(format!("added {}", list(added)));
            }
            if !removed.is_empty() {
                changes.push(format!("dropped {}", list(removed)));
            }
            format!(
                "{:.2} s: client {client} fetched the list: {}",
                s(at_ms),
                changes.join("; ")
            )
        }
        DiscoveryEvent::Crashed {
            at_ms, instance, ..
        } => format!(
            "{:.2} s: instance {instance} crashed without deregistering",
            s(at_ms)
        ),
        DiscoveryEvent::Restarted { at_ms, instance } => {
            format!("{:.2} s: instance {instance} restarted", s(at_ms))
        }
        DiscoveryEvent::Draining {
            at_ms,
            instance,
            until_ms,
        } => format!(
            "{:.2} s: instance {instance} drains until {:.2} s",
            s(at_ms),
            s(until_ms)
        ),
        DiscoveryEvent::Stopped { at_ms, instance } => {
            format!("{:.2} s: instance {instance} stopped", s(at_ms))
        }
        DiscoveryEvent::Added { at_ms, instance } => {
            format!("{:.2} s: instance {instance} started", s(at_ms))
        }
        DiscoveryEvent::CutOffChanged {
            at_ms,
            instance,
            cut,
        } => format!(
            "{:.2} s: instance {instance} {}",
            s(at_ms),
            if *cut {
                "cut off from the registry; clients still reach it"
            } else {
                "reconnected to the registry"
            }
        ),
        DiscoveryEvent::StaleCleared {
            at_ms,
            instance,
            stale_ms,
            failed,
            ..
        } => format!(
            "{:.2} s: no client caches instance {instance} any more, {:.2} s after it went \
             down; {failed} requests failed",
            s(at_ms),
            s(stale_ms)
        ),
        _ => return None,
    })
}

/// The service discovery widget.
#[component]
pub fn DiscoveryWidget(props: &WidgetProps<DiscoveryConfig>) -> Html {
    let runner: RunnerHandle<Discovery> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    let current = run.config.clone();
    let configure = |edit: fn(&mut DiscoveryConfig, f64)| runner.configure(&current, edit);
    let params = html! {
        <>
            <NumberField label="Instances at start" value={f64::from(current.instances)} min={1.0}
                max={f64::from(MAX_INSTANCES)} on_change={configure(|c, v| c.instances = v as u32)} />
            <NumberField label="Clients" value={f64::from(current.clients)} min={1.0}
                max={f64::from(MAX_CLIENTS)} on_change={configure(|c, v| c.clients = v as u32)} />
            <NumberField label="Requests/s per client" value={current.rate_per_s} min={0.1}
                max={MAX_RATE_PER_S} step={0.1} on_change={configure(|c, v| c.rate_per_s = v)} />
            <NumberField label="Heartbeat (ms)" value={current.heartbeat_ms} min={50.0}
                max={60_000.0} step={50.0} on_change={configure(|c, v| c.heartbeat_ms = v)} />
            <NumberField label="TTL (ms)" value={current.ttl_ms} min={50.0} max={600_000.0}
                step={50.0} on_change={configure(|c, v| c.ttl_ms = v)} />
            <NumberField label="Refresh (ms)" value={current.refresh_ms} min={50.0}
                max={600_000.0} step={50.0} on_change={configure(|c, v| c.refresh_ms = v)} />
            <NumberField label="Drain (ms)" value={current.drain_ms} min={0.0} max={600_000.0}
                step={50.0} on_change={configure(|c, v| c.drain_ms = v)} />
        </>
    };

    // The graceful stop and the cut-off act on the instance picked in the fault controls.
    let target = run.engine.as_ref().ok().and_then(|engine| {
        let instances = engine.instances();
        (*fault_target)
            .and_then(|id| instances.iter().find(|i| i.id == id))
            .or_else(|| instances.first())
            .map(|i| (i.id, i.state, i.cut_off))
    });
    let full = run.engine.as_ref().map_or(true, |engine| {
        engine.instances().len() >= MAX_INSTANCES as usize
    });
    let act = |action: Option<Action>| {
        runner.callback(move |_: MouseEvent| match &action {
            Some(action) => Command::Act(action.clone()),
            None => Command::Step,
        })
    };
    let stop = target.map(|(instance, ..)| Action::Stop { instance });
    let cut = target.map(|(instance, _, cut_off)| Action::CutOff {
        instance,
        cut: !cut_off,
    });
    let can_stop = target.is_some_and(|(_, state, _)| state == InstanceState::Up);
    let cut_label = if target.is_some_and(|(_, _, cut_off)| cut_off) {
        "Reconnect to registry"
    } else {
        "Cut off from registry"
    };
    let actions = html! {
        <>
            { fault_controls(&runner, &fault_target) }
            <button type="button" class="sdbe-stop" disabled={!can_stop}
                onclick={act(stop)}>{ "Stop gracefully" }</button>
            <button type="button" class="sdbe-cut-off" disabled={target.is_none()}
                onclick={act(cut)}>{ cut_label }</button>
            <button type="button" class="sdbe-add" disabled={full}
                onclick={act(Some(Action::AddInstance))}>{ "Add instance" }</button>
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
            title: "Registry, heartbeats and cached lists",
            params,
            actions,
            scene,
        },
    )
}

/// Draws the instances on top, the registry's leases below them and one row per client with its
/// cached list, each instance in its own column.
fn draw(engine: &Discovery) -> Html {
    let config = engine.config();
    let instances = engine.instances();
    let columns = instances.len().max(1) as f64;
    let column_w = (COLUMNS_W / columns).min(MAX_COLUMN_W);
    let chip_w = column_w - 6.0;
    let x_of = |index: usize| COLUMNS_X + index as f64 * column_w;

    let boxes = instances.iter().enumerate().map(|(index, instance)| {
        let x = x_of(index);
        let (class, state) = match instance.state {
            InstanceState::Up => ("sdbe-busy", "up"),
            InstanceState::Draining => ("sdbe-waiting", "drain"),
            InstanceState::Down => ("sdbe-rejected", "down"),
        };
        // A heartbeat line joins each instance to its lease; a cut-off instance's line is broken.
        let link = if instance.cut_off {
            html! {
                <text class="sdbe-rejected" x={f(x + chip_w / 2.0)} y={f(REGISTRY_Y - 1.0)}
                    font-size="13" text-anchor="middle">{ "✕" }</text>
            }
        } else if instance.state == InstanceState::Up {
            html! {
                <line class="sdbe-line" x1={f(x + chip_w / 2.0)} y1={f(INSTANCE_Y + 38.0)}
                    x2={f(x + chip_w / 2.0)} y2={f(REGISTRY_Y)} stroke-dasharray="2 3" />
            }
        } else {
            html! {}
        };
        html! {
            <g>
                <rect class="sdbe-box" x={f(x)} y={f(INSTANCE_Y)} width={f(chip_w)} height="36"
                    rx="4" />
                <text x={f(x + chip_w / 2.0)} y={f(INSTANCE_Y + 17.0)} font-size="14"
                    text-anchor="middle" font-weight="700">{ instance.id }</text>
                <rect class={class} x={f(x + 3.0)} y={f(INSTANCE_Y + 24.0)}
                    width={f(chip_w - 6.0)} height="8" rx="2">
                    <title>{ state }</title>
                </rect>
                { link }
            </g>
        }
    });

    // A lease is a bar of the TTL it has left; orange when the instance behind it is down.
    let leases = instances.iter().enumerate().map(|(index, instance)| {
        let x = x_of(index);
        let Some(left_ms) = engine.lease_left_ms(instance.id) else {
            return html! {};
        };
        let share = (left_ms / config.ttl_ms).clamp(0.0, 1.0);
        let class = if instance.serving() {
            "sdbe-accepted"
        } else {
            "sdbe-waiting"
        };
        html! {
            <g>
                <rect class="sdbe-idle" x={f(x)} y={f(REGISTRY_Y)} width={f(chip_w)} height="16"
                    rx="2" />
                <rect class={class} x={f(x)} y={f(REGISTRY_Y)} width={f(chip_w * share)}
                    height="16" rx="2" />
            </g>
        }
    });

    let listed: Vec<u32> = engine.listed().collect();
    let clients = engine.clients().iter().enumerate().map(|(row, client)| {
        let y = CLIENTS_Y + row as f64 * CLIENT_ROW_H;
        let until_refresh = ((client.next_refresh_ms - engine.now_ms()) / config.refresh_ms)
            .clamp(0.0, 1.0);
        let chips = instances.iter().enumerate().map(|(index, instance)| {
            let x = x_of(index);
            if client.cache.contains(&instance.id) {
                // A cached entry for a down instance is stale: every request to it fails.
                let class = if instance.serving() {
                    "sdbe-accepted"
                } else {
                    "sdbe-rejected"
                };
                html! { <rect class={class} x={f(x)} y={f(y)} width={f(chip_w)} height="16" rx="2" /> }
            } else if listed.contains(&instance.id) {
                // Listed by the registry but not fetched yet: no traffic until the next refresh.
                html! {
                    <rect class="sdbe-idle" x={f(x)} y={f(y)} width={f(chip_w)} height="16" rx="2"
                        stroke-dasharray="3 3" />
                }
            } else {
                html! {}
            }
        });
        html! {
            <g>
                <text x="8" y={f(y + 12.0)} font-size="13">{ format!("client {}", client.id) }</text>
                <rect class="sdbe-idle" x="8" y={f(y + 17.0)} width="64" height="4" />
                <rect class="sdbe-muted" x="8" y={f(y + 17.0)} width={f(64.0 * until_refresh)}
                    height="4" />
                { for chips }
            </g>
        }
    });

    let bottom = CLIENTS_Y + engine.clients().len() as f64 * CLIENT_ROW_H;
    let stale = engine.stale_entries();
    let status = format!(
        "failed in the last 1 s: {} · stale entries: {stale}",
        engine.recent_failures()
    );
    let height = bottom + 86.0;
    let label = format!(
        "{} of {} instances up, registry lists {}, {stale} stale cache entries, {} of {} \
         requests failed",
        instances.iter().filter(|i| i.serving()).count(),
        instances.len(),
        listed.len(),
        engine.failed(),
        engine.sent()
    );

    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {height:.0}")} role="img"
            aria-label={label}>
            <text x="8" y={f(INSTANCE_Y + 23.0)} font-size="13">{ "instances" }</text>
            <text x="8" y={f(REGISTRY_Y + 13.0)} font-size="13">{ "registry" }</text>
            <text x="8" y="16" font-size="13">
                { format!("heartbeat {} · TTL {} · refresh {}", seconds(config.heartbeat_ms),
                    seconds(config.ttl_ms), seconds(config.refresh_ms)) }</text>
            { for boxes }
            { for leases }
            <line class="sdbe-line" x1="8" y1={f(CLIENTS_Y - 10.0)} x2="412"
                y2={f(CLIENTS_Y - 10.0)} />
            { for clients }
            { legend(bottom + 4.0) }
            <text x="8" y={f(bottom + 78.0)} font-size="13">{ status }</text>
        </svg>
    }
}

/// Explains the colours of the cached entries and of a lease whose instance is down, in three
/// rows, which fit at 360 px, where the scene's text grows to 17 units.
fn legend(y: f64) -> Html {
    let items = [
        ("sdbe-accepted", "cached, up", 8.0, y),
        ("sdbe-rejected", "cached, down", 160.0, y),
        ("sdbe-idle", "listed, not fetched yet", 8.0, y + 20.0),
        ("sdbe-waiting", "lease of a down instance", 8.0, y + 40.0),
    ];
    let items = items.iter().map(|&(class, text, x, y)| {
        html! {
            <g>
                <rect class={class} x={f(x)} y={f(y + 3.0)} width="16" height="12" rx="2"
                    stroke-dasharray={(class == "sdbe-idle").then_some("3 3")} />
                <text x={f(x + 20.0)} y={f(y + 14.0)} font-size="13">{ text }</text>
            </g>
        }
    });
    html! { <g class="sdbe-legend">{ for items }</g> }
}

/// Formats milliseconds as seconds without a trailing ".0": `1 s`, `1.5 s`.
fn seconds(ms: f64) -> String {
    let text = format!("{:.1}", ms / 1000.0);
    format!("{} s", text.strip_suffix(".0").unwrap_or(&text))
}

fn f(value: f64) -> String {
    format!("{value:.1}")
}
