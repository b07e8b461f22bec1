//! Building the widget bundle and the book, and serving it.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;

use crate::tools::{cmd, run, step};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Bundle folder in the book's source, which mdBook copies without hashing.
const BUNDLE_DIR: &str = "src/widgets";

/// Builds the widgets in release mode, then binds and shrinks the bundle.
///
/// wasm-bindgen and wasm-opt run only when the compiled module is newer than
/// the bundle, so an unchanged tree rebuilds in about a second.
pub(crate) fn build_widgets() -> Result<()> {
    step("building the widget bundle (release, wasm32)");
    run(cmd("cargo").args([
        "build",
        "--quiet",
        "--release",
        "--package",
        "sdbe-widgets",
        "--target",
        WASM_TARGET,
    ]))?;
    let compiled = format!("target/{WASM_TARGET}/release/sdbe_widgets.wasm");
    let bundle = format!("{BUNDLE_DIR}/sdbe_widgets_bg.wasm");
    if modified(Path::new(&bundle)) >= modified(Path::new(&compiled)) {
        return Ok(());
    }
    run(cmd("wasm-bindgen").args([
        "--target",
        "web",
        "--no-typescript",
        "--out-dir",
        BUNDLE_DIR,
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

/// Builds the book into `book/`.
pub(crate) fn build_book() -> Result<()> {
    step("building the book (mdbook build)");
    run(cmd("mdbook").arg("build"))
}

/// Serves the book with live reload until interrupted.
pub(crate) fn serve() -> Result<()> {
    step("serving on http://127.0.0.1:3000 (Ctrl-C stops)");
    run(cmd("mdbook").args(["serve", "--hostname", "127.0.0.1", "--port", "3000"]))
}

fn modified(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}
