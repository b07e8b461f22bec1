//! Mermaid diagrams drawn at build time, as inline SVG that follows the theme.
//!
//! `mermaid-rs-renderer` lays out and draws each ```` ```mermaid ```` block,
//! so pages carry a few kilobytes of SVG instead of loading the Mermaid
//! runtime (about 760 KB gzip). The renderer paints with the placeholder
//! colours below. `theme/diagrams.css` matches those exact attribute values
//! and repaints them from the page's theme, so one SVG follows all five
//! mdBook themes without a reload.

use mermaid_rs_renderer::{RenderOptions, Theme, render_with_options};

/// Placeholder colours, one per role. `theme/diagrams.css` selects on these
/// exact values, so change both together. Each is also a sensible light-theme
/// colour, for readers whose stylesheet fails to load.
const NODE_FILL: &str = "#f5f6fa";
const GROUP_FILL: &str = "#fafbfd";
const NOTE_FILL: &str = "#fdf8e8";
const BORDER: &str = "#8792a8";
const LINE: &str = "#4b5563";
const TEXT: &str = "#1f2328";

/// The page's own font stack, from mdBook's stylesheet. The book ships no
/// font files, so readers see their system's sans-serif, and the renderer
/// measures labels in the build machine's (DejaVu Sans on Debian and Ubuntu,
/// wider than most), which leaves boxes spare room rather than overflowing.
const FONT: &str = "\"Open Sans\", sans-serif";

fn theme() -> Theme {
    let mut theme = Theme::modern();
    theme.font_family = FONT.to_string();
    theme.background = "none".to_string();
    theme.edge_label_background = "none".to_string();
    theme.primary_color = NODE_FILL.to_string();
    theme.secondary_color = NODE_FILL.to_string();
    theme.tertiary_color = NODE_FILL.to_string();
    theme.cluster_background = GROUP_FILL.to_string();
    theme.sequence_actor_fill = NODE_FILL.to_string();
    theme.sequence_activation_fill = GROUP_FILL.to_string();
    theme.sequence_note_fill = NOTE_FILL.to_string();
    theme.primary_border_color = BORDER.to_string();
    theme.cluster_border = BORDER.to_string();
    theme.sequence_actor_border = BORDER.to_string();
    theme.sequence_note_border = BORDER.to_string();
    theme.sequence_activation_border = BORDER.to_string();
    theme.line_color = LINE.to_string();
    theme.sequence_actor_line = LINE.to_string();
    theme.primary_text_color = TEXT.to_string();
    theme.text_color = TEXT.to_string();
    theme
}

/// Draws one diagram as a `<figure>` holding inline SVG.
///
/// `id_prefix` keeps the SVG's element ids unique when several diagrams
/// share a page, as they do on the print page.
pub(crate) fn render(source: &str, id_prefix: &str) -> Result<String, String> {
    let options = RenderOptions {
        theme: theme(),
        ..RenderOptions::default()
    };
    // Mermaid allows quoted edge labels, `-->|"text"|`, but the renderer
    // draws the quotes, so they are taken off here.
    let source = source.replace("|\"", "|").replace("\"|", "|");
    // A panic in the renderer becomes this diagram's error, with its
    // location, rather than ending the build with a bare backtrace.
    let drawn = std::panic::catch_unwind(|| render_with_options(&source, options))
        .map_err(|_| "the Mermaid renderer crashed on this diagram".to_string())?
        .map_err(|err| format!("invalid Mermaid diagram: {err:#}"))?;
    check_messages_drawn(&source, &drawn)?;
    let svg = scope_ids(&drawn, id_prefix);
    // A blank line would end Markdown's raw HTML block in the middle of the SVG.
    let svg: String = svg
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(format!(
        "<figure class=\"sdbe-diagram\">\n{svg}\n</figure>\n"
    ))
}

/// Fails when a sequence diagram's message is missing from the drawing.
///
/// The renderer silently leaves out messages whose arrow it does not know
/// (`-x`, `--x`, `-)` and `--)` in version 0.3.1), which would drop the very
/// step a diagram is about without a word.
fn check_messages_drawn(source: &str, svg: &str) -> Result<(), String> {
    if source.split_whitespace().next() != Some("sequenceDiagram") {
        return Ok(());
    }
    // Labels wrap over several text runs, so compare words, not whole
    // labels: every word of every message must be drawn at least as often.
    let text = svg_text(svg);
    let mut drawn = word_counts(&text);
    for line in source.lines().map(str::trim) {
        let Some((head, label)) = line.split_once(':') else {
            continue;
        };
        if !(head.contains("->") || head.contains("-x") || head.contains("-)")) {
            continue;
        }
        let label = label.replace("<br/>", " ").replace("<br>", " ");
        for word in label.split_whitespace() {
            match drawn.get_mut(word) {
                Some(count) if *count > 0 => *count -= 1,
                _ => {
                    return Err(format!(
                        "the diagram renderer left out the message `{line}`; \
                         write it with ->> or -->> and say what happens in its label"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Returns the text between an SVG's tags, with XML entities decoded.
fn svg_text(svg: &str) -> String {
    let mut text = String::new();
    for piece in svg.split('<') {
        if let Some((_, after)) = piece.split_once('>') {
            text.push_str(after);
            text.push(' ');
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

fn word_counts(text: &str) -> std::collections::HashMap<&str, usize> {
    let mut counts = std::collections::HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_insert(0) += 1;
    }
    counts
}

/// Drops the ids nothing refers to and prefixes the rest.
///
/// The renderer numbers ids from zero in every diagram and repeats some
/// within one, so two diagrams on a page would otherwise collide.
fn scope_ids(svg: &str, prefix: &str) -> String {
    let referenced: Vec<&str> = ["url(#", "href=\"#"]
        .iter()
        .flat_map(|opener| {
            svg.match_indices(opener).filter_map(move |(at, _)| {
                let rest = &svg[at + opener.len()..];
                rest.find([')', '"']).map(|end| &rest[..end])
            })
        })
        .collect();
    let mut out = String::with_capacity(svg.len());
    let mut rest = svg;
    while let Some(at) = rest.find(" id=\"") {
        out.push_str(&rest[..at]);
        let value_start = at + " id=\"".len();
        let Some(len) = rest[value_start..].find('"') else {
            break;
        };
        let id = &rest[value_start..value_start + len];
        if referenced.contains(&id) {
            out.push_str(&format!(" id=\"{prefix}-{id}\""));
        }
        rest = &rest[value_start + len + 1..];
    }
    out.push_str(rest);
    out.replace("url(#", &format!("url(#{prefix}-"))
        .replace("href=\"#", &format!("href=\"#{prefix}-"))
}
