//! The widget registry: directive names to components.

mod client_server;
mod consistent_hash;
mod token_bucket;

use web_sys::Element;
use yew::Properties;

use crate::runner::Placement;

/// Properties every widget component takes: its engine configuration and seed.
#[derive(Properties, PartialEq)]
pub struct WidgetProps<T: PartialEq> {
    /// The configuration from the directive, defaults filled in.
    pub config: T,
    /// The starting seed.
    pub seed: u64,
    /// Which widget this is on the page, for share links.
    pub placement: Placement,
}

/// Mounts the widget called `name` into `root`; `index` counts earlier
/// widgets of the same name on the page.
pub(crate) fn mount(
    name: &str,
    index: usize,
    root: Element,
    config: &str,
    seed: u64,
) -> Result<(), String> {
    let Some(kind) = sim::registry::find(name) else {
        return Err(format!("no widget is called `{name}`"));
    };
    let placement = Placement {
        widget: kind.name,
        index,
    };
    match name {
        "client-server" => {
            crate::render::<client_server::ClientServerWidget, _>(root, config, seed, placement)
        }
        "token-bucket" => {
            crate::render::<token_bucket::TokenBucketWidget, _>(root, config, seed, placement)
        }
        "consistent-hash" => {
            crate::render::<consistent_hash::ConsistentHashWidget, _>(root, config, seed, placement)
        }
        other => Err(format!("no widget is called `{other}`")),
    }
}
