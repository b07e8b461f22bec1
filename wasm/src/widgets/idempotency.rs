//! Idempotency widget: payments with their attempts and retries, and the server's ledger of
//! charges with duplicates highlighted, with idempotency keys on or off.

use sim::idempotency::{
    Action, AttemptView, Event as PaymentEvent, Idempotency, IdempotencyConfig, Reply,
};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::WidgetProps;
use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle, use_runner};
use crate::shell::{Parts, shell};

/// Height of one payment's row, in scene units.
const ROW_H: f64 = 24.0;
/// Top of the first row.
const TOP: f64 = 40.0;
/// Left end of the attempts, and the width they share.
const ATTEMPTS_X: f64 = 96.0;
const ATTEMPTS_W: f64 = 120.0;
/// Left end of the ledger column and spacing between charges.
const LEDGER_X: f64 = 296.0;
const CHARGE_DX: f64 = 16.0;

fn describe(event: &PaymentEvent) -> Option<String> {
    let seconds = |at_ms: &f64| at_ms / 1000.0;
    Some(match event {
        PaymentEvent::Processed {
            at_ms,
            payment_id,
            attempt,
            reply,
            duplicate,
        } => {
            let what = match (reply, duplicate) {
                (Reply::Charged, true) => "charged AGAIN: duplicate charge",
                (Reply::Charged, false) => "charged",
                (Reply::Replayed, _) => "key seen: returned the stored result, no charge",
                (Reply::Conflict, _) => "key in progress: 409 Conflict, no charge",
            };
            format!(
                "{:.2} s: server, payment {payment_id} attempt {attempt}: {what}",
                seconds(at_ms)
            )
        }
        PaymentEvent::ResponseLost {
            at_ms,
            payment_id,
            attempt,
        } => format!(
            "{:.2} s: response to payment {payment_id} attempt {attempt} lost",
            seconds(at_ms)
        ),
        PaymentEvent::TimedOut {
            at_ms,
            payment_id,
            attempt,
        } => format!(
            "{:.2} s: client timed out on payment {payment_id} attempt {attempt}",
            seconds(at_ms)
        ),
        PaymentEvent::GaveUp { at_ms, payment_id } => format!(
            "{:.2} s: client gave up on payment {payment_id}",
            seconds(at_ms)
        ),
        PaymentEvent::Succeeded {
            at_ms,
            payment_id,
            attempts,
        } => format!(
            "{:.2} s: payment {payment_id} confirmed after {attempts} attempt(s)",
            seconds(at_ms)
        ),
        PaymentEvent::KeysSwitched { at_ms, enabled } => format!(
            "{:.2} s: idempotency keys {} for new payments",
            seconds(at_ms),
            if *enabled { "on" } else { "off" }
        ),
        PaymentEvent::Sent { .. } => return None,
    })
}

/// The idempotency widget.
#[component]
pub fn IdempotencyWidget(props: &WidgetProps<IdempotencyConfig>) -> Html {
    let runner: RunnerHandle<Idempotency> = use_runner(
        props.config.clone(),
        props.seed,
        props.placement.clone(),
        describe,
    );
    let run = runner.get();

    // Start from the engine's configuration, which has the keys switch as the reader set it.
    let current = match &run.engine {
        Ok(engine) => engine.config().clone(),
        Err(_) => run.config.clone(),
    };
    let configure = |edit: fn(&mut IdempotencyConfig, f64)| runner.configure(&current, edit);
    let on_keys = runner.callback(|event: Event| {
        let input: HtmlInputElement = event.target_unchecked_into();
        Command::Act(Action::SetKeys {
            enabled: input.checked(),
        })
    });
    let params = html! {
        <>
            <label class="sdbe-field">
                <span>{ "Idempotency keys" }</span>
                <input type="checkbox" class="sdbe-keys-switch" checked={current.keys}
                    onchange={on_keys} />
            </label>
            <NumberField label="Responses lost (%)" value={current.loss_pct} min={0.0}
                max={100.0} on_change={configure(|c, v| c.loss_pct = v)} />
            <NumberField label="Timeout (ms)" value={current.timeout_ms} min={1.0}
                max={60_000.0} on_change={configure(|c, v| c.timeout_ms = v)} />
            <NumberField label="Max attempts" value={f64::from(current.max_attempts)} min={1.0}
                max={f64::from(sim::idempotency::MAX_ATTEMPTS)}
                on_change={configure(|c, v| c.max_attempts = v as u32)} />
            <NumberField label="Payments/s" value={current.rate_per_s} min={0.1} max={100.0}
                step={0.1} on_change={configure(|c, v| c.rate_per_s = v)} />
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
            title: "Payments retried over a lossy network",
            params,
            actions: html! {},
            scene,
        },
    )
}

