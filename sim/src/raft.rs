//! Raft leader election: followers, candidates and a leader, terms, votes and heartbeats.
//!
//! The rules follow section 5 of Ongaro and Ousterhout, "In Search of an Understandable
//! Consensus Algorithm (Extended Version)", 2014, and its Figure 2 ("Rules for Servers").
//! Log replication (section 5.3) is out of scope: the messages keep the log fields of the
//! paper's RPCs, always zero, so every log is equally up to date and the election restriction
//! of section 5.4.1 never denies a vote.
//!
//! - Time is divided into terms, numbered with consecutive integers, and each term begins with
//!   an election (5.1). Every message carries its sender's term. A node that receives a higher
//!   term adopts it, clears its vote and becomes a follower (5.1, Figure 2 "All Servers").
//! - A follower whose election timer fires without a heartbeat from the current leader and
//!   without granting a vote becomes a candidate: it increments its term, votes for itself,
//!   resets its timer and sends RequestVote to every other node (5.2).
//! - A node grants at most one vote per term, first come first served, and rejects a request
//!   whose term is below its own (5.2, Figure 2 "RequestVote RPC"). Granting a vote resets the
//!   voter's election timer.
//! - A candidate that gets votes from a majority of all nodes becomes leader and sends empty
//!   AppendEntries (heartbeats) to every other node at once and then every `heartbeat_ms` (5.2).
//! - A candidate that receives AppendEntries from a leader whose term is at least its own steps
//!   down to follower (5.2). A candidate whose timer fires before it wins starts a new election
//!   with the next term and a freshly drawn timeout: the split vote of 5.2.
//! - Election timeouts are drawn uniformly from `election_timeout_min_ms` to
//!   `election_timeout_max_ms` at every reset, as section 5.2 prescribes. The paper suggests
//!   150 to 300 ms on real networks; the defaults here are ten times slower (1.5 to 3 s, with
//!   messages taking 100 to 150 ms) so that a reader can follow an election at normal speed.
//! - `currentTerm` and `votedFor` are persistent state (Figure 2), so a crashed node restarts
//!   with the term and vote it had; its role, its votes received and its timer start afresh.
//!
//! The network delivers each message after `latency_ms` plus a uniform draw up to
//! `latency_jitter_ms`, so messages may overtake each other. [`Fault::DropMessages`] loses
//! each message at send with that probability. A [`Fault::Partition`] blocks every message
//! between nodes on different sides, both at send and at delivery, so a message in flight when
//! the partition starts never crosses it. A crashed node sends nothing and loses what reaches it.
//!
//! Within each step of [`STEP_MS`] the engine handles due deliveries and timers in time order,
//! at their exact times. At equal times deliveries come first, in send order, then leaders'
//! heartbeats, then election timers, each in node order. So a heartbeat that arrives as a
//! follower's timer runs out resets the timer.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 10.0;

/// Minimum number of nodes in a cluster.
pub const MIN_NODES: u32 = 3;

/// Maximum number of nodes in a cluster.
pub const MAX_NODES: u32 = 9;

/// Maximum election timeout, in milliseconds. The minimum timeout may be at most half of it,
/// so that every valid minimum leaves room for a range above it.
pub const MAX_TIMEOUT_MS: f64 = 60_000.0;

/// Minimum election timeout, in milliseconds.
pub const MIN_TIMEOUT_MS: f64 = 50.0;

/// Minimum heartbeat interval, in milliseconds. It and [`MIN_TIMEOUT_MS`] bound how often nodes
/// send, so with the maximum latency and jitter the messages in flight stay in the thousands:
/// about 5,700 when nine nodes keep starting elections at the shortest timeouts.
pub const MIN_HEARTBEAT_MS: f64 = 20.0;

/// Maximum one-way latency, and maximum jitter, in milliseconds.
pub const MAX_LATENCY_MS: f64 = 2_000.0;

/// Parameters of the Raft election widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftConfig {
    /// Nodes in the cluster, numbered from 1.
    pub nodes: u32,
    /// Minimum election timeout a node draws, in milliseconds.
    pub election_timeout_min_ms: f64,
    /// Maximum election timeout a node draws, in milliseconds, above the minimum.
    pub election_timeout_max_ms: f64,
    /// Time between a leader's heartbeats, in milliseconds, at most half the minimum timeout.
    pub heartbeat_ms: f64,
    /// One-way network delay of every message, in milliseconds.
    pub latency_ms: f64,
    /// Extra delay drawn uniformly from 0 to this for each message, in milliseconds.
    pub latency_jitter_ms: f64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            nodes: 5,
            election_timeout_min_ms: 1500.0,
            election_timeout_max_ms: 3000.0,
            heartbeat_ms: 500.0,
            latency_ms: 100.0,
            latency_jitter_ms: 50.0,
        }
    }
}

