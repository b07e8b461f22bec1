//! Invariants of the circuit breaker engine, checked over many seeds and configurations.

use std::collections::HashMap;

use sim::Engine;
use sim::circuit_breaker::{
    Action, BreakerState, CircuitBreaker, CircuitBreakerConfig, Event, Outcome, STEP_MS,
};
use sim::faults::Fault;
use sim::rng::SimRng;

/// Seeds each randomized test loops over.
const SEEDS: u64 = 100;

fn build(config: CircuitBreakerConfig, seed: u64) -> CircuitBreaker {
    match CircuitBreaker::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn steps_for(ms: f64) -> usize {
    (ms / STEP_MS) as usize
}

fn run(engine: &mut CircuitBreaker, steps: usize) -> Vec<Event> {
    (0..steps).flat_map(|_| engine.step()).collect()
}

fn fail_dependency(engine: &mut CircuitBreaker, failing: bool) -> Vec<Event> {
    match engine.apply(&Action::Fault(Fault::FailDependency { failing })) {
        Ok(events) => events,
        Err(err) => panic!("failing {failing} was not applied: {err}"),
    }
}

/// Draws a configuration with the breaker on: 2 to 100 calls per second, a window of 1 to 40,
/// any threshold, and an outage long enough to open it in most runs.
fn random_config(rng: &mut SimRng) -> CircuitBreakerConfig {
    CircuitBreakerConfig {
        rate_per_s: 2.0 + 98.0 * rng.uniform(),
        service_ms: 1.0 + 200.0 * rng.uniform(),
        timeout_ms: 50.0 + 1950.0 * rng.uniform(),
        breaker: true,
        window: 1 + rng.below(40) as u32,
        failure_threshold_pct: 1.0 + 99.0 * rng.uniform(),
        open_ms: 100.0 + 4900.0 * rng.uniform(),
        half_open_probes: 1 + rng.below(5) as u32,
        outage_start_ms: 4000.0 * rng.uniform(),
        outage_ms: 2000.0 + 10_000.0 * rng.uniform(),
    }
}

/// The breaker rebuilt from the events alone, which checks every named invariant as it goes.
struct Model {
    config: CircuitBreakerConfig,
    state: BreakerState,
    /// Counts state periods the way the engine must: each transition starts a new one.
    period: u64,
    /// Request id to the period whose outcomes it counts toward.
    counts_for: HashMap<u64, u64>,
    /// Outcomes of the current closed period, `true` for a failure.
    window: Vec<bool>,
    probes_sent: u32,
    probes_succeeded: u32,
    /// The transition the last outcome made due, which must be the next event.
    expected: Option<BreakerState>,
}

impl Model {
    fn new(config: &CircuitBreakerConfig) -> Self {
        Self {
            config: config.clone(),
            state: BreakerState::Closed,
            period: 0,
            counts_for: HashMap::new(),
            window: Vec::new(),
            probes_sent: 0,
            probes_succeeded: 0,
            expected: None,
        }
    }

    fn check(&mut self, events: &[Event]) -> Result<(), String> {
        for event in events {
            if let Some(to) = self.expected.take() {
                match event {
                    Event::StateChanged {
                        from, to: actual, ..
                    } if *from == self.state && *actual == to => {
                        self.enter(to);
                        continue;
                    }
                    _ => return Err(format!("expected a change to {to:?}, got {event:?}")),
                }
            }
            self.check_event(event)?;
        }
        match self.expected {
            Some(to) => Err(format!("a change to {to:?} was due but did not happen")),
            None => Ok(()),
        }
    }

    fn check_event(&mut self, event: &Event) -> Result<(), String> {
        match *event {
            Event::Sent {
                request_id, probe, ..
            } => self.sent(request_id, probe),
            Event::Shed { state, .. } => {
                if state != self.state || state == BreakerState::Closed {
                    return Err(format!("{event:?} while the model is {:?}", self.state));
                }
                if state == BreakerState::HalfOpen
                    && self.probes_sent < self.config.half_open_probes
                {
                    return Err(format!("{event:?} before all probes were sent"));
                }
                Ok(())
            }
            Event::Succeeded { request_id, .. } => {
                self.outcome(request_id, false);
                Ok(())
            }
            Event::TimedOut { request_id, .. } => {
                self.outcome(request_id, true);
                Ok(())
            }
            Event::StateChanged { from, to, .. } => {
                if from != self.state {
                    return Err(format!("{event:?} but the model is {:?}", self.state));
                }
                // Changes that outcomes cause were expected and handled in `check`, so only
                // open to half-open and the reset of `SetBreaker` are left.
                if from == BreakerState::Closed && to == BreakerState::Open {
                    return Err(format!(
                        "{event:?} with window {:?} below the threshold",
                        self.window
                    ));
                }
                if from == BreakerState::HalfOpen {
                    return Err(format!("{event:?} before the probes decided"));
                }
                self.enter(to);
                Ok(())
            }
            Event::DependencyChanged { .. } | Event::BreakerSwitched { .. } => Ok(()),
        }
    }

    fn sent(&mut self, request_id: u64, probe: bool) -> Result<(), String> {
        match self.state {
            // Invariant: an open breaker sends no requests to the dependency.
            BreakerState::Open => {
                return Err(format!("request {request_id} was sent while open"));
            }
            BreakerState::HalfOpen => {
                // Invariant: half-open admits only probe requests, at most `half_open_probes`.
                if !probe {
                    return Err(format!("request {request_id} sent half-open, not a probe"));
                }
                self.probes_sent += 1;
                if self.probes_sent > self.config.half_open_probes {
                    return Err(format!(
                        "probe {} of {}",
                        self.probes_sent, self.config.half_open_probes
                    ));
                }
            }
            BreakerState::Closed if probe => {
                return Err(format!("request {request_id} is a probe while closed"));
            }
            BreakerState::Closed => {}
        }
        self.counts_for.insert(request_id, self.period);
        Ok(())
    }

    fn outcome(&mut self, request_id: u64, failed: bool) {
        if self.counts_for.remove(&request_id) != Some(self.period) {
            return;
        }
        match self.state {
            BreakerState::Closed => {
                self.window.push(failed);
                let window = self.config.window as usize;
                if self.window.len() > window {
                    self.window.remove(0);
                }
                let failures = self.window.iter().filter(|&&f| f).count() as f64;
                let full = self.window.len() == window;
                if full && failures * 100.0 / window as f64 >= self.config.failure_threshold_pct {
                    self.expected = Some(BreakerState::Open);
                }
            }
            BreakerState::HalfOpen if failed => self.expected = Some(BreakerState::Open),
            BreakerState::HalfOpen => {
                self.probes_succeeded += 1;
                if self.probes_succeeded == self.config.half_open_probes {
                    self.expected = Some(BreakerState::Closed);
                }
            }
            BreakerState::Open => {}
        }
    }

    fn enter(&mut self, to: BreakerState) {
        self.state = to;
        self.period += 1;
        self.window.clear();
        self.probes_sent = 0;
        self.probes_succeeded = 0;
    }
}

/// Runs `steps` steps and checks every event against the model, panicking with the seed.
fn run_checked(
    engine: &mut CircuitBreaker,
    model: &mut Model,
    steps: usize,
    seed: u64,
) -> Vec<Event> {
    let mut trace = Vec::new();
    for step in 0..steps {
        let events = engine.step();
        if let Err(message) = model.check(&events) {
            panic!("seed {seed}, step {step}, {:?}: {message}", model.config);
        }
        assert_eq!(
            engine.state(),
            model.state,
            "seed {seed}, step {step}: engine and model states differ"
        );
        trace.extend(events);
    }
    trace
}

// Invariant: while the breaker is open, the caller sends no request to the dependency. Every
// call that arrives while open is shed.
#[test]
fn open_breaker_sends_no_requests_to_the_dependency() {
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0xb4ea);
        let config = random_config(&mut rng);
        let mut engine = build(config.clone(), seed);
        let mut model = Model::new(&config);

        let trace = run_checked(&mut engine, &mut model, steps_for(20_000.0), seed);

        let mut open = false;
        for event in &trace {
            match event {
                Event::StateChanged { to, .. } => open = *to == BreakerState::Open,
                Event::Sent { request_id, .. } => {
                    assert!(
                        !open,
                        "seed {seed}, {config:?}: request {request_id} sent while open"
                    );
                }
                _ => {}
            }
        }
    }
}

