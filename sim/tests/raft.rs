//! Invariants of the Raft leader election engine, checked over many seeds, configurations and
//! fault schedules.

use std::collections::{BTreeMap, BTreeSet};

use sim::Engine;
use sim::faults::Fault;
use sim::raft::{Action, Event, Raft, RaftConfig, Role, STEP_MS, StepDownReason};
use sim::rng::SimRng;

/// Seeds each randomized safety test loops over.
const SEEDS: u64 = 200;

/// Seeds each statistical test loops over.
const STAT_SEEDS: u64 = 1000;

fn build(config: &RaftConfig, seed: u64) -> Raft {
    match Raft::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn steps_for(ms: f64) -> usize {
    (ms / STEP_MS).round() as usize
}

fn apply(engine: &mut Raft, action: &Action) -> Vec<Event> {
    match engine.apply(action) {
        Ok(events) => events,
        Err(err) => panic!("{action:?} was not applied: {err}"),
    }
}

fn fault(fault: Fault) -> Action {
    Action::Fault(fault)
}

/// Draws a valid configuration of 3 to 9 nodes with a minimum timeout of 150 ms to 3 s. The
/// maximum timeout is up to three times the minimum, the heartbeat a tenth to a half of it, and
/// the latency and the jitter each up to a tenth of it.
fn random_config(rng: &mut SimRng) -> RaftConfig {
    let min = 150.0 + 2850.0 * rng.uniform();
    RaftConfig {
        nodes: 3 + rng.below(7) as u32,
        election_timeout_min_ms: min,
        election_timeout_max_ms: min * (1.05 + 1.95 * rng.uniform()),
        heartbeat_ms: (min * (0.1 + 0.4 * rng.uniform())).max(20.0),
        latency_ms: 1.0 + min * 0.1 * rng.uniform(),
        latency_jitter_ms: min * 0.1 * rng.uniform(),
    }
}

/// Draws a reader action against the engine's current state: mostly valid ones.
fn random_action(engine: &Raft, rng: &mut SimRng) -> Action {
    let n = engine.nodes().len() as u64;
    let node = 1 + rng.below(n) as u32;
    match rng.below(7) {
        0 | 1 => {
            let up = engine.nodes().iter().any(|x| x.id == node && x.up);
            if up {
                fault(Fault::Crash { node })
            } else {
                fault(Fault::Restart { node })
            }
        }
        2 => {
            // A random side for every node; nodes on side 2 are left out, so they stand alone.
            let mut groups = vec![Vec::new(), Vec::new()];
            for id in 1..=n as u32 {
                match rng.below(5) {
                    0 | 1 => groups[0].push(id),
                    2 | 3 => groups[1].push(id),
                    _ => {}
                }
            }
            if groups.iter().any(Vec::is_empty) {
                groups = vec![vec![1], (2..=n as u32).collect()];
            }
            fault(Fault::Partition { groups })
        }
        3 if engine.partition().is_some() => fault(Fault::Heal),
        4 => fault(Fault::DropMessages {
            probability: [0.0, 0.1, 0.3, 0.9][rng.below(4) as usize],
        }),
        _ => Action::TimeoutNow { node },
    }
}

/// The cluster rebuilt from the events alone and checked against the engine's state. Every
/// named invariant is enforced here, after every step and every action.
#[derive(Default)]
struct Model {
    /// Term to the node that became its leader.
    leaders: BTreeMap<u64, u32>,
    /// (voter, term) to the candidate it voted for; a candidate votes for itself.
    votes: BTreeMap<(u32, u64), u32>,
    /// Each node's term as last seen, to check that it never decreases.
    terms: BTreeMap<u32, u64>,
    roles: BTreeMap<u32, Role>,
    down: BTreeSet<u32>,
    /// A crashed node's term and vote, which its restart must bring back.
    persisted: BTreeMap<u32, (u64, Option<u32>)>,
    /// Messages already seen in flight, so that each new one is checked once.
    seen_messages: BTreeSet<u64>,
}

impl Model {
    fn new(engine: &Raft) -> Self {
        let mut model = Self::default();
        for node in engine.nodes() {
            model.terms.insert(node.id, node.term);
            model.roles.insert(node.id, node.role);
        }
        model
    }

    fn vote(&mut self, voter: u32, term: u64, candidate: u32) -> Result<(), String> {
        // Invariant `a node votes at most once per term`: a second vote in a term, for anyone
        // else, is a violation. A candidate's vote for itself counts.
        if let Some(&earlier) = self.votes.get(&(voter, term))
            && earlier != candidate
        {
            return Err(format!(
                "invariant `a node votes at most once per term` broken: node {voter} voted for \
                 {earlier} and {candidate} in term {term}"
            ));
        }
        self.votes.insert((voter, term), candidate);
        Ok(())
    }

    fn check_event(&mut self, engine: &Raft, event: &Event) -> Result<(), String> {
        let alive = |model: &Self, node: u32, event: &Event| {
            if model.down.contains(&node) {
                Err(format!(
                    "invariant `a crashed node does nothing` broken: {event:?}"
                ))
            } else {
                Ok(())
            }
        };
        match event {
            Event::BecameCandidate { node, term, .. } => {
                alive(self, *node, event)?;
                self.vote(*node, *term, *node)?;
                self.roles.insert(*node, Role::Candidate);
            }
            Event::BecameLeader {
                node, term, votes, ..
            } => {
                alive(self, *node, event)?;
                // Invariant `election safety`: at most one leader is elected in a given term.
                if let Some(&other) = self.leaders.get(term) {
                    return Err(format!(
                        "invariant `at most one leader per term` broken: nodes {other} and \
                         {node} both led term {term}"
                    ));
                }
                if *votes < engine.quorum() {
                    return Err(format!(
                        "invariant `a leader has a majority of votes` broken: {event:?}"
                    ));
                }
                self.leaders.insert(*term, *node);
                self.roles.insert(*node, Role::Leader);
            }
            Event::VoteGranted {
                voter,
                candidate,
                term,
                ..
            } => {
                alive(self, *voter, event)?;
                self.check_connected(engine, *candidate, *voter, event)?;
                self.vote(*voter, *term, *candidate)?;
            }
            Event::VoteDenied {
                voter, candidate, ..
            } => {
                alive(self, *voter, event)?;
                self.check_connected(engine, *candidate, *voter, event)?;
            }
            Event::HeartbeatReceived { node, leader, .. } => {
                alive(self, *node, event)?;
                self.check_connected(engine, *leader, *node, event)?;
            }
            Event::HeartbeatSent { leader, term, .. } => {
                alive(self, *leader, event)?;
                if self.leaders.get(term) != Some(leader) {
                    return Err(format!(
                        "invariant `only a term's leader sends heartbeats` broken: {event:?}"
                    ));
                }
            }
            Event::VoteRequested { candidate, .. } => alive(self, *candidate, event)?,
            Event::SteppedDown { node, .. } => {
                self.roles.insert(*node, Role::Follower);
            }
            Event::Crashed { node, .. } => {
                self.down.insert(*node);
                self.roles.insert(*node, Role::Follower);
                if let Some(n) = engine.nodes().iter().find(|n| n.id == *node) {
                    self.persisted.insert(*node, (n.term, n.voted_for));
                }
            }
            Event::Restarted {
                node,
                term,
                voted_for,
                ..
            } => {
                self.down.remove(node);
                // Invariant `a restart keeps the persisted term and vote`.
                let persisted = self.persisted.get(node).copied();
                if persisted != Some((*term, *voted_for)) {
                    return Err(format!(
                        "invariant `a restart keeps the persisted term and vote` broken: \
                         {event:?}, persisted {persisted:?}"
                    ));
                }
            }
            Event::SplitVote { .. }
            | Event::MessageLost { .. }
            | Event::MessageBlocked { .. }
            | Event::Partitioned { .. }
            | Event::Healed { .. }
            | Event::LossChanged { .. } => {}
        }
        Ok(())
    }

    /// Invariant `no message crosses a partition`: a delivery happens only between connected
    /// nodes.
    fn check_connected(&self, engine: &Raft, a: u32, b: u32, event: &Event) -> Result<(), String> {
        if engine.connected(a, b) {
            Ok(())
        } else {
            Err(format!(
                "invariant `no message crosses a partition` broken: {event:?}"
            ))
        }
    }

    /// Checks the engine's state after a step or an action.
    fn check_state(&mut self, engine: &Raft) -> Result<(), String> {
        for node in engine.nodes() {
            // Invariant `a node's term never decreases`, across crashes and restarts too.
            let before = self.terms.insert(node.id, node.term).unwrap_or(0);
            if node.term < before {
                return Err(format!(
                    "invariant `a node's term never decreases` broken: node {} went from {before} \
                     to {}",
                    node.id, node.term
                ));
            }
            if node.up == self.down.contains(&node.id) {
                return Err(format!(
                    "invariant `up matches the crash and restart events` broken: {node:?}"
                ));
            }
            if self.roles.get(&node.id) != Some(&node.role) {
                return Err(format!(
                    "invariant `roles match the events` broken: {node:?}, model {:?}",
                    self.roles.get(&node.id)
                ));
            }
            if let Some(voted_for) = node.voted_for
                && self.votes.get(&(node.id, node.term)) != Some(&voted_for)
            {
                return Err(format!(
                    "invariant `every vote has an event` broken: {node:?}"
                ));
            }
        }

        // Invariant `election safety`, on the state: no two leaders share a term.
        let mut leader_terms = BTreeSet::new();
        for node in engine.nodes().iter().filter(|n| n.role == Role::Leader) {
            if !leader_terms.insert(node.term) {
                return Err(format!(
                    "invariant `at most one leader per term` broken: two leaders of term {}",
                    node.term
                ));
            }
        }

        // Invariants `a crashed node sends nothing` and `no message crosses a partition`, at
        // send. Up and partition states change only through actions, so a message sent in the
        // latest step or action was sent under the states seen now.
        for message in engine.messages() {
            if !self.seen_messages.insert(message.id) {
                continue;
            }
            if self.down.contains(&message.from) {
                return Err(format!(
                    "invariant `a crashed node sends nothing` broken: {message:?}"
                ));
            }
            if !engine.connected(message.from, message.to) {
                return Err(format!(
                    "invariant `no message crosses a partition` broken at send: {message:?}"
                ));
            }
        }
        let in_flight: BTreeSet<u64> = engine.messages().map(|m| m.id).collect();
        self.seen_messages.retain(|id| in_flight.contains(id));
        Ok(())
    }

    fn check(&mut self, engine: &Raft, events: &[Event]) -> Result<(), String> {
        for event in events {
            self.check_event(engine, event)?;
        }
        self.check_state(engine)
    }
}

fn run_checked(
    engine: &mut Raft,
    model: &mut Model,
    steps: usize,
    seed: u64,
    trace: &mut Vec<Event>,
) {
    for _ in 0..steps {
        let events = engine.step();
        if let Err(message) = model.check(engine, &events) {
            panic!("seed {seed} at {} ms: {message}", engine.now_ms());
        }
        trace.extend(events);
    }
}

fn apply_checked(engine: &mut Raft, model: &mut Model, action: &Action, seed: u64) {
    let events = apply(engine, action);
    if let Err(message) = model.check(engine, &events) {
        panic!("seed {seed} after {action:?}: {message}");
    }
}

/// Runs from the start until a working leader exists or `limit_ms` pass; returns when.
fn time_to_leader(engine: &mut Raft, limit_ms: f64) -> Option<f64> {
    for _ in 0..steps_for(limit_ms) {
        engine.step();
        if engine.leader().is_some() {
            return Some(engine.now_ms());
        }
    }
    None
}

fn leader_id(engine: &Raft) -> Option<u32> {
    engine.leader().map(|n| n.id)
}

// Election safety: at most one leader per term, a node votes at most once per term, terms
// never decrease (also across crash and restart), a crashed node does nothing, and no message
// crosses a partition. Checked after every step of 60 simulated seconds with a random fault
// or forced election every 50 to 1000 ms, over random configurations.
#[test]
fn election_safety_holds_under_random_faults() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x5afe);
        let config = random_config(&mut rng);
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        let mut trace = Vec::new();

        while engine.now_ms() < 60_000.0 {
            let gap_ms = 50.0 + 950.0 * rng.uniform();
            run_checked(&mut engine, &mut model, steps_for(gap_ms), seed, &mut trace);
            let action = random_action(&engine, &mut rng);
            // Some drawn actions are invalid now (a forced election at the leader); those are
            // rejected and change nothing.
            if let Ok(events) = engine.apply(&action)
                && let Err(message) = model.check(&engine, &events)
            {
                panic!("seed {seed} after {action:?}: {message}");
            }
        }
    }
}