impl Config for RaftConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("nodes", self.nodes, MIN_NODES, MAX_NODES)?;
        ConfigError::check_range_f64(
            "election_timeout_min_ms",
            self.election_timeout_min_ms,
            MIN_TIMEOUT_MS,
            MAX_TIMEOUT_MS / 2.0,
        )?;
        ConfigError::check_range_f64(
            "election_timeout_max_ms",
            self.election_timeout_max_ms,
            MIN_TIMEOUT_MS,
            MAX_TIMEOUT_MS,
        )?;
        if self.election_timeout_max_ms <= self.election_timeout_min_ms {
            return Err(ConfigError::new(
                "election_timeout_max_ms",
                format!(
                    "{} is not above election_timeout_min_ms ({}); the timeouts need a range \
                     to be drawn from, so raise the maximum",
                    self.election_timeout_max_ms, self.election_timeout_min_ms
                ),
            ));
        }
        ConfigError::check_range_f64(
            "heartbeat_ms",
            self.heartbeat_ms,
            MIN_HEARTBEAT_MS,
            MAX_TIMEOUT_MS / 4.0,
        )?;
        // Followers must receive a heartbeat well before their timers fire (section 5.6 of the
        // Raft paper requires the broadcast time to be far below the election timeout).
        if self.heartbeat_ms > self.election_timeout_min_ms / 2.0 {
            return Err(ConfigError::new(
                "heartbeat_ms",
                format!(
                    "{} is more than half of election_timeout_min_ms ({}), so followers would \
                     start elections under a live leader; use at most {}",
                    self.heartbeat_ms,
                    self.election_timeout_min_ms,
                    self.election_timeout_min_ms / 2.0
                ),
            ));
        }
        ConfigError::check_range_f64("latency_ms", self.latency_ms, 1.0, MAX_LATENCY_MS)?;
        ConfigError::check_range_f64(
            "latency_jitter_ms",
            self.latency_jitter_ms,
            0.0,
            MAX_LATENCY_MS,
        )?;
        Ok(())
    }
}

/// A reader's action between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Crash, restart, partition, heal or message loss; see [`Raft`]'s [`Faults`] implementation.
    Fault(Fault),
    /// Fires an up follower's or candidate's election timer now, to force an election.
    TimeoutNow {
        /// The node's id.
        node: u32,
    },
}

/// A node's role in its current term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Responds to candidates and leaders, and starts an election when its timer fires.
    Follower,
    /// Collects votes for its own term.
    Candidate,
    /// Won its term's election and sends heartbeats.
    Leader,
}

/// A message between nodes with its payload. The log fields are those of the paper's RPCs and
/// stay zero while log replication is out of scope.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rpc {
    /// A candidate requests a vote.
    RequestVote {
        /// Index of the candidate's last log entry.
        last_log_index: u64,
        /// Term of the candidate's last log entry.
        last_log_term: u64,
    },
    /// The response to [`Rpc::RequestVote`].
    RequestVoteResponse {
        /// Whether the voter granted its vote.
        vote_granted: bool,
    },
    /// A leader's log entries, or with none a heartbeat.
    AppendEntries {
        /// Index of the log entry just before the new ones.
        prev_log_index: u64,
        /// Term of that entry.
        prev_log_term: u64,
        /// Number of entries carried; 0 for a heartbeat.
        entries: u32,
        /// The leader's commit index.
        leader_commit: u64,
    },
    /// The response to [`Rpc::AppendEntries`].
    AppendEntriesResponse {
        /// Whether the receiver accepted the sender as leader of its term.
        success: bool,
    },
}

/// The kind of a message, without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RpcKind {
    /// [`Rpc::RequestVote`].
    RequestVote,
    /// [`Rpc::RequestVoteResponse`].
    RequestVoteResponse,
    /// [`Rpc::AppendEntries`].
    AppendEntries,
    /// [`Rpc::AppendEntriesResponse`].
    AppendEntriesResponse,
}

impl Rpc {
    /// Returns the message's kind.
    pub fn kind(&self) -> RpcKind {
        match self {
            Self::RequestVote { .. } => RpcKind::RequestVote,
            Self::RequestVoteResponse { .. } => RpcKind::RequestVoteResponse,
            Self::AppendEntries { .. } => RpcKind::AppendEntries,
            Self::AppendEntriesResponse { .. } => RpcKind::AppendEntriesResponse,
        }
    }
}

/// A message in flight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// Sequence number, from 0, in send order.
    pub id: u64,
    /// The sender's id.
    pub from: u32,
    /// The receiver's id.
    pub to: u32,
    /// The sender's term when it sent the message.
    pub term: u64,
    /// The payload.
    pub rpc: Rpc,
    /// When it was sent, in milliseconds.
    pub sent_ms: f64,
    /// When it reaches the receiver, in milliseconds.
    pub deliver_ms: f64,
}

/// A message in flight, ordered so that a max-heap pops the earliest delivery first, ties in
/// send order.
#[derive(Debug, Clone)]
struct Pending(Message);

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .deliver_ms
            .total_cmp(&self.0.deliver_ms)
            .then(other.0.id.cmp(&self.0.id))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Pending {}

/// The reason a voter denied a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DenyReason {
    /// The request's term is below the voter's.
    StaleTerm {
        /// The voter's term.
        voter_term: u64,
    },
    /// The voter already voted for another node in this term.
    AlreadyVoted {
        /// The node it voted for.
        voted_for: u32,
    },
}

/// The reason a candidate or leader became a follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StepDownReason {
    /// A message from this node carried a higher term.
    HigherTerm {
        /// The sender of that message.
        from: u32,
    },
    /// A candidate heard AppendEntries from the leader of its own term.
    LeaderOfTerm {
        /// The leader.
        leader: u32,
    },
}

