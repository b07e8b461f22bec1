//! Gossip: push dissemination of a versioned value among up to [`MAX_NODES`] nodes.
//!
//! Every node stores one value with a version number, 0 meaning it has heard of none. An update
//! ([`Action::Update`] or [`Action::UpdateRandom`]) gives one node a new version, one above the
//! newest so far. At the start node 0 already has version 1, as if updated at 0 ms, so that the
//! default run shows a spread without any reader action.
//!
//! Rounds are aligned: round `r` happens for every node at once, at `r × round_ms`. In each round
//! every up node that has a version pushes it to `fanout` distinct peers chosen uniformly at
//! random from the other nodes, or to all of them when there are fewer. With `rumor_rounds` set,
//! only nodes that got their version recently enough push (see below). The sender
//! does not know which peers are down. A message arrives `latency_ms` after it was sent, unless
//! it is lost: it is dropped with the current loss probability (decided when it is sent), or its
//! target is down when it arrives. The target keeps the higher of its version and the message's.
//! With `rumor_rounds` at 0, nodes never stop pushing, as in the anti-entropy of Demers et al.
//! ("Epidemic Algorithms for Replicated Database Maintenance", PODC 1987), which behaves as a
//! simple epidemic. So the value reaches every node that stays up, at the price of duplicate
//! messages once most nodes have it. With `rumor_rounds` at k > 0, a node pushes a version only
//! in the k rounds after it got it. That is the paper's rumor mongering, made blind (a node
//! ignores whether its peers already had the version) and with a counter of rounds. It sends
//! fewer messages, but some nodes may never get the version: the paper calls them the residue.
//!
//! Because `latency_ms` is at most `round_ms` and a message due at the same time as a round
//! arrives first, a message sent in round `r` is in place before round `r + 1`. So the rounds are
//! those of the synchronous push model. For fanout 1 and no failures, Frieze and Grimmett (1985)
//! and Pittel (1987) showed that all N nodes have the value after log2 N + ln N + O(1) rounds, as
//! B. Doerr's "Randomized Rumor Spreading: Easier and More Precise" (ETH Zürich, 2014) restates.
//! With fanout f the same two phases give an estimate of log_(f+1) N + ln N / f rounds. At first
//! the informed set grows by a factor of up to f + 1 per round. At the end, all pushes of a round
//! miss a given uninformed node with probability about e^-f. `sim/tests/gossip.rs` checks the
//! estimate against the engine.
//!
//! A crashed node sends nothing and loses every message that reaches it. It keeps its version,
//! as if stored on disk, so a restart brings it back with what it knew. With `rumor_rounds` at 0
//! the pushes of the others then bring it up to date. Messages it sent before the crash are still
//! delivered.
//!
//! The spread of a version has converged when every up node has the newest version. The engine
//! reports that once per version, with the rounds, the time and the messages it took.
//!
//! Within each step of [`STEP_MS`] the engine processes arrivals and rounds in time order at their
//! exact times. An arrival due at the same time as a round (within [`TIE_MS`]) comes first.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Maximum number of nodes.
pub const MAX_NODES: u32 = 100;

/// Maximum fanout: peers each node pushes to per round.
pub const MAX_FANOUT: u32 = 8;

/// Minimum time between rounds, in milliseconds.
pub const MIN_ROUND_MS: f64 = 200.0;

/// Maximum time between rounds, in milliseconds.
pub const MAX_ROUND_MS: f64 = 5000.0;

/// Maximum message loss probability the configuration accepts. A [`Fault::DropMessages`] may
/// go up to 1, which stops every message.
pub const MAX_LOSS: f64 = 0.9;

/// Slack within which an arrival counts as due at the same time as a round, in milliseconds.
/// Sums such as `3 × 0.1 + 0.1` and `4 × 0.1` differ in the last bit, and a message sent in one
/// round with `latency_ms = round_ms` must still arrive before the next round.
pub const TIE_MS: f64 = 1e-6;

