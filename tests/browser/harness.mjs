// Shared set-up for the browser tests: a static server for the built book on
// 127.0.0.1 and a headless Chromium driven by playwright-core.
//
// The browser is the system's Chromium (SDBE_CHROMIUM, set by `cargo xtask
// test`); playwright-core never downloads one of its own.
import { createServer } from 'node:http';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const bookDir = resolve(new URL('../../book', import.meta.url).pathname);

const contentTypes = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript',
    '.mjs': 'text/javascript',
    '.css': 'text/css',
    '.wasm': 'application/wasm',
    '.svg': 'image/svg+xml',
    '.json': 'application/json',
    '.woff2': 'font/woff2',
    '.woff': 'font/woff',
    '.ttf': 'font/ttf',
    '.png': 'image/png',
    '.ico': 'image/x-icon',
    '.txt': 'text/plain',
};

/// Serves `bookDir` on an ephemeral port of 127.0.0.1 and returns its base URL.
export async function serveBook() {
    if (!existsSync(join(bookDir, 'index.html'))) {
        throw new Error(`no built book in ${bookDir}: run \`cargo xtask build\` first`);
    }
    const server = createServer(async (request, response) => {
        const path = decodeURIComponent(new URL(request.url, 'http://127.0.0.1').pathname);
        let file = normalize(join(bookDir, path));
        if (!file.startsWith(bookDir)) {
            response.writeHead(403).end();
            return;
        }
        try {
            if ((await stat(file)).isDirectory()) {
                file = join(file, 'index.html');
            }
            const body = await readFile(file);
            response.writeHead(200, { 'content-type': contentTypes[extname(file)] ?? 'application/octet-stream' });
            response.end(body);
        } catch {
            response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        }
    });
    await new Promise((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address();
    return { base: `http://127.0.0.1:${port}/`, close: () => new Promise((done) => server.close(done)) };
}

/// Launches headless Chromium with the flags this machine's closed network
/// needs, in a fresh profile folder that closing the browser deletes.
export async function launchBrowser() {
    const executablePath = process.env.SDBE_CHROMIUM ?? '/usr/bin/chromium';
    const userDataDir = await mkdtemp(join(tmpdir(), 'sdbe-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
        executablePath,
        headless: true,
        args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
        ],
        viewport: { width: 1280, height: 900 },
    });
    const closeBrowser = context.close.bind(context);
    context.close = async () => {
        await closeBrowser();
        await rm(userDataDir, { recursive: true, force: true });
    };
    return context;
}

/// Opens a page that records console errors, uncaught exceptions and failed requests.
export async function openPage(context) {
    const page = await context.newPage();
    const problems = [];
    page.on('console', (message) => {
        if (message.type() === 'error') {
            problems.push(`console error: ${message.text()}`);
        }
        // highlight.js warns about a code block whose language the book's
        // trimmed highlight.js left out; the block then stays plain.
        if (message.type() === 'warning' && message.text().includes('Could not find the language')) {
            problems.push(`console warning: ${message.text()}`);
        }
    });
    page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
    page.on('requestfailed', (request) => {
        problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`);
    });
    page.on('response', (response) => {
        if (response.status() >= 400) {
            problems.push(`HTTP ${response.status()}: ${response.url()}`);
        }
    });
    return { page, problems };
}

/// Adds a placeholder for widget `name` with `config` at the top of `page`, as
/// the preprocessor writes one, and calls the loader's `mount`. Tests and the
/// bench use it for widgets that no chapter shows yet, or at a size no chapter
/// shows.
export async function placeWidget(page, name, config) {
    await page.evaluate(({ name, config }) => {
        const placeholder = document.createElement('div');
        placeholder.className = 'sdbe-widget';
        placeholder.dataset.widget = name;
        placeholder.dataset.config = JSON.stringify(config);
        document.querySelector('main').prepend(placeholder);
        window.sdbeWidgets.mount(name);
    }, { name, config });
}

/// Waits until every widget placeholder on the page has mounted.
export async function waitForWidgets(page, timeout = 20_000) {
    await page.waitForFunction(
        () => {
            const all = document.querySelectorAll('.sdbe-widget');
            const mounted = document.querySelectorAll('.sdbe-widget[data-mounted]');
            return all.length === mounted.length;
        },
        null,
        { timeout },
    );
}

/// Starts the book's server and a browser before a test file's tests, and
/// stops both after them. The returned object gets `server` and `browser`.
export function useBook() {
    const env = { server: null, browser: null };
    before(async () => {
        env.server = await serveBook();
        env.browser = await launchBrowser();
    });
    after(async () => {
        await env.browser?.close();
        await env.server?.close();
    });
    return env;
}

/// Opens a URL, such as a chapter or a share link, and waits for its first widget.
export async function openWidgetPage(env, url) {
    const { page, problems } = await openPage(env.browser);
    await page.goto(url, { waitUntil: 'load' });
    const widget = page.locator('.sdbe-widget').first();
    await widget.scrollIntoViewIfNeeded();
    await waitForWidgets(page);
    return { page, problems, widget };
}
