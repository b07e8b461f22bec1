//! Consistent hashing: keys on a ring of virtual nodes, compared with mod-N.
//!
//! Every node puts `vnodes` points on a ring of `u64` positions, one per
//! virtual node `node-{id}#{v}`, and every key `key-{i}` hashes to a point of
//! its own. A key belongs to the first virtual node clockwise from it, wrapping
//! past the top of the ring to the lowest point. When a node joins, only the
//! keys that now land on its points change owner, about `K/(N+1)` of `K` keys.
//! The engine also places every key with mod-N hashing, `hash(key) % N` over
//! the live nodes in id order, which moves about `N/(N+1)` of them instead.
//!
//! Both hashes are `xxh3_64` seeded with the engine's seed, so a seed picks
//! one ring layout and one key set, and the same seed always picks the same.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{Metric, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 100.0;

/// Maximum number of live nodes, the same bound as the `nodes` parameter.
pub const MAX_NODES: usize = 32;

/// Parameters of the consistent hashing widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsistentHashConfig {
    /// Nodes on the ring at the start.
    pub nodes: u32,
    /// Virtual nodes (ring positions) per node.
    pub vnodes: u32,
    /// Keys placed on the ring.
    pub keys: u32,
}

impl Default for ConsistentHashConfig {
    fn default() -> Self {
        Self {
            nodes: 4,
            vnodes: 8,
            keys: 200,
        }
    }
}

impl Config for ConsistentHashConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("nodes", self.nodes, 1, 32)?;
        ConfigError::check_range_u32("vnodes", self.vnodes, 1, 256)?;
        ConfigError::check_range_u32("keys", self.keys, 1, 10_000)?;
        Ok(())
    }
}

/// A reader action, applied between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Adds a node with the next id never used before, with `vnodes` points.
    AddNode,
    /// Removes a live node and hands its keys to the next points clockwise.
    RemoveNode {
        /// Id of the node to remove.
        node: u32,
    },
    /// Crashes or restarts a node; see [`ConsistentHash`]'s [`Faults`] impl.
    Fault(Fault),
}

/// An engine event: a membership change or a routed request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A node joined the ring.
    NodeAdded {
        /// Id of the new node.
        node: u32,
        /// Keys whose owner changed on the ring, all of them now on `node`.
        moved_by_ring: u32,
        /// Keys whose owner would have changed under `hash(key) % N`.
        moved_by_mod_n: u32,
        /// Keys placed in total.
        keys: u32,
        /// Simulated time in milliseconds.
        at_ms: f64,
    },
    /// A node left the ring.
    NodeRemoved {
        /// Id of the removed node.
        node: u32,
        /// Keys whose owner changed on the ring, exactly those `node` owned.
        moved_by_ring: u32,
        /// Keys whose owner would have changed under `hash(key) % N`.
        moved_by_mod_n: u32,
        /// Keys placed in total.
        keys: u32,
        /// Simulated time in milliseconds.
        at_ms: f64,
    },
    /// A request for one key was routed to its owner on the ring.
    Lookup {
        /// Index `i` of the key `key-{i}`.
        key: u32,
        /// The key's ring position as a fraction of the ring, in `[0, 1)`.
        key_position: f64,
        /// Ring position of the virtual node that owns the key, in `[0, 1)`.
        vnode_position: f64,
        /// Id of the node that serves the key.
        node: u32,
        /// Simulated time in milliseconds.
        at_ms: f64,
    },
}

/// Whether a membership change added or removed a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveKind {
    /// A node joined.
    Added,
    /// A node left.
    Removed,
    /// A node crashed; clients route its keys to the next node clockwise.
    Crashed,
    /// A crashed node came back at its old ring positions.
    Restarted,
}

/// Key movement caused by the last membership change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoveStats {
    /// Whether the change added or removed a node.
    pub kind: MoveKind,
    /// Id of the node that joined or left.
    pub node: u32,
    /// Keys whose owner changed on the ring.
    pub moved_by_ring: u32,
    /// Keys whose owner would have changed under mod-N hashing.
    pub moved_by_mod_n: u32,
    /// Keys placed in total.
    pub keys: u32,
    /// Simulated time of the change, in milliseconds.
    pub at_ms: f64,
}

/// One virtual node: a point on the ring owned by a node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vnode {
    /// Position as a fraction of the ring, in `[0, 1)`, increasing clockwise.
    pub position: f64,
    /// Id of the owning node.
    pub node: u32,
    /// Index `v` in the label `node-{id}#{v}`.
    pub index: u32,
    #[serde(skip)]
    hash: u64,
}

