// Tab groups for the Go and Python listings.
//
// The preprocessor emits each group as `.sdbe-tabs` holding `.sdbe-tab-panel`
// elements with a `data-tab` label. This script adds the tab bar, shows one
// panel, and remembers the reader's choice in localStorage so every page opens
// on the same language. Without JavaScript every panel stays visible.
(() => {
    'use strict';
    const storageKey = 'sdbe-tab-choice';

    function readChoice() {
        try {
            return localStorage.getItem(storageKey);
        } catch (_) {
            return null;
        }
    }

    function saveChoice(label) {
        try {
            localStorage.setItem(storageKey, label);
        } catch (_) {
            // Private windows may refuse storage; the choice then lasts one page.
        }
    }

    function select(group, label, focus) {
        const buttons = group.querySelectorAll(':scope > .sdbe-tab-bar > button');
        const panels = group.querySelectorAll(':scope > .sdbe-tab-panel');
        let found = false;
        panels.forEach((panel) => {
            const active = panel.dataset.tab === label;
            found = found || active;
            panel.hidden = !active;
        });
        if (!found) {
            return false;
        }
        buttons.forEach((button) => {
            const active = button.dataset.tab === label;
            button.setAttribute('aria-selected', String(active));
            button.tabIndex = active ? 0 : -1;
            if (active && focus) {
                button.focus();
            }
        });
        return true;
    }

    function selectEverywhere(label) {
        document.querySelectorAll('.sdbe-tabs').forEach((group) => select(group, label, false));
    }

    function build(group, index) {
        const panels = Array.from(group.querySelectorAll(':scope > .sdbe-tab-panel'));
        const bar = document.createElement('div');
        bar.className = 'sdbe-tab-bar';
        bar.setAttribute('role', 'tablist');
        panels.forEach((panel, panelIndex) => {
            const label = panel.dataset.tab;
            const button = document.createElement('button');
            button.type = 'button';
            button.textContent = label;
            button.dataset.tab = label;
            button.setAttribute('role', 'tab');
            // Ids only label the panels; nothing looks tabs up by id, so the
            // print page renaming duplicate ids does no harm.
            const id = `sdbe-tab-${index}-${panelIndex}`;
            button.id = id;
            panel.setAttribute('aria-labelledby', id);
            button.addEventListener('click', () => {
                saveChoice(label);
                selectEverywhere(label);
            });
            bar.appendChild(button);
        });
        // Arrow keys move between tabs, as in the WAI-ARIA tabs pattern, and
        // stop here so that mdBook does not turn the page.
        bar.addEventListener('keydown', (event) => {
            if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') {
                return;
            }
            event.stopPropagation();
            event.preventDefault();
            const labels = panels.map((panel) => panel.dataset.tab);
            const current = labels.indexOf(document.activeElement.dataset.tab);
            const step = event.key === 'ArrowRight' ? 1 : -1;
            const next = labels[(current + step + labels.length) % labels.length];
            saveChoice(next);
            selectEverywhere(next);
            select(group, next, true);
        });
        group.insertBefore(bar, group.firstChild);
        group.classList.add('sdbe-tabs-ready');
        const choice = readChoice();
        if (!(choice && select(group, choice, false))) {
            select(group, panels[0].dataset.tab, false);
        }
    }

    document.querySelectorAll('.sdbe-tabs').forEach(build);
})();
