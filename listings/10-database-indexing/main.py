"""Database indexing: the same queries over 100,000 rows, first by scanning
every row, then through a sorted index found by binary search, and last in
SQLite, whose query plan changes from SCAN to SEARCH once the index exists."""

import sqlite3
import time
from collections.abc import Callable
from typing import NamedTuple

# ROWS is the table size, and a multiplier coprime with it shuffles the ids.
ROWS = 100_000
SHUFFLE = 7_919
REPEATS = 20


class Order(NamedTuple):
    id: int
    total: int


class Result(NamedTuple):
    matches: int
    examined: int


def build_table() -> list[Order]:
    """Insert rows in a shuffled id order, as real inserts arrive, so the
    table itself is not sorted by id."""
    return [
        Order(i * SHUFFLE % ROWS, i * SHUFFLE % ROWS % 1000)
        for i in range(ROWS)
    ]


def build_index(table: list[Order]) -> list[tuple[int, int]]:
    """CREATE INDEX: one (key, row position) entry per row, sorted by key."""
    return sorted((order.id, row) for row, order in enumerate(table))


def scan(table: list[Order], lo: int, hi: int) -> Result:
    """Run WHERE id BETWEEN lo AND hi by looking at every row."""
    # => a scan cannot know that ids are unique, so it never stops early
    matches = sum(1 for order in table if lo <= order.id <= hi)
    return Result(matches, len(table))


def lower_bound(index: list[tuple[int, int]], key: int) -> tuple[int, int]:
    """Find the first entry with key >= key by binary search, and count the
    entries compared: about log2(n) of them."""
    lo, hi, probes = 0, len(index), 0
    while lo < hi:
        mid = (lo + hi) // 2
        probes += 1
        if index[mid][0] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo, probes


def seek(
    table: list[Order], index: list[tuple[int, int]], lo: int, hi: int
) -> Result:
    """Run the same query through the index: binary search to the first
    key, then walk forward, fetching one row per matching entry."""
    pos, examined = lower_bound(index, lo)
    matches = 0
    while pos < len(index) and index[pos][0] <= hi:
        _ = table[index[pos][1]]
        examined += 1
        matches += 1
        pos += 1
    return Result(matches, examined)


def btree_depth(n: int, fanout: int) -> int:
    """ceil(log_fanout(n)): pages read from root to leaf."""
    depth, reach = 1, fanout
    while reach < n:
        reach *= fanout
        depth += 1
    return depth


def time_it(query: Callable[[], Result]) -> float:
    """Run query REPEATS times and return the mean in microseconds."""
    start = time.perf_counter()
    for _ in range(REPEATS):
        query()
    return (time.perf_counter() - start) / REPEATS * 1e6


def explain(db: sqlite3.Connection, sql: str) -> str:
    """Return the detail column of SQLite's EXPLAIN QUERY PLAN."""
    rows = db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    return "; ".join(row[3] for row in rows)


def main() -> None:
    table = build_table()
    index = build_index(table)
    print(f"table: {len(table)} rows, index: {len(index)} sorted keys")
    # => prints: table: 100000 rows, index: 100000 sorted keys

    # A point lookup, WHERE id = 77777, and a range of 100 ids.
    queries = [("point id=77777", 77_777, 77_777)]
    queries.append(("range 50000-50099", 50_000, 50_099))
    for name, lo, hi in queries:
        s = scan(table, lo, hi)
        print(f"{name}, scan: examined {s.examined}, returned {s.matches}")
        x = seek(table, index, lo, hi)
        print(f"{name}, index: examined {x.examined}, returned {x.matches}")
    # => 18 is 17 binary-search probes plus the one row fetched
    # => prints: point id=77777, scan: examined 100000, returned 1
    # => prints: point id=77777, index: examined 18, returned 1
    # => prints: range 50000-50099, scan: examined 100000, returned 100
    # => prints: range 50000-50099, index: examined 116, returned 100

    # A B-tree keeps ~100 keys per page instead of 2 per binary-search
    # step, so it reads only 3 pages to reach any of 100,000 keys.
    print(f"B-tree, fan-out 100, {ROWS} keys: depth {btree_depth(ROWS, 100)}")
    # => prints: B-tree, fan-out 100, 100000 keys: depth 3

    # Examined counts turn into time: scanning costs every row.
    scan_us = time_it(lambda: scan(table, 77_777, 77_777))
    seek_us = time_it(lambda: seek(table, index, 77_777, 77_777))
    print(f"point lookup, scan: {scan_us:.1f} us")
    # => prints: point lookup, scan: 3000.0 us (varies)
    print(f"point lookup, index: {seek_us:.1f} us")
    # => prints: point lookup, index: 5.0 us (varies)

    # The index is paid for on writes: every insert also places its key
    # in the sorted index. A sorted list shifts entries to make room,
    # where a B-tree rewrites one leaf page after walking depth pages.
    plain = list(table)
    start = time.perf_counter()
    for i in range(10_000):
        plain.append(Order(ROWS + i, 0))
    plain_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    for i in range(10_000):
        key = ROWS + i * SHUFFLE % 10_000
        table.append(Order(key, 0))
        pos, _ = lower_bound(index, key)
        index.insert(pos, (key, len(table) - 1))
    indexed_ms = (time.perf_counter() - start) * 1000
    print(f"10000 inserts, no index: {plain_ms:.1f} ms")
    # => prints: 10000 inserts, no index: 1.0 ms (varies)
    print(f"10000 inserts, with index: {indexed_ms:.1f} ms")
    # => prints: 10000 inserts, with index: 90.0 ms (varies)

    # A real database makes the same choice. SQLite's query planner scans
    # the table until an index on the column exists, then searches it.
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE orders (id INTEGER, total INTEGER)")
    db.executemany("INSERT INTO orders VALUES (?, ?)", table[:ROWS])
    point = "SELECT total FROM orders WHERE id = 77777"
    print("sqlite, no index:", explain(db, point))
    # => prints: sqlite, no index: SCAN orders
    db.execute("CREATE INDEX orders_id ON orders (id)")
    print("sqlite, with index:", explain(db, point))
    # => prints: sqlite, with index: SEARCH orders USING INDEX orders_id (id=?)
    # NOTE: this is the wording since SQLite 3.36; older releases printed
    # SCAN TABLE orders and SEARCH TABLE orders.
    (total,) = db.execute(point).fetchone()
    print(f"sqlite, id=77777: total {total}")
    # => prints: sqlite, id=77777: total 777


if __name__ == "__main__":
    main()
