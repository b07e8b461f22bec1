"""A CDN at small scale: an origin HTTP server and two edge caches on
127.0.0.1. The edges honour Cache-Control: max-age, serve hits locally,
add a simulated distance to origin fetches and accept PURGE requests."""

import re
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_AGE = 30  # seconds, sent by the origin as Cache-Control: max-age

# Every request here goes to 127.0.0.1. urllib would send it to the proxy
# in http_proxy unless no_proxy lists 127.0.0.1, so an empty ProxyHandler
# turns proxies off for all of them.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class FakeClock:
    """A clock that moves only when the program sets it, so TTL expiry
    prints the same on every run."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


class Origin:
    """The origin: one version number per object, and a request count."""

    def __init__(self) -> None:
        self.versions = {"/logo.png": 1, "/app.js": 1, "/timing": 1}
        self.requests = 0
        self.lock = threading.Lock()

    def publish(self, path: str) -> int:
        with self.lock:
            self.versions[path] += 1
            return self.versions[path]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with origin.lock:
                    origin.requests += 1
                    version = origin.versions.get(self.path)
                if version is None:
                    self.send_error(404)
                    return
                body = f"{self.path[1:]} v{version}".encode()
                self.send_response(200)
                # => the origin decides how long caches may keep a copy
                self.send_header("Cache-Control", f"max-age={MAX_AGE}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep the program's output to its own lines

        return Handler


class Edge:
    """An edge cache: a copy per path with the clock reading when it was
    fetched and the max-age the origin sent with it."""

    def __init__(
        self, name: str, origin_url: str, distance: float, clock: FakeClock
    ) -> None:
        self.name = name
        self.origin_url = origin_url
        self.distance = distance  # seconds of sleep per origin fetch
        self.clock = clock
        self.copies: dict[str, tuple[bytes, float, int]] = {}
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()

    def fetch(self, path: str) -> tuple[bytes, int]:
        # The round trip to the origin region: the cost every miss pays.
        time.sleep(self.distance)
        with OPENER.open(self.origin_url + path) as resp:
            body = resp.read()
            control = resp.headers.get("Cache-Control", "")
        match = re.search(r"max-age=(\d+)", control)
        # => no max-age means the edge must not reuse the copy
        return body, int(match.group(1)) if match else 0

    def get(self, path: str) -> tuple[bytes, str, int]:
        """Return the body, HIT or MISS, and the copy's age in seconds."""
        now = self.clock.now()
        with self.lock:
            copy = self.copies.get(path)
        # => a copy exactly max-age seconds old has expired
        if copy is not None and now - copy[1] < copy[2]:
            with self.lock:
                self.hits += 1
            return copy[0], "HIT", int(now - copy[1])
        body, max_age = self.fetch(path)
        with self.lock:
            self.misses += 1
            self.copies[path] = (body, now, max_age)
        return body, "MISS", 0

    def purge(self, path: str) -> bool:
        with self.lock:
            return self.copies.pop(path, None) is not None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        edge = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, state, age = edge.get(self.path)
                self.send_response(200)
                self.send_header("X-Cache", state)
                self.send_header("Age", str(age))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            # PURGE is not a standard HTTP method. Fastly accepts it to
            # purge one URL, and a Varnish cache can be configured to.
            def do_PURGE(self) -> None:
                found = edge.purge(self.path)
                self.send_response(200 if found else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Start an HTTP server on a loopback port the kernel picks."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def client_get(edge_url: str, path: str) -> tuple[str, str, str]:
    """A user in the edge's region: GET through the edge."""
    with OPENER.open(edge_url + path) as resp:
        body = resp.read().decode()
        return body, resp.headers["X-Cache"], resp.headers["Age"]


def purge(edge_url: str, path: str) -> int:
    req = urllib.request.Request(edge_url + path, method="PURGE")
    with OPENER.open(req) as resp:
        return resp.status


def main() -> None:
    clock = FakeClock()
    origin = Origin()
    origin_server = serve(origin.handler())

    # Two regions: one 10 ms from the origin, one 80 ms away.
    edges = {
        "near": Edge("near", url(origin_server), 0.010, clock),
        "far": Edge("far", url(origin_server), 0.080, clock),
    }
    edge_urls = {name: url(serve(e.handler())) for name, e in edges.items()}

    def get(t: float, region: str, path: str) -> None:
        clock.t = t
        body, state, age = client_get(edge_urls[region], path)
        print(
            f"t={t:>2.0f}s {region:>4} GET {path:9} -> {state:4} "
            f'age {age:>2}s "{body}"'
        )

    # Users in both regions fetch two objects: the first request in
    # each region misses, the rest are served by the edge.
    for t, region, path in [
        (0, "near", "/logo.png"),
        (0, "near", "/app.js"),
        (1, "near", "/logo.png"),
        (0, "far", "/logo.png"),
        (2, "far", "/logo.png"),
        (2, "far", "/app.js"),
    ]:
        get(t, region, path)
    # => prints: t= 0s near GET /logo.png -> MISS age  0s "logo.png v1"
    # => prints: t= 0s near GET /app.js   -> MISS age  0s "app.js v1"
    # => prints: t= 1s near GET /logo.png -> HIT  age  1s "logo.png v1"
    # => prints: t= 0s  far GET /logo.png -> MISS age  0s "logo.png v1"
    # => prints: t= 2s  far GET /logo.png -> HIT  age  2s "logo.png v1"
    # => prints: t= 2s  far GET /app.js   -> MISS age  0s "app.js v1"
    print(f"origin requests so far: {origin.requests}")
    # => prints: origin requests so far: 4

    # The origin publishes a new logo. No edge is told, so both keep
    # serving v1 until their copy is 30 s old or is purged.
    clock.t = 10
    print(f"t=10s origin publishes /logo.png v{origin.publish('/logo.png')}")
    # => prints: t=10s origin publishes /logo.png v2
    get(20, "near", "/logo.png")
    get(20, "far", "/logo.png")
    # => prints: t=20s near GET /logo.png -> HIT  age 20s "logo.png v1"
    # => prints: t=20s  far GET /logo.png -> HIT  age 20s "logo.png v1"

    # Purge the logo at the near edge only. Its next request goes to
    # the origin and gets v2; the far edge serves v1 until it expires.
    status = purge(edge_urls["near"], "/logo.png")
    print(f"t=25s PURGE /logo.png at near -> {status}")
    # => prints: t=25s PURGE /logo.png at near -> 200
    get(26, "near", "/logo.png")
    get(26, "far", "/logo.png")
    get(30, "far", "/logo.png")
    # => prints: t=26s near GET /logo.png -> MISS age  0s "logo.png v2"
    # => prints: t=26s  far GET /logo.png -> HIT  age 26s "logo.png v1"
    # => prints: t=30s  far GET /logo.png -> MISS age  0s "logo.png v2"

    for name, e in edges.items():
        print(f"edge {name}: {e.hits} hits, {e.misses} misses")
    # => prints: edge near: 2 hits, 3 misses
    # => prints: edge far: 3 hits, 3 misses
    print(f"origin requests: {origin.requests}")
    # => prints: origin requests: 6

    # On the real clock a miss pays the distance and a hit does not.
    for name in edges:
        timings = []
        for _ in range(2):
            start = time.perf_counter()
            client_get(edge_urls[name], "/timing")
            timings.append(time.perf_counter() - start)
        print(
            f"{name}: miss {timings[0] * 1000:.0f} ms, "
            f"hit {timings[1] * 1000:.0f} ms"
        )
    # => prints: near: miss 12 ms, hit 1 ms (varies)
    # => prints: far: miss 82 ms, hit 1 ms (varies)


if __name__ == "__main__":
    main()
