//! The state every widget shares: an engine, its clock, its recorded actions
//! for share links, and the event log.

use std::cell::{Ref, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use sim::scenario::{Scenario, ShareLink, TimedAction, replay};
use sim::{ConfigError, Engine};
use yew::prelude::*;

/// Simulated milliseconds per real millisecond at each speed the reader can pick.
pub const SPEEDS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 4.0, 10.0];
/// Index into [`SPEEDS`] of real time.
const REAL_TIME: usize = 2;
/// How many event lines the text log keeps.
const LOG_LINES: usize = 8;
/// Simulated time between two sparkline samples, in milliseconds.
const SAMPLE_MS: f64 = 250.0;
/// Sparkline samples kept per series: 30 simulated seconds.
const HISTORY_LEN: usize = 120;
/// Upper bound on engine steps per clock tick, so a tiny step cannot freeze the page.
const MAX_STEPS_PER_TICK: usize = 2_000;

/// Turns an engine event into a log line, or `None` to leave it out of the log.
pub type Describe<E> = fn(&<E as Engine>::Event) -> Option<String>;

/// The position of a widget on its page, for share links.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The directive name of the widget.
    pub widget: &'static str,
    /// Its position among the page's widgets of that name, from 0.
    pub index: usize,
}

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
    /// Whether the widget is at least partly on screen; off screen it pauses.
    pub on_screen: bool,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    /// Steps run since the engine was built.
    pub steps: u64,
    /// Events of the latest step or action, for animation.
    pub last_events: Vec<E::Event>,
    /// Recent events as text, newest last.
    pub log: VecDeque<String>,
    /// A message for the reader: a rejected action or an unreadable share link.
    pub notice: Option<String>,
    /// The latest share link, once the reader asked for one.
    pub share_url: Option<String>,
    /// Recent values of each of the engine's samples, oldest first.
    pub history: Vec<VecDeque<f64>>,
    /// Simulated time of the next sparkline sample.
    next_sample_ms: f64,
    /// Actions applied since the engine was built, for the share link.
    actions: Vec<TimedAction<E::Action>>,
    /// Simulated time owed to the engine from the clock, in milliseconds.
    budget_ms: f64,
    placement: Placement,
    describe: Describe<E>,
}

impl<E: Engine> Runner<E> {
    fn new(config: E::Config, seed: u64, placement: Placement, describe: Describe<E>) -> Self {
        let engine = E::new(config.clone(), seed);
        Self {
            engine,
            config,
            seed,
            playing: false,
            on_screen: true,
            speed: REAL_TIME,
            steps: 0,
            last_events: Vec::new(),
            log: VecDeque::new(),
            notice: None,
            share_url: None,
            history: Vec::new(),
            next_sample_ms: 0.0,
            actions: Vec::new(),
            budget_ms: 0.0,
            placement,
            describe,
        }
    }

    /// Restores the run a share link describes, if the link addresses this widget.
    ///
    /// A link for this widget that cannot be read leaves the defaults in place
    /// and says why, so a reader never sees a broken widget.
    fn restore(&mut self, fragment: &str) {
        let link = match ShareLink::parse(fragment) {
            Ok(Some(link)) => link,
            Ok(None) => return,
            Err(reason) => {
                // Only the first widget of a page reports a link it cannot place.
                if self.placement.index == 0 {
                    self.notice = Some(format!(
                        "The share link could not be read: {reason}. Showing the defaults."
                    ));
                }
                return;
            }
        };
        if !sim::registry::NAMES.contains(&link.widget.as_str()) && self.placement.index == 0 {
            self.notice = Some(format!(
                "The share link names no widget of this book (`{}`). Showing the defaults.",
                link.widget
            ));
            return;
        }
        if link.widget != self.placement.widget || link.index != self.placement.index {
            return;
        }
        let restored = Scenario::<E::Config, E::Action>::decode(&link.payload)
            .and_then(|scenario| replay::<E>(&scenario).map(|(engine, _)| (scenario, engine)));
        match restored {
            Ok((scenario, engine)) => {
                self.engine = Ok(engine);
                self.config = scenario.config;
                self.seed = scenario.seed;
                self.steps = scenario.steps;
                self.actions = scenario.actions;
                self.notice = Some("Restored the run from the share link.".to_string());
            }
            Err(reason) => {
                self.notice = Some(format!(
                    "The share link could not be read: {reason}. Showing the defaults."
                ));
            }
        }
    }