impl Vnode {
    /// Returns the raw ring position, the `xxh3_64` hash of the label.
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// One key and where each scheme places it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Key {
    /// Position as a fraction of the ring, in `[0, 1)`.
    pub position: f64,
    /// Id of the node that owns the key on the ring.
    pub node: u32,
    /// Id of the node that mod-N hashing picks for the key.
    pub mod_n_node: u32,
    #[serde(skip)]
    hash: u64,
}

impl Key {
    /// Returns the raw ring position, the `xxh3_64` hash of `key-{i}`.
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// Load on one node: the keys it owns and its share of the ring.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeLoad {
    /// Node id.
    pub node: u32,
    /// Keys the node owns on the ring.
    pub keys: u32,
    /// Fraction of the ring the node's virtual nodes cover, in `[0, 1]`.
    pub ring_share: f64,
}

/// The consistent hashing engine.
#[derive(Debug, Clone)]
pub struct ConsistentHash {
    config: ConsistentHashConfig,
    seed: u64,
    rng: SimRng,
    now_ms: f64,
    /// Live node ids, ascending: the order mod-N hashing indexes into.
    nodes: Vec<u32>,
    next_id: u32,
    /// Virtual nodes sorted by (hash, node, index), so ties break the same way everywhere.
    ring: Vec<Vnode>,
    keys: Vec<Key>,
    last_move: Option<MoveStats>,
    /// Crashed node ids, ascending; a restart puts them back at the same positions.
    crashed: Vec<u32>,
}

impl ConsistentHash {
    /// Returns the configuration the engine was built with.
    pub fn config(&self) -> &ConsistentHashConfig {
        &self.config
    }

    /// Live node ids in ascending order.
    pub fn nodes(&self) -> &[u32] {
        &self.nodes
    }

    /// Virtual nodes in clockwise order, for drawing the ring coloured by owner.
    pub fn ring(&self) -> &[Vnode] {
        &self.ring
    }

    /// Keys by index `i`, each with its position and its owner under both schemes.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Key count and ring share per live node, in ascending id order.
    pub fn node_loads(&self) -> Vec<NodeLoad> {
        let mut loads: Vec<NodeLoad> = self
            .nodes
            .iter()
            .map(|&node| NodeLoad {
                node,
                keys: 0,
                ring_share: 0.0,
            })
            .collect();
        for key in &self.keys {
            if let Some(load) = find_load(&mut loads, key.node) {
                load.keys += 1;
            }
        }
        for (node, share) in ring_shares(&self.ring) {
            if let Some(load) = find_load(&mut loads, node) {
                load.ring_share += share;
            }
        }
        loads
    }

    /// Population standard deviation of the key count per live node.
    pub fn load_std_dev(&self) -> f64 {
        let counts = self.key_counts();
        let n = counts.len() as f64;
        let mean = f64::from(self.config.keys) / n;
        let variance = counts
            .iter()
            .map(|&count| {
                let deviation = f64::from(count) - mean;
                deviation * deviation
            })
            .sum::<f64>()
            / n;
        libm::sqrt(variance)
    }

    /// Largest key count on one node divided by the mean, 1.0 when perfectly even.
    pub fn load_max_over_mean(&self) -> f64 {
        let counts = self.key_counts();
        let mean = f64::from(self.config.keys) / counts.len() as f64;
        let max = counts.iter().copied().max().unwrap_or(0);
        f64::from(max) / mean
    }

    /// Movement caused by the last node added or removed, if any.
    pub fn last_move(&self) -> Option<&MoveStats> {
        self.last_move.as_ref()
    }

    /// Key count per live node, in ascending id order.
    fn key_counts(&self) -> Vec<u32> {
        self.node_loads().iter().map(|load| load.keys).collect()
    }

