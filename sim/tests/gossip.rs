//! Invariants of the gossip engine, and its rounds to converge against the formula, checked over
//! many seeds and configurations.

use std::collections::BTreeSet;

use sim::Engine;
use sim::faults::Fault;
use sim::gossip::{Action, Event, Gossip, GossipConfig, LossReason, STEP_MS};
use sim::rng::SimRng;

/// Seeds each randomized invariant test loops over.
const SEEDS: u64 = 200;

/// Seeds behind each median of rounds to converge.
const MEDIAN_SEEDS: u64 = 2001;

/// Slack for comparing event times, far below a millisecond.
const EPSILON: f64 = 1e-6;

fn build(config: &GossipConfig, seed: u64) -> Gossip {
    match Gossip::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

/// Draws a configuration over the whole valid range, with loss half of the time.
fn random_config(rng: &mut SimRng) -> GossipConfig {
    let round_ms = 200.0 + 4800.0 * rng.uniform();
    GossipConfig {
        nodes: 2 + rng.below(99) as u32,
        fanout: 1 + rng.below(8) as u32,
        round_ms,
        latency_ms: 1.0 + (round_ms - 1.0) * rng.uniform(),
        loss: if rng.below(2) == 0 {
            0.0
        } else {
            0.9 * rng.uniform()
        },
        rumor_rounds: if rng.below(2) == 0 {
            0
        } else {
            1 + rng.below(20) as u32
        },
    }
}

/// The nodes and the rounds rebuilt from the events alone. Every event is checked against what
/// the model allows, which is how the named invariants are enforced.
struct Model {
    fanout: u32,
    rumor_rounds: u64,
    versions: Vec<u64>,
    /// The round in which each node got its current version.
    learned: Vec<u64>,
    up: Vec<bool>,
    newest: u64,
    converged: bool,
    /// The current round, its senders, and the (sender, target) pairs sent in it.
    round: u64,
    senders: u32,
    sends: BTreeSet<(u32, u32)>,
}

impl Model {
    fn new(engine: &Gossip) -> Self {
        let nodes = engine.nodes().len();
        Self {
            fanout: engine.effective_fanout(),
            rumor_rounds: u64::from(engine.config().rumor_rounds),
            // The start's update arrives as an event with the first step or action.
            versions: vec![0; nodes],
            learned: vec![0; nodes],
            up: vec![true; nodes],
            newest: 0,
            converged: false,
            round: 0,
            senders: 0,
            sends: BTreeSet::new(),
        }
    }

    fn check(&mut self, events: &[Event]) -> Result<(), String> {
        events.iter().try_for_each(|event| self.check_event(event))
    }

    /// Checks that the round that just ended sent `fanout` messages per sender.
    fn close_round(&self) -> Result<(), String> {
        let expected = self.senders as usize * self.fanout as usize;
        if self.sends.len() == expected {
            Ok(())
        } else {
            Err(format!(
                "round {} sent {} messages, expected {} senders × fanout {}",
                self.round,
                self.sends.len(),
                self.senders,
                self.fanout
            ))
        }
    }

    fn version(&self, node: u32) -> u64 {
        self.versions.get(node as usize).copied().unwrap_or(0)
    }

    fn is_up(&self, node: u32) -> bool {
        self.up.get(node as usize).copied().unwrap_or(false)
    }

    fn set(&mut self, node: u32, version: u64) {
        if let Some(slot) = self.versions.get_mut(node as usize) {
            *slot = version;
        }
        if let Some(slot) = self.learned.get_mut(node as usize) {
            *slot = self.round;
        }
    }

    /// Returns whether a node pushes in round `round`: up, with a version, and within
    /// `rumor_rounds` of getting it unless that is 0.
    fn pushes(&self, node: u32, round: u64) -> bool {
        let learned = self.learned.get(node as usize).copied().unwrap_or(0);
        let interested = self.rumor_rounds == 0 || round - learned <= self.rumor_rounds;
        self.is_up(node) && self.version(node) > 0 && interested
    }

    fn set_up(&mut self, node: u32, up: bool) {
        if let Some(slot) = self.up.get_mut(node as usize) {
            *slot = up;
        }
    }

    fn check_event(&mut self, event: &Event) -> Result<(), String> {
        match *event {
            Event::Updated { node, version, .. } => {
                if version != self.newest + 1 || !self.is_up(node) {
                    return Err(format!("{event:?}: newest was {}", self.newest));
                }
                self.newest = version;
                self.converged = false;
                self.set(node, version);
            }
            Event::Round { round, senders, .. } => {
                // Invariant: each round sends exactly min(fanout, nodes - 1) messages per up
                // node that has a version, and only those nodes send. With rumor_rounds k > 0, a
                // node sends only in the k rounds after it got its version.
                self.close_round()?;
                let expected = (0..self.versions.len() as u32)
                    .filter(|&id| self.pushes(id, round))
                    .count() as u32;
                if round != self.round + 1 || senders != expected {
                    return Err(format!("{event:?}: expected {expected} senders"));
                }
                self.round = round;
                self.senders = senders;
                self.sends.clear();
            }
            Event::Sent {
                round,
                from,
                to,
                version,
                ..
            } => {
                // Invariant: a crashed node sends nothing, and a node pushes its own newest
                // version to distinct peers other than itself.
                if !self.is_up(from) {
                    return Err(format!("{event:?} from a down node"));
                }
                if version != self.version(from) || version == 0 {
                    return Err(format!("{event:?}: sender has {}", self.version(from)));
                }
                if round != self.round || from == to || !self.sends.insert((from, to)) {
                    return Err(format!("{event:?}: wrong round, self or repeated peer"));
                }
            }
            Event::Delivered {
                to,
                version,
                learned,
                ..
            } => {
                // Invariant: the target keeps the higher version, so a node's version never
                // decreases.
                if !self.is_up(to) {
                    return Err(format!("{event:?} to a down node"));
                }
                let had = self.version(to);
                if learned != (version > had) {
                    return Err(format!("{event:?}: target had {had}"));
                }
                if learned {
                    self.set(to, version);
                }
            }
            Event::Lost { to, reason, .. } => {
                if reason == LossReason::TargetDown && self.is_up(to) {
                    return Err(format!("{event:?} but the target is up"));
                }
            }
            Event::Crashed { node, .. } => self.set_up(node, false),
            Event::Restarted { node, version, .. } => {
                if version != self.version(node) {
                    return Err(format!("{event:?}: it had {}", self.version(node)));
                }
                self.set_up(node, true);
            }
            Event::LossChanged { .. } => {}
            Event::Converged { version, .. } => {
                // Invariant: convergence is reported once per version, when every up node has
                // the newest version.
                let lagging = (0..self.versions.len() as u32)
                    .find(|&id| self.is_up(id) && self.version(id) != self.newest);
                if version != self.newest || self.converged || lagging.is_some() {
                    return Err(format!("{event:?}: node {lagging:?} lags or repeated"));
                }
                self.converged = true;
            }
        }
        Ok(())
    }

    /// Checks the engine's nodes and counters against the model.
    fn check_state(&self, engine: &Gossip) -> Result<(), String> {
        let versions: Vec<u64> = engine.nodes().iter().map(|n| n.version).collect();
        let up: Vec<bool> = engine.nodes().iter().map(|n| n.up).collect();
        if versions != self.versions || up != self.up {
            return Err(format!("nodes {versions:?} {up:?} differ from the model"));
        }
        let in_flight = engine.in_flight().len() as u64;
        if engine.sent() != engine.delivered() + engine.lost() + in_flight {
            return Err(format!(
                "sent {} != delivered {} + lost {} + in flight {in_flight}",
                engine.sent(),
                engine.delivered(),
                engine.lost()
            ));
        }
        if engine.delivered() != engine.learned() + engine.duplicates() {
            return Err("delivered != learned + duplicates".to_string());
        }
        let informed = (0..self.versions.len() as u32)
            .filter(|&id| self.is_up(id) && self.version(id) == self.newest)
            .count() as u32;
        let live = self.up.iter().filter(|&&up| up).count() as u32;
        if engine.informed_live() != informed || engine.live() != live {
            return Err(format!(
                "informed {} of {} up, model {informed} of {live}",
                engine.informed_live(),
                engine.live()
            ));
        }
        Ok(())
    }
}

/// Runs `steps` steps, checks every event and the state against the model, and returns the
/// trace; panics with the seed on a violation.
fn run_checked(engine: &mut Gossip, model: &mut Model, steps: usize, seed: u64) -> Vec<Event> {
    let mut trace = Vec::new();
    for step in 0..steps {
        let before: Vec<u64> = engine.nodes().iter().map(|n| n.version).collect();
        let events = engine.step();
        let checked = model
            .check(&events)
            .and_then(|()| model.check_state(engine));
        if let Err(message) = checked {
            panic!("seed {seed}, step {step}, {:?}: {message}", engine.config());
        }
        for (node, (old, new)) in before.iter().zip(engine.nodes()).enumerate() {
            assert!(
                new.version >= *old,
                "seed {seed}, step {step}: node {node} went from version {old} to {}",
                new.version
            );
        }
        trace.extend(events);
    }
    trace
}

/// Applies an action if the engine accepts it, checking its events against the model.
fn try_apply(engine: &mut Gossip, model: &mut Model, action: &Action, seed: u64) {
    if let Ok(events) = engine.apply(action) {
        let checked = model
            .check(&events)
            .and_then(|()| model.check_state(engine));
        if let Err(message) = checked {
            panic!("seed {seed}, {action:?}: {message}");
        }
    }
}

/// Steps until the current version converges or `max_rounds` rounds pass, and returns the
/// rounds it took, or `None`.
fn rounds_to_converge(engine: &mut Gossip, max_rounds: u64) -> Option<u64> {
    let limit_ms = engine.now_ms() + max_rounds as f64 * engine.config().round_ms;
    while engine.now_ms() < limit_ms {
        for event in engine.step() {
            if let Event::Converged { rounds, .. } = event {
                return Some(rounds);
            }
        }
    }
    None
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// Median rounds to converge of the start's update over [`MEDIAN_SEEDS`] seeds, with no loss
/// and no crashes.
fn median_rounds(nodes: u32, fanout: u32) -> u64 {
    let config = GossipConfig {
        nodes,
        fanout,
        ..GossipConfig::default()
    };
    let rounds = (0..MEDIAN_SEEDS)
        .map(|seed| {
            let mut engine = build(&config, seed);
            match rounds_to_converge(&mut engine, 200) {
                Some(rounds) => rounds,
                None => panic!("seed {seed}, {config:?}: no convergence in 200 rounds"),
            }
        })
        .collect();
    median(rounds)
}

/// Estimate of the rounds push gossip takes to reach all of `nodes` nodes with fanout `f`:
/// log_(f+1) N + ln N / f. For f = 1 this is Pittel's log2 N + ln N, without its O(1) term.
fn formula_rounds(nodes: u32, fanout: u32) -> f64 {
    let n = f64::from(nodes);
    let f = f64::from(fanout);
    libm::log(n) / libm::log(f + 1.0) + libm::log(n) / f
}

// Invariant: a node's version never decreases, a crashed node sends nothing, every round sends
// exactly min(fanout, nodes - 1) messages per up node with a version, and every event agrees
// with a model rebuilt from the events. Random updates, crashes, restarts and loss changes run
// in between.
#[test]
fn events_match_model_under_faults() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x6055);
        let config = random_config(&mut rng);
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);

        for _ in 0..15 {
            let steps = 1 + rng.below(60) as usize;
            run_checked(&mut engine, &mut model, steps, seed);
            let node = rng.below(u64::from(config.nodes)) as u32;
            let action = match rng.below(5) {
                0 => Action::Update { node },
                1 => Action::UpdateRandom,
                2 => Action::Fault(Fault::Crash { node }),
                3 => Action::Fault(Fault::Restart { node }),
                _ => Action::Fault(Fault::DropMessages {
                    probability: rng.uniform(),
                }),
            };
            try_apply(&mut engine, &mut model, &action, seed);
        }
        run_checked(&mut engine, &mut model, 100, seed);
    }
}