/// Draws one row per recent payment: its attempts on the left, its charges on the right.
fn draw(engine: &Idempotency) -> Html {
    let attempt_dx = (ATTEMPTS_W / f64::from(engine.config().max_attempts)).min(20.0);
    let rows = engine.recent_payments().enumerate().map(|(i, payment)| {
        let y = TOP + ROW_H * i as f64;
        let attempts = payment.attempts.iter().enumerate().map(|(n, attempt)| {
            let class = match attempt {
                AttemptView::Pending => "sdbe-idle",
                AttemptView::Answered => "sdbe-accepted",
                AttemptView::TimedOut => "sdbe-rejected",
                AttemptView::Conflict => "sdbe-waiting",
            };
            let x = ATTEMPTS_X + attempt_dx * n as f64;
            html! { <circle class={class} cx={format!("{x:.0}")} cy={format!("{y:.0}")} r="6" /> }
        });
        // At most seven charges are drawn per payment; the Charges made metric counts them all.
        let charges = (0..payment.charges.min(7)).map(|n| {
            let class = if n == 0 { "sdbe-busy" } else { "sdbe-rejected" };
            let x = LEDGER_X + CHARGE_DX * f64::from(n);
            html! {
                <rect class={class} x={format!("{x:.0}")} y={format!("{:.0}", y - 6.0)}
                    width="12" height="12" rx="2" />
            }
        });
        let gave_up = payment.gave_up.then(|| {
            let x = ATTEMPTS_X + attempt_dx * payment.attempts.len() as f64;
            html! { <text x={format!("{x:.0}")} y={format!("{:.0}", y + 5.0)} font-size="13">{ "gave up" }</text> }
        });
        html! {
            <g>
                <text x="8" y={format!("{:.0}", y + 5.0)} font-size="13">{ format!("#{}", payment.id) }</text>
                { for attempts }
                { for gave_up }
                { for charges }
            </g>
        }
    });
    let legend_y = TOP + ROW_H * sim::idempotency::RECENT_PAYMENTS as f64 + 8.0;
    let legend = |y: f64| format!("{y:.0}");
    let keys = if engine.config().keys {
        "keys on"
    } else {
        "keys off"
    };

    html! {
        <svg class="sdbe-scene" viewBox={format!("0 0 420 {:.0}", legend_y + 52.0)} role="img"
            aria-label={format!("{} payments, {} charges, {} duplicates, {keys}",
                engine.payments(), engine.charges(), engine.duplicates())}>
            <text x="8" y="18" font-size="14">{ "payment" }</text>
            <text x={(ATTEMPTS_X - 6.0).to_string()} y="18" font-size="14">{ "attempts" }</text>
            <text x={LEDGER_X.to_string()} y="18" font-size="14">{ "ledger: charges" }</text>
            <line class="sdbe-line" x1="284" y1="26" x2="284" y2={legend(legend_y - 10.0)} />
            { for rows }
            <circle class="sdbe-accepted" cx="14" cy={legend(legend_y + 10.0)} r="6" />
            <text x="25" y={legend(legend_y + 15.0)} font-size="13">{ "answered" }</text>
            <circle class="sdbe-rejected" cx="150" cy={legend(legend_y + 10.0)} r="6" />
            <text x="161" y={legend(legend_y + 15.0)} font-size="13">{ "timed out" }</text>
            <circle class="sdbe-waiting" cx="290" cy={legend(legend_y + 10.0)} r="6" />
            <text x="301" y={legend(legend_y + 15.0)} font-size="13">{ "409 conflict" }</text>
            <rect class="sdbe-busy" x="8" y={legend(legend_y + 28.0)} width="12" height="12" rx="2" />
            <text x="25" y={legend(legend_y + 39.0)} font-size="13">{ "charge" }</text>
            <rect class="sdbe-rejected" x="144" y={legend(legend_y + 28.0)} width="12" height="12"
                rx="2" />
            <text x="161" y={legend(legend_y + 39.0)} font-size="13">{ "duplicate charge" }</text>
        </svg>
    }
}
