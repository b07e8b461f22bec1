//! Invariants of the pagination engine: the cursor reader neither duplicates nor skips rows, the
//! offset reader duplicates after inserts and skips after deletes above its position, offset
//! cost grows with the page number, and determinism.

use sim::Engine;
use sim::pagination::{Action, Event, MAX_CHANGE, Method, Pagination, PaginationConfig, STEP_MS};

fn build(config: &PaginationConfig, seed: u64) -> Pagination {
    match Pagination::new(config.clone(), seed) {
        Ok(engine) => engine,
        Err(err) => panic!("seed {seed}: {config:?} rejected: {err}"),
    }
}

fn run_for(engine: &mut Pagination, ms: f64) -> Vec<Event> {
    let steps = (ms / STEP_MS).ceil() as u64;
    let mut events = Vec::new();
    for _ in 0..steps {
        events.extend(engine.step());
    }
    events
}

/// A list of 60 rows read 5 at a time, one page a second, with no background changes.
fn quiet() -> PaginationConfig {
    PaginationConfig {
        rows: 60,
        page_size: 5,
        insert_per_s: 0.0,
        delete_per_s: 0.0,
        page_ms: 1000.0,
    }
}

/// Runs until both readers finish or 200 s pass.
fn run_to_end(engine: &mut Pagination) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..200 {
        events.extend(run_for(engine, 1000.0));
        if engine.readers().iter().all(|reader| reader.finished) {
            break;
        }
    }
    events
}

/// A busy list: inserts and deletes several times per page.
fn busy() -> PaginationConfig {
    PaginationConfig {
        rows: 100,
        page_size: 5,
        insert_per_s: 3.0,
        delete_per_s: 2.0,
        page_ms: 1000.0,
    }
}

// Invariant: the cursor reader never gets the same row twice, whatever is inserted or deleted
// between its pages, because it asks only for rows strictly below the last key it got.
#[test]
fn cursor_never_returns_a_duplicate() {
    for seed in 0..50 {
        let mut engine = build(&busy(), seed);

        run_to_end(&mut engine);

        let cursor = engine.reader(Method::Cursor);
        assert!(cursor.finished, "seed {seed}: cursor reader did not finish");
        assert_eq!(cursor.duplicate_count(), 0, "seed {seed}");
    }
}

// Invariant: the cursor reader returns every row that existed for the whole read: after it
// finishes, no such row is missing from its pages.
#[test]
fn cursor_never_skips_a_row_present_throughout() {
    for seed in 0..50 {
        let mut engine = build(&busy(), seed);

        run_to_end(&mut engine);

        assert!(engine.reader(Method::Cursor).finished, "seed {seed}");
        assert_eq!(
            engine.missed_by(Method::Cursor),
            &[] as &[u64],
            "seed {seed}"
        );
    }
}

// Invariant: each row inserted above the offset reader between two pages pushes the list down by
// one, so the next page starts with a row the reader already has.
#[test]
fn offset_duplicates_when_rows_are_inserted_above() {
    let mut engine = build(&quiet(), 1);
    run_for(&mut engine, 50.0);

    let inserted = engine.apply(&Action::Insert { count: 2 });
    let events = run_for(&mut engine, 1000.0);

    assert!(inserted.is_ok());
    let page_two = events.iter().find_map(|event| match event {
        Event::Fetched {
            method: Method::Offset,
            page: 2,
            ids,
            duplicates,
            ..
        } => Some((ids.clone(), duplicates.clone())),
        _ => None,
    });
    // Page 1 was 60..=56. Two inserts move 57 and 56 to positions 6 and 7.
    assert_eq!(
        page_two,
        Some((vec![57, 56, 55, 54, 53], vec![57, 56])),
        "{events:?}"
    );
    assert_eq!(engine.reader(Method::Cursor).duplicate_count(), 0);
}

// Invariant: each row deleted above the offset reader's position pulls the list up by one, so a
// row slides past the offset unseen; the cursor reader gets it. At 3 deletes per second over a
// 12-second read, every seed deletes rows above the offset reader.
#[test]
fn offset_skips_when_rows_are_deleted_above() {
    for seed in 0..20 {
        let config = PaginationConfig {
            delete_per_s: 3.0,
            ..quiet()
        };
        let mut engine = build(&config, seed);

        run_to_end(&mut engine);

        let offset_missed = engine.missed_by(Method::Offset).len();
        assert!(
            offset_missed > 0,
            "seed {seed}: the offset reader missed nothing"
        );
        assert_eq!(
            engine.missed_by(Method::Cursor),
            &[] as &[u64],
            "seed {seed}"
        );
    }
}