/// Maximum `rumor_rounds`.
pub const MAX_RUMOR_ROUNDS: u32 = 20;

/// Parameters of the gossip widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GossipConfig {
    /// Nodes, numbered from 0, from 2 to [`MAX_NODES`].
    pub nodes: u32,
    /// Peers each node pushes to per round, from 1 to [`MAX_FANOUT`], and at most `nodes - 1`.
    pub fanout: u32,
    /// Time between rounds, in milliseconds.
    pub round_ms: f64,
    /// One-way message delay, in milliseconds, from 1 to `round_ms`.
    pub latency_ms: f64,
    /// Probability that a message is lost, from 0 to [`MAX_LOSS`].
    pub loss: f64,
    /// Rounds a node pushes a version after getting it, up to [`MAX_RUMOR_ROUNDS`]. With 0 it
    /// pushes for ever.
    pub rumor_rounds: u32,
}

impl Default for GossipConfig {
    fn default() -> Self {
        Self {
            nodes: 50,
            fanout: 2,
            round_ms: 1000.0,
            latency_ms: 400.0,
            loss: 0.0,
            rumor_rounds: 0,
        }
    }
}

impl Config for GossipConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("nodes", self.nodes, 2, MAX_NODES)?;
        ConfigError::check_range_u32("fanout", self.fanout, 1, MAX_FANOUT)?;
        ConfigError::check_range_f64("round_ms", self.round_ms, MIN_ROUND_MS, MAX_ROUND_MS)?;
        ConfigError::check_range_f64("latency_ms", self.latency_ms, 1.0, self.round_ms)?;
        ConfigError::check_range_f64("loss", self.loss, 0.0, MAX_LOSS)?;
        ConfigError::check_range_u32("rumor_rounds", self.rumor_rounds, 0, MAX_RUMOR_ROUNDS)?;
        Ok(())
    }
}

/// A reader's action between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Gives an up node a new version, one above the newest so far.
    Update {
        /// The node's id, from 0.
        node: u32,
    },
    /// Gives a new version to an up node drawn uniformly at random.
    UpdateRandom,
    /// Crashes or restarts a node, or sets the message loss; see [`Gossip`]'s [`Faults`]
    /// implementation.
    Fault(Fault),
}

/// The reason a message was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossReason {
    /// The network dropped it.
    Dropped,
    /// Its target was down when it arrived.
    TargetDown,
}

/// An event of a step or an action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A node got a new version from the reader (or at the start, node 0 version 1).
    Updated {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node.
        node: u32,
        /// The new version, now the newest.
        version: u64,
    },
    /// A round began: every up node that has a version, and has not stopped pushing it, pushes
    /// it. The round's [`Event::Sent`] events follow.
    Round {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The round, numbered from 1.
        round: u64,
        /// Nodes that push, which each send `min(fanout, nodes - 1)` messages.
        senders: u32,
    },
    /// A node pushed its version to a peer.
    Sent {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The round the message belongs to.
        round: u64,
        /// The sender.
        from: u32,
        /// The target.
        to: u32,
        /// The version pushed.
        version: u64,
    },
    /// A message reached an up target.
    Delivered {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The sender.
        from: u32,
        /// The target.
        to: u32,
        /// The version carried.
        version: u64,
        /// Whether the target learned a newer version; false for a duplicate, when the target
        /// already had this version or a newer one.
        learned: bool,
    },
    /// A message was lost.
    Lost {
        /// Simulated time it would have arrived, in milliseconds.
        at_ms: f64,
        /// The sender.
        from: u32,
        /// The target.
        to: u32,
        /// The version carried.
        version: u64,
        /// The cause of the loss.
        reason: LossReason,
    },
    /// A node crashed.
    Crashed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node.
        node: u32,
    },
    /// A crashed node started again, with the version it had.
    Restarted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node.
        node: u32,
        /// The version it kept through the crash.
        version: u64,
    },
    /// The probability that the network drops a message changed.
    LossChanged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new probability, from 0 to 1.
        probability: f64,
    },
    /// Every up node has the newest version, for the first time since its update.
    Converged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The newest version.
        version: u64,
        /// Rounds since the update.
        rounds: u64,
        /// Time since the update, in milliseconds.
        time_ms: f64,
        /// Messages sent since the update, counting duplicates and lost ones.
        messages: u64,
    },
}