// Invariant: a restarted node keeps its persisted term and vote, and its term never falls
// below what it had before the crash, even while the others move on to later terms.
#[test]
fn restart_keeps_persisted_term_and_vote() {
    let config = RaftConfig::default();
    for seed in 0..SEEDS {
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        let mut trace = Vec::new();
        run_checked(
            &mut engine,
            &mut model,
            steps_for(8_000.0),
            seed,
            &mut trace,
        );
        let Some(old) = leader_id(&engine) else {
            panic!("seed {seed}: no leader after 8 s");
        };
        let before = engine.nodes()[old as usize - 1].clone();

        apply_checked(
            &mut engine,
            &mut model,
            &fault(Fault::Crash { node: old }),
            seed,
        );
        run_checked(
            &mut engine,
            &mut model,
            steps_for(8_000.0),
            seed,
            &mut trace,
        );
        let restarted = apply(&mut engine, &fault(Fault::Restart { node: old }));
        if let Err(message) = model.check(&engine, &restarted) {
            panic!("seed {seed} after the restart: {message}");
        }
        let after = engine.nodes()[old as usize - 1].clone();

        assert_eq!(after.term, before.term, "seed {seed}: {restarted:?}");
        assert_eq!(after.voted_for, Some(old), "seed {seed}: {restarted:?}");
        run_checked(
            &mut engine,
            &mut model,
            steps_for(2_000.0),
            seed,
            &mut trace,
        );
        let caught_up = engine.nodes()[old as usize - 1].term;
        assert!(
            caught_up > before.term,
            "seed {seed}: node {old} stayed at term {caught_up} after the others moved on"
        );
    }
}