// Invariant: the breaker opens from closed exactly when its window of the last `window`
// outcomes of the current closed period is full and at least `failure_threshold_pct` percent of
// them are failures, and never before. The model checks both directions at every outcome.
#[test]
fn breaker_opens_after_threshold_failures() {
    let mut opened_runs = 0;
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x09e4);
        let config = random_config(&mut rng);
        let mut engine = build(config.clone(), seed);
        let mut model = Model::new(&config);

        run_checked(&mut engine, &mut model, steps_for(20_000.0), seed);

        if engine.opened() > 0 {
            opened_runs += 1;
        }
    }
    // An outage of 2 s or more at 2 calls per second or more fills any window of 1 to 40 with
    // timeouts in most runs, so the check above is not vacuous.
    assert!(
        opened_runs > SEEDS / 2,
        "the breaker opened in only {opened_runs} runs"
    );
}

// A worked case of the same invariant: window 10, threshold 50%, a dependency that fails at
// once. The first five timeouts fill only half the window, so the breaker opens at the tenth
// outcome, with 10 failures.
#[test]
fn breaker_opens_when_window_fills_with_failures() {
    let config = CircuitBreakerConfig {
        outage_ms: 0.0,
        ..CircuitBreakerConfig::default()
    };
    let mut engine = build(config, 4);
    fail_dependency(&mut engine, true);

    let trace = run(&mut engine, steps_for(5000.0));

    let timeouts_before_open = trace
        .iter()
        .take_while(|e| !matches!(e, Event::StateChanged { .. }))
        .filter(|e| matches!(e, Event::TimedOut { .. }))
        .count();
    let opened = trace.iter().find_map(|e| match e {
        Event::StateChanged { to, failures, .. } => Some((*to, *failures)),
        _ => None,
    });
    assert_eq!(timeouts_before_open, 10);
    assert_eq!(opened, Some((BreakerState::Open, 10)));
}