/// One node's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's id, from 0.
    pub id: u32,
    /// The newest version it has, or 0 if it has none.
    pub version: u64,
    /// Whether it is running.
    pub up: bool,
    /// Simulated time it got its current version, in milliseconds.
    pub learned_ms: f64,
    /// Rounds that had happened when it got its current version.
    pub learned_round: u64,
}

/// A message on its way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Message {
    /// The sender.
    pub from: u32,
    /// The target.
    pub to: u32,
    /// The version carried.
    pub version: u64,
    /// Simulated time it was sent, in milliseconds.
    pub sent_ms: f64,
    /// Simulated time it arrives, in milliseconds.
    pub arrive_ms: f64,
    /// Whether the network drops it; the sender cannot tell.
    pub dropped: bool,
}

/// The outcome of one version's spread: what its convergence took.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Convergence {
    /// The version.
    pub version: u64,
    /// Rounds from the update until every up node had the version.
    pub rounds: u64,
    /// Time from the update until every up node had the version, in milliseconds.
    pub time_ms: f64,
    /// Messages sent in that time, counting duplicates and lost ones.
    pub messages: u64,
}

/// The spread of the newest version.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    version: u64,
    at_ms: f64,
    /// The round counter when the update happened.
    round: u64,
    /// Messages sent before the update.
    sent: u64,
    converged: bool,
}

/// The gossip engine.
#[derive(Debug, Clone)]
pub struct Gossip {
    config: GossipConfig,
    rng: SimRng,
    steps: u64,
    now_ms: f64,
    nodes: Vec<Node>,
    /// Messages in flight, in order of arrival: every message takes `latency_ms` and they are
    /// sent in time order.
    in_flight: VecDeque<Message>,
    /// Rounds so far.
    round: u64,
    /// Probability that the network drops a message sent from now on.
    loss: f64,
    spread: Spread,
    last_convergence: Option<Convergence>,
    /// Up nodes.
    live: u32,
    /// Up nodes that have the newest version.
    informed_live: u32,
    sent: u64,
    delivered: u64,
    learned: u64,
    duplicates: u64,
    dropped: u64,
    to_down: u64,
    /// Scratch space for one node's peers in a round, kept to avoid allocating per node.
    peers: Vec<u32>,
    /// Events of the start, returned by the first step or action.
    startup: Vec<Event>,
}