    fn vnodes_of(&self, node: u32) -> impl Iterator<Item = Vnode> + '_ {
        (0..self.config.vnodes).map(move |index| {
            let hash = xxh3_64_with_seed(format!("node-{node}#{index}").as_bytes(), self.seed);
            Vnode {
                position: fraction(hash),
                node,
                index,
                hash,
            }
        })
    }

    /// Recomputes every key's owner under both schemes and returns how many
    /// keys changed owner on the ring and under mod-N.
    fn place_keys(&mut self) -> (u32, u32) {
        let mut moved_by_ring = 0;
        let mut moved_by_mod_n = 0;
        for key in &mut self.keys {
            let ring_node = owner_on_ring(&self.ring, key.hash).map_or(key.node, |v| v.node);
            let mod_n_node = owner_mod_n(&self.nodes, key.hash).unwrap_or(key.mod_n_node);
            if ring_node != key.node {
                moved_by_ring += 1;
            }
            if mod_n_node != key.mod_n_node {
                moved_by_mod_n += 1;
            }
            key.node = ring_node;
            key.mod_n_node = mod_n_node;
        }
        (moved_by_ring, moved_by_mod_n)
    }

    fn record_move(&mut self, kind: MoveKind, node: u32) -> MoveStats {
        let (moved_by_ring, moved_by_mod_n) = self.place_keys();
        let stats = MoveStats {
            kind,
            node,
            moved_by_ring,
            moved_by_mod_n,
            keys: self.config.keys,
            at_ms: self.now_ms,
        };
        self.last_move = Some(stats.clone());
        stats
    }

    fn add_node(&mut self) -> Result<Event, ActionError> {
        if self.nodes.len() >= MAX_NODES {
            return Err(ActionError(format!(
                "cannot add a node: the ring already has the maximum of {MAX_NODES} nodes. \
                 Remove a node first."
            )));
        }
        let node = self.next_id;
        self.next_id = node.checked_add(1).ok_or_else(|| {
            ActionError("cannot add a node: every node id has been used. Reset the widget.".into())
        })?;

        let added: Vec<Vnode> = self.vnodes_of(node).collect();
        self.ring.extend(added);
        sort_ring(&mut self.ring);
        // Ids only grow, so pushing keeps `nodes` ascending.
        self.nodes.push(node);

        let stats = self.record_move(MoveKind::Added, node);
        Ok(Event::NodeAdded {
            node,
            moved_by_ring: stats.moved_by_ring,
            moved_by_mod_n: stats.moved_by_mod_n,
            keys: stats.keys,
            at_ms: stats.at_ms,
        })
    }

    fn remove_node(&mut self, node: u32) -> Result<Event, ActionError> {
        let Some(slot) = self.nodes.iter().position(|&id| id == node) else {
            return Err(ActionError(format!(
                "cannot remove node {node}: it is not on the ring. Live nodes are {:?}.",
                self.nodes
            )));
        };
        if self.nodes.len() == 1 {
            return Err(ActionError(format!(
                "cannot remove node {node}: it is the last node and its keys would have \
                 no owner. Add a node first."
            )));
        }

        self.nodes.remove(slot);
        self.ring.retain(|vnode| vnode.node != node);

        let stats = self.record_move(MoveKind::Removed, node);
        Ok(Event::NodeRemoved {
            node,
            moved_by_ring: stats.moved_by_ring,
            moved_by_mod_n: stats.moved_by_mod_n,
            keys: stats.keys,
            at_ms: stats.at_ms,
        })
    }
}

impl ConsistentHash {
    fn inject(&mut self, fault: &Fault) -> Result<Event, ActionError> {
        Self::check_fault(fault)?;
        match fault {
            Fault::Crash { node } => self.crash(*node),
            Fault::Restart { node } => self.restart(*node),
            // `check_fault` lets through only crash and restart.
            _ => Err(ActionError(format!("unsupported fault {fault:?}"))),
        }
    }

    /// Takes a node off the ring as a failure detector would: its keys fall
    /// to the next node clockwise, exactly as if it had been removed.
    fn crash(&mut self, node: u32) -> Result<Event, ActionError> {
        let event = self
            .remove_node(node)
            .map_err(|err| ActionError(err.0.replace("cannot remove node", "cannot crash node")))?;
        if let Err(slot) = self.crashed.binary_search(&node) {
            self.crashed.insert(slot, node);
        }
        if let Some(last) = &mut self.last_move {
            last.kind = MoveKind::Crashed;
        }
        Ok(event)
    }

    /// Puts a crashed node back at its old positions, so exactly the keys it
    /// lost come back to it.
    fn restart(&mut self, node: u32) -> Result<Event, ActionError> {
        let Ok(slot) = self.crashed.binary_search(&node) else {
            return Err(ActionError(format!(
                "cannot restart node {node}: it has not crashed. Crashed nodes are {:?}.",
                self.crashed
            )));
        };
        if self.nodes.len() >= MAX_NODES {
            return Err(ActionError(format!(
                "cannot restart node {node}: the ring already has the maximum of {MAX_NODES} \
                 nodes. Remove a node first."
            )));
        }
        self.crashed.remove(slot);
        let restored: Vec<Vnode> = self.vnodes_of(node).collect();
        self.ring.extend(restored);
        sort_ring(&mut self.ring);
        if let Err(at) = self.nodes.binary_search(&node) {
            self.nodes.insert(at, node);
        }
        let stats = self.record_move(MoveKind::Restarted, node);
        Ok(Event::NodeAdded {
            node,
            moved_by_ring: stats.moved_by_ring,
            moved_by_mod_n: stats.moved_by_mod_n,
            keys: stats.keys,
            at_ms: stats.at_ms,
        })
    }

