//! Invariants of the DNS resolution engine, checked over many seeds and configurations.

use sim::Engine;
use sim::dns::{Action, Dns, DnsConfig, Event, Level, STEP_MS, TIMEOUT_MS};
use sim::faults::Fault;

/// Seeds each randomized test loops over.
const SEEDS: u64 = 100;

fn build(config: DnsConfig, seed: u64) -> Dns {
    match Dns::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

/// A configuration with no background lookups, so a test drives every lookup itself.
fn quiet() -> DnsConfig {
    DnsConfig {
        query_per_s: 0.0,
        ..DnsConfig::default()
    }
}

fn act(engine: &mut Dns, action: Action) -> Vec<Event> {
    match engine.apply(&action) {
        Ok(events) => events,
        Err(err) => panic!("{action:?} failed: {err}"),
    }
}

fn run_ms(engine: &mut Dns, ms: f64) -> Vec<Event> {
    let steps = (ms / STEP_MS).ceil() as usize;
    (0..steps).flat_map(|_| engine.step()).collect()
}

/// Returns the levels of every query sent in `events`, in order.
fn levels(events: &[Event]) -> Vec<Level> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::QuerySent { level, .. } => Some(*level),
            _ => None,
        })
        .collect()
}

fn resolve(engine: &mut Dns, name: u32) -> Vec<Event> {
    let mut events = act(engine, Action::Lookup { name });
    events.extend(run_ms(engine, 1000.0));
    events
}

// Invariant: the resolver never serves an answer from its cache once the answer's TTL has run
// out: every cache hit has age_ms < ttl_s * 1000.
#[test]
fn cached_answer_is_never_older_than_its_ttl() {
    for seed in 0..SEEDS {
        let config = DnsConfig {
            answer_ttl_s: 0.5 + (seed % 7) as f64,
            query_per_s: 100.0,
            ..DnsConfig::default()
        };
        let mut engine = build(config, seed);

        let events = run_ms(&mut engine, 20_000.0);

        for event in &events {
            if let Event::CacheHit { age_ms, ttl_s, .. } = event {
                assert!(
                    *age_ms < ttl_s * 1000.0,
                    "seed {seed}: hit of age {age_ms} ms with TTL {ttl_s} s"
                );
            }
        }
    }
}

// Invariant: with an empty cache a lookup queries the root, then the TLD, then the zone's
// authoritative server, one round trip of hop_ms each.
#[test]
fn a_miss_walks_root_then_tld_then_authoritative() {
    let mut engine = build(quiet(), 1);

    let events = resolve(&mut engine, 3);
    let sent_at: Vec<f64> = events
        .iter()
        .filter_map(|event| match event {
            Event::QuerySent { at_ms, .. } => Some(*at_ms),
            _ => None,
        })
        .collect();

    assert_eq!(
        levels(&events),
        [Level::Root, Level::Tld, Level::Authoritative]
    );
    assert_eq!(sent_at, [0.0, 40.0, 80.0]);
    assert!(events.contains(&Event::Resolved {
        at_ms: 120.0,
        name: 3,
        latency_ms: 120.0
    }));
}

// Invariant: once the TLD's NS records are cached, a miss for another zone under that TLD
// starts at the TLD server. Once the zone's NS records are cached, a miss for another host
// of the zone goes straight to its authoritative server.
#[test]
fn cached_referral_skips_the_root() {
    let mut engine = build(quiet(), 1);
    // Hosts 0, 3 and 6 share .com; 0 and 6 share site0.com (6 zones, 3 TLDs).
    resolve(&mut engine, 0);

    let other_zone = resolve(&mut engine, 3);
    let same_zone = resolve(&mut engine, 6);

    assert_eq!(levels(&other_zone), [Level::Tld, Level::Authoritative]);
    assert_eq!(levels(&same_zone), [Level::Authoritative]);
}

// A referral that has expired sends the resolver back to the root.
#[test]
fn expired_referral_walks_from_the_root_again() {
    let config = DnsConfig {
        ns_ttl_s: 1.0,
        ..quiet()
    };
    let mut engine = build(config, 1);
    resolve(&mut engine, 0);
    run_ms(&mut engine, 1000.0);

    let again = resolve(&mut engine, 3);

    assert_eq!(
        levels(&again),
        [Level::Root, Level::Tld, Level::Authoritative]
    );
}

fn hit_ratio_after(answer_ttl_s: f64, seed: u64) -> f64 {
    let config = DnsConfig {
        answer_ttl_s,
        ..DnsConfig::default()
    };
    let mut engine = build(config, seed);
    run_ms(&mut engine, 60_000.0);
    engine.hit_ratio()
}