impl Engine for Gossip {
    type Config = GossipConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: GossipConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let nodes: Vec<Node> = (0..config.nodes)
            .map(|id| Node {
                id,
                version: 0,
                up: true,
                learned_ms: 0.0,
                learned_round: 0,
            })
            .collect();
        let mut engine = Self {
            rng: SimRng::new(seed),
            steps: 0,
            now_ms: 0.0,
            live: config.nodes,
            nodes,
            in_flight: VecDeque::new(),
            round: 0,
            loss: config.loss,
            config,
            spread: Spread {
                version: 0,
                at_ms: 0.0,
                round: 0,
                sent: 0,
                converged: false,
            },
            last_convergence: None,
            informed_live: 0,
            sent: 0,
            delivered: 0,
            learned: 0,
            duplicates: 0,
            dropped: 0,
            to_down: 0,
            peers: Vec::with_capacity(MAX_FANOUT as usize),
            startup: Vec::new(),
        };
        let mut events = Vec::new();
        engine.update(0, &mut events);
        engine.startup = events;
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_ms = self.steps as f64 * STEP_MS;
        let mut events = std::mem::take(&mut self.startup);
        loop {
            let round_ms = (self.round + 1) as f64 * self.config.round_ms;
            let arrival_ms = self.in_flight.front().map(|m| m.arrive_ms);
            match arrival_ms {
                Some(at_ms) if at_ms <= end_ms && at_ms <= round_ms + TIE_MS => {
                    self.now_ms = self.now_ms.max(at_ms);
                    self.deliver(&mut events);
                }
                _ if round_ms <= end_ms => {
                    self.now_ms = self.now_ms.max(round_ms);
                    self.run_round(&mut events);
                }
                _ => break,
            }
        }
        self.now_ms = end_ms;
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let mut events = self.apply_action(action)?;
        // The start's events come first, so that a trace stays in time order when the reader
        // acts before the first step.
        let mut all = std::mem::take(&mut self.startup);
        all.append(&mut events);
        Ok(all)
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let (rounds_value, rounds_text) = match self.last_convergence {
            Some(c) => (c.rounds as f64, c.rounds.to_string()),
            None => (f64::NAN, "–".to_string()),
        };
        let percent = self.loss * 100.0;
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::new(
                    "informed",
                    "Informed / up",
                    f64::from(self.informed_live),
                    format!("{} / {}", self.informed_live, self.live),
                ),
                Metric::count(
                    "rounds-since-update",
                    "Rounds since update",
                    self.rounds_since_update(),
                ),
                Metric::new(
                    "rounds-to-converge",
                    "Rounds to converge",
                    rounds_value,
                    rounds_text,
                ),
                Metric::millis(
                    "time-to-converge",
                    "Time to converge",
                    self.last_convergence.map(|c| c.time_ms),
                ),
                Metric::count("sent", "Messages sent", self.sent),
                Metric::count("duplicates", "Duplicates", self.duplicates),
                Metric::count("lost", "Lost", self.lost()),
                Metric::new("loss", "Message loss", self.loss, format!("{percent:.0}%")),
            ],
            latency: None,
            samples: vec![
                Sample {
                    label: "nodes with the newest version",
                    value: f64::from(self.informed_live),
                },
                Sample {
                    label: "messages in flight",
                    value: self.in_flight.len() as f64,
                },
            ],
        }
    }
}

/// Reading the state and the counters, for the widget and the tests.
impl Gossip {
    /// Returns the configuration.
    pub fn config(&self) -> &GossipConfig {
        &self.config
    }

    /// Returns every node, in id order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Returns the messages in flight, earliest arrival first.
    pub fn in_flight(&self) -> impl ExactSizeIterator<Item = &Message> + '_ {
        self.in_flight.iter()
    }

    /// Returns how far a message has travelled, from 0 when sent to 1 on arrival.
    pub fn progress(&self, message: &Message) -> f64 {
        let span = message.arrive_ms - message.sent_ms;
        if span > 0.0 {
            ((self.now_ms - message.sent_ms) / span).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }

    /// Returns the newest version, or 0 before any update.
    pub fn newest_version(&self) -> u64 {
        self.spread.version
    }

    /// Rounds so far.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Rounds since the newest version's update.
    pub fn rounds_since_update(&self) -> u64 {
        self.round - self.spread.round
    }

    /// Returns whether every up node has had the newest version since its update.
    pub fn converged(&self) -> bool {
        self.spread.converged
    }

    /// Returns the outcome of the latest converged spread, or `None` before any converged.
    pub fn last_convergence(&self) -> Option<Convergence> {
        self.last_convergence
    }

    /// Up nodes.
    pub fn live(&self) -> u32 {
        self.live
    }

    /// Up nodes that have the newest version.
    pub fn informed_live(&self) -> u32 {
        self.informed_live
    }

    /// Probability that the network drops a message sent from now on.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// Returns whether `node` pushes in the current round, which between rounds is the latest
    /// one. It does if it is up, has a version and, with `rumor_rounds` at k > 0, got that
    /// version at most k rounds ago.
    pub fn pushes(&self, node: &Node) -> bool {
        let rumor_rounds = u64::from(self.config.rumor_rounds);
        let since = self.round.saturating_sub(node.learned_round);
        let interested = rumor_rounds == 0 || since <= rumor_rounds;
        node.up && node.version > 0 && interested
    }

    /// Peers each node pushes to per round: `fanout`, capped at the number of other nodes.
    pub fn effective_fanout(&self) -> u32 {
        self.config.fanout.min(self.config.nodes - 1)
    }

    /// Messages sent since the start.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Messages that reached an up target.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Deliveries that gave the target a newer version.
    pub fn learned(&self) -> u64 {
        self.learned
    }

    /// Deliveries of a version the target already had, or an older one.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Messages lost, dropped by the network or sent to a down target.
    pub fn lost(&self) -> u64 {
        self.dropped + self.to_down
    }
}

