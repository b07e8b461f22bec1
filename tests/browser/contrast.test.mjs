// Text in the widgets meets WCAG 2.1 AA contrast (4.5:1, or 3:1 for large
// text) in the light and navy themes, and the diagrams' labels and lines in
// all five themes, computed from the rendered colours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, useBook, waitForWidgets } from './harness.mjs';

const env = useBook();

const pages = [
    'beginner/01-client-server.html',
    'beginner/20-token-bucket.html',
    'beginner/27-consistent-hashing.html',
];

/// Runs in the page before it loads: the colour arithmetic both checks use,
/// from WCAG 2.1's definitions of relative luminance and contrast ratio.
function installColourHelpers() {
    const parse = (colour) => {
        const match = colour.match(/rgba?\(([^)]+)\)/);
        if (!match) {
            return null;
        }
        const [r, g, b, a = 1] = match[1].split(/[ ,/]+/).filter(Boolean).map(Number);
        return { r, g, b, a };
    };
    // Composites a translucent colour over an opaque one.
    const over = (top, bottom) => ({
        r: top.r * top.a + bottom.r * (1 - top.a),
        g: top.g * top.a + bottom.g * (1 - top.a),
        b: top.b * top.a + bottom.b * (1 - top.a),
        a: 1,
    });
    const luminance = ({ r, g, b }) => {
        const channel = (v) => {
            const s = v / 255;
            return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const ratio = (a, b) => {
        const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
        return (light + 0.05) / (dark + 0.05);
    };
    window.sdbeColour = { parse, over, ratio };
}

/// Runs in the page: returns every text element of the widgets whose contrast
/// with its effective background is below the AA threshold.
function lowContrastText() {
    const { parse, ratio } = window.sdbeColour;
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
        const contrast = ratio(foreground, back);
        const size = Number.parseFloat(style.fontSize);
        const bold = Number.parseInt(style.fontWeight, 10) >= 700;
        const large = size >= 24 || (bold && size >= 18.66);
        const needed = large ? 3 : 4.5;
        if (contrast < needed) {
            failures.push(`${element.tagName.toLowerCase()}.${element.className?.baseVal ?? element.className} "${ownText.slice(0, 30)}": ${contrast.toFixed(2)} < ${needed}`);
        }
    }
    return { checked: elements.length, failures };
}

for (const theme of ['light', 'navy']) {
    test(`widget text meets WCAG AA contrast in the ${theme} theme`, async () => {
        for (const path of pages) {
            const { page, problems } = await openPage(env.browser);
            await page.addInitScript((chosen) => localStorage.setItem('mdbook-theme', chosen), theme);
            await page.addInitScript(installColourHelpers);
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

/// Runs in the page: checks the first diagram's rendered colours. Labels need
/// 4.5:1 against the page and every filled shape they can sit on; lines and
/// borders, as graphics, need 3:1 against the page (WCAG 1.4.11).
function diagramContrast() {
    const { parse, over, ratio } = window.sdbeColour;
    let page = null;
    for (let node = document.querySelector('.sdbe-diagram'); node && !page; node = node.parentElement) {
        const colour = parse(getComputedStyle(node).backgroundColor);
        page = colour && colour.a > 0.5 ? colour : null;
    }
    page = page ?? { r: 255, g: 255, b: 255, a: 1 };
    const svg = document.querySelector('.sdbe-diagram svg');
    const surfaces = [page];
    for (const shape of svg.querySelectorAll('rect, polygon, path')) {
        const fill = parse(getComputedStyle(shape).fill);
        if (fill && fill.a > 0 && shape.getAttribute('fill') !== '#4b5563') {
            surfaces.push(over(fill, page));
        }
    }
    const failures = [];
    for (const label of svg.querySelectorAll('text')) {
        const fill = over(parse(getComputedStyle(label).fill), page);
        const worst = Math.min(...surfaces.map((surface) => ratio(fill, surface)));
        if (worst < 4.5) {
            failures.push(`label "${label.textContent.slice(0, 30)}": ${worst.toFixed(2)} < 4.5`);
        }
    }
    for (const stroked of svg.querySelectorAll('[stroke]')) {
        const stroke = parse(getComputedStyle(stroked).stroke);
        if (stroke && stroke.a > 0 && ratio(over(stroke, page), page) < 3) {
            failures.push(`${stroked.tagName} stroke: ${ratio(over(stroke, page), page).toFixed(2)} < 3`);
        }
    }
    return { labels: svg.querySelectorAll('text').length, failures };
}

for (const theme of ['light', 'rust', 'coal', 'navy', 'ayu']) {
    test(`diagram labels and lines meet WCAG AA contrast in the ${theme} theme`, async () => {
        for (const path of pages) {
            const { page, problems } = await openPage(env.browser);
            await page.addInitScript((chosen) => localStorage.setItem('mdbook-theme', chosen), theme);
            await page.addInitScript(installColourHelpers);
            await page.goto(env.server.base + path, { waitUntil: 'load' });

            const { labels, failures } = await page.evaluate(diagramContrast);

            assert.ok(labels >= 3, `${path}: found ${labels} diagram labels`);
            assert.deepEqual(failures, [], `${path} (${theme})`);
            assert.deepEqual(problems, []);
            await page.close();
        }
    });
}
