//! `cargo xtask bench`: measures the built book, the widget bundle, the
//! widgets in headless Chromium, the engines and the book build against their
//! budgets, prints the results as Markdown and writes them to BENCHMARKS.md.
//!
//! Missing a budget is reported, not an error. A measurement that cannot be
//! taken is an error, so the command then exits non-zero.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::tools::{self, cmd, command_line, step};

/// Where the bench keeps its intermediate files.
const WORK_DIR: &str = "target/bench";
/// The report the command writes, at the repository root.
const REPORT: &str = "BENCHMARKS.md";
/// The shipped widget bundle, as mdBook copied it into the book.
const BUNDLE_WASM: &str = "book/widgets/sdbe_widgets_bg.wasm";
/// The compiled widget module before wasm-bindgen and wasm-opt, with names.
const COMPILED_WASM: &str = "target/wasm32-unknown-unknown/release/sdbe_widgets.wasm";
/// Runs of `mdbook build` after the first one, which the budget applies to.
const INCREMENTAL_BUILDS: usize = 5;
/// Functions listed from `twiggy top`.
const TOP_FUNCTIONS: usize = 10;
/// Widgets the book plans at larger sizes, which the frame budget is meant for.
const PLANNED_WIDGETS: &[(&str, &str)] = &[("gossip", "100 nodes"), ("raft", "9 nodes")];
/// The first-time setup figure, which cannot be measured again on a machine
/// that has the tools installed.
const SETUP_NOTE: &str = "not measured by this command. On 2026-12-04 a fresh clone, \
    with the tools already installed, ran `bash .ci/run` in 6 min 55 s, and installing \
    mdbook, mdbook-mermaid and wasm-bindgen-cli from scratch took about 14 min";

const KB: f64 = 1024.0;
const MB: f64 = 1024.0 * 1024.0;

/// Runs every measurement, then prints the report and writes BENCHMARKS.md.
///
/// `quick` shortens the memory runs from 5 minutes to 30 seconds each.
pub(crate) fn bench(quick: bool) -> Result<()> {
    tools::book_tools()?;
    tools::browser_tools()?;
    let book_built = book_build_time()?;
    fs::create_dir_all(WORK_DIR).with_context(|| format!("failed to create {WORK_DIR}"))?;

    let header = Header::read(quick, book_built)?;
    let builds = measure_book_builds()?;
    let engines = measure_engines()?;
    let functions = largest_functions()?;
    let browser = measure_in_browser(quick)?;

    let report = render(&header, &builds, &engines, &functions, &browser)?;
    print!("{report}");
    fs::write(REPORT, &report).with_context(|| format!("failed to write {REPORT}"))?;
    eprintln!("\nwrote {REPORT}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Statistics and table rows

/// Median, minimum and maximum of a set of runs.
#[derive(Debug, Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    runs: usize,
}

impl Stats {
    /// A figure measured once.
    fn single(value: f64) -> Self {
        Self {
            median: value,
            min: value,
            max: value,
            runs: 1,
        }
    }

    fn of(values: &[f64]) -> Result<Self> {
        if values.is_empty() {
            bail!("no runs to summarize");
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 0 {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        } else {
            sorted[middle]
        };
        Ok(Self {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            runs: sorted.len(),
        })
    }
}

/// How a figure is printed.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// Bytes, printed in KB of 1024 bytes.
    Kilobytes,
    /// Bytes, printed in MB of 1024 × 1024 bytes with a sign.
    Megabytes,
    Milliseconds,
    Seconds,
    StepsPerSecond,
}

impl Unit {
    fn format(self, value: f64) -> String {
        match self {
            Self::Kilobytes => format!("{:.1} KB", value / KB),
            Self::Megabytes => format!("{:+.2} MB", value / MB),
            Self::Milliseconds if value < 10.0 => format!("{value:.2} ms"),
            Self::Milliseconds if value < 100.0 => format!("{value:.1} ms"),
            Self::Milliseconds => format!("{value:.0} ms"),
            Self::Seconds => format!("{value:.2} s"),
            Self::StepsPerSecond if value >= 1e6 => format!("{:.2} M steps/s", value / 1e6),
            Self::StepsPerSecond => format!("{:.0} k steps/s", value / 1e3),
        }
    }
}

/// One line of the results table, formatted.
struct Row {
    section: usize,
    measure: String,
    median: String,
    range: String,
    budget: String,
    met: String,
}

impl Row {
    /// A measured figure; the budget, if any, is an upper bound on the median.
    fn measured(
        section: usize,
        measure: impl Into<String>,
        stats: Stats,
        unit: Unit,
        budget: Option<f64>,
    ) -> Self {
        let range = if stats.runs == 1 {
            "one measurement".to_string()
        } else {
            format!("{} – {}", unit.format(stats.min), unit.format(stats.max))
        };
        Self {
            section,
            measure: measure.into(),
            median: unit.format(stats.median),
            range,
            budget: budget.map_or("–".to_string(), |b| format!("≤ {}", unit.format(b))),
            met: match budget {
                None => "–".to_string(),
                Some(b) if stats.median <= b => "yes".to_string(),
                Some(_) => "**no**".to_string(),
            },
        }
    }

    /// A line without a measurement: a note in place of the figure.
    fn note(section: usize, measure: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            section,
            measure: measure.into(),
            median: text.into(),
            range: "–".to_string(),
            budget: "–".to_string(),
            met: "–".to_string(),
        }
    }
}

