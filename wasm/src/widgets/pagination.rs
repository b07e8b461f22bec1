//! Pagination widget: an offset reader and a cursor reader page through the same changing list,
//! with the ids on each page, duplicates and misses marked, and the rows each page scanned.

use sim::pagination::{Action, Event as PageEvent, Page, Pagination, PaginationConfig, Reader};
use yew::prelude::*;

use super::WidgetProps;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Pages each column shows, newest at the bottom.
const PAGES_SHOWN: usize = 8;
/// Ids shown per page; longer pages end with an ellipsis.
const IDS_SHOWN: usize = 6;
/// Height of one page row, in scene units.
const ROW_H: f64 = 22.0;
/// Baseline of the first page row, below the title, the counts and the column header.
const PAGES_TOP: f64 = 78.0;
/// Missed ids listed under a column; more end with an ellipsis, so the line fits the column.
const MISSED_SHOWN: usize = 5;

fn describe(event: &PageEvent) -> Option<String> {
    match event {
        PageEvent::Fetched {
            at_ms,
            method,
            page,
            ids,
            scanned,
            duplicates,
        } => {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            let again = if duplicates.is_empty() {
                String::new()
            } else {
                format!(", {} seen before", duplicates.len())
            };
            Some(format!(
                "{:.1} s: {} page {page}: {} (scanned {scanned}{again})",
                at_ms / 1000.0,
                method.label(),
                ids.join(" ")
            ))
        }
        PageEvent::Finished {
            at_ms,
            method,
            missed,
        } => Some(format!(
            "{:.1} s: {} reader reached the end, missed {} rows",
            at_ms / 1000.0,
            method.label(),
            missed.len()
        )),
        _ => None,
    }
}

/// Renders the pagination widget.
#[component]
pub fn PaginationWidget(props: &WidgetProps<PaginationConfig>) -> Html {
    let runner: RunnerHandle<Pagination> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let run = runner.get();

    let configure = |edit: fn(&mut PaginationConfig, f64)| runner.configure(&run.config, edit);
    let params = html! {
        <>
            <NumberField label="Rows" value={f64::from(run.config.rows)} min={1.0} max={1000.0}
                on_change={configure(|c, v| c.rows = v as u32)} />
            <NumberField label="Page size" value={f64::from(run.config.page_size)} min={1.0}
                max={50.0} on_change={configure(|c, v| c.page_size = v as u32)} />
            <NumberField label="Inserts/s" value={run.config.insert_per_s} min={0.0} max={50.0}
                step={0.1} on_change={configure(|c, v| c.insert_per_s = v)} />
            <NumberField label="Deletes/s" value={run.config.delete_per_s} min={0.0} max={50.0}
                step={0.1} on_change={configure(|c, v| c.delete_per_s = v)} />
            <NumberField label="Page every (ms)" value={run.config.page_ms} min={100.0}
                max={60_000.0} step={100.0} on_change={configure(|c, v| c.page_ms = v)} />
        </>
    };
    let disabled = run.engine.is_err();
    let act = |action: Action| runner.callback(move |_: MouseEvent| Command::Act(action.clone()));
    let actions = html! {
        <>
            <button type="button" class="sdbe-primary sdbe-insert" disabled={disabled}
                onclick={act(Action::Insert { count: 3 })}>{ "Insert 3 at top" }</button>
            <button type="button" class="sdbe-delete" disabled={disabled}
                onclick={act(Action::DeletePassed { count: 3 })}>{ "Delete 3 read rows" }</button>
            <button type="button" class="sdbe-restart-read" disabled={disabled}
                onclick={act(Action::Restart)}>{ "Read again" }</button>
        </>
    };
    let scene = match &run.engine {
        Ok(engine) => draw(engine),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Offset and cursor pagination",
            params,
            actions,
            scene,
        },
    )
}

/// Draws the two readers side by side, each with its last pages and its misses.
fn draw(engine: &Pagination) -> Html {
    let readers = engine.readers();
    let missed = engine.missed();
    let height = PAGES_TOP + ROW_H * PAGES_SHOWN as f64 + 30.0;
    let columns = readers
        .iter()
        .zip(missed.iter())
        .enumerate()
        .map(|(i, (reader, missed))| draw_reader(reader, missed, 10.0 + i as f64 * 208.0, height));
    let label = readers
        .iter()
        .zip(missed.iter())
        .map(|(reader, missed)| {
            format!(
                "{} reader: {} pages, {} duplicates, {} missed",
                reader.method.label(),
                reader.pages.len(),
                reader.duplicate_count(),
                missed.len()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {height:.0}")} role="img"
            aria-label={label}>
            { for columns }
            <text x="10" y={f(height - 8.0)} font-size="13">
                <tspan class="sdbe-rejected" font-weight="bold">{ "id" }</tspan>
                { " seen twice · scanned = rows read" }
            </text>
        </svg>
    }
}

/// Draws one reader: its method, its counts, its last pages with duplicates marked, and what it
/// missed. The counts sit on their own line, so a column stays within its 208 units at 360 px.
fn draw_reader(reader: &Reader, missed: &[u64], x: f64, height: f64) -> Html {
    let status = if reader.finished { ", done" } else { "" };
    let title = format!("{} reader", reader.method.label());
    let counts = format!(
        "{} dup, {} missed{status}",
        reader.duplicate_count(),
        missed.len()
    );
    let skip = reader.pages.len().saturating_sub(PAGES_SHOWN);
    let pages = reader
        .pages
        .iter()
        .skip(skip)
        .enumerate()
        .map(|(row, page)| draw_page(page, x, PAGES_TOP + row as f64 * ROW_H));
    let missed_text: Vec<String> = missed
        .iter()
        .take(MISSED_SHOWN)
        .map(u64::to_string)
        .collect();
    let more = if missed.len() > MISSED_SHOWN {
        " …"
    } else {
        ""
    };
    let missed_line = (!missed.is_empty()).then(|| {
        html! {
            <text x={f(x)} y={f(height - 30.0)} font-size="13">
                { format!("missed: {}{more}", missed_text.join(" ")) }</text>
        }
    });
    html! {
        <g>
            <text x={f(x)} y="18" font-size="14" font-weight="bold">{ title }</text>
            <text x={f(x)} y="36" font-size="13">{ counts }</text>
            <text x={f(x)} y="56" font-size="13">{ "page: ids · scanned" }</text>
            { for pages }
            { for missed_line }
        </g>
    }
}

/// Draws one page as a line of ids, duplicates in the highlight colour, then its scan count.
fn draw_page(page: &Page, x: f64, y: f64) -> Html {
    // Duplicates are red and bold, so they stand out without colour too.
    let ids = page.ids.iter().take(IDS_SHOWN).map(|id| {
        if page.duplicates.contains(id) {
            html! { <tspan class="sdbe-rejected" font-weight="bold">{ format!("{id} ") }</tspan> }
        } else {
            html! { <tspan>{ format!("{id} ") }</tspan> }
        }
    });
    let more = if page.ids.len() > IDS_SHOWN {
        "… "
    } else {
        ""
    };
    html! {
        <text x={f(x)} y={f(y)} font-size="13">
            { format!("{}: ", page.number) }
            { for ids }
            { format!("{more}· {}", page.scanned) }
        </text>
    }
}

fn f(value: f64) -> String {
    format!("{value:.1}")
}
