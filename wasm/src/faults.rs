//! Fault controls for every engine whose topic has faults: crash and
//! restart a node, partition and heal, drop or delay messages, fail a
//! dependency. A widget shows exactly the kinds its engine supports.

use sim::faults::{Fault, FaultKind, Faults};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::fields::NumberField;
use crate::runner::{Command, RunnerHandle};

/// Builds the fault controls for a widget's engine.
pub fn fault_controls<E: Faults + 'static>(
    runner: &RunnerHandle<E>,
    selected: &UseStateHandle<Option<u32>>,
) -> Html {
    let run = runner.get();
    let Ok(engine) = &run.engine else {
        return html! {};
    };
    let nodes = engine.node_statuses();
    let target = (**selected)
        .filter(|id| nodes.iter().any(|node| node.id == *id))
        .or_else(|| nodes.first().map(|node| node.id));
    let target_up = nodes
        .iter()
        .find(|node| Some(node.id) == target)
        .is_some_and(|node| node.up);
    let send = |make: fn(u32) -> Fault| {
        runner.callback(move |_: MouseEvent| match target {
            Some(node) => Command::Act(E::fault_action(make(node))),
            None => Command::Step,
        })
    };
    let on_select = {
        let selected = selected.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            selected.set(select.value().parse().ok());
        })
    };
    let crash = E::KINDS.contains(&FaultKind::CrashRestart).then(|| {
        html! {
            <>
                <label>
                    { "Node " }
                    <select onchange={on_select} aria-label="Node to crash or restart">
                        { for nodes.iter().map(|node| html! {
                            <option value={node.id.to_string()} selected={Some(node.id) == target}>
                                { format!("{}{}", node.label, if node.up { "" } else { " (down)" }) }
                            </option>
                        }) }
                    </select>
                </label>
                <button type="button" class="sdbe-crash" onclick={send(|node| Fault::Crash { node })}
                    disabled={!target_up}>{ "Crash" }</button>
                <button type="button" class="sdbe-restart" onclick={send(|node| Fault::Restart { node })}
                    disabled={target.is_none() || target_up}>{ "Restart" }</button>
            </>
        }
    });
    let partition = E::KINDS.contains(&FaultKind::Partition).then(|| {
        let ids: Vec<u32> = nodes.iter().map(|node| node.id).collect();
        let half = ids.len().div_ceil(2);
        let groups = vec![ids[..half].to_vec(), ids[half..].to_vec()];
        let split = runner.callback(move |_: MouseEvent| {
            Command::Act(E::fault_action(Fault::Partition { groups: groups.clone() }))
        });
        let heal = runner.callback(|_: MouseEvent| Command::Act(E::fault_action(Fault::Heal)));
        html! {
            <>
                <button type="button" class="sdbe-partition" onclick={split}>{ "Partition in half" }</button>
                <button type="button" class="sdbe-heal" onclick={heal}>{ "Heal" }</button>
            </>
        }
    });
    let drop_messages = E::KINDS.contains(&FaultKind::DropMessages).then(|| {
        let on_change = runner.callback(|percent: f64| {
            Command::Act(E::fault_action(Fault::DropMessages { probability: percent / 100.0 }))
        });
        html! { <NumberField label="Drop messages (%)" value={0.0} min={0.0} max={100.0} on_change={on_change} /> }
    });
    let delay_messages = E::KINDS.contains(&FaultKind::DelayMessages).then(|| {
        let on_change = runner.callback(|ms: f64| Command::Act(E::fault_action(Fault::DelayMessages { ms })));
        html! { <NumberField label="Delay messages (ms)" value={0.0} min={0.0} max={sim::faults::MAX_DELAY_MS} on_change={on_change} /> }
    });
    let dependency = E::KINDS.contains(&FaultKind::Dependency).then(|| {
        let fail = runner.callback(|_: MouseEvent| Command::Act(E::fault_action(Fault::FailDependency { failing: true })));
        let recover = runner.callback(|_: MouseEvent| Command::Act(E::fault_action(Fault::FailDependency { failing: false })));
        html! {
            <>
                <button type="button" class="sdbe-fail-dependency" onclick={fail}>{ "Fail dependency" }</button>
                <button type="button" class="sdbe-recover-dependency" onclick={recover}>{ "Recover dependency" }</button>
            </>
        }
    });
    html! {
        <div class="sdbe-faults" role="group" aria-label="Fault injection">
            <span class="sdbe-faults-title">{ "Faults:" }</span>
            { for crash }
            { for partition }
            { for drop_messages }
            { for delay_messages }
            { for dependency }
        </div>
    }
}
