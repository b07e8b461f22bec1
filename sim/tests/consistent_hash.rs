//! Invariants of the consistent hashing engine, checked over many seeds.

use sim::consistent_hash::{Action, ConsistentHash, ConsistentHashConfig, Event, MAX_NODES};
use sim::rng::SimRng;
use sim::{Config, Engine};

fn build(nodes: u32, vnodes: u32, keys: u32, seed: u64) -> ConsistentHash {
    let config = ConsistentHashConfig {
        nodes,
        vnodes,
        keys,
    };
    match ConsistentHash::new(config, seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config rejected: {err}"),
    }
}

fn apply(engine: &mut ConsistentHash, action: &Action, seed: u64) -> Event {
    match engine.apply(action) {
        Ok(mut events) if events.len() == 1 => events.remove(0),
        Ok(events) => panic!("seed {seed}: {action:?} returned {} events", events.len()),
        Err(err) => panic!("seed {seed}: {action:?} rejected: {err}"),
    }
}

fn owners(engine: &ConsistentHash) -> Vec<u32> {
    engine.keys().iter().map(|key| key.node).collect()
}

fn mod_n_owners(engine: &ConsistentHash) -> Vec<u32> {
    engine.keys().iter().map(|key| key.mod_n_node).collect()
}

/// Returns (moved_by_ring, moved_by_mod_n) from a membership event.
fn moved(event: &Event) -> (u32, u32) {
    match event {
        Event::NodeAdded {
            moved_by_ring,
            moved_by_mod_n,
            ..
        }
        | Event::NodeRemoved {
            moved_by_ring,
            moved_by_mod_n,
            ..
        } => (*moved_by_ring, *moved_by_mod_n),
        Event::Lookup { .. } => (0, 0),
    }
}

/// Finds a key's owner by scanning every vnode: the one with the smallest
/// position at or after the key, else the smallest position on the ring.
fn owner_by_scan(engine: &ConsistentHash, hash: u64) -> Option<u32> {
    let ring = engine.ring();
    let at_or_after = ring
        .iter()
        .filter(|v| v.hash() >= hash)
        .min_by_key(|v| v.hash());
    let lowest = ring.iter().min_by_key(|v| v.hash());
    at_or_after.or(lowest).map(|v| v.node)
}

/// Standard deviation of the fraction of keys that move to a new node.
///
/// The `(N+1)V` vnodes are uniform points on the ring, so the new node's `V`
/// arcs cover a Beta(V, NV) share `s` of it, with mean `p = 1/(N+1)` and
/// variance `p(1-p)/((N+1)V+1)`. Each of `K` keys then lands in that share
/// with probability `s`, adding about `p(1-p)/K`.
fn moved_fraction_sigma(nodes: u32, vnodes: u32, keys: u32) -> f64 {
    let p = 1.0 / f64::from(nodes + 1);
    let points = f64::from((nodes + 1) * vnodes);
    (p * (1.0 - p) / (points + 1.0) + p * (1.0 - p) / f64::from(keys)).sqrt()
}

// Adding one node to N nodes moves about K/(N+1) of K keys, that is K over
// the new node count: the new node takes an expected 1/(N+1) of the ring, and
// only keys in that share move.
// Tolerance: with V=128 and K=10000, one trial's moved fraction has a standard
// deviation sigma of 0.032 (N=1), 0.016 (N=4) and 0.009 (N=9), so each trial
// must land within 6 sigma of 1/(N+1). The mean over 100 seeds has a standard
// deviation of sigma/10, below 0.9% of 1/(N+1), so it must land within 5%.
#[test]
fn adding_node_moves_about_k_over_n_keys() {
    let (vnodes, keys, seeds) = (128, 10_000, 100);
    for nodes in [1, 4, 9] {
        let expected = 1.0 / f64::from(nodes + 1);
        let per_trial_bound = 6.0 * moved_fraction_sigma(nodes, vnodes, keys);
        let mut total = 0.0;

        for seed in 0..seeds {
            let mut engine = build(nodes, vnodes, keys, seed);
            let (by_ring, _) = moved(&apply(&mut engine, &Action::AddNode, seed));
            let fraction = f64::from(by_ring) / f64::from(keys);

            assert!(
                (fraction - expected).abs() <= per_trial_bound,
                "seed {seed}, N={nodes}: moved fraction {fraction:.4}, expected \
                 {expected:.4} +/- {per_trial_bound:.4}"
            );
            total += fraction;
        }

        let mean = total / seeds as f64;
        assert!(
            (mean - expected).abs() / expected < 0.05,
            "seeds 0..{seeds}, N={nodes}: mean moved fraction {mean:.4}, expected {expected:.4}"
        );
    }
}

