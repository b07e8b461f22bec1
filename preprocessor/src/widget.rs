//! The placeholder element that the widget bundle mounts.

use serde_json::{Map, Value};

/// The start of every placeholder, up to the widget's name.
pub(crate) const PLACEHOLDER_START: &str = "<div class=\"sdbe-widget\" data-widget=\"";

/// Checks a widget's parameters and renders its placeholder with a fallback.
///
/// The placeholder carries the full configuration, defaults filled in, so the
/// widget never guesses. The fallback text is what readers without JavaScript
/// and the print page see until the widget mounts. The script after it asks
/// the loader in `theme/loader.js` to fetch the widget's bundle and mount it
/// as soon as the parser reaches it.
pub(crate) fn render(
    name: &str,
    params: Map<String, Value>,
    seed: Option<u64>,
) -> Result<String, String> {
    let Some(kind) = sim::registry::find(name) else {
        return Err(format!(
            "unknown widget `{name}`; known widgets: {}",
            sim::registry::names().join(", ")
        ));
    };
    let config = (kind.check)(params).map_err(|reason| format!("widget `{name}`: {reason}"))?;
    let summary: Vec<String> = match &config {
        Value::Object(fields) => fields.iter().map(|(k, v)| format!("{k} = {v}")).collect(),
        _ => Vec::new(),
    };
    let seed_attr = seed
        .map(|s| format!(" data-seed=\"{s}\""))
        .unwrap_or_default();
    Ok(format!(
        "{PLACEHOLDER_START}{name}\" data-config=\"{config}\"{seed_attr}>\
         <div class=\"sdbe-widget-fallback\"><p><strong>Interactive widget:</strong> {summary} \
         Settings: {settings}. It runs in the browser and needs JavaScript and WebAssembly.</p>\
         </div></div><script>window.sdbeWidgets?.mount('{name}')</script>",
        name = kind.name,
        config = escape_attr(&config.to_string()),
        summary = escape_text(kind.summary),
        settings = escape_text(&summary.join(", ")),
    ))
}

fn escape_attr(text: &str) -> String {
    escape_text(text).replace('"', "&quot;")
}

fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
