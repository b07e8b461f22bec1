//! Consistent hashing widget: the ring, its virtual nodes and keys, and the
//! keys a membership change moves compared with mod-N hashing.

use std::collections::BTreeMap;
use std::f64::consts::TAU;
use std::fmt::Write as _;

use sim::consistent_hash::{
    Action, ConsistentHash, ConsistentHashConfig, Event as RingEvent, Key, MAX_NODES, Vnode,
};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

const CENTER: f64 = 135.0;
const RING_R: f64 = 100.0;
const KEY_R: f64 = 116.0;

fn describe(event: &RingEvent) -> Option<String> {
    match event {
        RingEvent::NodeAdded {
            node,
            moved_by_ring,
            moved_by_mod_n,
            keys,
            ..
        } => Some(format!(
            "node {node} joined: ring moved {moved_by_ring} of {keys} keys, mod-N would move {moved_by_mod_n}"
        )),
        RingEvent::NodeRemoved {
            node,
            moved_by_ring,
            moved_by_mod_n,
            keys,
            ..
        } => Some(format!(
            "node {node} left: ring moved {moved_by_ring} of {keys} keys, mod-N would move {moved_by_mod_n}"
        )),
        // Lookups arrive every step; the log would scroll too fast to read.
        RingEvent::Lookup { .. } => None,
    }
}

/// A colour per node that reads on light and dark backgrounds.
fn node_colour(node: u32) -> String {
    let hue = (f64::from(node) * 137.508) % 360.0;
    format!("hsl({hue:.0}, 70%, 52%)")
}

fn point(fraction: f64, radius: f64) -> (f64, f64) {
    // Position 0 is at twelve o'clock and positions grow clockwise.
    let angle = fraction * TAU - TAU / 4.0;
    (CENTER + radius * angle.cos(), CENTER + radius * angle.sin())
}

/// The consistent hashing widget.
#[component]
pub fn ConsistentHashWidget(props: &WidgetProps<ConsistentHashConfig>) -> Html {
    let runner: RunnerHandle<ConsistentHash> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let selected = use_state(|| None::<u32>);
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    let configure = |edit: fn(&mut ConsistentHashConfig, f64)| runner.configure(&run.config, edit);
    let on_add = runner.callback(|_: MouseEvent| Command::Act(Action::AddNode));
    let live: Vec<u32> = run
        .engine
        .as_ref()
        .map(|ring| ring.nodes().to_vec())
        .unwrap_or_default();
    let target = (*selected)
        .filter(|node| live.contains(node))
        .or_else(|| live.last().copied());
    let on_remove = runner.callback(move |_: MouseEvent| match target {
        Some(node) => Command::Act(Action::RemoveNode { node }),
        None => Command::Step,
    });
    let on_select = {
        let selected = selected.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            selected.set(select.value().parse().ok());
        })
    };
    let params = html! {
        <>
            <NumberField label="Nodes" value={f64::from(run.config.nodes)} min={1.0}
                max={MAX_NODES as f64} on_change={configure(|c, v| c.nodes = v as u32)} />
            <NumberField label="Vnodes per node" value={f64::from(run.config.vnodes)} min={1.0}
                max={256.0} on_change={configure(|c, v| c.vnodes = v as u32)} />
            <NumberField label="Keys" value={f64::from(run.config.keys)} min={1.0}
                max={10_000.0} step={1.0} on_change={configure(|c, v| c.keys = v as u32)} />
        </>
    };
    let faults = fault_controls(&runner, &fault_target);
    let actions = html! {
        <>
            <button type="button" class="sdbe-primary sdbe-add-node" onclick={on_add}
                disabled={run.engine.is_err() || live.len() >= MAX_NODES}>{ "Add node" }</button>
            <label>
                { "Node " }
                <select onchange={on_select} aria-label="Node to remove">
                    { for live.iter().map(|node| html! {
                        <option value={node.to_string()} selected={Some(*node) == target}>
                            { format!("node {node}") }
                        </option>
                    }) }
                </select>
            </label>
            <button type="button" class="sdbe-remove-node" onclick={on_remove}
                disabled={live.len() <= 1}>{ "Remove node" }</button>
            { faults }
        </>
    };
    // Vnodes and keys move only when a node joins or leaves, while a lookup
    // happens every step, so their drawing is redrawn only when they change.
    let (vnodes, keys) = match &run.engine {
        Ok(ring) => (ring.ring().to_vec(), ring.keys().to_vec()),
        Err(_) => (Vec::new(), Vec::new()),
    };
    let ring_marks = use_memo((vnodes, keys), |(vnodes, keys)| draw_marks(vnodes, keys));
    let scene = match &run.engine {
        Ok(ring) => draw(ring, (*ring_marks).clone(), &run.last_events),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Consistent hashing ring",
            params,
            actions,
            scene,
        },
    )
}