// Invariant: with loss 0 and every node up, every node learns the update. The spread converges
// at exactly rounds × round_ms + latency_ms after the start's update at 0 ms, because the last
// node learns it from a message sent in the last round.
#[test]
fn every_node_learns_update_without_faults() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x1ea7);
        let config = GossipConfig {
            loss: 0.0,
            rumor_rounds: 0,
            ..random_config(&mut rng)
        };
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        let max_steps = (200.0 * config.round_ms / STEP_MS) as usize;

        let trace = run_checked(&mut engine, &mut model, max_steps, seed);

        assert!(
            engine.nodes().iter().all(|node| node.version == 1),
            "seed {seed}, {config:?}: some node never learned version 1"
        );
        let converged = trace.iter().find_map(|event| match *event {
            Event::Converged {
                at_ms,
                rounds,
                time_ms,
                ..
            } => Some((at_ms, rounds, time_ms)),
            _ => None,
        });
        let Some((at_ms, rounds, time_ms)) = converged else {
            panic!("seed {seed}, {config:?}: no Converged event");
        };
        let expected_ms = rounds as f64 * config.round_ms + config.latency_ms;
        assert!(
            (at_ms - expected_ms).abs() < EPSILON && (time_ms - at_ms).abs() < EPSILON,
            "seed {seed}, {config:?}: converged at {at_ms} ms after {rounds} rounds, expected \
             {expected_ms} ms"
        );
    }
}

