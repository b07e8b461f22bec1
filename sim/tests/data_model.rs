//! Cost formulas of the data model engine, and that both models return the same answers.

use sim::Engine;
use sim::data_model::{
    Action, Cost, DataModel, DataModelConfig, Event, ITEM_DOC_BYTES, ITEM_ROW_BYTES, NAME_BYTES,
    ORDER_DOC_BYTES, Pattern,
};
use sim::rng::SimRng;

/// Seeds each randomized test loops over.
const SEEDS: u64 = 50;

fn build(config: DataModelConfig, seed: u64) -> DataModel {
    match DataModel::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: valid config {config:?} rejected: {err}"),
    }
}

/// Runs one pattern and returns its relational and document costs.
fn costs(engine: &mut DataModel, pattern: Pattern) -> (Cost, Cost) {
    let events = engine.apply(&Action::Run { pattern }).unwrap_or_default();
    match events.first() {
        Some(Event::Ran {
            relational,
            document,
            ..
        }) => (*relational, *document),
        None => panic!("{pattern:?} returned no event"),
    }
}

fn random_config(rng: &mut SimRng) -> DataModelConfig {
    DataModelConfig {
        users: 1 + rng.below(50) as u32,
        products: 1 + rng.below(30) as u32,
        orders_per_user: 1 + rng.below(10) as u32,
        items_per_order: 1 + rng.below(8) as u32,
        round_trip_ms: 1.0,
    }
}

// Invariant "fetch by aggregate favours documents": an order with k items costs one round trip
// in both models, 1 + 2k rows (order, items, products) against one document.
#[test]
fn fetch_order_reads_one_document() {
    for seed in 0..SEEDS {
        let config = random_config(&mut SimRng::new(seed));
        let k = u64::from(config.items_per_order);
        let mut engine = build(config, seed);

        let (relational, document) = costs(&mut engine, Pattern::FetchOrder);

        assert_eq!(relational.reads, 1 + 2 * k, "seed {seed}: relational rows");
        assert_eq!(document.reads, 1, "seed {seed}: documents");
        assert_eq!(
            relational.round_trips, 1,
            "seed {seed}: relational round trips"
        );
        assert_eq!(document.round_trips, 1, "seed {seed}: document round trips");
    }
}

// Invariant "duplicated data costs documents on update": renaming a product writes one row,
// but the product document plus every order document that carries a copy of its name.
#[test]
fn rename_writes_every_copy() {
    for seed in 0..SEEDS {
        let config = random_config(&mut SimRng::new(seed));
        let mut engine = build(config, seed);
        let events = match engine.apply(&Action::Run {
            pattern: Pattern::RenameProduct,
        }) {
            Ok(events) => events,
            Err(err) => panic!("seed {seed}: {err}"),
        };

        let Some(Event::Ran {
            relational,
            document,
            answer,
            ..
        }) = events.first()
        else {
            panic!("seed {seed}: no event");
        };

        assert_eq!(relational.writes, 1, "seed {seed}: relational writes");
        let sim::data_model::Answer::Renamed { items, .. } = answer else {
            panic!("seed {seed}: wrong answer {answer:?}");
        };
        // Each carrying order counts once, however many of its items carry the product.
        let min_writes = if *items > 0 { 2 } else { 1 };
        assert!(
            document.writes >= min_writes,
            "seed {seed}: {} document writes for {items} items",
            document.writes
        );
        assert!(
            document.writes <= 1 + items,
            "seed {seed}: {} document writes for {items} items",
            document.writes
        );
    }
}

// Invariant "cross-aggregate queries favour tables": revenue by product reads every item row in
// the relational model, but every whole order document, names included.
#[test]
fn report_reads_whole_documents() {
    for seed in 0..SEEDS {
        let config = random_config(&mut SimRng::new(seed));
        let orders = u64::from(config.users) * u64::from(config.orders_per_user);
        let k = u64::from(config.items_per_order);
        let mut engine = build(config, seed);

        let (relational, document) = costs(&mut engine, Pattern::Report);

        assert_eq!(
            relational.bytes_read,
            orders * k * ITEM_ROW_BYTES,
            "seed {seed}"
        );
        assert_eq!(
            document.bytes_read,
            orders * (ORDER_DOC_BYTES + k * ITEM_DOC_BYTES),
            "seed {seed}"
        );
        assert!(document.bytes_read > relational.bytes_read, "seed {seed}");
    }
}

// Invariant "a write across two entities needs a transaction in both models": placing an order
// writes 1 + 2k rows (order, items, stock) or 1 + k documents (order, stock), both flagged as
// multi-record transactions.
#[test]
fn place_order_spans_records() {
    let config = DataModelConfig::default();
    let k = u64::from(config.items_per_order);
    let mut engine = build(config, 1);

    let (relational, document) = costs(&mut engine, Pattern::PlaceOrder);

    assert_eq!(relational.writes, 1 + 2 * k);
    assert_eq!(document.writes, 1 + k);
    assert!(relational.multi_record_txn, "relational transaction");
    assert!(document.multi_record_txn, "multi-document transaction");
}

// Invariant "documents duplicate names": one user name per order document and one product name
// per embedded item.
#[test]
fn duplicated_bytes_count_name_copies() {
    let config = DataModelConfig::default();
    let orders = u64::from(config.users) * u64::from(config.orders_per_user);
    let items = orders * u64::from(config.items_per_order);

    let engine = build(config, 1);

    assert_eq!(engine.duplicated_bytes(), (orders + items) * NAME_BYTES);
}

// Invariant "both models return the same answers": for every pattern, on every seed, including
// reads after renames and new orders, the relational and document answers are equal.
#[test]
fn both_models_return_same_answers() {
    for seed in 0..SEEDS {
        let config = random_config(&mut SimRng::new(seed));
        let mut engine = build(config, seed);

        let events: Vec<Event> = (0..40).flat_map(|_| engine.step()).collect();

        assert_eq!(events.len(), 40, "seed {seed}: one pattern per step");
        for event in &events {
            let Event::Ran { agree, answer, .. } = event;
            assert!(agree, "seed {seed}: models differ on {answer:?}");
        }
        assert_eq!(engine.disagreements(), 0, "seed {seed}");
    }
}

// Steps cycle through the five patterns in order.
#[test]
fn steps_cycle_through_patterns() {
    let mut engine = build(DataModelConfig::default(), 1);

    let patterns: Vec<Pattern> = (0..5)
        .flat_map(|_| engine.step())
        .map(|event| match event {
            Event::Ran { pattern, .. } => pattern,
        })
        .collect();

    assert_eq!(patterns, Pattern::ALL);
}

#[test]
fn invalid_users_is_rejected() {
    let config = DataModelConfig {
        users: 0,
        ..DataModelConfig::default()
    };

    let result = DataModel::new(config, 1);

    assert!(result.is_err(), "0 users was accepted");
}

// Determinism: the same seed, configuration and actions give the same serialized trace.
#[test]
fn determinism() {
    let trace = |seed: u64| {
        let mut engine = build(DataModelConfig::default(), seed);
        let mut events: Vec<Event> = (0..12).flat_map(|_| engine.step()).collect();
        events.extend(
            engine
                .apply(&Action::Run {
                    pattern: Pattern::RenameProduct,
                })
                .unwrap_or_default(),
        );
        serde_json::to_string(&events).unwrap_or_default()
    };

    for seed in 0..10 {
        assert_eq!(trace(seed), trace(seed), "seed {seed}");
    }
}
