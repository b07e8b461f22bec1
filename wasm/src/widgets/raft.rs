//! Raft leader election widget: nodes on an ellipse with their role, term and emptying election
//! timer, vote requests, votes and heartbeats moving between them, and faults to crash the
//! leader, partition the cluster or lose messages.

use sim::faults::Fault;
use sim::raft::{
    Action, DenyReason, Event as RaftEvent, MAX_LATENCY_MS, MAX_NODES, MAX_TIMEOUT_MS,
    MIN_HEARTBEAT_MS, MIN_NODES, MIN_TIMEOUT_MS, Message, Node, Raft, RaftConfig, Role, Rpc,
    StepDownReason,
};
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Centre of the ellipse the nodes sit on, in scene units.
const CENTER_X: f64 = 210.0;
const CENTER_Y: f64 = 200.0;
/// Radii of that ellipse: wider than tall, so that the labels of the two lowest nodes of nine
/// stay apart at 360 px, where the scene's text grows to 17 px.
const RING_RX: f64 = 155.0;
const RING_RY: f64 = 128.0;
/// Radius of a node's disc, whose fill shows its role.
const NODE_R: f64 = 19.0;
/// Radius of the election timer ring around a node.
const TIMER_R: f64 = 24.0;
/// Maximum number of messages drawn at once. More happen only with extreme settings, and
/// drawing them all would cost more per frame than the 4 ms budget allows.
const MAX_DRAWN_MESSAGES: usize = 60;
/// Top of the legend, below the lowest node's labels.
const LEGEND_Y: f64 = 396.0;

