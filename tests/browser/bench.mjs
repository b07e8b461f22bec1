// Browser measurements for `cargo xtask bench`: page weight, time to the first
// widget frame, per-frame cost while animating, and memory growth.
//
// Usage: node tests/browser/bench.mjs --out FILE [--quick]
//
// The book in book/ must be built (`cargo xtask build`). Every figure but the
// bundle's file sizes is measured RUNS times. The raw runs go to FILE as JSON,
// and xtask computes the medians and checks the budgets. Progress goes to
// stderr. Any failed measurement exits non-zero.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { serveBook, launchBrowser, openPage, placeWidget, waitForWidgets, bookDir } from './harness.mjs';

/// Number of runs behind every figure. xtask reports their median, minimum and maximum.
const RUNS = 5;
/// The chapter that stands for a typical page.
const TYPICAL_PAGE = 'beginner/20-token-bucket.html';
/// A page with no widget, for comparison.
const PAGE_WITHOUT_WIDGETS = 'introduction.html';
/// Stock mdbook-mermaid's runtime, which xtask fetches for the side-by-side
/// figure. The book itself draws its diagrams at build time.
const MERMAID_RUNTIME = process.env.SDBE_MERMAID_RUNTIME;
/// The inline SVG diagrams the preprocessor writes into a page.
const DIAGRAM = /<figure class="sdbe-diagram">[\s\S]*?<\/figure>/g;
/// Folder of the widget bundles inside the book, one subfolder per widget.
const BUNDLES = 'widgets';
/// Returns the paths of one widget's bundle inside the book.
const bundleFiles = (widget) => ({
    js: `${BUNDLES}/${widget}/sdbe_widgets.js`,
    wasm: `${BUNDLES}/${widget}/sdbe_widgets_bg.wasm`,
});
/// zlib level of the gzip estimate: 6 is zlib's default.
const GZIP_LEVEL = 6;
/// Label of the speed option that runs a widget at full speed.
const FULL_SPEED = '10×';
/// Wall-clock time a widget animates before the frame trace starts.
const WARM_UP_MS = 1_000;
/// Length of the frame trace.
const TRACE_MS = 10_000;
/// Widgets whose frame cost and memory are measured RUNS times: the ones with
/// the highest frame p95 in a first pass of one run over every widget.
const HEAVIEST_WIDGETS = 3;
/// Animation time of the memory run, in seconds: full and with --quick.
const MEMORY_SECONDS = 300;
const QUICK_MEMORY_SECONDS = 30;

/// Parameter fields set through the widget's own inputs before the frame and
/// memory runs, and the scene label that proves the engine took them. The
/// scene counts virtual nodes over all nodes: 4 nodes of 256 in the chapter.
const WIDGET_SETTINGS = {
    'consistent-hash': {
        fields: { 'Vnodes per node': 256, Keys: 10_000 },
        scene: /with 1024 virtual nodes and 10000 keys/,
    },
};

/// Widgets that the frame and memory budgets name at a size no chapter shows
/// yet: a 100-node gossip widget and a 9-node Raft widget. Each is mounted on
/// PAGE_WITHOUT_WIDGETS with this configuration, the rest of it the engine's
/// defaults, and measured like the heaviest widgets.
const STAND_INS = [
    { widget: 'gossip', size: '100 nodes', config: { nodes: 100, fanout: 8 } },
    { widget: 'raft', size: '9 nodes', config: { nodes: 9 } },
];

/// Trace events that count as script, and as style and layout, per frame.
const SCRIPT_EVENTS = new Set([
    'FireAnimationFrame', 'FunctionCall', 'TimerFire', 'EventDispatch', 'EvaluateScript', 'RunMicrotasks',
]);
const LAYOUT_EVENTS = new Set(['UpdateLayoutTree', 'Layout']);
/// Trace categories with those events, the tasks and the frame boundaries.
const TRACE_CATEGORIES = [
    'devtools.timeline',
    'disabled-by-default-devtools.timeline',
    'disabled-by-default-devtools.timeline.frame',
];

