//! Storage widget: a table of what each workload operation costs on block, file and
//! object storage, and the estimated monthly cost of each.

use sim::storage::{Action, Cost, Event as StorageEvent, Model, Op, Storage, StorageConfig, cost};
use yew::prelude::*;

use super::WidgetProps;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Height of one table row, in SVG units.
const ROW_H: f64 = 24.0;

/// Left edge of each model's column, in [`Model::ALL`] order. The first column leaves room
/// for "update range" at the 17 px that narrow screens give scene text.
const COLUMNS: [f64; 3] = [146.0, 238.0, 330.0];

fn describe(event: &StorageEvent) -> Option<String> {
    // The log keeps a line per operation; the table shows what each one cost.
    let StorageEvent::Ran {
        at_ms, op, file, ..
    } = event;
    Some(format!(
        "{:.1} s: {} on file {file}",
        at_ms / 1000.0,
        op.label()
    ))
}

/// Formats a byte count in KiB, MiB or GiB.
fn bytes(count: u64) -> String {
    const KIB: f64 = 1024.0;
    let value = count as f64;
    if value >= KIB * KIB * KIB {
        format!("{:.1} GiB", value / (KIB * KIB * KIB))
    } else if value >= KIB * KIB {
        format!("{:.0} MiB", value / (KIB * KIB))
    } else {
        format!("{:.0} KiB", value / KIB)
    }
}

fn cell(cost: Option<Cost>) -> String {
    match cost {
        None => "–".to_string(),
        Some(c) => {
            let moved = c.bytes_read + c.bytes_written + c.bytes_copied;
            if moved == 0 {
                format!("{}×", c.requests)
            } else {
                format!("{}× {}", c.requests, bytes(moved))
            }
        }
    }
}

/// Draws the storage widget: dataset parameters, one button per operation, and the cost table.
#[component]
pub fn StorageWidget(props: &WidgetProps<StorageConfig>) -> Html {
    let runner: RunnerHandle<Storage> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let run = runner.get();
    let current = run.config.clone();

    let configure = |edit: fn(&mut StorageConfig, f64)| runner.configure(&current, edit);
    let params = html! {
        <>
            <NumberField label="Files" value={f64::from(current.files)} min={1.0}
                max={1_000_000.0} on_change={configure(|c, v| c.files = v as u32)} />
            <NumberField label="File size (KiB)" value={f64::from(current.file_kb)} min={1.0}
                max={1_048_576.0} on_change={configure(|c, v| c.file_kb = v as u32)} />
            <NumberField label="Block size (KiB)" value={f64::from(current.block_kb)} min={1.0}
                max={1024.0} on_change={configure(|c, v| c.block_kb = v as u32)} />
            <NumberField label="Range size (KiB)" value={f64::from(current.io_kb)} min={1.0}
                max={1_048_576.0} on_change={configure(|c, v| c.io_kb = v as u32)} />
            <NumberField label="Operations/s" value={current.ops_per_s} min={0.0}
                max={10_000.0} step={0.1} on_change={configure(|c, v| c.ops_per_s = v)} />
        </>
    };
    let disabled = run.engine.is_err();
    let buttons = Op::ALL.into_iter().map(|op| {
        let onclick = runner.callback(move |_: MouseEvent| Command::Act(Action::Run { op }));
        html! {
            <button type="button" class="sdbe-run-op" data-op={op.label()} onclick={onclick}
                disabled={disabled}>{ op.label() }</button>
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
            title: "One workload on block, file and object storage",
            params,
            actions,
            scene,
        },
    )
}

/// Draws the table: one row per operation, one column per model, and the monthly cost.
fn draw(engine: &Storage) -> Html {
    let config = engine.config();
    let last = engine.last_op();
    let header = Model::ALL.into_iter().zip(COLUMNS).map(|(model, x)| {
        html! {
            <text x={format!("{x:.0}")} y="18" font-size="14" font-weight="600">
                { model.label() }
            </text>
        }
    });
    let rows = Op::ALL.into_iter().enumerate().map(|(index, op)| {
        let y = 30.0 + ROW_H * index as f64;
        let highlight = (last == Some(op)).then(|| {
            html! {
                <rect class="sdbe-idle" x="2" y={format!("{y:.0}")} width="416"
                    height={format!("{:.0}", ROW_H - 2.0)} />
            }
        });
        let cells = Model::ALL.into_iter().zip(COLUMNS).map(|(model, x)| {
            let text = cell(cost(model, op, config));
            html! {
                <text x={format!("{x:.0}")} y={format!("{:.0}", y + 16.0)} font-size="13">
                    { text }
                </text>
            }
        });
        html! {
            <g>
                { for highlight }
                <text x="6" y={format!("{:.0}", y + 16.0)} font-size="13" font-weight="600">
                    { op.label() }
                </text>
                { for cells }
            </g>
        }
    });
    let cost_y = 30.0 + ROW_H * Op::ALL.len() as f64 + 20.0;
    let costs = Model::ALL.into_iter().zip(COLUMNS).map(|(model, x)| {
        html! {
            <text x={format!("{x:.0}")} y={format!("{cost_y:.0}")} font-size="13"
                font-weight="600">{ format!("${:.2}", engine.monthly_cost(model)) }</text>
        }
    });
    let height = cost_y + 64.0;
    let summary = format!(
        "{} operations; monthly cost block ${:.2}, file ${:.2}, object ${:.2}",
        engine.operations(),
        engine.monthly_cost(Model::Block),
        engine.monthly_cost(Model::File),
        engine.monthly_cost(Model::Object)
    );

    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {height:.0}")} role="img"
            aria-label={summary}>
            <text x="6" y="18" font-size="14" font-weight="600">{ "operation" }</text>
            { for header }
            { for rows }
            <line class="sdbe-line" x1="2" x2="418" y1={format!("{:.0}", cost_y - 16.0)}
                y2={format!("{:.0}", cost_y - 16.0)} />
            <text x="6" y={format!("{cost_y:.0}")} font-size="13" font-weight="600">
                { "$ per month" }
            </text>
            { for costs }
            <text x="6" y={format!("{:.0}", cost_y + 20.0)} font-size="13">
                { "n× = requests, then bytes moved" }
            </text>
            <text x="6" y={format!("{:.0}", cost_y + 38.0)} font-size="13">
                { "– = not supported" }
            </text>
            <text x="6" y={format!("{:.0}", cost_y + 56.0)} font-size="13">
                { format!("{:.2} GiB stored; AWS us-east-1 prices", engine.dataset_gb()) }
            </text>
        </svg>
    }
}