// Invariant: a longer answer TTL gives a higher hit ratio. Over 60 s at 20 lookups per
// second, TTLs of 1, 10 and 60 s must rank in that order for every seed, with a margin of
// at least 5 points between neighbours.
#[test]
fn hit_ratio_rises_with_ttl() {
    const MARGIN: f64 = 0.05;
    for seed in 0..SEEDS / 4 {
        let short = hit_ratio_after(1.0, seed);
        let medium = hit_ratio_after(10.0, seed);
        let long = hit_ratio_after(60.0, seed);

        assert!(
            medium > short + MARGIN,
            "seed {seed}: TTL 10 s hit ratio {medium} vs TTL 1 s {short}"
        );
        assert!(
            long > medium + MARGIN,
            "seed {seed}: TTL 60 s hit ratio {long} vs TTL 10 s {medium}"
        );
    }
}

// With TTL 0 nothing is cached, so every lookup misses.
#[test]
fn zero_ttl_never_hits() {
    let config = DnsConfig {
        answer_ttl_s: 0.0,
        ..DnsConfig::default()
    };
    let mut engine = build(config, 7);

    run_ms(&mut engine, 10_000.0);

    assert_eq!(engine.hits(), 0);
}

// A changed record is served stale from the cache until its TTL runs out, then fresh.
#[test]
fn changed_record_is_stale_until_ttl_expires() {
    let mut engine = build(quiet(), 1);
    resolve(&mut engine, 0);
    act(&mut engine, Action::ChangeRecord { name: 0 });

    let before = act(&mut engine, Action::Lookup { name: 0 });
    run_ms(&mut engine, 10_000.0);
    let after = resolve(&mut engine, 0);

    assert!(matches!(
        before.first(),
        Some(Event::CacheHit { stale: true, .. })
    ));
    assert!(
        after
            .iter()
            .any(|event| matches!(event, Event::Answer { version: 1, .. }))
    );
}

// With the authoritative server down, cached answers keep working; once they expire the
// lookup times out with SERVFAIL after TIMEOUT_MS.
#[test]
fn crashed_authoritative_serves_from_cache_until_expiry() {
    let mut engine = build(quiet(), 1);
    resolve(&mut engine, 0);
    // Authoritative servers follow the root and the 3 TLD servers, so site0.com is server 4.
    act(&mut engine, Action::Fault(Fault::Crash { node: 4 }));

    let cached = act(&mut engine, Action::Lookup { name: 0 });
    run_ms(&mut engine, 10_000.0);
    let mut expired = act(&mut engine, Action::Lookup { name: 0 });
    expired.extend(run_ms(&mut engine, TIMEOUT_MS + 100.0));

    assert!(matches!(cached.first(), Some(Event::CacheHit { .. })));
    assert!(
        expired
            .iter()
            .any(|event| matches!(event, Event::TimedOut { server: 4, .. }))
    );
    assert_eq!(engine.failed(), 1);
}

// Lookups for a name that is being resolved wait for that walk and send no query.
#[test]
fn concurrent_misses_share_one_walk() {
    let mut engine = build(quiet(), 1);

    act(&mut engine, Action::Lookup { name: 5 });
    let second = act(&mut engine, Action::Lookup { name: 5 });
    let rest = run_ms(&mut engine, 1000.0);

    assert!(levels(&second).is_empty());
    let resolved = rest
        .iter()
        .filter(|event| matches!(event, Event::Resolved { .. }))
        .count();
    assert_eq!(resolved, 2);
}

// Crashing a server twice, or an unknown server, is rejected.
#[test]
fn invalid_faults_are_rejected() {
    let mut engine = build(quiet(), 1);
    act(&mut engine, Action::Fault(Fault::Crash { node: 0 }));

    let twice = engine.apply(&Action::Fault(Fault::Crash { node: 0 }));
    let unknown = engine.apply(&Action::Fault(Fault::Crash { node: 99 }));

    assert!(twice.is_err());
    assert!(unknown.is_err());
}

// Determinism: the same seed, configuration and actions give the same serialized trace.
#[test]
fn same_seed_gives_same_trace() {
    let trace = || {
        let mut engine = build(DnsConfig::default(), 42);
        let mut events = run_ms(&mut engine, 3000.0);
        events.extend(act(&mut engine, Action::ChangeRecord { name: 0 }));
        events.extend(act(&mut engine, Action::Fault(Fault::Crash { node: 1 })));
        events.extend(run_ms(&mut engine, 3000.0));
        serde_json::to_string(&events).unwrap_or_default()
    };

    let first = trace();
    let second = trace();

    assert!(first.len() > 1000, "trace too short: {}", first.len());
    assert_eq!(first, second);
}
