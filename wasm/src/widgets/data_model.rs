//! Data model widget: the cost of five access patterns in a relational and a document model.

use sim::data_model::{Action, Cost, DataModel, DataModelConfig, Event as ModelEvent, Pattern};
use yew::prelude::*;

use super::WidgetProps;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Height of one pattern's row, in scene units.
const ROW_H: f64 = 62.0;
const TOP: f64 = 48.0;
/// Left ends of the relational and document columns, and the width of each.
const REL_X: f64 = 14.0;
const DOC_X: f64 = 220.0;
const BOX_W: f64 = 192.0;

fn describe(event: &ModelEvent) -> Option<String> {
    let ModelEvent::Ran {
        at_ms,
        pattern,
        relational,
        document,
        agree,
        ..
    } = event;
    Some(format!(
        "{:.1} s: {}: relational {} rows read, {} written; documents {} read, {} written{}",
        at_ms / 1000.0,
        pattern.label(),
        relational.reads,
        relational.writes,
        document.reads,
        document.writes,
        if *agree { "" } else { " (answers differ)" }
    ))
}

/// The data model widget.
#[component]
pub fn DataModelWidget(props: &WidgetProps<DataModelConfig>) -> Html {
    let runner: RunnerHandle<DataModel> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let run = runner.get();

    let configure = |edit: fn(&mut DataModelConfig, f64)| runner.configure(&run.config, edit);
    let params = html! {
        <>
            <NumberField label="Users" value={f64::from(run.config.users)} min={1.0}
                max={f64::from(sim::data_model::MAX_USERS)}
                on_change={configure(|c, v| c.users = v as u32)} />
            <NumberField label="Orders per user" value={f64::from(run.config.orders_per_user)}
                min={1.0} max={f64::from(sim::data_model::MAX_ORDERS_PER_USER)}
                on_change={configure(|c, v| c.orders_per_user = v as u32)} />
            <NumberField label="Items per order" value={f64::from(run.config.items_per_order)}
                min={1.0} max={f64::from(sim::data_model::MAX_ITEMS_PER_ORDER)}
                on_change={configure(|c, v| c.items_per_order = v as u32)} />
            <NumberField label="Products" value={f64::from(run.config.products)} min={1.0}
                max={f64::from(sim::data_model::MAX_PRODUCTS)}
                on_change={configure(|c, v| c.products = v as u32)} />
        </>
    };
    let buttons = Pattern::ALL.iter().map(|&pattern| {
        let onclick = runner.callback(move |_: MouseEvent| Command::Act(Action::Run { pattern }));
        html! {
            <button type="button" class="sdbe-run-pattern" {onclick}
                disabled={run.engine.is_err()}>{ pattern.label() }</button>
        }
    });
    let actions = html! { <>{ for buttons }</> };
    let scene = match &run.engine {
        Ok(engine) => draw(engine),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Cost per access pattern, mean per run",
            params,
            actions,
            scene,
        },
    )
}

/// Formats the last cost of a pattern in one model: records read and written, and bytes read.
fn cost_text(cost: &Cost, runs: u64) -> (String, String) {
    if runs == 0 {
        return ("–".to_string(), String::new());
    }
    let n = runs as f64;
    let bytes = cost.bytes_read as f64 / n;
    // Below 1 KB, one decimal of a KB would show a small read, such as a rename's 48 B, as 0.0.
    let bytes_text = if bytes < 1000.0 {
        format!("{bytes:.0} B read")
    } else {
        format!("{:.1} KB read", bytes / 1000.0)
    };
    (
        format!(
            "{:.0} read, {:.0} written",
            cost.reads as f64 / n,
            cost.writes as f64 / n
        ),
        bytes_text,
    )
}

/// Draws one row per pattern with the mean cost in each model; the cheaper one is highlighted.
fn draw(engine: &DataModel) -> Html {
    let rows = Pattern::ALL.iter().enumerate().map(|(i, &pattern)| {
        let totals = engine.totals(pattern);
        let y = TOP + 20.0 + ROW_H * i as f64;
        let (rel_main, rel_bytes) = cost_text(&totals.relational, totals.runs);
        let (doc_main, doc_bytes) = cost_text(&totals.document, totals.runs);
        let rel_work = totals.relational.bytes_read + 100 * totals.relational.writes;
        let doc_work = totals.document.bytes_read + 100 * totals.document.writes;
        let (rel_class, doc_class) = match (totals.runs, rel_work.cmp(&doc_work)) {
            (0, _) => ("sdbe-idle", "sdbe-idle"),
            (_, std::cmp::Ordering::Less) => ("sdbe-accepted", "sdbe-idle"),
            (_, std::cmp::Ordering::Greater) => ("sdbe-idle", "sdbe-accepted"),
            _ => ("sdbe-idle", "sdbe-idle"),
        };
        let last = engine.last().is_some_and(|(p, _, _)| p == pattern);
        html! {
            <g>
                <text x="8" y={format!("{:.0}", y - 18.0)} font-size="13"
                    font-weight={if last { "bold" } else { "normal" }}>{ pattern.label() }</text>
                <rect class={rel_class} x={(REL_X - 6.0).to_string()} y={format!("{:.0}", y - 12.0)}
                    width={BOX_W.to_string()} height="36" rx="4" opacity="0.35" />
                <text x={REL_X.to_string()} y={format!("{:.0}", y + 2.0)} font-size="13">{ rel_main }</text>
                <text x={REL_X.to_string()} y={format!("{:.0}", y + 18.0)} font-size="13">{ rel_bytes }</text>
                <rect class={doc_class} x={(DOC_X - 6.0).to_string()} y={format!("{:.0}", y - 12.0)}
                    width={BOX_W.to_string()} height="36" rx="4" opacity="0.35" />
                <text x={DOC_X.to_string()} y={format!("{:.0}", y + 2.0)} font-size="13">{ doc_main }</text>
                <text x={DOC_X.to_string()} y={format!("{:.0}", y + 18.0)} font-size="13">{ doc_bytes }</text>
            </g>
        }
    });
    let bottom = TOP + ROW_H * Pattern::ALL.len() as f64 + 4.0;
    let legend_y = bottom + 8.0;

    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {:.0}", legend_y + 44.0)} role="img"
            aria-label={format!("{} orders; documents duplicate {} bytes of names",
                engine.orders(), engine.duplicated_bytes())}>
            <text x={(REL_X - 6.0).to_string()} y="20" font-size="14">{ "tables: rows" }</text>
            <text x={(DOC_X - 6.0).to_string()} y="20" font-size="14">{ "documents: docs" }</text>
            { for rows }
            // The rule behind the shading, on two lines so that it fits narrow screens.
            <rect class="sdbe-accepted" x={(REL_X - 6.0).to_string()} y={format!("{legend_y:.0}")}
                width="24" height="16" rx="4" opacity="0.35" />
            <text x={(REL_X + 24.0).to_string()} y={format!("{:.0}", legend_y + 13.0)}
                font-size="13">{ "shaded: the model that did less work," }</text>
            <text x={(REL_X + 24.0).to_string()} y={format!("{:.0}", legend_y + 33.0)}
                font-size="13">{ "bytes read + 100 B per write" }</text>
        </svg>
    }
}
