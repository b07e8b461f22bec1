//! Sessions widget: servers behind a balancer with users' sessions in one server's memory
//! (sticky) or in a shared store, one lane per mode in compare mode, with crashes and restarts.

use sim::sessions::{
    Event as SessionsEvent, Lane, Mode, SessionHome, Sessions, SessionsConfig, User,
};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::WidgetProps;
use crate::faults::fault_controls;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Left edge and width of the drawing, in scene units.
const LEFT: f64 = 10.0;
const WIDTH: f64 = 400.0;
/// Users per row of the user grid, and the width of one cell.
const USERS_PER_ROW: usize = 25;
const CELL: f64 = WIDTH / USERS_PER_ROW as f64;
/// Requests on a server that fill its load bar.
const QUEUE_SCALE: f64 = 5.0;

/// Turns an event into a log line. Lines name the lane by its mode, and an outage is one line,
/// not one per rejected request.
fn describe(event: &SessionsEvent) -> Option<String> {
    let seconds = |at_ms: f64| at_ms / 1000.0;
    match event {
        SessionsEvent::ServerCrashed {
            at_ms,
            mode,
            server_id,
            failed_request_ids,
            lost_sessions,
            lost_items,
            ..
        } => Some(format!(
            "{:.2} s: {}: server {server_id} crashed, {} failed, {} and {} lost",
            seconds(*at_ms),
            mode.label(),
            count(failed_request_ids.len() as u64, "request"),
            count(lost_sessions.len() as u64, "session"),
            count(*lost_items, "cart item")
        )),
        // Crashes and restarts hit every lane at once, so only lane 0 logs these two.
        SessionsEvent::AllServersDown { at_ms, lane: 0 } => Some(format!(
            "{:.2} s: no server is up, every request is rejected until one restarts",
            seconds(*at_ms)
        )),
        SessionsEvent::ServerRestarted {
            at_ms,
            lane: 0,
            server_id,
        } => Some(format!(
            "{:.2} s: server {server_id} restarted with no sessions",
            seconds(*at_ms)
        )),
        SessionsEvent::SessionCreated {
            at_ms,
            mode,
            user,
            home,
            again: true,
            ..
        } => Some(format!(
            "{:.2} s: {}: user {user} lost the session and logs in again on {}",
            seconds(*at_ms),
            mode.label(),
            match home {
                SessionHome::Server(id) => format!("server {id}"),
                SessionHome::Store => "the store".to_string(),
            }
        )),
        _ => None,
    }
}

/// Formats a count with its noun, plural unless the count is 1.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Renders the sessions widget: one panel per mode, the parameter fields and the fault
/// controls.
#[component]
pub fn SessionsWidget(props: &WidgetProps<SessionsConfig>) -> Html {
    let runner: RunnerHandle<Sessions> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let fault_target = use_state(|| None::<u32>);
    let run = runner.get();

    let current = run.config.clone();
    let configure = |edit: fn(&mut SessionsConfig, f64)| runner.configure(&current, edit);
    let on_mode = {
        let config = current.clone();
        runner.callback(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            let mut config = config.clone();
            config.mode = match select.value().as_str() {
                "shared" => Mode::Shared,
                _ => Mode::Sticky,
            };
            Command::Configure(config)
        })
    };
    let on_compare = {
        let config = current.clone();
        runner.callback(move |event: Event| {
            let input: HtmlInputElement = event.target_unchecked_into();
            let mut config = config.clone();
            config.compare = input.checked();
            Command::Configure(config)
        })
    };
    let mode_field = (!current.compare).then(|| {
        let option = |mode: Mode, value: &'static str| {
            html! {
                <option value={value} selected={current.mode == mode}>{ mode.label() }</option>
            }
        };
        html! {
            <label class="sdbe-field">
                <span>{ "Sessions in" }</span>
                <select class="sdbe-mode" onchange={on_mode} aria-label="Where sessions live">
                    { option(Mode::Sticky, "sticky") }
                    { option(Mode::Shared, "shared") }
                </select>
            </label>
        }
    });
    let params = html! {
        <>
            <label class="sdbe-field">
                <span>{ "Compare both" }</span>
                <input type="checkbox" class="sdbe-compare-switch" checked={current.compare}
                    onchange={on_compare} />
            </label>
            { for mode_field }
            <NumberField label="Servers" value={f64::from(current.servers)} min={1.0}
                max={10.0} on_change={configure(|c, v| c.servers = v as u32)} />
            <NumberField label="Users" value={f64::from(current.users)} min={1.0}
                max={200.0} on_change={configure(|c, v| c.users = v as u32)} />
            <NumberField label="Requests/user/s" value={current.requests_per_user_per_s}
                min={0.01} max={10.0} step={0.01}
                on_change={configure(|c, v| c.requests_per_user_per_s = v)} />
            <NumberField label="Activity skew" value={current.activity_skew} min={0.0}
                max={3.0} step={0.1} on_change={configure(|c, v| c.activity_skew = v)} />
            <NumberField label="Store round trip (ms)" value={current.store_ms} min={0.0}
                max={1000.0} on_change={configure(|c, v| c.store_ms = v)} />
        </>
    };
    let actions = fault_controls(&runner, &fault_target);
    let scene = match &run.engine {
        Ok(engine) => draw(engine),
        Err(_) => html! {},
    };
    drop(run);

    shell(
        &runner,
        Parts {
            title: "Sessions behind a load balancer",
            params,
            actions,
            scene,
        },
    )
}