// ---------------------------------------------------------------------------
// The machine and the date

struct Header {
    cpu: String,
    cores: usize,
    ram_bytes: f64,
    date: String,
    command: String,
    quick: bool,
    book_built: String,
}

impl Header {
    fn read(quick: bool, book_built: String) -> Result<Self> {
        let cpuinfo =
            fs::read_to_string("/proc/cpuinfo").context("failed to read /proc/cpuinfo")?;
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, model)| model.trim().to_string())
            .context("/proc/cpuinfo has no `model name` line")?;
        let cores = cpuinfo
            .lines()
            .filter(|line| line.starts_with("processor"))
            .count();
        let meminfo =
            fs::read_to_string("/proc/meminfo").context("failed to read /proc/meminfo")?;
        let ram_kib: f64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .context("/proc/meminfo has no readable `MemTotal` line")?;
        let mut command = "cargo xtask bench".to_string();
        if quick {
            command.push_str(" --quick");
        }
        Ok(Self {
            cpu,
            cores,
            ram_bytes: ram_kib * 1024.0,
            date: shell_date(&["+%Y-%m-%d"])?,
            command,
            quick,
            book_built,
        })
    }
}

/// Runs `date -u` with `args`, which avoids a date library for two strings.
fn shell_date(args: &[&str]) -> Result<String> {
    let mut command = Command::new("date");
    command.arg("-u").args(args);
    let out = tools::output(&mut command)
        .with_context(|| format!("`{}` failed", command_line(&command)))?;
    Ok(out.trim().to_string())
}

/// Returns when the book in `book/` was built, and fails if it was not.
fn book_build_time() -> Result<String> {
    for needed in ["book/index.html", BUNDLE_WASM] {
        if !Path::new(needed).exists() {
            bail!("{needed} is missing: run `cargo xtask build` first, the bench measures book/");
        }
    }
    shell_date(&["-r", "book/index.html", "+%Y-%m-%d %H:%M UTC"])
}

// ---------------------------------------------------------------------------
// Running commands

/// Runs a command with its standard output sent to standard error, so that
/// standard output carries only the report.
fn run_to_stderr(command: &mut Command) -> Result<()> {
    command.stdout(Stdio::from(std::io::stderr()));
    tools::run(command)
}

