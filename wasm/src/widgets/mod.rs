//! The widget registry: directive names to components.
//!
//! Each widget sits behind a cargo feature named after its directive, so
//! `cargo xtask widgets` can build one small bundle per widget and a page
//! loads only the bundles its widgets need. The default feature `all` builds
//! every widget, for `cargo clippy` and the benchmark.

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

/// Declares each widget's module, behind its feature, with the functions
/// that dispatch on a directive name to the widgets of this build.
macro_rules! widgets {
    ($($name:literal => $module:ident :: $component:ident, $engine:ty;)*) => {
        $(
            #[cfg(feature = $name)]
            mod $module;
        )*

        /// Returns whether this build contains the widget called `name`.
        pub(crate) fn contains(name: &str) -> bool {
            $(
                #[cfg(feature = $name)]
                if name == $name {
                    return true;
                }
            )*
            let _ = name;
            false
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
            $(
                #[cfg(feature = $name)]
                if name == $name {
                    let placement = Placement { widget: $name, index };
                    return crate::render::<$module::$component, _>(root, config, seed, placement);
                }
            )*
            let _ = (index, root, config, seed);
            Err(format!("this bundle has no widget called `{name}`"))
        }

        /// Replays an encoded scenario of the widget called `name` into its
        /// event trace as JSON lines.
        pub(crate) fn replay(name: &str, payload: &str) -> Result<Vec<String>, String> {
            $(
                #[cfg(feature = $name)]
                if name == $name {
                    return sim::scenario::replay_json_lines::<$engine>(payload);
                }
            )*
            let _ = payload;
            Err(format!("this bundle has no widget called `{name}`"))
        }
    };
}

widgets! {
    "client-server" => client_server::ClientServerWidget, sim::client_server::ClientServer;
    "token-bucket" => token_bucket::TokenBucketWidget, sim::token_bucket::TokenBucket;
    "consistent-hash" => consistent_hash::ConsistentHashWidget, sim::consistent_hash::ConsistentHash;
    "cache" => cache::CacheWidget, sim::cache::Cache;
    "dns" => dns::DnsWidget, sim::dns::Dns;
    "availability" => availability::AvailabilityWidget, sim::availability::Availability;
    "circuit-breaker" => circuit_breaker::CircuitBreakerWidget, sim::circuit_breaker::CircuitBreaker;
    "idempotency" => idempotency::IdempotencyWidget, sim::idempotency::Idempotency;
    "load-balancer" => load_balancer::LoadBalancerWidget, sim::load_balancer::LoadBalancer;
    "queue" => queue::QueueWidget, sim::queue::Queue;
    "proxy" => proxy::ProxyWidget, sim::proxy::Proxy;
    "indexing" => indexing::IndexingWidget, sim::indexing::Indexing;
    "data-model" => data_model::DataModelWidget, sim::data_model::DataModel;
    "http-api" => http_api::HttpApiWidget, sim::http_api::HttpApi;
    "message-queue" => message_queue::MessageQueueWidget, sim::message_queue::MessageQueue;
    "pagination" => pagination::PaginationWidget, sim::pagination::Pagination;
    "scaling" => scaling::ScalingWidget, sim::scaling::Scaling;
    "cdn" => cdn::CdnWidget, sim::cdn::Cdn;
    "storage" => storage::StorageWidget, sim::storage::Storage;
    "sessions" => sessions::SessionsWidget, sim::sessions::Sessions;
    "health-check" => health_check::HealthCheckWidget, sim::health_check::HealthCheck;
    "discovery" => discovery::DiscoveryWidget, sim::discovery::Discovery;
    "raft" => raft::RaftWidget, sim::raft::Raft;
    "gossip" => gossip::GossipWidget, sim::gossip::Gossip;
}
