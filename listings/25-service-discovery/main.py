"""Service discovery: a registry with heartbeats and a TTL, instances that
register with it, and a client that caches the registry's list and
round-robins over it. Every part is a real HTTP server on 127.0.0.1."""

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TTL = 0.3  # seconds without a heartbeat before the registry drops one
HEARTBEAT = 0.1  # seconds between an instance's heartbeats
REFRESH = 0.2  # seconds between the client's fetches of the list
DRAIN = 0.4  # seconds a stopping instance serves after deregistering
GAP = 0.02  # seconds between the client's requests
TIMEOUT = 0.1  # seconds before a request to an instance gives up
REGISTRY_TIMEOUT = 0.5  # seconds before a call to the registry gives up


class Registry:
    """Leases by instance id: the address and the last heartbeat's time.
    A reaper drops every lease that has gone a TTL without a heartbeat."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.leases: dict[str, tuple[str, float]] = {}
        self.dropped: dict[str, float] = {}  # id -> when its lease expired
        self.stop = threading.Event()
        threading.Thread(target=self._reap, daemon=True).start()

    def register(self, id: str, addr: str) -> None:
        with self.lock:
            self.leases[id] = (addr, time.monotonic())

    def heartbeat(self, id: str) -> bool:
        with self.lock:
            if id not in self.leases:
                return False  # => expired: the instance must register again
            addr, _ = self.leases[id]
            self.leases[id] = (addr, time.monotonic())
            return True

    def deregister(self, id: str) -> None:
        with self.lock:
            self.leases.pop(id, None)

    def instances(self) -> list[dict[str, str]]:
        with self.lock:
            return [
                {"id": id, "addr": addr}
                for id, (addr, _) in sorted(self.leases.items())
            ]

    def _reap(self) -> None:
        while not self.stop.wait(0.01):
            now = time.monotonic()
            with self.lock:
                for id, (_, seen) in list(self.leases.items()):
                    if now - seen > TTL:
                        del self.leases[id]
                        self.dropped[id] = now


class RegistryAPI(BaseHTTPRequestHandler):
    """PUT /services/ID registers, PUT /services/ID/heartbeat renews,
    DELETE /services/ID deregisters, GET /services lists."""

    registry: Registry

    def do_GET(self) -> None:
        if self.path != "/services":
            self._reply(404)
            return
        body = json.dumps(self.registry.instances()).encode()
        self._reply(200, body)

    def do_PUT(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts[0] != "services":
            self._reply(404)
        elif len(parts) == 2:
            size = int(self.headers.get("Content-Length", 0))
            addr = json.loads(self.rfile.read(size))["addr"]
            self.registry.register(parts[1], addr)
            self._reply(200)
        elif len(parts) == 3 and parts[2] == "heartbeat":
            known = self.registry.heartbeat(parts[1])
            self._reply(200 if known else 404)
        else:
            self._reply(404)

    def do_DELETE(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "services":
            self.registry.deregister(parts[1])
            self._reply(204)
        else:
            self._reply(404)

    def _reply(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # => keep the access log off the program's output


def call(method: str, url: str, body: bytes | None = None) -> int:
    """Send one request and return its status; an error status is not an
    exception here, because a 404 heartbeat has a meaning."""
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=REGISTRY_TIMEOUT) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    # => poll often, so shutdown() returns within 10 ms
    loop = threading.Thread(target=server.serve_forever, args=(0.01,))
    loop.daemon = True
    loop.start()
    return server


class Instance:
    """A real HTTP server that returns its id, registers itself and
    sends a heartbeat every HEARTBEAT seconds until it stops."""

    def __init__(self, id: str, registry_url: str) -> None:
        self.id = id
        self.url = f"{registry_url}/services/{id}"

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = id.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = serve(Handler)
        host, port = self.server.server_address[:2]
        self.body = json.dumps({"addr": f"{host}:{port}"}).encode()
        self.stopped = threading.Event()
        self.register()
        self.beats = threading.Thread(target=self._heartbeat, daemon=True)
        self.beats.start()

    def register(self) -> None:
        call("PUT", self.url, self.body)

    def _heartbeat(self) -> None:
        while not self.stopped.wait(HEARTBEAT):
            if call("PUT", self.url + "/heartbeat") == 404:
                self.register()  # => the lease expired: register again

    def crash(self) -> None:
        # => no deregister: the process is gone, only the TTL notices
        self.stopped.set()
        self.beats.join()
        self.server.shutdown()
        self.server.server_close()

    def stop_gracefully(self) -> None:
        # => deregister first, serve while clients refresh, then exit
        self.stopped.set()
        self.beats.join()
        call("DELETE", self.url)
        time.sleep(DRAIN)
        self.server.shutdown()
        self.server.server_close()


class Client:
    """Caches the registry's list, refreshes it every REFRESH seconds and
    sends each request to the next cached instance in turn."""

    def __init__(self, registry_url: str) -> None:
        self.registry_url = registry_url
        self.cache: list[dict[str, str]] = []
        self.cursor = 0
        self.next_refresh = 0.0
        self.dropped: dict[str, float] = {}  # id -> left the cache at
        self.first_ok: dict[str, float] = {}  # id -> first success at
        self.failed: dict[str, int] = {}
        self.sent = 0

    def refresh(self) -> None:
        url = self.registry_url + "/services"
        with urllib.request.urlopen(url, timeout=REGISTRY_TIMEOUT) as resp:
            fresh = json.loads(resp.read())
        now = time.monotonic()
        ids = {inst["id"] for inst in fresh}
        for inst in self.cache:
            if inst["id"] not in ids:
                self.dropped[inst["id"]] = now
        self.cache = fresh
        self.next_refresh = now + REFRESH

    def ids(self) -> str:
        return " ".join(inst["id"] for inst in self.cache)

    def request(self) -> str:
        inst = self.cache[self.cursor % len(self.cache)]
        self.cursor += 1
        self.sent += 1
        try:
            url = f"http://{inst['addr']}/"
            with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
                resp.read()
        except (urllib.error.URLError, TimeoutError):
            # => connection refused: the cache still names a dead instance
            self.failed[inst["id"]] = self.failed.get(inst["id"], 0) + 1
            return "x"
        self.first_ok.setdefault(inst["id"], time.monotonic())
        return inst["id"]

    def run(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if time.monotonic() >= self.next_refresh:
                self.refresh()
            self.request()
            time.sleep(GAP)


def main() -> None:
    registry = Registry()
    RegistryAPI.registry = registry
    server = serve(RegistryAPI)
    host, port = server.server_address[:2]
    registry_url = f"http://{host}:{port}"
    print(f"ttl {TTL * 1000:.0f} ms, heartbeat every {HEARTBEAT * 1000:.0f} ms")
    # => prints: ttl 300 ms, heartbeat every 100 ms

    # Three instances register; the client fetches the list once and
    # round-robins over its cached copy.
    instances = {id: Instance(id, registry_url) for id in "abc"}
    client = Client(registry_url)
    client.refresh()
    print(f"client cache: {client.ids()}")
    # => prints: client cache: a b c
    served_by = " ".join(client.request() for _ in range(6))
    print(f"6 requests: {served_by}")
    # => prints: 6 requests: a b c a b c

    # Crash b. Its heartbeats stop, so the registry drops it within a TTL,
    # but the client keeps sending b a third of its requests until its
    # next refresh after that.
    crashed = time.monotonic()
    instances["b"].crash()
    client.run(0.8)
    dropped = registry.dropped["b"] - crashed
    print(f"b crashed: the registry dropped it after {dropped:.2f} s")
    # => prints: b crashed: the registry dropped it after 0.30 s (varies)
    stale = client.dropped["b"] - crashed
    print(f"the client dropped it after {stale:.2f} s")
    # => prints: the client dropped it after 0.42 s (varies)
    print(f"requests to b that failed: {client.failed['b']}")
    # => prints: requests to b that failed: 6 (varies)
    print(f"client cache: {client.ids()}")
    # => prints: client cache: a c

    # Stop c gracefully: it deregisters, then keeps serving for DRAIN,
    # longer than REFRESH, so the client forgets it before it exits.
    stopping = time.monotonic()
    stopper = threading.Thread(target=instances["c"].stop_gracefully)
    stopper.start()
    client.run(0.6)
    stopper.join()
    forgot = client.dropped["c"] - stopping
    print(f"c stopped: the client dropped it after {forgot:.2f} s")
    # => prints: c stopped: the client dropped it after 0.03 s (varies)
    print(f"requests to c that failed: {client.failed.get('c', 0)}")
    # => prints: requests to c that failed: 0

    # Scale up: d registers at once, but gets traffic only after the
    # client's next refresh.
    started = time.monotonic()
    instances["d"] = Instance("d", registry_url)
    client.run(0.4)
    first = client.first_ok["d"] - started
    print(f"d started: its first request came after {first:.2f} s")
    # => prints: d started: its first request came after 0.07 s (varies)
    print(f"client cache: {client.ids()}")
    # => prints: client cache: a d
    failed = sum(client.failed.values())
    print(f"{client.sent} requests, {failed} failed")
    # => prints: 91 requests, 6 failed (varies)

    for id in "ad":
        instances[id].crash()
    registry.stop.set()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