/// Runs a command quietly and fails with the end of its output if it fails.
fn run_quietly(command: &mut Command) -> Result<()> {
    let line = command_line(command);
    let out = command
        .output()
        .with_context(|| format!("failed to start `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed with {}:\n{}",
            out.status,
            last_lines(&String::from_utf8_lossy(&out.stderr), 20)
        );
    }
    Ok(())
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

// ---------------------------------------------------------------------------
// 7. Book build time

struct BookBuilds {
    first_s: f64,
    incremental: Stats,
}

/// Times `mdbook build` into a scratch folder: once, then INCREMENTAL_BUILDS
/// more times into the same folder.
fn measure_book_builds() -> Result<BookBuilds> {
    step("timing `mdbook build`");
    let dest = std::env::temp_dir().join(format!("sdbe-bench-book-{}", std::process::id()));
    let mut times = Vec::new();
    for run in 0..=INCREMENTAL_BUILDS {
        eprintln!(
            "mdbook build: run {} of {}",
            run + 1,
            INCREMENTAL_BUILDS + 1
        );
        let start = Instant::now();
        run_quietly(cmd("mdbook").arg("build").arg("--dest-dir").arg(&dest))?;
        times.push(start.elapsed().as_secs_f64());
    }
    fs::remove_dir_all(&dest).with_context(|| format!("failed to remove {}", dest.display()))?;
    Ok(BookBuilds {
        first_s: times[0],
        incremental: Stats::of(&times[1..])?,
    })
}

// ---------------------------------------------------------------------------
// 6. Engine throughput

struct EngineResult {
    name: &'static str,
    /// The benchmark's parameters as criterion recorded them, or `None` when
    /// no benchmark exists for this engine.
    measured: Option<(String, Stats)>,
}

/// Runs the criterion benchmark and reads steps per second for every engine
/// in the registry from criterion's per-sample timings.
fn measure_engines() -> Result<Vec<EngineResult>> {
    step("engine throughput (cargo bench, criterion)");
    let home = Path::new(WORK_DIR).join("criterion");
    if home.exists() {
        fs::remove_dir_all(&home)
            .with_context(|| format!("failed to remove {}", home.display()))?;
    }
    run_to_stderr(
        cmd("cargo")
            .args(["bench", "--package", "sim", "--bench", "engines"])
            .env("CRITERION_HOME", &home),
    )?;

    let found = criterion_results(&home.join("engines"))?;
    Ok(sim::registry::names()
        .into_iter()
        .map(|name| EngineResult {
            name,
            measured: found
                .iter()
                .find(|(id, _, _)| id == name)
                .map(|(_, params, stats)| (params.clone(), *stats)),
        })
        .collect())
}

/// Reads every benchmark of the `engines` group: its id, its parameters and
/// its steps per second over criterion's samples.
fn criterion_results(group: &Path) -> Result<Vec<(String, String, Stats)>> {
    let mut results = Vec::new();
    let entries = fs::read_dir(group)
        .with_context(|| format!("criterion wrote no results in {}", group.display()))?;
    for entry in entries {
        let dir = entry?.path().join("new");
        if !dir.join("sample.json").exists() {
            continue;
        }
        let info = read_json(&dir.join("benchmark.json"))?;
        let id = text(&info, "function_id")?.to_string();
        let params = info
            .get("value_str")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        results.push((id, params, steps_per_second(&dir.join("sample.json"))?));
    }
    Ok(results)
}

/// Converts criterion's samples, each `iters` steps taking `times` ns, into
/// steps per second.
fn steps_per_second(path: &Path) -> Result<Stats> {
    let sample = read_json(path)?;
    let iters = numbers(array(&sample, "iters")?)?;
    let times = numbers(array(&sample, "times")?)?;
    if iters.len() != times.len() {
        bail!("{}: `iters` and `times` differ in length", path.display());
    }
    let rates: Vec<f64> = iters
        .iter()
        .zip(&times)
        .map(|(steps, ns)| steps / ns * 1e9)
        .collect();
    Stats::of(&rates).with_context(|| format!("{} has no samples", path.display()))
}

// ---------------------------------------------------------------------------
// 2. Largest functions in the widget bundle

/// One function from `twiggy top`.
struct Function {
    name: String,
    bytes: f64,
}

/// What `twiggy top` found, or why it could not run.
enum Functions {
    Listed {
        functions: Vec<Function>,
        /// Whether the compiled module, optimized as the build does, equals
        /// the shipped bundle byte for byte.
        matches_bundle: bool,
    },
    InstallFailed(String),
}

/// Lists the largest functions of the bundle with `twiggy top`.
///
/// The shipped bundle has no names, because wasm-opt drops them, so twiggy
/// would list `code[1156]`. The bench rebuilds the bundle from the compiled
/// module with the same wasm-opt flags plus `-g`, which keeps the names, and
/// checks that the same flags without `-g` reproduce the shipped bundle.
fn largest_functions() -> Result<Functions> {
    step("largest functions in the widget bundle (twiggy top)");
    if let Err(err) = install_twiggy() {
        return Ok(Functions::InstallFailed(format!("{err:#}")));
    }
    if !Path::new(COMPILED_WASM).exists() {
        bail!("{COMPILED_WASM} is missing: run `cargo xtask build` first");
    }
    let dir = Path::new(WORK_DIR).join("named");
    run_quietly(
        cmd("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--out-name",
                "sdbe_widgets",
            ])
            .arg("--out-dir")
            .arg(&dir)
            .arg(COMPILED_WASM),
    )?;
    let bound = dir.join("sdbe_widgets_bg.wasm");
    let named = dir.join("named.wasm");
    let plain = dir.join("plain.wasm");
    run_quietly(
        cmd("wasm-opt")
            .args(["-Oz", "-g", "--output"])
            .arg(&named)
            .arg(&bound),
    )?;
    run_quietly(
        cmd("wasm-opt")
            .args(["-Oz", "--strip-debug", "--output"])
            .arg(&plain)
            .arg(&bound),
    )?;
    let matches_bundle = read_bytes(&plain)? == read_bytes(Path::new(BUNDLE_WASM))?;
    Ok(Functions::Listed {
        functions: twiggy_top(&named)?,
        matches_bundle,
    })
}

