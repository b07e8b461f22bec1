//! mdBook preprocessor for the book's `{{#widget}}` and `{{#tabs}}` directives.
//!
//! `{{#widget NAME key=value ...}}` becomes a placeholder element that the
//! widget bundle mounts, with the configuration checked against the engine's
//! configuration type at build time. `{{#tabs}}`, `{{#tab LABEL}}` and
//! `{{#endtabs}}` wrap the Go and Python listings in tabs. Directives inside
//! fenced code blocks, or written with a leading backslash, stay as text.
//! A ```` ```mermaid ```` block becomes an inline SVG drawing of the diagram.

mod diagram;
mod directive;
mod tabs;
mod widget;

use std::fmt;
use std::path::Path;

use anyhow::bail;
use mdbook_preprocessor::book::{Book, BookItem};
use mdbook_preprocessor::{Preprocessor, PreprocessorContext};

pub use directive::Directive;

/// The preprocessor, registered in `book.toml` as `[preprocessor.sdbe]`.
#[derive(Debug, Default)]
pub struct Sdbe;

impl Preprocessor for Sdbe {
    fn name(&self) -> &str {
        "sdbe"
    }

    fn run(&self, ctx: &PreprocessorContext, mut book: Book) -> anyhow::Result<Book> {
        let src = ctx.config.book.src.clone();
        let mut errors = Vec::new();
        book.for_each_mut(|item| {
            let BookItem::Chapter(chapter) = item else {
                return;
            };
            let Some(path) = chapter.source_path.clone() else {
                return;
            };
            match process(&chapter.content) {
                Ok(content) => chapter.content = content,
                Err(chapter_errors) => errors.extend(
                    chapter_errors
                        .into_iter()
                        .map(|err| err.in_file(&src.join(&path))),
                ),
            }
        });
        if !errors.is_empty() {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            bail!(
                "{} invalid directive(s):\n{}",
                errors.len(),
                list.join("\n")
            );
        }
        Ok(book)
    }
}

/// A directive that cannot be expanded, located by line and column (from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectiveError {
    /// The chapter file, once known.
    pub file: Option<String>,
    /// Line in the chapter source.
    pub line: usize,
    /// Column of the directive's opening braces.
    pub column: usize,
    /// The problem and how to fix it.
    pub reason: String,
}

impl DirectiveError {
    fn new(line: usize, column: usize, reason: impl Into<String>) -> Self {
        Self {
            file: None,
            line,
            column,
            reason: reason.into(),
        }
    }

    fn in_file(mut self, path: &Path) -> Self {
        self.file = Some(path.display().to_string());
        self
    }
}

impl fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.as_deref().unwrap_or("<chapter>");
        write!(f, "{file}:{}:{}: {}", self.line, self.column, self.reason)
    }
}

/// Expands every directive in one chapter's Markdown.
///
/// Returns every invalid directive rather than stopping at the first, so an
/// author fixes a chapter in one pass.
pub fn process(content: &str) -> Result<String, Vec<DirectiveError>> {
    let mut out = String::with_capacity(content.len());
    let mut errors = Vec::new();
    let mut tabs = tabs::TabsState::default();
    let mut fence: Option<String> = None;
    // An open ```mermaid block: its first line number and its source so far.
    let mut diagram: Option<(usize, String)> = None;

    for (index, line) in content.split_inclusive('\n').enumerate() {
        let number = index + 1;
        if let Some(marker) = fence_marker(line) {
            match &fence {
                Some(open) if marker.starts_with(open.as_str()) => {
                    fence = None;
                    if let Some((start, source)) = diagram.take() {
                        let prefix = format!("d{:x}", short_hash(&source));
                        match diagram::render(&source, &prefix) {
                            Ok(figure) => out.push_str(&figure),
                            Err(reason) => errors.push(DirectiveError::new(start, 1, reason)),
                        }
                        continue;
                    }
                }
                Some(_) => {}
                None => {
                    if line.trim_start()[marker.len()..].trim() == "mermaid" {
                        diagram = Some((number, String::new()));
                        fence = Some(marker);
                        continue;
                    }
                    fence = Some(marker);
                }
            }
            out.push_str(line);
            continue;
        }
        if let Some((_, source)) = &mut diagram {
            source.push_str(line);
            continue;
        }
        if fence.is_some() {
            out.push_str(line);
            continue;
        }
        match expand_line(line, number, &mut tabs) {
            Ok(expanded) => out.push_str(&expanded),
            Err(err) => {
                errors.push(err);
                out.push_str(line);
            }
        }
    }
    if let Some((start, _)) = diagram {
        errors.push(DirectiveError::new(
            start,
            1,
            "unclosed ```mermaid block: close it with ``` on its own line",
        ));
    }
    if let Some(err) = tabs.finish(content.lines().count()) {
        errors.push(err);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Returns the widgets a chapter shows, in the order they first appear.
///
/// The names come from the placeholders that [`process`] writes, so they are
/// the widgets the page mounts. A chapter with an invalid directive shows
/// none here; `mdbook build` reports its errors.
pub fn widget_names(content: &str) -> Vec<String> {
    let Ok(html) = process(content) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for after in html.split(widget::PLACEHOLDER_START).skip(1) {
        if let Some((name, _)) = after.split_once('"')
            && !names.iter().any(|known| known == name)
        {
            names.push(name.to_string());
        }
    }
    names
}

/// A short, stable name for a diagram, to scope its SVG ids on the page.
fn short_hash(text: &str) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    // Eight hex digits are plenty to tell a page's diagrams apart.
    hasher.finish() as u32
}

/// Returns the backticks or tildes that open or close a fenced code block.
fn fence_marker(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    for ch in ['`', '~'] {
        let run = trimmed.chars().take_while(|&c| c == ch).count();
        if run >= 3 {
            return Some(ch.to_string().repeat(run));
        }
    }
    None
}

fn expand_line(
    line: &str,
    number: usize,
    tabs: &mut tabs::TabsState,
) -> Result<String, DirectiveError> {
    let mut out = String::new();
    let mut rest = line;
    let mut offset = 0;
    while let Some(start) = rest.find("{{#") {
        if !directive::is_ours(&rest[start + 3..]) {
            // Other `{{#...}}` forms belong to mdBook (`include`, `title`, ...).
            out.push_str(&rest[..start + 3]);
            offset += start + 3;
            rest = &rest[start + 3..];
            continue;
        }
        let column = offset + start + 1;
        if start > 0 && rest.as_bytes()[start - 1] == b'\\' {
            // An escaped directive: drop the backslash, keep the text.
            out.push_str(&rest[..start - 1]);
            out.push_str("{{#");
            offset += start + 3;
            rest = &rest[start + 3..];
            continue;
        }
        out.push_str(&rest[..start]);
        let (parsed, consumed) = Directive::parse(&rest[start..], number, column)?;
        let html = match parsed {
            Directive::Widget { name, params, seed } => widget::render(&name, params, seed)
                .map_err(|reason| DirectiveError::new(number, column, reason))?,
            Directive::Tabs => tabs.open(number, column)?,
            Directive::Tab(label) => tabs.tab(&label, number, column)?,
            Directive::EndTabs => tabs.close(number, column)?,
        };
        out.push_str(&html);
        offset += start + consumed;
        rest = &rest[start + consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests;
