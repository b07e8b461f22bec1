"""Least-connections load balancing: the same slow and fast requests go
through a round-robin proxy and a least-connections proxy in front of three
single-worker HTTP backends on 127.0.0.1."""

import http.client
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUESTS = 7  # sent one every GAP_S
GAP_S = 0.200  # between two sends
FAST_MS = 300  # work of a fast request
SLOW_MS = 1600  # work of request 0


class Quiet(BaseHTTPRequestHandler):
    """A handler that does not log every request to stderr."""

    def log_message(self, format, *args):
        pass

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def listen(handler: type) -> int:
    """Serve `handler` on a port the kernel picks and return the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def start_backend() -> int:
    """Serve one request at a time: the lock is the backend's only worker,
    so a request that arrives while it is busy waits."""
    worker = threading.Lock()

    class Backend(Quiet):
        def do_GET(self) -> None:
            query = urllib.parse.urlparse(self.path).query
            ms = int(urllib.parse.parse_qs(query)["ms"][0])
            with worker:
                time.sleep(ms / 1000)
            self.reply(200, b"done\n")

    return listen(Backend)


class Balancer:
    """A reverse proxy that counts the requests in flight to each backend:
    the connections that least-connections compares."""

    def __init__(self, backends: list[int], least_conn: bool) -> None:
        self.backends = backends
        self.least_conn = least_conn
        self.lock = threading.Lock()
        self.next = 0  # position where the round-robin scan starts
        self.active = [0] * len(backends)  # requests in flight per backend
        self.picks: list[str] = []
        balancer = self

        class Proxy(Quiet):
            def do_GET(self) -> None:
                query = urllib.parse.urlparse(self.path).query
                name = urllib.parse.parse_qs(query)["name"][0]
                i = balancer.pick(name)
                try:
                    status, body = balancer.forward(i, self.path)
                finally:
                    balancer.done(i)
                self.reply(status, body)

        self.port = listen(Proxy)

    # Both policies scan from one past the last pick, so round-robin takes
    # that backend, and least-connections breaks ties in the same rotation.
    def pick(self, request: str) -> int:
        with self.lock:
            n = len(self.active)
            chosen = self.next
            for k in range(1, n if self.least_conn else 1):
                i = (self.next + k) % n
                if self.active[i] < self.active[chosen]:
                    chosen = i
            # => e.g. "request 3 (fast): active 1 0 1 -> backend 2", the
            # counts just before this pick
            counts = " ".join(str(a) for a in self.active)
            self.picks.append(
                f"{request}: active {counts} -> backend {chosen + 1}"
            )
            self.active[chosen] += 1
            self.next = (chosen + 1) % n
            return chosen

    def done(self, i: int) -> None:
        with self.lock:
            self.active[i] -= 1

    def forward(self, i: int, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.backends[i])
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


def run(port: int) -> list[float]:
    """Send request 0 (slow) and then 6 fast ones, one every 200 ms, each
    from its own thread, and return every latency in milliseconds."""
    latencies = [0.0] * REQUESTS

    def send(i: int, work_ms: int, kind: str) -> None:
        name = urllib.parse.quote(f"request {i} ({kind})")
        url = f"http://127.0.0.1:{port}/?ms={work_ms}&name={name}"
        start = time.monotonic()
        with urllib.request.urlopen(url) as resp:
            resp.read()
        latencies[i] = (time.monotonic() - start) * 1000

    threads = []
    for i in range(REQUESTS):
        work_ms, kind = (SLOW_MS, "slow") if i == 0 else (FAST_MS, "fast")
        thread = threading.Thread(target=send, args=(i, work_ms, kind))
        thread.start()
        threads.append(thread)
        time.sleep(GAP_S)
    for thread in threads:
        thread.join()
    return latencies


def main() -> None:
    backends = [start_backend() for _ in range(3)]

    for least_conn in (False, True):
        name = "least-connections" if least_conn else "round-robin"
        balancer = Balancer(backends, least_conn)
        latencies = run(balancer.port)

        for pick in balancer.picks:
            print(name, pick)
        # The slowest fast request shows the cost of the policy.
        worst = max(latencies[1:])
        print(f"{name}: slowest fast request {worst:.0f} ms")

    # Round-robin sends requests 3 and 6 to backend 1, where they wait
    # behind the slow request 0.
    # => prints: round-robin request 0 (slow): active 0 0 0 -> backend 1
    # => prints: round-robin request 1 (fast): active 1 0 0 -> backend 2
    # => prints: round-robin request 2 (fast): active 1 1 0 -> backend 3
    # => prints: round-robin request 3 (fast): active 1 0 1 -> backend 1
    # => prints: round-robin request 4 (fast): active 2 0 0 -> backend 2
    # => prints: round-robin request 5 (fast): active 2 1 0 -> backend 3
    # => prints: round-robin request 6 (fast): active 2 0 1 -> backend 1
    # => prints: round-robin: slowest fast request 1300 ms (varies)

    # Least-connections finds backend 1 busy and alternates between the
    # other two. Each fast request ends 100 ms before its backend's next
    # turn, so the counts are the same on every run.
    # => prints: least-connections request 0 (slow): active 0 0 0 -> backend 1
    # => prints: least-connections request 1 (fast): active 1 0 0 -> backend 2
    # => prints: least-connections request 2 (fast): active 1 1 0 -> backend 3
    # => prints: least-connections request 3 (fast): active 1 0 1 -> backend 2
    # => prints: least-connections request 4 (fast): active 1 1 0 -> backend 3
    # => prints: least-connections request 5 (fast): active 1 0 1 -> backend 2
    # => prints: least-connections request 6 (fast): active 1 1 0 -> backend 3
    # => prints: least-connections: slowest fast request 300 ms (varies)


if __name__ == "__main__":
    main()