fn install_twiggy() -> Result<()> {
    if tools::output(cmd("twiggy").arg("--version")).is_some() {
        return Ok(());
    }
    step("installing twiggy (cargo install twiggy --locked)");
    run_quietly(cmd("cargo").args(["install", "twiggy", "--locked"]))
}

/// Returns the largest functions, leaving out custom sections and data.
fn twiggy_top(wasm: &Path) -> Result<Vec<Function>> {
    let mut command = cmd("twiggy");
    command.args(["top", "--format", "json"]).arg(wasm);
    let line = command_line(&command);
    let out = tools::output(&mut command).with_context(|| format!("`{line}` failed"))?;
    let items: Value =
        serde_json::from_str(&out).with_context(|| format!("`{line}` printed invalid JSON"))?;
    let items = items.as_array().context("twiggy's JSON is not an array")?;
    let mut functions = Vec::new();
    for item in items {
        let name = text(item, "name")?;
        let is_function = !name.contains("subsection")
            && !name.starts_with("custom section")
            && !name.starts_with("data segment")
            && !name.starts_with("data[")
            && !name.starts_with("table[")
            && !name.starts_with("elem[");
        if is_function {
            functions.push(Function {
                name: short_symbol(name),
                bytes: number(item, "shallow_size")?,
            });
        }
        if functions.len() == TOP_FUNCTIONS {
            break;
        }
    }
    Ok(functions)
}

/// Drops the hash suffixes (`::h0123…`) and crate disambiguators (`[c593…]`)
/// that make Rust symbols long.
fn short_symbol(name: &str) -> String {
    let hash = regex::Regex::new(r"::h[0-9a-f]{16}$").expect("a valid regex");
    let crate_id = regex::Regex::new(r"\[[0-9a-f]{16}\]").expect("a valid regex");
    let name = hash.replace(name, "");
    crate_id.replace_all(&name, "").into_owned()
}

// ---------------------------------------------------------------------------
// 1, 3, 4, 5. Browser measurements

/// Runs tests/browser/bench.mjs and returns the runs it recorded.
fn measure_in_browser(quick: bool) -> Result<Value> {
    step("browser measurements (headless Chromium)");
    let browser = tools::browser().context("no Chromium found after installing it")?;
    let out = Path::new(WORK_DIR).join("browser.json");
    let mut command = cmd("node");
    command
        .arg("tests/browser/bench.mjs")
        .arg("--out")
        .arg(&out)
        .env("SDBE_CHROMIUM", browser);
    if quick {
        command.arg("--quick");
    }
    run_to_stderr(&mut command)?;
    read_json(&out)
}

/// A page's weight in one run: gzip bytes by resource type.
#[derive(Default)]
struct Weight {
    by_type: Vec<(String, f64)>,
    widget_bundle: f64,
    total: f64,
}

/// Resource types, in the order the page-weight table shows them.
const RESOURCE_TYPES: &[&str] = &["html", "css", "js", "wasm", "diagrams", "fonts", "other"];

fn page_weight(run: &Value) -> Result<Weight> {
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
        if path.ends_with("widgets/sdbe_widgets.js")
            || path.ends_with("widgets/sdbe_widgets_bg.wasm")
        {
            weight.widget_bundle += gzip;
        }
    }
    Ok(weight)
}

/// Summarizes one figure over a widget's or page's runs.
fn stats_of(runs: &[Value], figure: impl Fn(&Value) -> Result<f64>) -> Result<Stats> {
    let values = runs.iter().map(figure).collect::<Result<Vec<_>>>()?;
    Stats::of(&values)
}

// ---------------------------------------------------------------------------
// The report

fn render(
    header: &Header,
    builds: &BookBuilds,
    engines: &[EngineResult],
    functions: &Functions,
    browser: &Value,
) -> Result<String> {
    let mut rows = page_weight_rows(browser)?;
    rows.extend(bundle_rows(browser, functions)?);
    rows.extend(first_frame_rows(browser)?);
    rows.extend(frame_cost_rows(browser)?);
    rows.extend(memory_rows(browser, header.quick)?);
    rows.extend(engine_rows(engines));
    rows.extend(build_rows(builds));

    let mut out = String::new();
    write_header(&mut out, header, browser)?;
    write_table(&mut out, &rows);
    write_page_weights(&mut out, browser)?;
    write_bundle(&mut out, browser, functions)?;
    write_frame_details(&mut out, browser)?;
    write_memory_details(&mut out, browser)?;
    write_method(&mut out, browser)?;
    Ok(out)
}