fn describe(event: &RaftEvent) -> Option<String> {
    let s = |at_ms: &f64| at_ms / 1000.0;
    Some(match event {
        RaftEvent::BecameCandidate {
            at_ms,
            node,
            term,
            forced,
        } => {
            let cause = if *forced {
                "was told to time out"
            } else {
                "timed out"
            };
            format!(
                "{:.2} s: node {node} {cause} and became candidate for term {term}",
                s(at_ms)
            )
        }
        RaftEvent::SplitVote {
            at_ms,
            node,
            term,
            votes,
        } => format!(
            "{:.2} s: node {node}'s election for term {term} ended with {votes} votes and no \
             leader (split vote)",
            s(at_ms)
        ),
        RaftEvent::VoteGranted {
            at_ms,
            voter,
            candidate,
            term,
        } => format!(
            "{:.2} s: node {voter} voted for node {candidate} in term {term}",
            s(at_ms)
        ),
        RaftEvent::VoteDenied {
            at_ms,
            voter,
            candidate,
            term,
            reason,
        } => {
            let reason_text = match reason {
                DenyReason::StaleTerm { voter_term } => {
                    format!("term {term} is behind its term {voter_term}")
                }
                DenyReason::AlreadyVoted { voted_for } => {
                    format!("already voted for node {voted_for}")
                }
            };
            format!(
                "{:.2} s: node {voter} denied node {candidate} a vote: {reason_text}",
                s(at_ms)
            )
        }
        RaftEvent::BecameLeader {
            at_ms,
            node,
            term,
            votes,
        } => format!(
            "{:.2} s: node {node} became leader of term {term} with {votes} votes",
            s(at_ms)
        ),
        RaftEvent::SteppedDown {
            at_ms,
            node,
            was,
            term,
            reason,
        } => {
            let was = role_name(*was);
            let reason_text = match reason {
                StepDownReason::HigherTerm { from } => {
                    format!("node {from} has term {term}")
                }
                StepDownReason::LeaderOfTerm { leader } => {
                    format!("node {leader} leads term {term}")
                }
            };
            format!(
                "{:.2} s: node {node} stepped down from {was} to follower: {reason_text}",
                s(at_ms)
            )
        }
        RaftEvent::Crashed { at_ms, node, was } => {
            format!(
                "{:.2} s: node {node} ({}) crashed",
                s(at_ms),
                role_name(*was)
            )
        }
        RaftEvent::Restarted {
            at_ms,
            node,
            term,
            voted_for,
        } => {
            let vote = match voted_for {
                Some(id) => format!("its vote for node {id}"),
                None => "no vote".to_string(),
            };
            format!(
                "{:.2} s: node {node} restarted with its stored term {term} and {vote}",
                s(at_ms)
            )
        }
        RaftEvent::Partitioned { at_ms, groups } => {
            format!("{:.2} s: network split into {}", s(at_ms), sides_text(groups))
        }
        RaftEvent::Healed { at_ms } => format!("{:.2} s: partition healed", s(at_ms)),
        RaftEvent::LossChanged { at_ms, probability } => format!(
            "{:.2} s: the network now loses {:.0}% of messages",
            s(at_ms),
            probability * 100.0
        ),
        _ => return None,
    })
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

/// Formats partition sides as `{1, 2} | {3, 4, 5}`.
fn sides_text(groups: &[Vec<u32>]) -> String {
    groups
        .iter()
        .map(|group| {
            let ids: Vec<String> = group.iter().map(u32::to_string).collect();
            format!("{{{}}}", ids.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Renders the Raft leader election widget: the parameter fields, the fault controls, the
/// forced election and leader buttons, and the scene.
#[component]
pub fn RaftWidget(props: &WidgetProps<RaftConfig>) -> Html {
    let runner: RunnerHandle<Raft> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    let current = run.config.clone();
    let configure = |edit: fn(&mut RaftConfig, f64)| runner.configure(&current, edit);
    let params = html! {
        <>
            <NumberField label="Nodes" value={f64::from(current.nodes)} min={f64::from(MIN_NODES)}
                max={f64::from(MAX_NODES)} on_change={configure(|c, v| c.nodes = v as u32)} />
            <NumberField label="Timeout min (ms)" value={current.election_timeout_min_ms}
                min={MIN_TIMEOUT_MS} max={MAX_TIMEOUT_MS / 2.0} step={50.0}
                on_change={configure(|c, v| c.election_timeout_min_ms = v)} />
            <NumberField label="Timeout max (ms)" value={current.election_timeout_max_ms}
                min={MIN_TIMEOUT_MS} max={MAX_TIMEOUT_MS} step={50.0}
                on_change={configure(|c, v| c.election_timeout_max_ms = v)} />
            <NumberField label="Heartbeat (ms)" value={current.heartbeat_ms}
                min={MIN_HEARTBEAT_MS} max={MAX_TIMEOUT_MS / 4.0} step={10.0}
                on_change={configure(|c, v| c.heartbeat_ms = v)} />
            <NumberField label="Latency (ms)" value={current.latency_ms} min={1.0}
                max={MAX_LATENCY_MS} step={10.0} on_change={configure(|c, v| c.latency_ms = v)} />
            <NumberField label="Jitter (ms)" value={current.latency_jitter_ms} min={0.0}
                max={MAX_LATENCY_MS} step={10.0}
                on_change={configure(|c, v| c.latency_jitter_ms = v)} />
        </>
    };

    // "Time out now" acts on the node picked in the fault controls, and the other two buttons act
    // on the leader.
    let engine = run.engine.as_ref().ok();
    let picked = engine.and_then(|engine| {
        let nodes = engine.nodes();
        (*fault_target)
            .and_then(|id| nodes.iter().find(|n| n.id == id))
            .or_else(|| nodes.first())
            .map(|n| (n.id, n.up && n.role != Role::Leader))
    });
    let leader = engine.and_then(|engine| engine.leader().map(|n| n.id));
    let all_ids: Vec<u32> = engine.map_or_else(Vec::new, |e| e.nodes().iter().map(|n| n.id).collect());
    let act = |action: Option<Action>| {
        runner.callback(move |_: MouseEvent| match &action {
            Some(action) => Command::Act(action.clone()),
            None => Command::Step,
        })
    };
    let timeout_now = picked.map(|(node, _)| Action::TimeoutNow { node });
    let crash_leader = leader.map(|node| Action::Fault(Fault::Crash { node }));
    let isolate_leader = leader.map(|node| {
        let rest = all_ids.iter().copied().filter(|id| *id != node).collect();
        Action::Fault(Fault::Partition {
            groups: vec![vec![node], rest],
        })
    });
    let timeout_label = match picked {
        Some((node, _)) => format!("Time out node {node} now"),
        None => "Time out now".to_string(),
    };
    let actions = html! {
        <>
            { fault_controls(&runner, &fault_target) }
            <button type="button" class="sdbe-timeout-now"
                disabled={!picked.is_some_and(|(_, can)| can)}
                onclick={act(timeout_now)}>{ timeout_label }</button>
            <button type="button" class="sdbe-crash-leader" disabled={leader.is_none()}
                onclick={act(crash_leader)}>{ "Crash the leader" }</button>
            <button type="button" class="sdbe-isolate-leader" disabled={leader.is_none()}
                onclick={act(isolate_leader)}>{ "Cut the leader off" }</button>
        </>
    };
    let scene = match engine {
        Some(engine) => draw(engine),
        None => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Raft leader election",
            params,
            actions,
            scene,
        },
    )
}

/// Returns the centre of node `index` of `count` on the ellipse, the first at the top, going
/// clockwise.
fn position(index: usize, count: usize) -> (f64, f64) {
    let angle = std::f64::consts::TAU * index as f64 / count.max(1) as f64;
    (
        CENTER_X + RING_RX * angle.sin(),
        CENTER_Y - RING_RY * angle.cos(),
    )
}

/// Draws the nodes on an ellipse, the messages in flight between them, and a legend.
fn draw(engine: &Raft) -> Html {
    let nodes = engine.nodes();
    let count = nodes.len();
    let partition = engine.partition();
    let side_of = |id: u32| {
        partition.as_ref().and_then(|groups| {
            groups
                .iter()
                .position(|group| group.contains(&id))
                .map(|side| char::from(b'A' + (side % 26) as u8))
        })
    };

    let node_views = nodes
        .iter()
        .enumerate()
        .map(|(index, node)| draw_node(engine, node, position(index, count), side_of(node.id)));
    let messages = engine
        .messages()
        .take(MAX_DRAWN_MESSAGES)
        .map(|message| draw_message(engine, message, count));

    let term = engine.current_term();
    let status = match engine.leader() {
        Some(leader) => format!("term {term} · leader: node {}", leader.id),
        None => format!("term {term} · no leader"),
    };
    let network = match &partition {
        Some(groups) => format!("partition {}", sides_text(groups)),
        None => "network whole".to_string(),
    };
    let loss = engine.drop_probability();
    let network = if loss > 0.0 {
        format!("{network} · {:.0}% lost", loss * 100.0)
    } else {
        network
    };
    let label = format!(
        "{} nodes, {status}, {network}. {}",
        count,
        nodes
            .iter()
            .map(|n| format!(
                "node {} {} term {}",
                n.id,
                if n.up { role_name(n.role) } else { "down" },
                n.term
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 486" role="img" aria-label={label}>
            <text x="8" y="18" font-size="14" font-weight="700">{ status }</text>
            <text x="8" y="36" font-size="13">{ network }</text>
            { for messages }
            { for node_views }
            <Legend />
        </svg>
    }
}

/// Draws one node: a disc filled by role, its id on a neutral centre, the election timer as a
/// ring that empties, and its role and term below.
fn draw_node(engine: &Raft, node: &Node, (x, y): (f64, f64), side: Option<char>) -> Html {
    let (class, role) = if node.up {
        let class = match node.role {
            Role::Follower => "sdbe-idle",
            Role::Candidate => "sdbe-waiting",
            Role::Leader => "sdbe-busy",
        };
        (class, role_name(node.role))
    } else {
        ("sdbe-rejected", "down")
    };
    let circumference = std::f64::consts::TAU * TIMER_R;
    let timer = engine.timer_left(node).map(|left| {
        html! {
            <circle class="sdbe-trace" cx={f(x)} cy={f(y)} r={f(TIMER_R)} stroke-width="3"
                stroke-dasharray={format!("{:.1} {circumference:.1}", left * circumference)}
                transform={format!("rotate(-90 {x:.1} {y:.1})")} />
        }
    });
    let side = side.map(|side| {
        html! {
            <text x={f(x + NODE_R + 6.0)} y={f(y - NODE_R + 4.0)} font-size="13"
                font-weight="700">{ side }</text>
        }
    });
    html! {
        <g>
            { for timer }
            <circle class={class} cx={f(x)} cy={f(y)} r={f(NODE_R)} />
            <circle class="sdbe-box" cx={f(x)} cy={f(y)} r="11" />
            <text x={f(x)} y={f(y + 5.0)} font-size="14" font-weight="700"
                text-anchor="middle">{ node.id }</text>
            <text x={f(x)} y={f(y + NODE_R + 25.0)} font-size="13" text-anchor="middle">
                { role }</text>
            <text x={f(x)} y={f(y + NODE_R + 42.0)} font-size="13" text-anchor="middle">
                { format!("term {}", node.term) }</text>
            { side }
        </g>
    }
}

/// Draws a message as a shape on the line between its nodes: a circle for RequestVote and its
/// response, a square for AppendEntries and its response.
fn draw_message(engine: &Raft, message: &Message, count: usize) -> Html {
    let index = |id: u32| (id as usize).saturating_sub(1);
    let (x1, y1) = position(index(message.from), count);
    let (x2, y2) = position(index(message.to), count);
    let p = engine.progress(message);
    let (x, y) = (x1 + (x2 - x1) * p, y1 + (y2 - y1) * p);
    match message.rpc {
        Rpc::RequestVote { .. } => html! {
            <circle class="sdbe-waiting" cx={f(x)} cy={f(y)} r="5" />
        },
        Rpc::RequestVoteResponse { vote_granted } => {
            let class = if vote_granted {
                "sdbe-accepted"
            } else {
                "sdbe-rejected"
            };
            html! { <circle class={class} cx={f(x)} cy={f(y)} r="5" /> }
        }
        Rpc::AppendEntries { .. } => html! {
            <rect class="sdbe-busy" x={f(x - 4.0)} y={f(y - 4.0)} width="8" height="8" />
        },
        Rpc::AppendEntriesResponse { .. } => html! {
            <rect class="sdbe-muted" x={f(x - 3.0)} y={f(y - 3.0)} width="6" height="6" />
        },
    }
}

/// Explains the role colours and the message shapes in rows that fit at 360 px, where the
/// scene's text grows to 17 units. A component without properties, so that Yew draws it once
/// instead of on every frame.
#[component]
fn Legend() -> Html {
    let y = LEGEND_Y;
    let roles = [
        ("sdbe-idle", "follower", 8.0),
        ("sdbe-waiting", "candidate", 118.0),
        ("sdbe-busy", "leader", 248.0),
    ];
    let roles = roles.iter().map(|&(class, text, x)| {
        html! {
            <g>
                <circle class={class} cx={f(x + 7.0)} cy={f(y + 9.0)} r="7" />
                <text x={f(x + 20.0)} y={f(y + 14.0)} font-size="13">{ text }</text>
            </g>
        }
    });
    html! {
        <g class="sdbe-legend">
            { for roles }
            <circle class="sdbe-waiting" cx="13" cy={f(y + 31.0)} r="5" />
            <text x="26" y={f(y + 36.0)} font-size="13">{ "vote request" }</text>
            <circle class="sdbe-accepted" cx="170" cy={f(y + 31.0)} r="5" />
            <circle class="sdbe-rejected" cx="184" cy={f(y + 31.0)} r="5" />
            <text x="196" y={f(y + 36.0)} font-size="13">{ "vote yes / no" }</text>
            <rect class="sdbe-busy" x="9" y={f(y + 49.0)} width="8" height="8" />
            <text x="26" y={f(y + 58.0)} font-size="13">{ "heartbeat" }</text>
            <rect class="sdbe-muted" x="168" y={f(y + 50.0)} width="6" height="6" />
            <text x="196" y={f(y + 58.0)} font-size="13">{ "its response" }</text>
            <circle class="sdbe-trace" cx="13" cy={f(y + 77.0)} r="6" stroke-width="2" />
            <text x="26" y={f(y + 82.0)} font-size="13">{ "election timer left" }</text>
        </g>
    }
}

fn f(value: f64) -> String {
    format!("{value:.1}")
}
