//! Cache widget: the hottest keys' remaining TTL coloured fresh or stale, and
//! optionally the three write strategies side by side on the same traffic.

use sim::cache::{
    Action, Cache, CacheConfig, Event as CacheEvent, KeyState, Strategy, WriteEffect,
};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use super::WidgetProps;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Keys drawn as bars, hottest first.
const BARS: u32 = 20;

fn describe(event: &CacheEvent) -> Option<String> {
    match event {
        CacheEvent::Write {
            at_ms,
            key,
            version,
            effect,
        } => {
            let change = match effect {
                WriteEffect::NotCached => "not cached",
                WriteEffect::LeftStale => "cached copy left stale",
                WriteEffect::Invalidated => "cached copy deleted",
                WriteEffect::Updated => "cache updated",
            };
            Some(format!(
                "{:.2} s: write key {key} (v{version}), {change}",
                at_ms / 1000.0
            ))
        }
        CacheEvent::Flushed { at_ms, entries } => Some(format!(
            "{:.2} s: cache flushed, {entries} entries dropped",
            at_ms / 1000.0
        )),
        // Hits, misses and evictions come dozens per second; the counters show them.
        CacheEvent::Hit { .. } | CacheEvent::Miss { .. } | CacheEvent::Evicted { .. } => None,
    }
}

fn label(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::TtlOnly => "TTL only",
        Strategy::InvalidateOnWrite => "invalidate on write",
        Strategy::UpdateOnWrite => "update on write",
    }
}

/// Draws the cache widget: parameters, write and flush buttons, and the key bars.
#[component]
pub fn CacheWidget(props: &WidgetProps<CacheConfig>) -> Html {
    let runner: RunnerHandle<Cache> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let run = runner.get();

    let configure = |edit: fn(&mut CacheConfig, f64)| runner.configure(&run.config, edit);
    let on_strategy = {
        let config = run.config.clone();
        runner.callback(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            let strategy = Strategy::ALL
                .into_iter()
                .find(|strategy| strategy.name() == select.value())
                .unwrap_or_default();
            Command::Configure(CacheConfig {
                strategy,
                ..config.clone()
            })
        })
    };
    let on_write = runner.callback(|_: MouseEvent| Command::Act(Action::Write { key: 0 }));
    let on_flush = runner.callback(|_: MouseEvent| Command::Act(Action::Flush));
    let c = &run.config;
    let params = html! {
        <>
            <NumberField label="TTL (s)" value={c.ttl_s} min={0.0} max={600.0} step={0.5}
                on_change={configure(|c, v| c.ttl_s = v)} />
            <NumberField label="Writes/s" value={c.writes_per_s} min={0.0} max={100.0}
                step={0.5} on_change={configure(|c, v| c.writes_per_s = v)} />
            <NumberField label="Reads/s" value={c.reads_per_s} min={0.0} max={1000.0}
                step={10.0} on_change={configure(|c, v| c.reads_per_s = v)} />
            <NumberField label="Keys" value={f64::from(c.keys)} min={1.0} max={1000.0}
                on_change={configure(|c, v| c.keys = v as u32)} />
            <NumberField label="Zipf skew" value={c.zipf_s} min={0.0} max={3.0} step={0.1}
                on_change={configure(|c, v| c.zipf_s = v)} />
            <NumberField label="Capacity (entries)" value={f64::from(c.capacity)} min={1.0}
                max={1000.0} on_change={configure(|c, v| c.capacity = v as u32)} />
            <label class="sdbe-field">
                <span>{ "On write" }</span>
                <select onchange={on_strategy} aria-label="What a write does to the cache">
                    { for Strategy::ALL.iter().map(|strategy| html! {
                        <option value={strategy.name()} selected={*strategy == c.strategy}>
                            { label(*strategy) }
                        </option>
                    }) }
                </select>
            </label>
        </>
    };
    let actions = html! {
        <>
            <button type="button" class="sdbe-primary sdbe-write-hot" onclick={on_write}
                disabled={run.engine.is_err()}>{ "Write key 0" }</button>
            <button type="button" class="sdbe-flush" onclick={on_flush}
                disabled={run.engine.is_err()}>{ "Flush cache" }</button>
        </>
    };
    let title = if c.compare {
        "Cache invalidation: three strategies, same traffic"
    } else {
        "Cache with TTL"
    };
    let scene = match &run.engine {
        Ok(cache) => draw(cache),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title,
            params,
            actions,
            scene,
        },
    )
}

