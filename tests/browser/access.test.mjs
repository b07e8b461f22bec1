// Widgets can be used without a mouse or a screen: every control has an
// accessible name and visible keyboard focus, events reach a live region,
// and all five mdBook themes restyle the widgets without a reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openWidgetPage, useBook } from './harness.mjs';

const env = useBook();

const pages = [
    'beginner/01-client-server.html',
    'beginner/20-token-bucket.html',
    'beginner/27-consistent-hashing.html',
];

function openChapter(path) {
    return openWidgetPage(env, env.server.base + path);
}

test('every widget control has an accessible name', async () => {
    for (const path of pages) {
        const { page, problems } = await openChapter(path);

        const unnamed = await page.evaluate(() => {
            const controls = document.querySelectorAll(
                '.sdbe-widget-root button, .sdbe-widget-root input, .sdbe-widget-root select, .sdbe-widget-root summary',
            );
            const missing = [];
            for (const control of controls) {
                const label = control.getAttribute('aria-label')
                    || (control.labels && Array.from(control.labels).map((l) => l.textContent).join(' ').trim())
                    || control.textContent.trim();
                if (!label) {
                    missing.push(control.outerHTML.slice(0, 80));
                }
            }
            return { count: controls.length, missing };
        });

        assert.ok(unnamed.count >= 8, `${path}: ${unnamed.count} controls`);
        assert.deepEqual(unnamed.missing, [], path);
        assert.deepEqual(problems, []);
        await page.close();
    }
});

test('keyboard focus is visible on widget controls', async () => {
    const { page, problems, widget } = await openChapter('beginner/20-token-bucket.html');
    await widget.locator('button:has-text("Play")').focus();

    // A key press makes the browser apply :focus-visible to the next control.
    await page.keyboard.press('Tab');
    const style = await page.evaluate(() => {
        const s = getComputedStyle(document.activeElement);
        return {
            outline: s.outlineStyle,
            width: Number.parseFloat(s.outlineWidth),
            inWidget: !!document.activeElement.closest('.sdbe-widget'),
        };
    });

    assert.ok(style.inWidget, 'Tab keeps focus inside the widget');
    assert.notEqual(style.outline, 'none');
    assert.ok(style.width >= 2, `outline ${style.width}px`);
    assert.deepEqual(problems, []);
    await page.close();
});

test('stepping announces the newest event to screen readers', async () => {
    const { page, problems, widget } = await openChapter('beginner/20-token-bucket.html');

    await widget.locator('button.sdbe-burst').click();
    const announced = await widget.locator('[aria-live="polite"]').textContent();

    assert.match(announced, /rejected/);
    assert.deepEqual(problems, []);
    await page.close();
});

test('all five themes restyle the widgets without a reload', async () => {
    const { page, problems, widget } = await openChapter('beginner/27-consistent-hashing.html');
    const seen = new Set();
    let navigations = 0;
    page.on('framenavigated', () => {
        navigations += 1;
    });

    // The page opens in light, so switch away first and come back last.
    for (const theme of ['rust', 'coal', 'navy', 'ayu', 'light']) {
        const choice = page.locator(`#mdbook-theme-${theme}`);
        if (!(await choice.isVisible())) {
            await page.locator('#mdbook-theme-toggle').click();
        }
        await choice.click();
        await page.waitForFunction((t) => document.documentElement.classList.contains(t), theme);
        const colours = await widget.evaluate((el) => {
            const widgetStyle = getComputedStyle(el);
            const page = getComputedStyle(document.documentElement);
            return {
                widget: `${widgetStyle.backgroundColor}|${widgetStyle.color}`,
                page: `${page.backgroundColor}|${page.color}`,
            };
        });
        assert.equal(colours.widget, colours.page, `${theme}: widget uses the page's colours`);
        seen.add(colours.widget);
    }

    assert.equal(seen.size, 5, 'each theme gives the widget its own colours');
    assert.equal(navigations, 0, 'no reload');
    assert.deepEqual(problems, []);
    await page.close();
});
