// The three model widgets respond to their controls, follow the page theme,
// keep arrow keys from turning the page, and tabs remember the language.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { openPage, openWidgetPage, placeWidget, useBook, waitForWidgets } from './harness.mjs';

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
        const bundle = await import(new URL('../widgets/client-server/sdbe_widgets.js', document.baseURI).href);
        return bundle.replay_trace(url);
    }, link);
    const inBrowserAgain = await page.evaluate(async (url) => {
        const bundle = await import(new URL('../widgets/client-server/sdbe_widgets.js', document.baseURI).href);
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

/// Plays a widget at 10× until its simulated time reaches `seconds`, then pauses it.
async function playUntil(page, widget, seconds) {
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    await play.click();
    await page.waitForFunction(
        ([el, target]) =>
            Number.parseFloat(el.querySelector('[data-metric="time"] .sdbe-metric-value').textContent) >= target,
        [await widget.elementHandle(), seconds],
        { timeout: 20_000 },
    );
    await play.click();
}

test('cache hit ratio and stale reads both rise with the TTL', async () => {
    const { page, problems, widget } = await openChapter('beginner/07-caching-ttl.html');
    await playUntil(page, widget, 20);
    const longHit = await metricNumber(widget, 'hit-ratio');
    const longStale = await metricNumber(widget, 'stale-share');

    const ttl = widget.locator('label:has-text("TTL") input');
    await ttl.fill('1');
    await ttl.dispatchEvent('change');
    await playUntil(page, widget, 20);
    const shortHit = await metricNumber(widget, 'hit-ratio');
    const shortStale = await metricNumber(widget, 'stale-share');

    assert.ok(longHit > shortHit + 10, `hit ratio ${longHit}% at 5 s TTL, ${shortHit}% at 1 s`);
    assert.ok(longStale > shortStale, `stale ${longStale}% at 5 s TTL, ${shortStale}% at 1 s`);
    assert.ok(shortStale > 0, 'writes make some reads stale even at 1 s');
    assert.deepEqual(problems, []);
    await page.close();
});

test('cache strategies: only TTL-only serves stale reads on the same traffic', async () => {
    const { page, problems, widget } = await openChapter('beginner/08-cache-invalidation.html');
    await playUntil(page, widget, 20);
    const rows = await widget.locator('svg.sdbe-scene text').allTextContents();
    const row = (name) => rows.find((text) => text.startsWith(`${name}:`)) ?? '';
    const numbers = (text) => (text.match(/\d+/g) ?? []).map(Number);

    const [ttlStale, ttlDb] = numbers(row('TTL only'));
    const [invalidateStale, invalidateDb] = numbers(row('invalidate on write'));
    const [updateStale] = numbers(row('update on write'));

    assert.ok(ttlStale > 100, `TTL only: ${row('TTL only')}`);
    assert.equal(invalidateStale, 0, row('invalidate on write'));
    assert.equal(updateStale, 0, row('update on write'));
    assert.ok(invalidateDb > ttlDb, `database reads: invalidate ${invalidateDb}, TTL only ${ttlDb}`);
    assert.equal(await metricNumber(widget, 'stale-reads'), 0, 'the shown cache invalidates on write');
    assert.deepEqual(problems, []);
    await page.close();
});

test('a DNS miss walks root, TLD and authoritative, then hits the cache', async () => {
    const { page, problems, widget } = await openChapter('beginner/04-dns-resolution.html');
    // No background lookups, so only the reader's lookups send queries.
    const rate = widget.locator('label:has-text("Lookups/s") input');
    await rate.fill('0');
    await rate.dispatchEvent('change');

    await widget.locator('button.sdbe-lookup', { hasText: 'host0' }).click();
    // Three round trips of 40 ms are 6 steps of 20 ms.
    for (let i = 0; i < 6; i += 1) {
        await widget.locator('button:has-text("Step")').click();
    }
    const scene = await widget.locator('svg.sdbe-scene').getAttribute('aria-label');

    assert.equal(await metricNumber(widget, 'root-queries'), 1);
    assert.equal(await metricNumber(widget, 'tld-queries'), 1);
    assert.equal(await metricNumber(widget, 'auth-queries'), 1);
    assert.match(scene, /last miss: root → TLD → authoritative/);
    assert.match(await widget.locator('button.sdbe-lookup').textContent(), /host1/, 'host0 is now cached');
    assert.deepEqual(problems, []);
    await page.close();
});

test('availability rises with a standby and stops with the load balancer', async () => {
    const { page, problems, widget } = await openChapter('beginner/28-availability.html');
    const before = await metricText(widget, 'formula');

    await widget.locator('button.sdbe-standby').click();
    const withStandby = await metricText(widget, 'formula');
    await widget.locator('select[aria-label="Node to crash or restart"]').selectOption('0');
    await widget.locator('button.sdbe-crash').click();
    const scene = await widget.locator('svg.sdbe-scene').getAttribute('aria-label');
    const upWhileCrashed = await metricText(widget, 'up-now');
    await widget.locator('button.sdbe-restart').click();

    assert.equal(before, '99.7901%');
    assert.equal(withStandby, '99.8899%');
    assert.match(scene, /^system DOWN/);
    assert.equal(upWhileCrashed, '4 of 5');
    assert.match(await widget.locator('svg.sdbe-scene').getAttribute('aria-label'), /^system up/);
    assert.deepEqual(problems, []);
    await page.close();
});

test('circuit breaker sheds calls fast while open, and without it callers wait', async () => {
    const { page, problems, widget } = await openChapter('beginner/26-circuit-breaker.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const handle = await widget.elementHandle();
    const waitForMetric = (key, pattern) => page.waitForFunction(
        ([el, key, source]) => new RegExp(source).test(
            el.querySelector(`[data-metric="${key}"] .sdbe-metric-value`)?.textContent ?? ''),
        [handle, key, pattern.source],
        { timeout: 15_000 },
    );

    // The default outage starts at 2 s; the breaker opens once 5 of its 10 calls time out,
    // and a few seconds later most recent calls are shed in 0 ms.
    await play.click();
    await waitForMetric('state', /^open$/);
    await waitForMetric('p50', /^0 ms$/);
    await play.click();
    const shed = await metricNumber(widget, 'shed');

    // Without the breaker, the same outage makes the median call wait the full timeout.
    await widget.locator('button:has-text("Reset")').click();
    await widget.locator('input.sdbe-breaker-switch').uncheck();
    await play.click();
    await waitForMetric('p50', /^1000 ms$/);
    await play.click();

    assert.ok(shed > 0, `${shed} calls shed`);
    assert.equal(await metricText(widget, 'state'), 'off');
    assert.equal(await metricNumber(widget, 'shed'), 0);
    assert.deepEqual(problems, []);
    await page.close();
});

test('idempotency keys stop the duplicate charges that retries cause', async () => {
    const { page, problems, widget } = await openChapter('beginner/22-idempotency-keys.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const handle = await widget.elementHandle();
    const waitForCount = (key, at_least) => page.waitForFunction(
        ([el, key, at_least]) => Number.parseFloat(
            el.querySelector(`[data-metric="${key}"] .sdbe-metric-value`)?.textContent ?? '') >= at_least,
        [handle, key, at_least],
        { timeout: 15_000 },
    );

    // Without keys, a retry after a lost response charges again.
    await play.click();
    await waitForCount('duplicates', 1);
    await play.click();

    // With keys from the start, payments still retry but never charge twice.
    await widget.locator('button:has-text("Reset")').click();
    await widget.locator('input.sdbe-keys-switch').check();
    await play.click();
    await waitForCount('retries', 5);
    await play.click();

    assert.equal(await metricNumber(widget, 'duplicates'), 0);
    assert.equal(await metricText(widget, 'keys'), 'on');
    assert.deepEqual(problems, []);
    await page.close();
});

test('round-robin serves servers evenly until one crashes', async () => {
    const { page, problems, widget } = await openChapter('beginner/05-round-robin.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const spread = async () => {
        const [low, high] = (await metricText(widget, 'served-spread')).split('–').map(Number);
        return { low, high };
    };

    await play.click();
    await page.waitForTimeout(2_500);
    const even = await spread();
    await widget.locator('select[aria-label="Node to crash or restart"]').selectOption('1');
    await widget.locator('button.sdbe-crash').click();
    await page.waitForTimeout(2_500);
    const afterCrash = await spread();
    await play.click();

    assert.ok(even.high > 20, `servers served ${even.high} at most`);
    assert.ok(even.high - even.low <= 3, `all up: served ${even.low} to ${even.high}`);
    assert.ok(afterCrash.high - afterCrash.low > 20, `after the crash: ${afterCrash.low} to ${afterCrash.high}`);
    assert.deepEqual(problems, []);
    await page.close();
});

test('least-connections keeps p95 below round-robin with slow requests', async () => {
    const { page, problems, widget } = await openChapter('beginner/06-least-connections.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    await page.waitForTimeout(4_000);
    await play.click();
    const roundRobin = await metricNumber(widget, 'rr-p95');
    const leastConnections = await metricNumber(widget, 'lc-p95');
    const titles = await widget.locator('svg.sdbe-scene text').allTextContents();

    assert.ok(titles.some((text) => text.startsWith('round-robin: p95')), 'a round-robin panel');
    assert.ok(titles.some((text) => text.startsWith('least-connections: p95')), 'a least-connections panel');
    assert.ok(leastConnections > 0, `least-connections p95 ${leastConnections} ms`);
    assert.ok(roundRobin > 3 * leastConnections, `p95 ${roundRobin} ms vs ${leastConnections} ms`);
    assert.deepEqual(problems, []);
    await page.close();
});

test('queue latency climbs as utilization nears 1, and overload is capped', async () => {
    const { page, problems, widget } = await openChapter('beginner/16-latency-throughput.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    await page.waitForTimeout(2_500);
    const half = await metricNumber(widget, 'mean-latency');
    await widget.locator('button.sdbe-preset', { hasText: 'ρ = 0.95' }).click();
    // 10 simulated seconds fill the recent window with the new load.
    await page.waitForTimeout(4_000);
    const nearFull = await metricNumber(widget, 'mean-latency');
    await widget.locator('button.sdbe-preset', { hasText: 'ρ = 1.1' }).click();
    await page.waitForTimeout(500);
    const note = await widget.locator('.sdbe-overload').textContent();
    await play.click();

    assert.ok(half > 5 && half < 60, `mean latency at rho 0.5: ${half} ms`);
    assert.ok(nearFull > 3 * half, `rho 0.95: ${nearFull} ms vs ${half} ms at rho 0.5`);
    assert.match(note, /at most 1000 sub-requests/);
    assert.equal(await metricText(widget, 'utilization'), '1.10');
    assert.deepEqual(problems, []);
    await page.close();
});

test('queue fan-out raises p99 and matches the slow-share formula', async () => {
    const { page, problems, widget } = await openChapter('beginner/17-percentiles.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    await page.waitForTimeout(3_000);
    const single = await metricNumber(widget, 'p99');
    const fanOut = widget.locator('label:has-text("Fan-out") input');
    await fanOut.fill('8');
    await fanOut.dispatchEvent('change');
    // 10 simulated seconds replace the recent window with fanned-out requests.
    await page.waitForTimeout(4_000);
    const fanned = await metricNumber(widget, 'p99');
    const share = await metricText(widget, 'slow-share');
    await play.click();

    assert.ok(single > 0, `p99 without fan-out: ${single} ms`);
    assert.ok(fanned > 2 * single, `p99 with fan-out 8: ${fanned} ms vs ${single} ms`);
    assert.match(share, /formula 7\.7%/);
    assert.ok(await widget.locator('svg.sdbe-scene rect.sdbe-busy').count() > 3, 'histogram bars drawn');
    assert.deepEqual(problems, []);
    await page.close();
});

test('forward proxy blocks the denylist, caches, and hides the clients', async () => {
    const { page, problems, widget } = await openChapter('beginner/14-forward-proxy.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const handle = await widget.elementHandle();

    await play.click();
    await page.waitForFunction(
        (el) => Number.parseFloat(
            el.querySelector('[data-metric="requests"] .sdbe-metric-value')?.textContent ?? '') >= 150,
        handle,
        { timeout: 15_000 },
    );
    await play.click();
    const texts = await widget.locator('svg.sdbe-scene text').allTextContents();

    assert.ok(await metricNumber(widget, 'hit-ratio') > 50, 'the cache answers most requests');
    assert.ok(await metricNumber(widget, 'blocked') > 0, 'some requests name the blocked site');
    assert.ok(texts.includes('blocked'), 'the denylisted origin is marked blocked');
    assert.ok(texts.some((text) => text.endsWith(' saw 203.0.113.1')), `captions: ${texts}`);
    assert.ok(await metricNumber(widget, 'errors') >= 0, 'forward mode shows the 502 counter');
    assert.deepEqual(problems, []);
    await page.close();
});

test('reverse proxy routes around a crashed app server and ends TLS at the edge', async () => {
    const { page, problems, widget } = await openChapter('beginner/15-reverse-proxy.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const handle = await widget.elementHandle();
    const waitForRequests = (at_least) => page.waitForFunction(
        ([el, at_least]) => Number.parseFloat(
            el.querySelector('[data-metric="requests"] .sdbe-metric-value')?.textContent ?? '') >= at_least,
        [handle, at_least],
        { timeout: 15_000 },
    );

    await play.click();
    await waitForRequests(60);
    await widget.locator('select[aria-label="Node to crash or restart"]').selectOption('1');
    await widget.locator('button.sdbe-crash').click();
    await waitForRequests(200);
    await play.click();
    const texts = await widget.locator('svg.sdbe-scene text').allTextContents();
    const log = await widget.locator('.sdbe-log li').allTextContents();

    assert.ok(texts.some((text) => text.endsWith(' down')), `app 2 is drawn down: ${texts}`);
    assert.ok(log.some((line) => line.includes('app 2 crashed')), `the log names app 2: ${log}`);
    assert.ok(texts.some((text) => text.startsWith('/static/ → static, cached:')), 'routing table');
    assert.ok(await metricNumber(widget, 'edge-handshakes') > 0, 'TLS ends at the proxy');
    assert.equal(await metricNumber(widget, 'internal-handshakes'), 0, 'no TLS inside');
    assert.ok(await metricNumber(widget, 'hit-ratio') > 50, 'static files come from the cache');
    assert.deepEqual(problems, []);
    await page.close();
});

test('indexing: scans grow with the table, the index stays at depth + matches', async () => {
    const { page, problems, widget } = await openChapter('beginner/10-database-indexing.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const handle = await widget.elementHandle();

    // Without the index, a query examines every row once the table has grown.
    await play.click();
    await page.waitForFunction(
        (el) => Number.parseFloat(
            el.querySelector('[data-metric="rows"] .sdbe-metric-value')?.textContent ?? '') >= 20_000,
        handle,
        { timeout: 15_000 },
    );
    await play.click();
    const scanned = await metricNumber(widget, 'examined');
    const writeBefore = await metricNumber(widget, 'write-pages');

    // With the index, the next queries examine the depth plus the rows they return.
    await widget.locator('input.sdbe-index-switch').check();
    await play.click();
    await page.waitForFunction(
        (el) => el.querySelector('[data-metric="index-p99"] .sdbe-metric-value')?.textContent.includes('ms'),
        handle,
        { timeout: 15_000 },
    );
    await play.click();
    const indexed = await metricNumber(widget, 'examined');
    const depth = await metricNumber(widget, 'depth');
    const writeAfter = await metricNumber(widget, 'write-pages');

    assert.ok(scanned >= 20_000, `a scan examined ${scanned} rows`);
    assert.ok(indexed <= depth + 50, `an index lookup examined ${indexed} at depth ${depth}`);
    assert.equal(writeBefore, 1, 'an insert writes one page without the index');
    assert.equal(writeAfter, 1 + depth, 'an insert also walks the index');
    assert.deepEqual(problems, []);
    await page.close();
});

test('data model: documents win the fetch, tables win the rename', async () => {
    const { page, problems, widget } = await openChapter('beginner/09-sql-vs-nosql.html');

    for (const label of ['fetch order + items', 'rename a product', 'revenue by product']) {
        await widget.locator('button.sdbe-run-pattern', { hasText: label }).click();
    }
    const texts = await widget.locator('svg.sdbe-scene text').allTextContents();
    const row = (label) => {
        const at = texts.indexOf(label);
        return texts.slice(at + 1, at + 5);
    };

    assert.deepEqual(row('fetch order + items').slice(0, 1), ['7 read, 0 written']);
    assert.equal(row('fetch order + items')[2], '1 read, 0 written');
    assert.equal(row('rename a product')[0], '1 read, 1 written');
    assert.ok(Number.parseInt(row('rename a product')[2], 10) > 10, `rename: ${row('rename a product')}`);
    assert.equal(await metricNumber(widget, 'disagreements'), 0);
    assert.deepEqual(problems, []);
    await page.close();
});

test('http-api repeats PUT without change and POST with a new order', async () => {
    const { page, problems, widget } = await openChapter('beginner/02-http-methods.html');
    const scene = widget.locator('svg.sdbe-scene');
    const send = async (method, path) => {
        await widget.locator('select[aria-label="Method"]').selectOption(method);
        await widget.locator('select[aria-label="Path"]').selectOption(path);
        await widget.locator('button.sdbe-send').click();
    };
    const again = () => widget.locator('button.sdbe-send-again').click();

    await send('DELETE', '/orders');
    const notAllowed = await scene.locator('text').allTextContents();
    await send('PUT', '/orders/2');
    await again();
    const ordersAfterPut = await metricNumber(widget, 'orders');
    await send('POST', '/orders');
    await again();
    const ordersAfterPost = await metricNumber(widget, 'orders');

    assert.ok(notAllowed.includes('405 Method Not Allowed'), notAllowed.join(' | '));
    assert.ok(notAllowed.some((text) => text.startsWith('Allow: GET, HEAD, POST, OPTIONS')), notAllowed.join(' | '));
    assert.equal(ordersAfterPut, 3);
    assert.equal(ordersAfterPost, 5);
    assert.deepEqual(problems, []);
    await page.close();
});

test('http-api sends no Content-Length on 204 and counts retried PATCHes', async () => {
    const { page, problems, widget } = await openChapter('beginner/02-http-methods.html');
    const scene = widget.locator('svg.sdbe-scene');
    const send = async (method, path) => {
        await widget.locator('select[aria-label="Method"]').selectOption(method);
        await widget.locator('select[aria-label="Path"]').selectOption(path);
        await widget.locator('button.sdbe-send').click();
    };

    await send('DELETE', '/orders/1');
    const deleted = await scene.locator('text').allTextContents();
    await send('GET', '/orders/2');
    const read = await scene.locator('text').allTextContents();
    // Half the responses lost: PATCH retries until a response arrives or 3 attempts ran.
    const loss = widget.locator('label:has-text("Responses lost") input');
    await loss.fill('50');
    await loss.dispatchEvent('change');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    await play.click();
    for (let i = 0; i < 6; i++) {
        await send('PATCH', '/orders/2');
    }
    await page.waitForTimeout(1_500);
    await play.click();
    const requests = await metricNumber(widget, 'requests');
    const duplicates = await metricNumber(widget, 'duplicates');

    assert.ok(deleted.includes('204 No Content'), deleted.join(' | '));
    assert.ok(!deleted.some((text) => text.startsWith('Content-Length')), deleted.join(' | '));
    assert.ok(read.includes('Content-Length: 16'), read.join(' | '));
    // Every PATCH attempt beyond the first six is a duplicate write.
    assert.equal(duplicates, requests - 6);
    assert.deepEqual(problems, []);
    await page.close();
});

test('http-api crawler deletes through RPC GETs and never through resource GETs', async () => {
    const { page, problems, widget } = await openChapter('beginner/03-rest-api.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    await page.waitForTimeout(2_000);
    await play.click();
    const rpcOrders = await metricNumber(widget, 'orders');
    const rpcChanges = await metricNumber(widget, 'safe-changes');
    await widget.locator('select[aria-label="API design"]').selectOption('resource');
    await play.click();
    await page.waitForTimeout(2_000);
    await play.click();
    const resourceRequests = await metricNumber(widget, 'requests');

    assert.equal(rpcOrders, 0);
    assert.ok(rpcChanges >= 3, `${rpcChanges} changes by GET`);
    assert.ok(resourceRequests > 5, `${resourceRequests} crawler requests`);
    assert.equal(await metricNumber(widget, 'orders'), 3);
    assert.equal(await metricNumber(widget, 'safe-changes'), 0);
    assert.deepEqual(problems, []);
    await page.close();
});

test('message queue grows a backlog and redelivers a crashed consumer message', async () => {
    const { page, problems, widget } = await openChapter('beginner/24-message-queue.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    await page.waitForTimeout(2_500);
    const depth = await metricNumber(widget, 'depth');
    await widget.locator('select[aria-label="Node to crash or restart"]').selectOption('1');
    await widget.locator('button.sdbe-crash').click();
    await page.waitForTimeout(2_500);
    await play.click();
    const redelivered = await metricNumber(widget, 'redelivered');
    await widget.locator('button.sdbe-add').click();
    const consumersField = await widget.locator('label:has-text("Consumers") input').inputValue();

    assert.ok(depth > 5, `queue depth ${depth} after a few seconds`);
    assert.ok(redelivered >= 1, `redelivered ${redelivered}`);
    assert.equal(consumersField, '3', 'the Consumers field shows the live count');
    assert.equal(await metricNumber(widget, 'rejected'), 0);
    assert.deepEqual(problems, []);
    await page.close();
});

test('pagination: the offset reader duplicates rows and the cursor reader does not', async () => {
    const { page, problems, widget } = await openChapter('beginner/21-pagination.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    await page.waitForTimeout(300);
    await widget.locator('button.sdbe-insert').click();
    await page.waitForTimeout(1_500);
    await play.click();

    assert.ok(await metricNumber(widget, 'offset-duplicates') >= 3, 'offset duplicates');
    assert.equal(await metricNumber(widget, 'cursor-duplicates'), 0);
    assert.equal(await metricNumber(widget, 'cursor-missed'), 0);
    assert.deepEqual(problems, []);
    await page.close();
});

test('pagination: deleting read rows makes the offset reader skip them', async () => {
    const { page, problems, widget } = await openChapter('beginner/21-pagination.html');
    // No background changes, so only the three deletions move the list.
    for (const label of ['Inserts/s', 'Deletes/s']) {
        const field = widget.locator(`label:has-text("${label}") input`);
        await field.fill('0');
        await field.dispatchEvent('change');
    }
    const step = widget.locator('button', { hasText: /^Step$/ });

    // One step fetches the first page of each reader.
    await step.click();
    await widget.locator('button.sdbe-delete').click();
    const missedBefore = await metricNumber(widget, 'offset-missed');
    // The next page is due 1 s later, 20 steps of 50 ms.
    for (let i = 0; i < 20; i++) {
        await step.click();
    }

    assert.equal(missedBefore, 0);
    assert.equal(await metricNumber(widget, 'offset-pages'), 2);
    assert.equal(await metricNumber(widget, 'offset-missed'), 3);
    assert.equal(await metricNumber(widget, 'cursor-missed'), 0);
    assert.deepEqual(problems, []);
    await page.close();
});

test('scaling up past the USL peak lowers capacity', async () => {
    const { page, problems, widget } = await openChapter('beginner/11-vertical-scaling.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const sizeUp = widget.locator('button.sdbe-size-up');

    await play.click();
    await page.waitForTimeout(1_500);
    const overloaded = await metricNumber(widget, 'utilization');
    const dropped = await metricNumber(widget, 'dropped');
    await sizeUp.click();
    const at16 = await metricNumber(widget, 'capacity');
    await sizeUp.click();
    const at32 = await metricNumber(widget, 'capacity');
    await sizeUp.click();
    const at64 = await metricNumber(widget, 'capacity');
    await play.click();

    assert.equal(overloaded, 123, `8 cores at ${overloaded}% utilization`);
    assert.ok(dropped > 0, `8 cores dropped ${dropped} requests`);
    assert.equal(at16, 402, '16 cores');
    assert.equal(at32, 452, '32 cores');
    assert.equal(at64, 391, '64 cores serve less than 32');
    assert.deepEqual(problems, []);
    await page.close();
});

test('cdn edges keep serving hits and stale copies while the origin is down', async () => {
    const { page, problems, widget } = await openChapter('beginner/19-cdn.html');
    const step = widget.locator('button:has-text("Step")');
    await playUntil(page, widget, 15);
    const warmHitRatio = await metricNumber(widget, 'hit-ratio');

    await widget.locator('button.sdbe-publish').click();
    for (let i = 0; i < 5; i += 1) {
        await step.click();
    }
    const staleAfterPublish = await metricNumber(widget, 'stale');
    await widget.locator('button.sdbe-crash').click();
    const requestsAtCrash = await metricNumber(widget, 'requests');
    for (let i = 0; i < 10; i += 1) {
        await step.click();
    }
    const originDown = (await widget.locator('svg.sdbe-scene text').allTextContents())
        .some((text) => text.startsWith('origin DOWN'));

    assert.ok(warmHitRatio > 60, `hit ratio ${warmHitRatio}% after 15 s`);
    assert.ok(staleAfterPublish > 0, 'edges served the old version after the publish');
    assert.ok(originDown, 'the scene shows the origin down');
    assert.ok(await metricNumber(widget, 'failed') > 0, 'misses fail while the origin is down');
    assert.ok(await metricNumber(widget, 'requests') > requestsAtCrash + 50, 'hits continue');
    assert.deepEqual(problems, []);
    await page.close();
});

test('storage table shows an object update moving the whole object', async () => {
    const { page, problems, widget } = await openChapter('beginner/18-storage-types.html');

    await widget.locator('button.sdbe-run-op[data-op="update range"]').click();
    const texts = await widget.locator('svg.sdbe-scene text').allTextContents();
    const objectCost = await metricText(widget, 'object-cost');
    const ops = widget.locator('label:has-text("Operations/s") input');
    await ops.fill('1');
    await ops.dispatchEvent('change');
    const busyObjectCost = await metricText(widget, 'object-cost');

    assert.equal(await metricNumber(widget, 'operations'), 0, 'a new rate rebuilds the engine');
    assert.ok(texts.includes('2× 2 MiB'), `object update cell in ${texts.join(' | ')}`);
    assert.ok(texts.includes('4× 1 MiB'), `block read of 256 KiB per request in ${texts.join(' | ')}`);
    assert.equal(texts.filter((text) => text === '–').length, 2, 'block list and rename');
    assert.equal(objectCost, '$3.96');
    assert.equal(busyObjectCost, '$19.42');
    assert.deepEqual(problems, []);
    await page.close();
});

test('sessions: a crash loses the sticky sessions and none in the shared store', async () => {
    const { page, problems, widget } = await openChapter('beginner/13-stateless-stateful.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const handle = await widget.elementHandle();
    const waitForMetric = (key, atLeast) => page.waitForFunction(
        ([el, key, atLeast]) => Number.parseFloat(
            el.querySelector(`[data-metric="${key}"] .sdbe-metric-value`)?.textContent ?? '') >= atLeast,
        [handle, key, atLeast],
        { timeout: 15_000 },
    );
    const time = async () => metricNumber(widget, 'time');

    // Let every user log in, then crash server 1 in both lanes.
    await play.click();
    await page.waitForFunction(
        (el) => Number.parseFloat(el.querySelector('[data-metric="time"] .sdbe-metric-value').textContent) >= 10,
        handle,
        { timeout: 20_000 },
    );
    // Pause for the crash, so the log can be read before log-ins again push the crash lines out.
    await play.click();
    await widget.locator('select[aria-label="Node to crash or restart"]').selectOption('1');
    await widget.locator('button.sdbe-crash').click();
    const crashedAt = await time();
    const crashLog = await widget.locator('.sdbe-log li').allTextContents();
    await play.click();
    await waitForMetric('sticky-again', 3);
    await play.click();
    const texts = await widget.locator('svg.sdbe-scene text').allTextContents();
    const log = await widget.locator('.sdbe-log li').allTextContents();

    assert.ok(crashedAt >= 10, `crashed at ${crashedAt} s`);
    assert.ok(crashLog.some((line) => line.includes('sticky sessions: server 1 crashed')),
        `sticky crash line in ${crashLog.join(' | ')}`);
    assert.ok(crashLog.some((line) => /shared store: server 1 crashed, \d+ requests? failed, 0 sessions and 0 cart items lost/.test(line)),
        `shared crash line in ${crashLog.join(' | ')}`);
    assert.ok(log.some((line) => /sticky sessions: user \d+ lost the session and logs in again on server [02]$/.test(line)),
        `log-in again line in ${log.join(' | ')}`);
    assert.ok(await metricNumber(widget, 'sticky-lost') >= 5, 'sticky lost about a third of 30');
    assert.equal(await metricNumber(widget, 'shared-lost'), 0);
    assert.equal(await metricNumber(widget, 'shared-again'), 0);
    assert.ok(texts.some((text) => text.startsWith('shared store: 30 sessions')), `store: ${texts}`);
    assert.deepEqual(problems, []);
    await page.close();
});

/// Waits until the widget's metric `key` satisfies `pattern`, as the page shows it.
function waitForMetricText(page, handle, key, pattern) {
    return page.waitForFunction(
        ([el, key, source]) => new RegExp(source).test(
            el.querySelector(`[data-metric="${key}"] .sdbe-metric-value`)?.textContent ?? ''),
        [handle, key, pattern.source],
        { timeout: 15_000 },
    );
}

/// Waits until the widget's metric `key` reaches at least `atLeast`.
function waitForMetricAtLeast(page, handle, key, atLeast) {
    return page.waitForFunction(
        ([el, key, atLeast]) => Number.parseFloat(
            el.querySelector(`[data-metric="${key}"] .sdbe-metric-value`)?.textContent ?? '') >= atLeast,
        [handle, key, atLeast],
        { timeout: 15_000 },
    );
}

test('health checks keep cold and hung instances out of the rotation', async () => {
    const { page, problems, widget } = await openChapter('beginner/23-health-checks.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const handle = await widget.elementHandle();

    // With checks, C gets no request while it warms up, and B is restarted after it hangs.
    await play.click();
    await waitForMetricAtLeast(page, handle, 'restarts', 1);
    await play.click();
    const coldWithChecks = await metricNumber(widget, 'failed-cold');
    const hungWithChecks = await metricNumber(widget, 'failed-hung');
    const hungB = widget.locator('g[data-instance="B"]');
    const bLiveFailed = await hungB.locator('[data-probe="live-failed"]').count();

    // Without checks, C fails requests while cold and B keeps its share after it hangs.
    await widget.locator('button:has-text("Reset")').click();
    await widget.locator('input.sdbe-checks-switch').uncheck();
    await play.click();
    await waitForMetricAtLeast(page, handle, 'failed-hung', 30);
    await play.click();

    assert.equal(coldWithChecks, 0, 'no request reached a cold instance with checks');
    assert.ok(hungWithChecks > 0, `${hungWithChecks} timed out before B was restarted`);
    assert.equal(bLiveFailed, 3, 'hung B drew a cross for each failed /livez probe');
    assert.ok(await metricNumber(widget, 'failed-cold') >= 5, 'C failed requests while cold');
    assert.equal(await metricNumber(widget, 'restarts'), 0, 'nothing restarts B without checks');
    assert.equal(await metricText(widget, 'checks'), 'off');
    assert.equal(await metricText(widget, 'rotation'), '3 of 3');
    assert.deepEqual(problems, []);
    await page.close();
});

test('a not-ready instance leaves the rotation without a restart', async () => {
    const { page, problems, widget } = await openChapter('beginner/23-health-checks.html');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const handle = await widget.elementHandle();

    // A loses its dependency at 0 s and leaves after three failed readiness probes. C joins at
    // 3 s, so the rotation is B and C until B's scheduled hang is caught at 8.67 s.
    await widget.locator('select[aria-label="Instance to break or restart"]').selectOption('0');
    await widget.locator('button.sdbe-lose-dependency').click();
    await play.click();
    await waitForMetricAtLeast(page, handle, 'time', 3.2);
    await waitForMetricText(page, handle, 'rotation', /^2 of 3$/);
    await play.click();
    const notReady = await metricNumber(widget, 'failed-not-ready');
    const restartsWhileOut = await metricNumber(widget, 'restarts');
    const rowA = widget.locator('g[data-instance="A"]');
    const aReadyFailed = await rowA.locator('[data-probe="ready-failed"]').count();
    const aLiveFailed = await rowA.locator('[data-probe="live-failed"]').count();
    // Out of the rotation, A's label shows no readiness streak: nothing acts on it any more.
    const aLabel = await rowA.locator('text').nth(1).textContent();

    // Restored, A rejoins at its next passing probe.
    await widget.locator('button.sdbe-restore-dependency').click();
    await play.click();
    await waitForMetricText(page, handle, 'rotation', /^3 of 3$/);
    await play.click();

    assert.ok(notReady > 0, `${notReady} requests reached A before it left`);
    assert.equal(restartsWhileOut, 0, 'a failed readiness probe restarts nothing');
    assert.ok(aReadyFailed >= 3, `A drew ${aReadyFailed} slashed rings for /readyz-only failures`);
    assert.equal(aLiveFailed, 0, 'A runs, so none of its probes failed /livez');
    assert.equal(aLabel, 'out');
    assert.ok(await metricNumber(widget, 'time') < 8.6, 'A rejoined before B was restarted');
    assert.deepEqual(problems, []);
    await page.close();
});

test('discovery clients fail requests to a crashed instance until they refresh', async () => {
    const { page, problems, widget } = await openChapter('beginner/25-service-discovery.html');
    const speed = widget.locator('select[aria-label="Simulation speed"]');
    await speed.selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const handle = await widget.elementHandle();
    const waitForMetric = (key, pattern) => page.waitForFunction(
        ([el, key, source]) => new RegExp(source).test(
            el.querySelector(`[data-metric="${key}"] .sdbe-metric-value`)?.textContent ?? ''),
        [handle, key, pattern.source],
        { timeout: 15_000 },
    );

    // Instance 1 crashes at 4 s. The clients keep it cached, drawn red, until the registry
    // drops it (TTL 3 s) and each client's next refresh (every 2 s) comes.
    await play.click();
    await waitForMetric('stale-entries', /^[1-9]/);
    // A down instance's state bar (8 high) and the legend's chip (12 high) are red too, so count
    // only the client rows' chips, which are 16 high.
    const staleChips = await widget
        .locator('svg.sdbe-scene rect.sdbe-rejected[height="16"]').count();
    await waitForMetric('stale-window', /^\d+\.\d s, [1-9]\d* failed$/);
    await play.click();
    const window = Number.parseFloat(await metricText(widget, 'stale-window'));
    const crashFailures = await metricNumber(widget, 'failed');

    // A graceful stop at the start deregisters instance 2 and drains for 2 s, as long as the
    // refresh, so the clients forget it before it exits: its stale window is empty.
    await widget.locator('button:has-text("Reset")').click();
    await speed.selectOption({ label: '1×' });
    await widget.locator('select[aria-label="Node to crash or restart"]').selectOption('2');
    await widget.locator('button.sdbe-stop').click();
    await play.click();
    await waitForMetric('stale-window', /^0\.0 s, 0 failed$/);
    await play.click();

    assert.ok(staleChips >= 1, `${staleChips} stale cache entries drawn`);
    assert.ok(window > 1 && window <= 5, `stale window ${window} s, at most TTL + refresh`);
    assert.ok(crashFailures > 0, `${crashFailures} requests failed after the crash`);
    assert.equal(await metricNumber(widget, 'failed'), 0, 'the graceful stop failed nothing');
    assert.equal(await metricText(widget, 'listed'), '2');
    assert.equal(await widget.locator('label.sdbe-field span', { hasText: /^Instances/ }).first()
        .textContent(), 'Instances at start');
    assert.equal(await widget.locator('.sdbe-legend rect.sdbe-waiting').count(), 1,
        'the legend explains the orange lease');
    assert.deepEqual(problems, []);
    await page.close();
});

/// Opens a page without widgets and mounts a Raft widget on it with the full `config`, because no
/// chapter embeds the widget yet.
async function openRaft(config) {
    const { page, problems } = await openPage(env.browser);
    await page.goto(env.server.base + 'introduction.html', { waitUntil: 'load' });
    await placeWidget(page, 'raft', config);
    await waitForWidgets(page);
    const widget = page.locator('.sdbe-widget[data-widget="raft"]');
    return { page, problems, widget };
}

/// Waits until the Raft widget's leader metric names a node other than `previous`, and returns
/// the text, such as `node 3`.
async function waitForLeader(page, widget, previous = null) {
    const handle = await widget.elementHandle();
    const found = await page.waitForFunction(
        ([el, previous]) => {
            const text = el.querySelector('[data-metric="leader"] .sdbe-metric-value')?.textContent ?? '';
            return text.startsWith('node') && text !== previous ? text : null;
        },
        [handle, previous],
        { timeout: 15_000 },
    );
    return found.jsonValue();
}

test('raft elects a new leader after the leader crashes', async () => {
    const { page, problems, widget } = await openRaft({
        nodes: 9,
        election_timeout_min_ms: 1500,
        election_timeout_max_ms: 3000,
        heartbeat_ms: 500,
        latency_ms: 100,
        latency_jitter_ms: 50,
    });
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    const first = await waitForLeader(page, widget);
    await play.click();
    const firstTerm = await metricNumber(widget, 'term');
    await widget.locator('button.sdbe-crash-leader').click();
    const afterCrash = await metricText(widget, 'leader');
    await play.click();
    const second = await waitForLeader(page, widget, first);
    await play.click();

    assert.equal(afterCrash, 'none', 'the crash leaves the cluster without a leader');
    assert.ok(await metricNumber(widget, 'term') > firstTerm, 'the new leader has a later term');
    assert.match(await widget.locator('.sdbe-log').textContent(), /became leader of term \d+/);
    assert.deepEqual(problems, []);
    await page.close();
});

test('raft elects no leader on the minority side of a partition', async () => {
    const { page, problems, widget } = await openRaft({
        nodes: 5,
        election_timeout_min_ms: 1500,
        election_timeout_max_ms: 3000,
        heartbeat_ms: 500,
        latency_ms: 100,
        latency_jitter_ms: 50,
    });
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });

    await play.click();
    const first = await waitForLeader(page, widget);
    await play.click();
    await widget.locator('button.sdbe-isolate-leader').click();
    const cutOff = await metricText(widget, 'leader');
    await play.click();
    const second = await waitForLeader(page, widget, first);
    await play.click();
    const scene = await widget.locator('svg.sdbe-scene').getAttribute('aria-label');

    assert.equal(cutOff, 'none', `${first}, alone on its side, no longer counts as the leader`);
    assert.match(second, /^node \d$/, 'the four-node side elected its own leader');
    assert.match(scene, new RegExp(`${first} leader term`), `${first} still believes it leads`);
    assert.deepEqual(problems, []);
    await page.close();
});

// No chapter embeds the gossip widget yet, so this test mounts it on the introduction page.
test('gossip reaches every up node, and a restarted node catches up', async () => {
    const { page, problems } = await openPage(env.browser);
    await page.goto(env.server.base + 'introduction.html', { waitUntil: 'load' });
    await placeWidget(page, 'gossip', { nodes: 30, fanout: 2, round_ms: 1000, latency_ms: 400, loss: 0 });
    await waitForWidgets(page);
    const widget = page.locator('.sdbe-widget[data-widget="gossip"]');
    await widget.locator('select[aria-label="Simulation speed"]').selectOption({ label: '10×' });
    const play = widget.locator('button.sdbe-primary', { hasText: /Play|Pause/ });
    const handle = await widget.elementHandle();
    const waitForMetric = (key, pattern) => page.waitForFunction(
        ([el, key, source]) => new RegExp(source).test(
            el.querySelector(`[data-metric="${key}"] .sdbe-metric-value`)?.textContent ?? ''),
        [handle, key, pattern.source],
        { timeout: 15_000 },
    );
    const look = (node) => widget.locator(`g[data-node="${node}"]`).getAttribute('data-look');

    // Tapping node 7 on the circle selects it for the fault controls, and it crashes before
    // round 1.
    await widget.locator('g[data-node="7"]').click();
    await widget.locator('button.sdbe-crash').click();
    await play.click();
    await waitForMetric('rounds-to-converge', /^\d+$/);
    await play.click();
    const informedWhileDown = await metricText(widget, 'informed');
    const lookWhileDown = await look(7);

    // Restarted with no version, node 7 learns version 1 from the others' pushes.
    await widget.locator('button.sdbe-restart').click();
    const lookAfterRestart = await look(7);
    await play.click();
    await waitForMetric('informed', /^30 \/ 30$/);
    await play.click();

    assert.equal(informedWhileDown, '29 / 29');
    assert.equal(lookWhileDown, 'down');
    assert.equal(lookAfterRestart, 'no version yet');
    assert.equal(await look(7), 'newest version');
    assert.ok(await metricNumber(widget, 'duplicates') > 0, 'pushes to informed nodes are duplicates');
    assert.deepEqual(problems, []);
    await page.close();
});