fn write_header(out: &mut String, header: &Header, browser: &Value) -> Result<()> {
    let runs = number(browser, "runs")?;
    writeln!(out, "# Benchmarks\n")?;
    writeln!(
        out,
        "- Machine: {}, {} cores, {:.1} GiB RAM",
        header.cpu,
        header.cores,
        header.ram_bytes / (KB * MB)
    )?;
    writeln!(out, "- Date: {}", header.date)?;
    writeln!(out, "- Command: `{}`", header.command)?;
    writeln!(out, "- Book: `book/` as built at {}", header.book_built)?;
    writeln!(out, "- Browser: {}", text(browser, "userAgent")?)?;
    if header.quick {
        writeln!(
            out,
            "- **Quick run**: each memory run animates for {} s instead of 5 minutes",
            number(
                browser.pointer("/memory").context("no memory results")?,
                "seconds"
            )?
        )?;
    }
    writeln!(
        out,
        "\nEach figure is the median of {runs} runs, shown with the minimum and maximum, \
         unless the table says otherwise. A budget is met when the median is within it. \
         1 KB is 1024 bytes and 1 MB is 1024 KB. Sizes are gzip at zlib level 6 unless \
         marked raw.\n"
    )?;
    Ok(())
}

fn write_table(out: &mut String, rows: &[Row]) {
    out.push_str("| # | Measure | Median | Min – max | Budget | Met |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.section, row.measure, row.median, row.range, row.budget, row.met
        );
    }
}

fn page_weight_rows(browser: &Value) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mermaid = number(
        browser
            .pointer("/mermaidRuntime")
            .context("no mermaidRuntime")?,
        "gzip",
    )?;
    for page in array(browser, "pageWeight")? {
        let label = text(page, "label")?;
        let path = text(page, "path")?;
        let runs = array(page, "runs")?;
        let total = stats_of(runs, |run| Ok(page_weight(run)?.total))?;
        match label {
            "typical" => {
                let budget = Some(300.0 * KB);
                rows.push(Row::measured(
                    1,
                    format!("Typical page `{path}`, cold cache"),
                    total,
                    Unit::Kilobytes,
                    budget,
                ));
                let without = stats_of(runs, |run| {
                    let weight = page_weight(run)?;
                    Ok(weight.total - weight.widget_bundle)
                })?;
                rows.push(Row::measured(
                    1,
                    "… the same page without the widget bundle",
                    without,
                    Unit::Kilobytes,
                    budget,
                ));
                let diagrams = stats_of(runs, |run| type_bytes(run, "diagrams"))?;
                rows.push(Row::measured(
                    1,
                    "… of which mdbook-mermaid's `mermaid.min.js`",
                    diagrams,
                    Unit::Kilobytes,
                    None,
                ));
            }
            "heaviest" => rows.push(Row::measured(
                1,
                format!("Heaviest page `{path}`"),
                total,
                Unit::Kilobytes,
                None,
            )),
            _ => {
                rows.push(Row::measured(
                    1,
                    format!("Page without widgets `{path}`"),
                    total,
                    Unit::Kilobytes,
                    None,
                ));
                let stock = stats_of(runs, |run| {
                    Ok(page_weight(run)?.total + mermaid - type_bytes(run, "diagrams")?)
                })?;
                rows.push(Row::measured(
                    1,
                    format!("… `{path}` with stock mdbook-mermaid (computed)"),
                    stock,
                    Unit::Kilobytes,
                    None,
                ));
            }
        }
    }
    Ok(rows)
}

fn type_bytes(run: &Value, kind: &str) -> Result<f64> {
    let weight = page_weight(run)?;
    Ok(weight
        .by_type
        .iter()
        .find(|(t, _)| t == kind)
        .map_or(0.0, |(_, bytes)| *bytes))
}