    /// Rebuilds the engine from the current configuration and seed.
    fn reset(&mut self) {
        self.engine = E::new(self.config.clone(), self.seed);
        self.steps = 0;
        self.history.clear();
        self.next_sample_ms = 0.0;
        self.actions.clear();
        self.last_events.clear();
        self.log.clear();
        self.notice = None;
        self.share_url = None;
        self.budget_ms = 0.0;
        self.playing = false;
    }

    fn push_log(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    /// Samples the engine's values for the sparklines when their time comes.
    fn sample(&mut self) {
        let Ok(engine) = &self.engine else { return };
        if engine.now_ms() < self.next_sample_ms {
            return;
        }
        self.next_sample_ms = engine.now_ms() + SAMPLE_MS;
        let samples = engine.snapshot().samples;
        self.history.resize_with(samples.len(), VecDeque::new);
        for (series, sample) in self.history.iter_mut().zip(samples) {
            if series.len() == HISTORY_LEN {
                series.pop_front();
            }
            series.push_back(sample.value);
        }
    }

    fn record(&mut self, events: Vec<E::Event>) {
        self.sample();
        for event in &events {
            if let Some(line) = (self.describe)(event) {
                self.push_log(line);
            }
        }
        self.last_events = events;
    }

    fn step_once(&mut self) {
        let Ok(engine) = &mut self.engine else { return };
        let events = engine.step();
        self.steps += 1;
        self.record(events);
    }

    /// Advances the engine by `real_ms` of wall-clock time at the chosen speed.
    fn tick(&mut self, real_ms: f64) {
        let Ok(engine) = &mut self.engine else { return };
        self.budget_ms += real_ms * SPEEDS.get(self.speed).copied().unwrap_or(1.0);
        let mut events = Vec::new();
        for _ in 0..MAX_STEPS_PER_TICK {
            if self.budget_ms <= 0.0 || self.steps >= sim::scenario::MAX_STEPS {
                break;
            }
            let before = engine.now_ms();
            events.extend(engine.step());
            self.steps += 1;
            let advanced = engine.now_ms() - before;
            if advanced <= 0.0 {
                self.budget_ms = 0.0;
                break;
            }
            self.budget_ms -= advanced;
        }
        // After a stall, drop the debt instead of racing to catch up.
        self.budget_ms = self.budget_ms.min(1_000.0);
        if self.steps >= sim::scenario::MAX_STEPS {
            self.playing = false;
            self.notice =
                Some("The run reached its length limit; press Reset to start again.".into());
        }
        self.record(events);
    }

    fn act(&mut self, action: E::Action) {
        let Ok(engine) = &mut self.engine else { return };
        match engine.apply(&action) {
            Ok(events) => {
                self.notice = None;
                if self.actions.len() < sim::scenario::MAX_ACTIONS {
                    self.actions.push(TimedAction {
                        step: self.steps,
                        action,
                    });
                }
                self.record(events);
            }
            Err(err) => {
                self.notice = Some(format!("Not applied: {err}"));
                self.push_log(format!("Not applied: {err}"));
            }
        }
    }

    /// Returns the current run as a scenario that replays to the same state.
    fn scenario(&self) -> Scenario<E::Config, E::Action> {
        Scenario {
            seed: self.seed,
            config: self.config.clone(),
            actions: self.actions.clone(),
            steps: self.steps,
        }
    }

    /// Builds the share link for the current run and records it.
    fn share(&mut self) -> Option<String> {
        let fragment = ShareLink {
            widget: self.placement.widget.to_string(),
            index: self.placement.index,
            payload: self.scenario().encode(),
        }
        .to_fragment();
        let location = web_sys::window()?.location();
        let href = location.href().ok()?;
        let base = href.split('#').next().unwrap_or(&href);
        let url = format!("{base}#{fragment}");
        self.share_url = Some(url.clone());
        Some(url)
    }
}

/// A request from the reader or the clock to a run.
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
    /// Build a share link and copy it to the clipboard.
    Share,
    /// The widget scrolled on or off screen.
    Visible(bool),
}