// When a node joins, every key that changes owner moves to the new node, so
// no key moves between two nodes that were already on the ring.
#[test]
fn keys_only_move_to_the_new_node() {
    for seed in 0..200 {
        let mut engine = build(1 + (seed % 8) as u32, 1 + (seed % 32) as u32, 500, seed);
        let before = owners(&engine);

        let event = apply(&mut engine, &Action::AddNode, seed);

        let Event::NodeAdded {
            node: new_node,
            moved_by_ring,
            ..
        } = event
        else {
            panic!("seed {seed}: expected node_added, got {event:?}");
        };
        let after = owners(&engine);
        let changed: Vec<usize> = (0..before.len())
            .filter(|&i| before[i] != after[i])
            .collect();
        for &i in &changed {
            assert_eq!(
                after[i], new_node,
                "seed {seed}: key-{i} moved from node {} to old node {}",
                before[i], after[i]
            );
        }
        assert_eq!(
            changed.len(),
            moved_by_ring as usize,
            "seed {seed}: moved_by_ring"
        );
    }
}

// Removing a node moves exactly the keys it owned, and every other key keeps
// its owner.
#[test]
fn removing_node_moves_only_its_keys() {
    for seed in 0..200 {
        let mut engine = build(2 + (seed % 8) as u32, 1 + (seed % 32) as u32, 500, seed);
        let mut pick = SimRng::new(seed);
        let live = engine.nodes().to_vec();
        let victim = live[pick.below(live.len() as u64) as usize];
        let before = owners(&engine);

        let event = apply(&mut engine, &Action::RemoveNode { node: victim }, seed);

        let after = owners(&engine);
        for i in 0..before.len() {
            if before[i] == victim {
                assert_ne!(
                    after[i], victim,
                    "seed {seed}: key-{i} still on removed node"
                );
            } else {
                assert_eq!(
                    after[i], before[i],
                    "seed {seed}: key-{i} moved off a live node"
                );
            }
        }
        let owned = before.iter().filter(|&&node| node == victim).count();
        assert_eq!(
            moved(&event).0 as usize,
            owned,
            "seed {seed}: moved_by_ring"
        );
    }
}

// With mod-N hashing a key keeps its node only when hash % N == hash % (N+1),
// which holds for 1/(N+1) of hashes, so adding a node moves about N/(N+1) of
// the keys. Tolerance: a trial's fraction is binomial with sigma =
// sqrt(0.16/10000) = 0.004 for N=4, so each trial must land within 6 sigma =
// 0.024 of 0.8. The mean over 100 seeds has sigma/10 = 0.0004, so it must
// land within 1% of 0.8 (20 of those).
#[test]
fn mod_n_hashing_moves_most_keys() {
    let (nodes, keys, seeds) = (4, 10_000, 100);
    let expected = f64::from(nodes) / f64::from(nodes + 1);
    let mut total = 0.0;

    for seed in 0..seeds {
        let mut engine = build(nodes, 16, keys, seed);
        let before = mod_n_owners(&engine);

        let (_, by_mod_n) = moved(&apply(&mut engine, &Action::AddNode, seed));

        let after = mod_n_owners(&engine);
        let changed = (0..before.len()).filter(|&i| before[i] != after[i]).count();
        assert_eq!(changed, by_mod_n as usize, "seed {seed}: moved_by_mod_n");
        let fraction = f64::from(by_mod_n) / f64::from(keys);
        assert!(
            (fraction - expected).abs() <= 0.024,
            "seed {seed}: mod-N moved fraction {fraction:.4}, expected {expected:.4}"
        );
        total += fraction;
    }

    let mean = total / seeds as f64;
    assert!(
        (mean - expected).abs() / expected < 0.01,
        "seeds 0..{seeds}: mean mod-N moved fraction {mean:.4}, expected {expected:.4}"
    );
}