// Invariant: a half-open breaker sends at most `half_open_probes` calls, each marked as a
// probe, and sheds every other call until the probes decide.
#[test]
fn half_open_admits_only_probe_requests() {
    let mut half_open_sheds = 0;
    for seed in 0..SEEDS {
        let mut rng = SimRng::new(seed ^ 0x4a1f);
        let config = random_config(&mut rng);
        let mut engine = build(config.clone(), seed);
        let mut model = Model::new(&config);

        let trace = run_checked(&mut engine, &mut model, steps_for(20_000.0), seed);

        let mut half_open = false;
        let mut sent = 0;
        for event in &trace {
            match event {
                Event::StateChanged { to, .. } => {
                    half_open = *to == BreakerState::HalfOpen;
                    sent = 0;
                }
                Event::Sent { probe, .. } if half_open => {
                    sent += 1;
                    assert!(*probe, "seed {seed}: a half-open call was not a probe");
                    assert!(
                        sent <= config.half_open_probes,
                        "seed {seed}, {config:?}: {sent} probes sent"
                    );
                }
                Event::Shed { .. } if half_open => half_open_sheds += 1,
                _ => {}
            }
        }
    }
    assert!(half_open_sheds > 0, "no run shed a call while half-open");
}

// Invariant: once the dependency has recovered, the next half-open period's probes succeed and
// the breaker closes. With the default outage (2 s to 10 s) every seed ends closed by 15 s,
// and its last change is half-open to closed after the recovery.
#[test]
fn breaker_closes_after_successful_probe_when_dependency_recovers() {
    for seed in 0..SEEDS {
        let config = CircuitBreakerConfig::default();
        let mut engine = build(config.clone(), seed);
        let mut model = Model::new(&config);

        let trace = run_checked(&mut engine, &mut model, steps_for(15_000.0), seed);

        let recovered_ms = trace.iter().find_map(|e| match e {
            Event::DependencyChanged {
                at_ms,
                failing: false,
            } => Some(*at_ms),
            _ => None,
        });
        let last_change = trace.iter().rev().find_map(|e| match e {
            Event::StateChanged {
                at_ms, from, to, ..
            } => Some((*at_ms, *from, *to)),
            _ => None,
        });
        let Some((closed_ms, from, to)) = last_change else {
            panic!("seed {seed}: the breaker never changed state");
        };
        assert_eq!(
            (from, to),
            (BreakerState::HalfOpen, BreakerState::Closed),
            "seed {seed}"
        );
        assert!(
            recovered_ms.is_some_and(|at| at <= closed_ms),
            "seed {seed}: closed at {closed_ms} ms, recovered at {recovered_ms:?}"
        );
        assert_eq!(engine.state(), BreakerState::Closed, "seed {seed}");
    }
}

// Invariant: a shed call fails at the instant it arrives, with latency 0, so while the breaker
// is open the caller's median latency is 0. Without the breaker the same outage makes every
// call wait for the full timeout.
#[test]
fn shed_requests_fail_fast() {
    for seed in 0..SEEDS {
        let with_breaker = CircuitBreakerConfig::default();
        let without = CircuitBreakerConfig {
            breaker: false,
            ..with_breaker.clone()
        };
        let mut engine = build(with_breaker, seed);
        let mut plain = build(without, seed);

        // 9 s is 7 s into the outage: the breaker has been open for most of the last 5 s.
        run(&mut engine, steps_for(9000.0));
        run(&mut plain, steps_for(9000.0));

        for call in engine.timeline().filter(|c| c.outcome == Outcome::Shed) {
            assert_eq!(call.done_ms, Some(call.at_ms), "seed {seed}: {call:?}");
        }
        let shed_p50 = engine.recent_latency_percentiles().map(|p| p.p50_ms);
        let plain_p50 = plain.recent_latency_percentiles().map(|p| p.p50_ms);
        assert!(engine.shed() > 0, "seed {seed}: nothing was shed");
        assert_eq!(shed_p50, Some(0.0), "seed {seed}: median with the breaker");
        assert!(
            plain_p50.is_some_and(|p| (p - 1000.0).abs() <= 1.0),
            "seed {seed}: median without the breaker {plain_p50:?}"
        );
    }
}

