//! Building the widget bundle and the book, and serving it.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::tools::{cmd, output, run, step};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Bundle folder in the book's source, which mdBook copies without hashing.
const BUNDLE_DIR: &str = "src/widgets";

/// Builds one bundle per widget in release mode, then binds and shrinks each.
///
/// Each widget is a cargo feature of `sdbe-widgets`, and its bundle goes to
/// `src/widgets/NAME/`, so a page downloads only the widgets it shows.
/// wasm-bindgen and wasm-opt run only when the compiled module is newer than
/// the bundle, so an unchanged tree rebuilds in a few seconds.
pub(crate) fn build_widgets() -> Result<()> {
    step("building one widget bundle per widget (release, wasm32)");
    check_widget_features()?;
    remove_single_bundle()?;
    for name in sim::registry::NAMES {
        build_bundle(name)?;
    }
    Ok(())
}

/// Builds the bundles of the widgets named, for a quicker loop while working
/// on one widget.
pub(crate) fn build_some_widgets(names: &[String]) -> Result<()> {
    step("building the widget bundles named (release, wasm32)");
    for name in names {
        if !sim::registry::NAMES.contains(&name.as_str()) {
            bail!(
                "no widget is called `{name}`; known widgets: {}",
                sim::registry::NAMES.join(", ")
            );
        }
        build_bundle(name)?;
    }
    Ok(())
}

/// Checks that `sdbe-widgets` has a feature for every widget in the registry,
/// and that its default feature `all` turns each one on, so that
/// `cargo clippy` checks every widget.
fn check_widget_features() -> Result<()> {
    let metadata = output(cmd("cargo").args(["metadata", "--format-version", "1", "--no-deps"]))
        .context("`cargo metadata` failed")?;
    let metadata: serde_json::Value =
        serde_json::from_str(&metadata).context("`cargo metadata` printed invalid JSON")?;
    let features = metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == "sdbe-widgets"))
        .map(|package| &package["features"])
        .context("`cargo metadata` lists no sdbe-widgets package")?;
    let all: Vec<&str> = features["all"]
        .as_array()
        .map(|names| names.iter().filter_map(|name| name.as_str()).collect())
        .unwrap_or_default();
    for name in sim::registry::NAMES {
        if features.get(name).is_none() {
            bail!("wasm/Cargo.toml has no feature `{name}`: add `{name} = []` under [features]");
        }
        if !all.contains(name) {
            bail!("wasm/Cargo.toml's feature `all` does not list `{name}`: add it");
        }
    }
    Ok(())
}

/// Compiles the widget called `name` alone and returns the compiled module,
/// before wasm-bindgen and wasm-opt.
pub(crate) fn compile_widget(name: &str) -> Result<String> {
    run(cmd("cargo").args([
        "build",
        "--quiet",
        "--release",
        "--package",
        "sdbe-widgets",
        "--target",
        WASM_TARGET,
        "--no-default-features",
        "--features",
        name,
    ]))?;
    // Cargo keeps each feature set's module under its own hash in `deps/`
    // and links the latest one here, so this file is `name`'s module.
    Ok(format!("target/{WASM_TARGET}/release/sdbe_widgets.wasm"))
}

/// Builds, binds and shrinks the bundle of the widget called `name`.
fn build_bundle(name: &str) -> Result<()> {
    let compiled = compile_widget(name)?;
    let out_dir = format!("{BUNDLE_DIR}/{name}");
    let bundle = format!("{out_dir}/sdbe_widgets_bg.wasm");
    if modified(Path::new(&bundle)) >= modified(Path::new(&compiled)) {
        return Ok(());
    }
    run(cmd("wasm-bindgen").args([
        "--target",
        "web",
        "--no-typescript",
        "--out-dir",
        &out_dir,
        "--out-name",
        "sdbe_widgets",
        &compiled,
    ]))?;
    // wasm-opt reads the features the module uses from its target_features section.
    run(cmd("wasm-opt").args(["-Oz", "--strip-debug", "--output", &bundle, &bundle]))?;
    let size = fs::metadata(&bundle)?.len();
    eprintln!("widget bundle: {bundle} ({} KB)", size / 1024);
    Ok(())
}

