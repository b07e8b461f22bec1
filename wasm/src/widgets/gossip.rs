//! Gossip widget: nodes on a circle, marked by whether they have the newest version, an older
//! one, none or are down, with the messages in flight as dots moving from sender to target.
//!
//! The nodes are drawn by a child component that Yew re-renders only when a node changes. The
//! dots change every frame, so an effect writes them straight into one SVG path, in tenths of a
//! scene unit, instead of diffing hundreds of elements.

use std::fmt::Write as _;
use std::rc::Rc;

use sim::gossip::{
    Action, Event as GossipEvent, Gossip, GossipConfig, MAX_FANOUT, MAX_NODES, MAX_ROUND_MS,
    MAX_RUMOR_ROUNDS, MIN_ROUND_MS,
};
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Centre and radius of the circle of nodes, in scene units.
const CX: f64 = 210.0;
const CY: f64 = 252.0;
const RADIUS: f64 = 175.0;
/// Distance from the centre of the node numbers outside the circle.
const LABEL_RADIUS: f64 = 193.0;
/// Radius of a node's mark, and the largest radius of the invisible circle a tap must hit.
const NODE_R: f64 = 5.0;
const MAX_HIT_R: f64 = 12.0;
/// Top of the legend, below the circle.
const LEGEND_Y: f64 = 462.0;
/// Height of the whole scene.
const SCENE_H: f64 = 530.0;
/// Path coordinates are written in tenths of a scene unit as whole numbers, because those format
/// faster than decimals. The paths' group scales them back.
const PATH_SCALE: f64 = 10.0;

fn describe(event: &GossipEvent) -> Option<String> {
    let s = |at_ms: &f64| at_ms / 1000.0;
    Some(match event {
        GossipEvent::Updated {
            at_ms,
            node,
            version,
        } => format!("{:.2} s: node {node} has a new version {version}", s(at_ms)),
        GossipEvent::Round {
            at_ms,
            round,
            senders,
        } => format!("{:.2} s: round {round}, {senders} nodes push", s(at_ms)),
        GossipEvent::Crashed { at_ms, node } => format!("{:.2} s: node {node} crashed", s(at_ms)),
        GossipEvent::Restarted {
            at_ms,
            node,
            version,
        } => format!(
            "{:.2} s: node {node} restarted with version {version}",
            s(at_ms)
        ),
        GossipEvent::LossChanged { at_ms, probability } => format!(
            "{:.2} s: the network now drops {:.0}% of messages",
            s(at_ms),
            probability * 100.0
        ),
        GossipEvent::Converged {
            at_ms,
            version,
            rounds,
            time_ms,
            messages,
        } => format!(
            "{:.2} s: every up node has version {version}, after {rounds} rounds, {:.2} s and \
             {messages} messages",
            s(at_ms),
            s(time_ms)
        ),
        // Hundreds of messages go out per round; the dots and the counters show them.
        GossipEvent::Sent { .. } | GossipEvent::Delivered { .. } | GossipEvent::Lost { .. } => {
            return None;
        }
    })
}

/// A node's state as the scene marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// Up, with the newest version: a filled circle.
    Newest,
    /// Up, with an older version: a filled diamond.
    Older,
    /// Up, with no version yet: a ring.
    Empty,
    /// Down: a red cross.
    Down,
}

impl Look {
    fn name(self) -> &'static str {
        match self {
            Self::Newest => "newest version",
            Self::Older => "older version",
            Self::Empty => "no version yet",
            Self::Down => "down",
        }
    }
}