// Invariant: a crashed node sends nothing. Node 1 crashes at 5 s. After that no message it
// sent is ever in flight, and no vote, heartbeat or election of it appears in the trace.
#[test]
fn crashed_node_sends_nothing() {
    let config = RaftConfig::default();
    for seed in 0..SEEDS {
        let mut engine = build(&config, seed);
        for _ in 0..steps_for(5_000.0) {
            engine.step();
        }
        let crash_ms = engine.now_ms();
        apply(&mut engine, &fault(Fault::Crash { node: 1 }));
        let mut acted = Vec::new();

        for _ in 0..steps_for(20_000.0) {
            for event in engine.step() {
                let by_node_1 = match &event {
                    Event::BecameCandidate { node, .. } | Event::BecameLeader { node, .. } => {
                        *node == 1
                    }
                    Event::VoteGranted { voter, .. } | Event::VoteDenied { voter, .. } => {
                        *voter == 1
                    }
                    Event::HeartbeatSent { leader, .. } => *leader == 1,
                    Event::HeartbeatReceived { node, .. } => *node == 1,
                    _ => false,
                };
                if by_node_1 {
                    acted.push(event);
                }
            }
            let sent = engine
                .messages()
                .find(|m| m.from == 1 && m.sent_ms >= crash_ms);
            assert!(sent.is_none(), "seed {seed}: crashed node 1 sent {sent:?}");
        }

        assert!(
            acted.is_empty(),
            "seed {seed}: crashed node 1 did {acted:?}"
        );
    }
}

