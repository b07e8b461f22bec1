// The three model widgets respond to their controls, follow the page theme,
// keep arrow keys from turning the page, and tabs remember the language.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { openPage, openWidgetPage, useBook, waitForWidgets } from './harness.mjs';

const env = useBook();

/// Opens a chapter and waits for its first widget to mount.
function openChapter(path) {
    return openWidgetPage(env, env.server.base + path);
}

/// Opens a full URL, such as a share link, and waits for its first widget.
function openChapterAt(url) {
    return openWidgetPage(env, url);
}

async function metricText(widget, key) {
    return (await widget.locator(`[data-metric="${key}"] .sdbe-metric-value`).textContent()).trim();
}

async function metricNumber(widget, key) {
    return Number.parseFloat(await metricText(widget, key));
}

test('token bucket rejects a burst beyond capacity, then refills', async () => {
    const { page, problems, widget } = await openChapter('beginner/20-token-bucket.html');
    // No background traffic, so only the bursts decide.
    const background = widget.locator('label:has-text("Background") input');
    await background.fill('0');
    await background.dispatchEvent('change');

    await widget.locator('button.sdbe-burst').click();

    assert.equal(await metricNumber(widget, 'accepted'), 5, 'a full bucket of 5 admits 5 of 10');
    assert.equal(await metricNumber(widget, 'rejected'), 5, 'the other 5 are rejected');

    // One token returns per simulated second: 21 steps of 50 ms pass 1 s.
    for (let i = 0; i < 21; i += 1) {
        await widget.locator('button:has-text("Step")').click();
    }
    await widget.locator('button.sdbe-burst').click();

    assert.equal(await metricNumber(widget, 'accepted'), 6, 'one refilled token admits one more');
    assert.equal(await metricNumber(widget, 'rejected'), 14);
    assert.deepEqual(problems, []);
    await page.close();
});

test('token bucket shows an error for an invalid capacity and recovers', async () => {
    const { page, problems, widget } = await openChapter('beginner/20-token-bucket.html');
    const capacity = widget.locator('label:has-text("Capacity") input');

    await capacity.fill('0');
    await capacity.dispatchEvent('change');
    const error = await widget.locator('.sdbe-widget-error').textContent();
    await capacity.fill('8');
    await capacity.dispatchEvent('change');

    assert.match(error, /invalid `capacity`: 0 is out of range/);
    assert.equal(await widget.locator('.sdbe-widget-error').count(), 0);
    assert.match(await metricText(widget, 'tokens'), /^8\.00 \/ 8$/);
    assert.deepEqual(problems, []);
    await page.close();
});

test('playing advances simulated time and pause stops it', async () => {
    const { page, problems, widget } = await openChapter('beginner/20-token-bucket.html');
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    await page.waitForFunction(
        (el) => Number.parseFloat(el.querySelector('[data-metric="time"] .sdbe-metric-value').textContent) >= 1,
        await widget.elementHandle(),
        { timeout: 10_000 },
    );
    await play.click();
    const paused = await metricText(widget, 'time');
    await page.waitForTimeout(300);

    assert.equal(await metricText(widget, 'time'), paused);
    assert.deepEqual(problems, []);
    await page.close();
});

test('client-server latency rises when clients outnumber workers', async () => {
    const { page, problems, widget } = await openChapter('beginner/01-client-server.html');
    const speed = widget.locator('select[aria-label="Simulation speed"]');
    await speed.selectOption({ label: '10×' });
    const clients = widget.locator('label:has-text("Clients") input');
    await clients.fill('1');
    await clients.dispatchEvent('change');
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    await page.waitForTimeout(2_500);
    const lightLoad = await metricNumber(widget, 'mean-latency');
    await clients.fill('30');
    await clients.dispatchEvent('change');
    await page.waitForTimeout(4_000);
    const heavyLoad = await metricNumber(widget, 'mean-latency');
    await play.click();

    assert.ok(lightLoad > 0, `light-load latency ${lightLoad}`);
    assert.ok(heavyLoad > 3 * lightLoad, `30 clients on 2 workers: ${heavyLoad} ms vs ${lightLoad} ms`);
    assert.ok((await metricNumber(widget, 'queue')) > 0, 'requests wait in the queue');
    assert.deepEqual(problems, []);
    await page.close();
});

