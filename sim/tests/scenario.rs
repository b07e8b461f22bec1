//! Share-link scenarios: encoding round trips, replays match live runs, and
//! every malformed link is rejected with a message instead of a panic.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sim::Engine;
use sim::scenario::{MAX_ENCODED_LEN, Scenario, ShareLink, TimedAction, replay};
use sim::token_bucket::{Action, TokenBucket, TokenBucketConfig};

type BucketScenario = Scenario<TokenBucketConfig, Action>;

fn sample() -> BucketScenario {
    Scenario {
        seed: 7,
        config: TokenBucketConfig {
            capacity: 3,
            refill_per_s: 2.0,
            arrival_per_s: 1.0,
        },
        actions: vec![
            TimedAction {
                step: 0,
                action: Action::Burst { count: 5 },
            },
            TimedAction {
                step: 40,
                action: Action::Burst { count: 2 },
            },
        ],
        steps: 100,
    }
}

fn encode_json(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

#[test]
fn scenario_round_trips_through_encoding() {
    let scenario = sample();

    let decoded = BucketScenario::decode(&scenario.encode());

    assert_eq!(decoded, Ok(scenario));
}

#[test]
fn replay_matches_a_live_run() {
    let scenario = sample();
    let mut live = TokenBucket::new(scenario.config.clone(), scenario.seed).unwrap();
    let mut live_events = Vec::new();
    for step in 0..scenario.steps {
        for timed in scenario.actions.iter().filter(|t| t.step == step) {
            live_events.extend(live.apply(&timed.action).unwrap());
        }
        live_events.extend(live.step());
    }

    let (replayed, trace) = replay::<TokenBucket>(&scenario).unwrap();
    let replayed_events: Vec<_> = trace.into_iter().map(|line| line.event).collect();

    assert_eq!(replayed_events, live_events);
    assert_eq!(replayed.now_ms(), live.now_ms());
    assert_eq!(replayed.accepted_total(), live.accepted_total());
}

#[test]
fn replaying_twice_gives_the_same_trace() {
    let encoded = sample().encode();

    let first = sim::scenario::replay_json_lines::<TokenBucket>(&encoded).unwrap();
    let second = sim::scenario::replay_json_lines::<TokenBucket>(&encoded).unwrap();

    assert!(!first.is_empty());
    assert_eq!(first, second);
}

#[test]
fn invalid_payloads_are_rejected_with_a_reason() {
    let huge = "A".repeat(100 * 1024);
    let truncated = {
        let full = sample().encode();
        full[..full.len() / 2].to_string()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("not base64", "!!!".to_string(), "not valid base64url"),
        ("truncated", truncated, "not valid"),
        ("empty", String::new(), "not valid"),
        ("100 KB string", huge, "at most"),
        ("not json", encode_json("hello"), "not valid"),
        (
            "wrong type",
            encode_json(r#"{"seed":"one","config":{}}"#),
            "invalid type",
        ),
        (
            "huge number",
            encode_json(r#"{"seed":1e400,"config":{}}"#),
            "not valid",
        ),
        (
            "seed too big",
            encode_json(r#"{"seed":18446744073709551616,"config":{}}"#),
            "not valid",
        ),
        (
            "negative seed",
            encode_json(r#"{"seed":-1,"config":{}}"#),
            "not valid",
        ),
        (
            "unknown key",
            encode_json(r#"{"seed":1,"config":{},"extra":1}"#),
            "unknown field",
        ),
        (
            "unknown config key",
            encode_json(r#"{"seed":1,"config":{"size":3}}"#),
            "unknown field",
        ),
        (
            "config out of range",
            encode_json(r#"{"seed":1,"config":{"capacity":0}}"#),
            "capacity",
        ),
        (
            "nan rate",
            encode_json(r#"{"seed":1,"config":{"refill_per_s":NaN}}"#),
            "not valid",
        ),
        (
            "too many steps",
            encode_json(r#"{"seed":1,"config":{},"steps":99999999999}"#),
            "at most",
        ),
        (
            "action after the end",
            encode_json(
                r#"{"seed":1,"config":{},"steps":2,"actions":[{"step":3,"action":{"type":"burst","count":1}}]}"#,
            ),
            "out of order",
        ),
        (
            "unknown action",
            encode_json(
                r#"{"seed":1,"config":{},"steps":2,"actions":[{"step":0,"action":{"type":"explode"}}]}"#,
            ),
            "unknown variant",
        ),
    ];

    for (name, payload, expected) in cases {
        let result = BucketScenario::decode(&payload);

        let Err(message) = result else {
            panic!("{name}: should be rejected");
        };
        assert!(
            message.contains(expected),
            "{name}: `{message}` lacks `{expected}`"
        );
    }
}

#[test]
fn share_link_parses_widget_index_and_payload() {
    let link = ShareLink::parse("http://127.0.0.1:3000/a.html#run=token-bucket.2.eyJ9").unwrap();

    assert_eq!(
        link,
        Some(ShareLink {
            widget: "token-bucket".into(),
            index: 2,
            payload: "eyJ9".into()
        })
    );
}

#[test]
fn share_link_without_run_is_not_an_error() {
    assert_eq!(ShareLink::parse("#key-takeaway"), Ok(None));
    assert_eq!(ShareLink::parse("http://127.0.0.1/a.html"), Ok(None));
}

#[test]
fn malformed_share_links_are_rejected() {
    let long_name = format!("run={}.0.x", "a".repeat(100 * 1024));
    let cases = [
        "#run=token-bucket",
        "#run=token-bucket.0",
        "#run=.0.x",
        "#run=Token_Bucket.0.x",
        "#run=token-bucket.-1.x",
        "#run=token-bucket.99999999999999999999999.x",
        long_name.as_str(),
    ];

    for case in cases {
        let shown = &case[..case.len().min(40)];

        let result = ShareLink::parse(case);

        let Err(message) = result else {
            panic!("`{shown}` should be rejected");
        };
        assert!(message.len() < 200, "message too long: {}", message.len());
    }
}

#[test]
fn payload_limit_is_what_the_docs_say() {
    let at_limit = "A".repeat(MAX_ENCODED_LEN + 1);

    let message = BucketScenario::decode(&at_limit).unwrap_err();

    assert!(message.contains(&MAX_ENCODED_LEN.to_string()), "{message}");
}
