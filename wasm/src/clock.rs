//! A requestAnimationFrame loop that reports wall-clock time between frames.
//!
//! Browsers stop animation frames in hidden tabs, so a widget's clock pauses
//! with the tab.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Maximum frame gap passed on, so a widget does not jump after a stall.
const MAX_FRAME_MS: f64 = 100.0;

type FrameCallback = Closure<dyn FnMut(f64)>;

/// A running animation loop; dropping it stops the loop.
pub struct Clock {
    frame: Rc<RefCell<Option<FrameCallback>>>,
    request: Rc<RefCell<Option<i32>>>,
}

impl Clock {
    /// Calls `on_frame` with the milliseconds since the previous frame, every frame.
    pub fn start(mut on_frame: impl FnMut(f64) + 'static) -> Self {
        let frame: Rc<RefCell<Option<FrameCallback>>> = Rc::new(RefCell::new(None));
        let request = Rc::new(RefCell::new(None));
        let mut last: Option<f64> = None;
        let frame_for_loop = Rc::clone(&frame);
        let request_for_loop = Rc::clone(&request);
        *frame.borrow_mut() = Some(Closure::new(move |now: f64| {
            if let Some(previous) = last {
                on_frame((now - previous).clamp(0.0, MAX_FRAME_MS));
            }
            last = Some(now);
            *request_for_loop.borrow_mut() = schedule(&frame_for_loop);
        }));
        *request.borrow_mut() = schedule(&frame);
        Self { frame, request }
    }
}

fn schedule(frame: &Rc<RefCell<Option<FrameCallback>>>) -> Option<i32> {
    let window = web_sys::window()?;
    let borrowed = frame.borrow();
    let callback = borrowed.as_ref()?;
    window
        .request_animation_frame(callback.as_ref().unchecked_ref())
        .ok()
}

impl Drop for Clock {
    fn drop(&mut self) {
        if let (Some(window), Some(id)) = (web_sys::window(), self.request.borrow_mut().take()) {
            let _ = window.cancel_animation_frame(id);
        }
        // Dropping the closure breaks the cycle between it and `frame`.
        self.frame.borrow_mut().take();
    }
}

/// A clock that ticks once per `interval_ms`, for readers who ask for
/// reduced motion: the widget changes in visible steps instead of animating.
pub struct SteppingClock {
    _interval: gloo_timers::callback::Interval,
}

impl SteppingClock {
    /// Calls `on_tick` with `interval_ms` every `interval_ms` milliseconds.
    pub fn start(interval_ms: u32, mut on_tick: impl FnMut(f64) + 'static) -> Self {
        let interval = gloo_timers::callback::Interval::new(interval_ms, move || {
            on_tick(f64::from(interval_ms));
        });
        Self {
            _interval: interval,
        }
    }
}

/// Returns whether the reader's system requests reduced motion.
pub fn prefers_reduced_motion() -> bool {
    web_sys::window()
        .and_then(|window| {
            window
                .match_media("(prefers-reduced-motion: reduce)")
                .ok()
                .flatten()
        })
        .is_some_and(|query| query.matches())
}

/// A running clock of either kind; dropping it stops the ticks.
pub enum AnyClock {
    /// One tick per animation frame.
    Frames {
        /// Held only to be dropped.
        _clock: Clock,
    },
    /// One tick per second, for reduced motion.
    Steps {
        /// Held only to be dropped.
        _clock: SteppingClock,
    },
}

/// Simulated time per step when motion is reduced: one visible change a second.
const STEPPING_MS: u32 = 1000;

/// Starts the clock the reader's motion preference calls for.
pub fn start(on_tick: impl FnMut(f64) + 'static) -> AnyClock {
    if prefers_reduced_motion() {
        AnyClock::Steps {
            _clock: SteppingClock::start(STEPPING_MS, on_tick),
        }
    } else {
        AnyClock::Frames {
            _clock: Clock::start(on_tick),
        }
    }
}
