//! Watching whether a widget is on screen, so that it animates only there.

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{IntersectionObserver, IntersectionObserverEntry};
use yew::NodeRef;

/// An active IntersectionObserver; dropping it stops watching.
pub struct Watch {
    observer: IntersectionObserver,
    _callback: Closure<dyn FnMut(js_sys::Array)>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// Calls `on_change(true)` when the element enters the screen and
/// `on_change(false)` when it leaves; returns `None` if it cannot watch.
pub fn watch(node: &NodeRef, mut on_change: impl FnMut(bool) + 'static) -> Option<Watch> {
    let element = node.cast::<web_sys::Element>()?;
    let callback = Closure::<dyn FnMut(js_sys::Array)>::new(move |entries: js_sys::Array| {
        let visible = entries
            .iter()
            .filter_map(|entry| entry.dyn_into::<IntersectionObserverEntry>().ok())
            .next_back()
            .is_some_and(|entry| entry.is_intersecting());
        on_change(visible);
    });
    let observer = IntersectionObserver::new(callback.as_ref().unchecked_ref()).ok()?;
    observer.observe(&element);
    Some(Watch {
        observer,
        _callback: callback,
    })
}