/// Draws every vnode as a tick across the ring and every key as a dot inside
/// it, one path per node for each, so that 10,000 keys make a few dozen
/// elements rather than 10,000.
fn draw_marks(vnodes: &[Vnode], keys: &[Key]) -> Html {
    let mut ticks: BTreeMap<u32, String> = BTreeMap::new();
    for vnode in vnodes {
        let (x1, y1) = point(vnode.position, RING_R - 7.0);
        let (x2, y2) = point(vnode.position, RING_R + 7.0);
        let path = ticks.entry(vnode.node).or_default();
        let _ = write!(path, "M{x1:.1} {y1:.1}L{x2:.1} {y2:.1}");
    }
    // A zero-length line with round caps draws a dot of the stroke's width.
    let mut dots: BTreeMap<u32, String> = BTreeMap::new();
    for key in keys {
        let (x, y) = point(key.position, KEY_R);
        let _ = write!(dots.entry(key.node).or_default(), "M{x:.1} {y:.1}h0");
    }
    let ticks = ticks.into_iter().map(|(node, d)| {
        html! { <path class="sdbe-vnodes" {d} fill="none" stroke={node_colour(node)} stroke-width="3" /> }
    });
    let dots = dots.into_iter().map(|(node, d)| {
        html! {
            <path class="sdbe-keys" {d} fill="none" stroke={node_colour(node)} stroke-width="4.4"
                stroke-linecap="round" />
        }
    });
    html! { <>{ for ticks }{ for dots }</> }
}

/// Draws the ring with vnodes and keys on the left and keys per node on the right.
fn draw(ring: &ConsistentHash, marks: Html, last_events: &[RingEvent]) -> Html {
    let lookup = last_events.iter().rev().find_map(|event| match event {
        RingEvent::Lookup {
            key_position,
            vnode_position,
            node,
            ..
        } => Some((*key_position, *vnode_position, *node)),
        _ => None,
    });
    let lookup = lookup.map(|(from, to, node)| {
        let (x1, y1) = point(from, KEY_R);
        let (x2, y2) = point(to, RING_R);
        // Walk clockwise from the key to its vnode, wrapping past position 0.
        let sweep = if to >= from { to - from } else { to + 1.0 - from };
        let large = if sweep > 0.5 { 1 } else { 0 };
        let (kx, ky) = point(from, KEY_R);
        html! {
            <>
            <circle class="sdbe-lookup-key" cx={format!("{kx:.1}")} cy={format!("{ky:.1}")} r="5.5"
                fill={node_colour(node)} />
            <path class="sdbe-lookup" d={format!("M {x1:.1} {y1:.1} A {KEY_R} {KEY_R} 0 {large} 1 {x2:.1} {y2:.1}")}
                fill="none" stroke={node_colour(node)} stroke-width="2.5" stroke-dasharray="4 3" />
            </>
        }
    });
    let loads = ring.node_loads();
    let most = loads.iter().map(|load| load.keys).max().unwrap_or(1).max(1);
    let bar_h = (240.0 / loads.len().max(1) as f64).min(26.0);
    let font = (bar_h * 0.7).clamp(7.0, 14.0);
    let bars = loads.iter().enumerate().map(|(i, load)| {
        let y = 30.0 + bar_h * i as f64;
        let width = 56.0 * f64::from(load.keys) / f64::from(most);
        let baseline = format!("{:.1}", y + bar_h * 0.65);
        html! {
            <g>
                <text x="310" y={baseline.clone()} text-anchor="end"
                    font-size={format!("{font:.0}")}>{ format!("n{}", load.node) }</text>
                <rect x="314" y={format!("{y:.1}")} width={format!("{width:.1}")}
                    height={format!("{:.1}", bar_h * 0.8)} fill={node_colour(load.node)} />
                <text x={format!("{:.1}", 317.0 + width)} y={baseline}
                    font-size={format!("{font:.0}")}>{ load.keys }</text>
            </g>
        }
    });

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 280" role="img"
            aria-label={format!("Ring of {} nodes with {} virtual nodes and {} keys",
                ring.nodes().len(), ring.ring().len(), ring.keys().len())}>
            <circle class="sdbe-line" cx={CENTER.to_string()} cy={CENTER.to_string()} r={RING_R.to_string()} />
            { marks }
            { for lookup }
            <text x={CENTER.to_string()} y={CENTER.to_string()} text-anchor="middle" font-size="14">
                { "hash ring" }
            </text>
            <text x="290" y="18" font-size="14">{ "keys per node" }</text>
            { for bars }
        </svg>
    }
}
