//! The Markdown report: the table of figures and the details behind it.

use super::*;

pub(super) fn render(
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

pub(super) fn write_header(out: &mut String, header: &Header, browser: &Value) -> Result<()> {
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

pub(super) fn page_weight_rows(table: &mut Table, browser: &Value) -> Result<()> {
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
                    "… of which diagrams (inline SVG drawn at build time)",
                    diagrams,
                    Unit::Kilobytes,
                    None,
                );
                table.measured(
                    format!("… `{path}` with stock mdbook-mermaid (computed)"),
                    stats_of(runs, |run| stock_weight(run, mermaid))?,
                    Unit::Kilobytes,
                    budget,
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
                let stock = stats_of(runs, |run| stock_weight(run, mermaid))?;
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

pub(super) fn type_bytes(run: &Value, kind: &str) -> Result<f64> {
    let weight = page_weight(run)?;
    Ok(weight
        .by_type
        .iter()
        .find(|(t, _)| t == kind)
        .map_or(0.0, |(_, bytes)| *bytes))
}

/// One widget's bundle as shipped: wasm plus JS glue.
pub(super) struct BundleSize {
    pub(super) widget: String,
    pub(super) raw: f64,
    pub(super) gzip: f64,
}

/// Returns every widget's bundle size from the browser results, largest gzip first.
pub(super) fn bundle_sizes(browser: &Value) -> Result<Vec<BundleSize>> {
    let mut sizes = Vec::new();
    for bundle in array(browser, "bundles")? {
        let size = |pointer: &str| pointer_number(bundle, pointer);
        sizes.push(BundleSize {
            widget: text(bundle, "widget")?.to_string(),
            raw: size("/wasm/raw")? + size("/js/raw")?,
            gzip: size("/wasm/gzip")? + size("/js/gzip")?,
        });
    }
    sizes.sort_by(|a, b| b.gzip.total_cmp(&a.gzip));
    Ok(sizes)
}

pub(super) fn bundle_rows(table: &mut Table, browser: &Value, functions: &Functions) -> Result<()> {
    table.section(2);
    let sizes = bundle_sizes(browser)?;
    let largest = sizes
        .first()
        .context("the browser results list no widget bundle")?;
    table.measured(
        format!("Largest widget bundle (`{}`, wasm + JS)", largest.widget),
        Stats::single(largest.gzip),
        Unit::Kilobytes,
        Some(200.0 * KB),
    );
    table.measured("… raw", Stats::single(largest.raw), Unit::Kilobytes, None);
    table.measured(
        format!(
            "All {} widget bundles together, as the print page loads them",
            sizes.len()
        ),
        Stats::single(sizes.iter().map(|size| size.gzip).sum()),
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
pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

pub(super) fn first_frame_rows(table: &mut Table, browser: &Value) -> Result<()> {
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
pub(super) fn settings_text(widget: &Value) -> Result<String> {
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

pub(super) fn frame_cost_rows(table: &mut Table, browser: &Value) -> Result<()> {
    table.section(4);
    let speed = text(browser, "speed")?;
    let widgets = array(browser, "frameCost")?;
    for widget in widgets {
        let name = text(widget, "widget")?;
        let mut settings = settings_text(widget)?;
        if let Some(size) = widget.get("size").and_then(Value::as_str) {
            settings = format!("stand-in with {size}: {settings}");
        }
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
    for (planned, size) in PLANNED_WIDGETS {
        let measured = widgets
            .iter()
            .any(|widget| widget.get("widget").and_then(Value::as_str) == Some(*planned));
        if !measured {
            let text = format!("not measured: the book has no {planned} widget bundle");
            table.note(format!("Frame cost, {planned} widget with {size}"), text);
        }
    }
    Ok(())
}

/// Returns how much JS heap plus wasm memory a run added, in bytes.
pub(super) fn memory_growth(run: &Value) -> Result<f64> {
    let total = |at: &str| -> Result<f64> {
        Ok(pointer_number(run, &format!("/{at}/jsHeap"))?
            + pointer_number(run, &format!("/{at}/wasm"))?)
    };
    Ok(total("after")? - total("before")?)
}

/// Reports whether a widget's memory runs stopped at the longest run a widget
/// allows, which a widget with short steps reaches within 5 minutes at full
/// speed. Such a run animated for less than the stated time.
fn reached_step_limit(widget: &Value) -> Result<bool> {
    let steps = stats_of(array(widget, "runs")?, |run| number(run, "steps"))?;
    Ok(steps.median >= sim::scenario::MAX_STEPS as f64)
}

pub(super) fn memory_rows(table: &mut Table, browser: &Value, quick: bool) -> Result<()> {
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
        let mut measure = format!("JS heap + wasm memory growth, `{name}`, {length} at {speed}");
        if reached_step_limit(widget)? {
            measure.push_str(&format!(
                " (it stopped earlier, at a run's limit of {} steps)",
                sim::scenario::MAX_STEPS
            ));
        }
        table.measured(measure, stats, Unit::Megabytes, Some(MB));
    }
    Ok(())
}

pub(super) fn engine_rows(table: &mut Table, engines: &[EngineResult]) {
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

pub(super) fn build_rows(table: &mut Table, builds: &BookBuilds) {
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

pub(super) fn write_page_weights(out: &mut String, browser: &Value) -> Result<()> {
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

pub(super) fn write_bundle(out: &mut String, browser: &Value, functions: &Functions) -> Result<()> {
    writeln!(out, "\n## Widget bundles\n")?;
    writeln!(
        out,
        "Each widget has its own bundle in `widgets/NAME/`, and a page loads the bundles of \
         the widgets it shows. Sizes are wasm plus JS glue.\n"
    )?;
    writeln!(out, "| Widget | raw | gzip |\n|---|---|---|")?;
    for size in bundle_sizes(browser)? {
        writeln!(
            out,
            "| `{}` | {:.1} KB | {:.1} KB |",
            size.widget,
            size.raw / KB,
            size.gzip / KB
        )?;
    }
    let Functions::Listed {
        functions,
        matches_bundle,
        widget,
    } = functions
    else {
        return Ok(());
    };
    let bundle_bytes = array(browser, "bundles")?
        .iter()
        .find(|bundle| bundle["widget"] == widget.as_str())
        .with_context(|| format!("the browser results have no `{widget}` bundle"))
        .and_then(|bundle| pointer_number(bundle, "/wasm/raw"))?;
    writeln!(
        out,
        "\nLargest functions of the `{widget}` bundle, the largest (`twiggy top`, raw bytes):\n"
    )?;
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

pub(super) fn write_frame_details(out: &mut String, browser: &Value) -> Result<()> {
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

pub(super) fn write_memory_details(out: &mut String, browser: &Value) -> Result<()> {
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

pub(super) fn write_method(out: &mut String, browser: &Value) -> Result<()> {
    let speed = text(browser, "speed")?;
    let warm_up_s = number(browser, "warmUpMs")? / 1000.0;
    let trace_s = number(browser, "traceMs")? / 1000.0;
    let memory_s = pointer_number(browser, "/memory/seconds")?;
    let method = [
        "Page weight: each page is loaded in a fresh Chromium profile (cold cache) from a local \
         server, every widget is scrolled into view, and each response body is compressed with \
         zlib level 6, as an estimate of GitHub Pages' gzip. The widget bundles are \
         `widgets/NAME/sdbe_widgets.js` and `.wasm`, one per widget on the page. Diagrams are drawn at build time into the \
         HTML as SVG; their row is that SVG compressed on its own, taken out of the HTML row. \
         Stock mdbook-mermaid instead loads `mermaid.min.js` (version 0.17.1's, fetched by \
         this command) on every page and draws in the browser, so its rows take the inline \
         SVG out and add that file."
            .to_string(),
        "Widget bundles: file sizes in `book/widgets/NAME/`. `twiggy top` is installed with \
         `cargo install twiggy --locked` when missing."
            .to_string(),
        "First frame: a fresh profile per run, which loads the page once with a cold cache and \
         once more with a warm one. A MutationObserver, installed before the page's scripts, \
         waits until the first `.sdbe-widget` has `data-mounted` and an `svg.sdbe-scene`, then \
         the next requestAnimationFrame callback reads `performance.now()`, which counts from \
         navigation start. The page is not scrolled. The loader starts fetching the page's \
         bundles from the head, while the stylesheets load."
            .to_string(),
        format!(
            "Frame cost: one run over every widget picks the three with the highest p95, and \
             those are measured in full, together with the stand-ins for the widgets the budget \
             names at a size no chapter shows yet (a 100-node gossip widget, a 9-node Raft \
             widget): each is mounted on `introduction.html`, a page without widgets, with the \
             configuration its row gives. The widget plays at {speed} for {warm_up_s:.0} s, then a Chrome DevTools \
             Protocol trace (`devtools.timeline`) records {trace_s:.0} s. The page's main thread \
             is cut into frames at each `BeginMainThreadFrame`, and a frame's cost is the time \
             spent in script (`FireAnimationFrame`, `FunctionCall`, `TimerFire`, `EventDispatch`, \
             and the like) and in style and layout (`UpdateLayoutTree`, `Layout`), overlaps \
             counted once. The longest task is the longer of the trace's longest `RunTask` and \
             the Long Tasks API's longest entry."
        ),
        format!(
            "Memory: each widget measured for frame cost plays at {speed} for {memory_s:.0} s \
             in its own Chromium, all at once. Before and after, a garbage collection runs \
             (`HeapProfiler.collectGarbage`), then the JS heap is \
             `Runtime.getHeapUsage().usedSize` and the wasm memory is the byte length of the \
             bundle's exported `memory`, which never shrinks."
        ),
        "Engines: criterion times `step()` on an engine that keeps running, after warm-up \
         steps that fill its queues and windows. The figures are the median, minimum and \
         maximum over criterion's samples. The bench profile inherits the release profile's \
         `opt-level = \"z\"` and LTO, so the figures are those of the code the bundles ship."
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub(super) fn run_of(total_gzip: f64) -> Value {
        json!({ "resources": [
            { "path": "beginner/20-token-bucket.html", "category": "html", "raw": 1, "gzip": 1000.0 },
            { "path": "widgets/token-bucket/sdbe_widgets_bg.wasm", "category": "wasm", "raw": 1, "gzip": 2000.0 },
            { "path": "beginner/20-token-bucket.html#diagrams", "category": "diagrams", "raw": 1, "gzip": 500.0 },
            { "path": "theme/fonts.css", "category": "css", "raw": 1, "gzip": total_gzip - 3500.0 },
        ] })
    }

    pub(super) fn browser_results() -> Value {
        let frame = json!({ "cold": { "mounted": 90.0, "frame": 100.0 }, "warm": { "mounted": 40.0, "frame": 50.0 } });
        let frames = json!({ "frames": 600, "p50": 1.0, "p95": 2.0, "longestTask": 9.0, "longTasksOver50ms": 0, "steps": 10 });
        let memory = json!({ "before": { "jsHeap": 1e6, "wasm": 1e6 }, "after": { "jsHeap": 1e6, "wasm": 3e6 }, "steps": 10 });
        let stopped = json!({ "before": { "jsHeap": 1e6, "wasm": 1e6 }, "after": { "jsHeap": 1e6, "wasm": 1e6 }, "steps": sim::scenario::MAX_STEPS });
        json!({
            "runs": 1, "quick": true, "userAgent": "HeadlessChrome", "speed": "10×",
            "warmUpMs": 1000, "traceMs": 10000,
            "bundles": [{ "widget": "token-bucket", "js": { "raw": 10.0, "gzip": 5.0 }, "wasm": { "raw": 100.0, "gzip": 50.0 } }],
            "mermaidRuntime": { "raw": 10.0, "gzip": 4000.0 },
            "pageWeight": [
                { "label": "typical", "path": "beginner/20-token-bucket.html", "runs": [run_of(400.0 * KB)] },
                { "label": "without widgets", "path": "introduction.html", "runs": [run_of(9000.0)] },
            ],
            "firstFrame": [{ "widget": "token-bucket", "path": "beginner/20-token-bucket.html", "runs": [frame] }],
            "frameCost": [
                { "widget": "token-bucket", "path": "beginner/20-token-bucket.html", "settings": {}, "runs": [frames] },
                { "widget": "gossip", "path": "introduction.html", "size": "100 nodes", "settings": { "nodes": 100 }, "runs": [frames] },
            ],
            "memory": { "seconds": 30, "widgets": [
                { "widget": "token-bucket", "runs": [memory] },
                { "widget": "raft", "runs": [stopped] },
            ] },
        })
    }

    pub(super) fn report() -> String {
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

    pub(super) fn row_starting(report: &str, start: &str) -> String {
        let line = report.lines().find(|line| line.starts_with(start));
        line.unwrap_or_else(|| panic!("no row starts with {start:?} in:\n{report}"))
            .to_string()
    }

    #[test]
    pub(super) fn median_of_even_count_is_mean_of_middle() {
        let stats = Stats::of(&[4.0, 1.0, 3.0, 2.0]).expect("four values");

        assert_eq!(stats.median, 2.5);
        assert_eq!(stats.min, 1.0);
        assert_eq!(stats.max, 4.0);
    }

    #[test]
    pub(super) fn report_marks_missed_budget() {
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
    pub(super) fn report_shows_failures_and_gaps() {
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

    #[test]
    pub(super) fn report_flags_memory_step_limit() {
        let report = report();

        let raft = row_starting(&report, "| 5 | JS heap + wasm memory growth, `raft`");
        assert!(raft.contains("it stopped earlier"), "{raft}");
        let token_bucket = row_starting(
            &report,
            "| 5 | JS heap + wasm memory growth, `token-bucket`",
        );
        assert!(!token_bucket.contains("stopped"), "{token_bucket}");
    }

    #[test]
    pub(super) fn steps_per_second_show_three_digits() {
        assert_eq!(Unit::StepsPerSecond.format(428.4), "428 steps/s");
        assert_eq!(Unit::StepsPerSecond.format(1_234.0), "1.2 k steps/s");
        assert_eq!(Unit::StepsPerSecond.format(92_345.0), "92 k steps/s");
        assert_eq!(Unit::StepsPerSecond.format(23_630_000.0), "23.63 M steps/s");
    }

    #[test]
    pub(super) fn report_lists_stand_ins() {
        let report = report();

        let gossip = row_starting(&report, "| 4 | Frame script + layout p50, `gossip`");
        assert!(
            gossip.contains("(stand-in with 100 nodes: nodes = 100)"),
            "{gossip}"
        );
        let budget = row_starting(&report, "| 4 | Frame script + layout p95, `gossip`");
        assert!(budget.ends_with("| ≤ 4.00 ms | yes |"), "{budget}");
        let raft = row_starting(&report, "| 4 | Frame cost, raft widget with 9 nodes");
        assert!(raft.contains("not measured"), "{raft}");
        assert!(!report.contains("Frame cost, gossip widget"), "{report}");
    }
}