/// Renders the gossip widget: the parameter fields, the update and fault controls, the circle of
/// nodes with the messages in flight, and the metrics.
#[component]
pub fn GossipWidget(props: &WidgetProps<GossipConfig>) -> Html {
    let runner: RunnerHandle<Gossip> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let selected = use_state_eq(|| None::<u32>);
    let dots = use_node_ref();
    let dropped_dots = use_node_ref();
    let buffers = use_mut_ref(DotBuffers::default);
    {
        let runner = runner.clone();
        let (dots, dropped_dots) = (dots.clone(), dropped_dots.clone());
        use_effect(move || {
            if let Ok(engine) = &runner.get().engine {
                buffers.borrow_mut().draw(engine, &dots, &dropped_dots);
            }
        });
    }
    let run = runner.get();

    let current = run.config.clone();
    let configure = |edit: fn(&mut GossipConfig, f64)| runner.configure(&current, edit);
    let params = html! {
        <>
            <NumberField label="Nodes" value={f64::from(current.nodes)} min={2.0}
                max={f64::from(MAX_NODES)} on_change={configure(|c, v| c.nodes = v as u32)} />
            <NumberField label="Fanout" value={f64::from(current.fanout)} min={1.0}
                max={f64::from(MAX_FANOUT)} on_change={configure(|c, v| c.fanout = v as u32)} />
            <NumberField label="Round (ms)" value={current.round_ms} min={MIN_ROUND_MS}
                max={MAX_ROUND_MS} step={100.0} on_change={configure(|c, v| c.round_ms = v)} />
            <NumberField label="Latency (ms)" value={current.latency_ms} min={1.0}
                max={current.round_ms} step={50.0}
                on_change={configure(|c, v| c.latency_ms = v)} />
            <NumberField label="Rumor rounds (0: for ever)" value={f64::from(current.rumor_rounds)}
                min={0.0} max={f64::from(MAX_RUMOR_ROUNDS)}
                on_change={configure(|c, v| c.rumor_rounds = v as u32)} />
        </>
    };

    let (actions, scene) = match &run.engine {
        Ok(engine) => {
            let target = (*selected)
                .filter(|&id| id < engine.config().nodes)
                .unwrap_or(0);
            let target_up = engine.nodes().get(target as usize).is_some_and(|n| n.up);
            let update = runner.callback(move |_: MouseEvent| {
                Command::Act(Action::Update { node: target })
            });
            let update_random = runner.callback(|_: MouseEvent| Command::Act(Action::UpdateRandom));
            let actions = html! {
                <>
                    <button type="button" class="sdbe-update" disabled={!target_up}
                        onclick={update}>{ format!("Update node {target}") }</button>
                    <button type="button" class="sdbe-update-random" disabled={engine.live() == 0}
                        onclick={update_random}>{ "Update a random node" }</button>
                    <FaultPanel runner={runner.clone()} selected={selected.clone()}
                        up={Rc::new(engine.nodes().iter().map(|n| n.up).collect::<Vec<_>>())} />
                </>
            };
            let scene = draw(engine, target, &selected, &dots, &dropped_dots);
            (actions, scene)
        }
        Err(_) => (html! {}, html! {}),
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Gossip: pushing an update to random peers",
            params,
            actions,
            scene,
        },
    )
}

/// Properties of [`FaultPanel`].
#[derive(Properties, PartialEq)]
struct FaultPanelProps {
    /// The widget's run, which the controls send their faults to.
    runner: RunnerHandle<Gossip>,
    /// The node picked in the fault controls or on the circle.
    selected: UseStateHandle<Option<u32>>,
    /// Whether each node is up, which is all the controls show of the engine.
    up: Rc<Vec<bool>>,
}

/// Shows the shared fault controls, whose node list has an entry per node. As a component of
/// its own, it is rebuilt only when a node goes down or up or the selection changes, not on
/// every frame.
#[component]
fn FaultPanel(props: &FaultPanelProps) -> Html {
    fault_controls(&props.runner, &props.selected)
}

/// Returns where node `id` of `count` sits: clockwise from the top.
fn position(id: u32, count: u32, radius: f64) -> (f64, f64) {
    let turn = f64::from(id) / f64::from(count.max(1));
    let angle = std::f64::consts::TAU * turn - std::f64::consts::FRAC_PI_2;
    (CX + radius * angle.cos(), CY + radius * angle.sin())
}