function log(message) {
    process.stderr.write(`bench: ${message}\n`);
}

function parseArgs(argv) {
    const out = argv[argv.indexOf('--out') + 1];
    if (!argv.includes('--out') || !out) {
        throw new Error('usage: node tests/browser/bench.mjs --out FILE [--quick]');
    }
    return { out, quick: argv.includes('--quick') };
}

/// Launches Chromium with a fresh profile, so nothing comes from a cache.
/// Closing it deletes the profile.
async function launchFreshBrowser() {
    const browser = await launchBrowser();
    return { browser, close: () => browser.close() };
}

async function repeat(label, measure) {
    const runs = [];
    for (let run = 1; run <= RUNS; run += 1) {
        log(`${label}: run ${run} of ${RUNS}`);
        runs.push(await measure());
    }
    return runs;
}

// ---------------------------------------------------------------------------
// Book contents

async function htmlPages(dir = bookDir) {
    const pages = [];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
            pages.push(...(await htmlPages(path)));
        } else if (entry.name.endsWith('.html')) {
            pages.push(relative(bookDir, path));
        }
    }
    return pages.sort();
}

function gzipSize(bytes) {
    return gzipSync(bytes, { level: GZIP_LEVEL }).length;
}

async function fileSizes(path) {
    const bytes = await readFile(path.startsWith('/') ? path : join(bookDir, path));
    return { raw: bytes.length, gzip: gzipSize(bytes) };
}

/// Finds the first chapter that embeds each widget, in book order of file names.
async function widgetChapters(pages) {
    const chapters = new Map();
    for (const page of pages.filter((p) => p !== 'print.html')) {
        const html = await readFile(join(bookDir, page), 'utf8');
        for (const match of html.matchAll(/class="sdbe-widget" data-widget="([^"]+)"/g)) {
            if (!chapters.has(match[1])) {
                chapters.set(match[1], page);
            }
        }
    }
    return [...chapters].map(([widget, path]) => ({ widget, path }));
}

/// Returns the raw and gzip sizes of every widget's bundle, by widget name.
async function bundleSizes() {
    const bundles = [];
    for (const entry of await readdir(join(bookDir, BUNDLES), { withFileTypes: true })) {
        if (entry.isDirectory()) {
            const files = bundleFiles(entry.name);
            bundles.push({ widget: entry.name, js: await fileSizes(files.js), wasm: await fileSizes(files.wasm) });
        }
    }
    if (bundles.length === 0) {
        throw new Error(`no widget bundles under ${join(bookDir, BUNDLES)}: run \`cargo xtask build\``);
    }
    return bundles.sort((a, b) => a.widget.localeCompare(b.widget));
}

