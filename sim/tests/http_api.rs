//! Invariants of the HTTP API engine: method safety and idempotency, status codes, RPC pitfalls.

use sim::Engine;
use sim::http_api::{
    Action, Design, Event, HttpApi, HttpApiConfig, MAX_ATTEMPTS, Method, STEP_MS, Store, TIMEOUT_MS,
};

/// Seeds each randomized test loops over.
const SEEDS: u64 = 200;

/// Every path the tests send, valid or not, in both designs.
const PATHS: &[&str] = &[
    "/orders",
    "/orders/1",
    "/orders/2",
    "/orders/9",
    "/orders/abc",
    "/nothing",
    "/getOrder?id=1",
    "/getOrder?id=9",
    "/createOrder",
    "/updateOrder?id=1",
    "/deleteOrder?id=1",
    "/deleteOrder",
];

fn build(config: HttpApiConfig, seed: u64) -> HttpApi {
    match HttpApi::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

fn resource() -> HttpApi {
    build(HttpApiConfig::default(), 1)
}

fn send(engine: &mut HttpApi, method: Method, path: &str) -> Vec<Event> {
    let action = Action::Send {
        method,
        path: path.to_string(),
        stale_if_match: false,
    };
    match engine.apply(&action) {
        Ok(events) => events,
        Err(err) => panic!("{} {path} failed: {err}", method.name()),
    }
}

fn status_of(events: &[Event]) -> u16 {
    match events.first() {
        Some(Event::Handled { status, .. }) => *status,
        other => panic!("expected a handled request, got {other:?}"),
    }
}

fn state_after(method: Method, path: &str, times: usize) -> Store {
    let mut engine = resource();
    for _ in 0..times {
        send(&mut engine, method, path);
    }
    engine.orders().clone()
}

// Safe methods (GET, HEAD, OPTIONS) never change the store in the resource design, on any path.
#[test]
fn safe_methods_never_change_state() {
    for method in Method::ALL.into_iter().filter(|m| m.is_safe()) {
        for path in PATHS {
            let mut engine = resource();
            let before = engine.orders().clone();

            send(&mut engine, method, path);

            assert_eq!(engine.orders(), &before, "{} {path}", method.name());
        }
    }
}

// An idempotent method sent twice leaves the same store as sent once, on every path.
#[test]
fn idempotent_methods_repeated_leave_same_state() {
    for method in Method::ALL.into_iter().filter(|m| m.is_idempotent()) {
        for path in PATHS {
            let once = state_after(method, path, 1);

            let twice = state_after(method, path, 2);

            assert_eq!(once, twice, "{} {path}", method.name());
        }
    }
}

// Each POST /orders creates one more order with a new id.
#[test]
fn post_repeated_creates_new_items() {
    let once = state_after(Method::Post, "/orders", 1);

    let twice = state_after(Method::Post, "/orders", 2);

    assert_eq!(twice.len(), once.len() + 1);
}

// PATCH here adds one to the quantity, so a second PATCH changes the order again.
#[test]
fn patch_repeated_changes_state_again() {
    let once = state_after(Method::Patch, "/orders/1", 1);

    let twice = state_after(Method::Patch, "/orders/1", 2);

    assert_ne!(once, twice);
}

// 405 lists Allow, a successful OPTIONS lists Allow, 201 carries Location, and HEAD sends no body but the
// Content-Length that GET's body has. 204 has no body.
#[test]
fn every_response_has_a_valid_status_for_its_method() {
    for method in Method::ALL {
        for path in PATHS {
            let mut engine = resource();

            send(&mut engine, method, path);

            let Some(exchange) = engine.history().last() else {
                panic!("{} {path}: no exchange recorded", method.name());
            };
            let response = &exchange.response;
            let what = format!("{} {path} -> {}", method.name(), response.status);
            if response.status == 405 || (method == Method::Options && response.status < 300) {
                assert!(response.allow.is_some(), "{what}: no Allow");
            }
            if response.status == 201 {
                assert!(response.location.is_some(), "{what}: no Location");
            }
            if response.status == 204 || method == Method::Head {
                assert!(response.body.is_empty(), "{what}: body sent");
            }
            assert!(!response.reason.is_empty(), "{what}: no reason phrase");
        }
    }
}

// A 204 carries no Content-Length (RFC 9110 section 8.6 forbids it), and every other response
// carries one.
#[test]
fn content_length_absent_only_on_204() {
    for method in Method::ALL {
        for path in PATHS {
            let mut engine = resource();

            send(&mut engine, method, path);

            let Some(exchange) = engine.history().last() else {
                panic!("{} {path}: no exchange recorded", method.name());
            };
            let response = &exchange.response;
            let what = format!("{} {path} -> {}", method.name(), response.status);
            assert_eq!(
                response.content_length.is_none(),
                response.status == 204,
                "{what}: Content-Length {:?}",
                response.content_length
            );
        }
    }
}

// HEAD returns the headers GET would, with the same Content-Length and no body.
#[test]
fn head_matches_get_without_body() {
    let mut engine = resource();
    send(&mut engine, Method::Get, "/orders/1");
    send(&mut engine, Method::Head, "/orders/1");

    let exchanges: Vec<_> = engine.history().collect();

    assert_eq!(
        exchanges[0].response.content_length,
        exchanges[1].response.content_length
    );
}

// Status codes for the cases the chapter names.
#[test]
fn statuses_match_the_chapter() {
    let cases = [
        (Method::Get, "/orders/1", 200),
        (Method::Post, "/orders", 201),
        (Method::Delete, "/orders/1", 204),
        (Method::Get, "/orders/9", 404),
        (Method::Get, "/orders/abc", 400),
        (Method::Delete, "/orders", 405),
        (Method::Put, "/orders/9", 201),
        (Method::Put, "/orders/1", 200),
    ];
    for (method, path, expected) in cases {
        let mut engine = resource();

        let status = status_of(&send(&mut engine, method, path));

        assert_eq!(status, expected, "{} {path}", method.name());
    }
}

// A write with an If-Match ETag that no longer matches gets 412 and changes nothing.
#[test]
fn stale_if_match_gets_412() {
    let mut engine = resource();
    let before = engine.orders().clone();

    let events = engine.apply(&Action::Send {
        method: Method::Put,
        path: "/orders/1".to_string(),
        stale_if_match: true,
    });

    assert_eq!(status_of(&events.unwrap_or_default()), 412);
    assert_eq!(engine.orders(), &before);
}

// A stale If-Match is ignored when the response without it would be neither 2xx nor 412
// (RFC 9110 section 13.2.1): PATCH and DELETE of a missing order stay 404, while a PUT that
// would create the order gets 412.
#[test]
fn stale_if_match_on_missing_order() {
    let cases = [
        (Method::Patch, 404),
        (Method::Delete, 404),
        (Method::Put, 412),
    ];
    for (method, expected) in cases {
        let mut engine = resource();
        let before = engine.orders().clone();

        let events = engine.apply(&Action::Send {
            method,
            path: "/orders/9".to_string(),
            stale_if_match: true,
        });

        assert_eq!(
            status_of(&events.unwrap_or_default()),
            expected,
            "{}",
            method.name()
        );
        assert_eq!(engine.orders(), &before, "{}", method.name());
    }
}

// In the RPC design GET /deleteOrder deletes, and a missing order gets 200 with an error body.
#[test]
fn rpc_get_with_side_effect_deletes() {
    let config = HttpApiConfig {
        design: Design::Rpc,
        ..HttpApiConfig::default()
    };
    let mut engine = build(config, 1);

    send(&mut engine, Method::Get, "/deleteOrder?id=1");
    let status = status_of(&send(&mut engine, Method::Post, "/getOrder?id=1"));

    assert!(!engine.orders().contains_key(&1));
    assert_eq!(engine.changes_by_safe_methods(), 1);
    assert_eq!(status, 200);
    assert_eq!(engine.hidden_failures(), 1);
}

// A crawler that follows GET links never changes a resource-oriented store, and empties an RPC
// store whose pages link to GET /deleteOrder, within 60 s at 1 link per second, for every seed.
#[test]
fn crawler_deletes_only_through_rpc_gets() {
    for seed in 0..SEEDS {
        for design in [Design::Resource, Design::Rpc] {
            let config = HttpApiConfig {
                design,
                crawler_per_s: 1.0,
                ..HttpApiConfig::default()
            };
            let mut engine = build(config, seed);
            let before = engine.orders().clone();

            for _ in 0..(60_000.0 / STEP_MS) as usize {
                engine.step();
            }

            match design {
                Design::Resource => assert_eq!(engine.orders(), &before, "seed {seed}"),
                Design::Rpc => assert!(engine.orders().is_empty(), "seed {seed}"),
            }
        }
    }
}

// With lost responses the client resends after TIMEOUT_MS. Retried PUTs and DELETEs leave the
// store as one send would, while retried POSTs create one duplicate per extra attempt that ran.
#[test]
fn retries_duplicate_only_non_idempotent_requests() {
    let mut duplicates_seen = 0;
    for seed in 0..SEEDS {
        for (method, path) in [
            (Method::Put, "/orders/2"),
            (Method::Delete, "/orders/2"),
            (Method::Post, "/orders"),
        ] {
            let config = HttpApiConfig {
                loss_pct: 50.0,
                ..HttpApiConfig::default()
            };
            let mut engine = build(config, seed);
            let once = state_after(method, path, 1);
            let mut attempts = 0;

            let mut count = |events: &[Event]| {
                attempts += events
                    .iter()
                    .filter(|e| matches!(e, Event::Handled { .. }))
                    .count();
            };
            count(&send(&mut engine, method, path));
            let steps = (TIMEOUT_MS * f64::from(MAX_ATTEMPTS) / STEP_MS) as usize + 1;
            for _ in 0..steps {
                count(&engine.step());
            }

            if method == Method::Post {
                assert_eq!(
                    engine.orders().len(),
                    once.len() + attempts - 1,
                    "seed {seed}"
                );
                assert_eq!(engine.duplicates() as usize, attempts - 1, "seed {seed}");
                duplicates_seen += attempts - 1;
            } else {
                assert_eq!(engine.orders(), &once, "seed {seed} {}", method.name());
                assert_eq!(engine.duplicates(), 0, "seed {seed} {}", method.name());
            }
        }
    }
    // Half the responses lost over 200 seeds: about 150 duplicate POSTs expected, so 0 is a bug.
    assert!(duplicates_seen > 0, "no retried POST created a duplicate");
}

/// Sends one request with half the responses lost, runs until every retry is done, and returns
/// the engine with the number of attempts the server handled.
fn send_with_retries(design: Design, seed: u64, method: Method, path: &str) -> (HttpApi, usize) {
    let config = HttpApiConfig {
        design,
        loss_pct: 50.0,
        ..HttpApiConfig::default()
    };
    let mut engine = build(config, seed);
    let handled = |events: &[Event]| {
        events
            .iter()
            .filter(|e| matches!(e, Event::Handled { .. }))
            .count()
    };
    let mut attempts = handled(&send(&mut engine, method, path));
    let steps = (TIMEOUT_MS * f64::from(MAX_ATTEMPTS) / STEP_MS) as usize + 1;
    for _ in 0..steps {
        attempts += handled(&engine.step());
    }
    (engine, attempts)
}

// A retried PATCH applies its increment once per attempt, and each extra attempt counts as a
// duplicate write, as a retried POST does.
#[test]
fn retried_patch_counts_duplicate_writes() {
    let mut duplicates_seen = 0;
    for seed in 0..SEEDS {
        let (engine, attempts) =
            send_with_retries(Design::Resource, seed, Method::Patch, "/orders/1");

        let qty = engine.orders().get(&1).map(|order| order.qty);

        assert_eq!(qty, Some(1 + attempts as u32), "seed {seed}");
        assert_eq!(engine.duplicates() as usize, attempts - 1, "seed {seed}");
        duplicates_seen += attempts - 1;
    }
    // Half the responses lost over 200 seeds: about 150 extra attempts expected, so 0 is a bug.
    assert!(
        duplicates_seen > 0,
        "no retried PATCH counted as a duplicate write"
    );
}

// The RPC design routes on the path alone, so a retried GET /createOrder creates a duplicate
// order and counts, although GET is idempotent by definition.
#[test]
fn retried_rpc_create_counts_duplicate_writes() {
    for seed in 0..SEEDS {
        let (engine, attempts) = send_with_retries(Design::Rpc, seed, Method::Get, "/createOrder");

        assert_eq!(engine.orders().len(), 3 + attempts, "seed {seed}");
        assert_eq!(engine.duplicates() as usize, attempts - 1, "seed {seed}");
    }
}

// Send again repeats the last request; before any request it is rejected.
#[test]
fn send_again_needs_a_request() {
    let mut engine = resource();

    let result = engine.apply(&Action::SendAgain);

    assert!(result.is_err());
}

// Paths that do not start with / are rejected without touching the store.
#[test]
fn invalid_path_is_rejected() {
    let mut engine = resource();

    let result = engine.apply(&Action::Send {
        method: Method::Get,
        path: "orders".to_string(),
        stale_if_match: false,
    });

    assert!(result.is_err());
    assert_eq!(engine.requests(), 0);
}

// Out-of-range settings are rejected with the field's name.
#[test]
fn invalid_config_is_rejected() {
    for config in [
        HttpApiConfig {
            loss_pct: 101.0,
            ..HttpApiConfig::default()
        },
        HttpApiConfig {
            crawler_per_s: f64::NAN,
            ..HttpApiConfig::default()
        },
    ] {
        let result = HttpApi::new(config.clone(), 1);

        assert!(result.is_err(), "{config:?} accepted");
    }
}

// The same seed, configuration and actions give the same serialized trace.
#[test]
fn determinism() {
    let run = || {
        let config = HttpApiConfig {
            design: Design::Rpc,
            loss_pct: 40.0,
            crawler_per_s: 2.0,
        };
        let mut engine = build(config, 7);
        let mut trace = Vec::new();
        for round in 0..20 {
            if round % 4 == 0 {
                trace.extend(send(&mut engine, Method::Post, "/createOrder"));
            }
            for _ in 0..10 {
                trace.extend(engine.step());
            }
        }
        serde_json::to_string(&trace).unwrap_or_default()
    };

    let first = run();
    let second = run();

    assert!(!first.is_empty());
    assert_eq!(first, second);
}
