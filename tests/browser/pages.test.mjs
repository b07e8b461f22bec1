// Every page of the built book loads cleanly, mounts its widgets, draws its
// diagrams, and loads the widget bundle only when it has a widget, starting
// from the head.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { bookDir, openPage, useBook, waitForWidgets } from './harness.mjs';

const env = useBook();

async function htmlPages(dir) {
    const pages = [];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
            pages.push(...(await htmlPages(path)));
        } else if (entry.name.endsWith('.html') && entry.name !== 'toc.html') {
            pages.push(relative(bookDir, path));
        }
    }
    return pages.sort();
}

test('every page loads without errors and mounts its widgets', async () => {
    const pages = await htmlPages(bookDir);
    assert.ok(pages.length >= 5, `expected the book's pages, found ${pages.length}`);
    for (const path of pages) {
        const { page, problems } = await openPage(env.browser);
        const bundleRequests = [];
        page.on('request', (request) => {
            if (/\/widgets\/[a-z-]+\/sdbe_widgets/.test(request.url())) {
                bundleRequests.push(request.url());
            }
        });
        await page.goto(env.server.base + path, { waitUntil: 'load' });
        const placeholders = await page.locator('.sdbe-widget').count();
        if (placeholders > 0) {
            await page.locator('.sdbe-widget').first().scrollIntoViewIfNeeded();
            await waitForWidgets(page);
            const errors = await page.locator('.sdbe-widget-error').allTextContents();
            assert.deepEqual(errors, [], `${path}: widget errors`);
            // Each widget has its own bundle, and a page fetches only the
            // bundles of the widgets it shows.
            const shown = new Set(await page.locator('.sdbe-widget').evaluateAll(
                (nodes) => nodes.map((node) => node.dataset.widget)));
            const fetched = new Set(bundleRequests.map((url) => url.match(/\/widgets\/([a-z-]+)\//)[1]));
            assert.deepEqual([...fetched].sort(), [...shown].sort(), `${path}: bundles fetched`);
        } else {
            // Give a stray loader time to fetch before concluding it did not.
            await page.waitForTimeout(200);
            assert.deepEqual(bundleRequests, [], `${path} has no widget but loaded the bundle`);
        }
        // Diagrams arrive drawn: no Mermaid source is left on the page, and
        // every drawing has a size and labels.
        assert.equal(await page.locator('code.language-mermaid, pre.mermaid').count(), 0, `${path}: undrawn diagram`);
        for (const diagram of await page.locator('.sdbe-diagram svg').all()) {
            const box = await diagram.boundingBox();
            assert.ok(box && box.width > 100 && box.height > 50, `${path}: diagram drawn at ${JSON.stringify(box)}`);
            assert.ok((await diagram.locator('text').count()) > 0, `${path}: diagram without labels`);
        }
        assert.deepEqual(problems, [], `${path}: console or network problems`);
        await page.close();
    }
});

/// Returns the first chapter, in file name order, that shows a widget.
async function firstChapterWithWidget() {
    for (const path of await htmlPages(bookDir)) {
        const html = await readFile(join(bookDir, path), 'utf8');
        if (path !== 'print.html' && html.includes('class="sdbe-widget"')) {
            return path;
        }
    }
    return null;
}

test('a chapter starts fetching its widget bundles from the head', async () => {
    const path = await firstChapterWithWidget();
    assert.ok(path, 'no chapter shows a widget');

    const { page, problems } = await openPage(env.browser);
    // Records, for each wasm fetch, whether the parser had reached a widget
    // placeholder yet. The loader's preload runs in the head, before any.
    await page.addInitScript(() => {
        window.__sdbeFetches = [];
        const fetchBefore = window.fetch;
        window.fetch = (resource, ...rest) => {
            const url = String(resource);
            if (url.endsWith('.wasm')) {
                window.__sdbeFetches.push({ url, placeholderParsed: document.querySelector('.sdbe-widget') !== null });
            }
            return fetchBefore.call(window, resource, ...rest);
        };
    });
    await page.goto(env.server.base + path, { waitUntil: 'load' });
    await waitForWidgets(page);
    const fetches = await page.evaluate(() => window.__sdbeFetches);

    assert.ok(fetches.length > 0, `${path}: no bundle was fetched`);
    for (const fetch of fetches) {
        assert.equal(fetch.placeholderParsed, false, `${path}: ${fetch.url} was fetched only once a placeholder was parsed`);
    }
    assert.deepEqual(problems, []);
    await page.close();
});

test('print page mounts every copy of every widget', async () => {
    const { page, problems } = await openPage(env.browser);
    // mdBook's print page calls window.print() after load; make it a no-op.
    await page.addInitScript(() => {
        window.print = () => {};
    });
    await page.goto(env.server.base + 'print.html', { waitUntil: 'load' });
    const placeholders = await page.locator('.sdbe-widget').count();
    assert.ok(placeholders >= 3, `expected the three model widgets, found ${placeholders}`);
    await waitForWidgets(page);
    assert.equal(await page.locator('.sdbe-widget-root').count(), placeholders);
    assert.deepEqual(problems, []);
    await page.close();
});