/// The rules: updates, rounds, deliveries, crashes and restarts.
impl Gossip {
    fn apply_action(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let mut events = Vec::new();
        match action {
            Action::Update { node } => {
                let index = self.find(*node)?;
                if !self.nodes[index].up {
                    return Err(ActionError(format!(
                        "node {node} is down; restart it before updating it"
                    )));
                }
                self.update(index, &mut events);
            }
            Action::UpdateRandom => {
                if self.live == 0 {
                    return Err(ActionError(
                        "every node is down; restart one before updating".to_string(),
                    ));
                }
                // The n-th up node, with n drawn uniformly below the number of up nodes.
                let nth = self.rng.below(u64::from(self.live)) as usize;
                let index = self
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, node)| node.up)
                    .nth(nth)
                    .map_or(0, |(index, _)| index);
                self.update(index, &mut events);
            }
            Action::Fault(fault) => {
                Self::check_fault(fault)?;
                match *fault {
                    Fault::Crash { node } => {
                        let index = self.find(node)?;
                        if !self.nodes[index].up {
                            return Err(ActionError(format!(
                                "node {node} is already down; restart it first"
                            )));
                        }
                        self.crash(index, &mut events);
                    }
                    Fault::Restart { node } => {
                        let index = self.find(node)?;
                        if self.nodes[index].up {
                            return Err(ActionError(format!(
                                "node {node} is running; crash it first"
                            )));
                        }
                        self.restart(index, &mut events);
                    }
                    Fault::DropMessages { probability } => {
                        self.loss = probability;
                        events.push(Event::LossChanged {
                            at_ms: self.now_ms,
                            probability,
                        });
                    }
                    _ => {
                        return Err(ActionError(
                            "this simulation has only crash, restart and drop faults".to_string(),
                        ));
                    }
                }
            }
        }
        Ok(events)
    }

    fn find(&self, id: u32) -> Result<usize, ActionError> {
        let index = id as usize;
        if index < self.nodes.len() {
            Ok(index)
        } else {
            Err(ActionError(format!(
                "no node {id}; the nodes are 0 to {}",
                self.nodes.len().saturating_sub(1)
            )))
        }
    }

    /// Gives the node at `index` a version one above the newest, and starts counting its spread.
    fn update(&mut self, index: usize, events: &mut Vec<Event>) {
        let version = self.spread.version + 1;
        let Some(node) = self.nodes.get_mut(index) else {
            return;
        };
        node.version = version;
        node.learned_ms = self.now_ms;
        node.learned_round = self.round;
        let id = node.id;
        self.spread = Spread {
            version,
            at_ms: self.now_ms,
            round: self.round,
            sent: self.sent,
            converged: false,
        };
        // Only the updated node, which is up, has the new version.
        self.informed_live = 1;
        events.push(Event::Updated {
            at_ms: self.now_ms,
            node: id,
            version,
        });
        self.check_converged(events);
    }

    /// Makes every node that [`Gossip::pushes`] send its version to its peers.
    fn run_round(&mut self, events: &mut Vec<Event>) {
        self.round += 1;
        let at_ms = self.now_ms;
        let round = self.round;
        let senders = self.nodes.iter().filter(|node| self.pushes(node)).count() as u32;
        events.push(Event::Round {
            at_ms,
            round,
            senders,
        });
        let others = self.config.nodes - 1;
        let fanout = self.effective_fanout();
        let arrive_ms = at_ms + self.config.latency_ms;
        for index in 0..self.nodes.len() {
            let Some(node) = self.nodes.get(index) else {
                continue;
            };
            if !self.pushes(node) {
                continue;
            }
            let (id, version) = (node.id, node.version);
            self.pick_peers(id, others, fanout);
            for slot in 0..self.peers.len() {
                let Some(&to) = self.peers.get(slot) else {
                    continue;
                };
                // Only draw when the loss can drop something, so that a lossless run draws only
                // the peers.
                let dropped = self.loss > 0.0 && self.rng.uniform() < self.loss;
                self.in_flight.push_back(Message {
                    from: id,
                    to,
                    version,
                    sent_ms: at_ms,
                    arrive_ms,
                    dropped,
                });
                self.sent += 1;
                events.push(Event::Sent {
                    at_ms,
                    round,
                    from: id,
                    to,
                    version,
                });
            }
        }
    }

    /// Fills `peers` with `count` distinct node ids other than `id`, uniformly at random, by
    /// Floyd's algorithm over the `others` ids that are not `id`.
    fn pick_peers(&mut self, id: u32, others: u32, count: u32) {
        self.peers.clear();
        for bound in others.saturating_sub(count)..others {
            let drawn = self.rng.below(u64::from(bound) + 1) as u32;
            let pick = if self.peers.contains(&drawn) {
                bound
            } else {
                drawn
            };
            self.peers.push(pick);
        }
        // Floyd's draws from 0..others; skipping `id` maps them onto the other nodes.
        for peer in &mut self.peers {
            if *peer >= id {
                *peer += 1;
            }
        }
    }

    /// Delivers or loses the message at the front of the queue.
    fn deliver(&mut self, events: &mut Vec<Event>) {
        let Some(message) = self.in_flight.pop_front() else {
            return;
        };
        let at_ms = self.now_ms;
        let Message {
            from, to, version, ..
        } = message;
        let target = self
            .nodes
            .get_mut(to as usize)
            .filter(|node| node.up && !message.dropped);
        let Some(node) = target else {
            let reason = if message.dropped {
                self.dropped += 1;
                LossReason::Dropped
            } else {
                self.to_down += 1;
                LossReason::TargetDown
            };
            events.push(Event::Lost {
                at_ms,
                from,
                to,
                version,
                reason,
            });
            return;
        };

        let learned = version > node.version;
        if learned {
            node.version = version;
            node.learned_ms = at_ms;
            node.learned_round = self.round;
            self.learned += 1;
            if version == self.spread.version {
                self.informed_live += 1;
            }
        } else {
            self.duplicates += 1;
        }
        self.delivered += 1;
        events.push(Event::Delivered {
            at_ms,
            from,
            to,
            version,
            learned,
        });
        self.check_converged(events);
    }

    fn crash(&mut self, index: usize, events: &mut Vec<Event>) {
        let newest = self.spread.version;
        let Some(node) = self.nodes.get_mut(index) else {
            return;
        };
        node.up = false;
        self.live -= 1;
        if node.version == newest {
            self.informed_live -= 1;
        }
        events.push(Event::Crashed {
            at_ms: self.now_ms,
            node: node.id,
        });
        // The crash may have removed the last node that lacked the newest version.
        self.check_converged(events);
    }

    fn restart(&mut self, index: usize, events: &mut Vec<Event>) {
        let newest = self.spread.version;
        let Some(node) = self.nodes.get_mut(index) else {
            return;
        };
        node.up = true;
        self.live += 1;
        if node.version == newest {
            self.informed_live += 1;
        }
        events.push(Event::Restarted {
            at_ms: self.now_ms,
            node: node.id,
            version: node.version,
        });
        self.check_converged(events);
    }

    /// Reports the convergence of the newest version the first time every up node has it.
    fn check_converged(&mut self, events: &mut Vec<Event>) {
        let spread = self.spread;
        if spread.converged || spread.version == 0 || self.live == 0 {
            return;
        }
        if self.informed_live < self.live {
            return;
        }
        self.spread.converged = true;
        let convergence = Convergence {
            version: spread.version,
            rounds: self.round - spread.round,
            time_ms: self.now_ms - spread.at_ms,
            messages: self.sent - spread.sent,
        };
        self.last_convergence = Some(convergence);
        events.push(Event::Converged {
            at_ms: self.now_ms,
            version: convergence.version,
            rounds: convergence.rounds,
            time_ms: convergence.time_ms,
            messages: convergence.messages,
        });
    }
}