// Invariant: no message crosses a partition, at send or in flight. The cluster splits into
// {1, 2} and {3, 4, 5} at 3 s; from then on no delivery joins the two sides, and messages sent
// across before the split are blocked on arrival.
#[test]
fn partition_blocks_every_crossing_message() {
    let config = RaftConfig::default();
    let side = |id: u32| id <= 2;
    let mut blocked_in_flight = 0;
    for seed in 0..SEEDS {
        let mut engine = build(&config, seed);
        for _ in 0..steps_for(3_000.0) {
            engine.step();
        }
        let split_ms = engine.now_ms();
        let groups = vec![vec![1, 2], vec![3, 4, 5]];
        apply(&mut engine, &fault(Fault::Partition { groups }));

        for _ in 0..steps_for(15_000.0) {
            for event in engine.step() {
                let crossing = match &event {
                    Event::VoteGranted {
                        voter, candidate, ..
                    }
                    | Event::VoteDenied {
                        voter, candidate, ..
                    } => side(*voter) != side(*candidate),
                    Event::HeartbeatReceived { node, leader, .. } => side(*node) != side(*leader),
                    Event::MessageBlocked { .. } => false,
                    _ => false,
                };
                assert!(!crossing, "seed {seed}: {event:?} crossed the partition");
                if let Event::MessageBlocked { at_ms, .. } = event
                    && at_ms > split_ms
                    && at_ms < split_ms + 200.0
                {
                    blocked_in_flight += 1;
                }
            }
        }
    }
    assert!(
        blocked_in_flight > 0,
        "no message in flight at a split was ever blocked on arrival"
    );
}