// Without the breaker every call reaches the dependency: nothing is shed and the state never
// changes, however long the outage.
#[test]
fn breaker_off_sends_every_call() {
    let config = CircuitBreakerConfig {
        breaker: false,
        ..CircuitBreakerConfig::default()
    };
    let mut engine = build(config, 7);

    let trace = run(&mut engine, steps_for(15_000.0));

    let arrivals = engine.sent() + engine.shed();
    assert_eq!(engine.shed(), 0);
    assert!(arrivals > 100, "{arrivals} calls in 15 s at 10/s");
    assert!(
        !trace
            .iter()
            .any(|e| matches!(e, Event::StateChanged { .. }))
    );
}

// Turning the breaker on mid-outage starts it closed with an empty window; it then opens on
// its own once the window fills with timeouts.
#[test]
fn breaker_switched_on_mid_outage_opens() {
    let config = CircuitBreakerConfig {
        breaker: false,
        ..CircuitBreakerConfig::default()
    };
    let mut engine = build(config, 3);
    run(&mut engine, steps_for(4000.0));

    let switched = engine.apply(&Action::SetBreaker { enabled: true });
    run(&mut engine, steps_for(3000.0));

    assert!(switched.is_ok(), "{switched:?}");
    assert_eq!(engine.state(), BreakerState::Open);
}

// A healthy dependency responds in an exponential time with mean `service_ms`, so a call times
// out with probability exp(-timeout_ms / service_ms). With both at 100 ms that is e^-1 = 0.368.
// Over 10 seeds of 200 s at 20 calls per second (about 40,000 calls, standard deviation of the
// fraction about 0.0024) a tolerance of 0.015 is more than six standard deviations.
#[test]
fn timeout_fraction_follows_exponential_tail() {
    let config = CircuitBreakerConfig {
        rate_per_s: 20.0,
        service_ms: 100.0,
        timeout_ms: 100.0,
        breaker: false,
        outage_ms: 0.0,
        ..CircuitBreakerConfig::default()
    };
    let mut finished = 0;
    let mut timed_out = 0;

    for seed in 0..10 {
        let mut engine = build(config.clone(), seed);
        run(&mut engine, steps_for(200_000.0));
        finished += engine.succeeded() + engine.timed_out();
        timed_out += engine.timed_out();
    }

    let fraction = timed_out as f64 / finished as f64;
    let expected = libm::exp(-1.0);
    assert!(
        (fraction - expected).abs() < 0.015,
        "{timed_out} of {finished} timed out ({fraction:.4}), expected {expected:.4}"
    );
}

// Determinism: the same seed, configuration and actions give the same event trace, serialized
// byte for byte.
#[test]
fn same_seed_gives_same_trace() {
    for seed in 0..20 {
        let run_once = || {
            let mut rng = SimRng::new(seed);
            let mut engine = build(random_config(&mut rng), seed);
            let mut trace = run(&mut engine, 100);
            trace.extend(
                engine
                    .apply(&Action::SetBreaker { enabled: false })
                    .unwrap_or_default(),
            );
            trace.extend(run(&mut engine, 100));
            serde_json::to_string(&trace).unwrap_or_default()
        };

        let first = run_once();
        let second = run_once();

        assert!(!first.is_empty(), "seed {seed}: trace did not serialize");
        assert_eq!(first, second, "seed {seed}: traces differ");
    }
}

// The chapter's directive names every default, so the page shows the default run.
#[test]
fn chapter_directive_params_are_valid() {
    let Some(kind) = sim::registry::find("circuit-breaker") else {
        panic!("widget `circuit-breaker` is not registered");
    };
    let params = serde_json::json!({ "rate_per_s": 10, "timeout_ms": 1000, "breaker": true });
    let serde_json::Value::Object(params) = params else {
        panic!("json! did not build an object");
    };

    let config = (kind.check)(params);

    let expected = serde_json::to_value(CircuitBreakerConfig::default()).ok();
    assert_eq!(config.ok(), expected);
}