/// The reason a message was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossReason {
    /// The network dropped it, at the probability [`Fault::DropMessages`] set.
    Dropped,
    /// Its receiver was down when it arrived.
    ReceiverDown,
}

/// An event of a step or an action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A node's election timer fired, or the reader forced it, and the node became a candidate.
    BecameCandidate {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The candidate.
        node: u32,
        /// The new term of its election.
        term: u64,
        /// Whether the reader forced the election with [`Action::TimeoutNow`].
        forced: bool,
    },
    /// A candidate's timer fired before it won or heard a leader: its term ends without one.
    SplitVote {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The candidate.
        node: u32,
        /// The term whose election failed.
        term: u64,
        /// Votes it had, its own included.
        votes: u32,
    },
    /// A candidate sent RequestVote to another node.
    VoteRequested {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The candidate.
        candidate: u32,
        /// The node asked.
        voter: u32,
        /// The candidate's term.
        term: u64,
    },
    /// A node granted its vote.
    VoteGranted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node that voted.
        voter: u32,
        /// The candidate it voted for.
        candidate: u32,
        /// The term of the vote.
        term: u64,
    },
    /// A node denied its vote.
    VoteDenied {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node asked.
        voter: u32,
        /// The candidate.
        candidate: u32,
        /// The request's term.
        term: u64,
        /// Why.
        reason: DenyReason,
    },
    /// A candidate won a majority and became leader.
    BecameLeader {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The new leader.
        node: u32,
        /// Its term.
        term: u64,
        /// Votes it won, its own included.
        votes: u32,
    },
    /// A candidate or leader became a follower.
    SteppedDown {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node.
        node: u32,
        /// The role it had.
        was: Role,
        /// Its term after stepping down.
        term: u64,
        /// Why.
        reason: StepDownReason,
    },
    /// A leader sent a heartbeat (AppendEntries with no entries) to every other node.
    HeartbeatSent {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The leader.
        leader: u32,
        /// Its term.
        term: u64,
    },
    /// A heartbeat reached an up node.
    HeartbeatReceived {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The receiver.
        node: u32,
        /// The sender.
        leader: u32,
        /// The sender's term.
        term: u64,
        /// Whether the receiver accepted it; false when its term is below the receiver's.
        accepted: bool,
    },
    /// A message was lost in the network or at a down receiver.
    MessageLost {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The sender.
        from: u32,
        /// The receiver.
        to: u32,
        /// The message's kind.
        kind: RpcKind,
        /// Why.
        reason: LossReason,
    },
    /// A partition stopped a message, at send or on its way.
    MessageBlocked {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The sender.
        from: u32,
        /// The receiver.
        to: u32,
        /// The message's kind.
        kind: RpcKind,
    },
    /// A node crashed.
    Crashed {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node.
        node: u32,
        /// The role it had.
        was: Role,
    },
    /// A crashed node started again with its persisted term and vote.
    Restarted {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The node.
        node: u32,
        /// Its persisted term.
        term: u64,
        /// Its persisted vote in that term.
        voted_for: Option<u32>,
    },
    /// The network split into groups.
    Partitioned {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Node ids per side, each in rising order; a node in no group is cut off alone.
        groups: Vec<Vec<u32>>,
    },
    /// Every partition ended.
    Healed {
        /// Simulated time in milliseconds.
        at_ms: f64,
    },
    /// The probability of losing each message changed.
    LossChanged {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// From 0 to 1.
        probability: f64,
    },
}

/// One Raft server.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The id, from 1.
    pub id: u32,
    /// Whether it is running.
    pub up: bool,
    /// Follower, candidate or leader.
    pub role: Role,
    /// `currentTerm`: the latest term it has seen. Persistent across crashes.
    pub term: u64,
    /// `votedFor`: the candidate it voted for in `term`. Persistent across crashes.
    pub voted_for: Option<u32>,
    /// The leader of `term` it heard from, if any.
    pub leader: Option<u32>,
    /// Bit `id - 1` is set for each node that voted for it in `term`, while a candidate.
    votes: u32,
    /// When its election timer was last reset, in milliseconds.
    timer_start_ms: f64,
    /// When its election timer fires, in milliseconds.
    timer_deadline_ms: f64,
    /// When it sends its next heartbeat, while leader.
    next_heartbeat_ms: f64,
}

impl Node {
    /// Counts the votes it has won in its current election, its own included.
    pub fn votes(&self) -> u32 {
        self.votes.count_ones()
    }
}

/// Something due at a time within a step; [`due_rank`] orders ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// The earliest message in flight arrives.
    Delivery,
    /// The node at this index sends heartbeats.
    Heartbeat(usize),
    /// The node at this index's election timer fires.
    Timeout(usize),
}

/// A Raft cluster electing a leader.
#[derive(Debug, Clone)]
pub struct Raft {
    config: RaftConfig,
    rng: SimRng,
    now_ms: f64,
    steps: u64,
    nodes: Vec<Node>,
    in_flight: BinaryHeap<Pending>,
    next_message_id: u64,
    /// Side of the partition per node index; equal values can talk. All 0 when healed.
    sides: Vec<u32>,
    partitioned: bool,
    drop_probability: f64,
    elections: u64,
    split_votes: u64,
    /// Whether a leader with a majority behind it exists, as of the last check.
    has_leader: bool,
    /// When the cluster last lost its leader, or the start.
    leaderless_since_ms: f64,
    /// Leaderless time before `leaderless_since_ms`, in milliseconds.
    leaderless_ms: f64,
    last_election_ms: Option<f64>,
}