/// Height of a lane's panel: title, servers, labels, the store in shared mode, and the users.
fn lane_height(lane: &Lane) -> f64 {
    let rows = lane.users().len().div_ceil(USERS_PER_ROW) as f64;
    let store = if lane.mode() == Mode::Shared {
        34.0
    } else {
        0.0
    };
    24.0 + 48.0 + 24.0 + store + 20.0 + rows * CELL + 10.0
}

/// Draws one panel per lane, stacked, and a legend under them.
fn draw(engine: &Sessions) -> Html {
    let mut top = 0.0;
    let mut panels = Vec::new();
    for lane in engine.lanes() {
        panels.push(draw_lane(lane, top));
        top += lane_height(lane);
    }
    let legend_y = top + 14.0;

    let label = engine
        .lanes()
        .iter()
        .map(|lane| {
            let held: Vec<String> = lane
                .servers()
                .iter()
                .map(|s| {
                    if s.up {
                        s.sessions.len().to_string()
                    } else {
                        "down".to_string()
                    }
                })
                .collect();
            format!(
                "{}: sessions per server {}; {} lost, {} users logged out",
                lane.mode().label(),
                held.join(", "),
                lane.sessions_lost(),
                lane.users_logged_out()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");

    // Two rows, so the legend still fits when narrow screens enlarge the text.
    let items = [
        ("sdbe-busy", "logged in", 0.0, 0.0),
        ("sdbe-idle", "no session yet", 210.0, 0.0),
        ("sdbe-rejected", "session lost", 0.0, 22.0),
        ("sdbe-waiting", "logged in again", 210.0, 22.0),
    ];
    let legend = items.iter().map(|&(class, text, x, dy)| {
        html! {
            <>
                <circle class={class} cx={format!("{:.1}", LEFT + x + 6.0)}
                    cy={format!("{:.1}", legend_y + dy - 5.0)} r="5.5" />
                <text x={format!("{:.1}", LEFT + x + 17.0)} y={format!("{:.1}", legend_y + dy)}
                    font-size="13">{ text }</text>
            </>
        }
    });
    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {:.0}", legend_y + 30.0)} role="img"
            aria-label={label}>
            { for panels }
            { for legend }
        </svg>
    }
}

/// Draws one lane: its title, the servers with the sessions in their memory, the store in
/// shared mode, and a dot per user coloured by the state of the user's session.
fn draw_lane(lane: &Lane, top: f64) -> Html {
    let p50 = lane
        .latency_percentiles()
        .map_or("–".to_string(), |p| format!("{:.0} ms", p.p50_ms));
    let title = format!(
        "{}: {} lost, p50 {p50}",
        lane.mode().label(),
        lane.sessions_lost()
    );
    let servers = lane.servers();
    let count = servers.len().max(1);
    let column = WIDTH / count as f64;
    let box_w = (column * 0.8).min(90.0);
    let box_top = top + 26.0;
    let box_h = 44.0;
    let shared = lane.mode() == Mode::Shared;
    let wide = count <= 5;

    let columns = servers.iter().enumerate().map(|(i, server)| {
        let x = LEFT + column * i as f64 + (column - box_w) / 2.0;
        let center = x + box_w / 2.0;
        let held = if shared {
            "–".to_string()
        } else if wide {
            format!("{} sess.", server.sessions.len())
        } else {
            server.sessions.len().to_string()
        };
        let load = (server.queue.len() as f64 / QUEUE_SCALE).min(1.0);
        let body = if server.up {
            html! {
                <>
                    <text x={format!("{center:.1}")} y={format!("{:.1}", box_top + 22.0)}
                        font-size="13" text-anchor="middle">{ held }</text>
                    <rect class="sdbe-busy" x={format!("{:.1}", x + 3.0)}
                        y={format!("{:.1}", box_top + box_h - 11.0)}
                        width={format!("{:.1}", (box_w - 6.0) * load)} height="8" />
                </>
            }
        } else {
            cross(x, box_top, box_w, box_h)
        };
        let name = if wide {
            format!("S{}: {}", server.id, server.served)
        } else {
            format!("S{}", server.id)
        };
        let link = shared.then(|| {
            html! {
                <line class="sdbe-line" x1={format!("{center:.1}")}
                    y1={format!("{:.1}", box_top + box_h + 20.0)} x2={format!("{center:.1}")}
                    y2={format!("{:.1}", box_top + box_h + 30.0)} />
            }
        });
        html! {
            <g>
                <rect class="sdbe-box" x={format!("{x:.1}")} y={format!("{box_top:.1}")}
                    width={format!("{box_w:.1}")} height={format!("{box_h:.1}")} />
                { body }
                <text x={format!("{center:.1}")} y={format!("{:.1}", box_top + box_h + 16.0)}
                    font-size="13" text-anchor="middle">{ name }</text>
                { for link }
            </g>
        }
    });

    let mut users_top = box_top + box_h + 24.0;
    let store = shared.then(|| {
        let y = users_top + 6.0;
        users_top += 34.0;
        let sessions = lane.active_sessions();
        html! {
            <>
                <rect class="sdbe-box" x={format!("{LEFT:.1}")} y={format!("{y:.1}")}
                    width={format!("{WIDTH:.1}")} height="24" />
                <text x={format!("{:.1}", LEFT + WIDTH / 2.0)} y={format!("{:.1}", y + 17.0)}
                    font-size="13" text-anchor="middle">
                    { format!("shared store: {sessions} sessions") }
                </text>
            </>
        }
    });
    let users_label_y = users_top + 14.0;
    let dots = lane.users().iter().enumerate().map(|(i, user)| {
        let row = (i / USERS_PER_ROW) as f64;
        let col = (i % USERS_PER_ROW) as f64;
        let cx = LEFT + col * CELL + CELL / 2.0;
        let cy = users_label_y + 6.0 + row * CELL + CELL / 2.0;
        html! {
            <circle class={user_class(user)} cx={format!("{cx:.1}")} cy={format!("{cy:.1}")}
                r="5.5" />
        }
    });
    html! {
        <g>
            <text x={format!("{LEFT:.1}")} y={format!("{:.1}", top + 17.0)} font-size="14">
                { title }
            </text>
            { for columns }
            { store }
            <text x={format!("{LEFT:.1}")} y={format!("{users_label_y:.1}")} font-size="13">
                { format!("users ({} must log in again)", lane.users_logged_out()) }
            </text>
            { for dots }
        </g>
    }
}

/// Returns the theme class for a user's dot.
fn user_class(user: &User) -> &'static str {
    match (user.session, user.lost, user.logins_again) {
        (_, true, _) => "sdbe-rejected",
        (Some(_), false, 0) => "sdbe-busy",
        (Some(_), false, _) => "sdbe-waiting",
        (None, false, _) => "sdbe-idle",
    }
}

/// Draws a grey X over a down server as two filled bands.
fn cross(x: f64, y: f64, width: f64, height: f64) -> Html {
    let band = (width * 0.1).clamp(2.0, 5.0);
    let (right, bottom) = (x + width, y + height);
    let falling = format!(
        "{x:.1},{y:.1} {:.1},{y:.1} {right:.1},{bottom:.1} {:.1},{bottom:.1}",
        x + band,
        right - band
    );
    let rising = format!(
        "{:.1},{y:.1} {right:.1},{y:.1} {:.1},{bottom:.1} {x:.1},{bottom:.1}",
        right - band,
        x + band
    );
    html! {
        <>
            <polygon class="sdbe-muted" points={falling} />
            <polygon class="sdbe-muted" points={rising} />
        </>
    }
}
