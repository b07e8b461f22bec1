//! `cargo xtask bench`: measures the built book, the widget bundles, the
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

mod browser;
mod json;
mod native;
mod report;
mod stats;

use self::browser::*;
use self::json::*;
use self::native::*;
use self::report::*;
use self::stats::*;

/// Folder for the bench's intermediate files.
const WORK_DIR: &str = "target/bench";
/// The report the command writes, at the repository root.
const REPORT: &str = "BENCHMARKS.md";
/// The widget bundles, one folder per widget, as mdBook copied them into the book.
const BUNDLES: &str = "book/widgets";
/// The wasm file in each bundle's folder.
const BUNDLE_WASM: &str = "sdbe_widgets_bg.wasm";
/// Runs of `mdbook build` after the first one, which the budget applies to.
const INCREMENTAL_BUILDS: usize = 5;
/// Functions listed from `twiggy top`.
const TOP_FUNCTIONS: usize = 10;
/// Widgets the book plans at larger sizes, which the frame budget is meant for.
const PLANNED_WIDGETS: &[(&str, &str)] = &[("gossip", "100 nodes"), ("raft", "9 nodes")];
/// The first-time setup figure, which cannot be measured again on a machine
/// that has the tools installed.
const SETUP_NOTE: &str = "not measured by this command. On 2026-12-04 `bash .ci/run` \
    took 21 min 47 s on a fresh machine with nothing installed (when all widgets shared one \
    bundle), and 17 min 23 s on a fresh clone with mdBook and wasm-bindgen-cli installed";

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
// The machine and the date

pub(super) struct Header {
    pub(super) cpu: String,
    /// `/proc/loadavg`'s three load averages before and after the
    /// measurements, since other work on the machine slows them.
    pub(super) load_start: String,
    pub(super) load_end: String,
    pub(super) cores: usize,
    pub(super) ram_bytes: f64,
    pub(super) date: String,
    pub(super) command: String,
    pub(super) quick: bool,
    pub(super) book_built: String,
}

impl Header {
    pub(super) fn read(quick: bool, book_built: String) -> Result<Self> {
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

pub(super) fn load_average() -> Result<String> {
    let loadavg = fs::read_to_string("/proc/loadavg").context("failed to read /proc/loadavg")?;
    let averages: Vec<&str> = loadavg.split_whitespace().take(3).collect();
    Ok(averages.join(", "))
}

/// Runs `date -u` with `args`, which avoids a date library for two strings.
pub(super) fn shell_date(args: &[&str]) -> Result<String> {
    let mut command = Command::new("date");
    command.arg("-u").args(args);
    let out = tools::output(&mut command)
        .with_context(|| format!("`{}` failed", command_line(&command)))?;
    Ok(out.trim().to_string())
}

/// Returns when the book in `book/` was built, and fails if it was not.
pub(super) fn book_build_time() -> Result<String> {
    for needed in ["book/index.html", BUNDLES] {
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
pub(super) fn run_to_stderr(command: &mut Command) -> Result<()> {
    command.stdout(Stdio::from(std::io::stderr()));
    tools::run(command)
}

/// Runs a command quietly and fails with the end of its output if it fails.
pub(super) fn run_quietly(command: &mut Command) -> Result<()> {
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

pub(super) fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}