fn bundle_rows(browser: &Value, functions: &Functions) -> Result<Vec<Row>> {
    let size = |file: &str, key: &str| -> Result<f64> {
        number(
            browser
                .pointer(&format!("/bundle/{file}"))
                .context("no bundle sizes")?,
            key,
        )
    };
    let gzip = size("wasm", "gzip")? + size("js", "gzip")?;
    let raw = size("wasm", "raw")? + size("js", "raw")?;
    let mut rows = vec![
        Row::measured(
            2,
            "Widget bundle (wasm + JS)",
            Stats::single(gzip),
            Unit::Kilobytes,
            Some(200.0 * KB),
        ),
        Row::measured(
            2,
            "Widget bundle (wasm + JS), raw",
            Stats::single(raw),
            Unit::Kilobytes,
            None,
        ),
    ];
    match functions {
        Functions::Listed { functions, .. } => {
            if let Some(largest) = functions.first() {
                let text = format!("`{}`: {:.1} KB raw", largest.name, largest.bytes / KB);
                rows.push(Row::note(
                    2,
                    "Largest function (twiggy top, see below)",
                    text,
                ));
            }
        }
        Functions::InstallFailed(err) => rows.push(Row::note(
            2,
            "Largest functions (twiggy top)",
            format!(
                "not measured: `cargo install twiggy --locked` failed: {}",
                one_line(err)
            ),
        )),
    }
    Ok(rows)
}

fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn first_frame_rows(browser: &Value) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for widget in array(browser, "firstFrame")? {
        let stats = stats_of(array(widget, "runs")?, |run| number(run, "frame"))?;
        let measure = format!(
            "First frame of `{}` (`{}`) from navigation start",
            text(widget, "widget")?,
            text(widget, "path")?
        );
        rows.push(Row::measured(
            3,
            measure,
            stats,
            Unit::Milliseconds,
            Some(300.0),
        ));
    }
    Ok(rows)
}

fn settings_text(widget: &Value) -> Result<String> {
    let settings = widget
        .get("settings")
        .and_then(Value::as_object)
        .context("a frame-cost result has no `settings`")?;
    if settings.is_empty() {
        return Ok("chapter's settings".to_string());
    }
    Ok(settings
        .iter()
        .map(|(field, value)| format!("{field} = {value}"))
        .collect::<Vec<_>>()
        .join(", "))
}

fn frame_cost_rows(browser: &Value) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for widget in array(browser, "frameCost")? {
        let name = text(widget, "widget")?;
        let settings = settings_text(widget)?;
        let runs = array(widget, "runs")?;
        let p50 = stats_of(runs, |run| number(run, "p50"))?;
        let p95 = stats_of(runs, |run| number(run, "p95"))?;
        let longest = stats_of(runs, |run| number(run, "longestTask"))?;
        rows.push(Row::measured(
            4,
            format!("Frame script + layout p50, `{name}` at 10× ({settings})"),
            p50,
            Unit::Milliseconds,
            None,
        ));
        rows.push(Row::measured(
            4,
            format!("Frame script + layout p95, `{name}`"),
            p95,
            Unit::Milliseconds,
            Some(4.0),
        ));
        rows.push(Row::measured(
            4,
            format!("Longest task, `{name}`"),
            longest,
            Unit::Milliseconds,
            Some(50.0),
        ));
    }
    let names = sim::registry::names();
    for (planned, size) in PLANNED_WIDGETS {
        if !names.iter().any(|name| name.contains(planned)) {
            let text = format!("not measured: no {planned} widget exists yet");
            rows.push(Row::note(
                4,
                format!("Frame cost, {planned} widget with {size}"),
                text,
            ));
        }
    }
    Ok(rows)
}

fn memory_growth(run: &Value) -> Result<f64> {
    let total = |at: &str| -> Result<f64> {
        let sizes = run
            .get(at)
            .with_context(|| format!("a memory run has no `{at}`"))?;
        Ok(number(sizes, "jsHeap")? + number(sizes, "wasm")?)
    };
    Ok(total("after")? - total("before")?)
}

fn memory_rows(browser: &Value, quick: bool) -> Result<Vec<Row>> {
    let memory = browser.get("memory").context("no memory results")?;
    let seconds = number(memory, "seconds")?;
    let length = if quick {
        format!("{seconds:.0} s, quick run")
    } else {
        format!("{:.0} min", seconds / 60.0)
    };
    let mut rows = Vec::new();
    for widget in array(memory, "widgets")? {
        let stats = stats_of(array(widget, "runs")?, memory_growth)?;
        let measure = format!(
            "JS heap + wasm memory growth, `{}` after {length} at 10×",
            text(widget, "widget")?
        );
        rows.push(Row::measured(5, measure, stats, Unit::Megabytes, Some(MB)));
    }
    Ok(rows)
}

fn engine_rows(engines: &[EngineResult]) -> Vec<Row> {
    engines
        .iter()
        .map(|engine| match &engine.measured {
            Some((params, stats)) => Row::measured(
                6,
                format!("Engine `{}` ({params}), native", engine.name),
                *stats,
                Unit::StepsPerSecond,
                None,
            ),
            None => Row::note(
                6,
                format!("Engine `{}`", engine.name),
                "not measured: no benchmark for it in sim/benches/engines.rs",
            ),
        })
        .collect()
}