/// Returns the probability that the first election has a single candidate: every other node
/// receives the first candidate's RequestVote before its own timer fires.
///
/// With `n` timeouts uniform over a width `w` and a delay `d` per receiver, uniform from
/// `l` to `l + j`, the first timer fires at `u` above the minimum, and each other node stays
/// quiet with probability `g(u) = E[max(0, w - u - d)] / w`. So the probability is
/// `n / w * integral from 0 to w of g(u)^(n - 1) du`, which for a fixed delay is
/// `(1 - d / w)^n`, the spacing of uniform order statistics.
fn single_candidate_probability(config: &RaftConfig) -> f64 {
    let n = config.nodes as i32;
    let w = config.election_timeout_max_ms - config.election_timeout_min_ms;
    let (l, j) = (config.latency_ms, config.latency_jitter_ms);
    let quiet = |u: f64| {
        let x = w - u;
        let expected = if x <= l {
            0.0
        } else if j == 0.0 || x >= l + j {
            x - l - j / 2.0
        } else {
            (x - l) * (x - l) / (2.0 * j)
        };
        expected / w
    };
    let slices = 20_000;
    let du = w / f64::from(slices);
    let integral: f64 = (0..slices)
        .map(|k| quiet((f64::from(k) + 0.5) * du).powi(n - 1) * du)
        .sum();
    f64::from(n) / w * integral
}

// The first election has a single candidate with the probability the formula above gives.
// Over 1000 seeds per configuration the measured share must lie within 0.05 of it: more than
// three standard errors, since the standard error is at most 0.016.
#[test]
fn single_candidate_share_matches_formula() {
    let configs = [
        RaftConfig::default(),
        RaftConfig {
            nodes: 9,
            ..RaftConfig::default()
        },
        RaftConfig {
            nodes: 3,
            election_timeout_max_ms: 2000.0,
            latency_jitter_ms: 0.0,
            ..RaftConfig::default()
        },
    ];
    for config in configs {
        let expected = single_candidate_probability(&config);
        let mut single = 0;
        for seed in 0..STAT_SEEDS {
            let mut engine = build(&config, seed);
            let mut candidates_of_term_1 = 0;
            for _ in 0..steps_for(config.election_timeout_max_ms + 1_000.0) {
                for event in engine.step() {
                    if let Event::BecameCandidate { term: 1, .. } = event {
                        candidates_of_term_1 += 1;
                    }
                }
            }
            assert!(candidates_of_term_1 > 0, "seed {seed}: no election");
            if candidates_of_term_1 == 1 {
                single += 1;
            }
        }

        let measured = f64::from(single) / STAT_SEEDS as f64;
        assert!(
            (measured - expected).abs() <= 0.05,
            "{config:?}: single-candidate share {measured:.3}, formula {expected:.3}"
        );
    }
}