// Removing any one of N nodes under mod-N keeps a key only when its slot in
// the shortened id list still names the same node, which holds for 1/N of
// hashes whichever node leaves, so (N-1)/N of the keys move. Tolerance: for
// N=5 sigma = sqrt(0.16/10000) = 0.004, and each trial must land within 6 sigma.
#[test]
fn mod_n_removal_moves_most_keys() {
    let (nodes, keys) = (5, 10_000);
    let expected = f64::from(nodes - 1) / f64::from(nodes);

    for seed in 0..100 {
        let victim = (seed % u64::from(nodes)) as u32;
        let mut engine = build(nodes, 16, keys, seed);

        let (_, by_mod_n) = moved(&apply(
            &mut engine,
            &Action::RemoveNode { node: victim },
            seed,
        ));

        let fraction = f64::from(by_mod_n) / f64::from(keys);
        assert!(
            (fraction - expected).abs() <= 0.024,
            "seed {seed}, removed node {victim}: mod-N moved fraction {fraction:.4}, \
             expected {expected:.4}"
        );
    }
}

// Every key has exactly one owner: a live node, the one a full scan of the
// ring finds, and the per-node counts add up to the number of keys. Checked
// after every action of a random add/remove sequence.
#[test]
fn every_key_has_exactly_one_owner() {
    for seed in 0..50 {
        let mut engine = build(3, 1 + (seed % 16) as u32, 300, seed);
        let mut pick = SimRng::new(seed ^ 0x5eed);

        for round in 0..20 {
            let live = engine.nodes().to_vec();
            let action = if pick.below(2) == 0 {
                Action::AddNode
            } else {
                Action::RemoveNode {
                    node: live[pick.below(live.len() as u64) as usize],
                }
            };
            let _ = engine.apply(&action);

            for (i, key) in engine.keys().iter().enumerate() {
                assert!(
                    engine.nodes().contains(&key.node),
                    "seed {seed}, round {round}: key-{i} owned by dead node {}",
                    key.node
                );
                assert_eq!(
                    Some(key.node),
                    owner_by_scan(&engine, key.hash()),
                    "seed {seed}, round {round}: key-{i} owner differs from a full scan"
                );
            }
            let counted: u32 = engine.node_loads().iter().map(|load| load.keys).sum();
            assert_eq!(counted, 300, "seed {seed}, round {round}: per-node counts");
        }
    }
}

// More vnodes per node spread keys more evenly: each node's share of the ring
// is a sum of V arcs, whose relative spread shrinks like 1/sqrt(V), so the
// standard deviation of keys per node falls as V grows. Averaged over 50 seeds
// with N=4 and K=10000, each fourfold increase in V must lower the mean.
#[test]
fn more_vnodes_spread_load_more_evenly() {
    let seeds = 50;
    let mean_std_dev = |vnodes: u32| -> f64 {
        let total: f64 = (0..seeds)
            .map(|seed| build(4, vnodes, 10_000, seed).load_std_dev())
            .sum();
        total / seeds as f64
    };

    let spreads: Vec<(u32, f64)> = [1, 4, 16, 64, 256].map(|v| (v, mean_std_dev(v))).to_vec();

    for pair in spreads.windows(2) {
        let ((fewer, wider), (more, narrower)) = (pair[0], pair[1]);
        assert!(
            narrower < wider,
            "seeds 0..{seeds}: std dev {narrower:.1} at vnodes={more} is not below \
             {wider:.1} at vnodes={fewer}"
        );
    }
}