// Invariant: with no loss and no crashes, each round sends exactly fanout messages per node
// that has the version, which after convergence is every node.
#[test]
fn round_sends_fanout_per_informed_node() {
    let config = GossipConfig {
        nodes: 100,
        fanout: 3,
        ..GossipConfig::default()
    };
    for seed in 0..SEEDS {
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);

        let trace = run_checked(&mut engine, &mut model, 400, seed);

        let mut informed = 1_u64;
        // Messages sent in the current round, and the nodes that had the version when it began.
        let mut round: Option<(u64, u64)> = None;
        for event in &trace {
            match *event {
                Event::Round { .. } => {
                    if let Some((sent, senders)) = round {
                        assert_eq!(sent, 3 * senders, "seed {seed}: round sent {sent}");
                    }
                    round = Some((0, informed));
                }
                Event::Sent { .. } => {
                    if let Some((sent, _)) = &mut round {
                        *sent += 1;
                    }
                }
                Event::Delivered { learned: true, .. } => informed += 1,
                _ => {}
            }
        }
        assert_eq!(informed, 100, "seed {seed}: not every node learned");
    }
}

// Invariant: the share of messages the network drops matches the loss probability. Over n
// messages the dropped count is binomial, so the share lies within 5 standard deviations,
// 5·sqrt(p(1-p)/n), of p.
#[test]
fn dropped_share_matches_loss() {
    for (seed, loss) in [(1, 0.1), (2, 0.3), (3, 0.6), (4, 0.9)] {
        let config = GossipConfig {
            nodes: 100,
            fanout: 4,
            loss,
            ..GossipConfig::default()
        };
        let mut engine = build(&config, seed);

        let mut dropped = 0_u64;
        let mut lost_or_delivered = 0_u64;
        for _ in 0..2000 {
            for event in engine.step() {
                match event {
                    Event::Lost {
                        reason: LossReason::Dropped,
                        ..
                    } => {
                        dropped += 1;
                        lost_or_delivered += 1;
                    }
                    Event::Lost { .. } | Event::Delivered { .. } => lost_or_delivered += 1,
                    _ => {}
                }
            }
        }

        let n = lost_or_delivered as f64;
        let share = dropped as f64 / n;
        let tolerance = 5.0 * (loss * (1.0 - loss) / n).sqrt();
        assert!(
            (share - loss).abs() <= tolerance,
            "seed {seed}: dropped {share:.4} of {n} messages, loss {loss}, tolerance {tolerance:.4}"
        );
    }
}

