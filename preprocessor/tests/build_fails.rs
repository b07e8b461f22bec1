//! Runs real `mdbook build` on small fixture books: a bad widget directive or
//! diagram must fail the build with the chapter's path, line and reason, and a
//! good directive must build into a placeholder.
//!
//! Needs `mdbook` on PATH (`cargo xtask test` installs it), or its path in the
//! `MDBOOK` environment variable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mdbook() -> PathBuf {
    if let Some(path) = std::env::var_os("MDBOOK") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("mdbook"))
            .find(|path| path.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("mdbook is not on PATH: run `cargo xtask test`, or set MDBOOK to its path")
    })
}

/// Writes a one-chapter book whose preprocessor is this crate's binary, and builds it.
fn build_book(name: &str, chapter: &str) -> (Output, PathBuf) {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("src/part")).unwrap();
    let preprocessor = env!("CARGO_BIN_EXE_mdbook-sdbe");
    std::fs::write(
        root.join("book.toml"),
        format!(
            "[book]\ntitle = \"fixture\"\n\n[preprocessor.sdbe]\ncommand = \"{preprocessor}\"\n\
             before = [\"links\"]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("src/SUMMARY.md"),
        "# Summary\n\n- [Chapter](part/chapter.md)\n",
    )
    .unwrap();
    std::fs::write(root.join("src/part/chapter.md"), chapter).unwrap();
    let output = Command::new(mdbook())
        .arg("build")
        .current_dir(&root)
        .output()
        .unwrap();
    (output, root)
}

fn assert_fails_with(name: &str, chapter: &str, expected: &str) {
    let (output, _) = build_book(name, chapter);
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(
        !output.status.success(),
        "{name}: the build should fail\n{stderr}"
    );
    assert!(
        stderr.contains(expected),
        "{name}: expected `{expected}` in:\n{stderr}"
    );
}

const INTRO: &str = "# Chapter\n\nSome text.\n\n";

#[test]
fn unknown_widget_fails_build() {
    let chapter = format!("{INTRO}{{{{#widget no-such-widget}}}}\n");

    assert_fails_with(
        "unknown_widget",
        &chapter,
        "src/part/chapter.md:5:1: unknown widget `no-such-widget`",
    );
}

#[test]
fn unknown_parameter_fails_build() {
    let chapter = format!("{INTRO}{{{{#widget token-bucket size=5}}}}\n");

    assert_fails_with(
        "unknown_parameter",
        &chapter,
        "src/part/chapter.md:5:1: widget `token-bucket`: unknown field `size`",
    );
}

#[test]
fn wrong_type_fails_build() {
    let chapter = format!("{INTRO}{{{{#widget client-server workers=two}}}}\n");

    assert_fails_with(
        "wrong_type",
        &chapter,
        "src/part/chapter.md:5:1: widget `client-server`: invalid type: string \"two\"",
    );
}

#[test]
fn out_of_range_value_fails_build() {
    let chapter = format!("{INTRO}Text before. {{{{#widget consistent-hash nodes=0}}}}\n");

    assert_fails_with(
        "out_of_range",
        &chapter,
        "src/part/chapter.md:5:14: widget `consistent-hash`: invalid `nodes`: 0 is out of range; use 1 to 32",
    );
}

#[test]
fn unclosed_directive_fails_build() {
    let chapter = format!("{INTRO}{{{{#widget token-bucket capacity=5\n");

    assert_fails_with(
        "unclosed",
        &chapter,
        "src/part/chapter.md:5:1: unclosed directive",
    );
}

#[test]
fn malformed_parameter_fails_build() {
    let chapter = format!("{INTRO}{{{{#widget token-bucket capacity}}}}\n");

    assert_fails_with(
        "malformed",
        &chapter,
        "src/part/chapter.md:5:1: malformed parameter `capacity`: write `key=value`",
    );
}

#[test]
fn unclosed_tabs_fail_build() {
    let chapter = format!("{INTRO}{{{{#tabs}}}}\n{{{{#tab Go}}}}\n\ntext\n");

    assert_fails_with(
        "unclosed_tabs",
        &chapter,
        "src/part/chapter.md:5:1: `{{#tabs}}` is never closed",
    );
}

#[test]
fn valid_widget_builds_into_placeholder() {
    let chapter = format!("{INTRO}{{{{#widget token-bucket capacity=7 seed=3}}}}\n");

    let (output, root) = build_book("valid", &chapter);
    let html = std::fs::read_to_string(root.join("book/part/chapter.html")).unwrap_or_default();

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(html.contains("data-widget=\"token-bucket\""), "{html}");
    assert!(html.contains("data-seed=\"3\""), "{html}");
}

#[test]
fn invalid_diagram_fails_build() {
    let chapter = format!("{INTRO}```mermaid\nflowchart LR\n    A -->\n```\n");

    assert_fails_with(
        "invalid_diagram",
        &chapter,
        "src/part/chapter.md:5:1: invalid Mermaid diagram",
    );
}
