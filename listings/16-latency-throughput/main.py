"""Latency and throughput: an HTTP server with a fixed pool of workers,
driven by an open-loop client at rising load, and Little's law checked
on the measured numbers."""

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

WORKERS = 2  # requests the server serves at once
WORK_S = 0.020  # fixed work for one request, in seconds
LEVEL_S = 1.2  # how long each load level sends, in seconds
MASK = (1 << 64) - 1


class Gauge:
    """Counts the requests inside the server, waiting or in service, and
    adds up count x time: the area under the count over time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.n = 0
        self.last = time.monotonic()
        self.area_s = 0.0  # request-seconds since the last take

    def add(self, delta: int) -> None:
        with self.lock:
            now = time.monotonic()
            self.area_s += self.n * (now - self.last)
            self.last = now
            self.n += delta

    # Return the area since the previous take and start a new one.
    def take(self) -> float:
        self.add(0)
        with self.lock:
            area, self.area_s = self.area_s, 0.0
        return area


INSIDE = Gauge()

# The worker pool: a request that finds both slots taken waits for one,
# in the thread the server started for its connection.
SLOTS = threading.BoundedSemaphore(WORKERS)


class Server(ThreadingHTTPServer):
    # => the default listen backlog of 5 overflows when 10 or more clients
    # connect at once, and a dropped connection attempt is retried 1 s later
    request_queue_size = 128


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        INSIDE.add(1)
        with SLOTS:  # => blocks while 2 requests are in service
            time.sleep(WORK_S)  # => a sleep takes the place of 20 ms of work
        INSIDE.add(-1)
        body = b"done\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # => one log line per request would swamp the output


class SplitMix64:
    """A tiny seeded generator. The Go program uses the same one, so both
    send their requests at the same moments."""

    def __init__(self, seed: int) -> None:
        self.state = seed

    def uniform(self) -> float:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        return (z >> 11) / (1 << 53)


# Return n send times, in seconds from the start, spread over the given
# seconds. Given that exactly n requests arrive in a window, the arrival
# times of a Poisson stream are n uniform times, sorted. So the load is
# random in its timing but exact in its rate.
def arrivals(rng: SplitMix64, n: int, seconds: float) -> list[float]:
    return sorted(rng.uniform() * seconds for _ in range(n))


class Result(NamedTuple):
    """Measurements of one load level."""

    throughput: float  # responses per second while the level sent
    latency: float  # mean latency the client measured, in seconds
    rate: float  # arrival rate over the same window, per second
    inside: float  # mean requests inside the server (L)


# Send GET /work on a new connection and return when the response ended.
def get(port: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    try:
        conn.request("GET", "/work")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET /work returned {response.status}")
    finally:
        conn.close()
    return time.monotonic()


# Send one request at each time in sends, whatever happened to the earlier
# ones: an open loop, like users who do not wait for each other.
def run(pool: ThreadPoolExecutor, port: int, sends: list[float]) -> Result:
    INSIDE.take()
    start = time.monotonic()
    futures = []
    for at in sends:
        time.sleep(max(0.0, start + at - time.monotonic()))
        futures.append((time.monotonic(), pool.submit(get, port)))
    done = [(sent, future.result()) for sent, future in futures]

    # => throughput counts responses while the level sends; the queue
    # left at its end drains afterwards
    # => Little's window runs until the last response, so every request
    # sent in it also finished in it: L, rate and W cover the same span
    window = time.monotonic() - start
    early = sum(1 for _, end in done if end - start <= LEVEL_S)
    latency = sum(end - sent for sent, end in done) / len(done)
    return Result(
        throughput=early / LEVEL_S,
        latency=latency,
        rate=len(done) / window,
        inside=INSIDE.take() / window,
    )


def main() -> None:
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    capacity = WORKERS / WORK_S
    print(
        f"server: {WORKERS} workers x {WORK_S * 1000:.0f} ms, "
        f"capacity {capacity:.0f} req/s"
    )
    # => prints: server: 2 workers x 20 ms, capacity 100 req/s

    # Offered load rises from half the capacity to 95% of it, then past
    # it. Each level sends rho x 100 req/s for 1.2 s at random moments.
    rng = SplitMix64(16)
    latency = {}  # mean latency per rho, in seconds
    served = {}  # throughput per rho, per second
    with ThreadPoolExecutor(max_workers=256) as pool:
        for rho in [0.5, 0.8, 0.9, 0.95, 1.2]:
            n = round(rho * capacity * LEVEL_S)
            sends = arrivals(rng, n, LEVEL_S)
            print(
                f"rho {rho:.2f}: {n} requests in {LEVEL_S:.1f} s, "
                f"{n / LEVEL_S:.0f} req/s offered"
            )
            r = run(pool, port, sends)
            latency[rho] = r.latency
            served[rho] = r.throughput
            print(
                f"rho {rho:.2f}: served {r.throughput:.1f} req/s, "
                f"mean latency {1000 * r.latency:.1f} ms"
            )

            # Little's law: mean number inside = arrival rate x mean time
            # inside. The server measured L; the client measured rate, W.
            print(
                f"rho {rho:.2f}: Little's law L = {r.inside:.2f}, "
                f"lambda x W = {r.rate * r.latency:.2f}"
            )
    server.shutdown()
    # => prints: rho 0.50: 60 requests in 1.2 s, 50 req/s offered
    # => prints: rho 0.80: 96 requests in 1.2 s, 80 req/s offered
    # => prints: rho 0.90: 108 requests in 1.2 s, 90 req/s offered
    # => prints: rho 0.95: 114 requests in 1.2 s, 95 req/s offered
    # => prints: rho 1.20: 144 requests in 1.2 s, 120 req/s offered
    # => prints: rho 0.50: served 49.2 req/s, mean latency 27.7 ms (varies)
    # => prints: rho 0.80: served 78.3 req/s, mean latency 33.3 ms (varies)
    # => prints: rho 0.90: served 81.7 req/s, mean latency 47.3 ms (varies)
    # => prints: rho 0.95: served 89.2 req/s, mean latency 55.9 ms (varies)
    # => prints: rho 1.20: served 91.7 req/s, mean latency 158.4 ms (varies)
    # => prints: rho 0.50: Little's law L = 1.35, lambda x W = 1.37 (varies)
    # => prints: rho 0.80: Little's law L = 2.62, lambda x W = 2.64 (varies)
    # => prints: rho 0.90: Little's law L = 3.90, lambda x W = 3.92 (varies)
    # => prints: rho 0.95: Little's law L = 4.99, lambda x W = 5.01 (varies)
    # => prints: rho 1.20: Little's law L = 14.65, lambda x W = 14.69 (varies)

    # Throughput followed the offered load up to the capacity; latency
    # did not. It grows like 1 / (1 - rho), so the last few percent of
    # load cost the most, and past the capacity the queue only grows.
    print(
        "mean latency at rho 0.95 / at rho 0.50: "
        f"x{latency[0.95] / latency[0.5]:.1f}"
    )
    # => prints: mean latency at rho 0.95 / at rho 0.50: x2.0 (varies)

    # Past the capacity, 26% more load brings almost no more throughput,
    # only a longer queue: the backlog adds to every later request.
    print(
        f"rho 0.95 -> 1.20: throughput x{served[1.2] / served[0.95]:.2f}, "
        f"latency x{latency[1.2] / latency[0.95]:.1f}"
    )
    # => prints: rho 0.95 -> 1.20: throughput x1.03, latency x2.8 (varies)


if __name__ == "__main__":
    main()
