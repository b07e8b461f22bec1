//! Command-line entry point that mdBook runs as the `sdbe` preprocessor.

use std::io;
use std::process::ExitCode;

use anyhow::Context;
use mdbook_preprocessor::Preprocessor;
use mdbook_sdbe::Sdbe;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // mdBook first runs `supports <renderer>`, and every renderer gets the same HTML.
    if args.first().map(String::as_str) == Some("supports") {
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let (ctx, book) = mdbook_preprocessor::parse_input(io::stdin())?;
    let book = Sdbe.run(&ctx, book)?;
    serde_json::to_writer(io::stdout(), &book).context("failed to write the processed book")?;
    Ok(())
}
