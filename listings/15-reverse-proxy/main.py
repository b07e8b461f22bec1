"""Reverse proxy: one address in front of several backends. It routes by
the longest matching path prefix, adds X-Forwarded-For, caches static
files and responds 502 Bad Gateway when a backend is down."""

import http.client
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Hop-by-hop headers describe one connection, so a proxy does not
# forward them: the list Go's httputil.ReverseProxy removes, plus any
# header that the Connection header names.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class Quiet(BaseHTTPRequestHandler):
    """A request handler that does not log every request to stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status: int, body: bytes, headers: dict) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Backend:
    """A server behind the proxy that remembers what it was sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests = 0
        self.xff = ""  # X-Forwarded-For of the last request
        backend = self

        class Handler(Quiet):
            def do_GET(self):
                backend.requests += 1
                backend.xff = self.headers.get("X-Forwarded-For", "")
                headers = {}
                if self.path.startswith("/static/"):
                    headers["Cache-Control"] = "max-age=60"
                body = f"{backend.name} served {self.path}\n".encode()
                self.reply(200, body, headers)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host, self.port = self.server.server_address[:2]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Route:
    """Sends paths that start with prefix to a pool of backends."""

    prefix: str
    pool: list[Backend]
    cached: bool = False  # whether the proxy caches responses here
    next: int = 0  # round-robin position in the pool


def max_age(cache_control: str) -> float:
    """Read max-age=N from a Cache-Control value; 0 means do not store."""
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        if name == "max-age" and value.isdigit():
            return float(value)
    return 0.0


@dataclass
class Proxy:
    """The reverse proxy: a routing table and a cache."""

    routes: list[Route]
    cache: dict[str, tuple[bytes, dict, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def match(self, path: str) -> Route | None:
        """Return the route with the longest prefix of path, or None."""
        matches = [r for r in self.routes if path.startswith(r.prefix)]
        return max(matches, key=lambda r: len(r.prefix), default=None)

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        route = self.match(req.path)
        if route is None:
            req.reply(404, b"not found\n", {})
            return
        with self.lock:
            cached = self.cache.get(req.path) if route.cached else None
            hit = cached is not None and time.monotonic() < cached[2]
            backend = route.pool[route.next % len(route.pool)]
            if not hit:
                route.next += 1
        if hit:
            # => a hit never reaches the static server
            headers = {**cached[1], "X-Route": route.prefix}
            req.reply(200, cached[0], {**headers, "X-Upstream": "cache"})
            return
        mark = {"X-Route": route.prefix, "X-Upstream": backend.name}

        # Forward the end-to-end headers. This proxy is the edge, so any
        # X-Forwarded-For the client sent is forged or meaningless: replace
        # it with the address of the connection, as Go's SetXForwarded does.
        named = req.headers.get("Connection", "").lower().split(",")
        drop = HOP_BY_HOP | {name.strip() for name in named}
        headers = {
            k: v
            for k, v in req.headers.items()
            if k.lower() not in drop and k.lower() != "x-forwarded-for"
        }
        headers["X-Forwarded-For"] = req.client_address[0]
        conn = http.client.HTTPConnection(backend.host, backend.port, timeout=5)
        try:
            conn.request("GET", req.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except OSError:
            # => connection refused: the backend is down
            req.reply(502, b"bad gateway\n", mark)
            return
        finally:
            conn.close()

        response_headers = {
            k: v
            for k, v in resp.getheaders()
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
        }
        age = max_age(resp.getheader("Cache-Control", ""))
        if route.cached and resp.status == 200 and age > 0:
            with self.lock:
                expires = time.monotonic() + age
                self.cache[req.path] = (body, response_headers, expires)
        req.reply(resp.status, body, {**response_headers, **mark})


def main() -> None:
    api1, api2 = Backend("api-1"), Backend("api-2")
    static = Backend("static")

    # /api/ goes to two app servers in turn, /static/ to one file
    # server, and / catches the rest on api-1.
    proxy = Proxy(
        [
            Route("/", [api1]),
            Route("/api/", [api1, api2]),
            Route("/static/", [static], cached=True),
        ]
    )

    class Handler(Quiet):
        def do_GET(self):
            proxy.handle(self)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    base = f"http://{host}:{port}"

    # The client knows only the proxy's address. An empty ProxyHandler
    # keeps any http_proxy setting from sending it elsewhere.
    client = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # Every request claims a client address the proxy must not trust.
    forged = {"X-Forwarded-For": "203.0.113.9"}

    def get(path: str) -> None:
        request = urllib.request.Request(base + path, headers=forged)
        try:
            resp = client.open(request, timeout=5)
        except urllib.error.HTTPError as err:
            resp = err
        resp.read()
        route = resp.headers.get("X-Route", "")
        upstream = resp.headers.get("X-Upstream", "")
        print(
            f"{path:<16} route {route:<9} -> {upstream:<6} "
            f"{resp.status} {resp.reason}"
        )

    get("/api/users")
    # => prints: /api/users       route /api/     -> api-1  200 OK
    get("/api/orders")
    # => prints: /api/orders      route /api/     -> api-2  200 OK
    get("/static/app.js")
    # => prints: /static/app.js   route /static/  -> static 200 OK
    get("/static/app.js")
    # => prints: /static/app.js   route /static/  -> cache  200 OK
    get("/about")
    # => prints: /about           route /         -> api-1  200 OK

    # The backend sees the proxy's connection; the client's address
    # arrives only in the header the proxy set, and the forged one is gone.
    print(f"api-2 saw X-Forwarded-For: {api2.xff}")
    # => prints: api-2 saw X-Forwarded-For: 127.0.0.1

    # Stop api-2. This proxy has no health checks, so the next request
    # round-robin gives api-2 fails with 502.
    api2.stop()
    get("/api/users")
    # => prints: /api/users       route /api/     -> api-1  200 OK
    get("/api/orders")
    # => prints: /api/orders      route /api/     -> api-2  502 Bad Gateway

    print(
        f"requests at backends: api-1 {api1.requests}, "
        f"api-2 {api2.requests}, static {static.requests}"
    )
    # => prints: requests at backends: api-1 3, api-2 1, static 1


if __name__ == "__main__":
    main()