fn build_rows(builds: &BookBuilds) -> Vec<Row> {
    let first = Stats::single(builds.first_s);
    vec![
        Row::measured(
            7,
            "`mdbook build`, second and later runs",
            builds.incremental,
            Unit::Seconds,
            Some(5.0),
        ),
        Row::measured(
            7,
            "`mdbook build`, first run of this command",
            first,
            Unit::Seconds,
            None,
        ),
        Row::note(7, "First-time setup on a fresh machine", SETUP_NOTE),
    ]
}

fn write_page_weights(out: &mut String, browser: &Value) -> Result<()> {
    writeln!(out, "\n## Page weight by type\n")?;
    writeln!(
        out,
        "Median gzip bytes of each type, in KB; fonts and images are counted raw.\n"
    )?;
    writeln!(out, "| Page | {} | total |", RESOURCE_TYPES.join(" | "))?;
    writeln!(out, "|---|{}---|", "---|".repeat(RESOURCE_TYPES.len()))?;
    for page in array(browser, "pageWeight")? {
        let runs = array(page, "runs")?;
        let mut cells = Vec::new();
        for kind in RESOURCE_TYPES {
            let stats = stats_of(runs, |run| type_bytes(run, kind))?;
            cells.push(format!("{:.1}", stats.median / KB));
        }
        let total = stats_of(runs, |run| Ok(page_weight(run)?.total))?;
        writeln!(
            out,
            "| `{}` | {} | {:.1} |",
            text(page, "path")?,
            cells.join(" | "),
            total.median / KB
        )?;
    }
    Ok(())
}

fn write_bundle(out: &mut String, browser: &Value, functions: &Functions) -> Result<()> {
    writeln!(out, "\n## Widget bundle\n")?;
    writeln!(out, "| File | raw | gzip |\n|---|---|---|")?;
    for (file, path) in [
        ("wasm", "widgets/sdbe_widgets_bg.wasm"),
        ("js", "widgets/sdbe_widgets.js"),
    ] {
        let sizes = browser
            .pointer(&format!("/bundle/{file}"))
            .context("no bundle sizes")?;
        writeln!(
            out,
            "| `{path}` | {:.1} KB | {:.1} KB |",
            number(sizes, "raw")? / KB,
            number(sizes, "gzip")? / KB
        )?;
    }
    let Functions::Listed {
        functions,
        matches_bundle,
    } = functions
    else {
        return Ok(());
    };
    let bundle_bytes = number(
        browser.pointer("/bundle/wasm").context("no bundle sizes")?,
        "raw",
    )?;
    writeln!(out, "\nLargest functions (`twiggy top`, raw bytes):\n")?;
    writeln!(
        out,
        "| Function | bytes | share of the wasm file |\n|---|---|---|"
    )?;
    for function in functions {
        writeln!(
            out,
            "| `{}` | {:.0} | {:.1} % |",
            function.name.replace('|', "\\|"),
            function.bytes,
            function.bytes / bundle_bytes * 100.0
        )?;
    }
    let provenance = if *matches_bundle {
        "The compiled module, optimized with the build's flags, equals the shipped file byte \
         for byte, so these are the shipped functions."
    } else {
        "NOTE: the compiled module in target/ no longer reproduces the shipped file, so these \
         sizes come from a newer build than book/."
    };
    writeln!(
        out,
        "\nThe shipped file has no function names. The names come from the compiled module \
         optimized again with `wasm-opt -Oz -g`, which keeps them. {provenance}"
    )?;
    Ok(())
}

fn write_frame_details(out: &mut String, browser: &Value) -> Result<()> {
    writeln!(out, "\n## Frames\n")?;
    writeln!(
        out,
        "| Widget | frames traced | engine steps | tasks over 50 ms |\n|---|---|---|---|"
    )?;
    for widget in array(browser, "frameCost")? {
        let runs = array(widget, "runs")?;
        let frames = stats_of(runs, |run| number(run, "frames"))?;
        let steps = stats_of(runs, |run| number(run, "steps"))?;
        let long = stats_of(runs, |run| number(run, "longTasksOver50ms"))?;
        writeln!(
            out,
            "| `{}` | {:.0} | {:.0} | {:.0} (max {:.0}) |",
            text(widget, "widget")?,
            frames.median,
            steps.median,
            long.median,
            long.max
        )?;
    }
    Ok(())
}

