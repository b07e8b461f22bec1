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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{
    FailurePersistence, FileFailurePersistence, RngAlgorithm, RngSeed, TestCaseError,
};
use sim::client_server::{self, ClientServer, ClientServerConfig, ClientState};
use sim::consistent_hash::{self, ConsistentHash, ConsistentHashConfig, MAX_NODES, MoveKind};
use sim::faults::{Fault, Faults, MAX_DELAY_MS, NodeStatus};
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