// With 256 vnodes on 4 nodes the busiest node has little more than the mean.
// Each node's key count has a relative spread of about 6%, so max/mean
// averages near 1.06 (the expected maximum of 4 draws sits about 1 sigma above
// the mean). One seed's max/mean varies by about 0.04, so the mean over 50
// seeds varies by about 0.006 and must stay below 1.10.
#[test]
fn many_vnodes_keep_max_load_near_mean() {
    let seeds = 50;

    let total: f64 = (0..seeds)
        .map(|seed| build(4, 256, 10_000, seed).load_max_over_mean())
        .sum();

    let mean = total / seeds as f64;
    assert!(mean < 1.10, "seeds 0..{seeds}: mean max/mean {mean:.3}");
}

// Each lookup event names the node that owns the key on the ring, and time
// advances by STEP_MS per step.
#[test]
fn lookups_route_to_the_key_owner() {
    for seed in 0..20 {
        let mut engine = build(5, 8, 200, seed);

        for step in 1..=100u32 {
            let events = engine.step();

            assert_eq!(events.len(), 1, "seed {seed}, step {step}: events per step");
            let Event::Lookup {
                key, node, at_ms, ..
            } = &events[0]
            else {
                panic!("seed {seed}: expected lookup, got {:?}", events[0]);
            };
            assert_eq!(
                *node,
                engine.keys()[*key as usize].node,
                "seed {seed}, key-{key}"
            );
            assert_eq!(
                *at_ms,
                f64::from(step) * sim::consistent_hash::STEP_MS,
                "seed {seed}"
            );
        }
    }
}

// The same seed, configuration and actions give the same serialized trace.
#[test]
fn same_seed_gives_same_trace() {
    let run = |seed: u64| -> String {
        let mut engine = build(4, 8, 200, seed);
        let mut trace = Vec::new();
        for round in 0..30 {
            trace.extend(engine.step());
            let action = match round % 3 {
                0 => Action::AddNode,
                1 => Action::RemoveNode {
                    node: engine.nodes()[0],
                },
                _ => Action::RemoveNode { node: 999 },
            };
            if let Ok(events) = engine.apply(&action) {
                trace.extend(events);
            }
        }
        let loads = serde_json::to_string(&engine.node_loads()).unwrap_or_default();
        let events = serde_json::to_string(&trace).unwrap_or_default();
        format!("{events}\n{loads}")
    };

    for seed in 0..10 {
        assert_eq!(run(seed), run(seed), "seed {seed}: traces differ");
    }
}

// A different seed salts the key and vnode hashes, so the key set differs.
#[test]
fn different_seeds_place_keys_differently() {
    for seed in 0..20 {
        let a = build(4, 8, 200, seed);
        let b = build(4, 8, 200, seed + 1);

        let same = a
            .keys()
            .iter()
            .zip(b.keys())
            .filter(|(x, y)| x.hash() == y.hash())
            .count();

        assert_eq!(same, 0, "seeds {seed} and {}: keys share hashes", seed + 1);
    }
}

// A new node gets the next id never used, even after a removal, so a node's
// vnodes never reappear under another node's name.
#[test]
fn added_nodes_get_fresh_ids() {
    let mut engine = build(3, 4, 50, 1);

    apply(&mut engine, &Action::RemoveNode { node: 2 }, 1);
    let event = apply(&mut engine, &Action::AddNode, 1);

    assert!(
        matches!(event, Event::NodeAdded { node: 3, .. }),
        "got {event:?}"
    );
    assert_eq!(engine.nodes(), &[0, 1, 3]);
}

