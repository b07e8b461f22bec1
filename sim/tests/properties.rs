//! Property-based robustness tests for every engine.
//!
//! Each case draws a valid configuration from the full range that the engine's
//! `Config::validate` accepts (the range ends included), an engine seed, and a
//! list of operations that interleaves steps with reader actions, some of them
//! invalid. For the engines with faults, the actions include crashes and
//! restarts of up, down and unknown nodes, and fault kinds the engine does not
//! support. After every step and every action the engine's invariants are
//! checked against the engine's accessors and against a model rebuilt from the
//! events. Separate properties feed invalid configurations to `Engine::new`.
//!
//! Cases come from a fixed generator seed, [`GENERATOR_SEED`], so every run
//! draws the same cases. The environment variable `PROPTEST_RNG_SEED` picks
//! other cases, and `PROPTEST_CASES` raises the count above [`MIN_CASES`].
//! A failing case is shrunk and reported with the invariant it broke and the
//! whole case (configuration, engine seed, operations). Its generator seed is
//! saved to `sim/proptest-regressions/properties.txt`, and every later run
//! replays the saved seeds first.

use sim::queue::{self as open_queue, Chart, MAX_QUEUE, Queue, QueueConfig};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{
    FailurePersistence, FileFailurePersistence, RngAlgorithm, RngSeed, TestCaseError,
};
use sim::availability::{self, Availability, AvailabilityConfig, MAX_COMPONENT_AVAILABILITY};
use sim::cdn::{self, Cdn, CdnConfig};
use sim::circuit_breaker::{self, BreakerState, CircuitBreaker, CircuitBreakerConfig};
use sim::client_server::{self, ClientServer, ClientServerConfig, ClientState};
use sim::consistent_hash::{self, ConsistentHash, ConsistentHashConfig, MAX_NODES, MoveKind};
use sim::data_model::{self, DataModel, DataModelConfig};
use sim::dns::{self, Dns, DnsConfig};
use sim::faults::{Fault, Faults, MAX_DELAY_MS, NodeStatus};
use sim::http_api::{self, Design, HttpApi, HttpApiConfig, Method};
use sim::idempotency::{self, Idempotency, IdempotencyConfig};
use sim::indexing::{self, Indexing, IndexingConfig};
use sim::load_balancer::{self, LoadBalancer, LoadBalancerConfig, Policy};
use sim::message_queue::{self, MessageQueue, MessageQueueConfig};
use sim::pagination::{self, Pagination, PaginationConfig};
use sim::proxy::{self, Mode, Outcome, Proxy, ProxyConfig};
use sim::storage::{self, Storage, StorageConfig};
use sim::token_bucket::{self, MAX_BURST, TokenBucket, TokenBucketConfig};
use sim::{Config, Engine};

/// Generator seed used unless `PROPTEST_RNG_SEED` sets another.
const GENERATOR_SEED: u64 = 0x5eed_f00d_5eed;

/// Minimum number of cases each property runs.
const MIN_CASES: u32 = 10_000;

/// File of generator seeds that failed before, replayed at the start of every run.
const REGRESSIONS_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/properties.txt"
);

/// Maximum number of operations in one case.
const MAX_OPS: usize = 24;

/// Slack for float comparisons of token counts and times, far below a whole token.
const TOLERANCE: f64 = 1e-6;

fn proptest_config() -> ProptestConfig {
    let defaults = ProptestConfig::default();
    let rng_seed = match defaults.rng_seed {
        RngSeed::Random => RngSeed::Fixed(GENERATOR_SEED),
        fixed => fixed,
    };
    // `PROPTEST_DISABLE_FAILURE_PERSISTENCE` clears the default persistence, so keep it off then.
    let failure_persistence = defaults.failure_persistence.as_ref().map(|_| {
        Box::new(FileFailurePersistence::Direct(REGRESSIONS_FILE)) as Box<dyn FailurePersistence>
    });
    ProptestConfig {
        cases: defaults.cases.max(MIN_CASES),
        rng_seed,
        // The generator runs unoptimized in test builds, where XorShift is several times faster
        // than the default ChaCha and just as reproducible from a seed.
        rng_algorithm: RngAlgorithm::XorShift,
        failure_persistence,
        ..defaults
    }
}

/// Returns early from a check with a message when `condition` is false. A comparison with NaN
/// is false, so a NaN value fails the check.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {{
        let satisfied: bool = $condition;
        if !satisfied {
            return Err(format!($($message)+));
        }
    }};
}

/// One generated case: what the failure report prints.
#[derive(Debug, Clone)]
struct Case<C, O> {
    config: C,
    seed: u64,
    ops: Vec<O>,
}

/// Builds the failure report: the broken invariant, where it broke, and the whole case.
fn violation<C: Debug, O: Debug>(case: &Case<C, O>, at: &str, message: &str) -> TestCaseError {
    TestCaseError::fail(format!("{message}\n  at {at}\n  case: {case:#?}"))
}

/// Describes the position in a case for a failure report.
fn position<O: Debug>(index: usize, op: &O, now_ms: f64) -> String {
    format!("op {index} ({op:?}), now_ms {now_ms}")
}

/// Describes an action's result briefly: a successful burst can carry a thousand events.
fn describe<T, E: Debug>(result: &Result<Vec<T>, E>) -> String {
    match result {
        Ok(events) => format!("Ok with {} events", events.len()),
        Err(err) => format!("{err:?}"),
    }
}

/// Lists the fields that differ between two snapshots of the same type.
macro_rules! changed_fields {
    ($before:expr, $after:expr, $($field:ident),+ $(,)?) => {{
        let mut changed: Vec<&str> = Vec::new();
        $(
            if $before.$field != $after.$field {
                changed.push(stringify!($field));
            }
        )+
        changed
    }};
}

/// Draws a whole number from `min..=max`: the ends, uniform values, and log-uniform values that
/// reach the small end of a wide range as often as the large end.
fn u32_in(min: u32, max: u32) -> impl Strategy<Value = u32> + Clone {
    let (log_min, log_max) = (f64::from(min.max(1)).ln(), f64::from(max).ln());
    prop_oneof![
        1 => Just(min),
        1 => Just(max),
        2 => min..=max,
        4 => (log_min..=log_max)
            .prop_map(move |exponent| (exponent.exp().round() as u32).clamp(min, max)),
    ]
}

/// Draws a whole number outside `min..=max`: zero (when `min` is above it), `max + 1`, up to
/// `u32::MAX`.
fn u32_outside(min: u32, max: u32) -> impl Strategy<Value = u32> + Clone {
    let below = if min > 0 { 0 } else { max + 1 };
    prop_oneof![
        Just(below),
        Just(max + 1),
        Just(u32::MAX),
        (max + 1)..=u32::MAX,
    ]
}

/// Draws a real number from `min..=max`: the ends, uniform values, and log-uniform values
/// that reach the small end of a wide range.
fn f64_in(min: f64, max: f64) -> impl Strategy<Value = f64> + Clone {
    let log_low = if min > 0.0 { min } else { 1e-3 };
    prop_oneof![
        1 => Just(min),
        1 => Just(max),
        2 => min..=max,
        2 => (log_low.ln()..=max.ln()).prop_map(move |exponent| exponent.exp().clamp(min, max)),
    ]
}

/// Draws a real number that `check_range_f64(min, max)` rejects: NaN, the infinities, negative
/// numbers, values just outside either end, and large values.
fn f64_outside(min: f64, max: f64) -> BoxedStrategy<f64> {
    let above = prop_oneof![
        Just(next_up(max)),
        Just(f64::MAX),
        Just(f64::INFINITY),
        (max + 1.0)..1e12,
    ];
    let non_finite = prop_oneof![Just(f64::NAN), Just(f64::NEG_INFINITY)];
    let negative = prop_oneof![Just(-1.0), -1e12..-1e-12, Just(-f64::MAX)];
    if min > 0.0 {
        let below = prop_oneof![Just(0.0), Just(-0.0), Just(next_down(min)), 0.0..min];
        prop_oneof![above, non_finite, negative, below].boxed()
    } else {
        // `-0.0` equals `0.0`, so a zero minimum accepts it and only strict negatives are below.
        prop_oneof![above, non_finite, negative].boxed()
    }
}

/// Returns the next representable value above a positive finite `value`.
fn next_up(value: f64) -> f64 {
    f64::from_bits(value.to_bits() + 1)
}

/// Returns the next representable value below a positive finite `value`.
fn next_down(value: f64) -> f64 {
    f64::from_bits(value.to_bits() - 1)
}

fn engine_seed() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0), 1 => Just(u64::MAX), 6 => any::<u64>()]
}

/// Checks that `new` rejects `config` with an error naming `expected_field`, the first invalid
/// field in the order `validate` checks them.
fn check_rejected<E: Engine>(config: E::Config, expected_field: &str) -> Result<(), String>
where
    E::Config: Debug,
{
    let validated = config.validate();
    let built = E::new(config, 1);
    let Err(err) = built else {
        return Err(
            "invariant `invalid config is rejected` broken: Engine::new returned Ok".into(),
        );
    };
    ensure!(
        err.field == expected_field,
        "invariant `error names the first invalid field` broken: got `{}` ({err}), expected `{expected_field}`",
        err.field
    );
    ensure!(
        !err.reason.is_empty(),
        "invariant `error gives a reason` broken: empty reason for `{}`",
        err.field
    );
    ensure!(
        validated == Err(err.clone()),
        "invariant `new reports what validate reports` broken: validate gave {validated:?}, new gave {err:?}"
    );
    Ok(())
}

/// An invalid configuration and the field `validate` must name.
#[derive(Debug, Clone)]
struct InvalidConfig<C> {
    config: C,
    first_invalid: &'static str,
}

/// Returns `invalid` if bit `bit` of `mask` is set, else `valid`.
fn pick<T>(mask: u8, bit: u8, invalid: T, valid: T) -> T {
    if mask & (1 << bit) != 0 {
        invalid
    } else {
        valid
    }
}