test('consistent hashing moves fewer keys than mod-N when a node joins', async () => {
    const { page, problems, widget } = await openChapter('beginner/27-consistent-hashing.html');

    await widget.locator('button.sdbe-add-node').click();
    const ring = Number.parseInt(await metricText(widget, 'moved-ring'), 10);
    const modN = Number.parseInt(await metricText(widget, 'moved-mod-n'), 10);

    assert.equal(await metricNumber(widget, 'nodes'), 5);
    assert.ok(ring > 0 && ring < modN, `ring moved ${ring}, mod-N ${modN}`);
    assert.ok(modN > 0.6 * 200, `mod-N moves most of 200 keys: ${modN}`);
    assert.deepEqual(problems, []);
    await page.close();
});

test('arrow keys inside a widget do not turn the page', async () => {
    const { page, problems, widget } = await openChapter('beginner/20-token-bucket.html');
    const url = page.url();

    await widget.locator('button:has-text("Step")').focus();
    await page.keyboard.press('ArrowRight');
    await page.waitForTimeout(300);
    const afterWidgetKey = page.url();
    // The same key outside the widget does turn the page, so the check above can fail.
    await page.locator('main h1').first().click();
    await page.keyboard.press('ArrowRight');
    await page.waitForURL((next) => next.href !== url, { timeout: 5_000 });

    assert.equal(afterWidgetKey, url);
    assert.deepEqual(problems, []);
    await page.close();
});

test('switching to the navy theme restyles the widgets', async () => {
    const { page, problems, widget } = await openChapter('beginner/27-consistent-hashing.html');
    const colours = () =>
        widget.evaluate((el) => {
            const style = getComputedStyle(el);
            const button = getComputedStyle(el.querySelector('button'));
            return `${style.backgroundColor} ${style.color} ${button.backgroundColor}`;
        });
    const light = await colours();

    await page.locator('#mdbook-theme-toggle').click();
    await page.locator('#mdbook-theme-navy').click();
    await page.waitForFunction(() => document.documentElement.classList.contains('navy'));
    const navy = await colours();

    assert.notEqual(navy, light, 'widget colours should change with the theme');
    assert.deepEqual(problems, []);
    await page.close();
});

test('the chosen listing language is remembered across pages', async () => {
    const { page, problems } = await openPage(env.browser);
    await page.goto(env.server.base + 'beginner/20-token-bucket.html', { waitUntil: 'load' });

    await page.locator('.sdbe-tab-bar button', { hasText: 'Python' }).first().click();
    await page.goto(env.server.base + 'beginner/27-consistent-hashing.html', { waitUntil: 'load' });
    const selected = await page.locator('.sdbe-tab-bar button[aria-selected="true"]').first().textContent();
    const goHidden = await page.locator('.sdbe-tab-panel[data-tab="Go"]').first().isHidden();

    assert.equal(selected, 'Python');
    assert.ok(goHidden, 'the Go panel is hidden');
    assert.deepEqual(problems, []);
    await page.close();
});

