//! The listings harness: runs every Go and Python program and checks the
//! output that its `=>` comments claim.
//!
//! A claim is a comment `// => prints: TEXT` (Go) or `# => prints: TEXT`
//! (Python). Each claim must equal a distinct line of the program's standard
//! output, ignoring trailing spaces; order is free, and lines without a claim
//! are allowed. A claim ending in ` (varies)` is checked by shape: each number
//! in it matches any number, and the rest must match exactly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use regex::Regex;

use crate::tools::{cmd, run, step};

/// Widest line a listing may have, so the page never scrolls sideways.
const MAX_COLUMNS: usize = 80;
/// Maximum time a listing may run before it counts as hung.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Checks formatting, lints, widths and output claims of every listing.
pub(crate) fn check_all() -> Result<()> {
    let dirs = listing_dirs()?;
    let mut failures = Vec::new();

    step("gofmt, go vet, ruff");
    let unformatted = crate::tools::output(cmd("gofmt").args(["-l", "listings"]))
        .context("gofmt failed to run")?;
    if !unformatted.trim().is_empty() {
        failures.push(format!("gofmt would reformat:\n{unformatted}"));
    }
    run(cmd("go").args(["vet", "./..."]).current_dir("listings"))?;
    run(cmd("ruff").args(["check", "--quiet", "--no-cache", "listings"]))?;
    run(cmd("ruff").args(["format", "--check", "--quiet", "--no-cache", "listings"]))?;

    for dir in &dirs {
        step(&format!("running {}", dir.display()));
        for (file, runner) in [("main.go", Runner::Go), ("main.py", Runner::Python)] {
            let path = dir.join(file);
            if !path.exists() {
                failures.push(format!(
                    "{}: missing; every example has main.go and main.py",
                    path.display()
                ));
                continue;
            }
            if let Err(err) = check_listing(&path, runner) {
                failures.push(format!("{err:#}"));
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} listing check(s) failed:\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
    eprintln!("listings: {} examples checked", dirs.len());
    Ok(())
}

#[derive(Clone, Copy)]
enum Runner {
    Go,
    Python,
}

fn listing_dirs() -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir("listings").context("failed to read listings/")? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if path.is_dir() && !hidden {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn check_listing(path: &Path, runner: Runner) -> Result<()> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let mut problems = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let width = line.chars().count();
        if width > MAX_COLUMNS {
            problems.push(format!(
                "line {} is {width} columns wide (at most {MAX_COLUMNS})",
                index + 1
            ));
        }
    }

    let stdout = run_listing(path, runner)?;
    let claims = extract_claims(&source, runner);
    let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    let mut used = vec![false; lines.len()];
    for claim in &claims {
        match lines
            .iter()
            .enumerate()
            .position(|(i, line)| !used[i] && claim.matches(line))
        {
            Some(i) => used[i] = true,
            None => problems.push(format!(
                "line {}: no output line matches `prints: {}`",
                claim.line, claim.text
            )),
        }
    }
    if claims.is_empty() {
        problems.push("no `=> prints:` claims; state what the program prints".to_string());
    }
    if problems.is_empty() {
        eprintln!("  {}: {} claims checked", path.display(), claims.len());
        return Ok(());
    }
    bail!(
        "{}:\n  {}\n  --- actual output ---\n{}",
        path.display(),
        problems.join("\n  "),
        stdout
    )
}

fn run_listing(path: &Path, runner: Runner) -> Result<String> {
    let dir = path.parent().context("listing has no folder")?;
    let mut command = match runner {
        Runner::Go => {
            let mut c = cmd("go");
            // The race detector checks every concurrent listing as it runs.
            c.args(["run", "-race", "."]).current_dir(dir);
            c
        }
        Runner::Python => {
            let mut c = cmd("python3");
            c.arg("main.py").current_dir(dir);
            c
        }
    };
    let output = run_with_timeout(&mut command, TIMEOUT)
        .with_context(|| format!("{} failed", path.display()))?;
    Ok(output)
}

fn run_with_timeout(command: &mut Command, timeout: Duration) -> Result<String> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to start `{}`", crate::tools::command_line(command)))?;
    let started = Instant::now();
    let mut stdout = child.stdout.take().context("no stdout pipe")?;
    let mut stderr = child.stderr.take().context("no stderr pipe")?;
    let out_reader = thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
    });
    let err_reader = thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).map(|_| text)
    });
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > timeout {
            child.kill()?;
            bail!("timed out after {} s", timeout.as_secs());
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader
        .join()
        .map_err(|_| anyhow::anyhow!("stdout reader panicked"))??;
    let stderr = err_reader
        .join()
        .map_err(|_| anyhow::anyhow!("stderr reader panicked"))??;
    if !status.success() {
        bail!("exited with {status}\n--- stderr ---\n{stderr}");
    }
    Ok(stdout)
}