/// Removes the one bundle for every widget that earlier builds wrote to
/// `src/widgets/`, so the book does not ship it beside the per-widget ones.
fn remove_single_bundle() -> Result<()> {
    for file in ["sdbe_widgets.js", "sdbe_widgets_bg.wasm"] {
        let path = Path::new(BUNDLE_DIR).join(file);
        if path.exists() {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Builds the book into `book/`.
pub(crate) fn build_book() -> Result<()> {
    trim_highlight()?;
    write_head()?;
    step("building the book (mdbook build)");
    run(cmd("mdbook").arg("build"))
}

/// Serves the book with live reload until interrupted.
pub(crate) fn serve() -> Result<()> {
    trim_highlight()?;
    write_head()?;
    step("serving on http://127.0.0.1:3000 (Ctrl-C stops)");
    run(cmd("mdbook").args(["serve", "--hostname", "127.0.0.1", "--port", "3000"]))
}

fn modified(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The widget loader, which `theme/head.hbs` carries into every page's head.
const LOADER_JS: &str = "theme/loader.js";
/// The custom part of every page's head, which mdBook reads from the theme.
const HEAD_HBS: &str = "theme/head.hbs";
/// The book's source folder.
const BOOK_SRC: &str = "src";

/// Writes `theme/head.hbs`: the widget loader, and a call that starts loading
/// the bundles of the page's widgets from the head.
///
/// mdBook fills in `{{path}}`, the chapter's source path, and `{{path_to_root}}`
/// for each page, and the map from source paths to widgets picks the page's
/// widgets. A page missing from the map loads each bundle at its first
/// placeholder.
fn write_head() -> Result<()> {
    let loader =
        fs::read_to_string(LOADER_JS).with_context(|| format!("failed to read {LOADER_JS}"))?;
    let head = head_template(&loader, &widget_pages(Path::new(BOOK_SRC))?)?;
    // Rewriting an unchanged file would make `mdbook serve` rebuild.
    if fs::read_to_string(HEAD_HBS).ok().as_deref() != Some(head.as_str()) {
        fs::write(HEAD_HBS, head).with_context(|| format!("failed to write {HEAD_HBS}"))?;
    }
    Ok(())
}

/// Returns the widgets of every chapter under `src` that shows one, by the
/// chapter's path relative to `src` with `/` between folders.
fn widget_pages(src: &Path) -> Result<BTreeMap<String, Vec<String>>> {
    let mut pages = BTreeMap::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = fs::read_dir(&folder)
            .with_context(|| format!("failed to list {}", folder.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "md") {
                continue;
            }
            let content = fs::read_to_string(&path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            let names = mdbook_sdbe::widget_names(&content);
            if names.is_empty() {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap_or(&path);
            let key: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            pages.insert(key.join("/"), names);
        }
    }
    Ok(pages)
}

/// Renders the head: the loader, then a `preload` call for the page's widgets.
fn head_template(loader: &str, pages: &BTreeMap<String, Vec<String>>) -> Result<String> {
    let map = serde_json::to_string(pages)?;
    // Handlebars would take a `{{` or `}}` in the map for an expression.
    if map.contains("{{") || map.contains("}}") {
        bail!(
            "invalid chapter path or widget name: it contains `{{{{` or `}}}}`, which Handlebars \
             reads as an expression, so rename it. The map: {map}"
        );
    }
    Ok(format!(
        "<!-- Written by `cargo xtask build` from {LOADER_JS}; edit that file instead. -->
         <script>
{loader}         window.sdbeWidgets.preload('{{{{path_to_root}}}}', {map}['{{{{path}}}}']);
         </script>
"
    ))
}

/// The theme's highlight.js, which mdBook uses in place of its own.
const HIGHLIGHT_JS: &str = "theme/highlight.js";

/// The highlight.js languages the book keeps, by the name each registers.
///
/// mdBook's highlight.js (version 10.1.1 in mdBook 0.5.4) registers 48
/// languages and weighs about 46 KB gzip on every page. Keeping these cuts
/// it to about 18 KB. A code block in another language stays plain, and
/// highlight.js warns in the console, which the browser tests catch.
const HIGHLIGHT_LANGUAGES: &[&str] = &[
    "bash",
    "css",
    "diff",
    "go",
    "http",
    "ini",
    "javascript",
    "json",
    "nginx",
    "plaintext",
    "python",
    "python-repl",
    "rust",
    "shell",
    "sql",
    "xml",
    "yaml",
];

/// Writes `theme/highlight.js`: mdBook's own file with only the languages in
/// [`HIGHLIGHT_LANGUAGES`]. Without it, mdBook ships its full file.
fn trim_highlight() -> Result<()> {
    let scratch = Path::new("target/mdbook-theme");
    let source = scratch.join("theme/highlight.js");
    if !source.exists() {
        let _ = fs::remove_dir_all(scratch);
        run(cmd("mdbook")
            .args(["init", "--theme", "--force", "--ignore", "none"])
            .args(["--title", "theme"])
            .arg(scratch))?;
    }
    let full = fs::read_to_string(&source)
        .with_context(|| format!("`mdbook init --theme` wrote no {}", source.display()))?;
    let trimmed = keep_languages(&full, HIGHLIGHT_LANGUAGES)?;
    // Rewriting an unchanged file would make `mdbook serve` rebuild.
    if fs::read_to_string(HIGHLIGHT_JS).ok().as_deref() != Some(trimmed.as_str()) {
        fs::write(HIGHLIGHT_JS, trimmed)
            .with_context(|| format!("failed to write {HIGHLIGHT_JS}"))?;
    }
    Ok(())
}

/// Drops from a highlight.js build every language not in `keep`.
///
/// mdBook's file puts each `hljs.registerLanguage("NAME", ...)` call on a line
/// of its own after the core, so the lines to drop are those calls.
fn keep_languages(full: &str, keep: &[&str]) -> Result<String> {
    let mut found = Vec::new();
    let mut kept = String::with_capacity(full.len());
    for line in full.lines() {
        if let Some(name) = registered_language(line) {
            if !keep.contains(&name) {
                continue;
            }
            found.push(name);
        }
        kept.push_str(line);
        kept.push('\n');
    }
    if let Some(missing) = keep.iter().find(|name| !found.contains(name)) {
        bail!("mdBook's highlight.js registers no language `{missing}`");
    }
    Ok(kept)
}

/// Returns the language a `hljs.registerLanguage("NAME", ...)` line registers.
fn registered_language(line: &str) -> Option<&str> {
    line.strip_prefix("hljs.registerLanguage(\"")?
        .split('"')
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD: &str = "/* header */\nvar hljs=function(){}();\n\
        hljs.registerLanguage(\"go\",function(){}());\n\
        hljs.registerLanguage(\"lua\",function(){}());\n\
        hljs.registerLanguage(\"python\",function(){}());\n";

    #[test]
    fn head_preloads_the_page_from_the_map() {
        let pages = BTreeMap::from([("a/b.md".to_string(), vec!["queue".to_string()])]);

        let head = head_template("LOADER\n", &pages).unwrap();

        assert!(head.contains("<script>\nLOADER\n"), "{head}");
        assert!(
            head.contains("preload('{{path_to_root}}', {\"a/b.md\":[\"queue\"]}['{{path}}']);"),
            "{head}"
        );
    }

    #[test]
    fn head_rejects_braces_that_handlebars_would_read() {
        let pages = BTreeMap::from([("}}.md".to_string(), vec!["queue".to_string()])]);

        assert!(head_template("", &pages).is_err());
    }

    #[test]
    fn widget_pages_maps_chapters_to_their_widgets() {
        let src = std::env::temp_dir().join(format!("sdbe-pages-{}", std::process::id()));
        let _ = fs::remove_dir_all(&src);
        fs::create_dir_all(src.join("beginner")).unwrap();
        fs::write(src.join("SUMMARY.md"), "# Summary\n").unwrap();
        fs::write(src.join("beginner/q.md"), "{{#widget queue}}\n").unwrap();

        let pages = widget_pages(&src).unwrap();
        fs::remove_dir_all(&src).unwrap();

        assert_eq!(
            pages,
            BTreeMap::from([("beginner/q.md".to_string(), vec!["queue".to_string()])])
        );
    }

    #[test]
    fn keep_languages_drops_the_rest() {
        let kept = keep_languages(BUILD, &["go", "python"]).unwrap();
        assert!(kept.starts_with("/* header */\nvar hljs=function(){}();\n"));
        assert!(kept.contains("registerLanguage(\"go\""));
        assert!(kept.contains("registerLanguage(\"python\""));
        assert!(!kept.contains("lua"));
    }

    #[test]
    fn keep_languages_rejects_a_missing_language() {
        let err = keep_languages(BUILD, &["go", "haskell"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mdBook's highlight.js registers no language `haskell`"
        );
    }
}