/// Draws the caption, the circle of nodes, the paths the dots go into, and the legend.
fn draw(
    engine: &Gossip,
    target: u32,
    selected: &UseStateHandle<Option<u32>>,
    dots: &NodeRef,
    dropped_dots: &NodeRef,
) -> Html {
    let newest = engine.newest_version();
    let looks: Rc<Vec<Look>> = Rc::new(
        engine
            .nodes()
            .iter()
            .map(|node| match (node.up, node.version) {
                (false, _) => Look::Down,
                (true, 0) => Look::Empty,
                (true, v) if v == newest => Look::Newest,
                (true, _) => Look::Older,
            })
            .collect(),
    );
    let count = engine.config().nodes;
    let informed = engine.informed_live();
    let live = engine.live();

    // Two short lines, which fit at 360 px, where the scene's text grows to 17 units.
    let first_line = format!(
        "round {} · fanout {} · version {newest}",
        engine.round(),
        engine.effective_fanout()
    );
    // With rumor rounds, the pushes can stop before every node has the version.
    let stopped = engine.in_flight().len() == 0
        && !engine.nodes().iter().any(|node| engine.pushes(node));
    let second_line = match engine.last_convergence().filter(|_| engine.converged()) {
        Some(done) => format!("all {live} up nodes have it: {} rounds", done.rounds),
        None if stopped => format!("{informed} of {live} have it; the rumor stopped"),
        None => format!("{informed} of {live} up nodes have it"),
    };
    let chosen = engine.nodes().get(target as usize);
    let chosen_text = match chosen {
        Some(node) if !node.up => "down".to_string(),
        Some(node) if node.version == 0 => "no version yet".to_string(),
        Some(node) => format!("version {}", node.version),
        None => String::new(),
    };
    let label = format!(
        "gossip among {count} nodes: {informed} of {live} up nodes have version {newest}, \
         {} messages in flight",
        engine.in_flight().len()
    );

    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {SCENE_H:.0}")} role="img"
            aria-label={label}>
            <text x="8" y="16" font-size="14">{ first_line }</text>
            <text x="8" y="36" font-size="14">{ second_line }</text>
            <Ring looks={looks} selected={target} on_pick={selected.setter()} />
            <text x={f(CX)} y={f(CY - 4.0)} font-size="14" text-anchor="middle"
                font-weight="700">{ format!("node {target}") }</text>
            <text x={f(CX)} y={f(CY + 14.0)} font-size="13" text-anchor="middle">
                { chosen_text }</text>
            <g transform={format!("scale({})", 1.0 / PATH_SCALE)} pointer-events="none">
                <path ref={dropped_dots.clone()} class="sdbe-line" stroke-linecap="round"
                    stroke-width={f(4.0 * PATH_SCALE)} />
                <path ref={dots.clone()} class="sdbe-trace" stroke-linecap="round"
                    stroke-width={f(6.0 * PATH_SCALE)} />
            </g>
            { legend(LEGEND_Y) }
        </svg>
    }
}

/// Properties of [`Ring`].
#[derive(Properties, PartialEq)]
struct RingProps {
    /// Every node's state, in id order.
    looks: Rc<Vec<Look>>,
    /// The node the buttons and the fault controls act on.
    selected: u32,
    /// Selects a node when the reader taps it.
    on_pick: UseStateSetter<Option<u32>>,
}

/// Draws the nodes on the circle, with every tenth (or fifth, or every) node numbered outside.
/// Its properties change only when a node does, so Yew skips it on most frames.
#[component]
fn Ring(props: &RingProps) -> Html {
    let count = props.looks.len() as u32;
    let spacing = std::f64::consts::TAU * RADIUS / f64::from(count.max(1));
    let hit_r = (spacing / 2.0).min(MAX_HIT_R);
    let label_every = match count {
        0..=20 => 1,
        21..=50 => 5,
        _ => 10,
    };
    let nodes = props.looks.iter().enumerate().map(|(index, &look)| {
        let id = index as u32;
        let (x, y) = position(id, count, RADIUS);
        let pick = {
            let setter = props.on_pick.clone();
            Callback::from(move |_: MouseEvent| setter.set(Some(id)))
        };
        let label = (id % label_every == 0).then(|| {
            let (lx, ly) = position(id, count, LABEL_RADIUS);
            html! {
                <text x={f(lx)} y={f(ly)} font-size="13" text-anchor="middle"
                    dominant-baseline="middle">{ id }</text>
            }
        });
        let ring = (id == props.selected).then(|| {
            html! {
                <circle class="sdbe-lookup-key" cx={f(x)} cy={f(y)} r={f(NODE_R + 3.5)}
                    fill="none" />
            }
        });
        html! {
            <g data-node={id.to_string()} data-look={look.name()} onclick={pick}>
                <title>{ format!("node {id}: {}", look.name()) }</title>
                <circle class="sdbe-box" cx={f(x)} cy={f(y)} r={f(hit_r)} opacity="0" />
                { mark(look, x, y) }
                { for ring }
                { for label }
            </g>
        }
    });
    html! { <g class="sdbe-nodes" style="cursor: pointer">{ for nodes }</g> }
}

