// Loads the widget bundles and mounts the page's widgets.
//
// Each widget has its own bundle under `widgets/NAME/`, so a page
// downloads only the widgets it shows, and pages without a widget fetch
// nothing. `cargo xtask build` writes this file into `theme/head.hbs`
// followed by a call to `preload` with the widgets of the page, so the
// bundles download while the stylesheets do, before the parser reaches
// the first placeholder. The preprocessor writes `sdbeWidgets.mount('NAME')`
// right after each widget placeholder, which mounts the widget as soon as
// its bundle is ready, and loads the bundle then if no preload did. The
// script lives in the head because those calls run before any
// `additional-js` file loads. `widgets/` is in the book's source folder,
// which mdBook copies without hashing, and `import()` needs an absolute URL.
window.sdbeWidgets = (() => {
    'use strict';
    const bundles = new Map();

    // `root` is the path from the page to the book's root. mdBook defines
    // `path_to_root` after the head's custom part, so `preload` passes it.
    function load(name, root = path_to_root) {
        if (!bundles.has(name)) {
            const base = new URL(root + 'widgets/' + name + '/', document.baseURI);
            // Fetch the wasm alongside the JS module rather than after it.
            const wasm = fetch(new URL('sdbe_widgets_bg.wasm', base));
            bundles.set(name, import(new URL('sdbe_widgets.js', base).href).then(async (module) => {
                await module.default({ module_or_path: wasm });
                return module;
            }));
        }
        return bundles.get(name);
    }

    function showFailure(name, err) {
        console.error(`The bundle of the ${name} widget failed to load:`, err);
        document.querySelectorAll('.sdbe-widget:not([data-mounted])').forEach((placeholder) => {
            if (placeholder.dataset.widget !== name || placeholder.querySelector('.sdbe-widget-error')) {
                return;
            }
            const note = document.createElement('p');
            note.className = 'sdbe-widget-error';
            note.textContent = 'The interactive widget failed to load: ' + err;
            placeholder.appendChild(note);
        });
    }

    // Mounts the placeholders of widget `name` parsed so far, and the
    // rest once the whole page is parsed. mount_all skips placeholders
    // already mounted and those of other widgets.
    function mount(name) {
        load(name).then((module) => {
            module.mount_all();
            if (document.readyState === 'loading') {
                document.addEventListener('DOMContentLoaded', () => module.mount_all(), { once: true });
            }
        }).catch((err) => showFailure(name, err));
    }

    // Starts loading the bundles of `names` without mounting anything. A
    // failure is left to `mount`, which shows it where the widget is.
    function preload(root, names) {
        for (const name of names ?? []) {
            load(name, root).catch(() => {});
        }
    }

    return { mount, preload };
})();