/// A handle to a widget's run; cloning it shares the same run.
pub struct RunnerHandle<E: Engine> {
    inner: Rc<RefCell<Runner<E>>>,
    update: UseForceUpdateHandle,
    /// The widget's outermost element, watched for leaving the screen.
    pub root: NodeRef,
}

impl<E: Engine> Clone for RunnerHandle<E> {
    fn clone(&self) -> Self {
        Self {
            inner: Rc::clone(&self.inner),
            update: self.update.clone(),
            root: self.root.clone(),
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
                    // Animation pauses off screen and in hidden tabs; the run
                    // stays in play mode and resumes when the reader returns.
                    let hidden = web_sys::window()
                        .and_then(|w| w.document())
                        .is_some_and(|d| d.hidden());
                    if !run.playing || !run.on_screen || hidden {
                        return;
                    }
                    run.tick(real_ms);
                }
                Command::Visible(on_screen) => run.on_screen = on_screen,
                Command::Step => {
                    run.playing = false;
                    run.step_once();
                }
                Command::TogglePlay => run.playing = !run.playing && run.engine.is_ok(),
                Command::Reset => run.reset(),
                Command::Speed(index) => run.speed = index.min(SPEEDS.len() - 1),
                // A new seed or configuration restarts the run but keeps it
                // playing, so the reader sees the effect at once.
                Command::Seed(seed) => {
                    let playing = run.playing;
                    run.seed = seed;
                    run.reset();
                    run.playing = playing && run.engine.is_ok();
                }
                Command::Configure(config) => {
                    let playing = run.playing;
                    run.config = config;
                    run.reset();
                    run.playing = playing && run.engine.is_ok();
                }
                Command::Act(action) => run.act(action),
                Command::Share => {
                    if let Some(url) = run.share() {
                        copy_to_clipboard(&url);
                    }
                }
            }
        }
        self.update.force_update();
    }

    /// Returns a callback for a parameter field: it applies the field's new
    /// value to a copy of `config` with `edit` and rebuilds the engine from it.
    pub fn configure(&self, config: &E::Config, edit: fn(&mut E::Config, f64)) -> Callback<f64> {
        let config = config.clone();
        self.callback(move |value: f64| {
            let mut config = config.clone();
            edit(&mut config, value);
            Command::Configure(config)
        })
    }

    /// Returns a callback that sends the command the closure builds.
    pub fn callback<T: 'static>(&self, make: impl Fn(T) -> Command<E> + 'static) -> Callback<T> {
        let handle = self.clone();
        Callback::from(move |value| handle.send(make(value)))
    }
}

/// Copies text to the clipboard where the browser allows it.
///
/// The link also stays visible in the widget, because browsers refuse the
/// clipboard outside secure contexts and without a user gesture.
fn copy_to_clipboard(text: &str) {
    if let Some(window) = web_sys::window() {
        let promise = window.navigator().clipboard().write_text(text);
        // A refused write rejects the promise; the visible link is the fallback.
        wasm_bindgen_futures::spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        });
    }
}

/// Creates a widget's run, restores a share link meant for it, and drives it
/// with a clock while it plays.
#[hook]
pub fn use_runner<E>(
    config: E::Config,
    seed: u64,
    placement: Placement,
    describe: Describe<E>,
) -> RunnerHandle<E>
where
    E: Engine + 'static,
{
    let inner = use_mut_ref(|| {
        let mut runner = Runner::new(config, seed, placement, describe);
        if let Some(hash) = web_sys::window().and_then(|w| w.location().hash().ok()) {
            runner.restore(&hash);
        }
        runner
    });
    let update = use_force_update();
    let root = use_node_ref();
    let handle = RunnerHandle {
        inner,
        update,
        root,
    };
    {
        let handle = handle.clone();
        use_effect_with((), move |()| {
            let root = handle.root.clone();
            let observer = crate::visibility::watch(&root, move |on_screen| {
                handle.send(Command::Visible(on_screen));
            });
            move || drop(observer)
        });
    }
    let playing = handle.get().playing;
    {
        let handle = handle.clone();
        use_effect_with(playing, move |playing| {
            let clock = playing
                .then(|| crate::clock::start(move |real_ms| handle.send(Command::Tick(real_ms))));
            move || drop(clock)
        });
    }
    handle
}