// Liveness: with a majority up and connected, a leader is elected within 10 s of losing the
// old one in at least 99% of 1000 seeds. 10 s is about three election rounds, each at most the
// longest timeout plus a round trip (3.3 s). The leader crashes once elected.
#[test]
fn new_leader_within_10_s_of_leader_crash() {
    let config = RaftConfig::default();
    let mut late = Vec::new();
    for seed in 0..STAT_SEEDS {
        let mut engine = build(&config, seed);
        time_to_leader(&mut engine, 30_000.0);
        let Some(old) = leader_id(&engine) else {
            panic!("seed {seed}: no first leader within 30 s");
        };
        apply(&mut engine, &fault(Fault::Crash { node: old }));
        let crash_ms = engine.now_ms();

        let elected = time_to_leader(&mut engine, 10_000.0);

        if elected.is_none() {
            late.push(seed);
        }
        if let Some(at_ms) = elected {
            let took = engine.last_election_ms().unwrap_or(f64::NAN);
            // The engine times the election at the event, and the loop reads the time at the end
            // of its step.
            assert!(
                (took - (at_ms - crash_ms)).abs() <= STEP_MS,
                "seed {seed}: last election {took} ms, measured {} ms",
                at_ms - crash_ms
            );
        }
    }
    assert!(
        late.len() as u64 * 100 <= STAT_SEEDS,
        "{} of {STAT_SEEDS} seeds took over 10 s: {late:?}",
        late.len()
    );
}

// Liveness with a partition, and no leader in a minority: the cluster splits with its leader
// on the minority side of two. The majority of three elects a leader within 10 s in at least
// 99% of 1000 seeds, and no node of the minority is ever elected while the split lasts.
#[test]
fn majority_side_elects_and_minority_never_does() {
    let config = RaftConfig::default();
    let mut late = Vec::new();
    for seed in 0..STAT_SEEDS {
        let mut engine = build(&config, seed);
        time_to_leader(&mut engine, 30_000.0);
        let Some(old) = leader_id(&engine) else {
            panic!("seed {seed}: no first leader within 30 s");
        };
        let buddy = if old == 1 { 2 } else { 1 };
        let minority = vec![old.min(buddy), old.max(buddy)];
        let majority: Vec<u32> = (1..=5).filter(|id| !minority.contains(id)).collect();
        let groups = vec![minority.clone(), majority.clone()];
        apply(&mut engine, &fault(Fault::Partition { groups }));
        let split_ms = engine.now_ms();
        let mut elected_ms = None;

        for _ in 0..steps_for(20_000.0) {
            for event in engine.step() {
                if let Event::BecameLeader { node, .. } = event {
                    assert!(
                        majority.contains(&node),
                        "seed {seed}: node {node} of minority {minority:?} was elected"
                    );
                    elected_ms.get_or_insert(engine.now_ms());
                }
            }
        }

        if elected_ms.is_none_or(|at_ms| at_ms - split_ms > 10_000.0) {
            late.push(seed);
        }
    }
    assert!(
        late.len() as u64 * 100 <= STAT_SEEDS,
        "{} of {STAT_SEEDS} seeds had no majority leader within 10 s: {late:?}",
        late.len()
    );
}

// Heartbeats hold off elections: heartbeats reach each follower at most heartbeat_ms +
// latency_jitter_ms = 550 ms apart, below the shortest timeout of 1.5 s, so once a leader has
// held for 1 s with no faults, no node starts an election in the next 60 s.
#[test]
fn stable_leader_suppresses_elections() {
    let config = RaftConfig::default();
    for seed in 0..SEEDS {
        let mut engine = build(&config, seed);
        time_to_leader(&mut engine, 30_000.0);
        for _ in 0..steps_for(1_000.0) {
            engine.step();
        }
        let leader = leader_id(&engine);
        let elections = engine.elections();

        for _ in 0..steps_for(60_000.0) {
            engine.step();
        }

        assert_eq!(engine.elections(), elections, "seed {seed}");
        assert_eq!(leader_id(&engine), leader, "seed {seed}");
    }
}

// A narrow timeout range causes split votes: with timeouts of 1500 to 1550 ms, narrower than
// the 100 to 150 ms latency, candidates nearly always collide, while the default range of 1500
// to 3000 ms rarely splits. Over 200 seeds of 30 s each, the narrow range must show at least
// ten times the default's split votes.
#[test]
fn narrow_timeout_range_splits_more_votes() {
    let split_votes = |config: &RaftConfig| {
        let mut total = 0;
        for seed in 0..SEEDS {
            let mut engine = build(config, seed);
            for _ in 0..steps_for(30_000.0) {
                engine.step();
            }
            total += engine.split_votes();
        }
        total
    };
    let default = RaftConfig::default();
    let narrow = RaftConfig {
        election_timeout_max_ms: 1550.0,
        ..RaftConfig::default()
    };

    let (wide_splits, narrow_splits) = (split_votes(&default), split_votes(&narrow));

    assert!(
        narrow_splits >= 10 * wide_splits.max(1),
        "narrow range split {narrow_splits} votes, default {wide_splits}"
    );
}