fn write_memory_details(out: &mut String, browser: &Value) -> Result<()> {
    let memory = browser.get("memory").context("no memory results")?;
    writeln!(out, "\n## Memory\n")?;
    writeln!(out, "Medians, in MB.\n")?;
    writeln!(
        out,
        "| Widget | JS heap after load | JS heap at the end | wasm after load | wasm at the end | engine steps |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for widget in array(memory, "widgets")? {
        let runs = array(widget, "runs")?;
        let median = |pointer: &str| -> Result<f64> {
            let stats = stats_of(runs, |run| {
                run.pointer(pointer)
                    .and_then(Value::as_f64)
                    .with_context(|| format!("a memory run has no `{pointer}`"))
            })?;
            Ok(stats.median)
        };
        writeln!(
            out,
            "| `{}` | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
            text(widget, "widget")?,
            median("/before/jsHeap")? / MB,
            median("/after/jsHeap")? / MB,
            median("/before/wasm")? / MB,
            median("/after/wasm")? / MB,
            median("/steps")?
        )?;
    }
    Ok(())
}

fn write_method(out: &mut String, browser: &Value) -> Result<()> {
    let seconds = number(
        browser.get("memory").context("no memory results")?,
        "seconds",
    )?;
    writeln!(out, "\n## How each figure is measured\n")?;
    let method = [
        "Page weight: each page is loaded in a fresh Chromium profile (cold cache) from a local \
         server, every widget is scrolled into view and every diagram drawn, and each response \
         body is compressed with zlib level 6, as an estimate of GitHub Pages' gzip. The widget \
         bundle is `widgets/sdbe_widgets.js` and `.wasm`; diagrams are mdbook-mermaid's \
         `mermaid.min.js`, which `theme/mermaid-init.js` loads only on pages with a diagram. \
         Stock mdbook-mermaid loads it on every page, so that row adds it to the measured page.",
        "Widget bundle: file sizes in `book/widgets/`. `twiggy top` is installed with \
         `cargo install twiggy --locked` when missing.",
        "First frame: a fresh profile per run. A MutationObserver, installed before the page's \
         scripts, waits until the first `.sdbe-widget` has `data-mounted` and an \
         `svg.sdbe-scene`, then the next requestAnimationFrame callback reads \
         `performance.now()`, which counts from navigation start.",
        "Frame cost: the widget plays at 10× for 1 s, then a Chrome DevTools Protocol trace \
         (`devtools.timeline`) records 10 s. The page's main thread is cut into frames at each \
         `BeginMainThreadFrame`, and a frame's cost is the time spent in script \
         (`FireAnimationFrame`, `FunctionCall`, `TimerFire`, `EventDispatch`, and the like) and \
         in style and layout (`UpdateLayoutTree`, `Layout`), overlaps counted once. The longest \
         task is the longer of the trace's longest `RunTask` and the Long Tasks API's longest \
         entry.",
        "Memory: each widget plays at 10× in its own Chromium, all three at once. Before and \
         after, a garbage collection runs (`HeapProfiler.collectGarbage`), then the JS heap is \
         `Runtime.getHeapUsage().usedSize` and the wasm memory is the byte length of the \
         bundle's exported `memory`, which never shrinks.",
        "Engines: criterion times `step()` on an engine that keeps running, after 10,000 \
         warm-up steps, in 20 samples. The figures are the median, minimum and maximum over the \
         samples. The bench profile inherits the release profile's `opt-level = \"s\"` and LTO.",
        "Book build: `mdbook build --dest-dir` into a scratch folder, once and then 5 more times. \
         Every run also runs the preprocessors, `mdbook-sdbe` through `cargo run` included.",
    ];
    for (number, text) in method.iter().enumerate() {
        writeln!(out, "{}. {text}", number + 1)?;
    }
    writeln!(
        out,
        "\nThe memory runs animated for {seconds:.0} s each. The planned gossip and Raft widgets \
         have no figures until they exist."
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------
// JSON helpers

fn read_json(path: &Path) -> Result<Value> {
    let text =
        fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("failed to read {}", path.display()))
}

fn array<'a>(value: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    value
        .get(key)
        .and_then(Value::as_array)
        .with_context(|| format!("the results have no `{key}` list"))
}

fn number(value: &Value, key: &str) -> Result<f64> {
    value
        .get(key)
        .and_then(Value::as_f64)
        .with_context(|| format!("the results have no number `{key}`"))
}

fn text<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .with_context(|| format!("the results have no text `{key}`"))
}

fn numbers(values: &[Value]) -> Result<Vec<f64>> {
    values
        .iter()
        .map(|value| value.as_f64().context("a sample is not a number"))
        .collect()
}
