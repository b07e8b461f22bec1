//! HTTP API widget: pick a method and a path, send it, and see the response and the store change.

use sim::http_api::{Action, Design, Event as ApiEvent, HttpApi, HttpApiConfig, Method, Store};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::WidgetProps;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Box slots per row; when more orders exist, the last slot shows "+N" for the rest.
const ROW_SLOTS: usize = 7;

/// Lines the scene reserves for headers, method properties and the safe-method warning.
const DETAIL_LINES: usize = 4;

fn describe(event: &ApiEvent) -> Option<String> {
    Some(match event {
        ApiEvent::Handled {
            at_ms,
            sender,
            attempt,
            method,
            path,
            status,
            changed,
            lost,
        } => format!(
            "{:.2} s: {}{} {} {path} -> {status} {}{}{}",
            at_ms / 1000.0,
            match sender {
                sim::http_api::Sender::Reader => "",
                sim::http_api::Sender::Crawler => "crawler ",
            },
            if *attempt > 1 { "retry" } else { "sent" },
            method.name(),
            sim::http_api::reason(*status),
            if *changed { ", store changed" } else { "" },
            if *lost { ", response lost" } else { "" },
        ),
        ApiEvent::GaveUp {
            at_ms,
            method,
            path,
        } => format!(
            "{:.2} s: client gave up on {} {path}",
            at_ms / 1000.0,
            method.name()
        ),
    })
}

/// The HTTP API widget.
#[component]
pub fn HttpApiWidget(props: &WidgetProps<HttpApiConfig>) -> Html {
    let runner: RunnerHandle<HttpApi> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let method = use_state(|| Method::Get);
    let path_index = use_state(|| 1usize);
    let stale = use_state(|| false);
    let run = runner.get();
    let current = run.config.clone();
    let paths = current.design.paths();
    let path = paths
        .get(*path_index)
        .or(paths.first())
        .copied()
        .unwrap_or("/");

    let configure = |edit: fn(&mut HttpApiConfig, f64)| runner.configure(&current, edit);
    let on_design = {
        let config = current.clone();
        runner.callback(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            let mut config = config.clone();
            config.design = match select.value().as_str() {
                "rpc" => Design::Rpc,
                _ => Design::Resource,
            };
            Command::Configure(config)
        })
    };
    let on_method = {
        let method = method.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            let index = select.selected_index().max(0) as usize;
            method.set(Method::ALL.get(index).copied().unwrap_or(Method::Get));
        })
    };
    let on_path = {
        let path_index = path_index.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            path_index.set(select.selected_index().max(0) as usize);
        })
    };
    let on_stale = {
        let stale = stale.clone();
        Callback::from(move |event: Event| {
            let input: HtmlInputElement = event.target_unchecked_into();
            stale.set(input.checked());
        })
    };
    let on_send = {
        let (method, path, stale) = (*method, path.to_string(), *stale);
        runner.callback(move |_: MouseEvent| {
            Command::Act(Action::Send {
                method,
                path: path.clone(),
                stale_if_match: stale,
            })
        })
    };
    let on_again = runner.callback(|_: MouseEvent| Command::Act(Action::SendAgain));

    let params = html! {
        <>
            <label class="sdbe-field">
                <span>{ "Design" }</span>
                <select onchange={on_design} aria-label="API design">
                    <option value="resource" selected={current.design == Design::Resource}>
                        { "resource" }
                    </option>
                    <option value="rpc" selected={current.design == Design::Rpc}>{ "RPC" }</option>
                </select>
            </label>
            <NumberField label="Responses lost (%)" value={current.loss_pct} min={0.0}
                max={100.0} on_change={configure(|c, v| c.loss_pct = v)} />
            <NumberField label="Crawler (GET/s)" value={current.crawler_per_s} min={0.0}
                max={20.0} step={0.1} on_change={configure(|c, v| c.crawler_per_s = v)} />
        </>
    };
    let has_engine = run.engine.is_ok();
    let actions = html! {
        <>
            <select class="sdbe-method" onchange={on_method} aria-label="Method">
                { for Method::ALL.iter().map(|m| html! {
                    <option selected={*m == *method}>{ m.name() }</option>
                }) }
            </select>
            <select class="sdbe-path" onchange={on_path} aria-label="Path">
                { for paths.iter().map(|p| html! { <option selected={*p == path}>{ *p }</option> }) }
            </select>
            <label class="sdbe-field">
                <span>{ "Stale If-Match" }</span>
                <input type="checkbox" checked={*stale} onchange={on_stale} />
            </label>
            <button type="button" class="sdbe-primary sdbe-send" onclick={on_send}
                disabled={!has_engine}>{ "Send" }</button>
            <button type="button" class="sdbe-send-again" onclick={on_again}
                disabled={!has_engine}>{ "Send again" }</button>
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
            title: "HTTP methods on /orders",
            params,
            actions,
            scene,
        },
    )
}