impl Engine for Raft {
    type Config = RaftConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: RaftConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let count = config.nodes as usize;
        let mut engine = Self {
            rng: SimRng::new(seed),
            now_ms: 0.0,
            steps: 0,
            nodes: Vec::with_capacity(count),
            in_flight: BinaryHeap::new(),
            next_message_id: 0,
            sides: vec![0; count],
            partitioned: false,
            drop_probability: 0.0,
            elections: 0,
            split_votes: 0,
            has_leader: false,
            leaderless_since_ms: 0.0,
            leaderless_ms: 0.0,
            last_election_ms: None,
            config,
        };
        for id in 1..=engine.config.nodes {
            let timeout_ms = engine.draw_timeout_ms();
            engine.nodes.push(Node {
                id,
                up: true,
                role: Role::Follower,
                term: 0,
                voted_for: None,
                leader: None,
                votes: 0,
                timer_start_ms: 0.0,
                timer_deadline_ms: timeout_ms,
                next_heartbeat_ms: 0.0,
            });
        }
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_ms = self.steps as f64 * STEP_MS;
        let mut events = Vec::new();
        while let Some((at_ms, due)) = self.next_due().filter(|(at_ms, _)| *at_ms <= end_ms) {
            self.now_ms = self.now_ms.max(at_ms);
            match due {
                Due::Delivery => {
                    if let Some(Pending(message)) = self.in_flight.pop() {
                        self.deliver(message, &mut events);
                    }
                }
                Due::Heartbeat(index) => self.send_heartbeats(index, &mut events),
                Due::Timeout(index) => self.time_out(index, false, &mut events),
            }
            self.track_leader();
        }
        self.now_ms = end_ms;
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let mut events = Vec::new();
        match action {
            Action::Fault(fault) => self.apply_fault(fault, &mut events)?,
            Action::TimeoutNow { node } => {
                let index = self.find(*node)?;
                let target = &self.nodes[index];
                if !target.up {
                    return Err(ActionError(format!(
                        "node {node} is down; restart it first"
                    )));
                }
                if target.role == Role::Leader {
                    return Err(ActionError(format!(
                        "node {node} is the leader of term {}; a leader runs no election timer",
                        target.term
                    )));
                }
                self.time_out(index, true, &mut events);
            }
        }
        self.track_leader();
        Ok(events)
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let term = self.current_term();
        let leader = self.leader();
        let (leader_value, leader_text) = match leader {
            Some(node) => (f64::from(node.id), format!("node {}", node.id)),
            None => (0.0, "none".to_string()),
        };
        let up = self.nodes.iter().filter(|n| n.up).count();
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::count("term", "Term", term),
                Metric::new("leader", "Leader", leader_value, leader_text),
                Metric::new(
                    "up",
                    "Nodes up",
                    up as f64,
                    format!("{up} of {}", self.nodes.len()),
                ),
                Metric::count("elections", "Elections started", self.elections),
                Metric::count("split-votes", "Split votes", self.split_votes),
                Metric::new(
                    "leaderless",
                    "Time without a leader",
                    self.leaderless_ms() / 1000.0,
                    format!("{:.1} s", self.leaderless_ms() / 1000.0),
                ),
                Metric::millis("last-election", "Last election took", self.last_election_ms),
                Metric::new(
                    "time",
                    "Time",
                    self.now_ms / 1000.0,
                    format!("{:.1} s", self.now_ms / 1000.0),
                ),
            ],
            latency: None,
            samples: vec![
                Sample {
                    label: "term",
                    value: term as f64,
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
impl Raft {
    /// Returns the configuration.
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    /// Returns every node, in id order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Returns the messages in flight, in no particular order.
    pub fn messages(&self) -> impl Iterator<Item = &Message> + '_ {
        self.in_flight.iter().map(|pending| &pending.0)
    }

    /// Counts the messages in flight.
    pub fn messages_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Returns how far a message has travelled, from 0 at send to 1 at delivery.
    pub fn progress(&self, message: &Message) -> f64 {
        let span = message.deliver_ms - message.sent_ms;
        if span <= 0.0 {
            return 1.0;
        }
        ((self.now_ms - message.sent_ms) / span).clamp(0.0, 1.0)
    }

    /// Returns the share of a node's election timeout still to run, from 1 just after a reset
    /// to 0 when it fires. A leader's or a down node's timer does not run, so it returns `None`.
    pub fn timer_left(&self, node: &Node) -> Option<f64> {
        if !node.up || node.role == Role::Leader {
            return None;
        }
        let span = node.timer_deadline_ms - node.timer_start_ms;
        if span <= 0.0 {
            return Some(0.0);
        }
        Some(((node.timer_deadline_ms - self.now_ms) / span).clamp(0.0, 1.0))
    }

    /// Returns when a node's election timer fires, in milliseconds, while it runs.
    pub fn timer_deadline_ms(&self, node: &Node) -> Option<f64> {
        self.timer_left(node).map(|_| node.timer_deadline_ms)
    }

    /// Returns the sides of the partition, each a list of node ids in rising order, or `None`
    /// when the network is whole.
    pub fn partition(&self) -> Option<Vec<Vec<u32>>> {
        if !self.partitioned {
            return None;
        }
        let mut sides: Vec<u32> = self.sides.clone();
        sides.sort_unstable();
        sides.dedup();
        let groups = sides
            .iter()
            .map(|side| {
                self.nodes
                    .iter()
                    .zip(&self.sides)
                    .filter(|(_, s)| *s == side)
                    .map(|(node, _)| node.id)
                    .collect()
            })
            .collect();
        Some(groups)
    }

    /// Returns whether two nodes can exchange messages: they are on the same side of any
    /// partition.
    pub fn connected(&self, a: u32, b: u32) -> bool {
        match (self.index_of(a), self.index_of(b)) {
            (Some(a), Some(b)) => self.sides.get(a) == self.sides.get(b),
            _ => false,
        }
    }

    /// Returns the probability that the network loses a message.
    pub fn drop_probability(&self) -> f64 {
        self.drop_probability
    }

    /// Returns the number of votes that wins an election: a majority of all nodes.
    pub fn quorum(&self) -> u32 {
        self.config.nodes / 2 + 1
    }

    /// Returns the highest term of any node.
    pub fn current_term(&self) -> u64 {
        self.nodes.iter().map(|n| n.term).max().unwrap_or(0)
    }

    /// Returns the cluster's working leader: an up leader whose side of any partition contains
    /// a majority of all nodes, up ones. If an old leader has not heard of the new one yet, it
    /// is the one with the higher term. A leader cut off in a minority still acts as leader,
    /// but is not the working leader.
    pub fn leader(&self) -> Option<&Node> {
        let quorum = self.quorum() as usize;
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.up && n.role == Role::Leader)
            .filter(|(index, _)| {
                let side = self.sides.get(*index);
                let reachable = self
                    .nodes
                    .iter()
                    .zip(&self.sides)
                    .filter(|(n, s)| n.up && Some(*s) == side)
                    .count();
                reachable >= quorum
            })
            .map(|(_, n)| n)
            .max_by_key(|n| n.term)
    }

    /// Elections started since the start, forced ones included.
    pub fn elections(&self) -> u64 {
        self.elections
    }

    /// Elections whose candidate's timer fired before it won or heard a leader. In a minority
    /// partition every election ends this way. Elections abandoned by [`Action::TimeoutNow`]
    /// do not count.
    pub fn split_votes(&self) -> u64 {
        self.split_votes
    }

    /// Total time without a working leader (see [`Raft::leader`]), in milliseconds.
    pub fn leaderless_ms(&self) -> f64 {
        if self.has_leader {
            self.leaderless_ms
        } else {
            self.leaderless_ms + (self.now_ms - self.leaderless_since_ms)
        }
    }

    /// Time from the loss of the last working leader (or the start) to the election of the
    /// next, in milliseconds; `None` before the first leader.
    pub fn last_election_ms(&self) -> Option<f64> {
        self.last_election_ms
    }
}

