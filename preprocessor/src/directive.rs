//! Parsing of one `{{#keyword ...}}` directive.

use serde_json::{Map, Number, Value};

use crate::DirectiveError;

/// The directive keywords this preprocessor owns.
const KEYWORDS: &[&str] = &["widget", "tabs", "tab", "endtabs"];

/// A parsed directive.
#[derive(Debug, Clone, PartialEq)]
pub enum Directive {
    /// `{{#widget NAME key=value ...}}`; `seed` is taken out of the parameters.
    Widget {
        /// The widget name, as in the registry.
        name: String,
        /// The engine parameters, typed from their text.
        params: Map<String, Value>,
        /// The starting seed, if the author chose one.
        seed: Option<u64>,
    },
    /// `{{#tabs}}` opens a tab group.
    Tabs,
    /// `{{#tab LABEL}}` starts a tab.
    Tab(String),
    /// `{{#endtabs}}` closes the group.
    EndTabs,
}

/// Reports whether the text after `{{#` starts with one of our keywords.
pub(crate) fn is_ours(after_braces: &str) -> bool {
    let word: String = after_braces
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    KEYWORDS.contains(&word.as_str())
}

impl Directive {
    /// Parses the directive at the start of `text`, returning it and its length.
    ///
    /// A directive must close with `}}` on the same line.
    pub fn parse(text: &str, line: usize, column: usize) -> Result<(Self, usize), DirectiveError> {
        let fail = |reason: String| DirectiveError::new(line, column, reason);
        let body_start = 3;
        let Some(end) = text.find("}}") else {
            let shown = text.trim_end();
            return Err(fail(format!(
                "unclosed directive `{shown}`: add `}}}}` at the end of the line \
                 (a directive must fit on one line)"
            )));
        };
        let body = &text[body_start..end];
        if body.contains("{{") {
            return Err(fail(format!(
                "malformed directive `{}`: `{{{{` inside it",
                &text[..end + 2]
            )));
        }
        let mut words = body.split_whitespace();
        let keyword = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        let directive = match keyword {
            "widget" => parse_widget(&args).map_err(fail)?,
            "tabs" | "endtabs" if !args.is_empty() => {
                return Err(fail(format!(
                    "`{{{{#{keyword}}}}}` takes no arguments, found `{}`",
                    args.join(" ")
                )));
            }
            "tabs" => Self::Tabs,
            "endtabs" => Self::EndTabs,
            "tab" if args.is_empty() => {
                return Err(fail(
                    "`{{#tab}}` needs a label, as in `{{#tab Go}}`".to_string(),
                ));
            }
            "tab" => Self::Tab(args.join(" ")),
            other => return Err(fail(format!("unknown directive `{other}`"))),
        };
        Ok((directive, end + 2))
    }
}

fn parse_widget(args: &[&str]) -> Result<Directive, String> {
    let Some((name, pairs)) = args.split_first() else {
        return Err(format!(
            "`{{{{#widget}}}}` needs a widget name; known widgets: {}",
            sim::registry::names().join(", ")
        ));
    };
    if name.contains('=') {
        return Err(format!(
            "`{name}` is a parameter, but the widget name must come first"
        ));
    }
    let mut params = Map::new();
    let mut seed = None;
    for pair in pairs {
        let Some((key, raw)) = pair.split_once('=') else {
            return Err(format!("malformed parameter `{pair}`: write `key=value`"));
        };
        if key.is_empty() || raw.is_empty() {
            return Err(format!("malformed parameter `{pair}`: write `key=value`"));
        }
        if key == "seed" {
            seed = Some(raw.parse::<u64>().map_err(|_| {
                format!(
                    "invalid `seed`: `{raw}` is not a whole number from 0 to {}",
                    u64::MAX
                )
            })?);
            continue;
        }
        if params.insert(key.to_string(), typed_value(raw)).is_some() {
            return Err(format!("parameter `{key}` is given twice"));
        }
    }
    Ok(Directive::Widget {
        name: (*name).to_string(),
        params,
        seed,
    })
}

/// Types a parameter's text: whole number, decimal number, boolean or string.
///
/// Only plain decimal notation counts as a number, so `NaN` and `inf` stay
/// strings and the engine's configuration type rejects them by name.
fn typed_value(raw: &str) -> Value {
    let unquoted = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"'));
    if let Some(text) = unquoted {
        return Value::String(text.to_string());
    }
    if let Ok(whole) = raw.parse::<i64>() {
        return Value::Number(whole.into());
    }
    let decimal = raw
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+'))
        && raw.chars().any(|c| c.is_ascii_digit());
    if decimal {
        if let Some(number) = raw.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(number);
        }
    }
    match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(raw.to_string()),
    }
}
