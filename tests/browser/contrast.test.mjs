// Text in the widgets meets WCAG 2.1 AA contrast (4.5:1, or 3:1 for large
// text) in the light and navy themes, computed from the rendered colours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, useBook, waitForWidgets } from './harness.mjs';

const env = useBook();

const pages = [
    'beginner/01-client-server.html',
    'beginner/20-token-bucket.html',
    'beginner/27-consistent-hashing.html',
];

/// Runs in the page: returns every text element of the widgets whose contrast
/// with its effective background is below the AA threshold.
function lowContrastText() {
    const parse = (colour) => {
        const match = colour.match(/rgba?\(([^)]+)\)/);
        if (!match) {
            return null;
        }
        const [r, g, b, a = 1] = match[1].split(/[ ,/]+/).filter(Boolean).map(Number);
        return { r, g, b, a };
    };
    const luminance = ({ r, g, b }) => {
        const channel = (v) => {
            const s = v / 255;
            return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const background = (element) => {
        for (let node = element; node; node = node.parentElement) {
            const colour = parse(getComputedStyle(node).backgroundColor);
            if (colour && colour.a > 0.5) {
                return colour;
            }
        }
        return { r: 255, g: 255, b: 255, a: 1 };
    };
    const failures = [];
    const elements = document.querySelectorAll('.sdbe-widget-root *');
    for (const element of elements) {
        const ownText = Array.from(element.childNodes)
            .filter((node) => node.nodeType === Node.TEXT_NODE)
            .map((node) => node.textContent.trim())
            .join('');
        if (!ownText || element.closest('[hidden], details:not([open]) > :not(summary)')) {
            continue;
        }
        const style = getComputedStyle(element);
        if (style.visibility === 'hidden' || style.display === 'none') {
            continue;
        }
        const isSvgText = element instanceof SVGElement;
        const foreground = parse(isSvgText ? style.fill : style.color);
        if (!foreground) {
            continue;
        }
        const back = background(isSvgText ? element.closest('svg') : element);
        const [light, dark] = [luminance(foreground), luminance(back)].sort((a, b) => b - a);
        const ratio = (light + 0.05) / (dark + 0.05);
        const size = Number.parseFloat(style.fontSize);
        const bold = Number.parseInt(style.fontWeight, 10) >= 700;
        const large = size >= 24 || (bold && size >= 18.66);
        const needed = large ? 3 : 4.5;
        if (ratio < needed) {
            failures.push(`${element.tagName.toLowerCase()}.${element.className?.baseVal ?? element.className} "${ownText.slice(0, 30)}": ${ratio.toFixed(2)} < ${needed}`);
        }
    }
    return { checked: elements.length, failures };
}

for (const theme of ['light', 'navy']) {
    test(`widget text meets WCAG AA contrast in the ${theme} theme`, async () => {
        for (const path of pages) {
            const { page, problems } = await openPage(env.browser);
            await page.addInitScript((chosen) => localStorage.setItem('mdbook-theme', chosen), theme);
            await page.goto(env.server.base + path, { waitUntil: 'load' });
            await page.locator('.sdbe-widget').first().scrollIntoViewIfNeeded();
            await waitForWidgets(page);
            // Show the transient parts too: a notice, an error, the log, a share link.
            const widget = page.locator('.sdbe-widget').first();
            await widget.locator('button:has-text("Step")').click();
            await widget.locator('button.sdbe-share-button').click();
            await widget.locator('details.sdbe-log summary').click();
            const field = widget.locator('.sdbe-params input').first();
            await field.fill('0');
            await field.dispatchEvent('change');

            const { checked, failures } = await page.evaluate(lowContrastText);

            assert.ok(checked > 20, `${path}: found ${checked} elements to check`);
            assert.deepEqual(failures, [], `${path} (${theme})`);
            assert.deepEqual(problems, []);
            await page.close();
        }
    });
}