// Removing a node that is not on the ring is an error and changes nothing.
#[test]
fn removing_unknown_node_is_rejected() {
    let mut engine = build(3, 4, 50, 1);
    let before = owners(&engine);

    let result = engine.apply(&Action::RemoveNode { node: 7 });

    assert!(result.is_err_and(|err| err.0.contains("node 7")));
    assert_eq!(owners(&engine), before);
}

// Removing the last node would leave keys with no owner, so it is an error.
#[test]
fn removing_last_node_is_rejected() {
    let mut engine = build(1, 4, 50, 1);

    let result = engine.apply(&Action::RemoveNode { node: 0 });

    assert!(result.is_err_and(|err| err.0.contains("last node")));
    assert_eq!(engine.nodes(), &[0]);
}

// Adding past MAX_NODES is an error and changes nothing.
#[test]
fn adding_past_max_nodes_is_rejected() {
    let mut engine = build(32, 2, 50, 1);

    let result = engine.apply(&Action::AddNode);

    assert!(result.is_err_and(|err| err.0.contains("maximum")));
    assert_eq!(engine.nodes().len(), MAX_NODES);
}

// The ring holds vnodes points per live node, in clockwise order, each at a
// position in [0, 1).
#[test]
fn ring_holds_vnodes_per_node_in_order() {
    for seed in 0..20 {
        let engine = build(1 + (seed % 32) as u32, 1 + (seed % 256) as u32, 10, seed);
        let ring = engine.ring();

        let expected = engine.nodes().len() * engine.config().vnodes as usize;
        assert_eq!(ring.len(), expected, "seed {seed}: ring size");
        assert!(
            ring.windows(2).all(|w| w[0].hash() <= w[1].hash()),
            "seed {seed}: order"
        );
        assert!(
            ring.iter().all(|v| (0.0..1.0).contains(&v.position)),
            "seed {seed}: position outside [0, 1)"
        );
    }
}

// No valid configuration and no sequence of steps and actions panics, and
// the load metrics stay finite.
#[test]
fn random_sessions_never_panic() {
    for seed in 0..100 {
        let mut pick = SimRng::new(seed);
        let config = ConsistentHashConfig {
            nodes: 1 + pick.below(32) as u32,
            vnodes: 1 + pick.below(256) as u32,
            keys: 1 + pick.below(2_000) as u32,
        };
        assert!(config.validate().is_ok(), "seed {seed}: {config:?}");
        let mut engine = build(config.nodes, config.vnodes, config.keys, seed);

        for _ in 0..60 {
            match pick.below(3) {
                0 => {
                    engine.step();
                }
                1 => {
                    let _ = engine.apply(&Action::AddNode);
                }
                _ => {
                    let node = pick.below(40) as u32;
                    let _ = engine.apply(&Action::RemoveNode { node });
                }
            }
        }

        assert!(engine.load_std_dev().is_finite(), "seed {seed}: std dev");
        assert!(engine.load_max_over_mean() >= 1.0, "seed {seed}: max/mean");
    }
}

// Out-of-range parameters are rejected when the engine is built.
#[test]
fn invalid_config_is_rejected() {
    let cases = [
        ConsistentHashConfig {
            nodes: 0,
            ..Default::default()
        },
        ConsistentHashConfig {
            nodes: 33,
            ..Default::default()
        },
        ConsistentHashConfig {
            vnodes: 0,
            ..Default::default()
        },
        ConsistentHashConfig {
            vnodes: 257,
            ..Default::default()
        },
        ConsistentHashConfig {
            keys: 0,
            ..Default::default()
        },
        ConsistentHashConfig {
            keys: 10_001,
            ..Default::default()
        },
    ];

    for config in cases {
        assert!(
            ConsistentHash::new(config.clone(), 0).is_err(),
            "{config:?} accepted"
        );
    }
}
