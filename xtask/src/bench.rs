//! `cargo xtask bench`: measures the built book, the widget bundle, the
//! widgets in headless Chromium, the engines and the book build against their
//! budgets, prints the results as Markdown and writes them to BENCHMARKS.md.
//!
//! Missing a budget is reported, not an error. A measurement that cannot be
//! taken is an error, so the command then exits non-zero.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::tools::{self, cmd, command_line, step};

/// Folder for the bench's intermediate files.
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

    let mut header = Header::read(quick, book_built)?;
    let builds = measure_book_builds()?;
    let engines = measure_engines()?;
    let functions = largest_functions()?;
    let browser = measure_in_browser(quick)?;
    header.load_end = load_average()?;

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
    /// Builds the statistics of a figure measured once.
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

/// Unit a figure is printed in.
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

/// The results table: one row per figure, grouped by numbered section.
#[derive(Default)]
struct Table {
    section: usize,
    rows: Vec<[String; 6]>,
}

impl Table {
    /// Starts the next section. Rows added from now on carry its number.
    fn section(&mut self, number: usize) {
        self.section = number;
    }

    /// Adds a measured figure. The budget, if any, is an upper bound on the median.
    fn measured(
        &mut self,
        measure: impl Into<String>,
        stats: Stats,
        unit: Unit,
        budget: Option<f64>,
    ) {
        let range = if stats.runs == 1 {
            "one measurement".to_string()
        } else {
            format!("{} – {}", unit.format(stats.min), unit.format(stats.max))
        };
        let (budget, met) = match budget {
            None => ("–".to_string(), "–"),
            Some(bound) => {
                let met = if stats.median <= bound {
                    "yes"
                } else {
                    "**no**"
                };
                let sign_free = unit.format(bound).trim_start_matches('+').to_string();
                (format!("≤ {sign_free}"), met)
            }
        };
        self.rows.push([
            self.section.to_string(),
            measure.into(),
            unit.format(stats.median),
            range,
            budget,
            met.to_string(),
        ]);
    }

    /// Adds a line without a measurement, with a note in place of the figure.
    fn note(&mut self, measure: impl Into<String>, text: impl Into<String>) {
        let dash = || "–".to_string();
        self.rows.push([
            self.section.to_string(),
            measure.into(),
            text.into(),
            dash(),
            dash(),
            dash(),
        ]);
    }

    fn write(&self, out: &mut String) {
        out.push_str("| # | Measure | Median | Min – max | Budget | Met |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
    }
}

// ---------------------------------------------------------------------------
// The machine and the date

struct Header {
    cpu: String,
    /// `/proc/loadavg`'s three load averages before and after the
    /// measurements, since other work on the machine slows them.
    load_start: String,
    load_end: String,
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
            load_start: load_average()?,
            load_end: String::new(),
            cores,
            ram_bytes: ram_kib * 1024.0,
            date: shell_date(&["+%Y-%m-%d"])?,
            command,
            quick,
            book_built,
        })
    }
}