/// The rules: timers, elections, votes, heartbeats and faults.
impl Raft {
    fn index_of(&self, id: u32) -> Option<usize> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        (index < self.nodes.len()).then_some(index)
    }

    fn find(&self, id: u32) -> Result<usize, ActionError> {
        self.index_of(id).ok_or_else(|| {
            ActionError(format!(
                "no node {id}; the nodes are 1 to {}",
                self.nodes.len()
            ))
        })
    }

    fn draw_timeout_ms(&mut self) -> f64 {
        let min = self.config.election_timeout_min_ms;
        min + self.rng.uniform() * (self.config.election_timeout_max_ms - min)
    }

    fn reset_timer(&mut self, index: usize) {
        let timeout_ms = self.draw_timeout_ms();
        let now_ms = self.now_ms;
        if let Some(node) = self.nodes.get_mut(index) {
            node.timer_start_ms = now_ms;
            node.timer_deadline_ms = now_ms + timeout_ms;
        }
    }

    /// Finds the earliest due delivery or timer, ties broken in [`Due`] order and then by
    /// message id or node index.
    fn next_due(&self) -> Option<(f64, Due)> {
        let mut best: Option<(f64, Due, u64)> = None;
        let mut consider = |at_ms: f64, due: Due, tie: u64| {
            let better = match best {
                None => true,
                Some((best_ms, best_due, best_tie)) => at_ms
                    .total_cmp(&best_ms)
                    .then(due_rank(due).cmp(&due_rank(best_due)))
                    .then(tie.cmp(&best_tie))
                    .is_lt(),
            };
            if better {
                best = Some((at_ms, due, tie));
            }
        };
        if let Some(Pending(message)) = self.in_flight.peek() {
            consider(message.deliver_ms, Due::Delivery, message.id);
        }
        for (index, node) in self.nodes.iter().enumerate() {
            if !node.up {
                continue;
            }
            if node.role == Role::Leader {
                consider(node.next_heartbeat_ms, Due::Heartbeat(index), index as u64);
            } else {
                consider(node.timer_deadline_ms, Due::Timeout(index), index as u64);
            }
        }
        best.map(|(at_ms, due, _)| (at_ms, due))
    }

    /// Sends a message, unless the sender is cut off from the receiver or the network drops it.
    fn send(&mut self, from: usize, to: usize, rpc: Rpc, events: &mut Vec<Event>) {
        let (Some(sender), Some(receiver)) = (self.nodes.get(from), self.nodes.get(to)) else {
            return;
        };
        let (from_id, to_id, term) = (sender.id, receiver.id, sender.term);
        if self.sides.get(from) != self.sides.get(to) {
            events.push(Event::MessageBlocked {
                at_ms: self.now_ms,
                from: from_id,
                to: to_id,
                kind: rpc.kind(),
            });
            return;
        }
        if self.drop_probability > 0.0 && self.rng.uniform() < self.drop_probability {
            events.push(Event::MessageLost {
                at_ms: self.now_ms,
                from: from_id,
                to: to_id,
                kind: rpc.kind(),
                reason: LossReason::Dropped,
            });
            return;
        }
        let jitter_ms = if self.config.latency_jitter_ms > 0.0 {
            self.rng.uniform() * self.config.latency_jitter_ms
        } else {
            0.0
        };
        self.in_flight.push(Pending(Message {
            id: self.next_message_id,
            from: from_id,
            to: to_id,
            term,
            rpc,
            sent_ms: self.now_ms,
            deliver_ms: self.now_ms + self.config.latency_ms + jitter_ms,
        }));
        self.next_message_id += 1;
    }

    /// Starts an election at a follower or candidate whose timer fired (section 5.2).
    fn time_out(&mut self, index: usize, forced: bool, events: &mut Vec<Event>) {
        let at_ms = self.now_ms;
        let Some(node) = self.nodes.get_mut(index) else {
            return;
        };
        // A forced timeout abandons a candidate's election too, but the split vote count is
        // for elections that ran out of time on their own.
        if node.role == Role::Candidate && !forced {
            events.push(Event::SplitVote {
                at_ms,
                node: node.id,
                term: node.term,
                votes: node.votes(),
            });
            self.split_votes += 1;
        }

        node.term += 1;
        node.role = Role::Candidate;
        node.voted_for = Some(node.id);
        node.votes = 1 << index;
        node.leader = None;
        let (id, term) = (node.id, node.term);
        self.elections += 1;
        events.push(Event::BecameCandidate {
            at_ms,
            node: id,
            term,
            forced,
        });
        self.reset_timer(index);

        for other in 0..self.nodes.len() {
            if other == index {
                continue;
            }
            events.push(Event::VoteRequested {
                at_ms,
                candidate: id,
                voter: other as u32 + 1,
                term,
            });
            let rpc = Rpc::RequestVote {
                last_log_index: 0,
                last_log_term: 0,
            };
            self.send(index, other, rpc, events);
        }
    }

    /// Sends a heartbeat, an AppendEntries with no entries, from a leader to every other node.
    fn send_heartbeats(&mut self, index: usize, events: &mut Vec<Event>) {
        let heartbeat_ms = self.config.heartbeat_ms;
        let now_ms = self.now_ms;
        let Some(node) = self.nodes.get_mut(index) else {
            return;
        };
        node.next_heartbeat_ms = now_ms + heartbeat_ms;
        events.push(Event::HeartbeatSent {
            at_ms: now_ms,
            leader: node.id,
            term: node.term,
        });
        for other in 0..self.nodes.len() {
            if other != index {
                let rpc = Rpc::AppendEntries {
                    prev_log_index: 0,
                    prev_log_term: 0,
                    entries: 0,
                    leader_commit: 0,
                };
                self.send(index, other, rpc, events);
            }
        }
    }

    /// Hands a message to its receiver: a down receiver loses it, a partition blocks it.
    fn deliver(&mut self, message: Message, events: &mut Vec<Event>) {
        let (Some(from), Some(to)) = (self.index_of(message.from), self.index_of(message.to))
        else {
            return;
        };
        let kind = message.rpc.kind();
        if self.sides.get(from) != self.sides.get(to) {
            events.push(Event::MessageBlocked {
                at_ms: self.now_ms,
                from: message.from,
                to: message.to,
                kind,
            });
            return;
        }
        if !self.nodes[to].up {
            events.push(Event::MessageLost {
                at_ms: self.now_ms,
                from: message.from,
                to: message.to,
                kind,
                reason: LossReason::ReceiverDown,
            });
            return;
        }
        self.adopt_term(to, message.term, message.from, events);
        match message.rpc {
            Rpc::RequestVote { .. } => self.receive_vote_request(to, from, message.term, events),
            Rpc::RequestVoteResponse { vote_granted } => {
                self.receive_vote(to, from, message.term, vote_granted, events);
            }
            Rpc::AppendEntries { .. } => {
                self.receive_append_entries(to, from, message.term, events);
            }
            // With no log to replicate, a successful response changes nothing, and a failed one
            // carries a higher term, which `adopt_term` handled.
            Rpc::AppendEntriesResponse { .. } => {}
        }
    }

    /// Makes a node a follower of `term` if `term` is above its own (section 5.1).
    fn adopt_term(&mut self, index: usize, term: u64, from: u32, events: &mut Vec<Event>) {
        let at_ms = self.now_ms;
        let Some(node) = self.nodes.get_mut(index) else {
            return;
        };
        if term <= node.term {
            return;
        }
        let was = node.role;
        node.term = term;
        node.voted_for = None;
        node.leader = None;
        node.votes = 0;
        node.role = Role::Follower;
        if was != Role::Follower {
            events.push(Event::SteppedDown {
                at_ms,
                node: node.id,
                was,
                term,
                reason: StepDownReason::HigherTerm { from },
            });
        }
        if was == Role::Leader {
            // A leader's timer was not running; a new follower needs one.
            self.reset_timer(index);
        }
    }

    /// Grants or denies a vote, one per term and first come first served (section 5.2).
    fn receive_vote_request(
        &mut self,
        voter: usize,
        candidate: usize,
        term: u64,
        events: &mut Vec<Event>,
    ) {
        let at_ms = self.now_ms;
        let candidate_id = candidate as u32 + 1;
        let Some(node) = self.nodes.get_mut(voter) else {
            return;
        };
        let voter_id = node.id;
        let denial = if term < node.term {
            Some(DenyReason::StaleTerm {
                voter_term: node.term,
            })
        } else {
            match node.voted_for {
                Some(voted_for) if voted_for != candidate_id => {
                    Some(DenyReason::AlreadyVoted { voted_for })
                }
                _ => None,
            }
        };
        match denial {
            Some(reason) => events.push(Event::VoteDenied {
                at_ms,
                voter: voter_id,
                candidate: candidate_id,
                term,
                reason,
            }),
            None => {
                node.voted_for = Some(candidate_id);
                events.push(Event::VoteGranted {
                    at_ms,
                    voter: voter_id,
                    candidate: candidate_id,
                    term,
                });
                self.reset_timer(voter);
            }
        }
        let rpc = Rpc::RequestVoteResponse {
            vote_granted: denial.is_none(),
        };
        self.send(voter, candidate, rpc, events);
    }

    /// Counts a vote at a candidate; a majority of all nodes makes it leader (section 5.2).
    fn receive_vote(
        &mut self,
        candidate: usize,
        voter: usize,
        term: u64,
        granted: bool,
        events: &mut Vec<Event>,
    ) {
        let quorum = self.quorum();
        let at_ms = self.now_ms;
        let heartbeat_ms = self.config.heartbeat_ms;
        let Some(node) = self.nodes.get_mut(candidate) else {
            return;
        };
        if !granted || node.role != Role::Candidate || node.term != term {
            return;
        }
        node.votes |= 1 << voter;
        if node.votes() < quorum {
            return;
        }
        node.role = Role::Leader;
        node.leader = Some(node.id);
        node.next_heartbeat_ms = at_ms + heartbeat_ms;
        events.push(Event::BecameLeader {
            at_ms,
            node: node.id,
            term: node.term,
            votes: node.votes(),
        });
        // A new leader announces itself at once (section 5.2) and then every heartbeat_ms.
        self.send_heartbeats(candidate, events);
    }

    /// Accepts a leader's heartbeat of the receiver's term, or rejects a stale one (5.1, 5.2).
    fn receive_append_entries(
        &mut self,
        receiver: usize,
        leader: usize,
        term: u64,
        events: &mut Vec<Event>,
    ) {
        let at_ms = self.now_ms;
        let leader_id = leader as u32 + 1;
        let Some(node) = self.nodes.get_mut(receiver) else {
            return;
        };
        let accepted = term == node.term;
        events.push(Event::HeartbeatReceived {
            at_ms,
            node: node.id,
            leader: leader_id,
            term,
            accepted,
        });
        if accepted {
            if node.role == Role::Candidate {
                events.push(Event::SteppedDown {
                    at_ms,
                    node: node.id,
                    was: Role::Candidate,
                    term,
                    reason: StepDownReason::LeaderOfTerm { leader: leader_id },
                });
                node.role = Role::Follower;
                node.votes = 0;
            }
            // A leader here would be a second leader of this term. The vote rules make that
            // impossible and the tests check it, so a leader keeps its role.
            if node.role == Role::Follower {
                node.leader = Some(leader_id);
                self.reset_timer(receiver);
            }
        }
        let rpc = Rpc::AppendEntriesResponse { success: accepted };
        self.send(receiver, leader, rpc, events);
    }

    /// Updates the leaderless time and the last election's duration after a change.
    fn track_leader(&mut self) {
        let has_leader = self.leader().is_some();
        if has_leader == self.has_leader {
            return;
        }
        if has_leader {
            let took_ms = self.now_ms - self.leaderless_since_ms;
            self.leaderless_ms += took_ms;
            self.last_election_ms = Some(took_ms);
        } else {
            self.leaderless_since_ms = self.now_ms;
        }
        self.has_leader = has_leader;
    }

    fn apply_fault(&mut self, fault: &Fault, events: &mut Vec<Event>) -> Result<(), ActionError> {
        Self::check_fault(fault)?;
        let at_ms = self.now_ms;
        match fault {
            Fault::Crash { node } => {
                let index = self.find(*node)?;
                let target = &mut self.nodes[index];
                if !target.up {
                    return Err(ActionError(format!(
                        "node {node} is already down; restart it first"
                    )));
                }
                let was = target.role;
                // `term` and `voted_for` are persistent; the rest is lost with the process.
                target.up = false;
                target.role = Role::Follower;
                target.leader = None;
                target.votes = 0;
                events.push(Event::Crashed {
                    at_ms,
                    node: *node,
                    was,
                });
            }
            Fault::Restart { node } => {
                let index = self.find(*node)?;
                let target = &mut self.nodes[index];
                if target.up {
                    return Err(ActionError(format!(
                        "node {node} is running; crash it first"
                    )));
                }
                target.up = true;
                events.push(Event::Restarted {
                    at_ms,
                    node: *node,
                    term: target.term,
                    voted_for: target.voted_for,
                });
                self.reset_timer(index);
            }
            Fault::Partition { groups } => {
                let sides = self.sides_of(groups)?;
                self.sides = sides;
                self.partitioned = true;
                events.push(Event::Partitioned {
                    at_ms,
                    groups: self.partition().unwrap_or_default(),
                });
            }
            Fault::Heal => {
                if !self.partitioned {
                    return Err(ActionError(
                        "the network is not partitioned; there is nothing to heal".to_string(),
                    ));
                }
                self.sides.fill(0);
                self.partitioned = false;
                events.push(Event::Healed { at_ms });
            }
            Fault::DropMessages { probability } => {
                self.drop_probability = *probability;
                events.push(Event::LossChanged {
                    at_ms,
                    probability: *probability,
                });
            }
            Fault::DelayMessages { .. } | Fault::FailDependency { .. } => {
                return Err(ActionError(
                    "this simulation has no delay or dependency faults".to_string(),
                ));
            }
        }
        Ok(())
    }

    /// Maps partition groups to a side per node. Each group gets its own side; a node in no
    /// group gets a side of its own. Unknown and repeated ids are rejected.
    fn sides_of(&self, groups: &[Vec<u32>]) -> Result<Vec<u32>, ActionError> {
        const UNASSIGNED: u32 = u32::MAX;
        let mut sides = vec![UNASSIGNED; self.nodes.len()];
        for (side, group) in groups.iter().enumerate() {
            for &id in group {
                let index = self.find(id)?;
                if sides[index] != UNASSIGNED {
                    return Err(ActionError(format!(
                        "node {id} is in two groups; put each node in one group at most"
                    )));
                }
                sides[index] = side as u32;
            }
        }
        let alone = sides.iter_mut().filter(|side| **side == UNASSIGNED);
        for (next, side) in (groups.len() as u32..).zip(alone) {
            *side = next;
        }
        Ok(sides)
    }
}