/// An output line that a listing's comment claims.
#[derive(Debug)]
struct Claim {
    /// Source line of the comment.
    line: usize,
    /// The claimed text, ` (varies)` included.
    text: String,
    pattern: Regex,
}

impl Claim {
    fn new(line: usize, text: &str) -> Self {
        let (body, varies) = match text.strip_suffix(" (varies)") {
            Some(body) => (body, true),
            None => (text, false),
        };
        let pattern = if varies {
            let number = Regex::new(r"-?[0-9]+(\.[0-9]+)?").expect("valid regex");
            let mut pattern = String::from("^");
            let mut last = 0;
            for found in number.find_iter(body) {
                pattern.push_str(&regex::escape(&body[last..found.start()]));
                pattern.push_str(r"-?[0-9]+(\.[0-9]+)?");
                last = found.end();
            }
            pattern.push_str(&regex::escape(&body[last..]));
            pattern.push('$');
            pattern
        } else {
            format!("^{}$", regex::escape(body))
        };
        Self {
            line,
            text: text.to_string(),
            pattern: Regex::new(&pattern).expect("escaped pattern is valid"),
        }
    }

    fn matches(&self, output_line: &str) -> bool {
        self.pattern.is_match(output_line)
    }
}

fn extract_claims(source: &str, runner: Runner) -> Vec<Claim> {
    let marker = match runner {
        Runner::Go => "// => prints: ",
        Runner::Python => "# => prints: ",
    };
    source
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let at = line.find(marker)?;
            Some(Claim::new(index + 1, line[at + marker.len()..].trim_end()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_claim_matches_only_its_line() {
        let claim = Claim::new(1, "accepted 5 of 8");

        assert!(claim.matches("accepted 5 of 8"));
        assert!(!claim.matches("accepted 6 of 8"));
        assert!(!claim.matches("accepted 5 of 8 requests"));
    }

    #[test]
    fn varies_claim_matches_any_numbers() {
        let claim = Claim::new(1, "p99 latency 12.4 ms (varies)");

        assert!(claim.matches("p99 latency 80 ms"));
        assert!(claim.matches("p99 latency 7.25 ms"));
        assert!(!claim.matches("p99 latency ms"));
        assert!(!claim.matches("p99 queue 12.4 ms"));
    }

    #[test]
    fn varies_claim_escapes_regex_text() {
        let claim = Claim::new(1, "rate (per s): 3.5 [max 4] (varies)");

        assert!(claim.matches("rate (per s): 2 [max 9]"));
    }

    #[test]
    fn claims_are_found_in_both_languages() {
        let go = "x := 1 // => prints: one\n\t// => prints: two\n// => not a claim\n";
        let py = "print(1)  # => prints: one\n";

        assert_eq!(extract_claims(go, Runner::Go).len(), 2);
        assert_eq!(extract_claims(py, Runner::Python)[0].text, "one");
    }
}