// Invariant: a restarted node keeps the version it had before the crash and, with the others
// still pushing, learns the newest version within a few rounds.
#[test]
fn restarted_node_catches_up() {
    let config = GossipConfig {
        nodes: 20,
        fanout: 2,
        ..GossipConfig::default()
    };
    for seed in 0..SEEDS {
        let mut engine = build(&config, seed);
        let mut model = Model::new(&engine);
        try_apply(
            &mut engine,
            &mut model,
            &Action::Fault(Fault::Crash { node: 7 }),
            seed,
        );
        run_checked(&mut engine, &mut model, 400, seed);
        try_apply(&mut engine, &mut model, &Action::Update { node: 3 }, seed);
        run_checked(&mut engine, &mut model, 400, seed);

        try_apply(
            &mut engine,
            &mut model,
            &Action::Fault(Fault::Restart { node: 7 }),
            seed,
        );
        let version_after_restart = engine.nodes().get(7).map(|n| n.version);
        run_checked(&mut engine, &mut model, 400, seed);

        assert_eq!(
            version_after_restart,
            Some(0),
            "seed {seed}: node 7 came back with a version"
        );
        assert!(
            engine.nodes().iter().all(|node| node.version == 2),
            "seed {seed}: a node lacks version 2 after 20 rounds"
        );
    }
}

