"""Consistent hashing with virtual nodes, compared with mod-N placement."""

import bisect
import hashlib
import math

KEYS = [f"key-{i}" for i in range(10_000)]


# Every position on the ring is the first 8 bytes of SHA-256, read as a
# big-endian integer in 0..2**64. The Go program reads the same bytes, so
# both print the same numbers.
def hash64(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class Ring:
    """A hash ring where each node owns `vnodes` points."""

    def __init__(self, vnodes: int) -> None:
        self.vnodes = vnodes
        # (position, node) pairs kept sorted. A tie on position, almost
        # impossible with 64 bits, breaks by node name.
        self.points: list[tuple[int, str]] = []

    # A node's points are the hashes of "node-1#0", "node-1#1", ...
    # so every client that knows the node names builds the same ring.
    def add(self, node: str) -> None:
        for v in range(self.vnodes):
            bisect.insort(self.points, (hash64(f"{node}#{v}"), node))

    # A key belongs to the first point clockwise: the first position at or
    # after the key's hash, wrapping past 2**64 - 1 to the lowest point.
    def owner(self, key: str) -> str:
        i = bisect.bisect_left(self.points, (hash64(key), ""))
        if i == len(self.points):
            i = 0  # => wrap: after the last point comes the first
        return self.points[i][1]


# The naive scheme: hash(key) % N picks an index into the node list.
def mod_n_owner(key: str, nodes: list[str]) -> str:
    n = len(nodes)  # => the divisor changes whenever N does
    return nodes[hash64(key) % n]


def loads(owners: list[str], nodes: list[str]) -> str:
    return " ".join(str(owners.count(node)) for node in nodes)


# Population standard deviation, summed in list order so that Go, doing the
# same float operations, prints the same digits.
def std_dev(counts: list[int], mean: float) -> float:
    total = 0.0
    for count in counts:
        deviation = count - mean
        total += deviation * deviation
    return math.sqrt(total / len(counts))


def main() -> None:
    nodes = [f"node-{i}" for i in range(4)]
    ring = Ring(vnodes=100)
    for node in nodes:
        ring.add(node)
    # => 400 points: 4 nodes x 100 vnodes

    # Place all 10,000 keys both ways before the cluster grows.
    ring_before = [ring.owner(key) for key in KEYS]
    mod_before = [mod_n_owner(key, nodes) for key in KEYS]
    print("4 nodes:", loads(ring_before, nodes))
    # => prints: 4 nodes: 2426 2699 2660 2215

    # A fifth node joins. On the ring it adds 100 points and takes the arcs
    # just before them, while mod-N changes the divisor from 4 to 5.
    nodes.append("node-4")
    ring.add("node-4")  # => 500 points, and the first 400 stay put
    ring_after = [ring.owner(key) for key in KEYS]
    mod_after = [mod_n_owner(key, nodes) for key in KEYS]
    print("5 nodes:", loads(ring_after, nodes))
    # => prints: 5 nodes: 1873 2116 2248 1868 1895

    # The ring moves about 1/5 of the keys, because the new node takes about
    # a fifth of the ring. Mod-N keeps a key only when hash % 4 == hash % 5,
    # true for 1 hash in 5, so it moves about 4/5 of them.
    moved = [i for i, old in enumerate(ring_before) if ring_after[i] != old]
    pairs = zip(mod_before, mod_after, strict=True)
    moved_mod = sum(1 for old, new in pairs if old != new)
    pct_ring = 100 * len(moved) / len(KEYS)
    pct_mod = 100 * moved_mod / len(KEYS)
    print(f"ring moved  {len(moved):5d} keys ({pct_ring:.1f}%)")
    print(f"mod-N moved {moved_mod:5d} keys ({pct_mod:.1f}%)")
    # => prints: ring moved   1895 keys (18.9%)
    # => prints: mod-N moved  7938 keys (79.4%)

    # Every key that moved went to the new node: no key changed hands
    # between two old nodes, so the only transfers are old nodes -> new.
    to_new = sum(1 for i in moved if ring_after[i] == "node-4")
    print(f"moved to node-4: {to_new} of {len(moved)}")
    # => prints: moved to node-4: 1895 of 1895

    # With one point per node the arcs are as uneven as random cuts of a
    # circle, and more points average them out. The spread is the standard
    # deviation of keys per node as a share of the mean (2,000).
    for vnodes in (1, 10, 100, 1000):
        sized = Ring(vnodes)
        for node in nodes:
            sized.add(node)
        owners = [sized.owner(key) for key in KEYS]
        counts = [owners.count(node) for node in nodes]
        mean = len(KEYS) / len(nodes)
        spread = std_dev(counts, mean) / mean * 100
        low, high = min(counts), max(counts)
        print(
            f"vnodes {vnodes:4d}: {low:4d} to {high:4d} keys per node,"
            f" spread {spread:.1f}%"
        )
    # => prints: vnodes    1:  795 to 3106 keys per node, spread 49.2%
    # => prints: vnodes   10: 1387 to 3104 keys per node, spread 29.4%
    # => prints: vnodes  100: 1868 to 2248 keys per node, spread 7.7%
    # => prints: vnodes 1000: 1941 to 2128 keys per node, spread 3.4%


if __name__ == "__main__":
    main()