/// Picks the page with the most gzip bytes from its HTML and from the widget
/// bundles it loads. The theme's CSS and JS are the same on
/// every page, so the estimate leaves them out.
/// NOTE: fonts are left out too, although pages load different font files
/// (code, italics), so a page heavier only by its fonts may not be picked.
async function heaviestPage(pages, bundles) {
    const bundleGzip = new Map(bundles.map((b) => [b.widget, b.js.gzip + b.wasm.gzip]));
    let heaviest = null;
    for (const page of pages) {
        const html = await readFile(join(bookDir, page));
        const text = html.toString('utf8');
        const shown = new Set([...text.matchAll(/class="sdbe-widget" data-widget="([^"]+)"/g)].map((m) => m[1]));
        let estimate = gzipSize(html);
        for (const widget of shown) {
            estimate += bundleGzip.get(widget) ?? 0;
        }
        if (!heaviest || estimate > heaviest.estimate) {
            heaviest = { page, estimate };
        }
    }
    return heaviest.page;
}

// ---------------------------------------------------------------------------
// 1. Page weight

const COMPRESSIBLE = /^(text\/|application\/(javascript|json|wasm|xml)|image\/svg\+xml)/;

function category(contentType) {
    if (contentType.startsWith('text/html')) {
        return 'html';
    }
    if (contentType.startsWith('text/css')) {
        return 'css';
    }
    if (contentType.includes('javascript')) {
        return 'js';
    }
    if (contentType.startsWith('application/wasm')) {
        return 'wasm';
    }
    if (contentType.startsWith('font/')) {
        return 'fonts';
    }
    return 'other';
}

/// Scrolls every widget into view and waits for the widgets, so that every
/// lazily loaded resource has been requested.
async function loadEverything(page) {
    for (const widget of await page.locator('.sdbe-widget').all()) {
        await widget.scrollIntoViewIfNeeded();
    }
    await waitForWidgets(page);
    await page.waitForLoadState('networkidle');
}

/// Loads `path` in a fresh browser profile, so nothing comes from a cache, and
/// returns the size of every response, raw and as zlib level 6 gzip.
async function pageWeight(server, path) {
    const { browser, close } = await launchFreshBrowser();
    try {
        const { page, problems } = await openPage(browser);
        const responses = [];
        page.on('response', (response) => responses.push(response));
        await page.goto(server.base + path, { waitUntil: 'load' });
        await loadEverything(page);
        // A failed request would leave bytes uncounted, and a console error
        // changes no byte count, so only the first stops the measurement.
        const failures = problems.filter((p) => !p.startsWith('console error'));
        if (failures.length > 0) {
            throw new Error(`${path} did not load cleanly: ${failures.join('; ')}`);
        }
        for (const problem of problems) {
            log(`warning: ${path}: ${problem}`);
        }

        const resources = [];
        for (const response of responses) {
            const url = new URL(response.url());
            const contentType = response.headers()['content-type'] ?? '';
            const body = await response.body();
            let gzip = COMPRESSIBLE.test(contentType) ? gzipSize(body) : body.length;
            const path = url.pathname.slice(1);
            if (contentType.startsWith('text/html')) {
                // Diagrams travel inside the HTML. Count their SVG, gzipped on
                // its own, as diagrams, and the rest of the page as HTML.
                const svg = (body.toString('utf8').match(DIAGRAM) ?? []).join('\n');
                if (svg) {
                    const diagrams = Math.min(gzipSize(Buffer.from(svg)), gzip);
                    resources.push({ path: `${path}#diagrams`, category: 'diagrams', raw: svg.length, gzip: diagrams });
                    gzip -= diagrams;
                }
            }
            resources.push({ path, category: category(contentType), raw: body.length, gzip });
        }
        return { resources };
    } finally {
        await close();
    }
}

// ---------------------------------------------------------------------------
// 3. First frame

/// Records when the first widget has mounted and drawn its scene, and the
/// animation frame after that, in milliseconds since navigation start.
function watchFirstFrame() {
    window.__sdbeFirstFrame = null;
    const observer = new MutationObserver(() => {
        const first = document.querySelector('.sdbe-widget');
        if (!first || !first.hasAttribute('data-mounted') || !first.querySelector('svg.sdbe-scene')) {
            return;
        }
        observer.disconnect();
        const mounted = performance.now();
        requestAnimationFrame(() => {
            window.__sdbeFirstFrame = { mounted, frame: performance.now() };
        });
    });
    observer.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-mounted'] });
}

/// Loads `url` without scrolling and returns the times `watchFirstFrame` recorded.
async function timeFirstFrame(page, url) {
    await page.goto(url, { waitUntil: 'commit' });
    try {
        const handle = await page.waitForFunction(() => window.__sdbeFirstFrame, null, { timeout: 20_000 });
        return await handle.jsonValue();
    } catch (err) {
        throw new Error(
            `${url}: the first widget did not draw within 20 s: ${err.message}`,
        );
    }
}

/// Times the first frame on a first visit in a fresh profile (cold cache),
/// then on a second visit with the browser's caches filled (warm cache).
async function firstFrame(server, path) {
    const { browser, close } = await launchFreshBrowser();
    try {
        const page = await browser.newPage();
        await page.addInitScript(watchFirstFrame);
        const cold = await timeFirstFrame(page, server.base + path);
        await page.goto('about:blank');
        const warm = await timeFirstFrame(page, server.base + path);
        return { cold, warm };
    } finally {
        await close();
    }
}

// ---------------------------------------------------------------------------
// Driving a widget

/// Returns the stand-ins whose widget has a bundle in the book, placed on
/// PAGE_WITHOUT_WIDGETS. The report lists a stand-in without one as not
/// measured.
function standIns(bundles) {
    const built = new Set(bundles.map((bundle) => bundle.widget));
    return STAND_INS.filter((standIn) => built.has(standIn.widget))
        .map((standIn) => ({ ...standIn, path: PAGE_WITHOUT_WIDGETS }));
}

/// Opens a widget's chapter and sets it up for animating: mounted, its
/// parameter fields set, and the speed at full.
async function openWidget(context, server, { widget: name, path, config }) {
    const { page, problems } = await openPage(context);
    await page.goto(server.base + path, { waitUntil: 'load' });
    if (config) {
        await placeWidget(page, name, config);
    }
    const widget = page.locator(`.sdbe-widget[data-widget="${name}"]`).first();
    await widget.scrollIntoViewIfNeeded();
    await waitForWidgets(page);

    const settings = WIDGET_SETTINGS[name];
    for (const [label, value] of Object.entries(settings?.fields ?? {})) {
        const input = widget.locator(`label:has-text("${label}") input`);
        await input.fill(String(value));
        await input.dispatchEvent('change');
    }
    if (settings) {
        const scene = await widget.locator('svg.sdbe-scene').getAttribute('aria-label');
        if (!settings.scene.test(scene)) {
            throw new Error(`${name}: the fields did not take effect, the scene reads "${scene}"`);
        }
    }
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: FULL_SPEED });
    return { page, problems, widget };
}