// Invariant: the median rounds to converge for N = 100 lies between log_(f+1) N + ln N / f and
// 1.5 rounds above it, for fanouts 1 to 3. The formula leaves out an O(1) term, and a spread
// counts whole rounds, so the median sits above it: 12, 7 and 6 rounds against 11.25, 6.49 and
// 4.86. Each median is over 2001 seeds.
#[test]
fn median_rounds_follow_formula() {
    for fanout in 1..=3 {
        let measured = median_rounds(100, fanout) as f64;
        let expected = formula_rounds(100, fanout);

        assert!(
            measured >= expected && measured <= expected + 1.5,
            "fanout {fanout}: median {measured} rounds over seeds 0 to {}, formula {expected:.2}",
            MEDIAN_SEEDS - 1
        );
    }
}

// Invariant: more fanout converges in fewer rounds: the median for N = 100 falls strictly from
// fanout 1 to 3 and never rises up to fanout 8.
#[test]
fn more_fanout_converges_faster() {
    let medians: Vec<u64> = (1..=8).map(|fanout| median_rounds(100, fanout)).collect();

    let strictly_falling = medians[0] > medians[1] && medians[1] > medians[2];
    let never_rising = medians.windows(2).all(|pair| pair[0] >= pair[1]);

    assert!(strictly_falling, "medians for fanout 1 to 8: {medians:?}");
    assert!(never_rising, "medians for fanout 1 to 8: {medians:?}");
}

// Invariant: rounds grow like log N: from N = 10 to N = 100 the median for fanout 2 grows by
// about log_3 10 + ln 10 / 2, within 1.5 rounds.
#[test]
fn rounds_grow_like_log_n() {
    let growth = median_rounds(100, 2) as f64 - median_rounds(10, 2) as f64;
    let expected = formula_rounds(100, 2) - formula_rounds(10, 2);

    assert!(
        (growth - expected).abs() <= 1.5,
        "median grew by {growth} rounds from 10 to 100 nodes, formula {expected:.2}"
    );
}