/// Nodes crash and restart, and the network drops messages.
impl Faults for Gossip {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart, FaultKind::DropMessages];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        self.nodes
            .iter()
            .map(|node| NodeStatus {
                id: node.id,
                label: format!("node {}", node.id),
                up: node.up,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(config: GossipConfig) -> Gossip {
        match Gossip::new(config, 1) {
            Ok(engine) => engine,
            Err(err) => panic!("valid config rejected: {err}"),
        }
    }

    #[test]
    fn default_config_is_valid() {
        assert_eq!(GossipConfig::default().validate(), Ok(()));
    }

    #[test]
    fn latency_above_round_is_rejected() {
        let config = GossipConfig {
            round_ms: 500.0,
            latency_ms: 600.0,
            ..GossipConfig::default()
        };

        let result = Gossip::new(config, 1);

        assert!(matches!(
            result,
            Err(ConfigError {
                field: "latency_ms",
                ..
            })
        ));
    }

    #[test]
    fn node_zero_starts_with_version_one() {
        let engine = engine(GossipConfig::default());

        let versions: Vec<u64> = engine.nodes().iter().map(|n| n.version).take(3).collect();

        assert_eq!(versions, vec![1, 0, 0]);
    }

    #[test]
    fn peers_are_distinct_and_never_self() {
        let mut engine = engine(GossipConfig {
            nodes: 9,
            fanout: 8,
            ..GossipConfig::default()
        });

        engine.pick_peers(4, 8, 8);
        let mut peers = engine.peers.clone();
        peers.sort_unstable();

        assert_eq!(peers, vec![0, 1, 2, 3, 5, 6, 7, 8]);
    }

    #[test]
    fn updating_a_down_node_is_an_action_error() {
        let mut engine = engine(GossipConfig::default());
        let crashed = engine.apply(&Action::Fault(Fault::Crash { node: 3 }));

        let result = engine.apply(&Action::Update { node: 3 });

        assert!(crashed.is_ok(), "{crashed:?}");
        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn partition_is_unsupported() {
        let mut engine = engine(GossipConfig::default());

        let result = engine.apply(&Action::Fault(Fault::Heal));

        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn events_serialize_with_type_tag() {
        let event = Event::Lost {
            at_ms: 1400.0,
            from: 2,
            to: 7,
            version: 1,
            reason: LossReason::TargetDown,
        };

        let json = serde_json::to_string(&event).unwrap_or_default();

        assert_eq!(
            json,
            r#"{"type":"lost","at_ms":1400.0,"from":2,"to":7,"version":1,"reason":"target_down"}"#
        );
    }
}