async function setPlaying(widget, playing) {
    const button = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    if ((await button.getAttribute('aria-pressed')) !== String(playing)) {
        await button.click();
    }
    await widget.locator(`button.sdbe-primary[aria-pressed="${playing}"]`).waitFor();
}

/// Returns the engine steps run so far, read from the widget's share link.
async function stepsRun(widget) {
    await widget.locator('button.sdbe-share-button').click();
    const link = await widget.locator('input.sdbe-share-link').inputValue();
    const payload = link.split('.').pop();
    const steps = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')).steps;
    if (!Number.isInteger(steps)) {
        throw new Error(`the share link ${link} has no step count`);
    }
    return steps;
}

function checkClean(name, problems) {
    if (problems.length > 0) {
        throw new Error(`${name}: the page reported problems: ${problems.join('; ')}`);
    }
}

// ---------------------------------------------------------------------------
// 4. Frame cost

/// Keeps every long task (over 50 ms) the page reports, from page start.
function watchLongTasks() {
    window.__sdbeLongTasks = [];
    new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
            window.__sdbeLongTasks.push({ start: entry.startTime, duration: entry.duration });
        }
    }).observe({ type: 'longtask', buffered: true });
}

/// Traces the page for `durationMs` and returns the trace events and the
/// page's performance.now() once tracing had started and before it stops.
/// Stopping a trace can cause a long task of its own, which this window
/// leaves out.
async function traceEvents(page, durationMs) {
    const cdp = await page.context().newCDPSession(page);
    const events = [];
    cdp.on('Tracing.dataCollected', ({ value }) => events.push(...value));
    const complete = new Promise((done) => cdp.once('Tracing.tracingComplete', done));
    await cdp.send('Tracing.start', {
        traceConfig: { includedCategories: TRACE_CATEGORIES },
        transferMode: 'ReportEvents',
    });
    const started = await page.evaluate(() => performance.now());
    await page.waitForTimeout(durationMs);
    const stopped = await page.evaluate(() => performance.now());
    await cdp.send('Tracing.end');
    await complete;
    await cdp.detach();
    return { events, window: [started, stopped] };
}

/// Returns the renderer main thread that began the most frames: the page's.
function pageMainThread(events) {
    const frames = new Map();
    for (const event of events) {
        if (event.name === 'BeginMainThreadFrame') {
            const key = `${event.pid}:${event.tid}`;
            frames.set(key, (frames.get(key) ?? 0) + 1);
        }
    }
    const [best] = [...frames].sort((a, b) => b[1] - a[1]);
    if (!best) {
        throw new Error('the trace has no BeginMainThreadFrame event: the page drew no frame');
    }
    return best[0];
}

