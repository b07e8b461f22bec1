// Takes screenshots of the built book for review, not for assertions:
// each chapter with a widget in the light and navy themes, and its widget
// alone at 360 px wide, and each diagram in all five themes.
// Usage: node tests/browser/screenshots.mjs [page ...]
import { mkdir } from 'node:fs/promises';
import { serveBook, launchBrowser, openPage, waitForWidgets } from './harness.mjs';

const outDir = new URL('./screenshots/', import.meta.url).pathname;
const pages = process.argv.slice(2);
if (pages.length === 0) {
    pages.push('beginner/01-client-server.html', 'beginner/20-token-bucket.html', 'beginner/27-consistent-hashing.html');
}

await mkdir(outDir, { recursive: true });
const server = await serveBook();
const browser = await launchBrowser();
try {
    for (const path of pages) {
        const name = path.replace(/\//g, '_').replace(/\.html$/, '');
        for (const [theme, width] of [['light', 1280], ['navy', 1280], ['light', 360], ['coal', 360]]) {
            const { page, problems } = await openPage(browser);
            await page.setViewportSize({ width, height: 900 });
            await page.addInitScript((chosen) => localStorage.setItem('mdbook-theme', chosen), theme);
            await page.goto(server.base + path, { waitUntil: 'load' });
            const widget = page.locator('.sdbe-widget').first();
            if ((await widget.count()) > 0) {
                await widget.scrollIntoViewIfNeeded();
                await waitForWidgets(page);
                // Play briefly so the scene shows a run in progress.
                await widget.locator('button.sdbe-primary').first().click();
                await page.waitForTimeout(2_500);
                await widget.locator('button.sdbe-primary').first().click();
                await page.waitForTimeout(300);
            }
            const file = `${outDir}${name}-${theme}-${width}`;
            if (width > 400) {
                await page.screenshot({ path: `${file}-page.png`, fullPage: true });
            }
            if ((await widget.count()) > 0) {
                await widget.screenshot({ path: `${file}-widget.png` });
            }
            if (problems.length > 0) {
                console.error(`${path} (${theme}, ${width}px):\n  ${problems.join('\n  ')}`);
            }
            await page.close();
        }
        for (const theme of ['light', 'rust', 'coal', 'navy', 'ayu']) {
            const { page } = await openPage(browser);
            await page.setViewportSize({ width: 1280, height: 900 });
            await page.addInitScript((chosen) => localStorage.setItem('mdbook-theme', chosen), theme);
            await page.goto(server.base + path, { waitUntil: 'load' });
            const diagrams = await page.locator('.sdbe-diagram').all();
            for (const [index, diagram] of diagrams.entries()) {
                await diagram.screenshot({ path: `${outDir}${name}-diagram${index + 1}-${theme}.png` });
            }
            await page.close();
        }
        console.log(`screenshots of ${path} in ${outDir}`);
    }
} finally {
    await browser.close();
    await server.close();
}