/// Returns the nodes that never got the start's version, once no node pushes any more, for
/// each of `seeds` seeds.
fn residues(nodes: u32, fanout: u32, rumor_rounds: u32, seeds: u64) -> Vec<u32> {
    let config = GossipConfig {
        nodes,
        fanout,
        rumor_rounds,
        ..GossipConfig::default()
    };
    (0..seeds)
        .map(|seed| {
            let mut engine = build(&config, seed);
            // A spread that goes rumor_rounds rounds without informing a node stops, so with
            // rumor_rounds > 0 it lasts at most nodes × rumor_rounds rounds; 0 pushes for ever.
            let rounds = f64::from(nodes * rumor_rounds.max(1) + 2);
            let max_steps = (rounds * config.round_ms / STEP_MS) as usize;
            for _ in 0..max_steps {
                engine.step();
                let pushing = engine.nodes().iter().any(|node| engine.pushes(node));
                if engine.in_flight().len() == 0 && (!pushing || engine.converged()) {
                    break;
                }
            }
            engine.nodes().iter().filter(|n| n.version == 0).count() as u32
        })
        .collect()
}

// Invariant: with rumor_rounds k > 0, each node pushes a version in at most k rounds, so one
// update costs at most nodes × fanout × k messages.
#[test]
fn rumor_caps_messages_per_update() {
    for (seed, (fanout, rumor_rounds)) in (0..).zip([(1, 1), (1, 4), (2, 2), (3, 5), (8, 1)]) {
        let config = GossipConfig {
            nodes: 100,
            fanout,
            rumor_rounds,
            ..GossipConfig::default()
        };
        let mut engine = build(&config, seed);

        for _ in 0..2000 {
            engine.step();
        }

        let cap = 100 * u64::from(fanout) * u64::from(rumor_rounds);
        assert!(
            engine.sent() <= cap,
            "seed {seed}, {config:?}: {} messages, cap {cap}",
            engine.sent()
        );
        assert_eq!(
            engine.in_flight().len(),
            0,
            "seed {seed}: pushes never stopped"
        );
    }
}

// Invariant: the residue, the nodes a rumor never reaches, shrinks as nodes push for more
// rounds: its mean over 500 seeds for N = 100 and fanout 1 falls from k = 1 to 2 to 4, and
// pushing for ever leaves none.
#[test]
fn residue_shrinks_with_rumor_rounds() {
    let mean = |k| {
        let residues = residues(100, 1, k, 500);
        f64::from(residues.iter().sum::<u32>()) / residues.len() as f64
    };

    let (one, two, four) = (mean(1), mean(2), mean(4));
    let forever = residues(100, 1, 0, 50).into_iter().max();

    assert!(one > two, "mean residue {one} at k = 1, {two} at k = 2");
    assert!(two > four, "mean residue {two} at k = 2, {four} at k = 4");
    assert_eq!(
        forever,
        Some(0),
        "pushing for ever left nodes without the version"
    );
}

#[test]
fn same_seed_gives_same_trace() {
    let run = || {
        let config = GossipConfig {
            loss: 0.2,
            ..GossipConfig::default()
        };
        let mut engine = build(&config, 42);
        let mut trace = Vec::new();
        for step in 0..600 {
            let action = match step {
                100 => Some(Action::Fault(Fault::Crash { node: 4 })),
                150 => Some(Action::UpdateRandom),
                300 => Some(Action::Fault(Fault::Restart { node: 4 })),
                _ => None,
            };
            if let Some(action) = action
                && let Ok(events) = engine.apply(&action)
            {
                trace.extend(events);
            }
            trace.extend(engine.step());
        }
        serde_json::to_string(&trace).unwrap_or_default()
    };

    let first = run();
    let second = run();

    assert!(first.len() > 1000, "trace too short: {}", first.len());
    assert_eq!(first, second);
}