/// Returns the name of the first field whose bit is set in `mask`, where bit 0 stands for the
/// first field that `validate` checks.
fn first_set(mask: u8, names: &[&'static str]) -> &'static str {
    names
        .iter()
        .enumerate()
        .find(|(bit, _)| mask & (1 << bit) != 0)
        .map_or("", |(_, name)| name)
}

// ---------------------------------------------------------------------------------------------
// Faults, for the engines that support them
// ---------------------------------------------------------------------------------------------

/// The node a crash or restart names, picked against the state when the operation runs.
#[derive(Debug, Clone)]
enum Target {
    /// The node that is up at this index among the up nodes, or a down one if none is up.
    Up(Index),
    /// The node that is down at this index among the down nodes, or an up one if none is down.
    Down(Index),
    /// This id: an up or down node, a removed one, or one never used.
    Id(u32),
}

impl Target {
    /// Returns the id this target names, given the up and down node ids.
    fn resolve(&self, up: &[u32], down: &[u32]) -> u32 {
        let pick = |index: &Index, first: &[u32], second: &[u32]| {
            let from = if first.is_empty() { second } else { first };
            from.get(index.index(from.len().max(1)))
                .copied()
                .unwrap_or(0)
        };
        match self {
            Self::Up(index) => pick(index, up, down),
            Self::Down(index) => pick(index, down, up),
            Self::Id(id) => *id,
        }
    }
}

/// Draws crash targets: mostly up nodes, which a crash takes down, and sometimes down or
/// unknown ones, which the engine must reject.
fn crash_target() -> impl Strategy<Value = Target> {
    prop_oneof![
        4 => any::<Index>().prop_map(Target::Up),
        1 => any::<Index>().prop_map(Target::Down),
        1 => (0u32..64).prop_map(Target::Id),
        1 => any::<u32>().prop_map(Target::Id),
    ]
}

/// Draws restart targets: mostly down nodes, which a restart brings back, and sometimes up or
/// unknown ones, which the engine must reject.
fn restart_target() -> impl Strategy<Value = Target> {
    prop_oneof![
        4 => any::<Index>().prop_map(Target::Down),
        1 => any::<Index>().prop_map(Target::Up),
        1 => (0u32..64).prop_map(Target::Id),
        1 => any::<u32>().prop_map(Target::Id),
    ]
}

/// Draws a fault of a kind other than crash and restart, with valid or invalid values. Neither
/// engine supports these, so each must be rejected.
fn unsupported_fault() -> impl Strategy<Value = Fault> {
    let groups = prop::collection::vec(prop::collection::vec(0u32..8, 0..3), 0..4);
    let probability = prop_oneof![f64_in(0.0, 1.0), f64_outside(0.0, 1.0)];
    let delay = prop_oneof![f64_in(0.0, MAX_DELAY_MS), f64_outside(0.0, MAX_DELAY_MS)];
    prop_oneof![
        Just(Fault::Heal),
        groups.prop_map(|groups| Fault::Partition { groups }),
        probability.prop_map(|probability| Fault::DropMessages { probability }),
        delay.prop_map(|ms| Fault::DelayMessages { ms }),
        any::<bool>().prop_map(|failing| Fault::FailDependency { failing }),
    ]
}

/// Checks that the fault controls list exactly the `up` and `down` nodes, in rising id order.
fn check_node_statuses(statuses: &[NodeStatus], up: &[u32], down: &[u32]) -> Result<(), String> {
    let mut expected: Vec<(u32, bool)> = up
        .iter()
        .map(|&id| (id, true))
        .chain(down.iter().map(|&id| (id, false)))
        .collect();
    expected.sort_unstable();
    let listed: Vec<(u32, bool)> = statuses
        .iter()
        .map(|status| (status.id, status.up))
        .collect();
    ensure!(
        listed == expected,
        "invariant `node statuses list the up and down nodes` broken: listed {listed:?}, expected {expected:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Token bucket
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum BucketOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::Burst` with this count, valid or not.
    Burst(u32),
}

type BucketCase = Case<TokenBucketConfig, BucketOp>;

fn bucket_config() -> impl Strategy<Value = TokenBucketConfig> {
    (u32_in(1, 1000), f64_in(0.01, 1000.0), f64_in(0.0, 1000.0)).prop_map(
        |(capacity, refill_per_s, arrival_per_s)| TokenBucketConfig {
            capacity,
            refill_per_s,
            arrival_per_s,
        },
    )
}

fn bucket_op() -> impl Strategy<Value = BucketOp> {
    prop_oneof![
        5 => (1u32..=10).prop_map(BucketOp::Step),
        3 => u32_in(1, MAX_BURST).prop_map(BucketOp::Burst),
        1 => u32_outside(1, MAX_BURST).prop_map(BucketOp::Burst),
    ]
}

fn bucket_case() -> impl Strategy<Value = BucketCase> {
    (
        bucket_config(),
        engine_seed(),
        prop::collection::vec(bucket_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// The bucket rebuilt from the events alone.
struct BucketModel {
    capacity: f64,
    refill_per_s: f64,
    /// Time and level of the last decision, the start (full bucket) before any.
    last_ms: f64,
    last_tokens: f64,
    accepted: u64,
    rejected: u64,
    /// Minimum over accepted requests `i` (0-based, in order) of `i - refill_per_s * t_i`, with
    /// `t_i` in seconds, and the index and time where it occurred. Request `j` breaks the window
    /// bound for some `[t_i, t_j]` exactly when `(j - refill_per_s * t_j) - min + 1 > capacity`.
    min_slack: Option<(f64, u64, f64)>,
}

impl BucketModel {
    fn new(config: &TokenBucketConfig) -> Self {
        Self {
            capacity: f64::from(config.capacity),
            refill_per_s: config.refill_per_s,
            last_ms: 0.0,
            last_tokens: f64::from(config.capacity),
            accepted: 0,
            rejected: 0,
            min_slack: None,
        }
    }

    /// Computes the level at `at_ms` from the last decision, refilled and capped.
    fn level_at(&self, at_ms: f64) -> f64 {
        let refilled = self.last_tokens + self.refill_per_s * (at_ms - self.last_ms) / 1000.0;
        refilled.min(self.capacity)
    }

    /// Checks each decision against the level the model expects and the window bound.
    fn check_events(
        &mut self,
        events: &[token_bucket::Event],
        from_ms: f64,
        to_ms: f64,
    ) -> Result<(), String> {
        for event in events {
            let (accepted, at_ms, tokens) = match *event {
                token_bucket::Event::Accepted { at_ms, tokens } => (true, at_ms, tokens),
                token_bucket::Event::Rejected { at_ms, tokens } => (false, at_ms, tokens),
                #[allow(unreachable_patterns)]
                _ => return Err(unexpected_event(event)),
            };
            ensure!(
                at_ms >= from_ms && at_ms <= to_ms,
                "invariant `event time lies in the step or action` broken: at_ms {at_ms} outside [{from_ms}, {to_ms}]"
            );
            ensure!(
                at_ms >= self.last_ms,
                "invariant `decisions are in time order` broken: at_ms {at_ms} before previous decision at {}",
                self.last_ms
            );
            ensure!(
                (0.0..=self.capacity).contains(&tokens),
                "invariant `tokens stay in [0, capacity]` broken: event at {at_ms} ms reports {tokens} tokens, capacity {}",
                self.capacity
            );
            let level = self.level_at(at_ms);
            if accepted {
                ensure!(
                    level >= 1.0 - TOLERANCE,
                    "invariant `acceptance only with a whole token` broken: accepted at {at_ms} ms with {level} tokens"
                );
                ensure!(
                    (tokens - (level - 1.0).max(0.0)).abs() <= TOLERANCE,
                    "invariant `acceptance takes one token` broken: at {at_ms} ms level {level}, reported {tokens} after"
                );
                self.check_window(at_ms)?;
                self.accepted += 1;
            } else {
                ensure!(
                    level < 1.0,
                    "invariant `rejections only when tokens < 1` broken: rejected at {at_ms} ms with {level} tokens"
                );
                ensure!(
                    tokens < 1.0 && (tokens - level).abs() <= TOLERANCE,
                    "invariant `rejection reports the level` broken: at {at_ms} ms level {level}, reported {tokens}"
                );
                self.rejected += 1;
            }
            // Continue from the engine's own level so rounding does not build up in the model.
            self.last_ms = at_ms;
            self.last_tokens = tokens;
        }
        Ok(())
    }

    /// Checks that no window ending at this accepted request contains more than
    /// `capacity + refill_per_s * elapsed` accepted requests.
    fn check_window(&mut self, at_ms: f64) -> Result<(), String> {
        let index = self.accepted;
        let slack = index as f64 - self.refill_per_s * at_ms / 1000.0;
        let (min_slack, first_index, first_ms) = match self.min_slack {
            Some(min) if min.0 <= slack => min,
            _ => (slack, index, at_ms),
        };
        self.min_slack = Some((min_slack, first_index, first_ms));
        let count = index - first_index + 1;
        let bound = self.capacity + self.refill_per_s * (at_ms - first_ms) / 1000.0;
        ensure!(
            slack - min_slack + 1.0 <= self.capacity + TOLERANCE,
            "invariant `accepted <= capacity + refill_per_s * elapsed` broken: {count} accepted in [{first_ms}, {at_ms}] ms, bound {bound}"
        );
        Ok(())
    }
}

/// Checks the engine's accessors against the model after a step or action.
fn check_bucket_state(engine: &TokenBucket, model: &BucketModel, steps: u64) -> Result<(), String> {
    let now_ms = engine.now_ms();
    let tokens = engine.tokens();
    ensure!(
        now_ms == steps as f64 * token_bucket::STEP_MS,
        "invariant `each step advances STEP_MS` broken: now_ms {now_ms} after {steps} steps"
    );

    ensure!(
        (0.0..=model.capacity).contains(&tokens),
        "invariant `tokens stay in [0, capacity]` broken: {tokens} tokens, capacity {}",
        model.capacity
    );
    let expected = model.level_at(now_ms);
    ensure!(
        (tokens - expected).abs() <= TOLERANCE,
        "invariant `level follows the refill` broken: engine has {tokens} tokens, model {expected}"
    );

    ensure!(
        engine.accepted_total() == model.accepted && engine.rejected_total() == model.rejected,
        "invariant `totals count the decisions` broken: engine {}/{} accepted/rejected, events {}/{}",
        engine.accepted_total(),
        engine.rejected_total(),
        model.accepted,
        model.rejected
    );
    ensure!(
        engine.timeline().len() <= token_bucket::TIMELINE_LEN
            && engine.level_trace().len() <= token_bucket::LEVEL_TRACE_LEN,
        "invariant `history is bounded` broken: timeline {}, level trace {}",
        engine.timeline().len(),
        engine.level_trace().len()
    );

    let window_s = token_bucket::RATE_WINDOW_MS / 1000.0;
    let recent = engine.accepted_per_s() * window_s;
    let bound = model.capacity + model.refill_per_s * window_s;
    ensure!(
        recent <= bound + TOLERANCE,
        "invariant `accepted <= capacity + refill_per_s * elapsed` broken: {recent} accepted in the last {window_s} s, bound {bound}"
    );
    ensure!(
        engine.rejected_per_s().is_finite() && engine.rejected_per_s() >= 0.0,
        "invariant `rates are finite` broken: rejected_per_s {}",
        engine.rejected_per_s()
    );
    Ok(())
}

/// The state an invalid action must leave as it was.
struct BucketSnapshot {
    now_ms: f64,
    tokens: f64,
    accepted_total: u64,
    rejected_total: u64,
    timeline: Vec<token_bucket::Decision>,
    level_trace: Vec<(f64, f64)>,
}

fn bucket_snapshot(engine: &TokenBucket) -> BucketSnapshot {
    BucketSnapshot {
        now_ms: engine.now_ms(),
        tokens: engine.tokens(),
        accepted_total: engine.accepted_total(),
        rejected_total: engine.rejected_total(),
        timeline: engine.timeline().copied().collect(),
        level_trace: engine.level_trace().copied().collect(),
    }
}

fn run_bucket_op(
    engine: &mut TokenBucket,
    model: &mut BucketModel,
    steps: &mut u64,
    op: &BucketOp,
) -> Result<(), String> {
    match *op {
        BucketOp::Step(count) => {
            for _ in 0..count {
                let from_ms = engine.now_ms();
                let events = engine.step();
                *steps += 1;
                model.check_events(&events, from_ms, engine.now_ms())?;
                check_bucket_state(engine, model, *steps)?;
            }
        }
        BucketOp::Burst(count) => {
            let action = token_bucket::Action::Burst { count };
            if count == 0 || count > MAX_BURST {
                let before = bucket_snapshot(engine);
                let result = engine.apply(&action);
                ensure!(
                    result.as_ref().is_err_and(|err| !err.0.is_empty()),
                    "invariant `invalid action returns ActionError` broken: burst of {count} returned {}",
                    describe(&result)
                );
                let after = bucket_snapshot(engine);
                let changed = changed_fields!(
                    before,
                    after,
                    now_ms,
                    tokens,
                    accepted_total,
                    rejected_total,
                    timeline,
                    level_trace,
                );
                ensure!(
                    changed.is_empty(),
                    "invariant `invalid action leaves the state unchanged` broken: burst of {count} changed {changed:?}"
                );
            } else {
                let now_ms = engine.now_ms();
                let events = match engine.apply(&action) {
                    Ok(events) => events,
                    Err(err) => {
                        return Err(format!(
                            "invariant `valid action is applied` broken: burst of {count} failed: {err}"
                        ));
                    }
                };
                ensure!(
                    events.len() == count as usize,
                    "invariant `a burst decides every request` broken: {} events for a burst of {count}",
                    events.len()
                );
                model.check_events(&events, now_ms, now_ms)?;
            }
            check_bucket_state(engine, model, *steps)?;
        }
    }
    Ok(())
}

fn run_bucket_case(case: &BucketCase) -> Result<(), TestCaseError> {
    let mut engine = TokenBucket::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    let mut model = BucketModel::new(&case.config);
    let mut steps = 0;
    check_bucket_state(&engine, &model, steps)
        .map_err(|message| violation(case, "start", &message))?;
    for (index, op) in case.ops.iter().enumerate() {
        run_bucket_op(&mut engine, &mut model, &mut steps, op)
            .map_err(|message| violation(case, &position(index, op, engine.now_ms()), &message))?;
    }
    Ok(())
}

fn invalid_bucket_config() -> impl Strategy<Value = InvalidConfig<TokenBucketConfig>> {
    let names = ["capacity", "refill_per_s", "arrival_per_s"];
    (
        bucket_config(),
        1u8..8,
        u32_outside(1, 1000),
        f64_outside(0.01, 1000.0),
        f64_outside(0.0, 1000.0),
    )
        .prop_map(
            move |(valid, mask, capacity, refill_per_s, arrival_per_s)| {
                let config = TokenBucketConfig {
                    capacity: pick(mask, 0, capacity, valid.capacity),
                    refill_per_s: pick(mask, 1, refill_per_s, valid.refill_per_s),
                    arrival_per_s: pick(mask, 2, arrival_per_s, valid.arrival_per_s),
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Client-server
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum ServerOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::SetClients` with this count, valid or not.
    SetClients(u32),
    /// Applies `Action::SetWorkers` with this count, valid or not.
    SetWorkers(u32),
    /// Crashes the worker that the target names, which fails unless it is present and up.
    Crash(Target),
    /// Restarts the worker that the target names, which fails unless it is present and down.
    Restart(Target),
    /// Applies a fault of a kind the engine does not support.
    Unsupported(Fault),
}

type ServerCase = Case<ClientServerConfig, ServerOp>;

/// Maximum `clients` and `workers` that `ClientServerConfig::validate` and the actions accept.
const MAX_CLIENTS: u32 = 200;
const MAX_WORKERS: u32 = 64;

fn server_config() -> impl Strategy<Value = ClientServerConfig> {
    (
        u32_in(1, MAX_CLIENTS),
        u32_in(1, MAX_WORKERS),
        f64_in(1.0, 10_000.0),
        f64_in(0.0, 60_000.0),
    )
        .prop_map(
            |(clients, workers, service_ms, think_ms)| ClientServerConfig {
                clients,
                workers,
                service_ms,
                think_ms,
            },
        )
}

fn server_op() -> impl Strategy<Value = ServerOp> {
    prop_oneof![
        6 => (1u32..=8).prop_map(ServerOp::Step),
        2 => u32_in(1, MAX_CLIENTS).prop_map(ServerOp::SetClients),
        2 => u32_in(1, MAX_WORKERS).prop_map(ServerOp::SetWorkers),
        1 => u32_outside(1, MAX_CLIENTS).prop_map(ServerOp::SetClients),
        1 => u32_outside(1, MAX_WORKERS).prop_map(ServerOp::SetWorkers),
        2 => crash_target().prop_map(ServerOp::Crash),
        2 => restart_target().prop_map(ServerOp::Restart),
        1 => unsupported_fault().prop_map(ServerOp::Unsupported),
    ]
}

fn server_case() -> impl Strategy<Value = ServerCase> {
    (
        server_config(),
        engine_seed(),
        prop::collection::vec(server_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Where a request is, as the events tell it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Queued,
    InService {
        worker_id: u32,
    },
    Completed,
    /// A request lost when its worker crashed.
    Failed,
}

/// The server rebuilt from the events alone.
#[derive(Debug, Default)]
struct ServerModel {
    /// Stage of each request, indexed by request id.
    requests: Vec<Stage>,
    /// Requests sent and not yet started, in the order they were sent. A request that starts on
    /// arrival passes through here too, so it must find the queue empty.
    queue: VecDeque<u64>,
    /// Request that each busy worker serves, by worker id.
    busy: BTreeMap<u32, u64>,
    /// Outstanding request of each waiting client, by client id.
    outstanding: BTreeMap<u32, u64>,
    clients: BTreeSet<u32>,
    workers: BTreeSet<u32>,
    /// Workers that crashed and have not restarted.
    down: BTreeSet<u32>,
    /// The client whose request a crash lost, until it sends again or leaves.
    resending: Option<u32>,
    /// End of service of each request seen in service in the engine's state, by request id.
    done_at_ms: BTreeMap<u64, f64>,
    started: u64,
    completed: u64,
    failed: u64,
}

impl ServerModel {
    fn new(config: &ClientServerConfig) -> Self {
        Self {
            clients: (0..config.clients).collect(),
            workers: (0..config.workers).collect(),
            ..Self::default()
        }
    }

    /// Replays the events of one step or action, checking each against the model.
    fn check_events(
        &mut self,
        events: &[client_server::Event],
        from_ms: f64,
        to_ms: f64,
    ) -> Result<(), String> {
        use client_server::Event;
        let mut last_ms = from_ms;
        // The worker that restarted with requests queued, which must start the head next.
        let mut takes_head: Option<u32> = None;
        for (index, event) in events.iter().enumerate() {
            let Some(at_ms) = event_time(event) else {
                return Err(unexpected_event(event));
            };
            ensure!(
                at_ms >= last_ms && at_ms <= to_ms,
                "invariant `events are in time order within the step` broken: {event:?} after {last_ms}, step ends at {to_ms}"
            );
            last_ms = at_ms;
            if let Some(worker) = takes_head.take() {
                // The FIFO check in `apply_event` makes sure the start is the queue head's.
                ensure!(
                    matches!(*event, Event::Started { worker_id, .. } if worker_id == worker),
                    "invariant `a restarted worker takes the queue head` broken: worker {worker} restarted with {:?} queued, next event {event:?}",
                    self.queue
                );
            }
            let previous = index.checked_sub(1).and_then(|i| events.get(i));
            self.apply_event(event, previous)?;
            if let Event::WorkerRestarted { worker_id, .. } = *event {
                takes_head = (!self.queue.is_empty()).then_some(worker_id);
            }
        }
        ensure!(
            takes_head.is_none(),
            "invariant `a restarted worker takes the queue head` broken: worker {takes_head:?} restarted last with {:?} queued",
            self.queue
        );
        ensure!(
            self.resending.is_none(),
            "invariant `a lost request's client sends again at once` broken: client {:?} neither sent nor left after the crash",
            self.resending
        );
        Ok(())
    }

    fn apply_event(
        &mut self,
        event: &client_server::Event,
        previous: Option<&client_server::Event>,
    ) -> Result<(), String> {
        use client_server::Event;
        match *event {
            Event::Sent {
                request_id,
                client_id,
                ..
            } => {
                ensure!(
                    request_id == self.requests.len() as u64,
                    "invariant `request ids count up from 0` broken: sent {request_id}, expected {}",
                    self.requests.len()
                );
                ensure!(
                    self.clients.contains(&client_id),
                    "invariant `only present clients send` broken: client {client_id} sent {request_id}"
                );
                if let Some(other) = self.outstanding.insert(client_id, request_id) {
                    return Err(format!(
                        "invariant `a client has one request outstanding` broken: client {client_id} sent {request_id} while {other} is in flight"
                    ));
                }
                if self.resending == Some(client_id) {
                    self.resending = None;
                }
                self.requests.push(Stage::Queued);
                self.queue.push_back(request_id);
            }
            Event::Started {
                request_id,
                client_id,
                worker_id,
                wait_ms,
                ..
            } => {
                let stage = self.stage(request_id)?;
                ensure!(
                    stage == Stage::Queued,
                    "invariant `a request starts once` broken: request {request_id} started in stage {stage:?}"
                );
                let sent_just_now = matches!(
                    previous,
                    Some(Event::Sent { request_id: sent, .. }) if *sent == request_id
                );
                // Every sent request enters the model queue, so each start must take its head.
                // A request that starts on arrival is FIFO only when nothing waits ahead of it.
                ensure!(
                    self.queue.front() == Some(&request_id),
                    "invariant `queue is FIFO` broken: request {request_id} started while {:?} waited ahead of it",
                    self.queue
                        .iter()
                        .take_while(|&&id| id != request_id)
                        .collect::<Vec<_>>()
                );
                self.queue.pop_front();
                ensure!(
                    !sent_just_now || wait_ms == 0.0,
                    "invariant `a request that starts on arrival does not wait` broken: request {request_id} waited {wait_ms} ms"
                );
                ensure!(
                    wait_ms >= 0.0,
                    "invariant `waits are not negative` broken: request {request_id} waited {wait_ms} ms"
                );
                ensure!(
                    self.workers.contains(&worker_id),
                    "invariant `only present workers serve` broken: worker {worker_id} started {request_id}"
                );
                ensure!(
                    !self.down.contains(&worker_id),
                    "invariant `a crashed worker serves nothing until restarted` broken: down worker {worker_id} started {request_id}"
                );
                if let Some(other) = self.busy.insert(worker_id, request_id) {
                    return Err(format!(
                        "invariant `each worker serves at most one request` broken: worker {worker_id} started {request_id} while serving {other}"
                    ));
                }
                ensure!(
                    self.outstanding.get(&client_id) == Some(&request_id),
                    "invariant `events name the request's client` broken: {request_id} started for client {client_id}, outstanding {:?}",
                    self.outstanding.get(&client_id)
                );
                self.set_stage(request_id, Stage::InService { worker_id });
                self.started += 1;
            }
            Event::Completed {
                request_id,
                client_id,
                worker_id,
                latency_ms,
                at_ms,
            } => {
                let stage = self.stage(request_id)?;
                ensure!(
                    stage != Stage::Failed,
                    "invariant `a lost request is never completed` broken: request {request_id} completed on worker {worker_id} after its worker crashed"
                );
                ensure!(
                    !self.down.contains(&worker_id),
                    "invariant `a crashed worker serves nothing until restarted` broken: down worker {worker_id} completed {request_id}"
                );
                ensure!(
                    stage == (Stage::InService { worker_id }),
                    "invariant `no request completed twice` broken: request {request_id} completed on worker {worker_id} in stage {stage:?}"
                );
                // A crashed request's completion stays due after a restart, and must not end
                // the restarted worker's next request early.
                let done_at_ms = self.done_at_ms.remove(&request_id);
                ensure!(
                    done_at_ms.is_none_or(|done_at_ms| done_at_ms == at_ms),
                    "invariant `a request completes when its service ends` broken: request {request_id} completed at {at_ms}, due at {done_at_ms:?}"
                );
                ensure!(
                    self.busy.remove(&worker_id) == Some(request_id),
                    "invariant `each worker serves at most one request` broken: worker {worker_id} completed {request_id} it was not serving"
                );
                ensure!(
                    self.outstanding.remove(&client_id) == Some(request_id),
                    "invariant `events name the request's client` broken: {request_id} completed for client {client_id}"
                );
                ensure!(
                    latency_ms >= 0.0,
                    "invariant `latencies are not negative` broken: request {request_id} took {latency_ms} ms"
                );
                self.set_stage(request_id, Stage::Completed);
                self.completed += 1;
            }
            Event::ClientJoined { client_id, .. } => {
                let newest = self.clients.last().copied();
                ensure!(
                    newest.is_none_or(|newest| client_id > newest),
                    "invariant `client ids are never reused` broken: client {client_id} joined after {newest:?}"
                );
                self.clients.insert(client_id);
            }
            Event::ClientLeft { client_id, .. } => {
                ensure!(
                    self.clients.remove(&client_id),
                    "invariant `only present clients leave` broken: client {client_id} left twice or never joined"
                );
                ensure!(
                    !self.outstanding.contains_key(&client_id),
                    "invariant `a client leaves only after its response` broken: client {client_id} left with a request in flight"
                );
                if self.resending == Some(client_id) {
                    self.resending = None;
                }
            }
            Event::WorkerAdded { worker_id, .. } => {
                let newest = self.workers.last().copied();
                ensure!(
                    newest.is_none_or(|newest| worker_id > newest),
                    "invariant `worker ids are never reused` broken: worker {worker_id} added after {newest:?}"
                );
                self.workers.insert(worker_id);
            }
            Event::WorkerRemoved { worker_id, .. } => {
                ensure!(
                    self.workers.remove(&worker_id),
                    "invariant `only present workers leave` broken: worker {worker_id} removed twice or never added"
                );
                ensure!(
                    !self.busy.contains_key(&worker_id),
                    "invariant `a worker leaves only when idle` broken: worker {worker_id} left while serving"
                );
                self.down.remove(&worker_id);
            }
            Event::WorkerCrashed {
                worker_id,
                lost_request_id,
                ..
            } => {
                ensure!(
                    self.workers.contains(&worker_id) && self.down.insert(worker_id),
                    "invariant `only present, up workers crash` broken: worker {worker_id} crashed, workers {:?}, down {:?}",
                    self.workers,
                    self.down
                );
                let serving = self.busy.remove(&worker_id);
                ensure!(
                    serving == lost_request_id,
                    "invariant `a crash loses exactly the request in service` broken: worker {worker_id} lost {lost_request_id:?} while serving {serving:?}"
                );
                if let Some(request_id) = lost_request_id {
                    let client = self
                        .outstanding
                        .iter()
                        .find(|&(_, &outstanding)| outstanding == request_id)
                        .map(|(&client_id, _)| client_id);
                    let Some(client_id) = client else {
                        return Err(format!(
                            "invariant `client states agree with queue and workers` broken: lost request {request_id} has no waiting client"
                        ));
                    };
                    self.outstanding.remove(&client_id);
                    self.done_at_ms.remove(&request_id);
                    self.set_stage(request_id, Stage::Failed);
                    self.failed += 1;
                    self.resending = Some(client_id);
                }
            }
            Event::WorkerRestarted { worker_id, .. } => {
                ensure!(
                    self.workers.contains(&worker_id) && self.down.remove(&worker_id),
                    "invariant `only present, down workers restart` broken: worker {worker_id} restarted, workers {:?}, down {:?}",
                    self.workers,
                    self.down
                );
            }
            #[allow(unreachable_patterns)]
            _ => return Err(unexpected_event(event)),
        }
        Ok(())
    }

    /// Notes when each request in service ends, as the engine shows it, to check the completion
    /// against it.
    fn note_done_times(&mut self, engine: &ClientServer) {
        for serving in engine
            .workers()
            .iter()
            .filter_map(|worker| worker.serving.as_ref())
        {
            self.done_at_ms
                .insert(serving.request.id, serving.done_at_ms);
        }
    }

    fn stage(&self, request_id: u64) -> Result<Stage, String> {
        usize::try_from(request_id)
            .ok()
            .and_then(|index| self.requests.get(index))
            .copied()
            .ok_or_else(|| {
                format!("invariant `only sent requests start or complete` broken: unknown request {request_id}")
            })
    }

    fn set_stage(&mut self, request_id: u64, stage: Stage) {
        if let Some(slot) = usize::try_from(request_id)
            .ok()
            .and_then(|index| self.requests.get_mut(index))
        {
            *slot = stage;
        }
    }
}

/// Reports an event of a kind the model does not replay. An engine may gain event kinds for
/// actions these cases never send, and meeting one fails the case rather than the build.
fn unexpected_event(event: &impl Debug) -> String {
    format!("invariant `only the modelled event kinds occur` broken: {event:?}")
}

/// Returns the time of an event that the model replays, or `None` for any other kind.
fn event_time(event: &client_server::Event) -> Option<f64> {
    use client_server::Event;
    match *event {
        Event::Sent { at_ms, .. }
        | Event::Started { at_ms, .. }
        | Event::Completed { at_ms, .. }
        | Event::ClientJoined { at_ms, .. }
        | Event::ClientLeft { at_ms, .. }
        | Event::WorkerAdded { at_ms, .. }
        | Event::WorkerRemoved { at_ms, .. }
        | Event::WorkerCrashed { at_ms, .. }
        | Event::WorkerRestarted { at_ms, .. } => Some(at_ms),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Checks the engine's state against the model and its own counters.
fn check_server_state(engine: &ClientServer, model: &ServerModel) -> Result<(), String> {
    let sent = engine.sent();
    let completed = engine.completed();
    let failed = engine.failed();
    let in_flight = engine.in_flight() as u64;
    ensure!(
        sent == completed + failed + in_flight,
        "invariant `sent = completed + failed + in flight` broken: sent {sent}, completed {completed}, failed {failed}, in flight {in_flight}"
    );
    ensure!(
        sent == model.requests.len() as u64
            && engine.started() == model.started
            && completed == model.completed
            && failed == model.failed,
        "invariant `counters match the events` broken: sent/started/completed/failed {sent}/{}/{completed}/{failed}, events {}/{}/{}/{}",
        engine.started(),
        model.requests.len(),
        model.started,
        model.completed,
        model.failed
    );
    // A lost request was in service when its worker crashed, so it had started.
    ensure!(
        engine.started() == completed + failed + engine.busy_workers() as u64,
        "invariant `started = completed + failed + in service` broken: started {}, completed {completed}, failed {failed}, busy {}",
        engine.started(),
        engine.busy_workers()
    );

    check_server_queue(engine, model)?;
    check_server_workers(engine, model)?;
    check_server_clients(engine, model)
}

/// Checks the metrics the widget shows. Reading percentiles walks the histograms, so this runs
/// once per operation rather than after every step.
fn check_server_metrics(engine: &ClientServer) -> Result<(), String> {
    let now_ms = engine.now_ms();
    let utilization = engine.utilization();
    ensure!(
        (0.0..=1.0 + TOLERANCE).contains(&utilization),
        "invariant `utilization lies in [0, 1]` broken: {utilization}"
    );
    ensure!(
        engine.throughput_per_s().is_finite() && engine.mean_in_server().is_finite(),
        "invariant `metrics are finite` broken: throughput {}, mean in server {}",
        engine.throughput_per_s(),
        engine.mean_in_server()
    );
    for percentiles in [
        engine.latency_percentiles(),
        engine.recent_latency_percentiles(),
    ]
    .into_iter()
    .flatten()
    {
        ensure!(
            percentiles.p50_ms <= percentiles.p95_ms && percentiles.p95_ms <= percentiles.p99_ms,
            "invariant `percentiles are ordered` broken: {percentiles:?}"
        );
    }
    ensure!(
        engine.recent_window_ms() >= 0.0 && engine.recent_window_ms() <= now_ms,
        "invariant `recent window lies within the run` broken: {} ms at {now_ms}",
        engine.recent_window_ms()
    );
    Ok(())
}

fn check_server_queue(engine: &ClientServer, model: &ServerModel) -> Result<(), String> {
    let queue: Vec<u64> = engine.queue().iter().map(|request| request.id).collect();
    ensure!(
        queue.iter().eq(model.queue.iter()),
        "invariant `queue is FIFO` broken: engine queue {queue:?}, arrival order {:?}",
        model.queue
    );
    let mut previous_ms = f64::NEG_INFINITY;
    for request in engine.queue() {
        ensure!(
            request.sent_at_ms >= previous_ms && request.sent_at_ms <= engine.now_ms(),
            "invariant `queue is FIFO` broken: request {} sent at {} behind one sent at {previous_ms}",
            request.id,
            request.sent_at_ms
        );
        previous_ms = request.sent_at_ms;
        ensure!(
            model.outstanding.get(&request.client_id) == Some(&request.id),
            "invariant `client states agree with queue and workers` broken: queued request {} of client {} is not its outstanding request",
            request.id,
            request.client_id
        );
    }
    Ok(())
}

fn check_server_workers(engine: &ClientServer, model: &ServerModel) -> Result<(), String> {
    let ids: Vec<u32> = engine.workers().iter().map(|worker| worker.id).collect();
    ensure!(
        ids.iter().eq(model.workers.iter()),
        "invariant `workers match their join and leave events` broken: engine {ids:?}, events {:?}",
        model.workers
    );
    ensure!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "invariant `workers are listed in rising id order` broken: {ids:?}"
    );
    let busy: BTreeMap<u32, u64> = engine
        .workers()
        .iter()
        .filter_map(|worker| Some((worker.id, worker.serving.as_ref()?.request.id)))
        .collect();
    ensure!(
        busy == model.busy,
        "invariant `each worker serves at most one request` broken: engine serves {busy:?}, events {:?}",
        model.busy
    );
    let down: Vec<u32> = engine
        .workers()
        .iter()
        .filter(|worker| !worker.up)
        .map(|worker| worker.id)
        .collect();
    ensure!(
        down.iter().eq(model.down.iter()),
        "invariant `down workers match their crash and restart events` broken: engine {down:?}, events {:?}",
        model.down
    );
    let up: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|id| !model.down.contains(id))
        .collect();
    ensure!(
        engine.up_workers() == up.len(),
        "invariant `up_workers counts the workers that are up` broken: {} up, expected {}",
        engine.up_workers(),
        up.len()
    );
    check_node_statuses(&engine.node_statuses(), &up, &down)?;
    let mut active = 0;
    for worker in engine.workers() {
        ensure!(
            worker.up || worker.serving.is_none(),
            "invariant `a crashed worker serves nothing until restarted` broken: down worker {} serves {:?}",
            worker.id,
            worker.serving
        );
        match &worker.serving {
            Some(serving) => {
                ensure!(
                    serving.started_at_ms >= serving.request.sent_at_ms
                        && serving.started_at_ms <= engine.now_ms()
                        && serving.done_at_ms >= engine.now_ms(),
                    "invariant `service times bracket now` broken: worker {} serving {:?} at {}",
                    worker.id,
                    serving,
                    engine.now_ms()
                );
                ensure!(
                    model.outstanding.get(&serving.request.client_id) == Some(&serving.request.id),
                    "invariant `client states agree with queue and workers` broken: request {} on worker {} is not the outstanding request of client {}",
                    serving.request.id,
                    worker.id,
                    serving.request.client_id
                );
            }
            None => {
                ensure!(
                    !worker.up || worker.retiring || engine.queue().is_empty(),
                    "invariant `no up worker idles while requests wait` broken: worker {} idle with {} queued",
                    worker.id,
                    engine.queue().len()
                );
                ensure!(
                    !worker.retiring,
                    "invariant `idle removed workers leave at once` broken: worker {} idle and retiring",
                    worker.id
                );
            }
        }
        if !worker.retiring {
            active += 1;
        }
    }
    ensure!(
        active == engine.config().workers,
        "invariant `active workers match the config` broken: {active} active, config {}",
        engine.config().workers
    );
    Ok(())
}

fn check_server_clients(engine: &ClientServer, model: &ServerModel) -> Result<(), String> {
    let ids: Vec<u32> = engine.clients().iter().map(|client| client.id).collect();
    ensure!(
        ids.iter().eq(model.clients.iter()),
        "invariant `clients match their join and leave events` broken: engine {ids:?}, events {:?}",
        model.clients
    );
    ensure!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "invariant `clients are listed in rising id order` broken: {ids:?}"
    );
    let mut active = 0;
    let mut waiting = 0;
    for client in engine.clients() {
        let outstanding = model.outstanding.get(&client.id).copied();
        match client.state {
            ClientState::Thinking { until_ms } => {
                ensure!(
                    outstanding.is_none(),
                    "invariant `client states agree with queue and workers` broken: client {} thinks with request {outstanding:?} in flight",
                    client.id
                );
                ensure!(
                    !client.leaving,
                    "invariant `removed thinking clients leave at once` broken: client {} thinks while leaving",
                    client.id
                );
                ensure!(
                    until_ms >= engine.now_ms(),
                    "invariant `next send lies ahead` broken: client {} sends at {until_ms}, now {}",
                    client.id,
                    engine.now_ms()
                );
            }
            ClientState::Queued { request_id } => {
                waiting += 1;
                ensure!(
                    outstanding == Some(request_id) && model.stage(request_id) == Ok(Stage::Queued),
                    "invariant `client states agree with queue and workers` broken: client {} queued with {request_id}, outstanding {outstanding:?}, queue {:?}",
                    client.id,
                    model.queue
                );
            }
            ClientState::InService {
                request_id,
                worker_id,
            } => {
                waiting += 1;
                ensure!(
                    outstanding == Some(request_id)
                        && model.busy.get(&worker_id) == Some(&request_id),
                    "invariant `client states agree with queue and workers` broken: client {} in service with {request_id} on worker {worker_id}, outstanding {outstanding:?}, worker serves {:?}",
                    client.id,
                    model.busy.get(&worker_id)
                );
            }
        }
        if !client.leaving {
            active += 1;
        }
    }
    ensure!(
        waiting == model.outstanding.len(),
        "invariant `client states agree with queue and workers` broken: {waiting} clients wait, {} requests in flight",
        model.outstanding.len()
    );
    ensure!(
        active == engine.config().clients,
        "invariant `active clients match the config` broken: {active} active, config {}",
        engine.config().clients
    );
    Ok(())
}

/// The state an invalid action must leave as it was.
struct ServerSnapshot {
    now_ms: f64,
    config: ClientServerConfig,
    clients: Vec<client_server::Client>,
    workers: Vec<client_server::Worker>,
    queue: Vec<client_server::Request>,
    counts: (u64, u64, u64, u64),
}

fn server_snapshot(engine: &ClientServer) -> ServerSnapshot {
    ServerSnapshot {
        now_ms: engine.now_ms(),
        config: engine.config().clone(),
        clients: engine.clients().to_vec(),
        workers: engine.workers().to_vec(),
        queue: engine.queue().iter().cloned().collect(),
        counts: (
            engine.sent(),
            engine.started(),
            engine.completed(),
            engine.failed(),
        ),
    }
}

fn run_server_op(
    engine: &mut ClientServer,
    model: &mut ServerModel,
    op: &ServerOp,
) -> Result<(), String> {
    let (action, valid) = match *op {
        ServerOp::Step(count) => {
            for _ in 0..count {
                let from_ms = engine.now_ms();
                let events = engine.step();
                let to_ms = engine.now_ms();
                ensure!(
                    (to_ms - from_ms - client_server::STEP_MS).abs() <= TOLERANCE,
                    "invariant `each step advances STEP_MS` broken: from {from_ms} to {to_ms}"
                );
                model.check_events(&events, from_ms, to_ms)?;
                check_server_state(engine, model)?;
                model.note_done_times(engine);
            }
            return check_server_metrics(engine);
        }
        ServerOp::SetClients(clients) => (
            client_server::Action::SetClients { clients },
            (1..=MAX_CLIENTS).contains(&clients),
        ),
        ServerOp::SetWorkers(workers) => (
            client_server::Action::SetWorkers { workers },
            (1..=MAX_WORKERS).contains(&workers),
        ),
        ServerOp::Crash(ref target) | ServerOp::Restart(ref target) => {
            let down: Vec<u32> = model.down.iter().copied().collect();
            let up: Vec<u32> = model.workers.difference(&model.down).copied().collect();
            let node = target.resolve(&up, &down);
            let crash = matches!(op, ServerOp::Crash(_));
            let fault = if crash {
                Fault::Crash { node }
            } else {
                Fault::Restart { node }
            };
            let valid = model.workers.contains(&node) && model.down.contains(&node) != crash;
            (ClientServer::fault_action(fault), valid)
        }
        ServerOp::Unsupported(ref fault) => (ClientServer::fault_action(fault.clone()), false),
    };
    if valid {
        let now_ms = engine.now_ms();
        let queued = model.queue.front().copied();
        let events = engine.apply(&action).map_err(|err| {
            format!("invariant `valid action is applied` broken: {action:?} failed: {err}")
        })?;
        check_fault_events(&action, &events, queued)?;
        model.check_events(&events, now_ms, now_ms)?;
    } else {
        let before = server_snapshot(engine);
        let result = engine.apply(&action);
        ensure!(
            result.as_ref().is_err_and(|err| !err.0.is_empty()),
            "invariant `invalid action returns ActionError` broken: {action:?} returned {}",
            describe(&result)
        );
        let after = server_snapshot(engine);
        let changed = changed_fields!(
            before, after, now_ms, config, clients, workers, queue, counts
        );
        ensure!(
            changed.is_empty(),
            "invariant `invalid action leaves the state unchanged` broken: {action:?} changed {changed:?}"
        );
    }
    check_server_state(engine, model)?;
    model.note_done_times(engine);
    check_server_metrics(engine)
}

/// Checks that a crash or restart reports itself first, and that a restart with requests
/// queued starts the head of the queue at once. `queued` is the head before the action.
fn check_fault_events(
    action: &client_server::Action,
    events: &[client_server::Event],
    queued: Option<u64>,
) -> Result<(), String> {
    use client_server::Event;
    match action {
        client_server::Action::Fault(Fault::Crash { node }) => ensure!(
            matches!(events.first(), Some(Event::WorkerCrashed { worker_id, .. }) if worker_id == node),
            "invariant `a crash returns WorkerCrashed first` broken: {action:?} returned {events:?}"
        ),
        client_server::Action::Fault(Fault::Restart { node }) => {
            let starts_head = match (events, queued) {
                ([Event::WorkerRestarted { worker_id, .. }], None) => worker_id == node,
                (
                    [
                        Event::WorkerRestarted { worker_id, .. },
                        Event::Started {
                            request_id,
                            worker_id: started_on,
                            ..
                        },
                    ],
                    Some(head),
                ) => worker_id == node && started_on == node && *request_id == head,
                _ => false,
            };
            ensure!(
                starts_head,
                "invariant `a restarted worker takes the queue head` broken: {action:?} with head {queued:?} returned {events:?}"
            );
        }
        _ => {}
    }
    Ok(())
}

fn run_server_case(case: &ServerCase) -> Result<(), TestCaseError> {
    let mut engine = ClientServer::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    let mut model = ServerModel::new(&case.config);
    check_server_state(&engine, &model).map_err(|message| violation(case, "start", &message))?;
    for (index, op) in case.ops.iter().enumerate() {
        run_server_op(&mut engine, &mut model, op)
            .map_err(|message| violation(case, &position(index, op, engine.now_ms()), &message))?;
    }
    Ok(())
}

fn invalid_server_config() -> impl Strategy<Value = InvalidConfig<ClientServerConfig>> {
    let names = ["clients", "workers", "service_ms", "think_ms"];
    (
        server_config(),
        1u8..16,
        u32_outside(1, MAX_CLIENTS),
        u32_outside(1, MAX_WORKERS),
        f64_outside(1.0, 10_000.0),
        f64_outside(0.0, 60_000.0),
    )
        .prop_map(
            move |(valid, mask, clients, workers, service_ms, think_ms)| {
                let config = ClientServerConfig {
                    clients: pick(mask, 0, clients, valid.clients),
                    workers: pick(mask, 1, workers, valid.workers),
                    service_ms: pick(mask, 2, service_ms, valid.service_ms),
                    think_ms: pick(mask, 3, think_ms, valid.think_ms),
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Consistent hashing
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum RingOp {
    /// Runs this many steps, each routing one lookup.
    Step(u32),
    /// Applies `Action::AddNode`, which fails once the ring has `MAX_NODES` nodes.
    Add,
    /// Removes the live node at this index, which fails for the last node.
    RemoveLive(Index),
    /// Removes the node with this id, live, removed before, or never used.
    RemoveId(u32),
    /// Crashes the node that the target names, which fails unless it is live and not the last.
    Crash(Target),
    /// Restarts the node that the target names, which fails unless it crashed and the ring has
    /// room for it.
    Restart(Target),
    /// Applies a fault of a kind the engine does not support.
    Unsupported(Fault),
}

type RingCase = Case<ConsistentHashConfig, RingOp>;

/// Maximum number of `key x vnode` comparisons the exhaustive owner scan makes per check. Past this, it covers
/// every key that wraps past the top of the ring and an even sample of the rest, and the
/// clockwise walk in [`owners_by_walk`] still checks every key.
const SCAN_BUDGET: usize = 1 << 14;

fn ring_config() -> impl Strategy<Value = ConsistentHashConfig> {
    (u32_in(1, 32), u32_in(1, 256), u32_in(1, 10_000)).prop_map(|(nodes, vnodes, keys)| {
        ConsistentHashConfig {
            nodes,
            vnodes,
            keys,
        }
    })
}

fn ring_op() -> impl Strategy<Value = RingOp> {
    prop_oneof![
        3 => (1u32..=5).prop_map(RingOp::Step),
        3 => Just(RingOp::Add),
        3 => any::<Index>().prop_map(RingOp::RemoveLive),
        1 => (0u32..64).prop_map(RingOp::RemoveId),
        1 => any::<u32>().prop_map(RingOp::RemoveId),
        3 => crash_target().prop_map(RingOp::Crash),
        3 => restart_target().prop_map(RingOp::Restart),
        1 => unsupported_fault().prop_map(RingOp::Unsupported),
    ]
}

fn ring_case() -> impl Strategy<Value = RingCase> {
    (
        ring_config(),
        engine_seed(),
        prop::collection::vec(ring_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// A vnode's sort key, (hash, node, index): the order the ring must follow clockwise.
type Point = (u64, u32, u32);

/// Finds a key's owner by scanning every vnode: the lowest point at or after the key's hash,
/// else the lowest point on the ring.
fn owner_by_scan(points: &[Point], hash: u64) -> Option<u32> {
    let mut at_or_after: Option<Point> = None;
    let mut lowest: Option<Point> = None;
    for &point in points {
        if point.0 >= hash && at_or_after.is_none_or(|best| point < best) {
            at_or_after = Some(point);
        }
        if lowest.is_none_or(|best| point < best) {
            lowest = Some(point);
        }
    }
    at_or_after.or(lowest).map(|point| point.1)
}

/// The keys' ring positions, which never change during a run, read once per case.
struct KeyHashes {
    /// Hash of each key, by key index.
    by_index: Vec<u64>,
    /// (hash, key index) pairs in ascending order.
    ascending: Vec<(u64, usize)>,
}

impl KeyHashes {
    fn new(engine: &ConsistentHash) -> Self {
        let by_index: Vec<u64> = engine
            .keys()
            .iter()
            .map(consistent_hash::Key::hash)
            .collect();
        let mut ascending: Vec<(u64, usize)> = by_index
            .iter()
            .enumerate()
            .map(|(index, &hash)| (hash, index))
            .collect();
        ascending.sort_unstable();
        Self {
            by_index,
            ascending,
        }
    }
}

/// Finds every key's owner in one clockwise walk over the sorted `points`, visiting the keys
/// in ascending hash order: each key takes the first point at or after it, and keys past the
/// last point wrap to the first.
fn owners_by_walk(points: &[Point], hashes: &KeyHashes) -> Vec<u32> {
    let mut owners = vec![u32::MAX; hashes.by_index.len()];
    let wrap_owner = points.first().map_or(u32::MAX, |point| point.1);
    let mut next = 0;
    for &(hash, index) in &hashes.ascending {
        while points.get(next).is_some_and(|point| point.0 < hash) {
            next += 1;
        }
        if let Some(owner) = owners.get_mut(index) {
            *owner = points.get(next).map_or(wrap_owner, |point| point.1);
        }
    }
    owners
}

/// Checks the ring and every key's owner under both schemes.
fn check_ring_state(engine: &ConsistentHash, hashes: &KeyHashes) -> Result<(), String> {
    let config = engine.config();
    let nodes = engine.nodes();
    let ring = engine.ring();
    let keys = engine.keys();
    ensure!(
        (1..=MAX_NODES).contains(&nodes.len()),
        "invariant `node count stays within 1..=MAX_NODES` broken: {} nodes",
        nodes.len()
    );
    ensure!(
        nodes.windows(2).all(|pair| pair[0] < pair[1]),
        "invariant `live nodes are listed in rising id order` broken: {nodes:?}"
    );
    ensure!(
        ring.len() == nodes.len() * config.vnodes as usize,
        "invariant `ring holds vnodes per live node` broken: {} vnodes for {} nodes x {}",
        ring.len(),
        nodes.len(),
        config.vnodes
    );
    let points: Vec<Point> = ring
        .iter()
        .map(|vnode| (vnode.hash(), vnode.node, vnode.index))
        .collect();
    ensure!(
        points.windows(2).all(|pair| pair[0] < pair[1]),
        "invariant `ring is sorted clockwise without duplicates` broken"
    );
    for vnode in ring {
        ensure!(
            nodes.binary_search(&vnode.node).is_ok() && vnode.index < config.vnodes,
            "invariant `every vnode belongs to a live node` broken: {vnode:?}, live {nodes:?}"
        );
        ensure!(
            (0.0..1.0).contains(&vnode.position),
            "invariant `positions lie in [0, 1)` broken: {vnode:?}"
        );
    }

    ensure!(
        keys.len() == config.keys as usize && hashes.by_index.len() == keys.len(),
        "invariant `every key is placed` broken: {} keys, config {}",
        keys.len(),
        config.keys
    );
    let node_count = nodes.len() as u64;
    let walked = owners_by_walk(&points, hashes);
    for (index, ((key, &hash), &walked_owner)) in
        keys.iter().zip(&hashes.by_index).zip(&walked).enumerate()
    {
        ensure!(
            nodes.binary_search(&key.node).is_ok(),
            "invariant `every key has exactly one live owner` broken: key {index} on node {}, live {nodes:?}",
            key.node
        );
        ensure!(
            key.node == walked_owner,
            "invariant `owner matches a clockwise walk of the ring` broken: key {index} (hash {:#x}) on node {}, walk gives {walked_owner}",
            hash,
            key.node
        );
        let mod_n = usize::try_from(hash % node_count)
            .ok()
            .and_then(|slot| nodes.get(slot));
        ensure!(
            mod_n == Some(&key.mod_n_node),
            "invariant `mod-N owner is nodes[hash % N]` broken: key {index} on {}, expected {mod_n:?}",
            key.mod_n_node
        );
    }

    let highest = points.iter().map(|point| point.0).max().unwrap_or(0);
    let stride = (keys.len() * points.len()).div_ceil(SCAN_BUDGET).max(1);
    for (index, (key, &hash)) in keys.iter().zip(&hashes.by_index).enumerate() {
        let wraps = hash > highest;
        if index % stride != 0 && !wraps && index + 1 != keys.len() {
            continue;
        }
        let expected = owner_by_scan(&points, hash);
        ensure!(
            expected == Some(key.node),
            "invariant `owner matches a brute-force clockwise scan` broken: key {index} (hash {:#x}) on node {}, scan gives {expected:?}",
            hash,
            key.node
        );
    }

    Ok(())
}

/// Checks the loads per node and the load-spread metrics. Each of these walks every key for
/// every node, so they run at the start and the end of a case rather than after every operation.
fn check_ring_metrics(engine: &ConsistentHash) -> Result<(), String> {
    let config = engine.config();
    let nodes = engine.nodes();
    let loads = engine.node_loads();
    let counted: u32 = loads.iter().map(|load| load.keys).sum();
    ensure!(
        counted == config.keys && loads.len() == nodes.len(),
        "invariant `every key has exactly one live owner` broken: loads count {counted} keys on {} nodes, expected {} on {}",
        loads.len(),
        config.keys,
        nodes.len()
    );
    let share: f64 = loads.iter().map(|load| load.ring_share).sum();
    ensure!(
        (share - 1.0).abs() <= 1e-9,
        "invariant `ring shares sum to 1` broken: {share}"
    );
    let (std_dev, max_over_mean) = (engine.load_std_dev(), engine.load_max_over_mean());
    ensure!(
        std_dev.is_finite() && std_dev >= 0.0,
        "invariant `load standard deviation is finite` broken: {std_dev}"
    );
    ensure!(
        max_over_mean.is_finite() && max_over_mean >= 1.0 - 1e-9,
        "invariant `max load is at least the mean` broken: max/mean {max_over_mean}"
    );
    Ok(())
}

/// Checks the lookups of one step against the keys' owners.
fn check_lookups(engine: &ConsistentHash, events: &[consistent_hash::Event]) -> Result<(), String> {
    ensure!(
        events.len() == 1,
        "invariant `each step routes one lookup` broken: {} events",
        events.len()
    );
    for event in events {
        let consistent_hash::Event::Lookup {
            key,
            key_position,
            node,
            at_ms,
            ..
        } = *event
        else {
            return Err(format!(
                "invariant `steps only route lookups` broken: {event:?}"
            ));
        };
        let owner = engine.keys().get(key as usize);
        ensure!(
            owner.is_some_and(|owner| owner.node == node && owner.position == key_position),
            "invariant `lookups route to the key's owner` broken: {event:?}, key {owner:?}"
        );
        ensure!(
            at_ms == engine.now_ms(),
            "invariant `lookups happen now` broken: at {at_ms}, now {}",
            engine.now_ms()
        );
    }
    Ok(())
}

/// A node joining or leaving the ring, as an operation expects it or as an event reports it.
/// Events report a restart as a join and a crash as a leave.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Change {
    Join(u32),
    Leave(u32),
    Crash(u32),
    Restart(u32),
}

impl Change {
    fn node(self) -> u32 {
        match self {
            Self::Join(node) | Self::Leave(node) | Self::Crash(node) | Self::Restart(node) => node,
        }
    }

    /// Returns the change as its event reports it.
    fn reported(self) -> Self {
        match self {
            Self::Restart(node) => Self::Join(node),
            Self::Crash(node) => Self::Leave(node),
            other => other,
        }
    }

    /// Returns the kind that [`ConsistentHash::last_move`] reports for this change.
    fn move_kind(self) -> MoveKind {
        match self {
            Self::Join(_) => MoveKind::Added,
            Self::Leave(_) => MoveKind::Removed,
            Self::Crash(_) => MoveKind::Crashed,
            Self::Restart(_) => MoveKind::Restarted,
        }
    }
}

/// Checks the event and the key movement of the `expected` join or leave.
fn check_membership(
    engine: &ConsistentHash,
    event: &consistent_hash::Event,
    expected: Change,
    before: &[(u32, u32)],
) -> Result<(), String> {
    let (change, moved_by_ring, moved_by_mod_n, keys, at_ms) = match *event {
        consistent_hash::Event::NodeAdded {
            node,
            moved_by_ring,
            moved_by_mod_n,
            keys,
            at_ms,
        } => (
            Change::Join(node),
            moved_by_ring,
            moved_by_mod_n,
            keys,
            at_ms,
        ),
        consistent_hash::Event::NodeRemoved {
            node,
            moved_by_ring,
            moved_by_mod_n,
            keys,
            at_ms,
        } => (
            Change::Leave(node),
            moved_by_ring,
            moved_by_mod_n,
            keys,
            at_ms,
        ),
        _ => {
            return Err(format!(
                "invariant `membership change returns its event` broken: got {event:?}"
            ));
        }
    };
    let node = change.node();

    ensure!(
        change == expected.reported(),
        "invariant `membership change returns its event` broken: got {event:?}, expected {expected:?}"
    );
    ensure!(
        keys == engine.config().keys && at_ms == engine.now_ms(),
        "invariant `membership events report the key count and the time` broken: {event:?}"
    );

    let mut ring_moves = 0;
    let mut mod_n_moves = 0;
    for (index, (key, &(old_owner, old_mod_n))) in engine.keys().iter().zip(before).enumerate() {
        if key.node != old_owner {
            ring_moves += 1;
            match change {
                Change::Join(_) | Change::Restart(_) => ensure!(
                    key.node == node,
                    "invariant `on a join, keys move only to the new node` broken: key {index} moved from {old_owner} to {}, new node {node}",
                    key.node
                ),
                Change::Leave(_) | Change::Crash(_) => ensure!(
                    old_owner == node,
                    "invariant `on a leave, only the removed node's keys move` broken: key {index} moved from {old_owner} to {}, removed {node}",
                    key.node
                ),
            }
        }
        if key.mod_n_node != old_mod_n {
            mod_n_moves += 1;
        }
    }

    if let Change::Leave(_) | Change::Crash(_) = change {
        let owned = before.iter().filter(|&&(owner, _)| owner == node).count();
        ensure!(
            ring_moves == owned,
            "invariant `on a leave, all the removed node's keys move` broken: {ring_moves} moved, node {node} owned {owned}"
        );
    }
    ensure!(
        moved_by_ring as usize == ring_moves,
        "invariant `moved_by_ring equals keys whose owner changed` broken: event says {moved_by_ring}, {ring_moves} changed"
    );
    ensure!(
        moved_by_mod_n as usize == mod_n_moves,
        "invariant `moved_by_mod_n equals keys whose mod-N owner changed` broken: event says {moved_by_mod_n}, {mod_n_moves} changed"
    );

    let last = engine.last_move();
    ensure!(
        last.is_some_and(|last| last.kind == expected.move_kind()
            && last.node == node
            && last.moved_by_ring == moved_by_ring
            && last.moved_by_mod_n == moved_by_mod_n
            && last.at_ms == engine.now_ms()),
        "invariant `last_move matches the event` broken: {last:?}, event {event:?}"
    );
    Ok(())
}

/// The state an invalid action must leave as it was.
struct RingSnapshot {
    now_ms: f64,
    nodes: Vec<u32>,
    crashed: Vec<u32>,
    ring: Vec<consistent_hash::Vnode>,
    keys: Vec<consistent_hash::Key>,
    last_move: Option<consistent_hash::MoveStats>,
}

fn ring_snapshot(engine: &ConsistentHash) -> RingSnapshot {
    RingSnapshot {
        now_ms: engine.now_ms(),
        nodes: engine.nodes().to_vec(),
        crashed: engine.crashed().to_vec(),
        ring: engine.ring().to_vec(),
        keys: engine.keys().to_vec(),
        last_move: engine.last_move().cloned(),
    }
}

/// State that a ring case tracks beside the engine: the next node id and the crashed nodes.
struct RingModel {
    /// Id the next added node must get.
    next_id: u32,
    /// Membership changes applied so far, to tell whether any came between a crash and its
    /// restart.
    changes: u64,
    /// Each crashed node, with the ring as it was before the crash.
    crashed: BTreeMap<u32, CrashRecord>,
}

/// The ring just before a crash, which the restart must bring back if nothing changed between.
struct CrashRecord {
    /// Each key's (ring owner, mod-N owner) before the crash.
    owners: Vec<(u32, u32)>,
    /// Live nodes before the crash.
    nodes: Vec<u32>,
    /// Keys the crash moved on the ring.
    moved_by_ring: u32,
    /// [`RingModel::changes`] right after the crash.
    changes: u64,
}

/// Returns the `moved_by_ring` count that a membership event reports.
fn moved_by_ring(event: &consistent_hash::Event) -> u32 {
    match *event {
        consistent_hash::Event::NodeAdded { moved_by_ring, .. }
        | consistent_hash::Event::NodeRemoved { moved_by_ring, .. } => moved_by_ring,
        consistent_hash::Event::Lookup { .. } => 0,
    }
}

/// Checks that a restart put back the ring as it was before the crash, when no other membership
/// change came between them.
fn check_restart(
    engine: &ConsistentHash,
    event: &consistent_hash::Event,
    record: &CrashRecord,
) -> Result<(), String> {
    ensure!(
        engine.nodes() == record.nodes.as_slice(),
        "invariant `a restart returns exactly the keys the crash moved` broken: live nodes {:?}, before the crash {:?}",
        engine.nodes(),
        record.nodes
    );
    for (index, (key, &(owner, mod_n_owner))) in
        engine.keys().iter().zip(&record.owners).enumerate()
    {
        ensure!(
            key.node == owner && key.mod_n_node == mod_n_owner,
            "invariant `a restart returns exactly the keys the crash moved` broken: key {index} on node {} (mod-N {}), before the crash on {owner} (mod-N {mod_n_owner})",
            key.node,
            key.mod_n_node
        );
    }
    let moved = moved_by_ring(event);
    ensure!(
        moved == record.moved_by_ring,
        "invariant `a restart returns exactly the keys the crash moved` broken: restart moved {moved}, crash moved {}",
        record.moved_by_ring
    );
    Ok(())
}

/// Runs one operation and checks the engine. `hashes` contains the keys' ring positions.
fn run_ring_op(
    engine: &mut ConsistentHash,
    model: &mut RingModel,
    hashes: &KeyHashes,
    op: &RingOp,
) -> Result<(), String> {
    let live = engine.nodes().to_vec();
    let down: Vec<u32> = model.crashed.keys().copied().collect();
    let (action, valid, expected) = match *op {
        RingOp::Step(count) => {
            for _ in 0..count {
                let events = engine.step();
                check_lookups(engine, &events)?;
            }
            return Ok(());
        }
        RingOp::Add => (
            consistent_hash::Action::AddNode,
            live.len() < MAX_NODES,
            Change::Join(model.next_id),
        ),
        RingOp::RemoveLive(index) => {
            let node = live.get(index.index(live.len())).copied().unwrap_or(0);
            (
                consistent_hash::Action::RemoveNode { node },
                live.len() > 1,
                Change::Leave(node),
            )
        }
        RingOp::RemoveId(node) => (
            consistent_hash::Action::RemoveNode { node },
            live.len() > 1 && live.contains(&node),
            Change::Leave(node),
        ),
        RingOp::Crash(ref target) => {
            let node = target.resolve(&live, &down);
            (
                ConsistentHash::fault_action(Fault::Crash { node }),
                live.len() > 1 && live.contains(&node),
                Change::Crash(node),
            )
        }
        RingOp::Restart(ref target) => {
            let node = target.resolve(&live, &down);
            (
                ConsistentHash::fault_action(Fault::Restart { node }),
                live.len() < MAX_NODES && model.crashed.contains_key(&node),
                Change::Restart(node),
            )
        }
        // An invalid action expects no change, so the change given here is never read.
        RingOp::Unsupported(ref fault) => (
            ConsistentHash::fault_action(fault.clone()),
            false,
            Change::Leave(0),
        ),
    };
    if valid {
        let before: Vec<(u32, u32)> = engine
            .keys()
            .iter()
            .map(|key| (key.node, key.mod_n_node))
            .collect();
        let events = engine.apply(&action).map_err(|err| {
            format!("invariant `valid action is applied` broken: {action:?} failed: {err}")
        })?;
        if let Change::Join(_) = expected {
            model.next_id += 1;
        }
        let [event] = events.as_slice() else {
            return Err(format!(
                "invariant `membership change returns one event` broken: {events:?}"
            ));
        };
        check_membership(engine, event, expected, &before)?;
        let mut expected_nodes = live.clone();
        match expected {
            Change::Join(node) | Change::Restart(node) => {
                expected_nodes.push(node);
                expected_nodes.sort_unstable();
            }
            Change::Leave(node) | Change::Crash(node) => expected_nodes.retain(|&id| id != node),
        }
        ensure!(
            engine.nodes() == expected_nodes.as_slice(),
            "invariant `a membership change adds or removes only its node` broken: live {:?}, expected {expected_nodes:?}",
            engine.nodes()
        );
        let changes_before = model.changes;
        model.changes += 1;
        match expected {
            Change::Crash(node) => {
                let record = CrashRecord {
                    owners: before,
                    nodes: live,
                    moved_by_ring: moved_by_ring(event),
                    changes: model.changes,
                };
                model.crashed.insert(node, record);
            }
            Change::Restart(node) => {
                let record = model.crashed.remove(&node);
                if let Some(record) = record.filter(|record| record.changes == changes_before) {
                    check_restart(engine, event, &record)?;
                }
            }
            Change::Join(_) | Change::Leave(_) => {}
        }
        check_crashed(engine, model)?;
        check_ring_state(engine, hashes)
    } else {
        let before = ring_snapshot(engine);
        let result = engine.apply(&action);
        ensure!(
            result.as_ref().is_err_and(|err| !err.0.is_empty()),
            "invariant `invalid action returns ActionError` broken: {action:?} with live nodes {live:?}, crashed {down:?} returned {}",
            describe(&result)
        );
        let after = ring_snapshot(engine);
        let changed = changed_fields!(before, after, now_ms, nodes, crashed, ring, keys, last_move);
        ensure!(
            changed.is_empty(),
            "invariant `invalid action leaves the state unchanged` broken: {action:?} changed {changed:?}"
        );
        // The state equals the one checked after the previous operation.
        Ok(())
    }
}

/// Checks that `crashed()` and the fault controls agree with the crashes and restarts so far.
fn check_crashed(engine: &ConsistentHash, model: &RingModel) -> Result<(), String> {
    let crashed = engine.crashed();
    ensure!(
        crashed.iter().eq(model.crashed.keys()),
        "invariant `crashed() lists the crashed nodes` broken: engine {crashed:?}, expected {:?}",
        model.crashed.keys().collect::<Vec<_>>()
    );
    ensure!(
        crashed.iter().all(|node| !engine.nodes().contains(node)),
        "invariant `crashed nodes are off the ring` broken: crashed {crashed:?}, live {:?}",
        engine.nodes()
    );
    check_node_statuses(&engine.node_statuses(), engine.nodes(), crashed)
}

fn run_ring_case(case: &RingCase) -> Result<(), TestCaseError> {
    let mut engine = ConsistentHash::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    let mut model = RingModel {
        next_id: case.config.nodes,
        changes: 0,
        crashed: BTreeMap::new(),
    };
    let hashes = KeyHashes::new(&engine);
    check_ring_state(&engine, &hashes)
        .and_then(|()| check_crashed(&engine, &model))
        .and_then(|()| check_ring_metrics(&engine))
        .map_err(|message| violation(case, "start", &message))?;
    for (index, op) in case.ops.iter().enumerate() {
        run_ring_op(&mut engine, &mut model, &hashes, op)
            .map_err(|message| violation(case, &position(index, op, engine.now_ms()), &message))?;
    }
    check_ring_metrics(&engine).map_err(|message| violation(case, "end", &message))
}

fn invalid_ring_config() -> impl Strategy<Value = InvalidConfig<ConsistentHashConfig>> {
    let names = ["nodes", "vnodes", "keys"];
    (
        ring_config(),
        1u8..8,
        u32_outside(1, 32),
        u32_outside(1, 256),
        u32_outside(1, 10_000),
    )
        .prop_map(move |(valid, mask, nodes, vnodes, keys)| {
            let config = ConsistentHashConfig {
                nodes: pick(mask, 0, nodes, valid.nodes),
                vnodes: pick(mask, 1, vnodes, valid.vnodes),
                keys: pick(mask, 2, keys, valid.keys),
            };
            InvalidConfig {
                config,
                first_invalid: first_set(mask, &names),
            }
        })
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn check_invalid<E: Engine>(invalid: &InvalidConfig<E::Config>) -> Result<(), TestCaseError>
where
    E::Config: Debug,
{
    check_rejected::<E>(invalid.config.clone(), invalid.first_invalid)
        .map_err(|message| TestCaseError::fail(format!("{message}\n  case: {invalid:#?}")))
}

proptest! {
    #![proptest_config(proptest_config())]

    // Tokens stay in [0, capacity]. In any window of `t` seconds between two accepted requests,
    // accepted <= capacity + refill_per_s * t, within 1e-6. A request is rejected only when
    // fewer than one token is left, and accepted only when a whole token is there. Invalid
    // bursts (0 or above MAX_BURST) return ActionError and change nothing.
    #[test]
    fn token_bucket_keeps_invariants(case in bucket_case()) {
        run_bucket_case(&case)?;
    }

    // sent = completed + failed + in flight, and no request starts or completes twice. Each
    // worker serves at most one request, and requests start in the order they were sent (FIFO).
    // Client states agree with the queue and the workers. A crash loses exactly the request in
    // service, which counts as failed and never completes, and its client sends again at once.
    // A crashed worker serves nothing until restarted, and a restarted worker takes the queue
    // head. Out-of-range SetClients and SetWorkers, crashing a down or unknown worker,
    // restarting an up or unknown one, and unsupported fault kinds return ActionError and
    // change nothing.
    #[test]
    fn client_server_keeps_invariants(case in server_case()) {
        run_server_case(&case)?;
    }

    // Every key has one live owner, the first vnode clockwise from it. A walk of the ring
    // checks this for every key. A brute-force scan of every vnode checks every key of a small
    // ring and a sample of a large one (see SCAN_BUDGET). A join moves exactly moved_by_ring
    // keys, all to the new node, and a leave moves exactly the removed node's keys. A crash
    // moves keys as a leave does, and a restart as a join under the node's old id. A restart
    // with no membership change since its crash puts every key back on its owner from before
    // the crash. crashed() lists the crashed nodes. The node count stays in 1..=MAX_NODES.
    // Adding past MAX_NODES, removing or crashing the last node, removing or crashing an
    // unknown node, restarting a live or unknown node or one with no room, and unsupported
    // fault kinds return ActionError and change nothing.
    #[test]
    fn consistent_hash_keeps_invariants(case in ring_case()) {
        run_ring_case(&case)?;
    }

    // Zero, above-max, NaN, infinite, negative and just-out-of-range values make Engine::new
    // return a ConfigError naming the first invalid field, as `validate` does.
    #[test]
    fn token_bucket_rejects_invalid_config(invalid in invalid_bucket_config()) {
        check_invalid::<TokenBucket>(&invalid)?;
    }

    #[test]
    fn client_server_rejects_invalid_config(invalid in invalid_server_config()) {
        check_invalid::<ClientServer>(&invalid)?;
    }

    #[test]
    fn consistent_hash_rejects_invalid_config(invalid in invalid_ring_config()) {
        check_invalid::<ConsistentHash>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Cache with TTL
// ---------------------------------------------------------------------------------------------

use sim::cache::{self as ttl_cache, Cache, CacheConfig, Strategy as WriteStrategy};

#[derive(Debug, Clone)]
enum CacheOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::Write` to this key, valid or not.
    Write(u32),
    /// Applies `Action::Flush`.
    Flush,
}

type CacheCase = Case<CacheConfig, CacheOp>;

fn write_strategy() -> impl Strategy<Value = WriteStrategy> {
    prop_oneof![
        Just(WriteStrategy::TtlOnly),
        Just(WriteStrategy::InvalidateOnWrite),
        Just(WriteStrategy::UpdateOnWrite),
    ]
}

fn cache_config() -> impl Strategy<Value = CacheConfig> {
    (
        (u32_in(1, 1000), f64_in(0.0, 3.0), f64_in(0.0, 1000.0)),
        (f64_in(0.0, 100.0), f64_in(0.0, 600.0), u32_in(1, 1000)),
        (write_strategy(), any::<bool>()),
    )
        .prop_map(
            |(
                (keys, zipf_s, reads_per_s),
                (writes_per_s, ttl_s, capacity),
                (strategy, compare),
            )| CacheConfig {
                keys,
                zipf_s,
                reads_per_s,
                writes_per_s,
                ttl_s,
                capacity,
                strategy,
                compare,
            },
        )
}

fn cache_op() -> impl Strategy<Value = CacheOp> {
    prop_oneof![
        6 => (1u32..=3).prop_map(CacheOp::Step),
        3 => u32_in(0, 999).prop_map(CacheOp::Write),
        1 => prop_oneof![Just(1000u32), Just(u32::MAX)].prop_map(CacheOp::Write),
        1 => Just(CacheOp::Flush),
    ]
}

fn cache_case() -> impl Strategy<Value = CacheCase> {
    (
        cache_config(),
        engine_seed(),
        prop::collection::vec(cache_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Checks the shown cache's events: times in range, hits younger than the TTL, and no stale
/// hit unless the strategy is TTL-only.
fn check_cache_events(
    engine: &Cache,
    events: &[ttl_cache::Event],
    from_ms: f64,
    to_ms: f64,
) -> Result<(), String> {
    let ttl_ms = engine.ttl_ms();
    for event in events {
        let at_ms = match *event {
            ttl_cache::Event::Hit {
                at_ms,
                age_ms,
                stale,
                ..
            } => {
                ensure!(
                    (0.0..ttl_ms).contains(&age_ms),
                    "invariant `a hit is younger than the TTL` broken: {event:?}, TTL {ttl_ms} ms"
                );
                ensure!(
                    !stale || engine.config().strategy == WriteStrategy::TtlOnly,
                    "invariant `only TTL-only serves stale reads` broken: {event:?}"
                );
                at_ms
            }
            ttl_cache::Event::Miss { at_ms, .. }
            | ttl_cache::Event::Evicted { at_ms, .. }
            | ttl_cache::Event::Write { at_ms, .. }
            | ttl_cache::Event::Flushed { at_ms, .. } => at_ms,
        };
        ensure!(
            at_ms >= from_ms && at_ms <= to_ms,
            "invariant `event time lies in the step or action` broken: {event:?} outside [{from_ms}, {to_ms}]"
        );
    }
    Ok(())
}

/// Checks every cache's counters and size.
fn check_cache_state(engine: &Cache, steps: u64) -> Result<(), String> {
    ensure!(
        engine.now_ms() == steps as f64 * ttl_cache::STEP_MS,
        "invariant `each step advances STEP_MS` broken: now_ms {} after {steps} steps",
        engine.now_ms()
    );
    let reads = engine.stats_for(WriteStrategy::TtlOnly).reads;
    for compared in engine.comparison() {
        let (strategy, stats) = (compared.strategy, compared.stats);
        ensure!(
            stats.hits + stats.misses == stats.reads,
            "invariant `hits + misses = reads` broken: {strategy:?} {stats:?}"
        );
        ensure!(
            stats.reads == reads,
            "invariant `one request stream for all caches` broken: {strategy:?} has {} reads, TTL-only {reads}",
            stats.reads
        );
        ensure!(
            stats.db_reads == stats.misses && stats.stale_reads <= stats.hits,
            "invariant `one database read per miss` broken: {strategy:?} {stats:?}"
        );
        ensure!(
            strategy == WriteStrategy::TtlOnly || stats.stale_reads == 0,
            "invariant `invalidate and update on write serve no stale reads` broken: {strategy:?} {stats:?}"
        );
        let entries = engine.entries_for(strategy);
        ensure!(
            entries <= engine.config().capacity && entries <= engine.config().keys,
            "invariant `entries <= capacity` broken: {strategy:?} holds {entries}"
        );
    }
    Ok(())
}

fn run_cache_op(engine: &mut Cache, steps: &mut u64, op: &CacheOp) -> Result<(), String> {
    match *op {
        CacheOp::Step(count) => {
            for _ in 0..count {
                let from_ms = engine.now_ms();
                let events = engine.step();
                *steps += 1;
                check_cache_events(engine, &events, from_ms, engine.now_ms())?;
            }
        }
        CacheOp::Write(key) => {
            let before = engine.comparison();
            let result = engine.apply(&ttl_cache::Action::Write { key });
            if key >= engine.config().keys {
                ensure!(
                    result.as_ref().is_err_and(|err| !err.0.is_empty()),
                    "invariant `invalid action returns ActionError` broken: write of key {key} returned {}",
                    describe(&result)
                );
                ensure!(
                    engine.comparison() == before,
                    "invariant `invalid action leaves the state unchanged` broken: write of key {key}"
                );
            } else {
                let events = result.map_err(|err| {
                    format!("invariant `valid action is applied` broken: write of key {key}: {err}")
                })?;
                let now_ms = engine.now_ms();
                check_cache_events(engine, &events, now_ms, now_ms)?;
            }
        }
        CacheOp::Flush => {
            let result = engine.apply(&ttl_cache::Action::Flush);
            ensure!(
                result.is_ok(),
                "invariant `valid action is applied` broken: flush returned {}",
                describe(&result)
            );
            for strategy in WriteStrategy::ALL {
                ensure!(
                    engine.entries_for(strategy) == 0,
                    "invariant `flush empties every cache` broken: {strategy:?}"
                );
            }
        }
    }
    check_cache_state(engine, *steps)
}

fn run_cache_case(case: &CacheCase) -> Result<(), TestCaseError> {
    let mut engine = Cache::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    let mut steps = 0;
    check_cache_state(&engine, steps).map_err(|message| violation(case, "start", &message))?;
    for (index, op) in case.ops.iter().enumerate() {
        run_cache_op(&mut engine, &mut steps, op)
            .map_err(|message| violation(case, &position(index, op, engine.now_ms()), &message))?;
    }
    let snapshot = engine.snapshot();
    let finite = snapshot
        .metrics
        .iter()
        .all(|metric| metric.value.is_finite())
        && snapshot
            .samples
            .iter()
            .all(|sample| sample.value.is_finite());
    if !finite {
        return Err(violation(
            case,
            "end",
            &format!("invariant `metrics are finite` broken: {snapshot:?}"),
        ));
    }
    Ok(())
}

fn invalid_cache_config() -> impl Strategy<Value = InvalidConfig<CacheConfig>> {
    let names = [
        "keys",
        "zipf_s",
        "reads_per_s",
        "writes_per_s",
        "ttl_s",
        "capacity",
    ];
    (
        cache_config(),
        1u8..64,
        (
            u32_outside(1, 1000),
            f64_outside(0.0, 3.0),
            f64_outside(0.0, 1000.0),
        ),
        (
            f64_outside(0.0, 100.0),
            f64_outside(0.0, 600.0),
            u32_outside(1, 1000),
        ),
    )
        .prop_map(
            move |(valid, mask, (keys, zipf_s, reads_per_s), (writes_per_s, ttl_s, capacity))| {
                let config = CacheConfig {
                    keys: pick(mask, 0, keys, valid.keys),
                    zipf_s: pick(mask, 1, zipf_s, valid.zipf_s),
                    reads_per_s: pick(mask, 2, reads_per_s, valid.reads_per_s),
                    writes_per_s: pick(mask, 3, writes_per_s, valid.writes_per_s),
                    ttl_s: pick(mask, 4, ttl_s, valid.ttl_s),
                    capacity: pick(mask, 5, capacity, valid.capacity),
                    ..valid
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // In every one of the three caches, hits + misses = reads, every miss reads the database
    // once, and the entries never exceed capacity. All three see the same reads. A hit is
    // served from an entry younger than the TTL. Invalidate-on-write and update-on-write serve
    // no stale reads. A flush empties every cache. Writes to keys outside 0..keys return
    // ActionError and change nothing. The metrics are finite.
    #[test]
    fn cache_keeps_invariants(case in cache_case()) {
        run_cache_case(&case)?;
    }

    #[test]
    fn cache_rejects_invalid_config(invalid in invalid_cache_config()) {
        check_invalid::<Cache>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// DNS resolution
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum DnsOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::Lookup` for this host, which fails unless it is below `names`.
    Lookup(u32),
    /// Applies `Action::ChangeRecord` for this host, which fails unless it is below `names`.
    ChangeRecord(u32),
    /// Applies `Action::FlushCache`.
    Flush,
    /// Crashes the server that the target names, which fails unless it is up.
    Crash(Target),
    /// Restarts the server that the target names, which fails unless it is down.
    Restart(Target),
    /// Applies a fault of a kind the engine does not support.
    Unsupported(Fault),
}

type DnsCase = Case<DnsConfig, DnsOp>;

fn dns_config() -> impl Strategy<Value = DnsConfig> {
    (
        (u32_in(1, 500), u32_in(1, 20), u32_in(1, 5)),
        (
            f64_in(0.0, 86_400.0),
            f64_in(0.0, 172_800.0),
            f64_in(0.0, 500.0),
            f64_in(1.0, 1000.0),
        ),
    )
        .prop_map(
            |((names, zones, tlds), (answer_ttl_s, ns_ttl_s, query_per_s, hop_ms))| DnsConfig {
                names,
                zones,
                tlds,
                answer_ttl_s,
                ns_ttl_s,
                query_per_s,
                hop_ms,
            },
        )
}

fn dns_op() -> impl Strategy<Value = DnsOp> {
    prop_oneof![
        6 => (1u32..=10).prop_map(DnsOp::Step),
        3 => (0u32..8).prop_map(DnsOp::Lookup),
        1 => any::<u32>().prop_map(DnsOp::Lookup),
        1 => (0u32..8).prop_map(DnsOp::ChangeRecord),
        1 => Just(DnsOp::Flush),
        2 => crash_target().prop_map(DnsOp::Crash),
        2 => restart_target().prop_map(DnsOp::Restart),
        1 => unsupported_fault().prop_map(DnsOp::Unsupported),
    ]
}

fn dns_case() -> impl Strategy<Value = DnsCase> {
    (
        dns_config(),
        engine_seed(),
        prop::collection::vec(dns_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Counts rebuilt from the events alone.
#[derive(Default)]
struct DnsModel {
    hits: u64,
    misses: u64,
    failed: u64,
    queries: BTreeMap<dns::Level, u64>,
    /// Level of the last query of every walk seen so far.
    walk_levels: BTreeMap<u64, dns::Level>,
}

fn check_dns_events(
    config: &DnsConfig,
    model: &mut DnsModel,
    events: &[dns::Event],
) -> Result<(), String> {
    for event in events {
        match event {
            dns::Event::CacheHit { age_ms, ttl_s, .. } => {
                ensure!(
                    *age_ms >= 0.0 && *age_ms < ttl_s * 1000.0,
                    "invariant `cached answer is never older than its TTL` broken: age {age_ms} ms, TTL {ttl_s} s"
                );
                model.hits += 1;
            }
            dns::Event::CacheMiss { .. } => model.misses += 1,
            dns::Event::QuerySent { walk, level, .. } => {
                if let Some(previous) = model.walk_levels.get(walk) {
                    ensure!(
                        previous < level,
                        "invariant `a walk goes down the hierarchy` broken: walk {walk} queried {level:?} after {previous:?}"
                    );
                }
                model.walk_levels.insert(*walk, *level);
                *model.queries.entry(*level).or_default() += 1;
            }
            dns::Event::Resolved { latency_ms, .. } => {
                ensure!(
                    *latency_ms >= 0.0 && *latency_ms <= 3.0 * config.hop_ms + TOLERANCE,
                    "invariant `a resolution takes at most three round trips` broken: {latency_ms} ms with hop {} ms",
                    config.hop_ms
                );
            }
            dns::Event::TimedOut { failed_lookups, .. } => {
                model.failed += u64::from(*failed_lookups);
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_dns_state(engine: &Dns, model: &DnsModel) -> Result<(), String> {
    ensure!(
        engine.lookups() == model.hits + model.misses,
        "invariant `every lookup hits or misses` broken: {} lookups, {} hits + {} misses in events",
        engine.lookups(),
        model.hits,
        model.misses
    );
    ensure!(
        engine.hits() == model.hits,
        "invariant `hits match the events` broken: {} vs {}",
        engine.hits(),
        model.hits
    );
    ensure!(
        engine.failed() == model.failed,
        "invariant `SERVFAIL count matches the timeouts` broken: {} vs {}",
        engine.failed(),
        model.failed
    );
    for level in [dns::Level::Root, dns::Level::Tld, dns::Level::Authoritative] {
        let expected = model.queries.get(&level).copied().unwrap_or(0);
        ensure!(
            engine.queries_to(level) == expected,
            "invariant `query counters match the events` broken: {level:?} {} vs {expected}",
            engine.queries_to(level)
        );
    }
    Ok(())
}

fn run_dns_op(engine: &mut Dns, model: &mut DnsModel, op: &DnsOp) -> Result<(), String> {
    let config = engine.config().clone();
    let statuses = engine.node_statuses();
    let up: Vec<u32> = statuses.iter().filter(|s| s.up).map(|s| s.id).collect();
    let down: Vec<u32> = statuses.iter().filter(|s| !s.up).map(|s| s.id).collect();
    let (action, valid) = match op {
        DnsOp::Step(steps) => {
            for _ in 0..*steps {
                let events = engine.step();
                check_dns_events(&config, model, &events)?;
                check_dns_state(engine, model)?;
            }
            return Ok(());
        }
        DnsOp::Lookup(name) => (dns::Action::Lookup { name: *name }, *name < config.names),
        DnsOp::ChangeRecord(name) => (
            dns::Action::ChangeRecord { name: *name },
            *name < config.names,
        ),
        DnsOp::Flush => (dns::Action::FlushCache, true),
        DnsOp::Crash(target) => {
            let node = target.resolve(&up, &down);
            (
                dns::Action::Fault(Fault::Crash { node }),
                up.contains(&node),
            )
        }
        DnsOp::Restart(target) => {
            let node = target.resolve(&up, &down);
            (
                dns::Action::Fault(Fault::Restart { node }),
                down.contains(&node),
            )
        }
        DnsOp::Unsupported(fault) => (dns::Action::Fault(fault.clone()), false),
    };
    let lookups = engine.lookups();
    let result = engine.apply(&action);
    match (&result, valid) {
        (Ok(events), true) => check_dns_events(&config, model, events)?,
        (Err(_), false) => {
            ensure!(
                engine.lookups() == lookups && engine.node_statuses() == statuses,
                "invariant `a rejected action changes nothing` broken by {action:?}"
            );
        }
        _ => {
            return Err(format!(
                "invariant `valid actions apply and invalid ones are rejected` broken: {action:?} gave {}",
                describe(&result)
            ));
        }
    }
    let statuses = engine.node_statuses();
    ensure!(
        statuses.len() as u32 == 1 + config.tlds + config.zones,
        "invariant `one server per zone, TLD and the root` broken: {} servers",
        statuses.len()
    );
    check_dns_state(engine, model)
}

fn run_dns_case(case: &DnsCase) -> Result<(), TestCaseError> {
    let mut engine = Dns::new(case.config.clone(), case.seed)
        .map_err(|err| violation(case, "new", &format!("valid config rejected: {err}")))?;
    let mut model = DnsModel::default();
    for (index, op) in case.ops.iter().enumerate() {
        run_dns_op(&mut engine, &mut model, op)
            .map_err(|message| violation(case, &position(index, op, engine.now_ms()), &message))?;
    }
    Ok(())
}

fn invalid_dns_config() -> impl Strategy<Value = InvalidConfig<DnsConfig>> {
    let names = [
        "names",
        "zones",
        "tlds",
        "answer_ttl_s",
        "ns_ttl_s",
        "query_per_s",
        "hop_ms",
    ];
    (
        dns_config(),
        1u8..128,
        (u32_outside(1, 500), u32_outside(1, 20), u32_outside(1, 5)),
        (
            f64_outside(0.0, 86_400.0),
            f64_outside(0.0, 172_800.0),
            f64_outside(0.0, 500.0),
            f64_outside(1.0, 1000.0),
        ),
    )
        .prop_map(
            move |(valid, mask, (names_bad, zones, tlds), (answer, ns, query, hop))| {
                let config = DnsConfig {
                    names: pick(mask, 0, names_bad, valid.names),
                    zones: pick(mask, 1, zones, valid.zones),
                    tlds: pick(mask, 2, tlds, valid.tlds),
                    answer_ttl_s: pick(mask, 3, answer, valid.answer_ttl_s),
                    ns_ttl_s: pick(mask, 4, ns, valid.ns_ttl_s),
                    query_per_s: pick(mask, 5, query, valid.query_per_s),
                    hop_ms: pick(mask, 6, hop, valid.hop_ms),
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // Every cache hit is younger than its TTL. Every walk queries levels in the order root,
    // TLD, authoritative, skipping the ones a cached referral covers, and a resolved lookup
    // waits at most three round trips. Lookups split into hits and misses, and the query and
    // SERVFAIL counters match the events. Out-of-range hosts, crashing a down or unknown
    // server, restarting an up or unknown one, and unsupported fault kinds return ActionError
    // and change nothing.
    #[test]
    fn dns_keeps_invariants(case in dns_case()) {
        run_dns_case(&case)?;
    }

    #[test]
    fn dns_rejects_invalid_config(invalid in invalid_dns_config()) {
        check_invalid::<Dns>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum AvailabilityOp {
    /// Runs this many steps of one simulated week each.
    Step(u32),
    /// Crashes the component that the target names, which fails if it is crashed or unknown.
    Crash(Target),
    /// Restarts the component that the target names, which fails unless it was crashed.
    Restart(Target),
    /// Applies a fault of a kind the engine does not support.
    Unsupported(Fault),
}

type AvailabilityCase = Case<AvailabilityConfig, AvailabilityOp>;

fn availability_config() -> impl Strategy<Value = AvailabilityConfig> {
    let fraction = || f64_in(0.5, MAX_COMPONENT_AVAILABILITY);
    (
        u32_in(1, 8),
        (fraction(), fraction(), fraction()),
        any::<bool>(),
        f64_in(0.1, 720.0),
    )
        .prop_map(
            |(replicas, (lb_availability, app_availability, db_availability), standby, mttr_h)| {
                AvailabilityConfig {
                    replicas,
                    lb_availability,
                    app_availability,
                    db_availability,
                    standby,
                    mttr_h,
                }
            },
        )
}

fn availability_op() -> impl Strategy<Value = AvailabilityOp> {
    prop_oneof![
        4 => Just(AvailabilityOp::Step(1)),
        2 => crash_target().prop_map(AvailabilityOp::Crash),
        2 => restart_target().prop_map(AvailabilityOp::Restart),
        1 => unsupported_fault().prop_map(AvailabilityOp::Unsupported),
    ]
}

fn availability_case() -> impl Strategy<Value = AvailabilityCase> {
    (
        availability_config(),
        engine_seed(),
        prop::collection::vec(availability_op(), 1..=MAX_OPS / 2),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Checks the system state against its components, the uptimes against the clock, and the
/// events against the components and each other.
fn check_availability(
    engine: &Availability,
    events: &[availability::Event],
    outages: &mut u64,
    last_h: &mut f64,
) -> Result<(), String> {
    use availability::{Event, Role};
    for event in events {
        let at_h = match event {
            Event::Failed { at_h, .. }
            | Event::Repaired { at_h, .. }
            | Event::Crashed { at_h, .. }
            | Event::Restarted { at_h, .. }
            | Event::SystemUp { at_h, .. } => *at_h,
            Event::SystemDown { at_h } => {
                *outages += 1;
                *at_h
            }
        };
        ensure!(
            at_h >= *last_h - TOLERANCE,
            "invariant `events come in time order` broken: {at_h} h after {last_h} h"
        );
        *last_h = at_h;
    }

    ensure!(
        engine.outages() == *outages,
        "invariant `outages match the SystemDown events` broken: {} vs {outages}",
        engine.outages()
    );

    let components = engine.components();
    let tier_up = |roles: &[Role]| {
        components
            .iter()
            .any(|component| roles.contains(&component.role) && component.up)
    };
    let expected = tier_up(&[Role::LoadBalancer])
        && tier_up(&[Role::App])
        && tier_up(&[Role::Database, Role::Standby]);
    ensure!(
        engine.system_up() == expected,
        "invariant `the system is up when every tier has a component up` broken: {} vs {expected}",
        engine.system_up()
    );
    for component in components {
        ensure!(
            !component.crashed || !component.up,
            "invariant `a crashed component stays down` broken: component {}",
            component.id
        );
        ensure!(
            component.uptime_h <= engine.now_h() + TOLERANCE,
            "invariant `uptime never exceeds elapsed time` broken: component {} up {} h of {} h",
            component.id,
            component.uptime_h,
            engine.now_h()
        );
    }

    let measured = engine.measured();
    ensure!(
        (0.0..=1.0 + TOLERANCE).contains(&measured),
        "invariant `measured availability lies in [0, 1]` broken: {measured}"
    );
    // The load balancer is in series with everything, so the system is never up without it.
    let lb = engine.measured_component(0).unwrap_or(0.0);
    ensure!(
        measured <= lb + TOLERANCE,
        "invariant `a system is no more available than a component in series` broken: {measured} > {lb}"
    );
    let formula = engine.formula();
    ensure!(
        formula > 0.0 && formula <= 1.0,
        "invariant `the formula lies in (0, 1]` broken: {formula}"
    );
    Ok(())
}

fn run_availability_case(case: &AvailabilityCase) -> Result<(), TestCaseError> {
    let mut engine = Availability::new(case.config.clone(), case.seed)
        .map_err(|err| violation(case, "new", &format!("valid config rejected: {err}")))?;
    let (mut outages, mut last_h) = (0, 0.0);
    for (index, op) in case.ops.iter().enumerate() {
        let at = position(index, op, engine.now_ms());
        let statuses = engine.node_statuses();
        let up: Vec<u32> = statuses.iter().filter(|s| s.up).map(|s| s.id).collect();
        let down: Vec<u32> = statuses.iter().filter(|s| !s.up).map(|s| s.id).collect();
        let (action, valid) = match op {
            AvailabilityOp::Step(steps) => {
                for _ in 0..*steps {
                    let events = engine.step();
                    check_availability(&engine, &events, &mut outages, &mut last_h)
                        .map_err(|message| violation(case, &at, &message))?;
                }
                continue;
            }
            AvailabilityOp::Crash(target) => {
                let node = target.resolve(&up, &down);
                (Fault::Crash { node }, up.contains(&node))
            }
            AvailabilityOp::Restart(target) => {
                let node = target.resolve(&up, &down);
                (Fault::Restart { node }, down.contains(&node))
            }
            AvailabilityOp::Unsupported(fault) => (fault.clone(), false),
        };
        let now_h = engine.now_h();
        let result = engine.apply(&availability::Action::Fault(action.clone()));
        match (&result, valid) {
            (Ok(events), true) => check_availability(&engine, events, &mut outages, &mut last_h)
                .map_err(|message| violation(case, &at, &message))?,
            (Err(_), false) => {
                if engine.node_statuses() != statuses || engine.now_h() != now_h {
                    return Err(violation(
                        case,
                        &at,
                        &format!(
                            "invariant `a rejected action changes nothing` broken by {action:?}"
                        ),
                    ));
                }
            }
            _ => {
                return Err(violation(
                    case,
                    &at,
                    &format!(
                        "invariant `valid faults apply and invalid ones are rejected` broken: {action:?} gave {}",
                        describe(&result)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn invalid_availability_config() -> impl Strategy<Value = InvalidConfig<AvailabilityConfig>> {
    let names = [
        "replicas",
        "lb_availability",
        "app_availability",
        "db_availability",
        "mttr_h",
    ];
    let fraction = || f64_outside(0.5, MAX_COMPONENT_AVAILABILITY);
    (
        availability_config(),
        1u8..32,
        u32_outside(1, 8),
        (fraction(), fraction(), fraction()),
        f64_outside(0.1, 720.0),
    )
        .prop_map(move |(valid, mask, replicas, (lb, app, db), mttr_h)| {
            let config = AvailabilityConfig {
                replicas: pick(mask, 0, replicas, valid.replicas),
                lb_availability: pick(mask, 1, lb, valid.lb_availability),
                app_availability: pick(mask, 2, app, valid.app_availability),
                db_availability: pick(mask, 3, db, valid.db_availability),
                mttr_h: pick(mask, 4, mttr_h, valid.mttr_h),
                standby: valid.standby,
            };
            InvalidConfig {
                config,
                first_invalid: first_set(mask, &names),
            }
        })
}

proptest! {
    #![proptest_config(proptest_config())]

    // The system is up exactly when the load balancer, a replica and a database server are up.
    // Components crashed by hand stay down until restarted. Uptimes never exceed the elapsed
    // time, the measured availability lies in [0, 1] and never exceeds the load balancer's, and
    // events come in time order. Crashing a crashed or unknown component, restarting one not
    // crashed by hand, and unsupported fault kinds return ActionError and change nothing.
    #[test]
    fn availability_keeps_invariants(case in availability_case()) {
        run_availability_case(&case)?;
    }

    #[test]
    fn availability_rejects_invalid_config(invalid in invalid_availability_config()) {
        check_invalid::<Availability>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum BreakerOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::SetBreaker`.
    SetBreaker(bool),
    /// Fails or recovers the dependency, which fails when it is already in that state.
    FailDependency(bool),
    /// Applies a fault of a kind the engine does not support.
    Unsupported(Fault),
}

type BreakerCase = Case<CircuitBreakerConfig, BreakerOp>;

fn breaker_config() -> impl Strategy<Value = CircuitBreakerConfig> {
    (
        (
            f64_in(0.1, 200.0),
            f64_in(1.0, 10_000.0),
            f64_in(1.0, 60_000.0),
            any::<bool>(),
            u32_in(1, 1000),
        ),
        (
            f64_in(1.0, 100.0),
            f64_in(10.0, 600_000.0),
            u32_in(1, 100),
            f64_in(0.0, 600_000.0),
            f64_in(0.0, 600_000.0),
        ),
    )
        .prop_map(
            |(
                (rate_per_s, service_ms, timeout_ms, breaker, window),
                (failure_threshold_pct, open_ms, half_open_probes, outage_start_ms, outage_ms),
            )| CircuitBreakerConfig {
                rate_per_s,
                service_ms,
                timeout_ms,
                breaker,
                window,
                failure_threshold_pct,
                open_ms,
                half_open_probes,
                outage_start_ms,
                outage_ms,
            },
        )
}

/// Draws a fault the circuit breaker does not support: anything but a dependency fault.
fn breaker_unsupported_fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::Heal),
        (0u32..8).prop_map(|node| Fault::Crash { node }),
        (0u32..8).prop_map(|node| Fault::Restart { node }),
        f64_in(0.0, 1.0).prop_map(|probability| Fault::DropMessages { probability }),
        f64_in(0.0, MAX_DELAY_MS).prop_map(|ms| Fault::DelayMessages { ms }),
    ]
}

fn breaker_op() -> impl Strategy<Value = BreakerOp> {
    prop_oneof![
        6 => (1u32..=10).prop_map(BreakerOp::Step),
        1 => any::<bool>().prop_map(BreakerOp::SetBreaker),
        2 => any::<bool>().prop_map(BreakerOp::FailDependency),
        1 => breaker_unsupported_fault().prop_map(BreakerOp::Unsupported),
    ]
}

fn breaker_case() -> impl Strategy<Value = BreakerCase> {
    (
        breaker_config(),
        engine_seed(),
        prop::collection::vec(breaker_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// The breaker rebuilt from the events alone.
struct BreakerModel {
    window: u32,
    threshold_pct: f64,
    probes: u32,
    enabled: bool,
    state: BreakerState,
    /// Counts state periods as the engine must: a transition or a switch starts a new one.
    period: u64,
    /// Request id to the period its outcome counts toward, for calls sent with the breaker on.
    counts_for: BTreeMap<u64, u64>,
    outcomes: VecDeque<bool>,
    probes_sent: u32,
    probes_succeeded: u32,
    /// The transition that the last outcome or switch made due, which must be the next event.
    expected: Option<BreakerState>,
    sent: u64,
    shed: u64,
    finished: u64,
    next_id: u64,
}

impl BreakerModel {
    fn new(config: &CircuitBreakerConfig) -> Self {
        Self {
            window: config.window,
            threshold_pct: config.failure_threshold_pct,
            probes: config.half_open_probes,
            enabled: config.breaker,
            state: BreakerState::Closed,
            period: 0,
            counts_for: BTreeMap::new(),
            outcomes: VecDeque::new(),
            probes_sent: 0,
            probes_succeeded: 0,
            expected: None,
            sent: 0,
            shed: 0,
            finished: 0,
            next_id: 0,
        }
    }

    fn check_events(&mut self, events: &[circuit_breaker::Event]) -> Result<(), String> {
        use circuit_breaker::Event;
        for event in events {
            if let Some(to) = self.expected.take() {
                let matches = matches!(
                    *event,
                    Event::StateChanged { from, to: actual, .. } if from == self.state && actual == to
                );
                ensure!(
                    matches,
                    "invariant `the breaker changes state exactly when due` broken: expected a change to {to:?}, got {event:?}"
                );
                self.enter(to);
                continue;
            }
            match *event {
                Event::Sent {
                    request_id, probe, ..
                } => self.on_sent(request_id, probe)?,
                Event::Shed {
                    request_id, state, ..
                } => {
                    self.on_arrival(request_id)?;
                    ensure!(
                        self.enabled && state == self.state && state != BreakerState::Closed,
                        "invariant `only an open or half-open breaker sheds` broken: {event:?}, model {:?}, enabled {}",
                        self.state,
                        self.enabled
                    );
                    ensure!(
                        state == BreakerState::Open || self.probes_sent >= self.probes,
                        "invariant `half-open sheds only once every probe is out` broken: {event:?} after {} of {} probes",
                        self.probes_sent,
                        self.probes
                    );
                    self.shed += 1;
                }
                Event::Succeeded { request_id, .. } => self.on_outcome(request_id, false),
                Event::TimedOut { request_id, .. } => self.on_outcome(request_id, true),
                Event::StateChanged { from, to, .. } => {
                    let reset = self.enabled && from == self.state && from != BreakerState::Closed;
                    ensure!(
                        to == BreakerState::HalfOpen && from == BreakerState::Open,
                        "invariant `the breaker changes state exactly when due` broken: unexpected {event:?}, reset {reset}"
                    );
                    self.enter(to);
                }
                Event::DependencyChanged { .. } => {}
                Event::BreakerSwitched { enabled, .. } => {
                    self.enabled = enabled;
                    if self.state == BreakerState::Closed {
                        self.period += 1;
                        self.outcomes.clear();
                    } else {
                        self.expected = Some(BreakerState::Closed);
                    }
                }
            }
        }
        ensure!(
            self.expected.is_none(),
            "invariant `the breaker changes state exactly when due` broken: a change to {:?} did not happen",
            self.expected
        );
        Ok(())
    }

    fn on_arrival(&mut self, request_id: u64) -> Result<(), String> {
        ensure!(
            request_id == self.next_id,
            "invariant `calls are numbered in arrival order` broken: got {request_id}, expected {}",
            self.next_id
        );
        self.next_id += 1;
        Ok(())
    }

    fn on_sent(&mut self, request_id: u64, probe: bool) -> Result<(), String> {
        self.on_arrival(request_id)?;
        self.sent += 1;
        if !self.enabled {
            ensure!(
                !probe,
                "invariant `no probes without a breaker` broken: call {request_id}"
            );
            return Ok(());
        }
        match self.state {
            BreakerState::Open => {
                return Err(format!(
                    "invariant `an open breaker sends no requests` broken: call {request_id} was sent"
                ));
            }
            BreakerState::HalfOpen => {
                self.probes_sent += 1;
                ensure!(
                    probe && self.probes_sent <= self.probes,
                    "invariant `half-open admits only probe requests` broken: call {request_id}, probe {probe}, {} of {} probes",
                    self.probes_sent,
                    self.probes
                );
            }
            BreakerState::Closed => ensure!(
                !probe,
                "invariant `a closed breaker sends no probes` broken: call {request_id}"
            ),
        }
        self.counts_for.insert(request_id, self.period);
        Ok(())
    }

    fn on_outcome(&mut self, request_id: u64, failed: bool) {
        self.finished += 1;
        if self.counts_for.remove(&request_id) != Some(self.period) || !self.enabled {
            return;
        }
        match self.state {
            BreakerState::Closed => {
                self.outcomes.push_back(failed);
                if self.outcomes.len() > self.window as usize {
                    self.outcomes.pop_front();
                }
                let failures = self.outcomes.iter().filter(|&&f| f).count() as f64;
                let full = self.outcomes.len() == self.window as usize;
                if full && failures * 100.0 / f64::from(self.window) >= self.threshold_pct {
                    self.expected = Some(BreakerState::Open);
                }
            }
            BreakerState::HalfOpen if failed => self.expected = Some(BreakerState::Open),
            BreakerState::HalfOpen => {
                self.probes_succeeded += 1;
                if self.probes_succeeded == self.probes {
                    self.expected = Some(BreakerState::Closed);
                }
            }
            BreakerState::Open => {}
        }
    }

    fn enter(&mut self, to: BreakerState) {
        self.state = to;
        self.period += 1;
        self.outcomes.clear();
        self.probes_sent = 0;
        self.probes_succeeded = 0;
    }
}

/// Checks the engine's accessors against the model after a step or action.
fn check_breaker_state(
    engine: &CircuitBreaker,
    model: &BreakerModel,
    steps: u64,
) -> Result<(), String> {
    let now_ms = engine.now_ms();
    ensure!(
        now_ms == steps as f64 * circuit_breaker::STEP_MS,
        "invariant `each step advances STEP_MS` broken: now_ms {now_ms} after {steps} steps"
    );
    ensure!(
        engine.state() == model.state,
        "invariant `state follows the events` broken: engine {:?}, model {:?}",
        engine.state(),
        model.state
    );
    ensure!(
        engine.sent() == model.sent && engine.shed() == model.shed,
        "invariant `counters count the events` broken: engine sent {} shed {}, events {} and {}",
        engine.sent(),
        engine.shed(),
        model.sent,
        model.shed
    );
    let finished = engine.succeeded() + engine.timed_out();
    ensure!(
        finished == model.finished && finished + engine.in_flight() as u64 == engine.sent(),
        "invariant `sent = succeeded + timed out + in flight` broken: {finished} finished, {} in flight, {} sent",
        engine.in_flight(),
        engine.sent()
    );
    let (failures, recorded) = engine.window_counts();
    ensure!(
        failures <= recorded && recorded <= model.window,
        "invariant `the window holds at most window outcomes` broken: {failures} of {recorded}, window {}",
        model.window
    );
    ensure!(
        engine.timeline().len() <= circuit_breaker::TIMELINE_LEN,
        "invariant `history is bounded` broken: timeline {}",
        engine.timeline().len()
    );
    // Invariant: shed requests fail fast, at the instant they arrive.
    for call in engine.timeline() {
        if call.outcome == circuit_breaker::Outcome::Shed {
            ensure!(
                call.done_ms == Some(call.at_ms),
                "invariant `shed requests fail fast` broken: {call:?}"
            );
        }
    }
    Ok(())
}

/// The state an invalid action must leave as it was.
fn breaker_counters(engine: &CircuitBreaker) -> (f64, BreakerState, bool, bool, u64, u64, usize) {
    (
        engine.now_ms(),
        engine.state(),
        engine.dependency_failing(),
        engine.config().breaker,
        engine.sent(),
        engine.shed(),
        engine.timeline().len(),
    )
}

fn run_breaker_op(
    engine: &mut CircuitBreaker,
    model: &mut BreakerModel,
    steps: &mut u64,
    op: &BreakerOp,
) -> Result<(), String> {
    let action = match op {
        BreakerOp::Step(count) => {
            for _ in 0..*count {
                let events = engine.step();
                *steps += 1;
                model.check_events(&events)?;
                check_breaker_state(engine, model, *steps)?;
            }
            return Ok(());
        }
        BreakerOp::SetBreaker(enabled) => circuit_breaker::Action::SetBreaker { enabled: *enabled },
        BreakerOp::FailDependency(failing) => {
            CircuitBreaker::fault_action(Fault::FailDependency { failing: *failing })
        }
        BreakerOp::Unsupported(fault) => CircuitBreaker::fault_action(fault.clone()),
    };
    let should_fail = match op {
        BreakerOp::FailDependency(failing) => *failing == engine.dependency_failing(),
        BreakerOp::Unsupported(_) => true,
        _ => false,
    };
    let before = breaker_counters(engine);
    let result = engine.apply(&action);
    if should_fail {
        ensure!(
            result.as_ref().is_err_and(|err| !err.0.is_empty()),
            "invariant `invalid action returns ActionError` broken: {op:?} returned {}",
            describe(&result)
        );
        ensure!(
            breaker_counters(engine) == before,
            "invariant `invalid action leaves the state unchanged` broken: {op:?}"
        );
    } else {
        let events = result.map_err(|err| {
            format!("invariant `valid action is applied` broken: {op:?} failed: {err}")
        })?;
        model.check_events(&events)?;
    }
    check_breaker_state(engine, model, *steps)
}

fn run_breaker_case(case: &BreakerCase) -> Result<(), TestCaseError> {
    let mut engine = CircuitBreaker::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    let mut model = BreakerModel::new(&case.config);
    let mut steps = 0;
    check_breaker_state(&engine, &model, steps)
        .map_err(|message| violation(case, "start", &message))?;
    for (index, op) in case.ops.iter().enumerate() {
        run_breaker_op(&mut engine, &mut model, &mut steps, op)
            .map_err(|message| violation(case, &position(index, op, engine.now_ms()), &message))?;
    }
    Ok(())
}

/// Draws configurations with one to eight of the first eight fields invalid; `outage_ms`, the
/// ninth, is checked by the same `check_range_f64` as `outage_start_ms`.
fn invalid_breaker_config() -> impl Strategy<Value = InvalidConfig<CircuitBreakerConfig>> {
    let names = [
        "rate_per_s",
        "service_ms",
        "timeout_ms",
        "window",
        "failure_threshold_pct",
        "open_ms",
        "half_open_probes",
        "outage_start_ms",
    ];
    (
        breaker_config(),
        1u8..=255,
        (
            f64_outside(0.1, 200.0),
            f64_outside(1.0, 10_000.0),
            f64_outside(1.0, 60_000.0),
            u32_outside(1, 1000),
        ),
        (
            f64_outside(1.0, 100.0),
            f64_outside(10.0, 600_000.0),
            u32_outside(1, 100),
            f64_outside(0.0, 600_000.0),
        ),
    )
        .prop_map(
            move |(valid, mask, (rate, service, timeout, window), (pct, open, probes, start))| {
                let config = CircuitBreakerConfig {
                    rate_per_s: pick(mask, 0, rate, valid.rate_per_s),
                    service_ms: pick(mask, 1, service, valid.service_ms),
                    timeout_ms: pick(mask, 2, timeout, valid.timeout_ms),
                    window: pick(mask, 3, window, valid.window),
                    failure_threshold_pct: pick(mask, 4, pct, valid.failure_threshold_pct),
                    open_ms: pick(mask, 5, open, valid.open_ms),
                    half_open_probes: pick(mask, 6, probes, valid.half_open_probes),
                    outage_start_ms: pick(mask, 7, start, valid.outage_start_ms),
                    ..valid
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // An open breaker sends no call. A half-open breaker sends at most `half_open_probes` calls,
    // each a probe, and sheds only once they are out. The breaker opens from closed exactly when
    // its full window of the current closed period reaches the threshold, opens from half-open
    // when a probe fails, and closes when every probe succeeds. Shed calls finish at the instant
    // they arrive. sent = succeeded + timed out + in flight. With the breaker off nothing is
    // shed. Failing a failing dependency, recovering a healthy one, and unsupported fault kinds
    // return ActionError and change nothing.
    #[test]
    fn circuit_breaker_keeps_invariants(case in breaker_case()) {
        run_breaker_case(&case)?;
    }

    #[test]
    fn circuit_breaker_rejects_invalid_config(invalid in invalid_breaker_config()) {
        check_invalid::<CircuitBreaker>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Idempotency keys
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum PaymentOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::SetKeys`.
    SetKeys(bool),
}

type PaymentCase = Case<IdempotencyConfig, PaymentOp>;

fn payment_config() -> impl Strategy<Value = IdempotencyConfig> {
    (
        f64_in(0.1, 100.0),
        f64_in(0.0, 100.0),
        f64_in(0.0, 10_000.0),
        f64_in(0.0, 10_000.0),
        f64_in(1.0, 60_000.0),
        f64_in(0.0, 60_000.0),
        u32_in(1, idempotency::MAX_ATTEMPTS),
        any::<bool>(),
    )
        .prop_map(
            |(
                rate_per_s,
                loss_pct,
                network_ms,
                service_ms,
                timeout_ms,
                backoff_ms,
                max_attempts,
                keys,
            )| IdempotencyConfig {
                rate_per_s,
                loss_pct,
                network_ms,
                service_ms,
                timeout_ms,
                backoff_ms,
                max_attempts,
                keys,
            },
        )
}

fn payment_op() -> impl Strategy<Value = PaymentOp> {
    prop_oneof![
        8 => (1u32..=10).prop_map(PaymentOp::Step),
        1 => any::<bool>().prop_map(PaymentOp::SetKeys),
    ]
}

fn payment_case() -> impl Strategy<Value = PaymentCase> {
    (
        payment_config(),
        engine_seed(),
        prop::collection::vec(payment_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// The payments rebuilt from the events alone.
#[derive(Default)]
struct PaymentModel {
    max_attempts: u32,
    /// Payment id to the attempts sent so far.
    attempts: BTreeMap<u64, u32>,
    /// (payment id, attempt) to whether the attempt carried a key.
    keyed: BTreeMap<(u64, u32), bool>,
    /// Payment id to the charges made for it.
    charges: BTreeMap<u64, u32>,
    ended: BTreeSet<u64>,
    total_charges: u64,
    duplicates: u64,
    retries: u64,
}

impl PaymentModel {
    fn check_events(&mut self, events: &[idempotency::Event]) -> Result<(), String> {
        use idempotency::{Event, Reply};
        for event in events {
            match *event {
                Event::Sent {
                    payment_id,
                    attempt,
                    keyed,
                    ..
                } => {
                    let previous = self.attempts.insert(payment_id, attempt).unwrap_or(0);
                    ensure!(
                        attempt == previous + 1 && attempt <= self.max_attempts,
                        "invariant `retry count never exceeds max_attempts` broken: attempt {attempt} of payment {payment_id} after {previous}, max {}",
                        self.max_attempts
                    );
                    ensure!(
                        !self.ended.contains(&payment_id),
                        "invariant `an ended payment sends nothing` broken: payment {payment_id} attempt {attempt}"
                    );
                    if attempt > 1 {
                        self.retries += 1;
                    }
                    self.keyed.insert((payment_id, attempt), keyed);
                }
                Event::Processed {
                    payment_id,
                    attempt,
                    reply,
                    duplicate,
                    ..
                } => {
                    let keyed = self.keyed.get(&(payment_id, attempt)).copied();
                    let before = self.charges.get(&payment_id).copied().unwrap_or(0);
                    ensure!(
                        keyed == Some(true) || reply == Reply::Charged,
                        "invariant `without a key every attempt charges` broken: {event:?}, keyed {keyed:?}"
                    );
                    if reply == Reply::Charged {
                        // With keys each payment charges exactly once: a keyed attempt charges only
                        // when nothing was charged for its payment before.
                        ensure!(
                            keyed != Some(true) || before == 0,
                            "invariant `with keys each payment charges exactly once` broken: {event:?} after {before} charges"
                        );
                        ensure!(
                            duplicate == (before > 0),
                            "invariant `duplicate marks a second charge` broken: {event:?} after {before} charges"
                        );
                        self.charges.insert(payment_id, before + 1);
                        self.total_charges += 1;
                        self.duplicates += u64::from(duplicate);
                    } else {
                        ensure!(
                            !duplicate,
                            "invariant `only a charge can be a duplicate` broken: {event:?}"
                        );
                    }
                    if reply == Reply::Replayed {
                        ensure!(
                            before > 0,
                            "invariant `a replay returns an earlier charge` broken: {event:?} with no charge"
                        );
                    }
                }
                Event::Succeeded {
                    payment_id,
                    attempts,
                    ..
                } => {
                    ensure!(
                        self.ended.insert(payment_id) && attempts <= self.max_attempts,
                        "invariant `a payment ends once` broken: {event:?}"
                    );
                }
                Event::GaveUp { payment_id, .. } => {
                    let attempts = self.attempts.get(&payment_id).copied().unwrap_or(0);
                    ensure!(
                        self.ended.insert(payment_id) && attempts == self.max_attempts,
                        "invariant `a client gives up only after max_attempts` broken: {event:?} after {attempts} attempts"
                    );
                }
                Event::ResponseLost { .. }
                | Event::TimedOut { .. }
                | Event::KeysSwitched { .. } => {}
            }
        }
        Ok(())
    }
}

/// Checks the engine's counters against the model after a step or action.
fn check_payment_state(
    engine: &Idempotency,
    model: &PaymentModel,
    steps: u64,
) -> Result<(), String> {
    ensure!(
        engine.now_ms() == steps as f64 * idempotency::STEP_MS,
        "invariant `each step advances STEP_MS` broken: now_ms {} after {steps} steps",
        engine.now_ms()
    );
    ensure!(
        engine.charges() == model.total_charges
            && engine.duplicates() == model.duplicates
            && engine.retries() == model.retries,
        "invariant `counters count the events` broken: engine {}/{}/{} charges/duplicates/retries, events {}/{}/{}",
        engine.charges(),
        engine.duplicates(),
        engine.retries(),
        model.total_charges,
        model.duplicates,
        model.retries
    );
    let accounted = engine.succeeded() + engine.gave_up() + engine.in_progress() as u64;
    ensure!(
        accounted == engine.payments() && engine.payments() == model.attempts.len() as u64,
        "invariant `every payment is confirmed, given up or in progress` broken: {accounted} of {} ({} sent)",
        engine.payments(),
        model.attempts.len()
    );
    ensure!(
        engine.recent_payments().len() <= idempotency::RECENT_PAYMENTS,
        "invariant `history is bounded` broken: {} recent payments",
        engine.recent_payments().len()
    );
    Ok(())
}

fn run_payment_case(case: &PaymentCase) -> Result<(), TestCaseError> {
    let mut engine = Idempotency::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    let mut model = PaymentModel {
        max_attempts: case.config.max_attempts,
        ..PaymentModel::default()
    };
    let mut steps = 0;
    for (index, op) in case.ops.iter().enumerate() {
        let at = position(index, op, engine.now_ms());
        match *op {
            PaymentOp::Step(count) => {
                for _ in 0..count {
                    let events = engine.step();
                    steps += 1;
                    model
                        .check_events(&events)
                        .and_then(|()| check_payment_state(&engine, &model, steps))
                        .map_err(|message| violation(case, &at, &message))?;
                }
            }
            PaymentOp::SetKeys(enabled) => {
                let result = engine.apply(&idempotency::Action::SetKeys { enabled });
                let events = result.map_err(|err| {
                    violation(
                        case,
                        &at,
                        &format!("invariant `valid action is applied` broken: {err}"),
                    )
                })?;
                model
                    .check_events(&events)
                    .and_then(|()| check_payment_state(&engine, &model, steps))
                    .map_err(|message| violation(case, &at, &message))?;
            }
        }
    }
    Ok(())
}

fn invalid_payment_config() -> impl Strategy<Value = InvalidConfig<IdempotencyConfig>> {
    let names = [
        "rate_per_s",
        "loss_pct",
        "network_ms",
        "service_ms",
        "timeout_ms",
        "backoff_ms",
        "max_attempts",
    ];
    (
        payment_config(),
        1u8..128,
        (
            f64_outside(0.1, 100.0),
            f64_outside(0.0, 100.0),
            f64_outside(0.0, 10_000.0),
            f64_outside(0.0, 10_000.0),
        ),
        (
            f64_outside(1.0, 60_000.0),
            f64_outside(0.0, 60_000.0),
            u32_outside(1, idempotency::MAX_ATTEMPTS),
        ),
    )
        .prop_map(
            move |(valid, mask, (rate, loss, network, service), (timeout, backoff, attempts))| {
                let config = IdempotencyConfig {
                    rate_per_s: pick(mask, 0, rate, valid.rate_per_s),
                    loss_pct: pick(mask, 1, loss, valid.loss_pct),
                    network_ms: pick(mask, 2, network, valid.network_ms),
                    service_ms: pick(mask, 3, service, valid.service_ms),
                    timeout_ms: pick(mask, 4, timeout, valid.timeout_ms),
                    backoff_ms: pick(mask, 5, backoff, valid.backoff_ms),
                    max_attempts: pick(mask, 6, attempts, valid.max_attempts),
                    keys: valid.keys,
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // A payment sends attempts 1, 2, ... up to max_attempts and nothing after it ends. Without a
    // key every attempt charges, and a charge is marked duplicate exactly when its payment was
    // charged before. A keyed attempt charges only when its payment has no charge yet, and a
    // replay follows an earlier charge. A client gives up only after max_attempts, and every
    // payment is confirmed, given up or still in progress. The counters match the events.
    #[test]
    fn idempotency_keeps_invariants(case in payment_case()) {
        run_payment_case(&case)?;
    }

    #[test]
    fn idempotency_rejects_invalid_config(invalid in invalid_payment_config()) {
        check_invalid::<Idempotency>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Load balancer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum BalancerOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::SetArrivalRate`, valid or not.
    SetRate(f64),
    Crash(Target),
    Restart(Target),
    Unsupported(Fault),
}

type BalancerCase = Case<LoadBalancerConfig, BalancerOp>;

fn balancer_config() -> impl Strategy<Value = LoadBalancerConfig> {
    (
        (u32_in(1, load_balancer::MAX_SERVERS), u32_in(1, 16)),
        f64_in(0.1, load_balancer::MAX_ARRIVAL_PER_S),
        f64_in(1.0, 10_000.0),
        (f64_in(0.0, 1.0), f64_in(1.0, 100.0)),
        u32_in(1, 1_000),
        (
            prop_oneof![Just(Policy::RoundRobin), Just(Policy::LeastConnections)],
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (servers, workers),
                arrival_per_s,
                service_ms,
                (slow_fraction, slow_factor),
                queue_limit,
                (policy, compare),
            )| LoadBalancerConfig {
                servers,
                workers,
                arrival_per_s,
                service_ms,
                slow_fraction,
                slow_factor,
                queue_limit,
                policy,
                compare,
            },
        )
}

fn balancer_op() -> impl Strategy<Value = BalancerOp> {
    prop_oneof![
        6 => (1u32..=4).prop_map(BalancerOp::Step),
        1 => f64_in(0.1, load_balancer::MAX_ARRIVAL_PER_S).prop_map(BalancerOp::SetRate),
        1 => f64_outside(0.1, load_balancer::MAX_ARRIVAL_PER_S).prop_map(BalancerOp::SetRate),
        2 => crash_target().prop_map(BalancerOp::Crash),
        2 => restart_target().prop_map(BalancerOp::Restart),
        1 => unsupported_fault().prop_map(BalancerOp::Unsupported),
    ]
}

fn balancer_case() -> impl Strategy<Value = BalancerCase> {
    (
        balancer_config(),
        engine_seed(),
        prop::collection::vec(balancer_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Requests per server and per lane, and which servers are down, rebuilt from the events.
#[derive(Debug, Default)]
struct BalancerModel {
    /// Requests on each server (queued plus in service), by lane and server id.
    active: BTreeMap<(u32, u32), u32>,
    down: BTreeSet<u32>,
    /// Whether a crash has happened, after which round-robin counts may drift apart.
    crashed_once: bool,
}

impl BalancerModel {
    fn check_events(
        &mut self,
        engine: &LoadBalancer,
        events: &[load_balancer::Event],
    ) -> Result<(), String> {
        use load_balancer::Event;
        let servers = engine.config().servers;
        let mut last_routed: Option<(u32, u32)> = None;
        for event in events {
            match *event {
                Event::Routed {
                    lane,
                    server_id,
                    active,
                    ..
                } => {
                    let held = self.active.get(&(lane, server_id)).copied().unwrap_or(0);
                    ensure!(
                        held == active,
                        "invariant `Routed reports the server's requests` broken: {event:?}, model {held}"
                    );
                    ensure!(
                        !self.down.contains(&server_id),
                        "invariant `no request goes to a down server` broken: {event:?}"
                    );
                    let policy = engine.lanes().get(lane as usize).map(|l| l.policy());
                    if policy == Some(Policy::LeastConnections) {
                        let least = (0..servers)
                            .filter(|id| !self.down.contains(id))
                            .map(|id| self.active.get(&(lane, id)).copied().unwrap_or(0))
                            .min();
                        ensure!(
                            least == Some(held),
                            "invariant `least-connections never picks a busier server` broken: {event:?}, least {least:?}"
                        );
                    }
                    *self.active.entry((lane, server_id)).or_default() += 1;
                    last_routed = Some((lane, server_id));
                }
                Event::Dropped {
                    lane,
                    server_id: Some(server_id),
                    ..
                } => {
                    ensure!(
                        last_routed == Some((lane, server_id)),
                        "invariant `a full-queue drop follows its Routed` broken: {event:?}"
                    );
                    let count = self.active.entry((lane, server_id)).or_default();
                    *count = count.saturating_sub(1);
                }
                Event::Dropped {
                    server_id: None, ..
                } => ensure!(
                    self.down.len() == servers as usize,
                    "invariant `a request is dropped for lack of a server only when all are down` broken: {event:?}"
                ),
                Event::Completed {
                    lane, server_id, ..
                } => {
                    let count = self.active.entry((lane, server_id)).or_default();
                    ensure!(
                        *count > 0,
                        "invariant `a server completes only requests it holds` broken: {event:?}"
                    );
                    *count -= 1;
                }
                Event::ServerCrashed {
                    lane,
                    server_id,
                    ref lost_request_ids,
                    ..
                } => {
                    let held = self.active.insert((lane, server_id), 0).unwrap_or(0);
                    ensure!(
                        held as usize == lost_request_ids.len(),
                        "invariant `a crash loses exactly the server's requests` broken: {event:?}, model {held}"
                    );
                    self.down.insert(server_id);
                    self.crashed_once = true;
                }
                Event::ServerRestarted { server_id, .. } => {
                    self.down.remove(&server_id);
                }
                Event::Arrived { .. } => {}
            }
        }
        Ok(())
    }
}

fn check_balancer_state(engine: &LoadBalancer, model: &BalancerModel) -> Result<(), String> {
    let config = engine.config();
    let lanes = engine.lanes();
    ensure!(
        lanes.len() == if config.compare { 2 } else { 1 },
        "invariant `compare runs two lanes` broken: {} lanes",
        lanes.len()
    );
    for (lane_id, lane) in lanes.iter().enumerate() {
        let total = lane.completed() + lane.queued() + lane.in_service() + lane.dropped();
        ensure!(
            engine.arrived() == total + lane.failed(),
            "invariant `arrived = completed + queued + in service + dropped + failed` broken in lane {lane_id}"
        );
        for server in lane.servers() {
            let modelled = model
                .active
                .get(&(lane_id as u32, server.id))
                .copied()
                .unwrap_or(0);
            ensure!(
                server.active() == modelled,
                "invariant `server requests match the events` broken: lane {lane_id} server {} holds {}, model {modelled}",
                server.id,
                server.active()
            );
            ensure!(
                server.in_service.len() <= config.workers as usize
                    && server.queue.len() <= config.queue_limit as usize,
                "invariant `a server holds at most workers + queue_limit` broken: {server:?}"
            );
            ensure!(
                server.queue.is_empty() || server.in_service.len() == config.workers as usize,
                "invariant `requests queue only while every worker is busy` broken: {server:?}"
            );
            ensure!(
                server.up != model.down.contains(&server.id),
                "invariant `up matches the crash and restart events` broken: {server:?}"
            );
        }
        if lane.policy() == Policy::RoundRobin && !model.crashed_once {
            let routed = lane.servers().iter().map(|s| s.routed);
            let spread = routed.clone().max().unwrap_or(0) - routed.min().unwrap_or(0);
            ensure!(
                spread <= 1,
                "invariant `round-robin counts differ by at most 1` broken: spread {spread}"
            );
        }
    }
    let up: Vec<u32> = (0..config.servers)
        .filter(|id| !model.down.contains(id))
        .collect();
    let down: Vec<u32> = model.down.iter().copied().collect();
    check_node_statuses(&engine.node_statuses(), &up, &down)?;
    if let Some(p) = engine.snapshot().latency {
        ensure!(
            p.p50_ms <= p.p95_ms && p.p95_ms <= p.p99_ms,
            "invariant `percentiles are ordered` broken: {p:?}"
        );
    }
    Ok(())
}

/// Counts and server states that an invalid action must leave unchanged, cheaper to compare
/// than the whole engine.
fn balancer_summary(engine: &LoadBalancer) -> String {
    let lanes: Vec<_> = engine
        .lanes()
        .iter()
        .map(|lane| {
            let servers: Vec<_> = lane
                .servers()
                .iter()
                .map(|s| (s.up, s.active(), s.routed, s.served))
                .collect();
            (lane.completed(), lane.dropped(), lane.failed(), servers)
        })
        .collect();
    format!(
        "{:?} {} {} {lanes:?}",
        engine.config(),
        engine.arrived(),
        engine.now_ms()
    )
}

fn run_balancer_op(
    engine: &mut LoadBalancer,
    model: &mut BalancerModel,
    op: &BalancerOp,
) -> Result<(), String> {
    let (action, valid) = match *op {
        BalancerOp::Step(count) => {
            for _ in 0..count {
                let from_ms = engine.now_ms();
                let events = engine.step();
                let to_ms = engine.now_ms();
                ensure!(
                    (to_ms - from_ms - load_balancer::STEP_MS).abs() <= TOLERANCE,
                    "invariant `each step advances STEP_MS` broken: from {from_ms} to {to_ms}"
                );
                model.check_events(engine, &events)?;
                check_balancer_state(engine, model)?;
            }
            return Ok(());
        }
        BalancerOp::SetRate(arrival_per_s) => (
            load_balancer::Action::SetArrivalRate { arrival_per_s },
            (0.1..=load_balancer::MAX_ARRIVAL_PER_S).contains(&arrival_per_s),
        ),
        BalancerOp::Crash(ref target) | BalancerOp::Restart(ref target) => {
            let servers = engine.config().servers;
            let down: Vec<u32> = model.down.iter().copied().collect();
            let up: Vec<u32> = (0..servers).filter(|id| !model.down.contains(id)).collect();
            let node = target.resolve(&up, &down);
            let crash = matches!(op, BalancerOp::Crash(_));
            let fault = if crash {
                Fault::Crash { node }
            } else {
                Fault::Restart { node }
            };
            let valid = node < servers && model.down.contains(&node) != crash;
            (LoadBalancer::fault_action(fault), valid)
        }
        BalancerOp::Unsupported(ref fault) => (LoadBalancer::fault_action(fault.clone()), false),
    };
    if valid {
        let events = engine.apply(&action).map_err(|err| {
            format!("invariant `valid action is applied` broken: {action:?} failed: {err}")
        })?;
        model.check_events(engine, &events)?;
    } else {
        let before = balancer_summary(engine);
        let result = engine.apply(&action);
        ensure!(
            result.as_ref().is_err_and(|err| !err.0.is_empty()),
            "invariant `invalid action returns ActionError` broken: {action:?} returned {}",
            describe(&result)
        );
        let after = balancer_summary(engine);
        ensure!(
            after == before,
            "invariant `invalid action leaves the state unchanged` broken: {action:?}"
        );
    }
    check_balancer_state(engine, model)
}

fn run_balancer_case(case: &BalancerCase) -> Result<(), TestCaseError> {
    let mut engine = LoadBalancer::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    let mut model = BalancerModel::default();
    check_balancer_state(&engine, &model).map_err(|message| violation(case, "start", &message))?;
    for (index, op) in case.ops.iter().enumerate() {
        run_balancer_op(&mut engine, &mut model, op)
            .map_err(|message| violation(case, &position(index, op, engine.now_ms()), &message))?;
    }
    Ok(())
}

fn invalid_balancer_config() -> impl Strategy<Value = InvalidConfig<LoadBalancerConfig>> {
    let names = [
        "servers",
        "workers",
        "arrival_per_s",
        "service_ms",
        "slow_fraction",
        "slow_factor",
        "queue_limit",
    ];
    (
        balancer_config(),
        1u8..128,
        (
            u32_outside(1, load_balancer::MAX_SERVERS),
            u32_outside(1, 16),
        ),
        f64_outside(0.1, load_balancer::MAX_ARRIVAL_PER_S),
        f64_outside(1.0, 10_000.0),
        (f64_outside(0.0, 1.0), f64_outside(1.0, 100.0)),
        u32_outside(1, 1_000),
    )
        .prop_map(
            move |(
                valid,
                mask,
                (servers, workers),
                arrival_per_s,
                service_ms,
                (slow_fraction, slow_factor),
                queue_limit,
            )| {
                let config = LoadBalancerConfig {
                    servers: pick(mask, 0, servers, valid.servers),
                    workers: pick(mask, 1, workers, valid.workers),
                    arrival_per_s: pick(mask, 2, arrival_per_s, valid.arrival_per_s),
                    service_ms: pick(mask, 3, service_ms, valid.service_ms),
                    slow_fraction: pick(mask, 4, slow_fraction, valid.slow_fraction),
                    slow_factor: pick(mask, 5, slow_factor, valid.slow_factor),
                    queue_limit: pick(mask, 6, queue_limit, valid.queue_limit),
                    ..valid
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // arrived = completed + queued + in service + dropped + failed in every lane. The requests
    // on each server match those rebuilt from the events, and Routed reports them. No request
    // goes to a down server, least-connections picks a server with the fewest requests, and
    // round-robin counts differ by at most 1 until the first crash. A server serves at most
    // `workers` requests and queues only while all are busy, up to `queue_limit`. A crash loses
    // exactly the server's requests. Out-of-range rates, crashing a down or unknown server,
    // restarting an up or unknown one, and unsupported fault kinds return ActionError and
    // change nothing.
    #[test]
    fn load_balancer_keeps_invariants(case in balancer_case()) {
        run_balancer_case(&case)?;
    }

    #[test]
    fn load_balancer_rejects_invalid_config(invalid in invalid_balancer_config()) {
        check_invalid::<LoadBalancer>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum QueueOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::SetArrivalRate` with this rate, valid or not.
    SetArrivalRate(f64),
    /// Applies `Action::SetFanOut` with this fan-out, valid or not.
    SetFanOut(u32),
}

type QueueCase = Case<QueueConfig, QueueOp>;

fn queue_config() -> impl Strategy<Value = QueueConfig> {
    (
        f64_in(0.0, open_queue::MAX_ARRIVAL_PER_S),
        u32_in(1, 16),
        f64_in(1.0, 10_000.0),
        f64_in(0.0, 1.0),
        f64_in(1.0, 100.0),
        u32_in(1, open_queue::MAX_FAN_OUT),
        prop_oneof![Just(Chart::LatencyCurve), Just(Chart::Histogram)],
    )
        .prop_map(
            |(arrival_per_s, servers, service_ms, slow_fraction, slow_factor, fan_out, chart)| {
                QueueConfig {
                    arrival_per_s,
                    servers,
                    service_ms,
                    slow_fraction,
                    slow_factor,
                    fan_out,
                    chart,
                }
            },
        )
}

fn queue_op() -> impl Strategy<Value = QueueOp> {
    prop_oneof![
        6 => (1u32..=5).prop_map(QueueOp::Step),
        2 => f64_in(0.0, open_queue::MAX_ARRIVAL_PER_S).prop_map(QueueOp::SetArrivalRate),
        1 => f64_outside(0.0, open_queue::MAX_ARRIVAL_PER_S).prop_map(QueueOp::SetArrivalRate),
        2 => u32_in(1, open_queue::MAX_FAN_OUT).prop_map(QueueOp::SetFanOut),
        1 => u32_outside(1, open_queue::MAX_FAN_OUT).prop_map(QueueOp::SetFanOut),
    ]
}

fn queue_case() -> impl Strategy<Value = QueueCase> {
    (
        queue_config(),
        engine_seed(),
        prop::collection::vec(queue_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// The queue rebuilt from the events alone.
#[derive(Default)]
struct QueueModel {
    /// Arrival time of each admitted request that has not completed.
    in_flight: BTreeMap<u64, f64>,
    /// Every request id that arrived or was dropped.
    seen: BTreeSet<u64>,
    admitted: u64,
    dropped: u64,
    completed: u64,
    last_ms: f64,
}

impl QueueModel {
    fn check_events(
        &mut self,
        events: &[open_queue::Event],
        fan_out: u32,
        from_ms: f64,
        to_ms: f64,
    ) -> Result<(), String> {
        use open_queue::Event;
        for event in events {
            let at_ms = match *event {
                Event::Arrived { at_ms, .. }
                | Event::Dropped { at_ms, .. }
                | Event::Completed { at_ms, .. }
                | Event::ArrivalRateChanged { at_ms, .. }
                | Event::FanOutChanged { at_ms, .. } => at_ms,
            };
            ensure!(
                at_ms >= from_ms && at_ms <= to_ms,
                "invariant `event time lies in the step or action` broken: {event:?} outside [{from_ms}, {to_ms}]"
            );
            ensure!(
                at_ms >= self.last_ms,
                "invariant `events are in time order` broken: {event:?} after {}",
                self.last_ms
            );
            self.last_ms = at_ms;
            match *event {
                Event::Arrived {
                    request_id, queued, ..
                } => {
                    ensure!(
                        self.seen.insert(request_id),
                        "invariant `request ids are unique` broken: {event:?}"
                    );
                    ensure!(
                        queued <= MAX_QUEUE,
                        "invariant `queue holds at most MAX_QUEUE` broken: {event:?}"
                    );
                    self.in_flight.insert(request_id, at_ms);
                    self.admitted += 1;
                }
                Event::Dropped {
                    request_id, queued, ..
                } => {
                    ensure!(
                        self.seen.insert(request_id),
                        "invariant `request ids are unique` broken: {event:?}"
                    );
                    ensure!(
                        queued + fan_out as usize > MAX_QUEUE,
                        "invariant `drops only when the queue has no room` broken: {event:?} with fan-out {fan_out}"
                    );
                    self.dropped += 1;
                }
                Event::Completed {
                    request_id,
                    latency_ms,
                    ..
                } => {
                    let Some(arrived_ms) = self.in_flight.remove(&request_id) else {
                        return Err(format!(
                            "invariant `a request completes once, after it arrived` broken: {event:?}"
                        ));
                    };
                    ensure!(
                        (latency_ms - (at_ms - arrived_ms)).abs() <= TOLERANCE && latency_ms >= 0.0,
                        "invariant `latency is completion minus arrival` broken: {event:?}, arrived at {arrived_ms}"
                    );
                    self.completed += 1;
                }
                Event::ArrivalRateChanged { .. } | Event::FanOutChanged { .. } => {}
            }
        }
        Ok(())
    }
}

fn check_queue_state(engine: &Queue, model: &QueueModel) -> Result<(), String> {
    let servers = engine.config().servers as usize;
    ensure!(
        engine.queue_len() <= MAX_QUEUE,
        "invariant `queue holds at most MAX_QUEUE` broken: {}",
        engine.queue_len()
    );
    ensure!(
        engine.busy_servers() <= servers,
        "invariant `busy servers <= servers` broken: {} of {servers}",
        engine.busy_servers()
    );
    ensure!(
        engine.queue_len() == 0 || engine.busy_servers() == servers,
        "invariant `no server idles while sub-requests wait` broken: {} queued, {} of {servers} busy",
        engine.queue_len(),
        engine.busy_servers()
    );
    ensure!(
        engine.admitted_total() == model.admitted
            && engine.dropped_total() == model.dropped
            && engine.completed_total() == model.completed
            && engine.in_system() == model.in_flight.len(),
        "invariant `counters match the events` broken: engine admitted {} dropped {} completed {} in system {}, events {} {} {} {}",
        engine.admitted_total(),
        engine.dropped_total(),
        engine.completed_total(),
        engine.in_system(),
        model.admitted,
        model.dropped,
        model.completed,
        model.in_flight.len()
    );
    for (name, percentiles) in [
        ("all", engine.latency_percentiles()),
        ("recent", engine.recent_percentiles()),
    ] {
        if let Some(p) = percentiles {
            ensure!(
                0.0 <= p.p50_ms && p.p50_ms <= p.p95_ms && p.p95_ms <= p.p99_ms,
                "invariant `0 <= p50 <= p95 <= p99` broken: {name} {p:?}"
            );
        }
    }
    ensure!(
        engine.recent_latencies().len() <= open_queue::MAX_RECENT_LATENCIES
            && engine.curve().len() <= open_queue::CURVE_POINTS,
        "invariant `history is bounded` broken: {} recent latencies, {} curve points",
        engine.recent_latencies().len(),
        engine.curve().len()
    );
    let gauges = [
        engine.mean_in_system(),
        engine.recent_mean_in_system(),
        engine.recent_little_product(),
        engine.recent_throughput_per_s(),
        engine.config().utilization(),
    ];
    ensure!(
        gauges
            .iter()
            .all(|value| value.is_finite() && *value >= 0.0),
        "invariant `gauges are finite and not negative` broken: {gauges:?}"
    );
    Ok(())
}

fn queue_state(engine: &Queue) -> String {
    let state = (
        engine.now_ms(),
        engine.config().clone(),
        engine.queue_len(),
        engine.busy_servers(),
        engine.in_system(),
        engine.admitted_total(),
        engine.dropped_total(),
        engine.completed_total(),
    );
    format!("{state:?} {:?}", engine.snapshot())
}

fn run_queue_op(engine: &mut Queue, model: &mut QueueModel, op: &QueueOp) -> Result<(), String> {
    let (action, valid) = match *op {
        QueueOp::Step(count) => {
            for _ in 0..count {
                let from_ms = engine.now_ms();
                let fan_out = engine.config().fan_out;
                let events = engine.step();
                model.check_events(&events, fan_out, from_ms, engine.now_ms())?;
                check_queue_state(engine, model)?;
            }
            return Ok(());
        }
        QueueOp::SetArrivalRate(arrival_per_s) => (
            open_queue::Action::SetArrivalRate { arrival_per_s },
            (0.0..=open_queue::MAX_ARRIVAL_PER_S).contains(&arrival_per_s),
        ),
        QueueOp::SetFanOut(fan_out) => (
            open_queue::Action::SetFanOut { fan_out },
            (1..=open_queue::MAX_FAN_OUT).contains(&fan_out),
        ),
    };
    if valid {
        let now_ms = engine.now_ms();
        let fan_out = engine.config().fan_out;
        let events = engine.apply(&action).map_err(|err| {
            format!("invariant `valid action is applied` broken: {action:?} failed: {err}")
        })?;
        ensure!(
            events.len() == 1,
            "invariant `a setting change returns one event` broken: {events:?}"
        );
        model.check_events(&events, fan_out, now_ms, now_ms)?;
    } else {
        let before = queue_state(engine);
        let result = engine.apply(&action);
        ensure!(
            result.as_ref().is_err_and(|err| !err.0.is_empty()),
            "invariant `invalid action returns ActionError` broken: {action:?} returned {}",
            describe(&result)
        );
        ensure!(
            queue_state(engine) == before,
            "invariant `invalid action leaves the state unchanged` broken: {action:?}"
        );
    }
    check_queue_state(engine, model)
}

fn run_queue_case(case: &QueueCase) -> Result<(), TestCaseError> {
    let mut engine = Queue::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    let mut model = QueueModel::default();
    check_queue_state(&engine, &model).map_err(|message| violation(case, "start", &message))?;
    for (index, op) in case.ops.iter().enumerate() {
        run_queue_op(&mut engine, &mut model, op)
            .map_err(|message| violation(case, &position(index, op, engine.now_ms()), &message))?;
    }
    Ok(())
}

fn invalid_queue_config() -> impl Strategy<Value = InvalidConfig<QueueConfig>> {
    let names = [
        "arrival_per_s",
        "servers",
        "service_ms",
        "slow_fraction",
        "slow_factor",
        "fan_out",
    ];
    let bad = (
        f64_outside(0.0, open_queue::MAX_ARRIVAL_PER_S),
        u32_outside(1, 16),
        f64_outside(1.0, 10_000.0),
        f64_outside(0.0, 1.0),
        f64_outside(1.0, 100.0),
        u32_outside(1, open_queue::MAX_FAN_OUT),
    );
    (queue_config(), 1u8..64, bad).prop_map(move |(valid, mask, bad)| {
        let config = QueueConfig {
            arrival_per_s: pick(mask, 0, bad.0, valid.arrival_per_s),
            servers: pick(mask, 1, bad.1, valid.servers),
            service_ms: pick(mask, 2, bad.2, valid.service_ms),
            slow_fraction: pick(mask, 3, bad.3, valid.slow_fraction),
            slow_factor: pick(mask, 4, bad.4, valid.slow_factor),
            fan_out: pick(mask, 5, bad.5, valid.fan_out),
            chart: valid.chart,
        };
        InvalidConfig {
            config,
            first_invalid: first_set(mask, &names),
        }
    })
}

proptest! {
    #![proptest_config(proptest_config())]

    // Every event lies in its step or action, in time order. Request ids are unique, a request
    // completes at most once and only after it arrived, and its latency is completion time
    // minus arrival time. The queue never holds more than MAX_QUEUE sub-requests, a request is
    // dropped only when its sub-requests do not fit, and no server idles while sub-requests
    // wait. The engine's counters match the events, percentiles are ordered, history is
    // bounded and the gauges are finite. Out-of-range, NaN and infinite arrival rates and
    // fan-outs return ActionError and change nothing.
    #[test]
    fn queue_keeps_invariants(case in queue_case()) {
        run_queue_case(&case)?;
    }

    #[test]
    fn queue_rejects_invalid_config(invalid in invalid_queue_config()) {
        check_invalid::<Queue>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Proxy
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum ProxyOp {
    /// Runs this many steps.
    Step(u32),
    Purge,
    Crash(Target),
    Restart(Target),
    Unsupported(Fault),
}

type ProxyCase = Case<ProxyConfig, ProxyOp>;

fn proxy_config() -> impl Strategy<Value = ProxyConfig> {
    (
        prop_oneof![Just(Mode::Forward), Just(Mode::Reverse)],
        u32_in(1, proxy::MAX_CLIENTS),
        f64_in(0.0, proxy::MAX_ARRIVAL_PER_S),
        (f64_in(0.0, 3600.0), f64_in(1.0, 5000.0)),
        (u32_in(1, 1000), 0u32..=3),
        (u32_in(1, proxy::MAX_APP_SERVERS), f64_in(0.0, 1.0)),
    )
        .prop_map(
            |(
                mode,
                clients,
                arrival_per_s,
                (cache_ttl_s, upstream_ms),
                (objects, blocked_sites),
                (app_servers, api_fraction),
            )| ProxyConfig {
                mode,
                clients,
                arrival_per_s,
                cache_ttl_s,
                upstream_ms,
                objects,
                blocked_sites,
                app_servers,
                api_fraction,
            },
        )
}

fn proxy_op() -> impl Strategy<Value = ProxyOp> {
    prop_oneof![
        6 => (1u32..=4).prop_map(ProxyOp::Step),
        1 => Just(ProxyOp::Purge),
        2 => crash_target().prop_map(ProxyOp::Crash),
        2 => restart_target().prop_map(ProxyOp::Restart),
        1 => unsupported_fault().prop_map(ProxyOp::Unsupported),
    ]
}

fn proxy_case() -> impl Strategy<Value = ProxyCase> {
    (
        proxy_config(),
        engine_seed(),
        prop::collection::vec(proxy_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Down nodes and answered requests, rebuilt from the events.
#[derive(Debug, Default)]
struct ProxyModel {
    down: BTreeSet<u32>,
    forwarded: BTreeSet<u64>,
    served: u64,
}

impl ProxyModel {
    fn check_events(&mut self, engine: &Proxy, events: &[proxy::Event]) -> Result<(), String> {
        let config = engine.config();
        for event in events {
            match event {
                proxy::Event::Forwarded {
                    request_id,
                    node,
                    target,
                    from,
                    forwarded_for,
                    ..
                } => {
                    ensure!(
                        !self.down.contains(node),
                        "invariant `down backend gets no requests` broken: {target} to {node}"
                    );
                    let blocked = engine.nodes().get(*node as usize).is_none_or(|n| n.blocked);
                    ensure!(
                        !blocked,
                        "invariant `blocked sites never reach the origin` broken: {target}"
                    );
                    if config.mode == Mode::Forward {
                        ensure!(
                            from == proxy::PROXY_PUBLIC_ADDR && forwarded_for.is_none(),
                            "invariant `origin sees only the proxy address` broken: {from} \
                             {forwarded_for:?}"
                        );
                    } else {
                        let to_static = *node == config.app_servers;
                        ensure!(
                            to_static == target.starts_with("/static/"),
                            "invariant `routes follow longest prefix` broken: {target} to {node}"
                        );
                    }
                    self.forwarded.insert(*request_id);
                }
                proxy::Event::Served {
                    request_id,
                    target,
                    route,
                    outcome,
                    status,
                    latency_ms,
                    ..
                } => {
                    self.served += 1;
                    ensure!(
                        *outcome != Outcome::Hit || !self.forwarded.contains(request_id),
                        "invariant `cache hit never contacts the origin` broken: {target}"
                    );
                    ensure!(
                        *outcome == Outcome::Hit
                            || *outcome == Outcome::Blocked
                            || *status != 200
                            || self.forwarded.contains(request_id),
                        "invariant `a 200 that is no hit was forwarded` broken: {target}"
                    );
                    ensure!(
                        *latency_ms >= 0.0,
                        "invariant `latency is not negative` broken: {latency_ms}"
                    );
                    if config.mode == Mode::Reverse {
                        let longest = proxy::route_for(target).map(|r| r.prefix);
                        ensure!(
                            *route == longest,
                            "invariant `routes follow longest prefix` broken: {target} {route:?}"
                        );
                    }
                }
                proxy::Event::Crashed { node, .. } => {
                    self.down.insert(*node);
                }
                proxy::Event::Restarted { node, .. } => {
                    self.down.remove(node);
                }
                proxy::Event::TlsHandshake { .. } | proxy::Event::Purged { .. } => {}
            }
        }
        Ok(())
    }
}

fn check_proxy_state(engine: &Proxy, model: &ProxyModel) -> Result<(), String> {
    let counts = engine.counts();
    ensure!(
        counts.requests == counts.served + engine.in_flight() as u64,
        "invariant `requests = served + in flight` broken: {} != {} + {}",
        counts.requests,
        counts.served,
        engine.in_flight()
    );
    ensure!(
        counts.served == model.served,
        "invariant `served matches the events` broken: {} != {}",
        counts.served,
        model.served
    );
    ensure!(
        counts.hits + counts.misses + counts.blocked <= counts.requests,
        "invariant `hits + misses + blocked <= requests` broken: {counts:?}"
    );
    ensure!(
        counts.internal_handshakes == 0,
        "invariant `no TLS inside` broken: {}",
        counts.internal_handshakes
    );
    let down: BTreeSet<u32> = engine
        .nodes()
        .iter()
        .filter(|n| !n.up)
        .map(|n| n.id)
        .collect();
    ensure!(
        down == model.down,
        "invariant `down nodes match the events` broken: {down:?} != {:?}",
        model.down
    );
    Ok(())
}

fn run_proxy_op(engine: &mut Proxy, model: &mut ProxyModel, op: &ProxyOp) -> Result<(), String> {
    let (action, valid) = match *op {
        ProxyOp::Step(count) => {
            for _ in 0..count {
                let from_ms = engine.now_ms();
                let events = engine.step();
                let to_ms = engine.now_ms();
                ensure!(
                    (to_ms - from_ms - proxy::STEP_MS).abs() <= TOLERANCE,
                    "invariant `each step advances STEP_MS` broken: from {from_ms} to {to_ms}"
                );
                model.check_events(engine, &events)?;
                check_proxy_state(engine, model)?;
            }
            return Ok(());
        }
        ProxyOp::Purge => (proxy::Action::Purge, true),
        ProxyOp::Crash(ref target) | ProxyOp::Restart(ref target) => {
            let nodes = engine.nodes().len() as u32;
            let down: Vec<u32> = model.down.iter().copied().collect();
            let up: Vec<u32> = (0..nodes).filter(|id| !model.down.contains(id)).collect();
            let node = target.resolve(&up, &down);
            let crash = matches!(op, ProxyOp::Crash(_));
            let fault = if crash {
                Fault::Crash { node }
            } else {
                Fault::Restart { node }
            };
            let valid = node < nodes && model.down.contains(&node) != crash;
            (Proxy::fault_action(fault), valid)
        }
        ProxyOp::Unsupported(ref fault) => (Proxy::fault_action(fault.clone()), false),
    };
    if valid {
        let events = engine.apply(&action).map_err(|err| {
            format!("invariant `valid action is applied` broken: {action:?} failed: {err}")
        })?;
        model.check_events(engine, &events)?;
    } else {
        let before = (engine.counts().clone(), engine.nodes().to_vec());
        let result = engine.apply(&action);
        ensure!(
            result.as_ref().is_err_and(|err| !err.0.is_empty()),
            "invariant `invalid action returns ActionError` broken: {action:?} returned {}",
            describe(&result)
        );
        let after = (engine.counts().clone(), engine.nodes().to_vec());
        ensure!(
            after == before,
            "invariant `invalid action leaves the state unchanged` broken: {action:?}"
        );
    }
    check_proxy_state(engine, model)
}

fn run_proxy_case(case: &ProxyCase) -> Result<(), TestCaseError> {
    let mut engine = Proxy::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    let mut model = ProxyModel::default();
    check_proxy_state(&engine, &model).map_err(|message| violation(case, "start", &message))?;
    for (index, op) in case.ops.iter().enumerate() {
        run_proxy_op(&mut engine, &mut model, op)
            .map_err(|message| violation(case, &position(index, op, engine.now_ms()), &message))?;
    }
    Ok(())
}

fn invalid_proxy_config() -> impl Strategy<Value = InvalidConfig<ProxyConfig>> {
    let names = [
        "clients",
        "arrival_per_s",
        "cache_ttl_s",
        "upstream_ms",
        "objects",
        "blocked_sites",
        "app_servers",
        "api_fraction",
    ];
    (
        proxy_config(),
        1u8..=255,
        (
            u32_outside(1, proxy::MAX_CLIENTS),
            f64_outside(0.0, proxy::MAX_ARRIVAL_PER_S),
        ),
        (f64_outside(0.0, 3600.0), f64_outside(1.0, 5000.0)),
        (u32_outside(1, 1000), u32_outside(0, 3)),
        (
            u32_outside(1, proxy::MAX_APP_SERVERS),
            f64_outside(0.0, 1.0),
        ),
    )
        .prop_map(
            move |(
                valid,
                mask,
                (clients, arrival_per_s),
                (cache_ttl_s, upstream_ms),
                (objects, blocked_sites),
                (app_servers, api_fraction),
            )| {
                let config = ProxyConfig {
                    clients: pick(mask, 0, clients, valid.clients),
                    arrival_per_s: pick(mask, 1, arrival_per_s, valid.arrival_per_s),
                    cache_ttl_s: pick(mask, 2, cache_ttl_s, valid.cache_ttl_s),
                    upstream_ms: pick(mask, 3, upstream_ms, valid.upstream_ms),
                    objects: pick(mask, 4, objects, valid.objects),
                    blocked_sites: pick(mask, 5, blocked_sites, valid.blocked_sites),
                    app_servers: pick(mask, 6, app_servers, valid.app_servers),
                    api_fraction: pick(mask, 7, api_fraction, valid.api_fraction),
                    ..valid
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // No request is forwarded to a down node or to a site on the denylist. In forward mode
    // every origin sees only the proxy's public address and no X-Forwarded-For; in reverse mode
    // every response names the longest matching route and `/static/` goes to the static server.
    // A cache hit is never forwarded, and a 200 that is not a hit was forwarded. Requests equal
    // responses plus requests in flight, the down nodes match the events, and no TLS runs
    // inside. Crashing a down or unknown node, restarting an up or unknown one, and unsupported
    // fault kinds return ActionError and change nothing.
    #[test]
    fn proxy_keeps_invariants(case in proxy_case()) {
        run_proxy_case(&case)?;
    }

    #[test]
    fn proxy_rejects_invalid_config(invalid in invalid_proxy_config()) {
        check_invalid::<Proxy>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Database indexing
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum IndexOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::SetIndex`, which fails when the table is already in that state.
    SetIndex(bool),
}

type IndexCase = Case<IndexingConfig, IndexOp>;

fn index_config() -> impl Strategy<Value = IndexingConfig> {
    (
        (
            u32_in(1, 10_000_000),
            f64_in(0.0, indexing::MAX_INSERT_PER_S),
        ),
        (f64_in(0.0, indexing::MAX_QUERY_PER_S), f64_in(0.0, 100.0)),
        (u32_in(1, 100_000), u32_in(2, indexing::MAX_FANOUT)),
        (any::<bool>(), f64_in(0.01, 1000.0)),
    )
        .prop_map(
            |(
                (initial_rows, insert_per_s),
                (query_per_s, range_pct),
                (range_rows, fanout),
                (indexed, cost_per_row_us),
            )| IndexingConfig {
                initial_rows,
                insert_per_s,
                query_per_s,
                range_pct,
                range_rows,
                fanout,
                indexed,
                cost_per_row_us,
            },
        )
}

fn index_case() -> impl Strategy<Value = IndexCase> {
    let op = prop_oneof![
        4 => (1u32..=3).prop_map(IndexOp::Step),
        1 => any::<bool>().prop_map(IndexOp::SetIndex),
    ];
    (
        index_config(),
        engine_seed(),
        // Up to 1000 queries per second run 100 per step, so cases stay short.
        prop::collection::vec(op, 1..=12),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Checks each event against the table size replayed from the events before it.
fn check_index_events(
    config: &IndexingConfig,
    rows: &mut u64,
    indexed: bool,
    events: &[indexing::Event],
) -> Result<(), String> {
    for event in events {
        match *event {
            indexing::Event::Query {
                kind,
                matches,
                examined,
                indexed: used,
                ..
            } => {
                let expected_matches = match kind {
                    indexing::QueryKind::Point => 1,
                    indexing::QueryKind::Range => u64::from(config.range_rows).min(*rows),
                };
                ensure!(
                    matches == expected_matches,
                    "invariant `matches are 1 or min(range_rows, rows)` broken: {matches}"
                );
                ensure!(
                    used == indexed,
                    "invariant `query uses the index iff it exists` broken"
                );
                let expected = if indexed {
                    indexing::btree_depth(*rows, config.fanout) + matches
                } else {
                    *rows
                };
                ensure!(
                    examined == expected,
                    "invariant `examined = rows, or depth + matches` broken: {examined} for {rows} rows, expected {expected}"
                );
            }
            indexing::Event::Inserted {
                rows: after,
                rows_added,
                pages_per_insert,
                ..
            } => {
                ensure!(
                    after == *rows + rows_added && after <= indexing::MAX_ROWS,
                    "invariant `rows only grow, by rows_added, up to MAX_ROWS` broken: {rows} + {rows_added} -> {after}"
                );
                *rows = after;
                let expected = if indexed {
                    1 + indexing::btree_depth(after, config.fanout)
                } else {
                    1
                };
                ensure!(
                    pages_per_insert == expected,
                    "invariant `insert costs 1, plus depth if indexed` broken: {pages_per_insert}"
                );
            }
            indexing::Event::IndexChanged { .. } => {}
        }
    }
    Ok(())
}

fn run_index_case(case: &IndexCase) -> Result<(), TestCaseError> {
    let mut engine = Indexing::new(case.config.clone(), case.seed)
        .map_err(|err| violation(case, "new", &format!("valid config rejected: {err}")))?;
    let mut rows = u64::from(case.config.initial_rows);
    for (index, op) in case.ops.iter().enumerate() {
        let at = position(index, op, engine.now_ms());
        match *op {
            IndexOp::Step(steps) => {
                for _ in 0..steps {
                    let indexed = engine.indexed();
                    let events = engine.step();
                    check_index_events(&case.config, &mut rows, indexed, &events)
                        .map_err(|message| violation(case, &at, &message))?;
                }
            }
            IndexOp::SetIndex(enabled) => {
                let before = engine.indexed();
                let result = engine.apply(&indexing::Action::SetIndex { enabled });
                let ok = result.is_ok() == (before != enabled) && engine.indexed() == enabled;
                if !ok {
                    return Err(violation(
                        case,
                        &at,
                        &format!(
                            "invariant `SetIndex applies only a change` broken: {}",
                            describe(&result)
                        ),
                    ));
                }
            }
        }
        if engine.rows() != rows {
            return Err(violation(
                case,
                &at,
                "invariant `rows() matches the events` broken",
            ));
        }
    }
    Ok(())
}

fn invalid_index_config() -> impl Strategy<Value = InvalidConfig<IndexingConfig>> {
    let names = [
        "initial_rows",
        "insert_per_s",
        "query_per_s",
        "range_pct",
        "range_rows",
        "fanout",
        "cost_per_row_us",
    ];
    (
        index_config(),
        1u8..128,
        (
            u32_outside(1, 10_000_000),
            f64_outside(0.0, indexing::MAX_INSERT_PER_S),
        ),
        (
            f64_outside(0.0, indexing::MAX_QUERY_PER_S),
            f64_outside(0.0, 100.0),
        ),
        (
            u32_outside(1, 100_000),
            u32_outside(2, indexing::MAX_FANOUT),
            f64_outside(0.01, 1000.0),
        ),
    )
        .prop_map(
            move |(
                valid,
                mask,
                (initial_rows, insert_per_s),
                (query_per_s, range_pct),
                (range_rows, fanout, cost_per_row_us),
            )| {
                let config = IndexingConfig {
                    initial_rows: pick(mask, 0, initial_rows, valid.initial_rows),
                    insert_per_s: pick(mask, 1, insert_per_s, valid.insert_per_s),
                    query_per_s: pick(mask, 2, query_per_s, valid.query_per_s),
                    range_pct: pick(mask, 3, range_pct, valid.range_pct),
                    range_rows: pick(mask, 4, range_rows, valid.range_rows),
                    fanout: pick(mask, 5, fanout, valid.fanout),
                    cost_per_row_us: pick(mask, 6, cost_per_row_us, valid.cost_per_row_us),
                    ..valid
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // Without the index a query examines every row; with it, btree_depth(rows, fanout) +
    // matches, where matches is 1 for a point lookup and min(range_rows, rows) for a range.
    // Rows only grow, by the reported rows_added, up to MAX_ROWS. An insert costs 1 page, plus
    // the depth when indexed. SetIndex fails exactly when it would change nothing.
    #[test]
    fn indexing_keeps_invariants(case in index_case()) {
        run_index_case(&case)?;
    }

    #[test]
    fn indexing_rejects_invalid_config(invalid in invalid_index_config()) {
        check_invalid::<Indexing>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// SQL vs NoSQL data models
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum ModelOp {
    /// Runs this many steps.
    Step(u32),
    /// Runs one pattern through `Action::Run`.
    Run(data_model::Pattern),
}

type ModelCase = Case<DataModelConfig, ModelOp>;

/// Draws a configuration. Users and orders per user stay below their maximum (1000 and 50) so
/// that a case builds at most 20,000 items and the property keeps to seconds.
fn model_config() -> impl Strategy<Value = DataModelConfig> {
    (
        (u32_in(1, 100), u32_in(1, data_model::MAX_PRODUCTS)),
        (u32_in(1, 10), u32_in(1, data_model::MAX_ITEMS_PER_ORDER)),
        f64_in(0.01, 100.0),
    )
        .prop_map(
            |((users, products), (orders_per_user, items_per_order), round_trip_ms)| {
                DataModelConfig {
                    users,
                    products,
                    orders_per_user,
                    items_per_order,
                    round_trip_ms,
                }
            },
        )
}

fn model_case() -> impl Strategy<Value = ModelCase> {
    let op = prop_oneof![
        2 => (1u32..=5).prop_map(ModelOp::Step),
        3 => prop::sample::select(data_model::Pattern::ALL.to_vec()).prop_map(ModelOp::Run),
    ];
    (
        model_config(),
        engine_seed(),
        prop::collection::vec(op, 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Checks one event: both models agree, and the costs follow the formulas for `k` items.
fn check_model_event(event: &data_model::Event, k: u64) -> Result<(), String> {
    let data_model::Event::Ran {
        pattern,
        relational,
        document,
        agree,
        ..
    } = event;
    ensure!(
        *agree,
        "invariant `both models return the same answer` broken: {event:?}"
    );
    match pattern {
        data_model::Pattern::FetchOrder => {
            ensure!(
                relational.reads == 1 + 2 * k && document.reads == 1,
                "invariant `fetch reads 1 + 2k rows or 1 document` broken: {event:?}"
            );
        }
        data_model::Pattern::RenameProduct => {
            ensure!(
                relational.writes == 1 && document.writes >= 1,
                "invariant `rename writes 1 row, 1 + copies documents` broken: {event:?}"
            );
        }
        data_model::Pattern::Report => {
            ensure!(
                document.bytes_read > relational.bytes_read,
                "invariant `report reads more bytes as documents` broken: {event:?}"
            );
        }
        data_model::Pattern::PlaceOrder => {
            ensure!(
                relational.writes == 1 + 2 * k && document.writes == 1 + k,
                "invariant `place writes 1 + 2k rows or 1 + k documents` broken: {event:?}"
            );
        }
        data_model::Pattern::UserOrders => {}
    }
    Ok(())
}

fn run_model_case(case: &ModelCase) -> Result<(), TestCaseError> {
    let mut engine = DataModel::new(case.config.clone(), case.seed)
        .map_err(|err| violation(case, "new", &format!("valid config rejected: {err}")))?;
    let k = u64::from(case.config.items_per_order);
    for (index, op) in case.ops.iter().enumerate() {
        let at = position(index, op, engine.now_ms());
        let events = match *op {
            ModelOp::Step(steps) => (0..steps).flat_map(|_| engine.step()).collect(),
            ModelOp::Run(pattern) => engine
                .apply(&data_model::Action::Run { pattern })
                .map_err(|err| violation(case, &at, &format!("Run rejected: {err}")))?,
        };
        for event in &events {
            check_model_event(event, k).map_err(|message| violation(case, &at, &message))?;
        }
    }
    if engine.disagreements() != 0 {
        return Err(violation(
            case,
            "end",
            "invariant `no disagreements` broken",
        ));
    }
    Ok(())
}

fn invalid_model_config() -> impl Strategy<Value = InvalidConfig<DataModelConfig>> {
    let names = [
        "users",
        "products",
        "orders_per_user",
        "items_per_order",
        "round_trip_ms",
    ];
    (
        model_config(),
        1u8..32,
        (
            u32_outside(1, data_model::MAX_USERS),
            u32_outside(1, data_model::MAX_PRODUCTS),
        ),
        (
            u32_outside(1, data_model::MAX_ORDERS_PER_USER),
            u32_outside(1, data_model::MAX_ITEMS_PER_ORDER),
        ),
        f64_outside(0.01, 100.0),
    )
        .prop_map(
            move |(
                valid,
                mask,
                (users, products),
                (orders_per_user, items_per_order),
                round_trip_ms,
            )| {
                let config = DataModelConfig {
                    users: pick(mask, 0, users, valid.users),
                    products: pick(mask, 1, products, valid.products),
                    orders_per_user: pick(mask, 2, orders_per_user, valid.orders_per_user),
                    items_per_order: pick(mask, 3, items_per_order, valid.items_per_order),
                    round_trip_ms: pick(mask, 4, round_trip_ms, valid.round_trip_ms),
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // Both models return the same answer for every pattern, before and after renames and new
    // orders. Fetching an order reads 1 + 2k rows or 1 document, a rename writes 1 row and at
    // least 1 document, the report reads more bytes as documents, and placing an order writes
    // 1 + 2k rows or 1 + k documents.
    #[test]
    fn data_model_keeps_invariants(case in model_case()) {
        run_model_case(&case)?;
    }

    #[test]
    fn data_model_rejects_invalid_config(invalid in invalid_model_config()) {
        check_invalid::<DataModel>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP API
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum HttpOp {
    /// Runs this many steps.
    Step(u32),
    /// Sends a request, with an index into the paths both designs offer plus invalid ones.
    Send(Method, Index, bool),
    SendAgain,
}

type HttpCase = Case<HttpApiConfig, HttpOp>;

/// Paths the cases send: both designs' lists, a missing route, and invalid paths.
const HTTP_PATHS: &[&str] = &[
    "/orders",
    "/orders/1",
    "/orders/2",
    "/orders/4",
    "/orders/9",
    "/orders/abc",
    "/getOrder?id=1",
    "/getOrder?id=9",
    "/createOrder",
    "/updateOrder?id=1",
    "/deleteOrder?id=1",
    "/deleteOrder?id=2",
    "/deleteOrder",
    "/nothing",
    "orders",
    "",
];

fn http_config() -> impl Strategy<Value = HttpApiConfig> {
    (
        prop_oneof![Just(Design::Resource), Just(Design::Rpc)],
        f64_in(0.0, 100.0),
        f64_in(0.0, 20.0),
    )
        .prop_map(|(design, loss_pct, crawler_per_s)| HttpApiConfig {
            design,
            loss_pct,
            crawler_per_s,
        })
}

fn http_op() -> impl Strategy<Value = HttpOp> {
    prop_oneof![
        2 => (1u32..=40).prop_map(HttpOp::Step),
        4 => (prop::sample::select(Method::ALL.to_vec()), any::<Index>(), any::<bool>())
            .prop_map(|(method, path, stale)| HttpOp::Send(method, path, stale)),
        1 => Just(HttpOp::SendAgain),
    ]
}

fn http_case() -> impl Strategy<Value = HttpCase> {
    (
        http_config(),
        engine_seed(),
        prop::collection::vec(http_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Checks one handled request against the rules of its design.
fn check_http_events(engine: &HttpApi, events: &[http_api::Event]) -> Result<(), String> {
    for event in events {
        let http_api::Event::Handled {
            method,
            status,
            changed,
            ..
        } = event
        else {
            continue;
        };
        ensure!(
            !http_api::reason(*status).is_empty(),
            "invariant `every status has a reason phrase` broken: {status}"
        );
        if engine.config().design == Design::Resource {
            ensure!(
                !(method.is_safe() && *changed),
                "invariant `safe methods never change state` broken: {method:?} changed the store"
            );
            ensure!(
                !(*status >= 400 && *changed),
                "invariant `an error response changes nothing` broken: {status}"
            );
        }
    }
    for exchange in engine.history() {
        let response = &exchange.response;
        ensure!(
            response.status != 405 || response.allow.is_some(),
            "invariant `405 lists Allow` broken"
        );
        ensure!(
            response.status != 201 || response.location.is_some(),
            "invariant `201 carries Location` broken"
        );
        ensure!(
            exchange.method != Method::Head || response.body.is_empty(),
            "invariant `HEAD has no body` broken"
        );
        ensure!(
            (response.status == 204) == response.content_length.is_none(),
            "invariant `only 204 omits Content-Length` broken: {} with {:?}",
            response.status,
            response.content_length
        );
    }
    ensure!(
        engine.orders().len() <= http_api::MAX_ORDERS,
        "invariant `store holds at most MAX_ORDERS` broken: {}",
        engine.orders().len()
    );
    ensure!(
        engine.pending_retries() <= 1 + engine.requests() as usize,
        "invariant `retries come from requests` broken"
    );
    Ok(())
}

fn run_http_case(case: &HttpCase) -> Result<(), TestCaseError> {
    let mut engine = HttpApi::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    for (index, op) in case.ops.iter().enumerate() {
        let at = position(index, op, engine.now_ms());
        match op {
            HttpOp::Step(count) => {
                for _ in 0..*count {
                    let events = engine.step();
                    check_http_events(&engine, &events)
                        .map_err(|message| violation(case, &at, &message))?;
                }
            }
            HttpOp::Send(method, path, stale) => {
                let path = path.get(HTTP_PATHS);
                let action = http_api::Action::Send {
                    method: *method,
                    path: path.to_string(),
                    stale_if_match: *stale,
                };
                let requests = engine.requests();
                let result = engine.apply(&action);
                let valid = path.starts_with('/');
                if result.is_ok() != valid {
                    return Err(violation(
                        case,
                        &at,
                        &format!("invariant `only invalid paths are rejected` broken: {path:?}"),
                    ));
                }
                if !valid && engine.requests() != requests {
                    return Err(violation(
                        case,
                        &at,
                        "invariant `a rejected action changes nothing` broken",
                    ));
                }
                check_http_events(&engine, &result.unwrap_or_default())
                    .map_err(|message| violation(case, &at, &message))?;
            }
            HttpOp::SendAgain => {
                let result = engine.apply(&http_api::Action::SendAgain);
                check_http_events(&engine, &result.unwrap_or_default())
                    .map_err(|message| violation(case, &at, &message))?;
            }
        }
    }
    Ok(())
}

fn invalid_http_config() -> impl Strategy<Value = InvalidConfig<HttpApiConfig>> {
    let names = ["loss_pct", "crawler_per_s"];
    (
        http_config(),
        1u8..4,
        f64_outside(0.0, 100.0),
        f64_outside(0.0, 20.0),
    )
        .prop_map(move |(valid, mask, loss, crawler)| {
            let config = HttpApiConfig {
                design: valid.design,
                loss_pct: pick(mask, 0, loss, valid.loss_pct),
                crawler_per_s: pick(mask, 1, crawler, valid.crawler_per_s),
            };
            InvalidConfig {
                config,
                first_invalid: first_set(mask, &names),
            }
        })
}

proptest! {
    #![proptest_config(proptest_config())]

    // In the resource design a safe method never changes the store and an error status changes
    // nothing. Every status has a reason phrase, 405 lists Allow, 201 carries Location, HEAD has
    // no body, only 204 omits Content-Length, the store never exceeds MAX_ORDERS, and only paths
    // without a leading / are rejected, changing nothing.
    #[test]
    fn http_api_keeps_invariants(case in http_case()) {
        run_http_case(&case)?;
    }

    #[test]
    fn http_api_rejects_invalid_config(invalid in invalid_http_config()) {
        check_invalid::<HttpApi>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Message queue
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum MqOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::SetPublishRate`, valid or not.
    SetRate(f64),
    /// Applies `Action::SetProcessTime`, valid or not.
    SetProcess(f64),
    /// Applies `Action::Burst`, valid or not.
    Burst(u32),
    AddConsumer,
    RemoveConsumer,
    Crash(Target),
    Restart(Target),
    Unsupported(Fault),
}

type MqCase = Case<MessageQueueConfig, MqOp>;

fn mq_config() -> impl Strategy<Value = MessageQueueConfig> {
    (
        prop_oneof![
            Just(message_queue::Mode::Queue),
            Just(message_queue::Mode::Direct)
        ],
        f64_in(0.0, message_queue::MAX_PUBLISH_PER_S),
        u32_in(1, message_queue::MAX_CONSUMERS),
        f64_in(1.0, 60_000.0),
        prop_oneof![
            Just(0),
            u32_in(0, 50),
            u32_in(0, message_queue::MAX_QUEUE_LEN)
        ],
        prop_oneof![
            Just(message_queue::Overflow::DropOldest),
            Just(message_queue::Overflow::RejectPublish)
        ],
        f64_in(100.0, 600_000.0),
    )
        .prop_map(
            |(mode, publish_per_s, consumers, process_ms, max_len, overflow, ack_timeout_ms)| {
                MessageQueueConfig {
                    mode,
                    publish_per_s,
                    consumers,
                    process_ms,
                    max_len,
                    overflow,
                    ack_timeout_ms,
                }
            },
        )
}

fn mq_op() -> impl Strategy<Value = MqOp> {
    prop_oneof![
        6 => (1u32..=20).prop_map(MqOp::Step),
        1 => prop_oneof![f64_in(0.0, 200.0), f64_outside(0.0, 200.0)].prop_map(MqOp::SetRate),
        1 => prop_oneof![f64_in(1.0, 60_000.0), f64_outside(1.0, 60_000.0)]
            .prop_map(MqOp::SetProcess),
        1 => prop_oneof![1u32..=60, Just(0), Just(message_queue::MAX_BURST + 1)]
            .prop_map(MqOp::Burst),
        1 => Just(MqOp::AddConsumer),
        1 => Just(MqOp::RemoveConsumer),
        2 => crash_target().prop_map(MqOp::Crash),
        1 => restart_target().prop_map(MqOp::Restart),
        1 => prop_oneof![Just(Fault::Heal), Just(Fault::DropMessages { probability: 0.5 })]
            .prop_map(MqOp::Unsupported),
    ]
}

fn mq_case() -> impl Strategy<Value = MqCase> {
    (
        mq_config(),
        any::<u64>(),
        prop::collection::vec(mq_op(), 1..MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Messages acked so far, rebuilt from the events, to check that none is acked twice.
#[derive(Debug, Default)]
struct MqModel {
    acked: BTreeSet<u64>,
}

impl MqModel {
    fn check_events(&mut self, events: &[message_queue::Event]) -> Result<(), String> {
        for event in events {
            if let message_queue::Event::Acked {
                message,
                latency_ms,
                ..
            } = event
            {
                ensure!(
                    self.acked.insert(*message),
                    "invariant `a message is acked at most once` broken: message {message}"
                );
                ensure!(
                    *latency_ms >= 0.0,
                    "invariant `latency is not negative` broken: {latency_ms}"
                );
            }
        }
        Ok(())
    }
}

fn check_mq_state(engine: &MessageQueue, model: &MqModel) -> Result<(), String> {
    let counts = engine.counts();
    let accounted = counts.acked
        + engine.depth() as u64
        + engine.unacked().len() as u64
        + counts.dropped
        + counts.rejected;
    ensure!(
        counts.published == accounted,
        "invariant `published = acked + ready + unacked + dropped + rejected` broken: {counts:?}, \
         ready {}, unacked {}",
        engine.depth(),
        engine.unacked().len()
    );
    ensure!(
        counts.acked == model.acked.len() as u64,
        "invariant `acked counts the Acked events` broken: {} vs {}",
        counts.acked,
        model.acked.len()
    );
    let limit = engine.config().max_len as usize;
    ensure!(
        engine.config().mode == message_queue::Mode::Direct || limit == 0 || engine.held() <= limit,
        "invariant `the queue never exceeds max_len` broken: {} > {limit}",
        engine.held()
    );
    ensure!(
        counts.redelivered <= counts.delivered,
        "invariant `redeliveries are deliveries` broken: {counts:?}"
    );
    let busy = engine
        .consumers()
        .iter()
        .filter(|c| c.work.is_some())
        .count();
    ensure!(
        engine.consumers().iter().all(|c| c.up || c.work.is_none()),
        "invariant `a down consumer holds no message` broken"
    );
    ensure!(
        engine.depth() == 0 || busy == engine.consumers().iter().filter(|c| c.up).count(),
        "invariant `no consumer idles while messages are ready` broken"
    );
    Ok(())
}

fn run_mq_case(case: &MqCase) -> Result<(), TestCaseError> {
    let mut engine = MessageQueue::new(case.config.clone(), case.seed)
        .map_err(|err| violation(case, "new", &format!("valid config rejected: {err}")))?;
    let mut model = MqModel::default();
    for (index, op) in case.ops.iter().enumerate() {
        let at = position(index, op, engine.now_ms());
        let checked = |engine: &MessageQueue, model: &mut MqModel, events: &[_]| {
            model
                .check_events(events)
                .and_then(|()| check_mq_state(engine, model))
                .map_err(|message| violation(case, &at, &message))
        };
        let ids = |up: bool| -> Vec<u32> {
            engine
                .consumers()
                .iter()
                .filter(|c| c.up == up)
                .map(|c| c.id)
                .collect()
        };
        let result = match op {
            MqOp::Step(count) => {
                for _ in 0..*count {
                    let events = engine.step();
                    checked(&engine, &mut model, &events)?;
                }
                continue;
            }
            MqOp::SetRate(rate) => {
                let valid = (0.0..=200.0).contains(rate);
                let result = engine.apply(&message_queue::Action::SetPublishRate {
                    publish_per_s: *rate,
                });
                (result, valid)
            }
            MqOp::SetProcess(ms) => {
                let valid = (1.0..=60_000.0).contains(ms);
                let result =
                    engine.apply(&message_queue::Action::SetProcessTime { process_ms: *ms });
                (result, valid)
            }
            MqOp::Burst(count) => {
                let valid = (1..=message_queue::MAX_BURST).contains(count);
                (
                    engine.apply(&message_queue::Action::Burst { count: *count }),
                    valid,
                )
            }
            MqOp::AddConsumer => {
                let valid = engine.consumers().len() < message_queue::MAX_CONSUMERS as usize;
                (engine.apply(&message_queue::Action::AddConsumer), valid)
            }
            MqOp::RemoveConsumer => {
                let valid = engine.consumers().len() > 1;
                (engine.apply(&message_queue::Action::RemoveConsumer), valid)
            }
            MqOp::Crash(target) => {
                let (up, down) = (ids(true), ids(false));
                let node = target.resolve(&up, &down);
                let valid = up.contains(&node);
                let fault = Fault::Crash { node };
                (engine.apply(&MessageQueue::fault_action(fault)), valid)
            }
            MqOp::Restart(target) => {
                let (up, down) = (ids(true), ids(false));
                let node = target.resolve(&down, &up);
                let valid = down.contains(&node);
                let fault = Fault::Restart { node };
                (engine.apply(&MessageQueue::fault_action(fault)), valid)
            }
            MqOp::Unsupported(fault) => (
                engine.apply(&MessageQueue::fault_action(fault.clone())),
                false,
            ),
        };
        match result {
            (Ok(events), true) => checked(&engine, &mut model, &events)?,
            (Err(_), false) => checked(&engine, &mut model, &[])?,
            (outcome, valid) => {
                return Err(violation(
                    case,
                    &at,
                    &format!(
                        "invariant `exactly the invalid actions are rejected` broken: valid \
                         {valid}, got {}",
                        describe(&outcome)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn invalid_mq_config() -> impl Strategy<Value = InvalidConfig<MessageQueueConfig>> {
    let names = [
        "publish_per_s",
        "consumers",
        "process_ms",
        "max_len",
        "ack_timeout_ms",
    ];
    (
        mq_config(),
        1u8..32,
        f64_outside(0.0, message_queue::MAX_PUBLISH_PER_S),
        u32_outside(1, message_queue::MAX_CONSUMERS),
        f64_outside(1.0, 60_000.0),
        u32_outside(0, message_queue::MAX_QUEUE_LEN),
        f64_outside(100.0, 600_000.0),
    )
        .prop_map(
            move |(valid, mask, rate, consumers, process, max_len, timeout)| InvalidConfig {
                config: MessageQueueConfig {
                    publish_per_s: pick(mask, 0, rate, valid.publish_per_s),
                    consumers: pick(mask, 1, consumers, valid.consumers),
                    process_ms: pick(mask, 2, process, valid.process_ms),
                    max_len: pick(mask, 3, max_len, valid.max_len),
                    ack_timeout_ms: pick(mask, 4, timeout, valid.ack_timeout_ms),
                    ..valid
                },
                first_invalid: first_set(mask, &names),
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // published = acked + ready + unacked + dropped + rejected after every step and action. No
    // message is acked twice, the acked count matches the Acked events, and latencies are not
    // negative. In queue mode the queue holds at most max_len messages when max_len > 0. A down
    // consumer holds no message, and no up consumer idles while messages are ready. (A message in
    // hand may already be back in the queue when its ack timeout is shorter than processing.) Out-of-range rates, times and bursts, removing the last consumer,
    // adding a ninth, crashing a down or unknown consumer, restarting an up or unknown one, and
    // unsupported fault kinds return ActionError.
    #[test]
    fn message_queue_keeps_invariants(case in mq_case()) {
        run_mq_case(&case)?;
    }

    #[test]
    fn message_queue_rejects_invalid_config(invalid in invalid_mq_config()) {
        check_invalid::<MessageQueue>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum PageOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::Insert`, valid or not.
    Insert(u32),
    /// Applies `Action::Delete`, valid or not.
    Delete(u32),
    /// Applies `Action::DeletePassed`, valid or not.
    DeletePassed(u32),
    Restart,
}

type PageCase = Case<PaginationConfig, PageOp>;

fn page_config() -> impl Strategy<Value = PaginationConfig> {
    (
        prop_oneof![u32_in(1, 60), u32_in(1, pagination::MAX_ROWS)],
        u32_in(1, pagination::MAX_PAGE_SIZE),
        f64_in(0.0, pagination::MAX_RATE_PER_S),
        f64_in(0.0, pagination::MAX_RATE_PER_S),
        f64_in(100.0, 60_000.0),
    )
        .prop_map(
            |(rows, page_size, insert_per_s, delete_per_s, page_ms)| PaginationConfig {
                rows,
                page_size,
                insert_per_s,
                delete_per_s,
                page_ms,
            },
        )
}

fn page_op() -> impl Strategy<Value = PageOp> {
    let count = prop_oneof![1u32..=10, Just(0), Just(pagination::MAX_CHANGE + 1)];
    prop_oneof![
        6 => (1u32..=20).prop_map(PageOp::Step),
        2 => count.clone().prop_map(PageOp::Insert),
        2 => count.clone().prop_map(PageOp::Delete),
        2 => count.prop_map(PageOp::DeletePassed),
        1 => Just(PageOp::Restart),
    ]
}

fn page_case() -> impl Strategy<Value = PageCase> {
    (
        page_config(),
        any::<u64>(),
        prop::collection::vec(page_op(), 1..MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

fn check_page_state(engine: &Pagination) -> Result<(), String> {
    let table = engine.table();
    ensure!(
        table
            .windows(2)
            .all(|w| (w[0].created_ms, w[0].id) > (w[1].created_ms, w[1].id)),
        "invariant `the list is sorted by (created_at, id) descending` broken"
    );
    let cursor = engine.reader(pagination::Method::Cursor);
    ensure!(
        cursor.duplicate_count() == 0,
        "invariant `the cursor reader never returns a duplicate` broken: {}",
        cursor.duplicate_count()
    );
    ensure!(
        engine.missed_by(pagination::Method::Cursor).is_empty(),
        "invariant `the cursor reader never skips a row present throughout` broken: {:?}",
        engine.missed_by(pagination::Method::Cursor)
    );
    let k = u64::from(engine.config().page_size);
    for reader in engine.readers() {
        for page in &reader.pages {
            ensure!(
                page.ids.len() as u64 <= k,
                "invariant `a page has at most page_size rows` broken: {}",
                page.ids.len()
            );
        }
    }
    let offset = engine.reader(pagination::Method::Offset);
    for (index, page) in offset.pages.iter().enumerate() {
        let skipped = index as u64 * k;
        ensure!(
            page.scanned <= skipped + k && page.scanned >= page.ids.len() as u64,
            "invariant `an offset page scans at most n + k rows` broken: page {} scanned {}",
            page.number,
            page.scanned
        );
    }
    for page in &cursor.pages {
        ensure!(
            page.scanned == page.ids.len() as u64,
            "invariant `a cursor page scans only its rows` broken: page {}",
            page.number
        );
    }
    Ok(())
}

fn run_page_case(case: &PageCase) -> Result<(), TestCaseError> {
    let mut engine = Pagination::new(case.config.clone(), case.seed)
        .map_err(|err| violation(case, "new", &format!("valid config rejected: {err}")))?;
    for (index, op) in case.ops.iter().enumerate() {
        let at = position(index, op, engine.now_ms());
        let (result, valid) = match *op {
            PageOp::Step(count) => {
                for _ in 0..count {
                    engine.step();
                    check_page_state(&engine).map_err(|message| violation(case, &at, &message))?;
                }
                continue;
            }
            PageOp::Insert(count) => (
                engine.apply(&pagination::Action::Insert { count }),
                (1..=pagination::MAX_CHANGE).contains(&count),
            ),
            PageOp::Delete(count) => (
                engine.apply(&pagination::Action::Delete { count }),
                (1..=pagination::MAX_CHANGE).contains(&count),
            ),
            PageOp::DeletePassed(count) => (
                engine.apply(&pagination::Action::DeletePassed { count }),
                (1..=pagination::MAX_CHANGE).contains(&count),
            ),
            PageOp::Restart => (engine.apply(&pagination::Action::Restart), true),
        };
        if result.is_ok() != valid {
            let message = format!(
                "invariant `exactly the invalid actions are rejected` broken: valid {valid}, got {}",
                describe(&result)
            );
            return Err(violation(case, &at, &message));
        }
        check_page_state(&engine).map_err(|message| violation(case, &at, &message))?;
    }
    Ok(())
}

fn invalid_page_config() -> impl Strategy<Value = InvalidConfig<PaginationConfig>> {
    let names = [
        "rows",
        "page_size",
        "insert_per_s",
        "delete_per_s",
        "page_ms",
    ];
    (
        page_config(),
        1u8..32,
        u32_outside(1, pagination::MAX_ROWS),
        u32_outside(1, pagination::MAX_PAGE_SIZE),
        f64_outside(0.0, pagination::MAX_RATE_PER_S),
        f64_outside(0.0, pagination::MAX_RATE_PER_S),
        f64_outside(100.0, 60_000.0),
    )
        .prop_map(
            move |(valid, mask, rows, page_size, insert, delete, page_ms)| InvalidConfig {
                config: PaginationConfig {
                    rows: pick(mask, 0, rows, valid.rows),
                    page_size: pick(mask, 1, page_size, valid.page_size),
                    insert_per_s: pick(mask, 2, insert, valid.insert_per_s),
                    delete_per_s: pick(mask, 3, delete, valid.delete_per_s),
                    page_ms: pick(mask, 4, page_ms, valid.page_ms),
                },
                first_invalid: first_set(mask, &names),
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // The list stays sorted by (created_at, id) descending. The cursor reader never returns a
    // row twice and never misses a row present since its read started. A page has at most
    // page_size rows; an offset page scans at most offset + k rows and a cursor page scans only
    // its own rows. Insert and delete counts outside 1..=100 return ActionError.
    #[test]
    fn pagination_keeps_invariants(case in page_case()) {
        run_page_case(&case)?;
    }

    #[test]
    fn pagination_rejects_invalid_config(invalid in invalid_page_config()) {
        check_invalid::<Pagination>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Scaling: one machine sized up and down, or nodes behind a round-robin balancer.

mod scaling_properties {
    use super::*;
    use sim::scaling::{self, Action, Mode, SIZES, Scaling, ScalingConfig};

    /// One operation of a scaling case.
    #[derive(Debug, Clone)]
    enum ScalingOp {
        Step,
        SetLoad(f64),
        SizeUp,
        SizeDown,
        AddNode,
        RemoveNode,
        Crash(u32),
        Restart(u32),
        Unsupported(Fault),
    }

    type ScalingCase = Case<ScalingConfig, ScalingOp>;

    fn scaling_config() -> impl Strategy<Value = ScalingConfig> {
        (
            prop_oneof![Just(Mode::Vertical), Just(Mode::Horizontal)],
            prop::sample::select(SIZES.map(|(cores, _)| cores).to_vec()),
            u32_in(1, scaling::MAX_NODES),
            f64_in(0.0, scaling::MAX_LOAD_PER_S),
            f64_in(1.0, 1_000.0),
            (f64_in(0.0, 1.0), f64_in(0.0, 1.0)),
            u32_in(1, 10_000),
        )
            .prop_map(
                |(mode, cores, nodes, load_per_s, service_ms, (sigma, kappa), queue_limit)| {
                    ScalingConfig {
                        mode,
                        cores,
                        nodes: if mode == Mode::Vertical { 1 } else { nodes },
                        load_per_s,
                        service_ms,
                        sigma,
                        kappa,
                        queue_limit,
                    }
                },
            )
    }

    fn scaling_op() -> impl Strategy<Value = ScalingOp> {
        prop_oneof![
            8 => Just(ScalingOp::Step),
            1 => prop_oneof![
                f64_in(0.0, scaling::MAX_LOAD_PER_S),
                f64_outside(0.0, scaling::MAX_LOAD_PER_S),
            ]
            .prop_map(ScalingOp::SetLoad),
            1 => Just(ScalingOp::SizeUp),
            1 => Just(ScalingOp::SizeDown),
            1 => Just(ScalingOp::AddNode),
            1 => Just(ScalingOp::RemoveNode),
            1 => (0u32..=scaling::MAX_NODES + 1).prop_map(ScalingOp::Crash),
            1 => (0u32..=scaling::MAX_NODES + 1).prop_map(ScalingOp::Restart),
            1 => unsupported_fault().prop_map(ScalingOp::Unsupported),
        ]
    }

    fn scaling_case() -> impl Strategy<Value = ScalingCase> {
        (
            scaling_config(),
            engine_seed(),
            prop::collection::vec(scaling_op(), 0..MAX_OPS),
        )
            .prop_map(|(config, seed, ops)| Case { config, seed, ops })
    }

    /// Counters that a rejected action must leave unchanged.
    #[derive(Debug, Clone, PartialEq)]
    struct Counters {
        arrived: u64,
        served: u64,
        dropped: u64,
        failed: u64,
        in_system: u64,
        cores: u32,
        machines: usize,
        nodes_up: u32,
        load_per_s: f64,
    }

    fn counters(engine: &Scaling) -> Counters {
        Counters {
            arrived: engine.arrived(),
            served: engine.served(),
            dropped: engine.dropped(),
            failed: engine.failed(),
            in_system: engine.in_system(),
            cores: engine.cores(),
            machines: engine.machines().len(),
            nodes_up: engine.nodes_up(),
            load_per_s: engine.config().load_per_s,
        }
    }

    fn check_scaling_state(engine: &Scaling, bound: f64) -> Result<(), String> {
        let accounted = engine.served() + engine.dropped() + engine.failed() + engine.in_system();
        ensure!(
            engine.arrived() == accounted,
            "invariant `arrived = served + dropped + failed + in system` broken: {} vs {accounted}",
            engine.arrived()
        );
        ensure!(
            engine.served() as f64 <= bound + TOLERANCE,
            "invariant `served <= integral of USL capacity + worker slots` broken: {} > {bound}",
            engine.served()
        );
        for machine in engine.machines() {
            ensure!(
                machine.up() || machine.busy() + machine.queued() == 0,
                "invariant `a down machine holds no requests` broken on machine {}",
                machine.id()
            );
            ensure!(
                machine.queued() <= engine.config().queue_limit as usize,
                "invariant `queue <= queue_limit` broken on machine {}: {}",
                machine.id(),
                machine.queued()
            );
            ensure!(
                machine.queued() == 0 || machine.busy() >= engine.cores() as usize,
                "invariant `requests wait only while every worker is busy` broken on machine {}",
                machine.id()
            );
        }
        let capacity = engine.capacity_per_s();
        ensure!(
            capacity.is_finite() && capacity >= 0.0,
            "invariant `capacity is finite and not negative` broken: {capacity}"
        );
        if engine.config().mode == Mode::Vertical {
            ensure!(
                engine.machines().len() == 1,
                "invariant `vertical mode runs one machine` broken: {}",
                engine.machines().len()
            );
        }
        let snapshot = engine.snapshot();
        for metric in &snapshot.metrics {
            let may_be_missing = matches!(metric.key, "cost-million" | "utilization");
            ensure!(
                may_be_missing || metric.value.is_finite(),
                "invariant `metrics are finite` broken: {} = {}",
                metric.key,
                metric.value
            );
        }
        Ok(())
    }

    fn run_scaling_case(case: &ScalingCase) -> Result<(), TestCaseError> {
        let mut engine = match Scaling::new(case.config.clone(), case.seed) {
            Ok(engine) => engine,
            Err(err) => {
                return Err(violation(
                    case,
                    "new",
                    &format!("valid config rejected: {err}"),
                ));
            }
        };
        // Each worker slot completes at most one request per stretched service time, so
        // served <= sum over steps of capacity * step + the slots at the start of each stretch
        // of constant capacity.
        let mut bound = f64::from(engine.slots());
        for (index, op) in case.ops.iter().enumerate() {
            let at = position(index, op, engine.now_ms());
            let before = counters(&engine);
            let result = match op {
                ScalingOp::Step => {
                    bound += engine.capacity_per_s() * scaling::STEP_MS / 1000.0;
                    engine.step();
                    Ok(Vec::new())
                }
                ScalingOp::SetLoad(per_s) => engine.apply(&Action::SetLoad { per_s: *per_s }),
                ScalingOp::SizeUp => engine.apply(&Action::SizeUp),
                ScalingOp::SizeDown => engine.apply(&Action::SizeDown),
                ScalingOp::AddNode => engine.apply(&Action::AddNode),
                ScalingOp::RemoveNode => engine.apply(&Action::RemoveNode),
                ScalingOp::Crash(node) => {
                    engine.apply(&Action::Fault(Fault::Crash { node: *node }))
                }
                ScalingOp::Restart(node) => {
                    engine.apply(&Action::Fault(Fault::Restart { node: *node }))
                }
                ScalingOp::Unsupported(fault) => engine.apply(&Action::Fault(fault.clone())),
            };
            match &result {
                Ok(_) => bound += f64::from(engine.slots()),
                Err(_) => {
                    if counters(&engine) != before {
                        return Err(violation(
                            case,
                            &at,
                            &format!(
                                "invariant `a rejected action changes nothing` broken: {}",
                                describe(&result)
                            ),
                        ));
                    }
                }
            }
            let expected_error = match op {
                ScalingOp::SetLoad(per_s) => !(0.0..=scaling::MAX_LOAD_PER_S).contains(per_s),
                ScalingOp::Unsupported(_) => true,
                _ => false,
            };
            if expected_error && result.is_ok() {
                return Err(violation(
                    case,
                    &at,
                    "invariant `invalid load and unsupported faults are rejected` broken",
                ));
            }
            check_scaling_state(&engine, bound)
                .map_err(|message| violation(case, &at, &message))?;
        }
        Ok(())
    }

    fn invalid_scaling_config() -> impl Strategy<Value = InvalidConfig<ScalingConfig>> {
        (
            0usize..7,
            prop_oneof![Just(0u32), Just(3), Just(100), Just(256), Just(u32::MAX)],
            u32_outside(1, scaling::MAX_NODES),
            f64_outside(0.0, scaling::MAX_LOAD_PER_S),
            f64_outside(1.0, 1_000.0),
            f64_outside(0.0, 1.0),
            u32_outside(1, 10_000),
        )
            .prop_map(|(field, cores, nodes, load, service, coefficient, queue)| {
                let mut config = ScalingConfig {
                    mode: Mode::Horizontal,
                    ..ScalingConfig::default()
                };
                let first_invalid = match field {
                    0 => {
                        config.cores = cores;
                        "cores"
                    }
                    1 => {
                        config.nodes = nodes;
                        "nodes"
                    }
                    2 => {
                        config.load_per_s = load;
                        "load_per_s"
                    }
                    3 => {
                        config.service_ms = service;
                        "service_ms"
                    }
                    4 => {
                        config.sigma = coefficient;
                        "sigma"
                    }
                    5 => {
                        config.kappa = coefficient;
                        "kappa"
                    }
                    _ => {
                        config.queue_limit = queue;
                        "queue_limit"
                    }
                };
                InvalidConfig {
                    config,
                    first_invalid,
                }
            })
    }

    proptest! {
        #![proptest_config(proptest_config())]

        // arrived = served + dropped + failed + in system. Served never passes the integral of
        // the USL capacity plus the worker slots at each change. A down machine holds nothing,
        // queues stay within queue_limit and fill only while every worker is busy, vertical
        // mode runs one machine, and the metrics are finite. An out-of-range load, resizing
        // past either end of the ladder or in horizontal mode, adding past MAX_NODES or
        // removing the last node, crashing a down or unknown machine, restarting an up or
        // unknown one, and unsupported fault kinds return ActionError and change nothing.
        #[test]
        fn scaling_keeps_invariants(case in scaling_case()) {
            run_scaling_case(&case)?;
        }

        #[test]
        fn scaling_rejects_invalid_config(invalid in invalid_scaling_config()) {
            check_invalid::<Scaling>(&invalid)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CDN
// ---------------------------------------------------------------------------------------------

/// One operation on the CDN engine.
#[derive(Debug, Clone)]
enum CdnOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::Publish` to this object, valid or not.
    Publish(u32),
    /// Applies `Action::Purge` to this object (valid or not), or to all.
    Purge(Option<u32>),
    /// Applies this fault, supported or not.
    Fault(Fault),
}

type CdnCase = Case<CdnConfig, CdnOp>;

fn cdn_config() -> impl Strategy<Value = CdnConfig> {
    (
        (
            u32_in(1, cdn::MAX_REGIONS),
            u32_in(1, cdn::MAX_OBJECTS),
            f64_in(0.0, 3.0),
        ),
        (
            f64_in(0.0, cdn::MAX_REQUESTS_PER_S),
            f64_in(0.0, cdn::MAX_TTL_S),
            any::<bool>(),
            f64_in(0.0, cdn::MAX_TTL_S),
        ),
    )
        .prop_map(
            |((regions, objects, zipf_s), (requests_per_s, ttl_s, shield, stale_if_error_s))| {
                CdnConfig {
                    regions,
                    objects,
                    zipf_s,
                    requests_per_s,
                    ttl_s,
                    shield,
                    stale_if_error_s,
                }
            },
        )
}

fn cdn_op() -> impl Strategy<Value = CdnOp> {
    prop_oneof![
        6 => (1u32..=3).prop_map(CdnOp::Step),
        2 => u32_in(0, 1000).prop_map(CdnOp::Publish),
        2 => prop::option::of(u32_in(0, 1000)).prop_map(CdnOp::Purge),
        2 => prop_oneof![
            (0u32..=1).prop_map(|node| Fault::Crash { node }),
            (0u32..=1).prop_map(|node| Fault::Restart { node }),
            Just(Fault::Heal),
            Just(Fault::DelayMessages { ms: 10.0 }),
        ]
        .prop_map(CdnOp::Fault),
    ]
}

fn cdn_case() -> impl Strategy<Value = CdnCase> {
    (
        cdn_config(),
        engine_seed(),
        prop::collection::vec(cdn_op(), 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Checks one step's or action's events against the engine: the origin's count grows by the
/// responses served from it, fresh copies are younger than the TTL, and no response is served
/// from the origin while it is down.
fn check_cdn_events(engine: &Cdn, origin_before: u64, events: &[cdn::Event]) -> Result<(), String> {
    let ttl_ms = engine.config().ttl_s * 1000.0;
    let mut from_origin = 0;
    for event in events {
        if let cdn::Event::Served { source, age_ms, .. } = *event {
            match source {
                cdn::Source::Origin => from_origin += 1,
                cdn::Source::Edge | cdn::Source::Shield => ensure!(
                    (0.0..ttl_ms).contains(&age_ms),
                    "invariant `a cached copy is younger than the TTL` broken: {event:?}"
                ),
                cdn::Source::StaleIfError => ensure!(
                    age_ms < ttl_ms + engine.config().stale_if_error_s * 1000.0,
                    "invariant `stale-if-error stays within its window` broken: {event:?}"
                ),
            }
        }
    }
    let grew = engine.origin_requests() - origin_before;
    ensure!(
        grew == from_origin,
        "invariant `a hit never contacts the origin` broken: origin requests grew by {grew}, \
         {from_origin} responses came from the origin"
    );
    let totals = engine.totals();
    ensure!(
        totals.requests == totals.hits + totals.misses,
        "invariant `requests = hits + misses` broken: {totals:?}"
    );
    ensure!(
        totals.failed <= totals.misses && totals.stale_if_error <= totals.misses,
        "invariant `only misses fail or fall back to stale copies` broken: {totals:?}"
    );
    Ok(())
}

fn run_cdn_op(engine: &mut Cdn, op: &CdnOp) -> Result<(), String> {
    match op {
        CdnOp::Step(count) => {
            for _ in 0..*count {
                let before = engine.origin_requests();
                let events = engine.step();
                check_cdn_events(engine, before, &events)?;
            }
        }
        CdnOp::Publish(object) => {
            let valid = *object < engine.config().objects;
            let version = engine.version(*object);
            let result = engine.apply(&cdn::Action::Publish { object: *object });
            ensure!(
                result.is_ok() == valid,
                "invariant `publish accepts exactly the known objects` broken: {}",
                describe(&result)
            );
            let expected = version.map(|v| if valid { v + 1 } else { v });
            ensure!(
                engine.version(*object) == expected,
                "invariant `publish increments the version` broken: {version:?} became {:?}",
                engine.version(*object)
            );
        }
        CdnOp::Purge(object) => {
            let valid = object.is_none_or(|o| o < engine.config().objects);
            let before = engine.origin_requests();
            let result = engine.apply(&cdn::Action::Purge { object: *object });
            ensure!(
                result.is_ok() == valid,
                "invariant `purge accepts exactly the known objects` broken: {}",
                describe(&result)
            );
            check_cdn_events(engine, before, &result.unwrap_or_default())?;
            let hot_cached = engine
                .regions()
                .iter()
                .any(|region| region.hot_copy.is_some());
            ensure!(
                !(valid && matches!(object, None | Some(0)) && hot_cached),
                "invariant `a purge removes the copies` broken: object 0 still cached"
            );
        }
        CdnOp::Fault(fault) => {
            let up = engine.origin_up();
            let result = engine.apply(&cdn::Action::Fault(fault.clone()));
            let expected_ok = matches!(
                (fault, up),
                (Fault::Crash { node: 0 }, true) | (Fault::Restart { node: 0 }, false)
            );
            ensure!(
                result.is_ok() == expected_ok,
                "invariant `only crash of an up origin and restart of a down one apply` broken: \
                 {fault:?} with origin up {up}: {}",
                describe(&result)
            );
            let expected_up = if expected_ok { !up } else { up };
            ensure!(
                engine.origin_up() == expected_up,
                "invariant `a rejected fault changes nothing` broken: origin up {}",
                engine.origin_up()
            );
        }
    }
    Ok(())
}

fn run_cdn_case(case: &CdnCase) -> Result<(), TestCaseError> {
    let mut engine = Cdn::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    for (index, op) in case.ops.iter().enumerate() {
        run_cdn_op(&mut engine, op)
            .map_err(|message| violation(case, &position(index, op, engine.now_ms()), &message))?;
    }
    let snapshot = engine.snapshot();
    let finite = snapshot
        .metrics
        .iter()
        .all(|metric| metric.value.is_finite())
        && snapshot
            .samples
            .iter()
            .all(|sample| sample.value.is_finite());
    if !finite {
        return Err(violation(
            case,
            "end",
            &format!("invariant `metrics are finite` broken: {snapshot:?}"),
        ));
    }
    Ok(())
}

fn invalid_cdn_config() -> impl Strategy<Value = InvalidConfig<CdnConfig>> {
    let names = [
        "regions",
        "objects",
        "zipf_s",
        "requests_per_s",
        "ttl_s",
        "stale_if_error_s",
    ];
    (
        cdn_config(),
        1u8..64,
        (
            u32_outside(1, cdn::MAX_REGIONS),
            u32_outside(1, cdn::MAX_OBJECTS),
            f64_outside(0.0, 3.0),
        ),
        (
            f64_outside(0.0, cdn::MAX_REQUESTS_PER_S),
            f64_outside(0.0, cdn::MAX_TTL_S),
            f64_outside(0.0, cdn::MAX_TTL_S),
        ),
    )
        .prop_map(
            move |(
                valid,
                mask,
                (regions, objects, zipf_s),
                (requests_per_s, ttl_s, stale_if_error_s),
            )| {
                let config = CdnConfig {
                    regions: pick(mask, 0, regions, valid.regions),
                    objects: pick(mask, 1, objects, valid.objects),
                    zipf_s: pick(mask, 2, zipf_s, valid.zipf_s),
                    requests_per_s: pick(mask, 3, requests_per_s, valid.requests_per_s),
                    ttl_s: pick(mask, 4, ttl_s, valid.ttl_s),
                    stale_if_error_s: pick(mask, 5, stale_if_error_s, valid.stale_if_error_s),
                    ..valid
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // The origin's request count grows exactly by the responses served from it, so hits never
    // contact it. Copies served from the edge or the shield are younger than the TTL, and
    // stale-if-error copies are within TTL + stale_if_error_s. requests = hits + misses, and
    // only misses fail or fall back to stale copies. Publish and purge accept exactly the known
    // objects, publish increments the version, and a purge of object 0 or of everything leaves
    // no copy of object 0. Only a crash of the up origin and a restart of the down origin
    // apply; every other fault returns ActionError and changes nothing. Metrics stay finite.
    #[test]
    fn cdn_keeps_invariants(case in cdn_case()) {
        run_cdn_case(&case)?;
    }

    #[test]
    fn cdn_rejects_invalid_config(invalid in invalid_cdn_config()) {
        check_invalid::<Cdn>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

/// One operation on the storage engine.
#[derive(Debug, Clone)]
enum StorageOp {
    /// Runs this many steps.
    Step(u32),
    /// Applies `Action::Run` with this operation.
    Run(storage::Op),
}

type StorageCase = Case<StorageConfig, StorageOp>;

fn storage_config() -> impl Strategy<Value = StorageConfig> {
    (
        u32_in(1, storage::MAX_FILES),
        u32_in(1, storage::MAX_FILE_KB),
        u32_in(1, 1024),
        0.0f64..=1.0,
        f64_in(0.0, 200.0),
    )
        .prop_map(
            |(files, file_kb, block_kb, io_share, ops_per_s)| StorageConfig {
                files,
                file_kb,
                block_kb,
                // io_kb must not exceed file_kb, so it is drawn as a share of it.
                io_kb: ((f64::from(file_kb) * io_share) as u32).clamp(1, file_kb),
                ops_per_s,
            },
        )
}

fn storage_case() -> impl Strategy<Value = StorageCase> {
    let op = prop_oneof![
        3 => (1u32..=3).prop_map(StorageOp::Step),
        2 => prop::sample::select(storage::Op::ALL.to_vec()).prop_map(StorageOp::Run),
    ];
    (
        storage_config(),
        engine_seed(),
        prop::collection::vec(op, 1..=MAX_OPS),
    )
        .prop_map(|(config, seed, ops)| Case { config, seed, ops })
}

/// Checks the cost rules on one event: block and object never report list or rename as
/// supported where they have none, an object update moves the whole object both ways, a
/// block update writes whole blocks only, and ranges never move more than the file.
fn check_storage_event(config: &StorageConfig, event: &storage::Event) -> Result<(), String> {
    let storage::Event::Ran {
        op, file, costs, ..
    } = event;
    let file_bytes = u64::from(config.file_kb) * 1024;
    let block_bytes = u64::from(config.block_kb) * 1024;
    ensure!(
        *file < config.files,
        "invariant `file index in range` broken: {event:?}"
    );
    let [block, _, object] = costs;
    ensure!(
        block.is_none() == matches!(op, storage::Op::List | storage::Op::Rename),
        "invariant `block has no list or rename` broken: {event:?}"
    );
    if let Some(block) = block {
        ensure!(
            block.bytes_written % block_bytes == 0 && block.bytes_read % block_bytes == 0,
            "invariant `block I/O is in whole blocks` broken: {event:?}"
        );
    }
    let Some(object) = object else {
        return Err(format!(
            "invariant `object supports every operation` broken: {event:?}"
        ));
    };
    if *op == storage::Op::UpdateRange {
        ensure!(
            object.bytes_read == file_bytes && object.bytes_written == file_bytes,
            "invariant `object update rewrites the whole object` broken: {event:?}"
        );
    }
    if *op == storage::Op::Rename {
        ensure!(
            object.requests == 2 && object.bytes_copied == file_bytes,
            "invariant `object rename is copy plus delete` broken: {event:?}"
        );
    }
    if *op == storage::Op::ReadRange {
        ensure!(
            object.bytes_read <= file_bytes,
            "invariant `a range read moves at most the file` broken: {event:?}"
        );
    }
    Ok(())
}

fn run_storage_case(case: &StorageCase) -> Result<(), TestCaseError> {
    let mut engine = Storage::new(case.config.clone(), case.seed).map_err(|err| {
        violation(
            case,
            "Engine::new",
            &format!("invariant `valid config is accepted` broken: {err}"),
        )
    })?;
    for (index, op) in case.ops.iter().enumerate() {
        let events = match op {
            StorageOp::Step(count) => (0..*count).flat_map(|_| engine.step()).collect(),
            StorageOp::Run(op) => engine
                .apply(&storage::Action::Run { op: *op })
                .map_err(|err| violation(case, &position(index, op, engine.now_ms()), &err.0))?,
        };
        for event in &events {
            check_storage_event(&case.config, event).map_err(|message| {
                violation(case, &position(index, op, engine.now_ms()), &message)
            })?;
        }
    }
    for model in storage::Model::ALL {
        let dollars = engine.monthly_cost(model);
        if !(dollars.is_finite() && dollars >= 0.0) {
            return Err(violation(
                case,
                "end",
                &format!("invariant `monthly cost is finite` broken: {model:?} {dollars}"),
            ));
        }
    }
    Ok(())
}

fn invalid_storage_config() -> impl Strategy<Value = InvalidConfig<StorageConfig>> {
    let names = ["files", "file_kb", "block_kb", "io_kb", "ops_per_s"];
    (
        storage_config(),
        1u8..32,
        (
            u32_outside(1, storage::MAX_FILES),
            u32_outside(1, storage::MAX_FILE_KB),
            u32_outside(1, 1024),
            u32_outside(1, storage::MAX_FILE_KB),
        ),
        f64_outside(0.0, storage::MAX_OPS_PER_S),
    )
        .prop_map(
            move |(valid, mask, (files, file_kb, block_kb, io_kb), ops_per_s)| {
                let config = StorageConfig {
                    files: pick(mask, 0, files, valid.files),
                    file_kb: pick(mask, 1, file_kb, valid.file_kb),
                    block_kb: pick(mask, 2, block_kb, valid.block_kb),
                    io_kb: pick(mask, 3, io_kb, valid.io_kb),
                    ops_per_s: pick(mask, 4, ops_per_s, valid.ops_per_s),
                };
                InvalidConfig {
                    config,
                    first_invalid: first_set(mask, &names),
                }
            },
        )
}

proptest! {
    #![proptest_config(proptest_config())]

    // A raw block volume reports list and rename as unsupported and every other operation as
    // supported, in whole blocks. The object store supports every operation; its update reads
    // and writes the whole object, its rename is two requests that copy the whole object, and
    // its range read moves at most the file. Files are in range and monthly costs finite.
    #[test]
    fn storage_keeps_cost_rules(case in storage_case()) {
        run_storage_case(&case)?;
    }

    #[test]
    fn storage_rejects_invalid_config(invalid in invalid_storage_config()) {
        check_invalid::<Storage>(&invalid)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions: sticky sessions in server memory vs a shared session store.
// ---------------------------------------------------------------------------------------------

mod sessions_properties {
    use super::*;
    use sim::sessions::{self, Action, Mode, SessionHome, Sessions, SessionsConfig};

    /// One operation of a sessions case.
    #[derive(Debug, Clone)]
    enum SessionsOp {
        /// Runs this many steps.
        Step(u32),
        Crash(Target),
        Restart(Target),
        Unsupported(Fault),
    }

    type SessionsCase = Case<SessionsConfig, SessionsOp>;

    fn sessions_config() -> impl Strategy<Value = SessionsConfig> {
        (
            (
                u32_in(1, sessions::MAX_SERVERS),
                u32_in(1, sessions::MAX_USERS),
            ),
            f64_in(0.01, sessions::MAX_RATE_PER_USER),
            f64_in(0.0, sessions::MAX_SKEW),
            (f64_in(1.0, 1_000.0), f64_in(0.0, 1_000.0)),
            u32_in(1, 1_000),
            (
                prop_oneof![Just(Mode::Sticky), Just(Mode::Shared)],
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    (servers, users),
                    requests_per_user_per_s,
                    activity_skew,
                    (service_ms, store_ms),
                    queue_limit,
                    (mode, compare),
                )| SessionsConfig {
                    servers,
                    users,
                    requests_per_user_per_s,
                    activity_skew,
                    service_ms,
                    store_ms,
                    queue_limit,
                    mode,
                    compare,
                },
            )
    }

    fn sessions_op() -> impl Strategy<Value = SessionsOp> {
        prop_oneof![
            6 => (1u32..=4).prop_map(SessionsOp::Step),
            2 => crash_target().prop_map(SessionsOp::Crash),
            2 => restart_target().prop_map(SessionsOp::Restart),
            1 => unsupported_fault().prop_map(SessionsOp::Unsupported),
        ]
    }

    fn sessions_case() -> impl Strategy<Value = SessionsCase> {
        (
            sessions_config(),
            engine_seed(),
            prop::collection::vec(sessions_op(), 1..=MAX_OPS),
        )
            .prop_map(|(config, seed, ops)| Case { config, seed, ops })
    }

    /// Where each user's session lives and which servers are down, rebuilt from the events.
    #[derive(Debug, Default)]
    struct SessionsModel {
        /// Session home per lane and user.
        homes: BTreeMap<(u32, u32), SessionHome>,
        /// Users per lane whose session a crash lost and who have not logged in again.
        lost: BTreeSet<(u32, u32)>,
        down: BTreeSet<u32>,
        /// Lanes whose last up server crashed and which still owe an AllServersDown event.
        outage_pending: BTreeSet<u32>,
    }

    impl SessionsModel {
        fn check_events(
            &mut self,
            engine: &Sessions,
            events: &[sessions::Event],
        ) -> Result<(), String> {
            use sessions::Event;
            let mode_of = |lane: u32| engine.lanes().get(lane as usize).map(|l| l.mode());
            for event in events {
                match *event {
                    Event::Routed {
                        lane,
                        user,
                        server_id,
                        pinned,
                        ..
                    } => {
                        ensure!(
                            !self.down.contains(&server_id),
                            "invariant `no request goes to a down server` broken: {event:?}"
                        );
                        let home = self.homes.get(&(lane, user)).copied();
                        if mode_of(lane) == Some(Mode::Sticky) {
                            ensure!(
                                pinned == home.is_some(),
                                "invariant `a user with a session is pinned` broken: {event:?}, model {home:?}"
                            );
                            if let Some(home) = home {
                                ensure!(
                                    home == SessionHome::Server(server_id),
                                    "invariant `sticky requests go to the session's server` broken: {event:?}, model {home:?}"
                                );
                            }
                        } else {
                            ensure!(
                                !pinned,
                                "invariant `shared mode pins nobody` broken: {event:?}"
                            );
                        }
                    }
                    Event::SessionCreated {
                        lane,
                        mode,
                        user,
                        home,
                        again,
                        ..
                    } => {
                        ensure!(
                            mode_of(lane) == Some(mode),
                            "invariant `events carry their lane's mode` broken: {event:?}"
                        );
                        ensure!(
                            !self.homes.contains_key(&(lane, user)),
                            "invariant `a user has at most one session` broken: {event:?}"
                        );
                        ensure!(
                            again == self.lost.remove(&(lane, user)),
                            "invariant `again marks exactly the users whose session was lost` broken: {event:?}"
                        );
                        let expected_store = mode_of(lane) == Some(Mode::Shared);
                        ensure!(
                            (home == SessionHome::Store) == expected_store,
                            "invariant `sessions live in the lane's mode` broken: {event:?}"
                        );
                        self.homes.insert((lane, user), home);
                    }
                    Event::ServerCrashed {
                        lane,
                        mode,
                        server_id,
                        ref lost_sessions,
                        ..
                    } => {
                        ensure!(
                            mode_of(lane) == Some(mode),
                            "invariant `events carry their lane's mode` broken: {event:?}"
                        );
                        let pinned: Vec<u32> = self
                            .homes
                            .iter()
                            .filter(|&(&(l, _), &home)| {
                                l == lane && home == SessionHome::Server(server_id)
                            })
                            .map(|(&(_, user), _)| user)
                            .collect();
                        ensure!(
                            *lost_sessions == pinned,
                            "invariant `a crash loses exactly the sessions pinned to the server` broken: {event:?}, model {pinned:?}"
                        );
                        if mode_of(lane) == Some(Mode::Shared) {
                            ensure!(
                                lost_sessions.is_empty(),
                                "invariant `a shared-store crash loses no session` broken: {event:?}"
                            );
                        }
                        for user in lost_sessions {
                            self.homes.remove(&(lane, *user));
                            self.lost.insert((lane, *user));
                        }
                        self.down.insert(server_id);
                        let servers = engine.lanes().get(lane as usize).map(|l| l.servers().len());
                        if servers == Some(self.down.len()) {
                            self.outage_pending.insert(lane);
                        }
                    }
                    Event::AllServersDown { lane, .. } => {
                        ensure!(
                            self.outage_pending.remove(&lane),
                            "invariant `AllServersDown comes exactly when no server is up` broken: {event:?}, down {:?}",
                            self.down
                        );
                    }
                    Event::ServerRestarted { server_id, .. } => {
                        self.down.remove(&server_id);
                    }
                    Event::Arrived { .. } | Event::Completed { .. } | Event::Rejected { .. } => {}
                }
            }
            ensure!(
                self.outage_pending.is_empty(),
                "invariant `AllServersDown comes exactly when no server is up` broken: no event for lanes {:?}",
                self.outage_pending
            );
            Ok(())
        }
    }

    fn check_sessions_state(engine: &Sessions, model: &SessionsModel) -> Result<(), String> {
        let config = engine.config();
        let lanes = engine.lanes();
        ensure!(
            lanes.len() == if config.compare { 2 } else { 1 },
            "invariant `compare runs two lanes` broken: {} lanes",
            lanes.len()
        );
        for (lane_id, lane) in lanes.iter().enumerate() {
            let lane_id = lane_id as u32;
            let accounted = lane.completed() + lane.in_flight() + lane.rejected() + lane.failed();
            ensure!(
                engine.arrived() == accounted,
                "invariant `arrived = completed + in flight + rejected + failed` broken in lane {lane_id}"
            );
            for server in lane.servers() {
                ensure!(
                    server.queue.len() <= config.queue_limit as usize,
                    "invariant `a server holds at most queue_limit requests` broken: {server:?}"
                );
                ensure!(
                    server.up || (server.queue.is_empty() && server.sessions.is_empty()),
                    "invariant `a down server holds nothing` broken: {server:?}"
                );
                ensure!(
                    server.up != model.down.contains(&server.id),
                    "invariant `up matches the crash and restart events` broken: {server:?}"
                );
            }
            for (user_id, user) in lane.users().iter().enumerate() {
                let key = (lane_id, user_id as u32);
                ensure!(
                    user.session == model.homes.get(&key).copied(),
                    "invariant `sessions match the events` broken: lane {lane_id} user {user_id} {user:?}"
                );
                ensure!(
                    user.lost == model.lost.contains(&key),
                    "invariant `lost users match the events` broken: lane {lane_id} user {user_id} {user:?}"
                );
                let holders = lane
                    .servers()
                    .iter()
                    .filter(|s| s.sessions.contains(&(user_id as u32)))
                    .count();
                let expected = usize::from(matches!(user.session, Some(SessionHome::Server(_))));
                ensure!(
                    holders == expected,
                    "invariant `a sticky session lives in exactly one server's memory` broken: lane {lane_id} user {user_id} on {holders} servers"
                );
            }
            if lane.mode() == Mode::Shared {
                ensure!(
                    lane.sessions_lost() == 0 && lane.logins_again() == 0,
                    "invariant `a shared store never loses a session` broken in lane {lane_id}"
                );
            }
            if let Some(p) = lane.latency_percentiles() {
                ensure!(
                    p.p50_ms <= p.p95_ms && p.p95_ms <= p.p99_ms,
                    "invariant `percentiles are ordered` broken: {p:?}"
                );
            }
        }
        let up: Vec<u32> = (0..config.servers)
            .filter(|id| !model.down.contains(id))
            .collect();
        let down: Vec<u32> = model.down.iter().copied().collect();
        check_node_statuses(&engine.node_statuses(), &up, &down)
    }

    /// Counts and server states that an invalid action must leave unchanged.
    fn sessions_summary(engine: &Sessions) -> String {
        format!(
            "{} {} {:?}",
            engine.arrived(),
            engine.now_ms(),
            engine.lanes()
        )
    }

    fn run_sessions_op(
        engine: &mut Sessions,
        model: &mut SessionsModel,
        op: &SessionsOp,
    ) -> Result<(), String> {
        let (action, valid) = match *op {
            SessionsOp::Step(count) => {
                for _ in 0..count {
                    let from_ms = engine.now_ms();
                    let events = engine.step();
                    let to_ms = engine.now_ms();
                    ensure!(
                        (to_ms - from_ms - sessions::STEP_MS).abs() <= TOLERANCE,
                        "invariant `each step advances STEP_MS` broken: from {from_ms} to {to_ms}"
                    );
                    model.check_events(engine, &events)?;
                    check_sessions_state(engine, model)?;
                }
                return Ok(());
            }
            SessionsOp::Crash(ref target) | SessionsOp::Restart(ref target) => {
                let servers = engine.config().servers;
                let down: Vec<u32> = model.down.iter().copied().collect();
                let up: Vec<u32> = (0..servers).filter(|id| !model.down.contains(id)).collect();
                let node = target.resolve(&up, &down);
                let crash = matches!(op, SessionsOp::Crash(_));
                let fault = if crash {
                    Fault::Crash { node }
                } else {
                    Fault::Restart { node }
                };
                let valid = node < servers && model.down.contains(&node) != crash;
                (Action::Fault(fault), valid)
            }
            SessionsOp::Unsupported(ref fault) => (Action::Fault(fault.clone()), false),
        };
        if valid {
            let events = engine.apply(&action).map_err(|err| {
                format!("invariant `valid action is applied` broken: {action:?} failed: {err}")
            })?;
            model.check_events(engine, &events)?;
        } else {
            let before = sessions_summary(engine);
            let result = engine.apply(&action);
            ensure!(
                result.as_ref().is_err_and(|err| !err.0.is_empty()),
                "invariant `invalid action returns ActionError` broken: {action:?} returned {}",
                describe(&result)
            );
            ensure!(
                sessions_summary(engine) == before,
                "invariant `invalid action leaves the state unchanged` broken: {action:?}"
            );
        }
        check_sessions_state(engine, model)
    }

    fn run_sessions_case(case: &SessionsCase) -> Result<(), TestCaseError> {
        let mut engine = Sessions::new(case.config.clone(), case.seed).map_err(|err| {
            violation(
                case,
                "Engine::new",
                &format!("invariant `valid config is accepted` broken: {err}"),
            )
        })?;
        let mut model = SessionsModel::default();
        check_sessions_state(&engine, &model)
            .map_err(|message| violation(case, "start", &message))?;
        for (index, op) in case.ops.iter().enumerate() {
            run_sessions_op(&mut engine, &mut model, op).map_err(|message| {
                violation(case, &position(index, op, engine.now_ms()), &message)
            })?;
        }
        Ok(())
    }

    fn invalid_sessions_config() -> impl Strategy<Value = InvalidConfig<SessionsConfig>> {
        let names = [
            "servers",
            "users",
            "requests_per_user_per_s",
            "activity_skew",
            "service_ms",
            "store_ms",
            "queue_limit",
        ];
        (
            sessions_config(),
            1u8..128,
            (
                u32_outside(1, sessions::MAX_SERVERS),
                u32_outside(1, sessions::MAX_USERS),
            ),
            f64_outside(0.01, sessions::MAX_RATE_PER_USER),
            f64_outside(0.0, sessions::MAX_SKEW),
            (f64_outside(1.0, 1_000.0), f64_outside(0.0, 1_000.0)),
            u32_outside(1, 1_000),
        )
            .prop_map(
                move |(
                    valid,
                    mask,
                    (servers, users),
                    rate,
                    skew,
                    (service_ms, store_ms),
                    queue_limit,
                )| {
                    let config = SessionsConfig {
                        servers: pick(mask, 0, servers, valid.servers),
                        users: pick(mask, 1, users, valid.users),
                        requests_per_user_per_s: pick(mask, 2, rate, valid.requests_per_user_per_s),
                        activity_skew: pick(mask, 3, skew, valid.activity_skew),
                        service_ms: pick(mask, 4, service_ms, valid.service_ms),
                        store_ms: pick(mask, 5, store_ms, valid.store_ms),
                        queue_limit: pick(mask, 6, queue_limit, valid.queue_limit),
                        ..valid
                    };
                    InvalidConfig {
                        config,
                        first_invalid: first_set(mask, &names),
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(proptest_config())]

        // arrived = completed + in flight + rejected + failed in every lane. Sessions and lost
        // users match a model rebuilt from the events: a user has at most one session, in the
        // store in shared mode and in exactly one up server's memory in sticky mode; every
        // sticky request of a user with a session goes to that server; a crash loses exactly
        // the sessions pinned to the server, and none in shared mode; `again` marks exactly the
        // users whose session was lost; SessionCreated and ServerCrashed name their lane's mode;
        // AllServersDown follows exactly the crashes that leave no server up. Crashing a down or
        // unknown server, restarting an up or
        // unknown one, and unsupported fault kinds return ActionError and change nothing.
        #[test]
        fn sessions_keeps_invariants(case in sessions_case()) {
            run_sessions_case(&case)?;
        }

        #[test]
        fn sessions_rejects_invalid_config(invalid in invalid_sessions_config()) {
            check_invalid::<Sessions>(&invalid)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Health checks: instances behind a balancer that routes only to instances probed ready.

mod health_check_properties {
    use super::*;
    use sim::health_check::{
        self, Action, Event, FailReason, HealthCheck, HealthCheckConfig, MAX_INSTANCES,
        RestartCause,
    };

    /// One operation of a health check case. Instance ids run past the last instance, so some
    /// actions name an unknown one.
    #[derive(Debug, Clone)]
    enum HealthOp {
        /// Runs this many steps.
        Step(u32),
        SetChecks(bool),
        Hang(u32),
        SetDependency(u32, bool),
        Restart(u32),
    }

    type HealthCase = Case<HealthCheckConfig, HealthOp>;

    fn health_config() -> impl Strategy<Value = HealthCheckConfig> {
        (
            (
                u32_in(1, MAX_INSTANCES),
                any::<Index>(),
                f64_in(0.1, 500.0),
                f64_in(1.0, 10_000.0),
                f64_in(1.0, 60_000.0),
                f64_in(100.0, 60_000.0),
            ),
            (
                u32_in(1, 100),
                u32_in(1, 100),
                f64_in(0.0, 600_000.0),
                any::<bool>(),
                prop_oneof![Just(0.0), f64_in(0.0, 20_000.0), f64_in(0.0, 600_000.0)],
                any::<Index>(),
            ),
        )
            .prop_map(
                |(
                    (instances, warm, rate_per_s, service_ms, timeout_ms, period_ms),
                    (failure_threshold, success_threshold, warmup_ms, checks, hang_at_ms, hang),
                )| HealthCheckConfig {
                    instances,
                    warm: warm.index(instances as usize + 1) as u32,
                    rate_per_s,
                    service_ms,
                    timeout_ms,
                    period_ms,
                    failure_threshold,
                    success_threshold,
                    warmup_ms,
                    checks,
                    hang_at_ms,
                    hang_instance: hang.index(instances as usize) as u32,
                },
            )
    }

    fn health_op() -> impl Strategy<Value = HealthOp> {
        let id = 0u32..=MAX_INSTANCES + 1;
        prop_oneof![
            8 => (1u32..=40).prop_map(HealthOp::Step),
            1 => any::<bool>().prop_map(HealthOp::SetChecks),
            2 => id.clone().prop_map(HealthOp::Hang),
            2 => (id.clone(), any::<bool>()).prop_map(|(i, a)| HealthOp::SetDependency(i, a)),
            1 => id.prop_map(HealthOp::Restart),
        ]
    }

    fn health_case() -> impl Strategy<Value = HealthCase> {
        (
            health_config(),
            engine_seed(),
            prop::collection::vec(health_op(), 1..=MAX_OPS),
        )
            .prop_map(|(config, seed, ops)| Case { config, seed, ops })
    }

    /// What the events say about one instance.
    #[derive(Debug, Clone, Default)]
    struct InstanceModel {
        in_rotation: bool,
        warmed: bool,
        hung: bool,
        lost_dependency: bool,
        /// Whether a readiness probe passed since the latest start, or the checks were off.
        passed: bool,
        live_failures: u32,
        ready_failures: u32,
        ready_passes: u32,
        /// Since when the instance has been hung with the checks on.
        hung_checked_since: Option<f64>,
    }

    /// The checker and balancer rebuilt from the events alone.
    struct HealthModel {
        checks: bool,
        failure_threshold: u32,
        success_threshold: u32,
        period_ms: f64,
        instances: Vec<InstanceModel>,
        next_id: u64,
        restarts: u64,
    }

    impl HealthModel {
        fn new(config: &HealthCheckConfig) -> Self {
            let instances = (0..config.instances)
                .map(|id| {
                    let warm = id < config.warm;
                    InstanceModel {
                        in_rotation: warm || !config.checks,
                        warmed: warm,
                        passed: warm || !config.checks,
                        ..InstanceModel::default()
                    }
                })
                .collect();
            Self {
                checks: config.checks,
                failure_threshold: config.failure_threshold,
                success_threshold: config.success_threshold,
                period_ms: config.period_ms,
                instances,
                next_id: 0,
                restarts: 0,
            }
        }

        fn get(&mut self, id: u32) -> Result<&mut InstanceModel, String> {
            self.instances.get_mut(id as usize).ok_or_else(|| {
                format!("invariant `events name known instances` broken: instance {id}")
            })
        }

        fn check_events(&mut self, events: &[Event]) -> Result<(), String> {
            for event in events {
                self.check_event(event)?;
            }
            Ok(())
        }

        fn check_event(&mut self, event: &Event) -> Result<(), String> {
            let checks = self.checks;
            let failure_threshold = self.failure_threshold;
            let success_threshold = self.success_threshold;
            let bound_ms = f64::from(failure_threshold) * self.period_ms;
            match *event {
                Event::WarmedUp { instance, .. } => self.get(instance)?.warmed = true,
                Event::Hung { at_ms, instance } => {
                    let model = self.get(instance)?;
                    model.hung = true;
                    model.hung_checked_since = checks.then_some(at_ms);
                }
                Event::DependencyChanged {
                    instance,
                    available,
                    ..
                } => self.get(instance)?.lost_dependency = !available,
                Event::Probed {
                    instance,
                    live,
                    ready,
                    ..
                } => {
                    ensure!(
                        checks,
                        "invariant `no probes while the checks are off` broken: {event:?}"
                    );
                    let model = self.get(instance)?;
                    let healthy = model.warmed && !model.hung && !model.lost_dependency;
                    ensure!(
                        live != model.hung && ready == healthy,
                        "invariant `probes report the instance's condition` broken: {event:?}, model {model:?}"
                    );
                    if ready {
                        model.passed = true;
                        model.ready_passes += 1;
                        model.ready_failures = 0;
                    } else {
                        model.ready_passes = 0;
                        model.ready_failures += 1;
                    }
                    model.live_failures = if live { 0 } else { model.live_failures + 1 };
                }
                Event::Added { instance, .. } => {
                    let model = self.get(instance)?;
                    ensure!(
                        !checks || model.ready_passes >= success_threshold,
                        "invariant `an instance joins after success_threshold passes` broken: {event:?} after {} passes",
                        model.ready_passes
                    );
                    model.in_rotation = true;
                }
                Event::Removed {
                    instance, failures, ..
                } => {
                    let model = self.get(instance)?;
                    ensure!(
                        checks && (failures == 0 || model.ready_failures >= failure_threshold),
                        "invariant `an instance leaves after failure_threshold failures` broken: {event:?} after {} failures",
                        model.ready_failures
                    );
                    model.in_rotation = false;
                }
                Event::Restarted {
                    instance, cause, ..
                } => {
                    self.restarts += 1;
                    let model = self.get(instance)?;
                    ensure!(
                        cause == RestartCause::Operator || model.live_failures >= failure_threshold,
                        "invariant `only failure_threshold failed liveness probes restart` broken: {event:?} after {} failures",
                        model.live_failures
                    );
                    ensure!(
                        !(checks && model.in_rotation),
                        "invariant `a restarted instance leaves the rotation` broken: {event:?}"
                    );
                    *model = InstanceModel {
                        in_rotation: model.in_rotation,
                        lost_dependency: model.lost_dependency,
                        passed: !checks,
                        ..InstanceModel::default()
                    };
                }
                Event::ChecksSwitched { at_ms, enabled } => {
                    self.checks = enabled;
                    for model in &mut self.instances {
                        model.live_failures = 0;
                        model.ready_failures = 0;
                        model.ready_passes = 0;
                        model.hung_checked_since = (enabled && model.hung).then_some(at_ms);
                        // With the checks off every instance is in the rotation, so the
                        // first-probe rule no longer covers the processes running now.
                        model.passed |= !enabled;
                    }
                }
                Event::Rejected { request_id, .. } => {
                    self.arrive(request_id)?;
                    ensure!(
                        self.instances.iter().all(|m| !m.in_rotation),
                        "invariant `only an empty rotation rejects` broken: {event:?}"
                    );
                }
                Event::Served {
                    at_ms,
                    request_id,
                    instance,
                    latency_ms,
                } => {
                    ensure!(
                        latency_ms.is_finite() && latency_ms >= 0.0,
                        "invariant `latencies are finite` broken: {event:?}"
                    );
                    self.routed(at_ms, request_id, instance, None, bound_ms)?;
                }
                Event::Failed {
                    at_ms,
                    request_id,
                    instance,
                    reason,
                    ..
                } => self.routed(at_ms, request_id, instance, Some(reason), bound_ms)?,
            }
            Ok(())
        }

        fn arrive(&mut self, request_id: u64) -> Result<(), String> {
            ensure!(
                request_id == self.next_id,
                "invariant `every request settles once, in arrival order` broken: got {request_id}, expected {}",
                self.next_id
            );
            self.next_id += 1;
            Ok(())
        }

        fn routed(
            &mut self,
            at_ms: f64,
            request_id: u64,
            instance: u32,
            failed: Option<FailReason>,
            bound_ms: f64,
        ) -> Result<(), String> {
            self.arrive(request_id)?;
            let model = self.get(instance)?;
            ensure!(
                model.in_rotation,
                "invariant `requests go only to the rotation` broken: request {request_id} to {instance}"
            );
            ensure!(
                model.passed,
                "invariant `never in rotation before the first passed readiness probe` broken: request {request_id} to {instance}"
            );
            if let Some(since) = model.hung_checked_since {
                ensure!(
                    at_ms <= since + bound_ms + 1e-6,
                    "invariant `a hung instance gets traffic for at most failure_threshold x period` broken: request {request_id} at {at_ms} ms, hung since {since} ms"
                );
            }
            let expected = if model.hung {
                Some(FailReason::Hung)
            } else if !model.warmed {
                Some(FailReason::Cold)
            } else if model.lost_dependency {
                Some(FailReason::NotReady)
            } else {
                None
            };
            ensure!(
                failed == expected,
                "invariant `outcome follows the instance's condition` broken: request {request_id} to {instance}: {failed:?}, expected {expected:?}"
            );
            Ok(())
        }
    }

    /// Checks the engine's accessors against the model after a step or an action.
    fn check_health_state(
        engine: &HealthCheck,
        model: &HealthModel,
        steps: u64,
    ) -> Result<(), String> {
        let now_ms = engine.now_ms();
        ensure!(
            now_ms == steps as f64 * health_check::STEP_MS,
            "invariant `each step advances STEP_MS` broken: now_ms {now_ms} after {steps} steps"
        );
        ensure!(
            engine.arrived() == engine.served() + engine.failed() + engine.rejected()
                && engine.arrived() == model.next_id,
            "invariant `arrived = served + failed + rejected` broken: {} arrived, {} served, {} failed, {} rejected, {} settled",
            engine.arrived(),
            engine.served(),
            engine.failed(),
            engine.rejected(),
            model.next_id
        );
        let served: u64 = engine.instances().iter().map(|i| i.served).sum();
        let failed: u64 = engine.instances().iter().map(|i| i.failed).sum();
        let restarts: u64 = engine
            .instances()
            .iter()
            .map(|i| u64::from(i.restarts))
            .sum();
        ensure!(
            served == engine.served() && failed == engine.failed(),
            "invariant `per-instance counts add up` broken: {served} and {failed}"
        );
        ensure!(
            restarts == engine.restarts() && restarts == model.restarts,
            "invariant `restarts are counted once` broken: {restarts}, {}, {}",
            engine.restarts(),
            model.restarts
        );
        ensure!(
            engine.config().checks || engine.in_rotation() == engine.instances().len(),
            "invariant `without checks every instance is in the rotation` broken: {} of {}",
            engine.in_rotation(),
            engine.instances().len()
        );
        for (instance, expected) in engine.instances().iter().zip(&model.instances) {
            ensure!(
                instance.in_rotation == expected.in_rotation
                    && instance.hung == expected.hung
                    && instance.warmed == expected.warmed,
                "invariant `state follows the events` broken: engine {instance:?}, model {expected:?}"
            );
            let unhealthy = instance.unhealthy_in_rotation_ms;
            ensure!(
                unhealthy.is_finite() && unhealthy >= 0.0 && unhealthy <= now_ms + 1e-6,
                "invariant `unhealthy time lies within the run` broken: {unhealthy} ms at {now_ms} ms"
            );
            // History keeps the marks of the last RECENT_MS and, of the segments, only the one
            // in force at its start and those that began later.
            let cutoff_ms = now_ms - health_check::RECENT_MS;
            ensure!(
                instance.marks.iter().all(|m| m.at_ms() >= cutoff_ms)
                    && instance
                        .segments
                        .iter()
                        .skip(1)
                        .all(|s| s.start_ms > cutoff_ms),
                "invariant `history is bounded` broken: {} marks, {} segments",
                instance.marks.len(),
                instance.segments.len()
            );
        }
        let snapshot = engine.snapshot();
        ensure!(
            snapshot.metrics.iter().all(|m| m.value.is_finite()),
            "invariant `metrics are finite` broken: {:?}",
            snapshot.metrics
        );
        Ok(())
    }

    /// Returns whether the engine must reject `op`: an unknown instance, hanging a hung one, or
    /// setting a dependency to the state it is in.
    fn health_op_is_invalid(engine: &HealthCheck, op: &HealthOp) -> bool {
        let instance = |id: u32| engine.instances().get(id as usize);
        match *op {
            HealthOp::Step(_) | HealthOp::SetChecks(_) => false,
            HealthOp::Hang(id) => instance(id).is_none_or(|i| i.hung),
            HealthOp::SetDependency(id, available) => {
                instance(id).is_none_or(|i| i.dependency == available)
            }
            HealthOp::Restart(id) => instance(id).is_none(),
        }
    }

    fn run_health_op(
        engine: &mut HealthCheck,
        model: &mut HealthModel,
        steps: &mut u64,
        op: &HealthOp,
    ) -> Result<(), String> {
        let action = match *op {
            HealthOp::Step(count) => {
                for _ in 0..count {
                    let events = engine.step();
                    *steps += 1;
                    model.check_events(&events)?;
                    check_health_state(engine, model, *steps)?;
                }
                return Ok(());
            }
            HealthOp::SetChecks(enabled) => Action::SetChecks { enabled },
            HealthOp::Hang(instance) => Action::Hang { instance },
            HealthOp::SetDependency(instance, available) => Action::SetDependency {
                instance,
                available,
            },
            HealthOp::Restart(instance) => Action::Restart { instance },
        };
        let invalid = health_op_is_invalid(engine, op);
        let before = engine.instances().to_vec();
        let counters = (engine.arrived(), engine.restarts(), engine.config().clone());
        let result = engine.apply(&action);
        if invalid {
            ensure!(
                result.as_ref().is_err_and(|err| !err.0.is_empty()),
                "invariant `invalid action returns ActionError` broken: {op:?} returned {}",
                describe(&result)
            );
            ensure!(
                engine.instances() == before.as_slice()
                    && (engine.arrived(), engine.restarts(), engine.config().clone()) == counters,
                "invariant `invalid action leaves the state unchanged` broken: {op:?}"
            );
        } else {
            let events = result.map_err(|err| {
                format!("invariant `valid action is applied` broken: {op:?} failed: {err}")
            })?;
            model.check_events(&events)?;
        }
        check_health_state(engine, model, *steps)
    }

    fn run_health_case(case: &HealthCase) -> Result<(), TestCaseError> {
        let mut engine = HealthCheck::new(case.config.clone(), case.seed).map_err(|err| {
            violation(
                case,
                "Engine::new",
                &format!("invariant `valid config is accepted` broken: {err}"),
            )
        })?;
        let mut model = HealthModel::new(&case.config);
        let mut steps = 0;
        check_health_state(&engine, &model, steps)
            .map_err(|message| violation(case, "start", &message))?;
        for (index, op) in case.ops.iter().enumerate() {
            run_health_op(&mut engine, &mut model, &mut steps, op).map_err(|message| {
                violation(case, &position(index, op, engine.now_ms()), &message)
            })?;
        }
        Ok(())
    }

    /// Field names in the order `validate` checks them.
    const HEALTH_FIELDS: [&str; 11] = [
        "instances",
        "warm",
        "rate_per_s",
        "service_ms",
        "timeout_ms",
        "period_ms",
        "failure_threshold",
        "success_threshold",
        "warmup_ms",
        "hang_at_ms",
        "hang_instance",
    ];

    /// Draws configurations with one or more fields invalid, chosen by the bits of a mask, and
    /// names the first one `validate` must report. `warm` and `hang_instance` are invalid past
    /// the number of instances, which stays valid whenever they are drawn invalid.
    fn invalid_health_config() -> impl Strategy<Value = InvalidConfig<HealthCheckConfig>> {
        (
            health_config(),
            1u16..(1 << 11),
            (
                u32_outside(1, MAX_INSTANCES),
                1u32..=u32::MAX - MAX_INSTANCES,
                f64_outside(0.1, 500.0),
                f64_outside(1.0, 10_000.0),
                f64_outside(1.0, 60_000.0),
                f64_outside(100.0, 60_000.0),
            ),
            (
                u32_outside(1, 100),
                u32_outside(1, 100),
                f64_outside(0.0, 600_000.0),
                f64_outside(0.0, 600_000.0),
                0u32..=u32::MAX - MAX_INSTANCES,
            ),
        )
            .prop_map(
                |(
                    valid,
                    mask,
                    (instances, warm_excess, rate, service, timeout, period),
                    (failure, success, warmup, hang_at, hang_excess),
                )| {
                    let set = |bit: u16| mask & (1 << bit) != 0;
                    let instances = if set(0) { instances } else { valid.instances };
                    let config = HealthCheckConfig {
                        instances,
                        warm: if set(1) {
                            valid.instances + warm_excess
                        } else {
                            valid.warm
                        },
                        rate_per_s: if set(2) { rate } else { valid.rate_per_s },
                        service_ms: if set(3) { service } else { valid.service_ms },
                        timeout_ms: if set(4) { timeout } else { valid.timeout_ms },
                        period_ms: if set(5) { period } else { valid.period_ms },
                        failure_threshold: if set(6) {
                            failure
                        } else {
                            valid.failure_threshold
                        },
                        success_threshold: if set(7) {
                            success
                        } else {
                            valid.success_threshold
                        },
                        warmup_ms: if set(8) { warmup } else { valid.warmup_ms },
                        checks: valid.checks,
                        hang_at_ms: if set(9) { hang_at } else { valid.hang_at_ms },
                        hang_instance: if set(10) {
                            valid.instances + hang_excess
                        } else {
                            valid.hang_instance
                        },
                    };
                    let first_invalid = (0..11u16)
                        .find(|&bit| set(bit))
                        .and_then(|bit| HEALTH_FIELDS.get(bit as usize))
                        .copied()
                        .unwrap_or("");
                    InvalidConfig {
                        config,
                        first_invalid,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(proptest_config())]

        // arrived = served + failed + rejected, and each request settles once in arrival order.
        // Requests go only to instances in the rotation, and only an empty rotation rejects.
        // With the checks on, an instance joins after success_threshold passed readiness probes
        // in a row and leaves after failure_threshold failures; only failure_threshold failed
        // liveness probes in a row restart it, cold and out of the rotation; it gets no request
        // before a readiness probe has passed since its start; and a hung instance gets requests
        // for at most failure_threshold x period_ms. Each routed request fails exactly when its
        // instance is hung, cold or without its dependency. Without checks every instance is in
        // the rotation and nothing is probed. Hanging a hung instance, setting a dependency to
        // its current state, and naming an unknown instance return ActionError and change
        // nothing.
        #[test]
        fn health_check_keeps_invariants(case in health_case()) {
            run_health_case(&case)?;
        }

        #[test]
        fn health_check_rejects_invalid_config(invalid in invalid_health_config()) {
            check_invalid::<HealthCheck>(&invalid)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Service discovery: a registry with TTL leases, heartbeats and clients' cached lists.
// ---------------------------------------------------------------------------------------------

mod discovery_properties {
    use super::*;
    use sim::discovery::{
        Action, Discovery, DiscoveryConfig, Event, HeartbeatOutcome, InstanceState, MAX_CLIENTS,
        MAX_INSTANCES, MAX_RATE_PER_S,
    };

    /// One operation of a discovery case.
    #[derive(Debug, Clone)]
    enum DiscoveryOp {
        /// Runs this many steps.
        Step(u32),
        Crash(Target),
        Restart(Target),
        /// Applies `Action::Stop`, the graceful stop.
        Stop(Target),
        AddInstance,
        /// Applies `Action::CutOff` with this `cut`.
        CutOff(Target, bool),
        /// Applies a fault of a kind the engine does not support.
        Unsupported(Fault),
    }

    type DiscoveryCase = Case<DiscoveryConfig, DiscoveryOp>;

    fn discovery_config() -> impl Strategy<Value = DiscoveryConfig> {
        (
            (
                u32_in(1, MAX_INSTANCES),
                u32_in(1, MAX_CLIENTS),
                f64_in(0.1, MAX_RATE_PER_S),
                f64_in(50.0, 60_000.0),
            ),
            (
                f64_in(50.0, 600_000.0),
                f64_in(50.0, 600_000.0),
                f64_in(0.0, 600_000.0),
                f64_in(0.0, 600_000.0),
            ),
        )
            .prop_map(
                |(
                    (instances, clients, rate_per_s, heartbeat_ms),
                    (ttl_ms, refresh_ms, drain_ms, crash_at_ms),
                )| DiscoveryConfig {
                    instances,
                    clients,
                    rate_per_s,
                    heartbeat_ms,
                    ttl_ms,
                    refresh_ms,
                    drain_ms,
                    crash_at_ms,
                },
            )
    }

    /// Draws a fault the engine does not support: anything but crash and restart.
    fn discovery_unsupported_fault() -> impl Strategy<Value = Fault> {
        prop_oneof![
            Just(Fault::Heal),
            prop::collection::vec(prop::collection::vec(1u32..=8, 1..3), 2..3)
                .prop_map(|groups| Fault::Partition { groups }),
            f64_in(0.0, 1.0).prop_map(|probability| Fault::DropMessages { probability }),
            f64_in(0.0, MAX_DELAY_MS).prop_map(|ms| Fault::DelayMessages { ms }),
            any::<bool>().prop_map(|failing| Fault::FailDependency { failing }),
        ]
    }

    fn discovery_op() -> impl Strategy<Value = DiscoveryOp> {
        prop_oneof![
            8 => (1u32..=20).prop_map(DiscoveryOp::Step),
            2 => crash_target().prop_map(DiscoveryOp::Crash),
            2 => restart_target().prop_map(DiscoveryOp::Restart),
            2 => crash_target().prop_map(DiscoveryOp::Stop),
            1 => Just(DiscoveryOp::AddInstance),
            2 => (crash_target(), any::<bool>()).prop_map(|(t, cut)| DiscoveryOp::CutOff(t, cut)),
            1 => discovery_unsupported_fault().prop_map(DiscoveryOp::Unsupported),
        ]
    }

    fn discovery_case() -> impl Strategy<Value = DiscoveryCase> {
        (
            discovery_config(),
            engine_seed(),
            prop::collection::vec(discovery_op(), 1..=MAX_OPS),
        )
            .prop_map(|(config, seed, ops)| Case { config, seed, ops })
    }

    /// The registry, the clients' caches and the instances rebuilt from the events alone.
    struct DiscoveryModel {
        ttl_ms: f64,
        refresh_ms: f64,
        /// Instance id to the time its lease was last renewed.
        listed: BTreeMap<u32, f64>,
        registered: BTreeSet<u32>,
        caches: BTreeMap<u32, Vec<u32>>,
        /// Instance id to `None` while serving, or the time it went down.
        down_since: BTreeMap<u32, Option<f64>>,
        cut_off: BTreeSet<u32>,
    }

    impl DiscoveryModel {
        /// Starts from the engine's state at the start. The start's registrations and fetches
        /// also arrive as events with the first step or action, and leave this state as it is.
        fn new(engine: &Discovery) -> Self {
            Self {
                ttl_ms: engine.config().ttl_ms,
                refresh_ms: engine.config().refresh_ms,
                listed: engine.listed().map(|id| (id, 0.0)).collect(),
                registered: engine.listed().collect(),
                caches: engine
                    .clients()
                    .iter()
                    .map(|c| (c.id, c.cache.clone()))
                    .collect(),
                down_since: engine.instances().iter().map(|i| (i.id, None)).collect(),
                cut_off: BTreeSet::new(),
            }
        }

        fn cached(&self, client: u32, instance: u32) -> bool {
            self.caches
                .get(&client)
                .is_some_and(|cache| cache.contains(&instance))
        }

        fn check(&mut self, event: &Event) -> Result<(), String> {
            match event {
                Event::Register {
                    at_ms,
                    instance,
                    delivered,
                    ..
                } => {
                    ensure!(
                        *delivered != self.cut_off.contains(instance),
                        "invariant `messages of a cut-off instance are lost` broken: {event:?}"
                    );
                    if *delivered {
                        self.listed.insert(*instance, *at_ms);
                        self.registered.insert(*instance);
                    }
                }
                Event::Heartbeat {
                    at_ms,
                    instance,
                    outcome,
                } => {
                    let expected = if self.cut_off.contains(instance) {
                        HeartbeatOutcome::Lost
                    } else if self.listed.contains_key(instance) {
                        HeartbeatOutcome::Renewed
                    } else {
                        HeartbeatOutcome::Unknown
                    };
                    ensure!(
                        *outcome == expected,
                        "invariant `a heartbeat renews a listed lease` broken: {event:?}, expected {expected:?}"
                    );
                    ensure!(
                        self.down_since.get(instance) == Some(&None),
                        "invariant `only serving instances send heartbeats` broken: {event:?}"
                    );
                    if expected == HeartbeatOutcome::Renewed {
                        self.listed.insert(*instance, *at_ms);
                    }
                }
                Event::Deregister {
                    instance,
                    delivered,
                    ..
                } => {
                    if *delivered {
                        self.listed.remove(instance);
                    }
                }
                Event::Expired {
                    at_ms, instance, ..
                } => {
                    let renewed = self.listed.remove(instance);
                    ensure!(
                        renewed.is_some_and(|r| (at_ms - r - self.ttl_ms).abs() <= TOLERANCE),
                        "invariant `a lease expires ttl_ms after its last renewal` broken: {event:?}, renewed {renewed:?}"
                    );
                }
                Event::Refreshed {
                    client, instances, ..
                } => {
                    let listed: Vec<u32> = self.listed.keys().copied().collect();
                    ensure!(
                        *instances == listed,
                        "invariant `a fetch returns the registry's leases` broken: {event:?}, model {listed:?}"
                    );
                    ensure!(
                        instances.iter().all(|id| self.registered.contains(id)),
                        "invariant `the registry never lists an instance that never registered` broken: {event:?}"
                    );
                    self.caches.insert(*client, instances.clone());
                }
                Event::Served {
                    client, instance, ..
                } => {
                    ensure!(
                        self.cached(*client, *instance),
                        "invariant `clients send only to cached instances` broken: {event:?}"
                    );
                    ensure!(
                        self.down_since.get(instance) == Some(&None),
                        "invariant `only serving instances serve` broken: {event:?}"
                    );
                }
                Event::Failed {
                    at_ms,
                    client,
                    instance: Some(instance),
                    ..
                } => {
                    ensure!(
                        self.cached(*client, *instance),
                        "invariant `clients send only to cached instances` broken: {event:?}"
                    );
                    let Some(Some(down_ms)) = self.down_since.get(instance).copied() else {
                        return Err(format!(
                            "invariant `a request fails only at a down instance` broken: {event:?}"
                        ));
                    };
                    let bound = down_ms + self.ttl_ms + self.refresh_ms;
                    ensure!(
                        *at_ms <= bound + TOLERANCE,
                        "invariant `failures stop within ttl + refresh of going down` broken: {event:?}, down at {down_ms}"
                    );
                }
                Event::Failed {
                    client,
                    instance: None,
                    ..
                } => {
                    ensure!(
                        self.caches.get(client).is_some_and(Vec::is_empty),
                        "invariant `only an empty list fails without an instance` broken: {event:?}"
                    );
                }
                Event::Crashed {
                    at_ms, instance, ..
                }
                | Event::Stopped { at_ms, instance } => {
                    self.down_since.insert(*instance, Some(*at_ms));
                }
                Event::Restarted { instance, .. } | Event::Added { instance, .. } => {
                    self.down_since.insert(*instance, None);
                }
                Event::CutOffChanged { instance, cut, .. } => {
                    if *cut {
                        self.cut_off.insert(*instance);
                    } else {
                        self.cut_off.remove(instance);
                    }
                }
                Event::Draining { .. } | Event::StaleCleared { .. } => {}
            }
            Ok(())
        }
    }

    /// Checks the engine's own state against the model and the counters against each other.
    fn check_state(engine: &Discovery, model: &DiscoveryModel) -> Result<(), String> {
        let listed: Vec<u32> = engine.listed().collect();
        let expected: Vec<u32> = model.listed.keys().copied().collect();
        ensure!(
            listed == expected,
            "invariant `the registry matches its events` broken: lists {listed:?}, model {expected:?}"
        );

        ensure!(
            engine.sent() == engine.succeeded() + engine.failed(),
            "invariant `sent = succeeded + failed` broken: {} != {} + {}",
            engine.sent(),
            engine.succeeded(),
            engine.failed()
        );

        let client_sent: u64 = engine.clients().iter().map(|c| c.sent).sum();
        let client_failed: u64 = engine.clients().iter().map(|c| c.failed).sum();
        let served: u64 = engine.instances().iter().map(|i| i.served).sum();
        ensure!(
            client_sent == engine.sent() && client_failed == engine.failed(),
            "invariant `clients' counts add up to the totals` broken: {client_sent}, {client_failed}"
        );
        ensure!(
            served == engine.succeeded(),
            "invariant `instances served every success` broken: {served} != {}",
            engine.succeeded()
        );
        ensure!(
            engine.instances().len() <= MAX_INSTANCES as usize,
            "invariant `at most MAX_INSTANCES instances` broken: {}",
            engine.instances().len()
        );

        let (up, down) = ids(engine);
        check_node_statuses(&engine.node_statuses(), &up, &down)
    }

    /// Returns the ids of the serving instances and of the down ones.
    fn ids(engine: &Discovery) -> (Vec<u32>, Vec<u32>) {
        let up = engine.instances().iter().filter(|i| i.serving());
        let down = engine.instances().iter().filter(|i| !i.serving());
        (up.map(|i| i.id).collect(), down.map(|i| i.id).collect())
    }

    /// Applies an action and checks that it is accepted exactly when `valid`, and that a
    /// rejected one changes nothing.
    fn act(
        engine: &mut Discovery,
        model: &mut DiscoveryModel,
        action: &Action,
        valid: bool,
    ) -> Result<(), String> {
        let before = engine.snapshot();
        let statuses = engine.node_statuses();
        let result = engine.apply(action);
        ensure!(
            result.is_ok() == valid,
            "invariant `an action applies exactly when it is valid` broken: {action:?}: {}",
            describe(&result)
        );
        match result {
            Ok(events) => {
                for event in &events {
                    model.check(event)?;
                }
            }
            Err(_) => {
                ensure!(
                    engine.snapshot() == before && engine.node_statuses() == statuses,
                    "invariant `a rejected action changes nothing` broken: {action:?}"
                );
            }
        }
        Ok(())
    }

    fn run_op(
        engine: &mut Discovery,
        model: &mut DiscoveryModel,
        op: &DiscoveryOp,
    ) -> Result<(), String> {
        let (up, down) = ids(engine);
        let state_of = |engine: &Discovery, id: u32| {
            engine
                .instances()
                .iter()
                .find(|i| i.id == id)
                .map(|i| (i.state, i.cut_off))
        };
        match op {
            DiscoveryOp::Step(count) => {
                for _ in 0..*count {
                    for event in engine.step() {
                        model.check(&event)?;
                    }
                    check_state(engine, model)?;
                }
            }
            DiscoveryOp::Crash(target) => {
                let node = target.resolve(&up, &down);
                let valid = state_of(engine, node).is_some_and(|(s, _)| s != InstanceState::Down);
                act(engine, model, &Action::Fault(Fault::Crash { node }), valid)?;
            }
            DiscoveryOp::Restart(target) => {
                let node = target.resolve(&up, &down);
                let valid = state_of(engine, node).is_some_and(|(s, _)| s == InstanceState::Down);
                act(
                    engine,
                    model,
                    &Action::Fault(Fault::Restart { node }),
                    valid,
                )?;
            }
            DiscoveryOp::Stop(target) => {
                let instance = target.resolve(&up, &down);
                let valid = state_of(engine, instance).is_some_and(|(s, _)| s == InstanceState::Up);
                act(engine, model, &Action::Stop { instance }, valid)?;
            }
            DiscoveryOp::AddInstance => {
                let valid = engine.instances().len() < MAX_INSTANCES as usize;
                act(engine, model, &Action::AddInstance, valid)?;
            }
            DiscoveryOp::CutOff(target, cut) => {
                let instance = target.resolve(&up, &down);
                let valid = state_of(engine, instance).is_some_and(|(_, c)| c != *cut);
                act(
                    engine,
                    model,
                    &Action::CutOff {
                        instance,
                        cut: *cut,
                    },
                    valid,
                )?;
            }
            DiscoveryOp::Unsupported(fault) => {
                act(engine, model, &Action::Fault(fault.clone()), false)?;
            }
        }
        check_state(engine, model)
    }

    fn run_discovery_case(case: &DiscoveryCase) -> Result<(), TestCaseError> {
        let mut engine = Discovery::new(case.config.clone(), case.seed).map_err(|err| {
            violation(
                case,
                "Engine::new",
                &format!("invariant `valid config is accepted` broken: {err}"),
            )
        })?;
        let mut model = DiscoveryModel::new(&engine);
        for (index, op) in case.ops.iter().enumerate() {
            run_op(&mut engine, &mut model, op).map_err(|message| {
                violation(case, &position(index, op, engine.now_ms()), &message)
            })?;
        }
        let snapshot = engine.snapshot();
        let finite = snapshot.metrics.iter().all(|m| m.value.is_finite())
            && snapshot.samples.iter().all(|s| s.value.is_finite());
        if !finite {
            return Err(violation(
                case,
                "end",
                &format!("invariant `metrics are finite` broken: {snapshot:?}"),
            ));
        }
        Ok(())
    }

    fn invalid_discovery_config() -> impl Strategy<Value = InvalidConfig<DiscoveryConfig>> {
        let names = [
            "instances",
            "clients",
            "rate_per_s",
            "heartbeat_ms",
            "ttl_ms",
            "refresh_ms",
            "drain_ms",
            "crash_at_ms",
        ];
        (
            discovery_config(),
            1u8..=255,
            (
                u32_outside(1, MAX_INSTANCES),
                u32_outside(1, MAX_CLIENTS),
                f64_outside(0.1, MAX_RATE_PER_S),
                f64_outside(50.0, 60_000.0),
            ),
            (
                f64_outside(50.0, 600_000.0),
                f64_outside(50.0, 600_000.0),
                f64_outside(0.0, 600_000.0),
                f64_outside(0.0, 600_000.0),
            ),
        )
            .prop_map(
                move |(
                    valid,
                    mask,
                    (instances, clients, rate_per_s, heartbeat_ms),
                    (ttl_ms, refresh_ms, drain_ms, crash_at_ms),
                )| {
                    let config = DiscoveryConfig {
                        instances: pick(mask, 0, instances, valid.instances),
                        clients: pick(mask, 1, clients, valid.clients),
                        rate_per_s: pick(mask, 2, rate_per_s, valid.rate_per_s),
                        heartbeat_ms: pick(mask, 3, heartbeat_ms, valid.heartbeat_ms),
                        ttl_ms: pick(mask, 4, ttl_ms, valid.ttl_ms),
                        refresh_ms: pick(mask, 5, refresh_ms, valid.refresh_ms),
                        drain_ms: pick(mask, 6, drain_ms, valid.drain_ms),
                        crash_at_ms: pick(mask, 7, crash_at_ms, valid.crash_at_ms),
                    };
                    InvalidConfig {
                        config,
                        first_invalid: first_set(mask, &names),
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(proptest_config())]

        // Every event matches a model of the registry, the caches and the instances rebuilt
        // from the events. A fetch returns exactly the live leases, so the registry never
        // lists an instance that never registered. A lease expires exactly ttl_ms after its
        // last renewal. Heartbeats, registrations and deregistrations of a cut-off instance
        // are lost. Clients send only to cached instances, and a request succeeds exactly at a
        // serving instance. Failures to an instance stop within ttl_ms + refresh_ms of it
        // going down. sent = succeeded + failed, per client and in total, and the instances
        // served every success. Crash, restart, graceful stop, scale-up and cut-off apply
        // exactly when valid, and rejected actions and unsupported faults change nothing.
        // Metrics stay finite.
        #[test]
        fn discovery_keeps_invariants(case in discovery_case()) {
            run_discovery_case(&case)?;
        }

        #[test]
        fn discovery_rejects_invalid_config(invalid in invalid_discovery_config()) {
            check_invalid::<Discovery>(&invalid)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raft: leader election with terms, votes and heartbeats under crashes, partitions and loss.
// ---------------------------------------------------------------------------------------------

mod raft_properties {
    use super::*;
    use sim::raft::{
        Action, Event, MAX_LATENCY_MS, MAX_NODES, MAX_TIMEOUT_MS, MIN_HEARTBEAT_MS, MIN_NODES,
        MIN_TIMEOUT_MS, Node, Raft, RaftConfig, Role,
    };

    /// One operation of a Raft case.
    #[derive(Debug, Clone)]
    enum RaftOp {
        /// Runs this many steps.
        Step(u32),
        Crash(Target),
        Restart(Target),
        /// Applies `Fault::Partition` with these groups, valid or not.
        Partition(Vec<Vec<u32>>),
        Heal,
        /// Applies `Fault::DropMessages` with this probability, valid or not.
        Drop(f64),
        /// Applies `Action::TimeoutNow`.
        TimeoutNow(Target),
        /// Applies a fault of a kind the engine does not support.
        Unsupported(Fault),
    }

    type RaftCase = Case<RaftConfig, RaftOp>;

    /// Draws a valid configuration: the maximum timeout above the minimum, and the heartbeat
    /// at most half the minimum.
    fn raft_config() -> impl Strategy<Value = RaftConfig> {
        (
            u32_in(MIN_NODES, MAX_NODES),
            f64_in(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS / 2.0),
            0.0..=1.0f64,
            0.0..=1.0f64,
            f64_in(1.0, MAX_LATENCY_MS),
            f64_in(0.0, MAX_LATENCY_MS),
        )
            .prop_map(|(nodes, min, above, beat, latency_ms, latency_jitter_ms)| {
                let max = (min + 1.0 + above * (MAX_TIMEOUT_MS - min - 1.0)).min(MAX_TIMEOUT_MS);
                let heartbeat_ms = MIN_HEARTBEAT_MS + beat * (min / 2.0 - MIN_HEARTBEAT_MS);
                RaftConfig {
                    nodes,
                    election_timeout_min_ms: min,
                    election_timeout_max_ms: max,
                    heartbeat_ms,
                    latency_ms,
                    latency_jitter_ms,
                }
            })
    }

    fn raft_op() -> impl Strategy<Value = RaftOp> {
        let groups = prop::collection::vec(prop::collection::vec(0u32..=10, 0..5), 0..4);
        let probability = prop_oneof![4 => f64_in(0.0, 1.0), 1 => f64_outside(0.0, 1.0)];
        prop_oneof![
            10 => (1u32..=40).prop_map(RaftOp::Step),
            2 => crash_target().prop_map(RaftOp::Crash),
            2 => restart_target().prop_map(RaftOp::Restart),
            2 => groups.prop_map(RaftOp::Partition),
            1 => Just(RaftOp::Heal),
            1 => probability.prop_map(RaftOp::Drop),
            2 => crash_target().prop_map(RaftOp::TimeoutNow),
            1 => prop_oneof![
                f64_in(0.0, MAX_DELAY_MS).prop_map(|ms| Fault::DelayMessages { ms }),
                any::<bool>().prop_map(|failing| Fault::FailDependency { failing }),
            ]
            .prop_map(RaftOp::Unsupported),
        ]
    }

    fn raft_case() -> impl Strategy<Value = RaftCase> {
        (
            raft_config(),
            engine_seed(),
            prop::collection::vec(raft_op(), 1..=MAX_OPS),
        )
            .prop_map(|(config, seed, ops)| Case { config, seed, ops })
    }

    /// The cluster rebuilt from the events, checked against the engine after every step and
    /// action.
    #[derive(Default)]
    struct RaftModel {
        /// Term to the node elected its leader.
        leaders: BTreeMap<u64, u32>,
        /// (voter, term) to the candidate it voted for; a candidate votes for itself.
        votes: BTreeMap<(u32, u64), u32>,
        terms: BTreeMap<u32, u64>,
        roles: BTreeMap<u32, Role>,
        down: BTreeSet<u32>,
        persisted: BTreeMap<u32, (u64, Option<u32>)>,
        seen_messages: BTreeSet<u64>,
    }

    impl RaftModel {
        fn new(engine: &Raft) -> Self {
            let mut model = Self::default();
            for node in engine.nodes() {
                model.terms.insert(node.id, node.term);
                model.roles.insert(node.id, node.role);
            }
            model
        }

        fn vote(&mut self, voter: u32, term: u64, candidate: u32) -> Result<(), String> {
            let earlier = self.votes.insert((voter, term), candidate);
            ensure!(
                earlier.is_none_or(|earlier| earlier == candidate),
                "invariant `a node votes at most once per term` broken: node {voter} voted for \
                 {earlier:?} and {candidate} in term {term}"
            );
            Ok(())
        }

        fn check(&mut self, engine: &Raft, event: &Event) -> Result<(), String> {
            let acting = match event {
                Event::BecameCandidate { node, .. }
                | Event::BecameLeader { node, .. }
                | Event::HeartbeatReceived { node, .. } => Some(*node),
                Event::VoteGranted { voter, .. } | Event::VoteDenied { voter, .. } => Some(*voter),
                Event::HeartbeatSent { leader, .. } => Some(*leader),
                Event::VoteRequested { candidate, .. } => Some(*candidate),
                _ => None,
            };
            ensure!(
                acting.is_none_or(|node| !self.down.contains(&node)),
                "invariant `a crashed node does nothing` broken: {event:?}"
            );
            let delivery = match event {
                Event::VoteGranted {
                    voter, candidate, ..
                }
                | Event::VoteDenied {
                    voter, candidate, ..
                } => Some((*candidate, *voter)),
                Event::HeartbeatReceived { node, leader, .. } => Some((*leader, *node)),
                _ => None,
            };
            ensure!(
                delivery.is_none_or(|(from, to)| engine.connected(from, to)),
                "invariant `no message crosses a partition` broken: {event:?}"
            );
            match event {
                Event::BecameCandidate { node, term, .. } => {
                    self.vote(*node, *term, *node)?;
                    self.roles.insert(*node, Role::Candidate);
                }
                Event::BecameLeader {
                    node, term, votes, ..
                } => {
                    let other = self.leaders.insert(*term, *node);
                    ensure!(
                        other.is_none(),
                        "invariant `at most one leader per term` broken: nodes {other:?} and \
                         {node} led term {term}"
                    );
                    ensure!(
                        *votes >= engine.quorum(),
                        "invariant `a leader has a majority of votes` broken: {event:?}"
                    );
                    self.roles.insert(*node, Role::Leader);
                }
                Event::VoteGranted {
                    voter,
                    candidate,
                    term,
                    ..
                } => self.vote(*voter, *term, *candidate)?,
                Event::HeartbeatSent { leader, term, .. } => {
                    ensure!(
                        self.leaders.get(term) == Some(leader),
                        "invariant `only a term's leader sends heartbeats` broken: {event:?}"
                    );
                }
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
                    let persisted = self.persisted.get(node).copied();
                    ensure!(
                        persisted == Some((*term, *voted_for)),
                        "invariant `a restart keeps the persisted term and vote` broken: \
                         {event:?}, persisted {persisted:?}"
                    );
                }
                _ => {}
            }
            Ok(())
        }

        fn check_state(&mut self, engine: &Raft) -> Result<(), String> {
            let mut leader_terms = BTreeSet::new();
            for node in engine.nodes() {
                let before = self.terms.insert(node.id, node.term).unwrap_or(0);
                ensure!(
                    node.term >= before,
                    "invariant `a node's term never decreases` broken: node {} from {before} to {}",
                    node.id,
                    node.term
                );
                ensure!(
                    node.up != self.down.contains(&node.id),
                    "invariant `up matches the crash and restart events` broken: {node:?}"
                );
                ensure!(
                    self.roles.get(&node.id) == Some(&node.role),
                    "invariant `roles match the events` broken: {node:?}, model {:?}",
                    self.roles.get(&node.id)
                );
                ensure!(
                    node.voted_for
                        .is_none_or(|v| self.votes.get(&(node.id, node.term)) == Some(&v)),
                    "invariant `every vote has an event` broken: {node:?}"
                );
                if node.role == Role::Leader {
                    ensure!(
                        leader_terms.insert(node.term),
                        "invariant `at most one leader per term` broken: two leaders of term {}",
                        node.term
                    );
                }
                let left = engine.timer_left(node);
                ensure!(
                    left.is_none_or(|x| (0.0..=1.0).contains(&x)),
                    "invariant `timer share is from 0 to 1` broken: {left:?} for {node:?}"
                );
                ensure!(
                    left.is_some() == (node.up && node.role != Role::Leader),
                    "invariant `only up followers and candidates run a timer` broken: {node:?}"
                );
            }
            for message in engine.messages() {
                let progress = engine.progress(message);
                ensure!(
                    (0.0..=1.0).contains(&progress),
                    "invariant `message progress is from 0 to 1` broken: {progress} for {message:?}"
                );
                if !self.seen_messages.insert(message.id) {
                    continue;
                }
                ensure!(
                    !self.down.contains(&message.from),
                    "invariant `a crashed node sends nothing` broken: {message:?}"
                );
                ensure!(
                    engine.connected(message.from, message.to),
                    "invariant `no message crosses a partition` broken at send: {message:?}"
                );
            }
            let in_flight: BTreeSet<u64> = engine.messages().map(|m| m.id).collect();
            self.seen_messages.retain(|id| in_flight.contains(id));
            ensure!(
                engine.messages_in_flight() == in_flight.len(),
                "invariant `message ids are unique` broken"
            );

            let leader = engine.leader();
            ensure!(
                leader.is_none_or(|n| n.up && n.role == Role::Leader),
                "invariant `the working leader is an up leader` broken: {leader:?}"
            );
            let snapshot = engine.snapshot();
            ensure!(
                snapshot
                    .metrics
                    .iter()
                    .all(|m| m.value.is_finite() || m.key == "last-election")
                    && snapshot.samples.iter().all(|s| s.value.is_finite()),
                "invariant `metrics are finite` broken: {snapshot:?}"
            );
            ensure!(
                engine.leaderless_ms() <= engine.now_ms() + TOLERANCE,
                "invariant `leaderless time fits in the run` broken: {} > {}",
                engine.leaderless_ms(),
                engine.now_ms()
            );
            ensure!(
                engine.split_votes() <= engine.elections(),
                "invariant `split votes are elections` broken: {} > {}",
                engine.split_votes(),
                engine.elections()
            );
            let (up, down) = ids(engine);
            check_node_statuses(&engine.node_statuses(), &up, &down)
        }
    }

    fn ids(engine: &Raft) -> (Vec<u32>, Vec<u32>) {
        let up = engine.nodes().iter().filter(|n| n.up).map(|n| n.id);
        let down = engine.nodes().iter().filter(|n| !n.up).map(|n| n.id);
        (up.collect(), down.collect())
    }

    /// Applies an action and checks that it is accepted exactly when `valid`, and that a
    /// rejected one changes nothing.
    fn act(
        engine: &mut Raft,
        model: &mut RaftModel,
        action: &Action,
        valid: bool,
    ) -> Result<(), String> {
        // The snapshot is compared as text, because a metric with no value yet is NaN.
        let before: (Vec<Node>, String, _) = (
            engine.nodes().to_vec(),
            format!("{:?}", engine.snapshot()),
            engine.partition(),
        );
        let result = engine.apply(action);
        ensure!(
            result.is_ok() == valid,
            "invariant `an action applies exactly when it is valid` broken: {action:?}: {}",
            describe(&result)
        );
        match result {
            Ok(events) => {
                for event in &events {
                    model.check(engine, event)?;
                }
            }
            Err(_) => {
                let after = (
                    engine.nodes().to_vec(),
                    format!("{:?}", engine.snapshot()),
                    engine.partition(),
                );
                ensure!(
                    after == before,
                    "invariant `a rejected action changes nothing` broken: {action:?}"
                );
            }
        }
        model.check_state(engine)
    }

    fn partition_is_valid(engine: &Raft, groups: &[Vec<u32>]) -> bool {
        let n = engine.nodes().len() as u32;
        let mut seen = BTreeSet::new();
        let ids_ok = groups
            .iter()
            .flatten()
            .all(|&id| (1..=n).contains(&id) && seen.insert(id));
        ids_ok && groups.iter().filter(|g| !g.is_empty()).count() >= 2
    }

    fn run_op(engine: &mut Raft, model: &mut RaftModel, op: &RaftOp) -> Result<(), String> {
        let (up, down) = ids(engine);
        let node_of = |engine: &Raft, id: u32| engine.nodes().iter().find(|n| n.id == id).cloned();
        match op {
            RaftOp::Step(count) => {
                for _ in 0..*count {
                    for event in engine.step() {
                        model.check(engine, &event)?;
                    }
                    model.check_state(engine)?;
                }
                Ok(())
            }
            RaftOp::Crash(target) => {
                let node = target.resolve(&up, &down);
                let valid = node_of(engine, node).is_some_and(|n| n.up);
                act(engine, model, &Action::Fault(Fault::Crash { node }), valid)
            }
            RaftOp::Restart(target) => {
                let node = target.resolve(&up, &down);
                let valid = node_of(engine, node).is_some_and(|n| !n.up);
                act(
                    engine,
                    model,
                    &Action::Fault(Fault::Restart { node }),
                    valid,
                )
            }
            RaftOp::Partition(groups) => {
                let valid = partition_is_valid(engine, groups);
                let fault = Fault::Partition {
                    groups: groups.clone(),
                };
                act(engine, model, &Action::Fault(fault), valid)
            }
            RaftOp::Heal => {
                let valid = engine.partition().is_some();
                act(engine, model, &Action::Fault(Fault::Heal), valid)
            }
            RaftOp::Drop(probability) => {
                let valid = (0.0..=1.0).contains(probability);
                let fault = Fault::DropMessages {
                    probability: *probability,
                };
                act(engine, model, &Action::Fault(fault), valid)
            }
            RaftOp::TimeoutNow(target) => {
                let node = target.resolve(&up, &down);
                let valid = node_of(engine, node).is_some_and(|n| n.up && n.role != Role::Leader);
                act(engine, model, &Action::TimeoutNow { node }, valid)
            }
            RaftOp::Unsupported(fault) => act(engine, model, &Action::Fault(fault.clone()), false),
        }
    }

    fn run_raft_case(case: &RaftCase) -> Result<(), TestCaseError> {
        let mut engine = Raft::new(case.config.clone(), case.seed).map_err(|err| {
            violation(
                case,
                "Engine::new",
                &format!("invariant `valid config is accepted` broken: {err}"),
            )
        })?;
        let mut model = RaftModel::new(&engine);
        for (index, op) in case.ops.iter().enumerate() {
            run_op(&mut engine, &mut model, op).map_err(|message| {
                violation(case, &position(index, op, engine.now_ms()), &message)
            })?;
        }
        Ok(())
    }

    fn invalid_raft_config() -> impl Strategy<Value = InvalidConfig<RaftConfig>> {
        let names = [
            "nodes",
            "election_timeout_min_ms",
            "election_timeout_max_ms",
            "heartbeat_ms",
            "latency_ms",
            "latency_jitter_ms",
        ];
        (
            raft_config(),
            1u8..=63,
            (
                u32_outside(MIN_NODES, MAX_NODES),
                f64_outside(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS / 2.0),
                f64_outside(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS),
                f64_outside(MIN_HEARTBEAT_MS, MAX_TIMEOUT_MS / 4.0),
            ),
            (
                f64_outside(1.0, MAX_LATENCY_MS),
                f64_outside(0.0, MAX_LATENCY_MS),
            ),
        )
            .prop_map(
                move |(
                    valid,
                    mask,
                    (nodes, min, max, heartbeat_ms),
                    (latency_ms, latency_jitter_ms),
                )| {
                    let config = RaftConfig {
                        nodes: pick(mask, 0, nodes, valid.nodes),
                        election_timeout_min_ms: pick(mask, 1, min, valid.election_timeout_min_ms),
                        election_timeout_max_ms: pick(mask, 2, max, valid.election_timeout_max_ms),
                        heartbeat_ms: pick(mask, 3, heartbeat_ms, valid.heartbeat_ms),
                        latency_ms: pick(mask, 4, latency_ms, valid.latency_ms),
                        latency_jitter_ms: pick(
                            mask,
                            5,
                            latency_jitter_ms,
                            valid.latency_jitter_ms,
                        ),
                    };
                    InvalidConfig {
                        config,
                        first_invalid: first_set(mask, &names),
                    }
                },
            )
    }

    /// Draws a configuration whose fields are each in range but break a rule between fields:
    /// the maximum timeout at or below the minimum, or the heartbeat above half the minimum.
    fn inconsistent_raft_config() -> impl Strategy<Value = InvalidConfig<RaftConfig>> {
        (raft_config(), any::<bool>(), 0.0..=1.0f64).prop_map(|(valid, timeouts, share)| {
            let min = valid.election_timeout_min_ms;
            if timeouts {
                let config = RaftConfig {
                    election_timeout_max_ms: (MIN_TIMEOUT_MS + share * (min - MIN_TIMEOUT_MS))
                        .min(min),
                    ..valid
                };
                InvalidConfig {
                    config,
                    first_invalid: "election_timeout_max_ms",
                }
            } else {
                // Just above half the minimum, up to the field's own maximum.
                let lowest = next_up(min / 2.0);
                let config = RaftConfig {
                    heartbeat_ms: lowest + share * (MAX_TIMEOUT_MS / 4.0 - lowest).max(0.0),
                    ..valid
                };
                InvalidConfig {
                    config,
                    first_invalid: "heartbeat_ms",
                }
            }
        })
    }

    proptest! {
        #![proptest_config(proptest_config())]

        // Every event matches a model of the cluster rebuilt from the events. Election safety:
        // at most one leader is elected per term, and no two nodes lead the same term at once.
        // A leader won a majority of votes. A node votes at most once per term, a candidate for
        // itself included, and every vote it has has an event. A node's term never decreases,
        // across crash and restart, and a restart brings back the persisted term and vote. A
        // crashed node does and sends nothing. No message crosses a partition, at send or on
        // delivery. Only a term's leader sends heartbeats. Roles match the events. Timer shares
        // and message progress stay from 0 to 1. Faults and forced elections apply exactly
        // when valid, rejected ones change nothing, and metrics stay finite.
        #[test]
        fn raft_keeps_invariants(case in raft_case()) {
            run_raft_case(&case)?;
        }

        #[test]
        fn raft_rejects_invalid_config(invalid in invalid_raft_config()) {
            check_invalid::<Raft>(&invalid)?;
        }

        #[test]
        fn raft_rejects_inconsistent_config(invalid in inconsistent_raft_config()) {
            check_invalid::<Raft>(&invalid)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Gossip: nodes push the newest version of a value to random peers every round.
// ---------------------------------------------------------------------------------------------

mod gossip_properties {
    use super::*;
    use sim::gossip::{
        Action, Event, Gossip, GossipConfig, LossReason, MAX_FANOUT, MAX_LOSS, MAX_NODES,
        MAX_ROUND_MS, MAX_RUMOR_ROUNDS, MIN_ROUND_MS,
    };

    /// One operation of a gossip case.
    #[derive(Debug, Clone)]
    enum GossipOp {
        /// Runs this many steps.
        Step(u32),
        /// Applies `Action::Update` to the targeted node.
        Update(Target),
        UpdateRandom,
        Crash(Target),
        Restart(Target),
        /// Applies `Fault::DropMessages` with this probability, valid or not.
        Drop(f64),
        /// Applies a fault of a kind the engine does not support.
        Unsupported(Fault),
    }

    type GossipCase = Case<GossipConfig, GossipOp>;

    /// Draws a valid configuration. The latency is drawn as a share of the round, so that it
    /// covers 1 ms to `round_ms` whatever the round.
    fn gossip_config() -> impl Strategy<Value = GossipConfig> {
        (
            u32_in(2, MAX_NODES),
            u32_in(1, MAX_FANOUT),
            f64_in(MIN_ROUND_MS, MAX_ROUND_MS),
            f64_in(0.0, 1.0),
            prop_oneof![1 => Just(0.0), 3 => f64_in(0.0, MAX_LOSS)],
            u32_in(0, MAX_RUMOR_ROUNDS),
        )
            .prop_map(|(nodes, fanout, round_ms, share, loss, rumor_rounds)| {
                GossipConfig {
                    nodes,
                    fanout,
                    round_ms,
                    latency_ms: (1.0 + share * (round_ms - 1.0)).clamp(1.0, round_ms),
                    loss,
                    rumor_rounds,
                }
            })
    }

    /// Draws a fault the engine does not support: anything but crash, restart and drop.
    fn gossip_unsupported_fault() -> impl Strategy<Value = Fault> {
        prop_oneof![
            Just(Fault::Heal),
            prop::collection::vec(prop::collection::vec(0u32..MAX_NODES, 1..3), 2..3)
                .prop_map(|groups| Fault::Partition { groups }),
            f64_in(0.0, MAX_DELAY_MS).prop_map(|ms| Fault::DelayMessages { ms }),
            any::<bool>().prop_map(|failing| Fault::FailDependency { failing }),
        ]
    }

    fn gossip_op() -> impl Strategy<Value = GossipOp> {
        prop_oneof![
            8 => (1u32..=20).prop_map(GossipOp::Step),
            2 => crash_target().prop_map(GossipOp::Update),
            1 => Just(GossipOp::UpdateRandom),
            2 => crash_target().prop_map(GossipOp::Crash),
            2 => restart_target().prop_map(GossipOp::Restart),
            1 => prop_oneof![4 => f64_in(0.0, 1.0), 1 => f64_outside(0.0, 1.0)]
                .prop_map(GossipOp::Drop),
            1 => gossip_unsupported_fault().prop_map(GossipOp::Unsupported),
        ]
    }

    fn gossip_case() -> impl Strategy<Value = GossipCase> {
        (
            gossip_config(),
            engine_seed(),
            prop::collection::vec(gossip_op(), 1..=MAX_OPS),
        )
            .prop_map(|(config, seed, ops)| Case { config, seed, ops })
    }

    /// The nodes and the current round rebuilt from the events alone.
    struct GossipModel {
        fanout: u32,
        rumor_rounds: u64,
        versions: Vec<u64>,
        /// The round in which each node got its current version.
        learned: Vec<u64>,
        up: Vec<bool>,
        newest: u64,
        converged: bool,
        round: u64,
        senders: u32,
        /// (sender, target) pairs sent in the current round.
        sends: BTreeSet<(u32, u32)>,
    }

    impl GossipModel {
        /// Starts from the engine's state at the start. The start's update also arrives as an
        /// event with the first step or action, and leaves this state as it is.
        fn new(engine: &Gossip) -> Self {
            Self {
                fanout: engine.effective_fanout(),
                rumor_rounds: u64::from(engine.config().rumor_rounds),
                versions: versions(engine),
                learned: engine.nodes().iter().map(|n| n.learned_round).collect(),
                up: vec![true; engine.nodes().len()],
                newest: engine.newest_version(),
                converged: false,
                round: 0,
                senders: 0,
                sends: BTreeSet::new(),
            }
        }

        fn version(&self, node: u32) -> u64 {
            self.versions.get(node as usize).copied().unwrap_or(0)
        }

        fn is_up(&self, node: u32) -> bool {
            self.up.get(node as usize).copied().unwrap_or(false)
        }

        fn ids(&self) -> impl Iterator<Item = u32> + '_ {
            0..self.versions.len() as u32
        }

        /// Records that `node` got `version` in the current round.
        fn learn(&mut self, node: u32, version: u64) {
            if let Some(slot) = self.versions.get_mut(node as usize) {
                *slot = version;
            }
            if let Some(slot) = self.learned.get_mut(node as usize) {
                *slot = self.round;
            }
        }

        /// Returns whether `node` pushes in `round`: up, with a version, and with rumor_rounds
        /// k > 0, within k rounds of getting it.
        fn pushes(&self, node: u32, round: u64) -> bool {
            let learned = self.learned.get(node as usize).copied().unwrap_or(0);
            let interested =
                self.rumor_rounds == 0 || round.saturating_sub(learned) <= self.rumor_rounds;
            self.is_up(node) && self.version(node) > 0 && interested
        }

        fn check(&mut self, event: &Event) -> Result<(), String> {
            match *event {
                Event::Updated {
                    at_ms,
                    node,
                    version,
                } => {
                    let start = at_ms == 0.0 && version == 1 && self.version(node) == 1;
                    ensure!(
                        (start || version == self.newest + 1) && self.is_up(node),
                        "invariant `an update gives an up node the next version` broken: {event:?}, newest {}",
                        self.newest
                    );
                    self.newest = version;
                    self.converged = false;
                    if !start {
                        self.learn(node, version);
                    }
                }
                Event::Round { round, senders, .. } => {
                    let sent = self.sends.len();
                    let expected = self.senders as usize * self.fanout as usize;
                    ensure!(
                        sent == expected,
                        "invariant `a round sends min(fanout, nodes - 1) messages per sender` broken: round {} sent {sent}, expected {expected}",
                        self.round
                    );
                    let pushing = self.ids().filter(|&id| self.pushes(id, round)).count() as u32;
                    ensure!(
                        round == self.round + 1 && senders == pushing,
                        "invariant `every up node with a version sends, within rumor_rounds of getting it` broken: {event:?}, model {pushing}"
                    );
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
                    ensure!(
                        self.is_up(from),
                        "invariant `a crashed node sends nothing` broken: {event:?}"
                    );
                    ensure!(
                        version > 0 && version == self.version(from),
                        "invariant `a node pushes its own version` broken: {event:?}, it has {}",
                        self.version(from)
                    );
                    ensure!(
                        round == self.round
                            && from != to
                            && to < self.versions.len() as u32
                            && self.sends.insert((from, to)),
                        "invariant `peers are distinct other nodes` broken: {event:?}"
                    );
                }
                Event::Delivered {
                    to,
                    version,
                    learned,
                    ..
                } => {
                    ensure!(
                        self.is_up(to),
                        "invariant `only up nodes receive` broken: {event:?}"
                    );
                    let had = self.version(to);
                    ensure!(
                        learned == (version > had),
                        "invariant `the target keeps the higher version` broken: {event:?}, had {had}"
                    );
                    if learned {
                        self.learn(to, version);
                    }
                }
                Event::Lost { to, reason, .. } => {
                    ensure!(
                        reason == LossReason::Dropped || !self.is_up(to),
                        "invariant `a message is lost at an up target only if dropped` broken: {event:?}"
                    );
                }
                Event::Crashed { node, .. } => {
                    if let Some(slot) = self.up.get_mut(node as usize) {
                        *slot = false;
                    }
                }
                Event::Restarted { node, version, .. } => {
                    ensure!(
                        version == self.version(node),
                        "invariant `a node keeps its version through a crash` broken: {event:?}"
                    );
                    if let Some(slot) = self.up.get_mut(node as usize) {
                        *slot = true;
                    }
                }
                Event::LossChanged { probability, .. } => {
                    ensure!(
                        (0.0..=1.0).contains(&probability),
                        "invariant `loss is a probability` broken: {event:?}"
                    );
                }
                Event::Converged { version, .. } => {
                    let lagging = self
                        .ids()
                        .find(|&id| self.is_up(id) && self.version(id) != self.newest);
                    ensure!(
                        version == self.newest && !self.converged && lagging.is_none(),
                        "invariant `convergence is reported once, when every up node has the newest version` broken: {event:?}, lagging {lagging:?}"
                    );
                    self.converged = true;
                }
            }
            Ok(())
        }
    }

    /// Checks the engine's state against the model and its counters against each other.
    fn check_state(engine: &Gossip, model: &GossipModel, before: &[u64]) -> Result<(), String> {
        let versions: Vec<u64> = engine.nodes().iter().map(|n| n.version).collect();
        let up: Vec<bool> = engine.nodes().iter().map(|n| n.up).collect();
        ensure!(
            versions == model.versions && up == model.up,
            "invariant `the nodes match their events` broken: {versions:?} {up:?}, model {:?} {:?}",
            model.versions,
            model.up
        );
        let decreased = before
            .iter()
            .zip(&versions)
            .position(|(old, new)| new < old);
        ensure!(
            decreased.is_none(),
            "invariant `a node's version never decreases` broken at node {decreased:?}"
        );

        let in_flight = engine.in_flight().len() as u64;
        ensure!(
            engine.sent() == engine.delivered() + engine.lost() + in_flight,
            "invariant `sent = delivered + lost + in flight` broken: {} != {} + {} + {in_flight}",
            engine.sent(),
            engine.delivered(),
            engine.lost()
        );
        ensure!(
            engine.delivered() == engine.learned() + engine.duplicates(),
            "invariant `delivered = learned + duplicates` broken"
        );
        // A message lives at most latency_ms <= round_ms, so at most two rounds' messages fly.
        let bound = 2 * u64::from(engine.config().nodes) * u64::from(model.fanout);
        ensure!(
            in_flight <= bound,
            "invariant `messages in flight stay bounded` broken: {in_flight} > {bound}"
        );
        let ordered = engine
            .in_flight()
            .zip(engine.in_flight().skip(1))
            .all(|(a, b)| a.arrive_ms <= b.arrive_ms);
        let progress_in_range = engine.in_flight().all(|m| {
            let p = engine.progress(m);
            (0.0..=1.0).contains(&p)
        });
        ensure!(
            ordered && progress_in_range,
            "invariant `messages fly in arrival order with progress in 0..=1` broken"
        );

        let live = model.up.iter().filter(|&&up| up).count() as u32;
        let informed = model
            .ids()
            .filter(|&id| model.is_up(id) && model.version(id) == model.newest)
            .count() as u32;
        ensure!(
            engine.live() == live && engine.informed_live() == informed,
            "invariant `informed and up counts match the nodes` broken: {} of {}, model {informed} of {live}",
            engine.informed_live(),
            engine.live()
        );
        ensure!(
            engine.converged() == model.converged && engine.newest_version() == model.newest,
            "invariant `convergence state matches its events` broken"
        );

        let (up_ids, down_ids) = ids(engine);
        check_node_statuses(&engine.node_statuses(), &up_ids, &down_ids)
    }

    /// Returns the ids of the up nodes and of the down ones.
    fn ids(engine: &Gossip) -> (Vec<u32>, Vec<u32>) {
        let up = engine.nodes().iter().filter(|n| n.up).map(|n| n.id);
        let down = engine.nodes().iter().filter(|n| !n.up).map(|n| n.id);
        (up.collect(), down.collect())
    }

    fn versions(engine: &Gossip) -> Vec<u64> {
        engine.nodes().iter().map(|n| n.version).collect()
    }

    /// Applies an action and checks that it is accepted exactly when `valid`, and that a
    /// rejected one changes nothing.
    fn act(
        engine: &mut Gossip,
        model: &mut GossipModel,
        action: &Action,
        valid: bool,
    ) -> Result<(), String> {
        // Compared as text, because a metric with no value yet carries NaN, which is unequal to
        // itself.
        let before = format!("{:?}", engine.snapshot());
        let nodes = engine.nodes().to_vec();
        let result = engine.apply(action);
        ensure!(
            result.is_ok() == valid,
            "invariant `an action applies exactly when it is valid` broken: {action:?}: {}",
            describe(&result)
        );
        match result {
            Ok(events) => {
                for event in &events {
                    model.check(event)?;
                }
            }
            Err(_) => {
                ensure!(
                    format!("{:?}", engine.snapshot()) == before && engine.nodes() == nodes,
                    "invariant `a rejected action changes nothing` broken: {action:?}"
                );
            }
        }
        Ok(())
    }

    fn run_op(engine: &mut Gossip, model: &mut GossipModel, op: &GossipOp) -> Result<(), String> {
        let (up, down) = ids(engine);
        let is_up = |engine: &Gossip, id: u32| engine.nodes().get(id as usize).map(|n| n.up);
        let before = versions(engine);
        match op {
            GossipOp::Step(count) => {
                for _ in 0..*count {
                    let before = versions(engine);
                    for event in engine.step() {
                        model.check(&event)?;
                    }
                    check_state(engine, model, &before)?;
                }
            }
            GossipOp::Update(target) => {
                let node = target.resolve(&up, &down);
                let valid = is_up(engine, node) == Some(true);
                act(engine, model, &Action::Update { node }, valid)?;
            }
            GossipOp::UpdateRandom => {
                act(engine, model, &Action::UpdateRandom, !up.is_empty())?;
            }
            GossipOp::Crash(target) => {
                let node = target.resolve(&up, &down);
                let valid = is_up(engine, node) == Some(true);
                act(engine, model, &Action::Fault(Fault::Crash { node }), valid)?;
            }
            GossipOp::Restart(target) => {
                let node = target.resolve(&up, &down);
                let valid = is_up(engine, node) == Some(false);
                act(
                    engine,
                    model,
                    &Action::Fault(Fault::Restart { node }),
                    valid,
                )?;
            }
            GossipOp::Drop(probability) => {
                let valid = (0.0..=1.0).contains(probability);
                let fault = Fault::DropMessages {
                    probability: *probability,
                };
                act(engine, model, &Action::Fault(fault), valid)?;
            }
            GossipOp::Unsupported(fault) => {
                act(engine, model, &Action::Fault(fault.clone()), false)?;
            }
        }
        check_state(engine, model, &before)
    }

    fn run_gossip_case(case: &GossipCase) -> Result<(), TestCaseError> {
        let mut engine = Gossip::new(case.config.clone(), case.seed).map_err(|err| {
            violation(
                case,
                "Engine::new",
                &format!("invariant `valid config is accepted` broken: {err}"),
            )
        })?;
        let mut model = GossipModel::new(&engine);
        for (index, op) in case.ops.iter().enumerate() {
            run_op(&mut engine, &mut model, op).map_err(|message| {
                violation(case, &position(index, op, engine.now_ms()), &message)
            })?;
        }
        // A metric with no value yet shows a dash and carries NaN, as `Metric::millis` does.
        let snapshot = engine.snapshot();
        let finite = snapshot
            .metrics
            .iter()
            .all(|m| m.value.is_finite() || m.text == "–")
            && snapshot.samples.iter().all(|s| s.value.is_finite());
        if !finite {
            return Err(violation(
                case,
                "end",
                &format!("invariant `metrics are finite` broken: {snapshot:?}"),
            ));
        }
        Ok(())
    }

    fn invalid_gossip_config() -> impl Strategy<Value = InvalidConfig<GossipConfig>> {
        let names = [
            "nodes",
            "fanout",
            "round_ms",
            "latency_ms",
            "loss",
            "rumor_rounds",
        ];
        // An invalid latency lies outside 1 to MAX_ROUND_MS, or just above the round.
        let latency = prop_oneof![
            f64_outside(1.0, MAX_ROUND_MS).prop_map(Err),
            f64_in(1e-6, 1000.0).prop_map(Ok),
        ];
        (
            gossip_config(),
            1u8..=63,
            (
                u32_outside(2, MAX_NODES),
                u32_outside(1, MAX_FANOUT),
                f64_outside(MIN_ROUND_MS, MAX_ROUND_MS),
                latency,
                f64_outside(0.0, MAX_LOSS),
                u32_outside(0, MAX_RUMOR_ROUNDS),
            ),
        )
            .prop_map(
                move |(valid, mask, (nodes, fanout, round_ms, latency, loss, rumor_rounds))| {
                    let latency_ms = match latency {
                        Err(outside) => outside,
                        Ok(above) => valid.round_ms + above,
                    };
                    let config = GossipConfig {
                        nodes: pick(mask, 0, nodes, valid.nodes),
                        fanout: pick(mask, 1, fanout, valid.fanout),
                        round_ms: pick(mask, 2, round_ms, valid.round_ms),
                        latency_ms: pick(mask, 3, latency_ms, valid.latency_ms),
                        loss: pick(mask, 4, loss, valid.loss),
                        rumor_rounds: pick(mask, 5, rumor_rounds, valid.rumor_rounds),
                    };
                    InvalidConfig {
                        config,
                        first_invalid: first_set(mask, &names),
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(proptest_config())]

        // Every event matches a model of the nodes rebuilt from the events. An update gives an
        // up node the next version. Every up node with a version sends (with rumor_rounds k > 0,
        // only in the k rounds after it got the version), and a crashed node sends nothing. Each
        // round sends exactly min(fanout, nodes - 1) messages per sender, to distinct other
        // nodes, carrying the sender's version. Only up nodes receive, the target
        // keeps the higher version, and a node's version never decreases, not even through a
        // crash. A message is lost at an up target only if the network dropped it. Convergence
        // is reported once per version, when every up node has it. sent = delivered + lost + in
        // flight and delivered = learned + duplicates. Messages in flight stay in arrival order,
        // within two rounds' worth, with progress in 0..=1. Updates, crashes, restarts and drops
        // apply exactly when valid, and rejected actions and unsupported faults change nothing.
        // Metrics stay finite or show a dash.
        #[test]
        fn gossip_keeps_invariants(case in gossip_case()) {
            run_gossip_case(&case)?;
        }

        #[test]
        fn gossip_rejects_invalid_config(invalid in invalid_gossip_config()) {
            check_invalid::<Gossip>(&invalid)?;
        }
    }
}
