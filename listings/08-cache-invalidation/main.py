"""Three ways a write can treat the cache: leave it to the TTL, delete the
key, or store the new value. The program counts the stale reads each one
serves, then shows the race that lets a slow reader put an old value back
after a delete, and a lease that closes it."""

import threading
from dataclasses import dataclass


class Database:
    """The source of truth: one value per key."""

    def __init__(self, rows: dict[str, str]) -> None:
        self.lock = threading.Lock()
        self.rows = rows
        self.reads = 0

    def read(self, key: str) -> str:
        """Return the current value of key."""
        with self.lock:
            self.reads += 1
            return self.rows[key]

    def write(self, key: str, value: str) -> None:
        """Store value as the current value of key."""
        with self.lock:
            self.rows[key] = value


@dataclass
class Entry:
    """One cached value and the clock reading at which it expires."""

    value: str
    expires_at: float


class Cache:
    """A TTL cache on a clock the program sets. It also hands out leases:
    a reader that misses takes a token, a delete of the key invalidates it,
    and a set with an invalidated token is rejected."""

    def __init__(self, ttl: float) -> None:
        self.lock = threading.Lock()
        self.ttl = ttl
        self.now = 0.0  # seconds, set by the program
        self.entries: dict[str, Entry] = {}
        self.leases: dict[str, int] = {}  # live token per key
        self.next_token = 0
        self.sets = 0

    def get(self, key: str) -> str | None:
        """Return the cached value of key, or None if absent or expired."""
        with self.lock:
            e = self.entries.get(key)
            if e is None or self.now >= e.expires_at:
                return None
            return e.value

    def set(self, key: str, value: str) -> None:
        """Store value for key with a fresh TTL."""
        with self.lock:
            self.sets += 1
            self.entries[key] = Entry(value, self.now + self.ttl)

    def delete(self, key: str) -> None:
        """Remove key and invalidate any lease on it."""
        with self.lock:
            self.entries.pop(key, None)
            self.leases.pop(key, None)

    def lease(self, key: str) -> int:
        """Return a new token for key, to be passed to set_leased."""
        with self.lock:
            self.next_token += 1
            self.leases[key] = self.next_token
            return self.next_token

    def set_leased(self, key: str, value: str, token: int) -> bool:
        """Store value only if token is still the live lease on key, so a
        value read before a delete can no longer be stored after it."""
        with self.lock:
            if self.leases.get(key) != token:
                return False
            del self.leases[key]
            self.sets += 1
            self.entries[key] = Entry(value, self.now + self.ttl)
            return True


TTL_ONLY = "ttl_only"
INVALIDATE_ON_WRITE = "invalidate_on_write"
UPDATE_ON_WRITE = "update_on_write"


def write(strategy: str, db: Database, c: Cache, key: str, value: str) -> None:
    """Store the new value in the database first, then apply the
    strategy to the cache."""
    db.write(key, value)
    if strategy == INVALIDATE_ON_WRITE:
        c.delete(key)
    elif strategy == UPDATE_ON_WRITE:
        c.set(key, value)


def read(db: Database, c: Cache, key: str) -> str:
    """Look key up cache-aside: the cache first, the database on a miss."""
    value = c.get(key)
    if value is not None:
        return value
    value = db.read(key)
    c.set(key, value)
    return value


def compare() -> None:
    # One script of reads and writes, one operation per second, against
    # each strategy with an 8 s TTL. "w:a" writes the next version of a.
    script = (
        "r:a r:b w:a r:a r:b r:a w:b r:b r:a r:b w:a r:a r:a r:b r:b r:a"
    ).split()
    for strategy in [TTL_ONLY, INVALIDATE_ON_WRITE, UPDATE_ON_WRITE]:
        db = Database({"a": "a1", "b": "b1"})
        c = Cache(8)
        version = {"a": 1, "b": 1}
        stale = []
        for i, op in enumerate(script):
            c.now = float(i)
            kind, key = op.split(":")
            if kind == "w":
                version[key] += 1
                write(strategy, db, c, key, f"{key}{version[key]}")
                continue
            got = read(db, c, key)
            # => compared with the row itself, without counting a read
            if got != db.rows[key]:
                stale.append(f"{got}@{i}s")
        print(
            f"{strategy:<19} stale {len(stale)}, database reads {db.reads}, "
            f"cache sets {c.sets}"
        )
        if stale:
            print(f"  served {' '.join(stale)}")
    # => prints: ttl_only            stale 6, database reads 4, cache sets 4
    # => prints:   served a1@3s a1@5s b1@7s a2@11s a2@12s a2@15s
    # => prints: invalidate_on_write stale 0, database reads 5, cache sets 5
    # => prints: update_on_write     stale 0, database reads 3, cache sets 6


def race() -> None:
    # Invalidate-on-write with two threads, made to interleave in the
    # bad order by events: the reader misses and reads the database, the
    # writer writes and deletes, then the reader stores what it read.
    db = Database({"user:1": "v1"})
    c = Cache(60)
    read_done, write_done = threading.Event(), threading.Event()

    def reader() -> None:
        hit = c.get("user:1") is not None  # => a miss: the cache is empty
        value = db.read("user:1")
        print(
            f'reader: miss (hit={str(hit).lower()}), read "{value}" '
            "from the database"
        )
        read_done.set()
        write_done.wait()
        c.set("user:1", value)  # => too late: this value predates the write
        print(f'reader: stored "{value}" in the cache')

    thread = threading.Thread(target=reader)
    thread.start()
    read_done.wait()
    write(INVALIDATE_ON_WRITE, db, c, "user:1", "v2")
    print('writer: stored "v2" in the database, deleted user:1')
    write_done.set()
    thread.join()
    print(
        f'next read: "{c.get("user:1")}" from the cache, '
        f'database has "{db.rows["user:1"]}"'
    )
    # => prints: reader: miss (hit=false), read "v1" from the database
    # => prints: writer: stored "v2" in the database, deleted user:1
    # => prints: reader: stored "v1" in the cache
    # => prints: next read: "v1" from the cache, database has "v2"

    # The same interleaving with a lease: the delete invalidates the token the
    # reader took on its miss, so its late set is rejected and the next
    # read loads "v2".
    db = Database({"user:1": "v1"})
    c = Cache(60)
    token = c.lease("user:1")
    old = db.read("user:1")
    write(INVALIDATE_ON_WRITE, db, c, "user:1", "v2")
    ok = c.set_leased("user:1", old, token)
    print(f'lease: late set of "{old}" accepted={str(ok).lower()}')
    print(f'lease: next read "{read(db, c, "user:1")}"')
    # => prints: lease: late set of "v1" accepted=false
    # => prints: lease: next read "v2"


if __name__ == "__main__":
    compare()
    race()
