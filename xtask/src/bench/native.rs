//! Measurements outside the browser: book builds, engine throughput, and the
//! bundle's largest functions.

use super::*;

pub(super) struct BookBuilds {
    pub(super) first_s: f64,
    pub(super) incremental: Stats,
}

/// Times `mdbook build` into a scratch folder: once, then INCREMENTAL_BUILDS
/// more times into the same folder.
pub(super) fn measure_book_builds() -> Result<BookBuilds> {
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
pub(super) struct Benchmark {
    /// The widget's name in `sim::registry`.
    pub(super) function: String,
    /// The engine's configuration, as directive parameters.
    pub(super) params: String,
    pub(super) steps_per_second: Stats,
}

pub(super) struct EngineResult {
    pub(super) name: &'static str,
    /// The engine's benchmark, or `None` when there is none.
    pub(super) measured: Option<Benchmark>,
}

/// Runs the criterion benchmark and reads steps per second for every engine
/// in the registry from criterion's per-sample timings.
pub(super) fn measure_engines() -> Result<Vec<EngineResult>> {
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
pub(super) fn criterion_results(dir: &Path) -> Result<Vec<Benchmark>> {
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
pub(super) fn steps_per_second(path: &Path) -> Result<Stats> {
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
pub(super) struct Function {
    pub(super) name: String,
    pub(super) bytes: f64,
}

/// The result of `twiggy top`, or the reason it could not run.
pub(super) enum Functions {
    Listed {
        functions: Vec<Function>,
        /// Whether the compiled module, optimized as the build does, equals
        /// the shipped bundle byte for byte.
        matches_bundle: bool,
        /// The widget whose bundle is listed: the largest one.
        widget: String,
    },
    InstallFailed(String),
}

/// Lists the largest functions of the largest widget bundle with `twiggy top`.
///
/// The shipped bundle has no names, because wasm-opt drops them, so twiggy
/// would list `code[1156]`. The bench compiles that widget again, binds it
/// and optimizes it with `wasm-opt -Oz -g`, which keeps the names, and checks
/// that `-Oz --strip-debug`, as the build runs it, reproduces the shipped bundle.
pub(super) fn largest_functions() -> Result<Functions> {
    step("largest functions in the largest widget bundle (twiggy top)");
    if let Err(err) = install_twiggy() {
        return Ok(Functions::InstallFailed(format!("{err:#}")));
    }
    let (widget, shipped) = largest_bundle()?;

    let dir = Path::new(WORK_DIR).join("named");
    let bound = bind_compiled_module(&widget, &dir)?;
    let named = dir.join("named.wasm");
    optimize(&bound, &named, "-g")?;
    let plain = dir.join("plain.wasm");
    optimize(&bound, &plain, "--strip-debug")?;

    let matches_bundle = read_bytes(&plain)? == read_bytes(&shipped)?;
    Ok(Functions::Listed {
        widget,
        functions: twiggy_top(&named)?,
        matches_bundle,
    })
}

/// Returns the widget whose shipped wasm file is the largest, and that file.
fn largest_bundle() -> Result<(String, PathBuf)> {
    let mut largest: Option<(u64, String, PathBuf)> = None;
    for entry in fs::read_dir(BUNDLES).with_context(|| format!("failed to read {BUNDLES}"))? {
        let entry = entry?;
        let wasm = entry.path().join(BUNDLE_WASM);
        let Ok(metadata) = fs::metadata(&wasm) else {
            continue;
        };
        if largest
            .as_ref()
            .is_none_or(|(size, ..)| metadata.len() > *size)
        {
            let widget = entry.file_name().to_string_lossy().into_owned();
            largest = Some((metadata.len(), widget, wasm));
        }
    }
    let (_, widget, wasm) = largest
        .with_context(|| format!("no widget bundle in {BUNDLES}: run `cargo xtask build`"))?;
    Ok((widget, wasm))
}

/// Compiles `widget` alone and runs wasm-bindgen on it as the build does,
/// into `dir`, and returns the bound wasm file.
pub(super) fn bind_compiled_module(widget: &str, dir: &Path) -> Result<PathBuf> {
    let compiled = crate::book::compile_widget(widget)?;
    let mut command = cmd("wasm-bindgen");
    command
        .args(["--target", "web", "--no-typescript"])
        .args(["--out-name", "sdbe_widgets", "--out-dir"])
        .arg(dir)
        .arg(compiled);
    run_quietly(&mut command)?;
    Ok(dir.join("sdbe_widgets_bg.wasm"))
}

/// Runs `wasm-opt -Oz` with one more flag, as the build does with `--strip-debug`.
pub(super) fn optimize(input: &Path, output: &Path, flag: &str) -> Result<()> {
    let mut command = cmd("wasm-opt");
    command
        .args(["-Oz", flag, "--output"])
        .arg(output)
        .arg(input);
    run_quietly(&mut command)
}

pub(super) fn install_twiggy() -> Result<()> {
    if tools::output(cmd("twiggy").arg("--version")).is_some() {
        return Ok(());
    }
    step("installing twiggy (cargo install twiggy --locked)");
    run_quietly(cmd("cargo").args(["install", "twiggy", "--locked"]))
}

/// Prefixes of the items in `twiggy top` that are not functions: name
/// subsections, custom sections, data, imports, exports and types.
pub(super) const NOT_FUNCTIONS: &[&str] = &[
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
pub(super) fn twiggy_top(wasm: &Path) -> Result<Vec<Function>> {
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
pub(super) fn short_symbol(name: &str) -> String {
    let hash = regex::Regex::new(r"::h[0-9a-f]{16}$").expect("a valid regex");
    let crate_id = regex::Regex::new(r"\[[0-9a-f]{16}\]").expect("a valid regex");
    let name = hash.replace(name, "");
    crate_id.replace_all(&name, "").into_owned()
}