/// Sums the lengths of possibly nested intervals, counting overlaps once.
function unionLength(intervals) {
    let total = 0;
    let end = -Infinity;
    for (const [start, stop] of intervals.sort((a, b) => a[0] - b[0])) {
        if (stop > end) {
            total += stop - Math.max(start, end);
            end = stop;
        }
    }
    return total;
}

function percentile(sorted, p) {
    const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
    return sorted[Math.max(0, index)];
}

/// Splits the main thread's trace into frames at each BeginMainThreadFrame and
/// returns per-frame script plus style and layout time, and the longest task.
/// Trace times are in microseconds, and the results are in milliseconds.
function analyseFrames(events) {
    const thread = pageMainThread(events);
    const onThread = events.filter((e) => `${e.pid}:${e.tid}` === thread);
    const starts = onThread.filter((e) => e.name === 'BeginMainThreadFrame').map((e) => e.ts).sort((a, b) => a - b);
    const work = onThread.filter((e) => e.ph === 'X' && (SCRIPT_EVENTS.has(e.name) || LAYOUT_EVENTS.has(e.name)));

    // The last frame is cut off by the end of the trace, so it is left out.
    const perFrame = starts.slice(0, -1).map((start, i) => {
        const end = starts[i + 1];
        const intervals = work.filter((e) => e.ts >= start && e.ts < end).map((e) => [e.ts, e.ts + e.dur]);
        return unionLength(intervals) / 1000;
    });
    const sorted = [...perFrame].sort((a, b) => a - b);
    const tasks = onThread.filter((e) => e.ph === 'X' && e.name === 'RunTask');
    const longestTask = Math.max(0, ...tasks.map((e) => e.dur)) / 1000;
    return { frames: perFrame.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), longestTask };
}

async function frameCost(context, server, chapter) {
    const { page, problems, widget } = await openWidget(context, server, chapter);
    try {
        await page.evaluate(watchLongTasks);
        await setPlaying(widget, true);
        await page.waitForTimeout(WARM_UP_MS);
        const trace = await traceEvents(page, TRACE_MS);
        const longTasks = await page.evaluate(
            ([start, stop]) => window.__sdbeLongTasks.filter((task) => task.start >= start && task.start < stop),
            trace.window,
        );
        await setPlaying(widget, false);
        const steps = await stepsRun(widget);
        checkClean(chapter.widget, problems);
        if (steps === 0) {
            throw new Error(`${chapter.widget}: no engine step ran while playing`);
        }
        const frames = analyseFrames(trace.events);
        // The Long Tasks API reports only tasks over 50 ms, and the trace
        // reports every task. The larger of the two counts, in case one
        // source missed a task.
        const longestTask = Math.max(frames.longestTask, ...longTasks.map((task) => task.duration));
        return { ...frames, longestTask, longTasksOver50ms: longTasks.length, steps };
    } finally {
        await page.close();
    }
}

// ---------------------------------------------------------------------------
// 5. Memory

/// Returns the JS heap in use after a full garbage collection, and the size of
/// the WebAssembly memory of `widget`'s bundle, in bytes.
async function memoryInUse(page, widget) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const { usedSize } = await cdp.send('Runtime.getHeapUsage');
    await cdp.detach();
    // Calling the bundle's init function again returns the instance's exports.
    const wasm = await page.evaluate(async (js) => {
        const url = new URL(path_to_root + js, document.baseURI).href;
        const exports = await (await import(url)).default();
        return exports.memory.buffer.byteLength;
    }, bundleFiles(widget).js);
    return { jsHeap: usedSize, wasm };
}