/// Draws the hottest keys as bars of remaining TTL, then the strategy comparison.
fn draw(cache: &Cache) -> Html {
    const LEFT: f64 = 10.0;
    const TOP: f64 = 46.0;
    const HEIGHT: f64 = 90.0;
    const SLOT: f64 = 20.0;

    let stats = cache.stats();
    let bars_shown = BARS.min(cache.config().keys);
    let bars = (0..bars_shown).filter_map(|key| {
        let view = cache.key_view(key)?;
        let x = LEFT + SLOT * f64::from(key);
        let filled = HEIGHT * view.ttl_left;
        let class = match view.state {
            KeyState::Fresh => "sdbe-busy",
            KeyState::Stale => "sdbe-rejected",
            KeyState::Absent => "sdbe-idle",
        };
        Some(html! {
            <g>
                <rect class="sdbe-box" x={format!("{x:.1}")} y={TOP.to_string()}
                    width={(SLOT - 4.0).to_string()} height={HEIGHT.to_string()} />
                <rect class={class} x={format!("{x:.1}")} y={format!("{:.1}", TOP + HEIGHT - filled)}
                    width={(SLOT - 4.0).to_string()} height={format!("{filled:.1}")} />
            </g>
        })
    });
    let ticks = [0u32, 5, 10, 15, 19]
        .into_iter()
        .filter(|key| *key < bars_shown)
        .map(|key| {
            let x = LEFT + SLOT * f64::from(key) + (SLOT - 4.0) / 2.0;
            html! {
                <text x={format!("{x:.1}")} y={(TOP + HEIGHT + 18.0).to_string()}
                    text-anchor="middle" font-size="13">{ key.to_string() }</text>
            }
        });
    let summary = format!(
        "hit ratio {:.1}%, stale reads {:.1}%",
        stats.hit_ratio() * 100.0,
        stats.stale_ratio() * 100.0
    );
    let legend_y = TOP + HEIGHT + 42.0;
    let comparison = cache
        .config()
        .compare
        .then(|| compare(cache, legend_y + 36.0));
    let height = if cache.config().compare {
        legend_y + 36.0 + 3.0 * 50.0
    } else {
        legend_y + 10.0
    };

    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {height:.0}")} role="img"
            aria-label={format!("{}: {summary}", label(cache.config().strategy))}>
            <text x={LEFT.to_string()} y="16" font-size="14">
                { format!("key 0 (hottest) to {}: TTL left", bars_shown.saturating_sub(1)) }
            </text>
            <text x={LEFT.to_string()} y="36" font-size="14" font-weight="600">{ summary.clone() }</text>
            { for bars }
            { for ticks }
            <rect class="sdbe-busy" x={LEFT.to_string()} y={(legend_y - 10.0).to_string()} width="12" height="12" />
            <text x={(LEFT + 16.0).to_string()} y={legend_y.to_string()} font-size="13">{ "fresh" }</text>
            <rect class="sdbe-rejected" x={(LEFT + 70.0).to_string()} y={(legend_y - 10.0).to_string()} width="12" height="12" />
            <text x={(LEFT + 86.0).to_string()} y={legend_y.to_string()} font-size="13">{ "stale" }</text>
            <rect class="sdbe-box" x={(LEFT + 140.0).to_string()} y={(legend_y - 10.0).to_string()} width="12" height="12" />
            <text x={(LEFT + 156.0).to_string()} y={legend_y.to_string()} font-size="13">{ "absent or expired" }</text>
            { for comparison }
        </svg>
    }
}

/// Draws one row per strategy: stale reads and database reads as bars on a shared scale.
fn compare(cache: &Cache, top: f64) -> Html {
    const BAR_X: f64 = 10.0;
    const BAR_W: f64 = 300.0;

    let rows = cache.comparison();
    let max_db = rows
        .iter()
        .map(|row| row.stats.db_reads)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let max_stale = rows
        .iter()
        .map(|row| row.stats.stale_reads)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let rows = rows.iter().enumerate().map(|(i, row)| {
        let y = top + 50.0 * i as f64;
        let stale_w = BAR_W * row.stats.stale_reads as f64 / max_stale;
        let db_w = BAR_W * row.stats.db_reads as f64 / max_db;
        let weight = if row.strategy == cache.config().strategy {
            "600"
        } else {
            "400"
        };
        html! {
            <g>
                <text x={BAR_X.to_string()} y={format!("{y:.1}")} font-size="13" font-weight={weight}>
                    { format!("{}: {} stale, {} db reads", label(row.strategy),
                        row.stats.stale_reads, row.stats.db_reads) }
                </text>
                <rect class="sdbe-rejected" x={BAR_X.to_string()} y={format!("{:.1}", y + 6.0)}
                    width={format!("{stale_w:.1}")} height="9" />
                <rect class="sdbe-waiting" x={BAR_X.to_string()} y={format!("{:.1}", y + 17.0)}
                    width={format!("{db_w:.1}")} height="9" />
            </g>
        }
    });
    html! {
        <>
            <text x={BAR_X.to_string()} y={format!("{:.1}", top - 4.0)} font-size="13">
                { "same traffic:" }
            </text>
            <rect class="sdbe-rejected" x="130" y={format!("{:.1}", top - 14.0)} width="12" height="12" />
            <text x="146" y={format!("{:.1}", top - 4.0)} font-size="13">{ "stale reads" }</text>
            <rect class="sdbe-waiting" x="255" y={format!("{:.1}", top - 14.0)} width="12" height="12" />
            <text x="271" y={format!("{:.1}", top - 4.0)} font-size="13">{ "db reads" }</text>
            { for rows.map(|row| html! { <g transform="translate(0 16)">{ row }</g> }) }
        </>
    }
}