    /// Crashed node ids, ascending.
    pub fn crashed(&self) -> &[u32] {
        &self.crashed
    }
}

impl Faults for ConsistentHash {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        let mut statuses: Vec<NodeStatus> = self
            .nodes
            .iter()
            .map(|&id| NodeStatus {
                id,
                label: format!("node {id}"),
                up: true,
            })
            .chain(self.crashed.iter().map(|&id| NodeStatus {
                id,
                label: format!("node {id}"),
                up: false,
            }))
            .collect();
        statuses.sort_by_key(|status| status.id);
        statuses
    }
}

impl Engine for ConsistentHash {
    type Config = ConsistentHashConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: ConsistentHashConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut engine = Self {
            nodes: (0..config.nodes).collect(),
            next_id: config.nodes,
            ring: Vec::new(),
            keys: Vec::new(),
            config,
            seed,
            rng: SimRng::new(seed),
            now_ms: 0.0,
            last_move: None,
            crashed: Vec::new(),
        };

        let ring: Vec<Vnode> = engine
            .nodes
            .iter()
            .flat_map(|&node| engine.vnodes_of(node))
            .collect();
        engine.ring = ring;
        sort_ring(&mut engine.ring);

        engine.keys = (0..engine.config.keys)
            .map(|i| {
                let hash = xxh3_64_with_seed(format!("key-{i}").as_bytes(), seed);
                Key {
                    position: fraction(hash),
                    node: 0,
                    mod_n_node: 0,
                    hash,
                }
            })
            .collect();
        engine.place_keys();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.now_ms += STEP_MS;

        let index = self.rng.below(u64::from(self.config.keys));
        let Some(key) = usize::try_from(index).ok().and_then(|i| self.keys.get(i)) else {
            return Vec::new();
        };
        let Some(vnode) = owner_on_ring(&self.ring, key.hash) else {
            return Vec::new();
        };
        vec![Event::Lookup {
            // `index` is below `keys`, a u32, so the conversion is lossless.
            key: u32::try_from(index).unwrap_or(u32::MAX),
            key_position: key.position,
            vnode_position: vnode.position,
            node: vnode.node,
            at_ms: self.now_ms,
        }]
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let event = match action {
            Action::AddNode => self.add_node()?,
            Action::RemoveNode { node } => self.remove_node(*node)?,
            Action::Fault(fault) => self.inject(fault)?,
        };
        Ok(vec![event])
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let (moved_ring, moved_mod_n) = match &self.last_move {
            Some(last) => {
                let share = |moved: u32| 100.0 * f64::from(moved) / f64::from(last.keys.max(1));
                let verb = match last.kind {
                    MoveKind::Added => "added",
                    MoveKind::Removed => "removed",
                    MoveKind::Crashed => "crashed",
                    MoveKind::Restarted => "restarted",
                };
                (
                    Metric::new(
                        "moved-ring",
                        "Moved by the ring",
                        f64::from(last.moved_by_ring),
                        format!(
                            "{} ({:.0}%, node {} {verb})",
                            last.moved_by_ring,
                            share(last.moved_by_ring),
                            last.node
                        ),
                    ),
                    Metric::new(
                        "moved-mod-n",
                        "Mod-N would move",
                        f64::from(last.moved_by_mod_n),
                        format!(
                            "{} ({:.0}%)",
                            last.moved_by_mod_n,
                            share(last.moved_by_mod_n)
                        ),
                    ),
                )
            }
            None => (
                Metric::new("moved-ring", "Moved by the ring", f64::NAN, "–".to_string()),
                Metric::new("moved-mod-n", "Mod-N would move", f64::NAN, "–".to_string()),
            ),
        };
        let max_over_mean = self.load_max_over_mean();
        let std_dev = self.load_std_dev();
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                moved_ring,
                moved_mod_n,
                Metric::count("nodes", "Nodes", self.nodes().len() as u64),
                Metric::new(
                    "max-over-mean",
                    "Busiest node / mean",
                    max_over_mean,
                    format!("{max_over_mean:.2}"),
                ),
                Metric::new(
                    "std-dev",
                    "Load std dev (keys)",
                    std_dev,
                    format!("{std_dev:.1}"),
                ),
            ],
            latency: None,
            samples: Vec::new(),
        }
    }
}