// Invariant: deleting rows the offset reader has already passed shifts the rest of the list up,
// so its next page skips exactly one row per deletion, while the cursor reader skips none.
#[test]
fn delete_passed_makes_offset_skip_each_row() {
    for seed in 0..50 {
        for pages_before in 1..=5u32 {
            let mut engine = build(&quiet(), seed);
            // Page p comes at (p - 1) s, so this stops half a second after page `pages_before`.
            run_for(&mut engine, f64::from(pages_before - 1) * 1000.0 + 500.0);
            let pages = engine.reader(Method::Offset).pages.len();

            let deleted = engine
                .apply(&Action::DeletePassed { count: 3 })
                .unwrap_or_default();
            run_for(&mut engine, 1000.0);

            let case = format!("seed {seed}, after page {pages_before}");
            assert_eq!(pages, pages_before as usize, "{case}");
            assert_eq!(deleted.len(), 3, "{case}: deletions");
            assert_eq!(
                engine.missed_by(Method::Offset).len(),
                3,
                "{case}: offset misses"
            );
            assert!(
                engine.missed_by(Method::Cursor).is_empty(),
                "{case}: cursor misses"
            );
        }
    }
}

// Before the offset reader's first page no row is above its position, so nothing is deleted.
#[test]
fn delete_passed_before_first_page_deletes_nothing() {
    let mut engine = build(&quiet(), 1);

    let events = engine.apply(&Action::DeletePassed { count: 3 });

    assert_eq!(events.map(|events| events.len()).ok(), Some(0));
    assert_eq!(engine.table().len(), 60);
}

// Counts outside 1 to MAX_CHANGE are rejected, as for the other row actions.
#[test]
fn delete_passed_rejects_invalid_count() {
    let mut engine = build(&quiet(), 1);

    let zero = engine.apply(&Action::DeletePassed { count: 0 });
    let too_many = engine.apply(&Action::DeletePassed {
        count: MAX_CHANGE + 1,
    });

    assert!(zero.is_err());
    assert!(too_many.is_err());
}

// Invariant: page p of the offset reader scans (p - 1) * k rows to skip plus k rows to return,
// while the cursor reader scans k rows on every page.
#[test]
fn offset_cost_grows_with_page_number() {
    let mut engine = build(&quiet(), 1);

    // Pages come at 0, 1000, ..., 4000 ms.
    run_for(&mut engine, 4500.0);

    let offset: Vec<u64> = engine
        .reader(Method::Offset)
        .pages
        .iter()
        .map(|p| p.scanned)
        .collect();
    let cursor: Vec<u64> = engine
        .reader(Method::Cursor)
        .pages
        .iter()
        .map(|p| p.scanned)
        .collect();
    assert_eq!(offset, vec![5, 10, 15, 20, 25]);
    assert_eq!(cursor, vec![5, 5, 5, 5, 5]);
}

// Invariant: with no changes both readers return every row exactly once, in list order.
#[test]
fn both_readers_agree_on_a_static_list() {
    let mut engine = build(&quiet(), 1);

    run_to_end(&mut engine);

    let ids = |method: Method| -> Vec<u64> {
        engine
            .reader(method)
            .pages
            .iter()
            .flat_map(|p| p.ids.clone())
            .collect()
    };
    let expected: Vec<u64> = (1..=60).rev().collect();
    assert_eq!(ids(Method::Offset), expected);
    assert_eq!(ids(Method::Cursor), expected);
}

// Invariant: the same seed, configuration and actions give the same serialized trace.
#[test]
fn determinism() {
    let run = |seed: u64| {
        let mut engine = build(&busy(), seed);
        let mut trace = run_for(&mut engine, 5000.0);
        trace.extend(
            engine
                .apply(&Action::Delete { count: 3 })
                .unwrap_or_default(),
        );
        trace.extend(run_for(&mut engine, 5000.0));
        trace.extend(engine.apply(&Action::Restart).unwrap_or_default());
        trace.extend(run_to_end(&mut engine));
        serde_json::to_string(&trace)
    };

    for seed in 0..5 {
        let first = run(seed);
        let second = run(seed);

        assert!(first.is_ok(), "seed {seed}: trace does not serialize");
        assert_eq!(first.ok(), second.ok(), "seed {seed}");
    }
}
