//! The widget registry: directive names to components.

mod client_server;
mod consistent_hash;
mod token_bucket;

use web_sys::Element;
use yew::Properties;

/// Properties every widget component takes: its engine configuration and seed.
#[derive(Properties, PartialEq)]
pub struct WidgetProps<T: PartialEq> {
    /// The configuration from the directive, defaults filled in.
    pub config: T,
    /// The starting seed.
    pub seed: u64,
}

/// Mounts the widget called `name` into `root`.
pub(crate) fn mount(name: &str, root: Element, config: &str, seed: u64) -> Result<(), String> {
    match name {
        "client-server" => {
            crate::render::<client_server::ClientServerWidget, _>(root, config, seed)
        }
        "token-bucket" => crate::render::<token_bucket::TokenBucketWidget, _>(root, config, seed),
        "consistent-hash" => {
            crate::render::<consistent_hash::ConsistentHashWidget, _>(root, config, seed)
        }
        other => Err(format!("no widget is called `{other}`")),
    }
}
