// Loads the widget bundle on pages that have a widget placeholder.
//
// mdBook's `additional-js` must be a classic script, so this file imports the
// wasm-bindgen ES module dynamically. The bundle is fetched when the first
// placeholder comes near the viewport (at once on the print page), then the
// module mounts every `.sdbe-widget` on the page. The bundle lives under
// `widgets/` in the book's source folder, which mdBook copies without hashing.
(() => {
    'use strict';
    const placeholders = document.querySelectorAll('.sdbe-widget');
    if (placeholders.length === 0) {
        return;
    }

    function showFailure(err) {
        console.error('The widget bundle failed to load:', err);
        placeholders.forEach((placeholder) => {
            if (placeholder.dataset.mounted) {
                return;
            }
            const note = document.createElement('p');
            note.className = 'sdbe-widget-error';
            note.textContent = 'The interactive widget failed to load: ' + err;
            placeholder.appendChild(note);
        });
    }

    let started = false;
    async function start() {
        if (started) {
            return;
        }
        started = true;
        const base = new URL(path_to_root + 'widgets/', document.baseURI);
        try {
            const bundle = await import(new URL('sdbe_widgets.js', base).href);
            await bundle.default({ module_or_path: new URL('sdbe_widgets_bg.wasm', base) });
            bundle.mount_all();
        } catch (err) {
            showFailure(err);
        }
    }

    const isPrintPage = /(^|\/)print\.html$/.test(window.location.pathname);
    if (isPrintPage || !('IntersectionObserver' in window)) {
        start();
        return;
    }
    const observer = new IntersectionObserver((entries) => {
        if (entries.some((entry) => entry.isIntersecting)) {
            observer.disconnect();
            start();
        }
    }, { rootMargin: '400px 0px' });
    placeholders.forEach((placeholder) => observer.observe(placeholder));
})();
