//! Browser measurements, run by tests/browser/bench.mjs, and the page weights read from them.

use super::*;

/// Fetches the Mermaid runtime that stock mdbook-mermaid adds to every page,
/// for the side-by-side page weight, and returns its path.
///
/// The book draws its diagrams at build time and never loads this file.
pub(super) fn stock_mermaid_runtime() -> Result<PathBuf> {
    tools::cargo_install("mdbook-mermaid", tools::MDBOOK_MERMAID_VERSION, true)?;
    let scratch = Path::new(WORK_DIR).join("mermaid-install");
    let runtime = scratch.join("mermaid.min.js");
    if runtime.exists() {
        return Ok(fs::canonicalize(runtime)?);
    }
    fs::create_dir_all(&scratch)?;
    fs::write(
        scratch.join("book.toml"),
        "[book]\ntitle = \"mermaid runtime\"\n",
    )?;
    tools::run(cmd("mdbook-mermaid").arg("install").arg(&scratch))?;
    fs::canonicalize(&runtime).context("mdbook-mermaid install did not write mermaid.min.js")
}

/// Runs tests/browser/bench.mjs and returns the runs it recorded.
pub(super) fn measure_in_browser(quick: bool) -> Result<Value> {
    step("browser measurements (headless Chromium)");
    let browser = tools::browser().context("no Chromium found after installing it")?;
    let out = Path::new(WORK_DIR).join("browser.json");
    let mut command = cmd("node");
    command
        .arg("tests/browser/bench.mjs")
        .arg("--out")
        .arg(&out)
        .env("SDBE_CHROMIUM", browser)
        .env("SDBE_MERMAID_RUNTIME", stock_mermaid_runtime()?);
    if quick {
        command.arg("--quick");
    }
    run_to_stderr(&mut command)?;
    read_json(&out)
}

/// A page's weight in one run: gzip bytes by resource type.
#[derive(Default)]
pub(super) struct Weight {
    pub(super) by_type: Vec<(String, f64)>,
    pub(super) widget_bundle: f64,
    pub(super) total: f64,
}

/// Resource types, in the order the page-weight table shows them.
pub(super) const RESOURCE_TYPES: &[&str] =
    &["html", "css", "js", "wasm", "diagrams", "fonts", "other"];

pub(super) fn page_weight(run: &Value) -> Result<Weight> {
    let mut weight = Weight {
        by_type: RESOURCE_TYPES
            .iter()
            .map(|t| (t.to_string(), 0.0))
            .collect(),
        ..Weight::default()
    };
    for resource in array(run, "resources")? {
        let path = text(resource, "path")?;
        let kind = text(resource, "category")?;
        let gzip = number(resource, "gzip")?;
        let slot = weight
            .by_type
            .iter_mut()
            .find(|(t, _)| t == kind)
            .with_context(|| format!("unknown resource type `{kind}` for {path}"))?;
        slot.1 += gzip;
        weight.total += gzip;
        if path.starts_with("widgets/")
            && (path.ends_with("/sdbe_widgets.js") || path.ends_with("/sdbe_widgets_bg.wasm"))
        {
            weight.widget_bundle += gzip;
        }
    }
    Ok(weight)
}

/// The weight of a page under stock mdbook-mermaid, which loads the Mermaid
/// runtime on every page and draws the diagrams in the browser instead.
pub(super) fn stock_weight(run: &Value, runtime_gzip: f64) -> Result<f64> {
    Ok(page_weight(run)?.total - type_bytes(run, "diagrams")? + runtime_gzip)
}

/// Summarizes one figure over a widget's or page's runs.
pub(super) fn stats_of(runs: &[Value], figure: impl Fn(&Value) -> Result<f64>) -> Result<Stats> {
    let values = runs.iter().map(figure).collect::<Result<Vec<_>>>()?;
    Stats::of(&values)
}
