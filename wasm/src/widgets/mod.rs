//! The widget registry: directive names to components.

mod availability;
mod cache;
mod cdn;
mod circuit_breaker;
mod client_server;
mod consistent_hash;
mod data_model;
mod discovery;
mod dns;
mod http_api;
mod idempotency;
mod indexing;
mod load_balancer;
mod message_queue;
mod pagination;
mod proxy;
mod queue;
mod scaling;
mod storage;
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
        "cache" => crate::render::<cache::CacheWidget, _>(root, config, seed, placement),
        "dns" => crate::render::<dns::DnsWidget, _>(root, config, seed, placement),
        "availability" => {
            crate::render::<availability::AvailabilityWidget, _>(root, config, seed, placement)
        }
        "circuit-breaker" => {
            crate::render::<circuit_breaker::CircuitBreakerWidget, _>(root, config, seed, placement)
        }
        "idempotency" => {
            crate::render::<idempotency::IdempotencyWidget, _>(root, config, seed, placement)
        }
        "load-balancer" => {
            crate::render::<load_balancer::LoadBalancerWidget, _>(root, config, seed, placement)
        }
        "queue" => crate::render::<queue::QueueWidget, _>(root, config, seed, placement),
        "proxy" => crate::render::<proxy::ProxyWidget, _>(root, config, seed, placement),
        "indexing" => crate::render::<indexing::IndexingWidget, _>(root, config, seed, placement),
        "data-model" => {
            crate::render::<data_model::DataModelWidget, _>(root, config, seed, placement)
        }
        "http-api" => crate::render::<http_api::HttpApiWidget, _>(root, config, seed, placement),
        "message-queue" => {
            crate::render::<message_queue::MessageQueueWidget, _>(root, config, seed, placement)
        }
        "pagination" => {
            crate::render::<pagination::PaginationWidget, _>(root, config, seed, placement)
        }
        "scaling" => crate::render::<scaling::ScalingWidget, _>(root, config, seed, placement),
        "cdn" => crate::render::<cdn::CdnWidget, _>(root, config, seed, placement),
        "storage" => crate::render::<storage::StorageWidget, _>(root, config, seed, placement),
        "discovery" => {
            crate::render::<discovery::DiscoveryWidget, _>(root, config, seed, placement)
        }
        other => Err(format!("no widget is called `{other}`")),
    }
}