fn due_rank(due: Due) -> u8 {
    match due {
        Due::Delivery => 0,
        Due::Heartbeat(_) => 1,
        Due::Timeout(_) => 2,
    }
}

/// Nodes crash and restart, the network partitions and heals, and it can drop messages.
impl Faults for Raft {
    const KINDS: &'static [FaultKind] = &[
        FaultKind::CrashRestart,
        FaultKind::Partition,
        FaultKind::DropMessages,
    ];

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

    fn engine(config: RaftConfig) -> Raft {
        match Raft::new(config, 1) {
            Ok(engine) => engine,
            Err(err) => panic!("valid config rejected: {err}"),
        }
    }

    #[test]
    fn default_config_is_valid() {
        assert_eq!(RaftConfig::default().validate(), Ok(()));
    }

    #[test]
    fn equal_timeouts_are_rejected() {
        let config = RaftConfig {
            election_timeout_max_ms: 1500.0,
            ..RaftConfig::default()
        };

        let err = config.validate().err();

        assert_eq!(err.map(|e| e.field), Some("election_timeout_max_ms"));
    }

    #[test]
    fn slow_heartbeat_is_rejected() {
        let config = RaftConfig {
            heartbeat_ms: 800.0,
            ..RaftConfig::default()
        };

        let err = config.validate().err();

        assert_eq!(err.map(|e| e.field), Some("heartbeat_ms"));
    }

    #[test]
    fn everyone_starts_as_follower_of_term_zero() {
        let engine = engine(RaftConfig::default());

        let fresh = engine
            .nodes()
            .iter()
            .all(|n| n.role == Role::Follower && n.term == 0 && n.voted_for.is_none());

        assert!(fresh, "{:?}", engine.nodes());
    }

    #[test]
    fn delay_fault_is_unsupported() {
        let mut engine = engine(RaftConfig::default());

        let result = engine.apply(&Action::Fault(Fault::DelayMessages { ms: 10.0 }));

        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn partition_with_repeated_node_is_rejected() {
        let mut engine = engine(RaftConfig::default());
        let groups = vec![vec![1, 2], vec![2, 3]];

        let result = engine.apply(&Action::Fault(Fault::Partition { groups }));

        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn events_serialize_with_type_tag() {
        let event = Event::BecameLeader {
            at_ms: 50.0,
            node: 2,
            term: 3,
            votes: 3,
        };

        let json = serde_json::to_string(&event).unwrap_or_default();

        assert_eq!(
            json,
            r#"{"type":"became_leader","at_ms":50.0,"node":2,"term":3,"votes":3}"#
        );
    }
}
