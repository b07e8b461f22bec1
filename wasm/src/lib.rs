//! The book's interactive widgets: Yew components over the `sim` engines.
//!
//! The page loader in `theme/loader.js` calls [`mount_all`] once the bundle
//! has loaded, and again when the whole page is parsed. It finds
//! every `.sdbe-widget` placeholder that the preprocessor emitted and mounts
//! the component its `data-widget` names, with the configuration from
//! `data-config` and the seed from `data-seed`.

// A bundle built for one widget leaves the shared parts other widgets use idle.
#![cfg_attr(not(feature = "all"), allow(dead_code, unused_imports))]
#![allow(
    unreachable_pub,
    reason = "the crate's only public surface is `mount_all`; modules are private and \
              their items are `pub` for use across the crate"
)]

mod clock;
mod controls;
mod faults;
mod fields;
mod frame;
mod metrics;
mod runner;
mod shell;
mod visibility;
mod widgets;

use serde::de::DeserializeOwned;
use sim::scenario::ShareLink;
use wasm_bindgen::prelude::*;
use web_sys::Element;
use yew::{BaseComponent, Renderer};

/// Seed used when a directive does not set one.
pub const DEFAULT_SEED: u64 = 1;

/// Mounts every widget placeholder on the page that is not mounted yet.
///
/// Placeholders are found by class, never by id, because mdBook's print page
/// renames duplicate ids. A placeholder that cannot be mounted shows why.
#[wasm_bindgen]
pub fn mount_all() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(placeholders) = document.query_selector_all(".sdbe-widget:not([data-mounted])") else {
        return;
    };
    // Share links name a widget by its position among the page's widgets of
    // the same name, mounted or not, so count over every placeholder.
    let all = document.query_selector_all(".sdbe-widget").ok();
    for index in 0..placeholders.length() {
        let Some(element) = placeholders
            .item(index)
            .and_then(|n| n.dyn_into::<Element>().ok())
        else {
            continue;
        };
        // A page with several kinds of widget loads one bundle per kind, and
        // each bundle mounts only its own.
        let Some(name) = element.get_attribute("data-widget") else {
            show_error(&element, "missing data-widget attribute");
            continue;
        };
        if !widgets::contains(&name) {
            continue;
        }
        let position = all
            .as_ref()
            .map_or(0, |all| position_among_same(all, &element));
        match mount(&element, &name, position) {
            Ok(()) => {
                let _ = element.set_attribute("data-mounted", "true");
            }
            Err(reason) => show_error(&element, &reason),
        }
    }
}

/// Counts the placeholders before `element` that name the same widget.
fn position_among_same(all: &web_sys::NodeList, element: &Element) -> usize {
    let name = element.get_attribute("data-widget");
    let mut position = 0;
    for i in 0..all.length() {
        let Some(other) = all.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
            continue;
        };
        if other == *element {
            break;
        }
        if other.get_attribute("data-widget") == name {
            position += 1;
        }
    }
    position
}

fn mount(placeholder: &Element, name: &str, position: usize) -> Result<(), String> {
    let config = placeholder
        .get_attribute("data-config")
        .unwrap_or_else(|| "{}".to_string());
    let seed = match placeholder.get_attribute("data-seed") {
        Some(text) => text
            .parse()
            .map_err(|_| format!("invalid data-seed `{text}`"))?,
        None => DEFAULT_SEED,
    };
    let document = placeholder
        .owner_document()
        .ok_or("placeholder is not in a document")?;
    let root = document
        .create_element("div")
        .map_err(|_| "failed to create the widget root")?;
    root.set_class_name("sdbe-widget-root");
    placeholder
        .append_child(&root)
        .map_err(|_| "failed to attach the widget root")?;
    widgets::mount(name, position, root, &config, seed)
}

/// Renders a widget component into `root` with its parsed configuration.
pub(crate) fn render<C, T>(
    root: Element,
    config_json: &str,
    seed: u64,
    placement: runner::Placement,
) -> Result<(), String>
where
    C: BaseComponent<Properties = widgets::WidgetProps<T>>,
    T: PartialEq + DeserializeOwned + 'static,
{
    let config: T =
        serde_json::from_str(config_json).map_err(|err| format!("invalid data-config: {err}"))?;
    Renderer::<C>::with_root_and_props(
        root,
        widgets::WidgetProps {
            config,
            seed,
            placement,
        },
    )
    .render();
    Ok(())
}

fn show_error(placeholder: &Element, reason: &str) {
    let Some(document) = placeholder.owner_document() else {
        return;
    };
    if let Ok(note) = document.create_element("p") {
        note.set_class_name("sdbe-widget-error");
        note.set_text_content(Some(&format!("This widget could not start: {reason}")));
        let _ = placeholder.append_child(&note);
    }
    web_sys::console::error_1(&format!("widget failed to mount: {reason}").into());
}

/// Replays a share link's run and returns its event trace as JSON lines.
///
/// Each bundle replays only its own widgets.
///
/// The browser tests compare this with `cargo xtask replay` on the same link,
/// which checks that the WebAssembly build and the native build agree.
#[wasm_bindgen]
pub fn replay_trace(link: &str) -> Result<String, JsValue> {
    let link = ShareLink::parse(link)
        .map_err(|reason| JsValue::from_str(&reason))?
        .ok_or_else(|| JsValue::from_str("the link has no `#run=` fragment"))?;
    let lines = widgets::replay(&link.widget, &link.payload)
        .map_err(|reason| JsValue::from_str(&reason))?;
    Ok(lines.join("\n"))
}
