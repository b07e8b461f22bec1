"""A cache with a time to live (TTL) in front of a slow database: hits,
misses, expiry and stale reads on a hand-driven clock, then the speedup
on the real clock."""

import time
from collections.abc import Callable
from dataclasses import dataclass


class Database:
    """A key-value table whose reads are slow, like a query that crosses
    the network and touches disk."""

    def __init__(self, rows: dict[str, str], delay: float = 0.0) -> None:
        self.rows = rows
        self.delay = delay  # seconds of sleep per read
        self.reads = 0

    def read(self, key: str) -> str:
        """Return the current value of key after the read delay."""
        time.sleep(self.delay)
        self.reads += 1
        return self.rows.get(key, "")


@dataclass
class Entry:
    """One cached value and the clock readings that bound its life."""

    value: str
    stored_at: float  # seconds
    expires_at: float  # stored_at + TTL


@dataclass
class Lookup:
    """The result of a get: the value and whether it was a hit."""

    value: str
    hit: bool
    expired: bool = False  # a miss that found an entry past its TTL
    age: float = 0.0  # seconds since the served value was stored


class TTLCache:
    """Keeps each value for ttl seconds after it was loaded. The clock is
    a function, so a program can move time by hand."""

    def __init__(self, ttl: float, now: Callable[[], float]) -> None:
        self.ttl = ttl
        self.now = now
        self.entries: dict[str, Entry] = {}
        self.hits = 0
        self.misses = 0
        self.expired = 0

    def get(self, key: str, load: Callable[[str], str]) -> Lookup:
        """Return the cached value of key while it is younger than the TTL.

        Otherwise call load, store the result and return it: the
        cache-aside pattern, with the cache checked first.
        """
        t = self.now()
        e = self.entries.get(key)
        # => an entry exactly ttl seconds old has expired: the check is <
        if e is not None and t < e.expires_at:
            self.hits += 1
            return Lookup(e.value, hit=True, age=t - e.stored_at)
        self.misses += 1
        if e is not None:
            self.expired += 1
        value = load(key)
        self.entries[key] = Entry(value, t, t + self.ttl)
        return Lookup(value, hit=False, expired=e is not None)


class FakeClock:
    """A clock that moves only when the program sets it."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


def describe(t: float, key: str, r: Lookup, db: Database) -> str:
    at = f"t={t:.1f}s get {key} ->"
    if r.hit and r.value != db.rows[key]:
        return f'{at} hit "{r.value}", age {r.age:.1f}s (stale)'
    if r.hit:
        return f'{at} hit "{r.value}", age {r.age:.1f}s'
    if r.expired:
        return f'{at} miss (expired), loaded "{r.value}"'
    return f'{at} miss, loaded "{r.value}"'


def expiry() -> None:
    # One key, a 10 s TTL, and a clock we set by hand, so every line
    # prints the same on every run.
    clock = FakeClock()
    db = Database({"user:1": "Ada"}, delay=0.005)
    cache = TTLCache(10, clock.now)

    # At 12 s a write changes the row; the cache is not told.
    for t in [0, 0, 9.9, 10, 12, 15, 20]:
        clock.t = t
        if t == 12:
            db.rows["user:1"] = "Ada Lovelace"
            print(f't={t:.1f}s database: user:1 = "Ada Lovelace"')
            continue
        print(describe(t, "user:1", cache.get("user:1", db.read), db))
    # => prints: t=0.0s get user:1 -> miss, loaded "Ada"
    # => prints: t=0.0s get user:1 -> hit "Ada", age 0.0s
    # => prints: t=9.9s get user:1 -> hit "Ada", age 9.9s
    # => prints: t=10.0s get user:1 -> miss (expired), loaded "Ada"
    # => prints: t=12.0s database: user:1 = "Ada Lovelace"
    # => prints: t=15.0s get user:1 -> hit "Ada", age 5.0s (stale)
    # => prints: t=20.0s get user:1 -> miss (expired), loaded "Ada Lovelace"

    # The stale read at 15 s is the price of the TTL: a write is seen
    # only when the entry that predates it expires.
    print(
        f"hits {cache.hits}, misses {cache.misses} "
        f"(expired {cache.expired}), database reads {db.reads}"
    )
    # => prints: hits 3, misses 3 (expired 2), database reads 3


class Popular:
    """Picks one of 10 keys, key k with weight about 100/(k+1), from a
    linear congruential generator, so Go and Python draw the same keys."""

    BOUNDS = [100, 150, 183, 208, 228, 244, 258, 270, 281]

    def __init__(self, seed: int) -> None:
        self.x = seed

    def next(self) -> str:
        self.x = (self.x * 1103515245 + 12345) % (1 << 31)
        r = self.x % 291
        for k, up_to in enumerate(self.BOUNDS):
            if r < up_to:
                return f"item:{k}"
        return "item:9"


def sweep() -> None:
    # A minute of traffic on the hand-driven clock: 10 reads per second
    # over 10 keys, and the hottest key rewritten every 5 s. The same
    # reads and writes run against three TTLs.
    for ttl in [1, 5, 30]:
        clock = FakeClock()
        db = Database({f"item:{k}": "v0" for k in range(10)})
        cache = TTLCache(ttl, clock.now)
        keys = Popular(42)
        stale = 0
        for i in range(600):
            # => integer tenths of a second, so no rounding drift
            clock.t = i / 10
            if i % 50 == 25:
                db.rows["item:0"] = f"v{i // 50 + 1}"
            key = keys.next()
            r = cache.get(key, db.read)
            if r.hit and r.value != db.rows[key]:
                stale += 1
        ratio = 100 * cache.hits / 600
        print(
            f"ttl {ttl:2}s: hit ratio {ratio:4.1f}%, "
            f"database reads {db.reads:3}, stale reads {stale:3}"
        )
    # => prints: ttl  1s: hit ratio 56.2%, database reads 263, stale reads  11
    # => prints: ttl  5s: hit ratio 84.5%, database reads  93, stale reads 157
    # => prints: ttl 30s: hit ratio 96.7%, database reads  20, stale reads 209


def timed() -> None:
    # The same cache on the real clock with a 5 ms database: 200 reads
    # of the popular keys, first straight to the database, then through
    # a cache whose 60 s TTL outlives the run.
    db = Database({}, delay=0.005)
    keys = Popular(7)
    start = time.perf_counter()
    for _ in range(200):
        db.read(keys.next())
    direct = time.perf_counter() - start

    begin = time.monotonic()
    cache = TTLCache(60, lambda: time.monotonic() - begin)
    keys = Popular(7)
    start = time.perf_counter()
    for _ in range(200):
        cache.get(keys.next(), db.read)
    cached = time.perf_counter() - start

    print(f"no cache:   200 reads in {direct:.3f} s")
    # => prints: no cache:   200 reads in 1.055 s (varies)
    print(f"with cache: 200 reads in {cached:.3f} s")
    # => prints: with cache: 200 reads in 0.053 s (varies)
    print(f"with cache: {cache.hits} hits, {cache.misses} misses")
    # => prints: with cache: 190 hits, 10 misses
    print(f"speedup: {direct / cached:.0f}x")
    # => prints: speedup: 20x (varies)


if __name__ == "__main__":
    expiry()
    sweep()
    timed()