// A candidate that hears AppendEntries from the leader of its own term steps down. With
// timeouts of 1500 to 1700 ms two candidates often share a term. Whenever a candidate steps
// down for that reason, it is a follower of that leader afterwards, which the model checks
// after every step.
#[test]
fn candidate_steps_down_on_leader_of_its_term() {
    let config = RaftConfig {
        election_timeout_max_ms: 1700.0,
        ..RaftConfig::default()
    };
    let mut stepped_down = 0;
    for seed in 0..SEEDS {
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        let mut trace = Vec::new();
        run_checked(
            &mut engine,
            &mut model,
            steps_for(20_000.0),
            seed,
            &mut trace,
        );
        stepped_down += trace
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::SteppedDown {
                        was: Role::Candidate,
                        reason: StepDownReason::LeaderOfTerm { .. },
                        ..
                    }
                )
            })
            .count();
    }
    assert!(
        stepped_down > 0,
        "no candidate ever heard a leader of its term"
    );
}

// Message loss: with half the messages dropped the cluster still elects leaders, and every
// dropped message is reported.
#[test]
fn lossy_network_still_elects() {
    let config = RaftConfig::default();
    for seed in 0..SEEDS {
        let mut engine = build(&config, seed);
        apply(
            &mut engine,
            &fault(Fault::DropMessages { probability: 0.5 }),
        );
        let mut dropped = 0;
        let mut leaders = 0;

        for _ in 0..steps_for(60_000.0) {
            for event in engine.step() {
                match event {
                    Event::MessageLost { .. } => dropped += 1,
                    Event::BecameLeader { .. } => leaders += 1,
                    _ => {}
                }
            }
        }

        assert!(dropped > 0, "seed {seed}: nothing dropped");
        assert!(leaders > 0, "seed {seed}: no leader in 60 s at 50% loss");
    }
}

// Accessors for the widget stay in range: timer shares and message progress from 0 to 1, and
// every message goes from one node to another.
#[test]
fn widget_accessors_stay_in_range() {
    let mut rng = SimRng::new(7);
    for seed in 0..50 {
        let config = random_config(&mut rng);
        let mut engine = build(&config, seed);
        for step in 0..steps_for(20_000.0) {
            engine.step();
            if step % 97 == 0 {
                let action = random_action(&engine, &mut rng);
                let _ = engine.apply(&action);
            }
            for node in engine.nodes() {
                let left = engine.timer_left(node);
                assert!(
                    left.is_none_or(|x| (0.0..=1.0).contains(&x)),
                    "seed {seed}: {left:?}"
                );
            }
            for message in engine.messages() {
                let progress = engine.progress(message);
                assert!((0.0..=1.0).contains(&progress), "seed {seed}: {progress}");
                assert_ne!(message.from, message.to, "seed {seed}: {message:?}");
                assert!(
                    message.to >= 1 && message.to <= config.nodes,
                    "seed {seed}: {message:?}"
                );
            }
        }
    }
}

// Determinism: the same seed, configuration and actions give the same serialized trace.
#[test]
fn same_seed_gives_same_trace() {
    let run = || {
        let mut engine = build(&RaftConfig::default(), 42);
        let mut trace = Vec::new();
        for step in 0..steps_for(30_000.0) {
            trace.extend(engine.step());
            let action = match step {
                500 => Some(fault(Fault::Crash { node: 2 })),
                900 => Some(fault(Fault::Partition {
                    groups: vec![vec![1, 3], vec![4, 5]],
                })),
                1400 => Some(fault(Fault::DropMessages { probability: 0.2 })),
                1800 => Some(fault(Fault::Heal)),
                2000 => Some(fault(Fault::Restart { node: 2 })),
                2200 => Some(Action::TimeoutNow { node: 3 }),
                _ => None,
            };
            if let Some(action) = action {
                trace.extend(engine.apply(&action).unwrap_or_default());
            }
        }
        serde_json::to_string(&trace).unwrap_or_default()
    };

    let (first, second) = (run(), run());

    assert!(first.len() > 1000, "trace too short: {}", first.len());
    assert_eq!(first, second);
}
