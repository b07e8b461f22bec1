"""Round-robin load balancing: three HTTP backends on 127.0.0.1, a reverse
proxy in front that hands requests to them in turn, and what happens when
one backend stops."""

import http.client
import logging
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# => 10 s, like the default fail_timeout of Nginx's passive health check
DOWN_FOR_S = 10.0


class Quiet(BaseHTTPRequestHandler):
    """A handler that does not log every request to stderr."""

    def log_message(self, format, *args):
        pass

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(handler: type) -> ThreadingHTTPServer:
    """Serve `handler` on a port the kernel picks (port 0) in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Backend:
    """One application server. It answers every request with its number and
    counts the requests it handled."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.handled = 0
        self.lock = threading.Lock()
        backend = self

        class Handler(Quiet):
            def do_GET(self) -> None:
                with backend.lock:
                    backend.handled += 1
                self.reply(200, str(backend.number).encode())

        self.server = serve(Handler)
        self.port = self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Balancer:
    """A reverse proxy that picks a backend for each request in round-robin
    order. With skip_failed, a backend that refuses a connection is skipped
    for DOWN_FOR_S and the request goes to the next one: a passive health
    check."""

    def __init__(self, backends: list[Backend], skip_failed: bool) -> None:
        self.backends = backends
        self.skip_failed = skip_failed
        self.lock = threading.Lock()
        self.next = 0
        self.down_until = [0.0] * len(backends)
        balancer = self

        class Handler(Quiet):
            def do_GET(self) -> None:
                status, body = balancer.forward(self.path)
                self.reply(status, body)

        self.server = serve(Handler)
        self.port = self.server.server_address[1]

    # The next backend in turn, skipping the ones marked down, or None if
    # every backend is down.
    def pick(self) -> int | None:
        with self.lock:
            now = time.monotonic()
            for _ in self.backends:
                i = self.next
                self.next = (self.next + 1) % len(self.backends)
                if now >= self.down_until[i]:
                    return i
            return None

    # A refused connection fails before any byte reaches the backend, so
    # retrying it on the next backend cannot run the request twice.
    def forward(self, path: str) -> tuple[int, bytes]:
        for _ in self.backends:
            i = self.pick()
            if i is None:
                break
            backend = self.backends[i]
            conn = http.client.HTTPConnection("127.0.0.1", backend.port)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                return response.status, response.read()
            except ConnectionRefusedError as err:
                logging.warning("backend %d failed: %s", backend.number, err)
                if not self.skip_failed:
                    # => plain round-robin: the client gets the failure
                    return 502, b"bad gateway"
                with self.lock:
                    self.down_until[i] = time.monotonic() + DOWN_FOR_S
            finally:
                conn.close()
        return 503, b"no backend available"


def send(port: int, n: int) -> list[str]:
    """Make n requests, one after the other, and return the backend number
    each response names, or "x" for a failed request."""
    order = []
    for _ in range(n):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as resp:
                order.append(resp.read().decode())
        except urllib.error.HTTPError:
            order.append("x")
    return order


def summary(order: list[str]) -> str:
    failed = order.count("x")
    ok = len(order) - failed
    return f"order {' '.join(order)}: {ok} ok, {failed} failed"


def main() -> None:
    backends = [Backend(1), Backend(2), Backend(3)]

    # Nine requests through round-robin: each backend gets every third.
    plain = Balancer(backends, skip_failed=False)
    print("all up:", summary(send(plain.port, 9)))
    # => prints: all up: order 1 2 3 1 2 3 1 2 3: 9 ok, 0 failed
    for backend in backends:
        print(f"backend {backend.number} handled {backend.handled}")
    # => prints: backend 1 handled 3
    # => prints: backend 2 handled 3
    # => prints: backend 3 handled 3

    # Stop backend 2. Its port now refuses connections.
    backends[1].stop()

    # Plain round-robin still sends every third request to backend 2, and
    # the client of that request gets a 502 Bad Gateway.
    plain = Balancer(backends, skip_failed=False)
    print("plain:", summary(send(plain.port, 6)))
    # => prints: plain: order 1 x 3 1 x 3: 4 ok, 2 failed

    # With the passive health check, the first request to backend 2 fails
    # over to backend 3, and the rotation skips backend 2 from then on.
    skipping = Balancer(backends, skip_failed=True)
    print("skip failed:", summary(send(skipping.port, 6)))
    # => prints: skip failed: order 1 3 1 3 1 3: 6 ok, 0 failed


if __name__ == "__main__":
    main()