/// Animates one widget in its own browser for `seconds` and returns its
/// memory before and after.
async function memoryGrowth(server, chapter, seconds) {
    const { browser, close } = await launchFreshBrowser();
    try {
        const { page, problems, widget } = await openWidget(browser, server, chapter);
        const before = await memoryInUse(page, chapter.widget);
        await setPlaying(widget, true);
        await page.waitForTimeout(seconds * 1000);
        await setPlaying(widget, false);
        const after = await memoryInUse(page, chapter.widget);
        const steps = await stepsRun(widget);
        checkClean(chapter.widget, problems);
        return { before, after, steps };
    } finally {
        await close();
    }
}

/// Runs the memory measurement of every widget at once, each in its own
/// browser process so that their heaps stay apart, RUNS times.
async function memoryRuns(server, chapters, seconds) {
    const rounds = await repeat(`memory, ${seconds} s of animation, all widgets at once`, () =>
        Promise.all(chapters.map((chapter) => memoryGrowth(server, chapter, seconds))));
    return chapters.map((chapter, i) => ({ ...chapter, runs: rounds.map((round) => round[i]) }));
}

// ---------------------------------------------------------------------------

async function userAgent(context) {
    const page = await context.newPage();
    const agent = await page.evaluate(() => navigator.userAgent);
    await page.close();
    return agent;
}

/// Measures every widget's frame cost once, records the p95s in
/// `result.frameFirstPass`, and returns the HEAVIEST_WIDGETS chapters with
/// the highest p95.
async function heaviestByFrameCost(browser, server, chapters, result) {
    const costs = [];
    for (const chapter of chapters) {
        log(`frame cost first pass: ${chapter.widget}`);
        costs.push({ chapter, p95: (await frameCost(browser, server, chapter)).p95 });
    }
    costs.sort((a, b) => b.p95 - a.p95);
    result.frameFirstPass = costs.map(({ chapter, p95 }) => ({ widget: chapter.widget, p95 }));
    return costs.slice(0, HEAVIEST_WIDGETS).map(({ chapter }) => chapter);
}

async function main() {
    const { out, quick } = parseArgs(process.argv.slice(2));
    const pages = await htmlPages();
    const chapters = await widgetChapters(pages);
    const bundles = await bundleSizes();
    const heaviest = await heaviestPage(pages, bundles);
    const server = await serveBook();
    const { browser, close } = await launchFreshBrowser();
    try {
        const result = {
            runs: RUNS,
            quick,
            speed: FULL_SPEED,
            warmUpMs: WARM_UP_MS,
            traceMs: TRACE_MS,
            userAgent: await userAgent(browser),
            bundles,
            mermaidRuntime: await fileSizes(MERMAID_RUNTIME),
            pageWeight: [],
            firstFrame: [],
            frameCost: [],
            memory: { seconds: quick ? QUICK_MEMORY_SECONDS : MEMORY_SECONDS, widgets: [] },
        };
        const weighed = [
            { label: 'typical', path: TYPICAL_PAGE },
            { label: 'heaviest', path: heaviest },
            { label: 'without widgets', path: PAGE_WITHOUT_WIDGETS },
        ];
        for (const { label, path } of weighed) {
            const runs = await repeat(`page weight of ${path}`, () => pageWeight(server, path));
            result.pageWeight.push({ label, path, runs });
        }
        for (const chapter of chapters) {
            const runs = await repeat(`first frame of ${chapter.path}`, () => firstFrame(server, chapter.path));
            result.firstFrame.push({ ...chapter, runs });
        }
        const heaviestWidgets = await heaviestByFrameCost(browser, server, chapters, result);
        const measured = [...heaviestWidgets, ...standIns(bundles)];
        for (const chapter of measured) {
            const settings = chapter.config ?? WIDGET_SETTINGS[chapter.widget]?.fields ?? {};
            const runs = await repeat(`frame cost of ${chapter.widget}`, () => frameCost(browser, server, chapter));
            result.frameCost.push({ ...chapter, settings, runs });
        }
        result.memory.widgets = await memoryRuns(server, measured, result.memory.seconds);
        await writeFile(out, JSON.stringify(result, null, 2));
    } finally {
        await close();
        await server.close();
    }
}

main().catch((err) => {
    process.stderr.write(`bench: error: ${err.stack ?? err}\n`);
    process.exit(1);
});