/// Draws a node's mark centred on `(x, y)`, one shape per state so that colour is not the only
/// cue.
fn mark(look: Look, x: f64, y: f64) -> Html {
    let r = NODE_R;
    match look {
        Look::Newest => html! {
            <circle class="sdbe-accepted" cx={f(x)} cy={f(y)} r={f(r)} />
        },
        Look::Older => html! {
            <path class="sdbe-waiting"
                d={format!("M{:.1} {:.1}l{r} {r}l-{r} {r}l-{r} -{r}z", x, y - r)} />
        },
        Look::Empty => html! {
            <circle class="sdbe-idle" cx={f(x)} cy={f(y)} r={f(r - 0.75)} />
        },
        // Two bars crossed at 45 degrees, filled so that the cross is visible at 360 px.
        Look::Down => html! {
            <g class="sdbe-rejected" transform={format!("rotate(45 {x:.1} {y:.1})")}>
                <rect x={f(x - r - 1.0)} y={f(y - 1.3)} width={f(2.0 * r + 2.0)} height="2.6" />
                <rect x={f(x - 1.3)} y={f(y - r - 1.0)} width="2.6" height={f(2.0 * r + 2.0)} />
            </g>
        },
    }
}

/// Explains the node marks and the dots, two to a row, so that it fits at 360 px, where the
/// scene's text grows to 17 units.
fn legend(top: f64) -> Html {
    let looks = [
        (Look::Newest, 8.0, top),
        (Look::Older, 215.0, top),
        (Look::Empty, 8.0, top + 22.0),
        (Look::Down, 215.0, top + 22.0),
    ]
    .map(|(look, x, y)| {
        html! {
            <>
                { mark(look, x + 6.0, y + 9.0) }
                <text x={f(x + 18.0)} y={f(y + 14.0)} font-size="13">{ look.name() }</text>
            </>
        }
    });
    let dots_y = top + 44.0;
    html! {
        <g class="sdbe-legend">
            { for looks }
            <path class="sdbe-trace" stroke-linecap="round" stroke-width="6"
                d={format!("M14 {:.1}h0", dots_y + 9.0)} />
            <text x="26" y={f(dots_y + 14.0)} font-size="13">{ "message" }</text>
            <path class="sdbe-line" stroke-linecap="round" stroke-width="4"
                d={format!("M221 {:.1}h0", dots_y + 9.0)} />
            <text x="233" y={f(dots_y + 14.0)} font-size="13">{ "message to be lost" }</text>
        </g>
    }
}

/// The text of the two dot paths and the node positions for the current node count. They are
/// kept between frames, so that drawing allocates no Rust memory once the buffers have grown.
#[derive(Default)]
struct DotBuffers {
    dots: String,
    dropped: String,
    /// Positions of the nodes in path units, for `count` nodes.
    positions: Vec<(f64, f64)>,
    count: u32,
}

impl DotBuffers {
    /// Writes a dot for every message in flight, at the point of its chord it has reached, into
    /// the two paths: messages the network will drop go into `dropped_dots`.
    fn draw(&mut self, engine: &Gossip, dots: &NodeRef, dropped_dots: &NodeRef) {
        let count = engine.config().nodes;
        if count != self.count || self.positions.is_empty() {
            self.count = count;
            self.positions = (0..count)
                .map(|id| {
                    let (x, y) = position(id, count, RADIUS);
                    (x * PATH_SCALE, y * PATH_SCALE)
                })
                .collect();
        }
        self.dots.clear();
        self.dropped.clear();
        for message in engine.in_flight() {
            let from = self.positions.get(message.from as usize);
            let to = self.positions.get(message.to as usize);
            let (Some(&(x1, y1)), Some(&(x2, y2))) = (from, to) else {
                continue;
            };
            let t = engine.progress(message);
            let x = (x1 + (x2 - x1) * t).round() as i32;
            let y = (y1 + (y2 - y1) * t).round() as i32;
            let path = if message.dropped {
                &mut self.dropped
            } else {
                &mut self.dots
            };
            // `fmt::Write` for `String` always returns `Ok`.
            let _ = write!(path, "M{x} {y}h0");
        }
        set_path(dots, &self.dots);
        set_path(dropped_dots, &self.dropped);
    }
}

/// Sets a path's `d`, or clears it when there is nothing to draw.
fn set_path(path: &NodeRef, d: &str) {
    let Some(element) = path.cast::<web_sys::Element>() else {
        return;
    };
    let result = if d.is_empty() {
        element.remove_attribute("d")
    } else {
        element.set_attribute("d", d)
    };
    // Only an invalid attribute name fails, and "d" is valid.
    let _ = result;
}

fn f(value: f64) -> String {
    format!("{value:.1}")
}