/// Maps a ring position to a fraction of the ring in `[0, 1)`.
///
/// Keeping the top 53 bits makes the division exact, so the largest hash maps
/// below 1.0 instead of rounding up to it.
fn fraction(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

fn sort_ring(ring: &mut [Vnode]) {
    ring.sort_by_key(|vnode| (vnode.hash, vnode.node, vnode.index));
}

/// Finds the first virtual node clockwise from `hash`, at or after it,
/// wrapping to the lowest point. Returns `None` only for an empty ring.
fn owner_on_ring(ring: &[Vnode], hash: u64) -> Option<&Vnode> {
    let at = ring.partition_point(|vnode| vnode.hash < hash);
    ring.get(at).or_else(|| ring.first())
}

/// Picks `nodes[hash % N]`, or returns `None` when no node is live.
fn owner_mod_n(nodes: &[u32], hash: u64) -> Option<u32> {
    let count = u64::try_from(nodes.len()).ok().filter(|&n| n > 0)?;
    let slot = usize::try_from(hash % count).ok()?;
    nodes.get(slot).copied()
}

/// Yields each virtual node's owner with the arc it covers: from the point
/// before it (exclusive) up to itself, as a fraction of the ring.
fn ring_shares(ring: &[Vnode]) -> impl Iterator<Item = (u32, f64)> + '_ {
    const RING_SIZE: f64 = 18_446_744_073_709_551_616.0; // 2^64
    let previous = ring.last().map_or(0, |vnode| vnode.hash);
    let single = ring.len() == 1;
    ring.iter().scan(previous, move |previous, vnode| {
        // A lone point covers the whole ring, which a wrapping difference reports as 0.
        let arc = if single {
            1.0
        } else {
            vnode.hash.wrapping_sub(*previous) as f64 / RING_SIZE
        };
        *previous = vnode.hash;
        Some((vnode.node, arc))
    })
}

fn find_load(loads: &mut [NodeLoad], node: u32) -> Option<&mut NodeLoad> {
    loads.iter_mut().find(|load| load.node == node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(nodes: u32, vnodes: u32, keys: u32) -> ConsistentHash {
        let config = ConsistentHashConfig {
            nodes,
            vnodes,
            keys,
        };
        match ConsistentHash::new(config, 7) {
            Ok(engine) => engine,
            Err(err) => panic!("valid config rejected: {err}"),
        }
    }

    #[test]
    fn fraction_stays_below_one() {
        assert!(fraction(u64::MAX) < 1.0);
        assert_eq!(fraction(0), 0.0);
    }

    #[test]
    fn lookup_wraps_past_the_top_of_the_ring() {
        let engine = engine(3, 2, 1);
        let lowest = engine.ring()[0].hash();
        let highest = engine.ring()[engine.ring().len() - 1].hash();

        let owner = owner_on_ring(engine.ring(), highest.saturating_add(1)).map(|v| v.hash());

        assert_eq!(owner, Some(lowest));
    }

    #[test]
    fn key_on_a_vnode_belongs_to_that_vnode() {
        let engine = engine(3, 4, 1);
        let vnode = &engine.ring()[5];

        let owner = owner_on_ring(engine.ring(), vnode.hash()).map(|v| (v.node, v.index));

        assert_eq!(owner, Some((vnode.node, vnode.index)));
    }

    #[test]
    fn ring_shares_sum_to_one() {
        for (nodes, vnodes) in [(1, 1), (1, 8), (4, 8), (32, 256)] {
            let engine = engine(nodes, vnodes, 1);

            let total: f64 = engine.node_loads().iter().map(|load| load.ring_share).sum();

            assert!(
                (total - 1.0).abs() < 1e-9,
                "nodes={nodes} vnodes={vnodes}: {total}"
            );
        }
    }

    #[test]
    fn mod_n_picks_by_index_in_id_order() {
        let nodes = [2, 5, 9];

        assert_eq!(owner_mod_n(&nodes, 7), Some(5));
        assert_eq!(owner_mod_n(&[], 7), None);
    }

    #[test]
    fn add_node_is_rejected_at_max_nodes() {
        let mut engine = engine(32, 1, 10);

        let result = engine.apply(&Action::AddNode);

        assert!(result.is_err());
    }

    #[test]
    fn events_serialize_with_snake_case_tags() {
        let mut engine = engine(2, 2, 5);

        let events = engine.apply(&Action::AddNode).unwrap_or_default();
        let json = serde_json::to_string(&events).unwrap_or_default();

        assert!(
            json.starts_with(r#"[{"type":"node_added","node":2,"#),
            "{json}"
        );
    }
}