test('a share link restores the exact run in a new page', async () => {
    const { page, problems, widget } = await openChapter('beginner/20-token-bucket.html');
    await widget.locator('button.sdbe-burst').click();
    for (let i = 0; i < 7; i += 1) {
        await widget.locator('button:has-text("Step")').click();
    }
    await widget.locator('button.sdbe-burst').click();
    const before = {
        accepted: await metricText(widget, 'accepted'),
        rejected: await metricText(widget, 'rejected'),
        tokens: await metricText(widget, 'tokens'),
        time: await metricText(widget, 'time'),
    };

    await widget.locator('button.sdbe-share-button').click();
    const link = await widget.locator('input.sdbe-share-link').inputValue();
    const restored = await openChapterAt(link);
    const after = {
        accepted: await metricText(restored.widget, 'accepted'),
        rejected: await metricText(restored.widget, 'rejected'),
        tokens: await metricText(restored.widget, 'tokens'),
        time: await metricText(restored.widget, 'time'),
    };

    assert.match(link, /#run=token-bucket\.0\./);
    assert.deepEqual(after, before);
    assert.match(await restored.widget.locator('.sdbe-notice').textContent(), /Restored/);
    assert.deepEqual(problems, []);
    assert.deepEqual(restored.problems, []);
    await page.close();
    await restored.page.close();
});

test('the browser replays a run exactly as the native replay does', async () => {
    const { page, problems, widget } = await openChapter('beginner/01-client-server.html');
    const clients = widget.locator('label:has-text("Clients") input');
    for (let i = 0; i < 20; i += 1) {
        await widget.locator('button:has-text("Step")').click();
    }
    await clients.fill('12');
    await clients.dispatchEvent('change');
    for (let i = 0; i < 20; i += 1) {
        await widget.locator('button:has-text("Step")').click();
    }
    await widget.locator('button.sdbe-share-button').click();
    const link = await widget.locator('input.sdbe-share-link').inputValue();

    const inBrowser = await page.evaluate(async (url) => {
        const bundle = await import(new URL('../widgets/sdbe_widgets.js', document.baseURI).href);
        return bundle.replay_trace(url);
    }, link);
    const inBrowserAgain = await page.evaluate(async (url) => {
        const bundle = await import(new URL('../widgets/sdbe_widgets.js', document.baseURI).href);
        return bundle.replay_trace(url);
    }, link);
    const native = execFileSync('cargo', ['xtask', 'replay', link], { encoding: 'utf8' });

    assert.ok(inBrowser.split('\n').length > 20, 'the run produced events');
    assert.equal(inBrowserAgain, inBrowser, 'two browser replays agree');
    assert.equal(inBrowser, native.trimEnd(), 'WebAssembly and native traces agree');
    assert.deepEqual(problems, []);
    await page.close();
});

test('invalid share links fall back to the defaults with a note', async () => {
    const valid = 'eyJzZWVkIjoxLCJjb25maWciOnt9fQ';
    const cases = [
        ['not base64', 'run=token-bucket.0.!!!'],
        ['truncated', `run=token-bucket.0.${valid.slice(0, 10)}`],
        ['wrong type', `run=token-bucket.0.${Buffer.from('{"seed":"x","config":{}}').toString('base64url')}`],
        ['huge number', `run=token-bucket.0.${Buffer.from('{"seed":1e999,"config":{}}').toString('base64url')}`],
        ['unknown key', `run=token-bucket.0.${Buffer.from('{"seed":1,"config":{},"x":1}').toString('base64url')}`],
        ['out of range', `run=token-bucket.0.${Buffer.from('{"seed":1,"config":{"capacity":0}}').toString('base64url')}`],
        ['unknown widget', 'run=no-such-widget.0.abc'],
        ['incomplete', 'run=token-bucket'],
        ['100 KB', `run=token-bucket.0.${'A'.repeat(100 * 1024)}`],
    ];
    for (const [name, fragment] of cases) {
        const { page, problems, widget } = await openChapterAt(`${env.server.base}beginner/20-token-bucket.html#${fragment}`);

        const note = await widget.locator('.sdbe-notice').textContent();

        assert.match(note, /could not be read|names no widget/, `${name}: ${note}`);
        assert.equal(await metricText(widget, 'tokens'), '5.00 / 5', `${name}: defaults`);
        assert.equal(await metricText(widget, 'time'), '0.0 s', `${name}: defaults`);
        assert.deepEqual(problems, [], name);
        await page.close();
    }
});

test('a reader can type a new value while the widget plays', async () => {
    const { page, problems, widget } = await openChapter('beginner/01-client-server.html');
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const clients = widget.locator('label:has-text("Clients") input');

    await play.click();
    await clients.click();
    await clients.press('Control+a');
    await page.keyboard.type('20', { delay: 150 });
    await page.keyboard.press('Enter');
    await page.waitForTimeout(500);
    const scene = await widget.locator('svg.sdbe-scene').getAttribute('aria-label');
    await play.click();

    assert.match(scene, /^20 clients/);
    assert.equal(await clients.inputValue(), '20');
    assert.deepEqual(problems, []);
    await page.close();
});

test('the metrics panel shows the engine\'s own numbers', async () => {
    const { page, problems, widget } = await openChapter('beginner/01-client-server.html');
    for (let i = 0; i < 150; i += 1) {
        await widget.locator('button:has-text("Step")').click();
    }
    await widget.locator('button.sdbe-share-button').click();
    const link = await widget.locator('input.sdbe-share-link').inputValue();

    const native = JSON.parse(execFileSync('cargo', ['xtask', 'replay', '--metrics', link], { encoding: 'utf8' }));
    const shown = {};
    for (const card of await widget.locator('.sdbe-metric').all()) {
        shown[await card.getAttribute('data-metric')] = (await card.locator('.sdbe-metric-value').textContent()).trim();
    }

    for (const metric of native.metrics) {
        assert.equal(shown[metric.key], metric.text, metric.key);
    }
    assert.ok(native.latency, 'three seconds of traffic give latency percentiles');
    // The panel rounds to whole milliseconds.
    assert.ok(Math.abs(Number.parseFloat(shown.p99) - native.latency.p99_ms) <= 0.5, `p99 ${shown.p99}`);
    assert.ok(Math.abs(Number.parseFloat(shown.p50) - native.latency.p50_ms) <= 0.5, `p50 ${shown.p50}`);
    assert.equal(await widget.locator('.sdbe-sparkline').count(), native.samples.length);
    assert.deepEqual(problems, []);
    await page.close();
});

test('with reduced motion, playing advances in whole steps', async () => {
    const { page, problems } = await openPage(env.browser);
    await page.emulateMedia({ reducedMotion: 'reduce' });
    await page.goto(env.server.base + 'beginner/20-token-bucket.html', { waitUntil: 'load' });
    const widget = page.locator('.sdbe-widget').first();
    await widget.scrollIntoViewIfNeeded();
    await waitForWidgets(page);
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    await page.waitForTimeout(2_600);
    await play.click();
    const time = await metricText(widget, 'time');

    assert.match(time, /^[23]\.0 s$/, 'one-second steps at 1× speed');
    assert.deepEqual(problems, []);
    await page.close();
});

test('a widget pauses while it is off screen', async () => {
    const { page, problems, widget } = await openChapter('beginner/20-token-bucket.html');
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    await play.click();
    await page.waitForTimeout(500);

    await page.locator('h2:has-text("Why it matters")').scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    const leaving = await metricText(widget, 'time');
    await page.waitForTimeout(1_500);
    const away = await metricText(widget, 'time');
    await widget.scrollIntoViewIfNeeded();
    await page.waitForTimeout(1_000);
    const back = await metricText(widget, 'time');

    assert.equal(away, leaving, 'no progress off screen');
    assert.ok(Number.parseFloat(back) > Number.parseFloat(away), `resumes: ${away} -> ${back}`);
    assert.deepEqual(problems, []);
    await page.close();
});

test('crashing a ring node and restarting it restores every key', async () => {
    const { page, problems, widget } = await openChapter('beginner/27-consistent-hashing.html');
    const spread = await metricText(widget, 'std-dev');
    await widget.locator('select[aria-label="Node to crash or restart"]').selectOption('1');

    await widget.locator('button.sdbe-crash').click();
    const crashed = await metricText(widget, 'moved-ring');
    const nodesWhileDown = await metricText(widget, 'nodes');
    await widget.locator('button.sdbe-restart').click();
    const restarted = await metricText(widget, 'moved-ring');

    assert.match(crashed, /node 1 crashed/);
    assert.equal(nodesWhileDown, '3');
    assert.match(restarted, /node 1 restarted/);
    assert.equal(Number.parseInt(restarted, 10), Number.parseInt(crashed, 10), 'the same keys come back');
    assert.equal(await metricText(widget, 'std-dev'), spread, 'the load is as before');
    assert.deepEqual(problems, []);
    await page.close();
});

test('crashing a worker loses its request and restarting restores capacity', async () => {
    const { page, problems, widget } = await openChapter('beginner/01-client-server.html');
    for (let i = 0; i < 30; i += 1) {
        await widget.locator('button:has-text("Step")').click();
    }
    await widget.locator('select[aria-label="Node to crash or restart"]').selectOption('0');

    await widget.locator('button.sdbe-crash').click();
    const whileDown = await metricText(widget, 'busy');
    const scene = await widget.locator('svg.sdbe-scene').getAttribute('aria-label');
    await widget.locator('button.sdbe-restart').click();
    const afterRestart = await metricText(widget, 'busy');

    assert.match(whileDown, /of 1 up$/);
    assert.match(scene, /1 down/);
    assert.match(afterRestart, /of 2 up$/);
    assert.ok(Number.parseInt(await metricText(widget, 'failed'), 10) <= 1, 'at most the one request in service is lost');
    assert.deepEqual(problems, []);
    await page.close();
});
