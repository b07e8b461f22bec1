"""Latency percentiles: p50, p95 and p99 from measured samples, the mean
that hides a slow tail, and what fan-out does to that tail."""

import http.client
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SLOW_SHARE = 0.02  # share of requests that are slow
FAST_WORK_S = 0.001  # work of an ordinary request, in seconds
SLOW_WORK_S = 0.050  # work of a slow one, in seconds
SINGLES = 300  # requests measured one at a time
FAN_OUT = 10  # backend calls per fanned-out request
FANNED = 120  # fanned-out requests measured
SEED = 67  # picks which request ids are slow
MASK = (1 << 64) - 1


# Return the nearest-rank percentile of sorted samples: the smallest
# sample with at least p% of all samples at or below it.
def percentile(sorted_samples: list[float], p: float) -> float:
    rank = math.ceil(p / 100 * len(sorted_samples))
    return sorted_samples[max(rank, 1) - 1]


def mean(samples: list[float]) -> float:
    return sum(samples) / len(samples)


# Decide from the request id alone whether a request is slow, by hashing
# the id with splitmix64. The Go program uses the same hash, so both pick
# the same slow requests, whatever order they arrive in.
# => other seeds give other counts, around 6 of 300 and 22 of 120
def is_slow(request_id: int) -> bool:
    z = (request_id * 0x9E3779B97F4A7C15 + SEED) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return (z >> 11) / (1 << 53) < SLOW_SHARE


class Server(ThreadingHTTPServer):
    # => the default listen backlog of 5 overflows when 10 or more clients
    # connect at once, and a dropped connection attempt is retried 1 s later
    request_queue_size = 128


class Handler(BaseHTTPRequestHandler):
    """Serves GET /work?id=N. The server gives every connection its own
    thread, so nothing queues: a latency is the work plus the network
    round trip, and the tail is the slow work."""

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        try:
            request_id = int(query["id"][0])
        except (KeyError, ValueError) as err:
            self.send_error(400, f"invalid id: {err}")
            return
        if is_slow(request_id):
            time.sleep(SLOW_WORK_S)  # => a GC pause, a cold cache, a lock
            body = b"slow\n"
        else:
            time.sleep(FAST_WORK_S)
            body = b"fast\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # => one log line per request would swamp the output


# Send one request and return its latency in ms and whether the server
# reported it slow.
def call(port: int, request_id: int) -> tuple[float, bool]:
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    try:
        conn.request("GET", f"/work?id={request_id}")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET id={request_id}: {response.status}")
    finally:
        conn.close()
    return (time.monotonic() - start) * 1000, body.strip() == b"slow"


# Call FAN_OUT backends in parallel, one thread each, and wait for all of
# them: the latency is that of the slowest call.
def fanned_call(
    pool: ThreadPoolExecutor, port: int, first: int
) -> tuple[float, bool]:
    start = time.monotonic()
    ids = range(first, first + FAN_OUT)
    results = list(pool.map(lambda i: call(port, i), ids))
    ms = (time.monotonic() - start) * 1000
    return ms, any(slow for _, slow in results)


# Print the mean and the percentiles of samples.
def report(label: str, samples: list[float]) -> None:
    s = sorted(samples)
    print(
        f"{label}: mean {mean(s):.1f}, p50 {percentile(s, 50):.1f}, "
        f"p95 {percentile(s, 95):.1f}, p99 {percentile(s, 99):.1f} ms"
    )


def main() -> None:
    # Nearest rank on ten samples, by hand: p50 is the 5th smallest, p90
    # the 9th, and p99 rounds up to the 10th, the largest. One 300 ms
    # outlier pulls the mean far above almost every sample.
    ten = [12.0, 15, 11, 90, 14, 13, 16, 12, 14, 300]
    s = sorted(ten)
    print(
        f"ten samples: mean {mean(ten):.1f}, p50 {percentile(s, 50):.0f}, "
        f"p90 {percentile(s, 90):.0f}, p99 {percentile(s, 99):.0f} ms"
    )
    # => prints: ten samples: mean 49.7, p50 14, p90 90, p99 300 ms

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    # 300 requests, one after another. About 2% of them hit the 50 ms
    # path, which is enough to own p99 but too few to move p95.
    singles = [call(port, request_id) for request_id in range(SINGLES)]
    slow_count = sum(1 for _, slow in singles if slow)
    print(f"one call: {slow_count} of {SINGLES} requests slow")
    # => prints: one call: 6 of 300 requests slow
    report("one call", [ms for ms, _ in singles])
    # => prints: one call: mean 2.3, p50 1.2, p95 1.4, p99 51.0 ms (varies)

    # Each fanned-out request waits for the slowest of 10 calls, so it is
    # fast only if all 10 are: (1 - 0.02)^10 = 81.7% of the time.
    with ThreadPoolExecutor(max_workers=FAN_OUT) as pool:
        fanned = [
            fanned_call(pool, port, SINGLES + n * FAN_OUT)
            for n in range(FANNED)
        ]
    server.shutdown()
    hit = sum(1 for _, slow in fanned if slow)
    print(
        f"fan-out {FAN_OUT}: {hit} of {FANNED} requests saw a slow call "
        f"({100 * hit / FANNED:.1f}%)"
    )
    # => prints: fan-out 10: 21 of 120 requests saw a slow call (17.5%)
    expected = 1 - (1 - SLOW_SHARE) ** FAN_OUT
    print(
        f"formula: 1 - (1 - {SLOW_SHARE:.2f})^{FAN_OUT} = {100 * expected:.1f}%"
    )
    # => prints: formula: 1 - (1 - 0.02)^10 = 18.3%
    report(f"fan-out {FAN_OUT}", [ms for ms, _ in fanned])
    # => prints: fan-out 10: mean 10.4, p50 1.6, p95 51.3, p99 51.9 ms (varies)


if __name__ == "__main__":
    main()