/// Draws the last exchange (request, status, headers, method properties) over the store before
/// and after it.
fn draw(engine: &HttpApi) -> Html {
    let last = engine.history().last();
    let (request, status, details, class) = match last {
        Some(exchange) => {
            let response = &exchange.response;
            let mut details = Vec::new();
            if let Some(location) = &response.location {
                details.push(format!("Location: {location}"));
            }
            if let Some(allow) = response.allow {
                details.extend(allow_lines(allow));
            }
            if let Some(length) = response.content_length {
                details.push(format!("Content-Length: {length}"));
            }
            let yes_no = |flag: bool| if flag { "yes" } else { "no" };
            details.push(format!(
                "safe: {}   idempotent: {}",
                yes_no(exchange.method.is_safe()),
                yes_no(exchange.method.is_idempotent()),
            ));
            if exchange.method.is_safe() && exchange.before != exchange.after {
                details.push("but this safe method changed the store!".to_string());
            }
            let failed = response.status >= 400 || response.error_in_body;
            (
                format!(
                    "{}{} {}{}",
                    if exchange.attempt > 1 { "retry: " } else { "" },
                    exchange.method.name(),
                    exchange.path,
                    if exchange.stale_if_match {
                        " (stale If-Match)"
                    } else {
                        ""
                    }
                ),
                format!(
                    "{} {}{}{}",
                    response.status,
                    response.reason,
                    if response.error_in_body {
                        ", error in body"
                    } else {
                        ""
                    },
                    if exchange.lost { ", lost" } else { "" }
                ),
                details,
                if failed {
                    "sdbe-rejected"
                } else {
                    "sdbe-accepted"
                },
            )
        }
        None => (
            "Pick a method and a path, then Send".to_string(),
            String::new(),
            Vec::new(),
            "sdbe-idle",
        ),
    };
    // Before the first request there is nothing to compare, so the row compares with itself.
    let before = last.map_or(engine.orders(), |exchange| &exchange.before);
    let after = engine.orders();

    html! {
        <svg class="sdbe-scene" viewBox="0 0 420 256" role="img"
            aria-label={format!("{request}: {status}")}>
            <text x="8" y="20" font-size="15">{ request }</text>
            if last.is_some() {
                <circle class={class} cx="14" cy="41" r="5" />
            }
            <text x="26" y="46" font-size="15">{ status }</text>
            { for details.iter().take(DETAIL_LINES).enumerate().map(|(i, line)| html! {
                <text x="8" y={format!("{}", 68.0 + 18.0 * i as f64)} font-size="13">{ line }</text>
            }) }
            { draw_row("before", before, if last.is_some() { after } else { before }, 144.0, false) }
            { if last.is_some() { draw_row("after", after, before, 206.0, true) } else { html! {} } }
        </svg>
    }
}

/// Splits an `Allow` header that would not fit a 360 px screen into two lines, after the
/// fourth method, so the longest list (six methods) stays inside the scene.
fn allow_lines(allow: &str) -> Vec<String> {
    let methods: Vec<&str> = allow.split(", ").collect();
    if methods.len() <= 4 {
        return vec![format!("Allow: {allow}")];
    }
    let (first, rest) = methods.split_at(4);
    vec![
        format!("Allow: {},", first.join(", ")),
        rest.join(", "),
    ]
}

/// Draws one row of orders as boxes labelled `id: qty`, with "+N" in the last slot when more
/// orders than [`ROW_SLOTS`] exist.
///
/// The row is compared with `other`, so new or changed orders stand out in the after row and
/// removed ones in the before row.
fn draw_row(label: &str, orders: &Store, other: &Store, top: f64, is_after: bool) -> Html {
    let box_count = if orders.len() > ROW_SLOTS {
        ROW_SLOTS - 1
    } else {
        ROW_SLOTS
    };
    let slot_x = |i: usize| 8.0 + 58.0 * i as f64;
    let boxes = orders
        .iter()
        .take(box_count)
        .enumerate()
        .map(|(i, (id, order))| {
            let x = slot_x(i);
            let differs = other.get(id) != Some(order);
            let class = match (differs, is_after) {
                (false, _) => "sdbe-box",
                (true, true) => "sdbe-busy",
                (true, false) => "sdbe-rejected",
            };
            html! {
                <>
                    <rect class={class} x={format!("{x}")} y={format!("{}", top + 10.0)} width="52"
                        height="30" rx="4" />
                    <text x={format!("{}", x + 26.0)} y={format!("{}", top + 30.0)} font-size="13"
                        text-anchor="middle">{ format!("{id}: {}", order.qty) }</text>
                </>
            }
        });
    let more = orders.len().saturating_sub(box_count);
    html! {
        <>
            <text x="8" y={format!("{top}")} font-size="13">
                { format!("{label} (id: qty)") }
            </text>
            { for boxes }
            if more > 0 {
                <text x={format!("{}", slot_x(box_count) + 26.0)} y={format!("{}", top + 30.0)}
                    font-size="13" text-anchor="middle">
                    { format!("+{more}") }
                </text>
            }
        </>
    }
}
