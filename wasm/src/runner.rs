//! The state every widget shares: an engine, its clock, and the event log.

use std::cell::{Ref, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use sim::{ConfigError, Engine};
use yew::prelude::*;

/// Simulated milliseconds per real millisecond at each speed the reader can pick.
pub const SPEEDS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 4.0, 10.0];
/// How many event lines the text log keeps.
const LOG_LINES: usize = 8;
/// Upper bound on engine steps per clock tick, so a tiny step cannot freeze the page.
const MAX_STEPS_PER_TICK: usize = 2_000;

/// Turns an engine event into a log line, or `None` to leave it out of the log.
pub type Describe<E> = fn(&<E as Engine>::Event) -> Option<String>;

/// An engine run: the engine, how it was built, and what it has done so far.
pub struct Runner<E: Engine> {
    /// The engine, or why the current configuration cannot run.
    pub engine: Result<E, ConfigError>,
    /// The configuration the engine was built from.
    pub config: E::Config,
    /// The seed the engine was built from.
    pub seed: u64,
    /// Whether the clock is advancing the engine.
    pub playing: bool,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    /// Events of the latest step or action, for animation.
    pub last_events: Vec<E::Event>,
    /// Recent events as text, newest last.
    pub log: VecDeque<String>,
    /// Simulated time owed to the engine from the clock, in milliseconds.
    budget_ms: f64,
    describe: Describe<E>,
}

impl<E: Engine> Runner<E> {
    fn new(config: E::Config, seed: u64, describe: Describe<E>) -> Self {
        let engine = E::new(config.clone(), seed);
        Self {
            engine,
            config,
            seed,
            playing: false,
            speed: 2,
            last_events: Vec::new(),
            log: VecDeque::new(),
            budget_ms: 0.0,
            describe,
        }
    }

    /// Rebuilds the engine from the current configuration and seed.
    fn reset(&mut self) {
        self.engine = E::new(self.config.clone(), self.seed);
        self.last_events.clear();
        self.log.clear();
        self.budget_ms = 0.0;
        self.playing = false;
    }

    fn record(&mut self, events: Vec<E::Event>) {
        for event in &events {
            if let Some(line) = (self.describe)(event) {
                if self.log.len() == LOG_LINES {
                    self.log.pop_front();
                }
                self.log.push_back(line);
            }
        }
        self.last_events = events;
    }

    fn step_once(&mut self) {
        let Ok(engine) = &mut self.engine else { return };
        let events = engine.step();
        self.record(events);
    }

    /// Advances the engine by `real_ms` of wall-clock time at the chosen speed.
    fn tick(&mut self, real_ms: f64) {
        let Ok(engine) = &mut self.engine else { return };
        self.budget_ms += real_ms * SPEEDS.get(self.speed).copied().unwrap_or(1.0);
        let mut events = Vec::new();
        for _ in 0..MAX_STEPS_PER_TICK {
            if self.budget_ms <= 0.0 {
                break;
            }
            let before = engine.now_ms();
            events.extend(engine.step());
            let advanced = engine.now_ms() - before;
            if advanced <= 0.0 {
                self.budget_ms = 0.0;
                break;
            }
            self.budget_ms -= advanced;
        }
        // After a long pause (a hidden tab), drop the debt instead of racing.
        self.budget_ms = self.budget_ms.min(1_000.0);
        self.record(events);
    }

    fn act(&mut self, action: &E::Action) {
        let Ok(engine) = &mut self.engine else { return };
        match engine.apply(action) {
            Ok(events) => self.record(events),
            Err(err) => {
                self.log.push_back(format!("Rejected: {err}"));
                if self.log.len() > LOG_LINES {
                    self.log.pop_front();
                }
            }
        }
    }
}

/// Something the reader or the clock asks of a run.
pub enum Command<E: Engine> {
    /// Wall-clock milliseconds since the previous tick.
    Tick(f64),
    /// One engine step, while paused.
    Step,
    /// Start or stop the clock.
    TogglePlay,
    /// Rebuild the engine from the configuration and seed.
    Reset,
    /// Pick a speed by index into [`SPEEDS`].
    Speed(usize),
    /// Restart with another seed.
    Seed(u64),
    /// Restart with another configuration, if it is valid.
    Configure(E::Config),
    /// A reader action, applied at the current simulated time.
    Act(E::Action),
}

/// A handle to a widget's run; cloning it shares the same run.
pub struct RunnerHandle<E: Engine> {
    inner: Rc<RefCell<Runner<E>>>,
    update: UseForceUpdateHandle,
}

impl<E: Engine> Clone for RunnerHandle<E> {
    fn clone(&self) -> Self {
        Self {
            inner: Rc::clone(&self.inner),
            update: self.update.clone(),
        }
    }
}

impl<E: Engine> PartialEq for RunnerHandle<E> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl<E: Engine + 'static> RunnerHandle<E> {
    /// Reads the run.
    pub fn get(&self) -> Ref<'_, Runner<E>> {
        self.inner.borrow()
    }

    /// Carries out a command and redraws the widget.
    pub fn send(&self, command: Command<E>) {
        {
            let mut run = self.inner.borrow_mut();
            match command {
                Command::Tick(real_ms) => {
                    if !run.playing {
                        return;
                    }
                    run.tick(real_ms);
                }
                Command::Step => {
                    run.playing = false;
                    run.step_once();
                }
                Command::TogglePlay => run.playing = !run.playing && run.engine.is_ok(),
                Command::Reset => run.reset(),
                Command::Speed(index) => run.speed = index.min(SPEEDS.len() - 1),
                Command::Seed(seed) => {
                    run.seed = seed;
                    run.reset();
                }
                Command::Configure(config) => {
                    run.config = config;
                    run.reset();
                }
                Command::Act(action) => run.act(&action),
            }
        }
        self.update.force_update();
    }

    /// Returns a callback that sends the command the closure builds.
    pub fn callback<T: 'static>(&self, make: impl Fn(T) -> Command<E> + 'static) -> Callback<T> {
        let handle = self.clone();
        Callback::from(move |value| handle.send(make(value)))
    }
}

/// Creates a widget's run and drives it with a clock while it plays.
#[hook]
pub fn use_runner<E>(config: E::Config, seed: u64, describe: Describe<E>) -> RunnerHandle<E>
where
    E: Engine + 'static,
{
    let inner = use_mut_ref(|| Runner::new(config, seed, describe));
    let update = use_force_update();
    let handle = RunnerHandle { inner, update };
    let playing = handle.get().playing;
    {
        let handle = handle.clone();
        use_effect_with(playing, move |playing| {
            let clock = playing.then(|| {
                crate::clock::Clock::start(move |real_ms| handle.send(Command::Tick(real_ms)))
            });
            move || drop(clock)
        });
    }
    handle
}