fn load_average() -> Result<String> {
    let loadavg = fs::read_to_string("/proc/loadavg").context("failed to read /proc/loadavg")?;
    let averages: Vec<&str> = loadavg.split_whitespace().take(3).collect();
    Ok(averages.join(", "))
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

/// One criterion benchmark of the `engines` group.
struct Benchmark {
    /// The widget's name in `sim::registry`.
    function: String,
    /// The engine's configuration, as directive parameters.
    params: String,
    steps_per_second: Stats,
}

struct EngineResult {
    name: &'static str,
    /// The engine's benchmark, or `None` when there is none.
    measured: Option<Benchmark>,
}

/// Runs the criterion benchmark and reads steps per second for every engine
/// in the registry from criterion's per-sample timings.
fn measure_engines() -> Result<Vec<EngineResult>> {
    step("engine throughput (cargo bench, criterion)");
    // Absolute, because cargo runs the benchmark in the package's folder.
    let home = std::env::current_dir()
        .context("failed to read the current folder")?
        .join(WORK_DIR)
        .join("criterion");
    if home.exists() {
        fs::remove_dir_all(&home)
            .with_context(|| format!("failed to remove {}", home.display()))?;
    }
    run_to_stderr(
        cmd("cargo")
            .args(["bench", "--package", "sim", "--bench", "engines"])
            .env("CRITERION_HOME", &home),
    )?;

    let mut found = criterion_results(&home.join("engines"))?;
    Ok(sim::registry::names()
        .into_iter()
        .map(|name| {
            let index = found.iter().position(|bench| bench.function == name);
            EngineResult {
                name,
                measured: index.map(|i| found.swap_remove(i)),
            }
        })
        .collect())
}

/// Reads every benchmark under `dir`: its function name, its parameters and
/// its steps per second over criterion's samples. Criterion keeps each
/// benchmark in `FUNCTION/PARAMETER/new/`.
fn criterion_results(dir: &Path) -> Result<Vec<Benchmark>> {
    let latest = dir.join("new");
    if latest.join("sample.json").exists() {
        let info = read_json(&latest.join("benchmark.json"))?;
        let params = info.get("value_str").and_then(Value::as_str);
        return Ok(vec![Benchmark {
            function: text(&info, "function_id")?.to_string(),
            params: params.unwrap_or_default().to_string(),
            steps_per_second: steps_per_second(&latest.join("sample.json"))?,
        }]);
    }
    let entries = fs::read_dir(dir)
        .with_context(|| format!("criterion wrote no results in {}", dir.display()))?;
    let mut results = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            results.extend(criterion_results(&path)?);
        }
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

/// The result of `twiggy top`, or the reason it could not run.
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
/// module with `wasm-opt -Oz -g`, which keeps the names, and checks that
/// `-Oz --strip-debug`, as the build runs it, reproduces the shipped bundle.
fn largest_functions() -> Result<Functions> {
    step("largest functions in the widget bundle (twiggy top)");
    if let Err(err) = install_twiggy() {
        return Ok(Functions::InstallFailed(format!("{err:#}")));
    }

    let dir = Path::new(WORK_DIR).join("named");
    let bound = bind_compiled_module(&dir)?;
    let named = dir.join("named.wasm");
    optimize(&bound, &named, "-g")?;
    let plain = dir.join("plain.wasm");
    optimize(&bound, &plain, "--strip-debug")?;

    let matches_bundle = read_bytes(&plain)? == read_bytes(Path::new(BUNDLE_WASM))?;
    Ok(Functions::Listed {
        functions: twiggy_top(&named)?,
        matches_bundle,
    })
}

/// Runs wasm-bindgen on the compiled module as the build does, into `dir`,
/// and returns the bound wasm file.
fn bind_compiled_module(dir: &Path) -> Result<PathBuf> {
    if !Path::new(COMPILED_WASM).exists() {
        bail!("{COMPILED_WASM} is missing: run `cargo xtask build` first");
    }
    let mut command = cmd("wasm-bindgen");
    command
        .args(["--target", "web", "--no-typescript"])
        .args(["--out-name", "sdbe_widgets", "--out-dir"])
        .arg(dir)
        .arg(COMPILED_WASM);
    run_quietly(&mut command)?;
    Ok(dir.join("sdbe_widgets_bg.wasm"))
}

/// Runs `wasm-opt -Oz` with one more flag, as the build does with `--strip-debug`.
fn optimize(input: &Path, output: &Path, flag: &str) -> Result<()> {
    let mut command = cmd("wasm-opt");
    command
        .args(["-Oz", flag, "--output"])
        .arg(output)
        .arg(input);
    run_quietly(&mut command)
}

fn install_twiggy() -> Result<()> {
    if tools::output(cmd("twiggy").arg("--version")).is_some() {
        return Ok(());
    }
    step("installing twiggy (cargo install twiggy --locked)");
    run_quietly(cmd("cargo").args(["install", "twiggy", "--locked"]))
}

/// Prefixes of the items in `twiggy top` that are not functions: name
/// subsections, custom sections, data, imports, exports and types.
const NOT_FUNCTIONS: &[&str] = &[
    "\"",
    "custom section",
    "data segment",
    "data[",
    "import ",
    "export ",
    "type[",
    "table[",
    "elem[",
    "memory[",
    "global[",
];

/// Returns the largest functions, leaving out every other kind of item.
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
        if !NOT_FUNCTIONS.iter().any(|prefix| name.starts_with(prefix)) {
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
    let mut table = Table::default();
    page_weight_rows(&mut table, browser)?;
    bundle_rows(&mut table, browser, functions)?;
    first_frame_rows(&mut table, browser)?;
    frame_cost_rows(&mut table, browser)?;
    memory_rows(&mut table, browser, header.quick)?;
    engine_rows(&mut table, engines);
    build_rows(&mut table, builds);

    let mut out = String::new();
    write_header(&mut out, header, browser)?;
    table.write(&mut out);
    write_page_weights(&mut out, browser)?;
    write_bundle(&mut out, browser, functions)?;
    write_frame_details(&mut out, browser)?;
    write_memory_details(&mut out, browser)?;
    write_method(&mut out, browser)?;
    Ok(out)
}

fn write_header(out: &mut String, header: &Header, browser: &Value) -> Result<()> {
    let runs = number(browser, "runs")?;
    let ram_gib = header.ram_bytes / (KB * MB);

    writeln!(out, "# Benchmarks\n")?;
    writeln!(
        out,
        "- Machine: {}, {} cores, {ram_gib:.1} GiB RAM",
        header.cpu, header.cores
    )?;
    writeln!(
        out,
        "- Load average (1, 5, 15 min): {} at the start, {} at the end",
        header.load_start, header.load_end
    )?;
    writeln!(out, "- Date: {}", header.date)?;
    writeln!(out, "- Command: `{}`", header.command)?;
    writeln!(out, "- Book: `book/` as built at {}", header.book_built)?;
    writeln!(out, "- Browser: {}", text(browser, "userAgent")?)?;

    if header.quick {
        let seconds = pointer_number(browser, "/memory/seconds")?;
        writeln!(
            out,
            "- **Quick run**: each memory run animates for {seconds:.0} s instead of 5 minutes"
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

fn page_weight_rows(table: &mut Table, browser: &Value) -> Result<()> {
    table.section(1);
    let budget = Some(300.0 * KB);
    let mermaid = pointer_number(browser, "/mermaidRuntime/gzip")?;
    for page in array(browser, "pageWeight")? {
        let path = text(page, "path")?;
        let runs = array(page, "runs")?;
        let total = stats_of(runs, |run| Ok(page_weight(run)?.total))?;
        match text(page, "label")? {
            "typical" => {
                let without = stats_of(runs, |run| {
                    let weight = page_weight(run)?;
                    Ok(weight.total - weight.widget_bundle)
                })?;
                let diagrams = stats_of(runs, |run| type_bytes(run, "diagrams"))?;
                table.measured(
                    format!("Typical page `{path}`, cold cache"),
                    total,
                    Unit::Kilobytes,
                    budget,
                );
                table.measured(
                    "… the same page without the widget bundle",
                    without,
                    Unit::Kilobytes,
                    budget,
                );
                table.measured(
                    "… of which mdbook-mermaid's `mermaid.min.js`",
                    diagrams,
                    Unit::Kilobytes,
                    None,
                );
            }
            "heaviest" => {
                table.measured(
                    format!("Heaviest page `{path}`"),
                    total,
                    Unit::Kilobytes,
                    None,
                );
            }
            _ => {
                // Stock mdbook-mermaid loads its runtime on every page.
                let stock = stats_of(runs, |run| {
                    Ok(page_weight(run)?.total - type_bytes(run, "diagrams")? + mermaid)
                })?;
                table.measured(
                    format!("Page without widgets `{path}`"),
                    total,
                    Unit::Kilobytes,
                    None,
                );
                table.measured(
                    format!("… `{path}` with stock mdbook-mermaid (computed)"),
                    stock,
                    Unit::Kilobytes,
                    None,
                );
            }
        }
    }
    Ok(())
}

fn type_bytes(run: &Value, kind: &str) -> Result<f64> {
    let weight = page_weight(run)?;
    Ok(weight
        .by_type
        .iter()
        .find(|(t, _)| t == kind)
        .map_or(0.0, |(_, bytes)| *bytes))
}

fn bundle_rows(table: &mut Table, browser: &Value, functions: &Functions) -> Result<()> {
    table.section(2);
    let size = |pointer: &str| pointer_number(browser, pointer);
    let gzip = size("/bundle/wasm/gzip")? + size("/bundle/js/gzip")?;
    let raw = size("/bundle/wasm/raw")? + size("/bundle/js/raw")?;
    table.measured(
        "Widget bundle (wasm + JS)",
        Stats::single(gzip),
        Unit::Kilobytes,
        Some(200.0 * KB),
    );
    table.measured(
        "Widget bundle (wasm + JS), raw",
        Stats::single(raw),
        Unit::Kilobytes,
        None,
    );
    match functions {
        Functions::Listed { functions, .. } => {
            if let Some(largest) = functions.first() {
                let text = format!("`{}`: {:.1} KB raw", largest.name, largest.bytes / KB);
                table.note("Largest function (twiggy top, see below)", text);
            }
        }
        Functions::InstallFailed(err) => {
            let text = format!(
                "not measured: `cargo install twiggy --locked` failed: {}",
                one_line(err)
            );
            table.note("Largest functions (twiggy top)", text);
        }
    }
    Ok(())
}

/// Joins a multi-line message into one table cell.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn first_frame_rows(table: &mut Table, browser: &Value) -> Result<()> {
    table.section(3);
    let budget = Some(300.0);
    for widget in array(browser, "firstFrame")? {
        let runs = array(widget, "runs")?;
        let cold = stats_of(runs, |run| pointer_number(run, "/cold/frame"))?;
        let warm = stats_of(runs, |run| pointer_number(run, "/warm/frame"))?;
        let name = text(widget, "widget")?;
        let path = text(widget, "path")?;
        table.measured(
            format!("First frame of `{name}` (`{path}`), cold cache"),
            cold,
            Unit::Milliseconds,
            budget,
        );
        table.measured(
            "… warm cache, second visit",
            warm,
            Unit::Milliseconds,
            budget,
        );
    }
    Ok(())
}

/// Describes the fields the bench set in a widget, as `Keys = 10000`.
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

fn frame_cost_rows(table: &mut Table, browser: &Value) -> Result<()> {
    table.section(4);
    let speed = text(browser, "speed")?;
    for widget in array(browser, "frameCost")? {
        let name = text(widget, "widget")?;
        let settings = settings_text(widget)?;
        let runs = array(widget, "runs")?;
        let p50 = stats_of(runs, |run| number(run, "p50"))?;
        let p95 = stats_of(runs, |run| number(run, "p95"))?;
        let longest = stats_of(runs, |run| number(run, "longestTask"))?;
        let ms = Unit::Milliseconds;
        table.measured(
            format!("Frame script + layout p50, `{name}` at {speed} ({settings})"),
            p50,
            ms,
            None,
        );
        table.measured(
            format!("Frame script + layout p95, `{name}`"),
            p95,
            ms,
            Some(4.0),
        );
        table.measured(format!("Longest task, `{name}`"), longest, ms, Some(50.0));
    }
    let names = sim::registry::names();
    for (planned, size) in PLANNED_WIDGETS {
        if !names.iter().any(|name| name.contains(planned)) {
            let text = format!("not measured: no {planned} widget exists yet");
            table.note(format!("Frame cost, {planned} widget with {size}"), text);
        }
    }
    Ok(())
}

/// Returns how much JS heap plus wasm memory a run added, in bytes.
fn memory_growth(run: &Value) -> Result<f64> {
    let total = |at: &str| -> Result<f64> {
        Ok(pointer_number(run, &format!("/{at}/jsHeap"))?
            + pointer_number(run, &format!("/{at}/wasm"))?)
    };
    Ok(total("after")? - total("before")?)
}

fn memory_rows(table: &mut Table, browser: &Value, quick: bool) -> Result<()> {
    table.section(5);
    let speed = text(browser, "speed")?;
    let memory = browser.get("memory").context("no memory results")?;
    let seconds = number(memory, "seconds")?;
    let length = if quick {
        format!("{seconds:.0} s (quick run)")
    } else {
        format!("{:.0} min", seconds / 60.0)
    };
    for widget in array(memory, "widgets")? {
        let stats = stats_of(array(widget, "runs")?, memory_growth)?;
        let name = text(widget, "widget")?;
        let measure = format!("JS heap + wasm memory growth, `{name}`, {length} at {speed}");
        table.measured(measure, stats, Unit::Megabytes, Some(MB));
    }
    Ok(())
}

fn engine_rows(table: &mut Table, engines: &[EngineResult]) {
    table.section(6);
    for engine in engines {
        let name = engine.name;
        match &engine.measured {
            Some(bench) => {
                let measure = format!("Engine `{name}` ({}), native", bench.params);
                table.measured(measure, bench.steps_per_second, Unit::StepsPerSecond, None);
            }
            None => table.note(
                format!("Engine `{name}`"),
                "not measured: no benchmark for it in sim/benches/engines.rs",
            ),
        }
    }
}

fn build_rows(table: &mut Table, builds: &BookBuilds) {
    table.section(7);
    let first = Stats::single(builds.first_s);
    table.measured(
        "`mdbook build`, second and later runs",
        builds.incremental,
        Unit::Seconds,
        Some(5.0),
    );
    table.measured(
        "`mdbook build`, first run of this command",
        first,
        Unit::Seconds,
        None,
    );
    table.note("First-time setup on a fresh machine", SETUP_NOTE);
}

fn write_page_weights(out: &mut String, browser: &Value) -> Result<()> {
    writeln!(out, "\n## Page weight by type\n")?;
    writeln!(
        out,
        "Median gzip bytes of each type, in KB. Fonts and PNG images are counted raw, \
         because they are compressed already.\n"
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
        let raw = pointer_number(browser, &format!("/bundle/{file}/raw"))?;
        let gzip = pointer_number(browser, &format!("/bundle/{file}/gzip"))?;
        writeln!(
            out,
            "| `{path}` | {:.1} KB | {:.1} KB |",
            raw / KB,
            gzip / KB
        )?;
    }
    let Functions::Listed {
        functions,
        matches_bundle,
    } = functions
    else {
        return Ok(());
    };
    let bundle_bytes = pointer_number(browser, "/bundle/wasm/raw")?;
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
            Ok(stats_of(runs, |run| pointer_number(run, pointer))?.median)
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
    let speed = text(browser, "speed")?;
    let warm_up_s = number(browser, "warmUpMs")? / 1000.0;
    let trace_s = number(browser, "traceMs")? / 1000.0;
    let memory_s = pointer_number(browser, "/memory/seconds")?;
    let method = [
        "Page weight: each page is loaded in a fresh Chromium profile (cold cache) from a local \
         server, every widget is scrolled into view and every diagram drawn, and each response \
         body is compressed with zlib level 6, as an estimate of GitHub Pages' gzip. The widget \
         bundle is `widgets/sdbe_widgets.js` and `.wasm`, and diagrams are mdbook-mermaid's \
         `mermaid.min.js`, which `theme/mermaid-init.js` loads only on pages with a diagram. \
         Stock mdbook-mermaid loads it on every page, so that row adds it to the measured page."
            .to_string(),
        "Widget bundle: file sizes in `book/widgets/`. `twiggy top` is installed with \
         `cargo install twiggy --locked` when missing."
            .to_string(),
        "First frame: a fresh profile per run, which loads the page once with a cold cache and \
         once more with a warm one. A MutationObserver, installed before the page's scripts, \
         waits until the first `.sdbe-widget` has `data-mounted` and an `svg.sdbe-scene`, then \
         the next requestAnimationFrame callback reads `performance.now()`, which counts from \
         navigation start. The page is not scrolled, and the widget loader starts once a \
         placeholder is within 400 px of the 1280 × 900 viewport."
            .to_string(),
        format!(
            "Frame cost: the widget plays at {speed} for {warm_up_s:.0} s, then a Chrome DevTools \
             Protocol trace (`devtools.timeline`) records {trace_s:.0} s. The page's main thread \
             is cut into frames at each `BeginMainThreadFrame`, and a frame's cost is the time \
             spent in script (`FireAnimationFrame`, `FunctionCall`, `TimerFire`, `EventDispatch`, \
             and the like) and in style and layout (`UpdateLayoutTree`, `Layout`), overlaps \
             counted once. The longest task is the longer of the trace's longest `RunTask` and \
             the Long Tasks API's longest entry."
        ),
        format!(
            "Memory: each widget plays at {speed} for {memory_s:.0} s in its own Chromium, all \
             widgets at once. Before and after, a garbage collection runs \
             (`HeapProfiler.collectGarbage`), then the JS heap is \
             `Runtime.getHeapUsage().usedSize` and the wasm memory is the byte length of the \
             bundle's exported `memory`, which never shrinks."
        ),
        "Engines: criterion times `step()` on an engine that keeps running, after warm-up \
         steps that fill its queues and windows. The figures are the median, minimum and \
         maximum over criterion's samples. The bench profile inherits the release profile's \
         `opt-level = \"s\"` and LTO."
            .to_string(),
        format!(
            "Book build: `mdbook build --dest-dir` into a scratch folder, once and then \
             {INCREMENTAL_BUILDS} more times. Every run also runs the preprocessors, \
             `mdbook-sdbe` through `cargo run` included."
        ),
    ];

    writeln!(out, "\n## How each figure is measured\n")?;
    for (number, text) in method.iter().enumerate() {
        writeln!(out, "{}. {text}", number + 1)?;
    }
    writeln!(
        out,
        "\nThe planned gossip and Raft widgets have no figures until they exist."
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

fn pointer_number(value: &Value, pointer: &str) -> Result<f64> {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .with_context(|| format!("the results have no number at `{pointer}`"))
}

fn numbers(values: &[Value]) -> Result<Vec<f64>> {
    values
        .iter()
        .map(|value| value.as_f64().context("a sample is not a number"))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run_of(total_gzip: f64) -> Value {
        json!({ "resources": [
            { "path": "beginner/20-token-bucket.html", "category": "html", "raw": 1, "gzip": 1000.0 },
            { "path": "widgets/sdbe_widgets_bg.wasm", "category": "wasm", "raw": 1, "gzip": 2000.0 },
            { "path": "assets/mermaid.min.js", "category": "diagrams", "raw": 1, "gzip": total_gzip - 3000.0 },
        ] })
    }

    fn browser_results() -> Value {
        let frame = json!({ "cold": { "mounted": 90.0, "frame": 100.0 }, "warm": { "mounted": 40.0, "frame": 50.0 } });
        let frames = json!({ "frames": 600, "p50": 1.0, "p95": 2.0, "longestTask": 9.0, "longTasksOver50ms": 0, "steps": 10 });
        let memory = json!({ "before": { "jsHeap": 1e6, "wasm": 1e6 }, "after": { "jsHeap": 1e6, "wasm": 3e6 }, "steps": 10 });
        json!({
            "runs": 1, "quick": true, "userAgent": "HeadlessChrome", "speed": "10×",
            "warmUpMs": 1000, "traceMs": 10000,
            "bundle": { "js": { "raw": 10.0, "gzip": 5.0 }, "wasm": { "raw": 100.0, "gzip": 50.0 } },
            "mermaidRuntime": { "raw": 10.0, "gzip": 4000.0 },
            "pageWeight": [
                { "label": "typical", "path": "beginner/20-token-bucket.html", "runs": [run_of(400.0 * KB)] },
                { "label": "without widgets", "path": "introduction.html", "runs": [run_of(9000.0)] },
            ],
            "firstFrame": [{ "widget": "token-bucket", "path": "beginner/20-token-bucket.html", "runs": [frame] }],
            "frameCost": [{ "widget": "token-bucket", "path": "beginner/20-token-bucket.html", "settings": {}, "runs": [frames] }],
            "memory": { "seconds": 30, "widgets": [{ "widget": "token-bucket", "runs": [memory] }] },
        })
    }

    fn report() -> String {
        let header = Header {
            cpu: "CPU".to_string(),
            load_start: "1, 1, 1".to_string(),
            load_end: "2, 2, 2".to_string(),
            cores: 2,
            ram_bytes: 4.0 * KB * MB,
            date: "2026-12-04".to_string(),
            command: "cargo xtask bench --quick".to_string(),
            quick: true,
            book_built: "2026-12-04 12:00 UTC".to_string(),
        };
        let builds = BookBuilds {
            first_s: 2.0,
            incremental: Stats::single(1.0),
        };
        let engines = [EngineResult {
            name: "token-bucket",
            measured: None,
        }];
        let functions = Functions::InstallFailed("no network".to_string());
        match render(&header, &builds, &engines, &functions, &browser_results()) {
            Ok(report) => report,
            Err(err) => panic!("rendering the fixture failed: {err:#}"),
        }
    }

    fn row_starting(report: &str, start: &str) -> String {
        let line = report.lines().find(|line| line.starts_with(start));
        line.unwrap_or_else(|| panic!("no row starts with {start:?} in:\n{report}"))
            .to_string()
    }

    #[test]
    fn median_of_even_count_is_mean_of_middle() {
        let stats = Stats::of(&[4.0, 1.0, 3.0, 2.0]).expect("four values");

        assert_eq!(stats.median, 2.5);
        assert_eq!(stats.min, 1.0);
        assert_eq!(stats.max, 4.0);
    }

    #[test]
    fn report_marks_missed_budget() {
        let report = report();

        let typical = row_starting(&report, "| 1 | Typical page");
        assert!(typical.ends_with("| ≤ 300.0 KB | **no** |"), "{typical}");
        let frame = row_starting(&report, "| 3 | First frame");
        assert!(
            frame.ends_with("| 100 ms | one measurement | ≤ 300 ms | yes |"),
            "{frame}"
        );
    }

    #[test]
    fn report_shows_failures_and_gaps() {
        let report = report();

        let twiggy = row_starting(&report, "| 2 | Largest functions");
        assert!(twiggy.contains("failed: no network"), "{twiggy}");
        let engine = row_starting(&report, "| 6 | Engine `token-bucket`");
        assert!(engine.contains("not measured"), "{engine}");
        let memory = row_starting(&report, "| 5 | JS heap + wasm memory growth");
        assert!(memory.contains("30 s (quick run)"), "{memory}");
        assert!(memory.ends_with("| **no** |"), "{memory}");
        assert!(report.contains("**Quick run**"));
    }
}
