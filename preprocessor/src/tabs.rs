//! Tab groups: the Go and Python listings side by side, one shown at a time.
//!
//! The tab bar is hidden until the page script runs, so readers without
//! JavaScript and the print page see every panel in turn.

use crate::DirectiveError;

/// Position of the scanner relative to a `{{#tabs}}` group.
#[derive(Debug, Default)]
pub(crate) struct TabsState {
    /// Line of the open `{{#tabs}}`, if any.
    open_line: Option<usize>,
    /// Labels seen so far in the open group.
    labels: Vec<String>,
}

impl TabsState {
    pub(crate) fn open(&mut self, line: usize, column: usize) -> Result<String, DirectiveError> {
        if let Some(open) = self.open_line {
            return Err(DirectiveError::new(
                line,
                column,
                format!(
                    "`{{{{#tabs}}}}` inside the group opened on line {open}; close it with `{{{{#endtabs}}}}` first"
                ),
            ));
        }
        self.open_line = Some(line);
        self.labels.clear();
        Ok("<div class=\"sdbe-tabs\">".to_string())
    }

    pub(crate) fn tab(
        &mut self,
        label: &str,
        line: usize,
        column: usize,
    ) -> Result<String, DirectiveError> {
        if self.open_line.is_none() {
            return Err(DirectiveError::new(
                line,
                column,
                "`{{#tab}}` outside `{{#tabs}}` ... `{{#endtabs}}`",
            ));
        }
        if self.labels.iter().any(|l| l == label) {
            return Err(DirectiveError::new(
                line,
                column,
                format!("tab `{label}` appears twice in this group"),
            ));
        }
        let close = if self.labels.is_empty() {
            ""
        } else {
            "\n</div>\n"
        };
        self.labels.push(label.to_string());
        let escaped = label
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;");
        Ok(format!(
            "{close}<div class=\"sdbe-tab-panel\" data-tab=\"{escaped}\" role=\"tabpanel\">\n\
             <p class=\"sdbe-tab-title\">{escaped}</p>\n"
        ))
    }

    pub(crate) fn close(&mut self, line: usize, column: usize) -> Result<String, DirectiveError> {
        let Some(open) = self.open_line.take() else {
            return Err(DirectiveError::new(
                line,
                column,
                "`{{#endtabs}}` without `{{#tabs}}`",
            ));
        };
        if self.labels.is_empty() {
            return Err(DirectiveError::new(
                line,
                column,
                format!("the tab group opened on line {open} has no `{{{{#tab LABEL}}}}`"),
            ));
        }
        Ok("\n</div>\n</div>".to_string())
    }

    /// Reports a group left open at the end of the chapter.
    pub(crate) fn finish(&self, last_line: usize) -> Option<DirectiveError> {
        self.open_line.map(|open| {
            DirectiveError::new(
                open,
                1,
                format!("`{{{{#tabs}}}}` is never closed; add `{{{{#endtabs}}}}` (chapter ends at line {last_line})"),
            )
        })
    }
}
