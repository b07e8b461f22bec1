// Renders the page's Mermaid diagrams in the current mdBook theme.
//
// mdbook-mermaid turns each ```mermaid block into <pre class="mermaid">. This
// script loads Mermaid only on pages that have such a block, draws them with
// Mermaid's light or dark theme to match the page, and redraws them when the
// reader switches between a light and a dark mdBook theme.
(() => {
    'use strict';
    const blocks = Array.from(document.querySelectorAll('pre.mermaid'));
    if (blocks.length === 0) {
        return;
    }
    const darkThemes = ['coal', 'navy', 'ayu'];
    const html = document.documentElement;
    const isDark = () => darkThemes.some((theme) => html.classList.contains(theme));

    // Keep each diagram's source: Mermaid replaces the text with an SVG.
    blocks.forEach((block) => {
        block.dataset.source = block.textContent;
    });

    let drawnDark = null;
    async function draw() {
        const dark = isDark();
        if (dark === drawnDark) {
            return;
        }
        drawnDark = dark;
        blocks.forEach((block) => {
            block.removeAttribute('data-processed');
            block.textContent = block.dataset.source;
        });
        window.mermaid.initialize({
            startOnLoad: false,
            theme: dark ? 'dark' : 'default',
            securityLevel: 'strict',
        });
        try {
            await window.mermaid.run({ nodes: blocks });
        } catch (err) {
            console.error('Mermaid failed to draw a diagram:', err);
        }
    }

    const script = document.createElement('script');
    script.src = new URL(path_to_root + 'assets/mermaid.min.js', document.baseURI).href;
    script.addEventListener('load', () => {
        draw();
        new MutationObserver(draw).observe(html, { attributes: true, attributeFilter: ['class'] });
    });
    script.addEventListener('error', () => {
        console.error('Mermaid did not load from', script.src);
    });
    document.head.appendChild(script);
})();
