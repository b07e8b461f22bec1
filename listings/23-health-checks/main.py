"""Health checks: three instances on 127.0.0.1 with /livez and /readyz, a
checker that probes them, and a balancer that routes only to ready ones."""

import http.client
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WARM_UP = 0.2  # seconds a fresh process needs before it can serve
PERIOD = 0.1  # seconds between the starts of two probe rounds
PROBE_TIMEOUT = 0.05  # a probe with no response by then has failed
FAILURE_THRESHOLD = 3  # failed probes in a row before the checker acts
CLIENT_TIMEOUT = 0.1  # a request with no response by then has failed
BATCH = 6  # requests per batch, sent together


class Handler(BaseHTTPRequestHandler):
    """Serves /livez, /readyz and / for the instance that owns the server."""

    server: "InstanceServer"

    def do_GET(self) -> None:
        inst = self.server.instance
        if inst.hung.is_set():
            # => a hung process accepts the connection and never responds
            inst.killed.wait()
            return
        if self.path == "/livez":
            ok = True  # => the process runs, even while it is still cold
        else:
            ok = inst.warm()  # => /readyz and real requests need warm-up
        status, body = (200, b"ok\n") if ok else (503, b"warming up\n")
        try:
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # => the client gave up and closed the connection

    def log_message(self, format: str, *args: object) -> None:
        # Keep the per-request access log off the program's output.
        pass


class InstanceServer(ThreadingHTTPServer):
    """An HTTP server with a reference to the instance it belongs to."""

    daemon_threads = True
    instance: "Instance"


class Instance:
    """One process of the service: an HTTP server on 127.0.0.1 that is cold
    for warm_up seconds after it starts and can be made to hang."""

    def __init__(self, name: str, warm_up: float, port: int = 0) -> None:
        self.name = name
        self.warm_up = warm_up
        self.started = time.monotonic()
        self.hung = threading.Event()
        self.killed = threading.Event()
        self.server = InstanceServer(("127.0.0.1", port), Handler)
        self.server.instance = self
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, args=(0.01,), daemon=True
        ).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def warm(self) -> bool:
        return time.monotonic() - self.started >= self.warm_up

    def kill(self) -> None:
        """Stop the process; its hung handlers return without responding."""
        self.killed.set()
        self.server.shutdown()
        self.server.server_close()


def get(url: str, timeout: float) -> str:
    """Return "ok", or why the request failed: "503", "timeout", "error"."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return "ok"
    except urllib.error.HTTPError as err:
        return str(err.code)
    except (OSError, http.client.HTTPException) as err:
        # => urllib raises TimeoutError itself or wraps it in URLError
        reason = getattr(err, "reason", err)
        return "timeout" if isinstance(reason, TimeoutError) else "error"


class Checker:
    """Probes /livez and /readyz of every instance each PERIOD. An instance
    joins the rotation when /readyz passes and leaves it after
    FAILURE_THRESHOLD failures in a row. FAILURE_THRESHOLD failed /livez
    probes in a row restart it."""

    def __init__(
        self, pool: dict[str, Instance], log: Callable[[str], None]
    ) -> None:
        self.pool = pool
        self.log = log
        self.rotation: set[str] = set()  # => empty until a probe passes
        self.ready_fails: Counter[str] = Counter()
        self.live_fails: Counter[str] = Counter()
        self.changed = threading.Condition()
        self.stopped = threading.Event()
        self.probes = ThreadPoolExecutor(max_workers=2 * len(pool))

    def ready(self) -> list[Instance]:
        """Return the instances in the rotation, by name."""
        with self.changed:
            return [self.pool[n] for n in sorted(self.rotation)]

    def wait_until(self, check: Callable[[set[str]], bool]) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: check(self.rotation), 2.0):
                raise SystemExit(f"rotation stuck at {sorted(self.rotation)}")

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        # => rounds start a PERIOD apart, as on the kubelet's ticker, or
        # at once after a round overran
        next_round = time.monotonic()
        while not self.stopped.is_set():
            self.probe_round()
            next_round = max(next_round + PERIOD, time.monotonic())
            self.stopped.wait(next_round - time.monotonic())

    def probe_round(self) -> None:
        # Probe every endpoint at once, so one hung instance costs the
        # round PROBE_TIMEOUT, not PROBE_TIMEOUT per probe.
        names = sorted(self.pool)
        paths = ("/livez", "/readyz")
        urls = [self.pool[n].url(p) for n in names for p in paths]
        results = list(self.probes.map(lambda u: get(u, PROBE_TIMEOUT), urls))
        for i, name in enumerate(names):
            live, ready = results[2 * i] == "ok", results[2 * i + 1] == "ok"
            with self.changed:
                self.judge(name, live, ready)
                self.changed.notify_all()

    def judge(self, name: str, live: bool, ready: bool) -> None:
        if ready:
            self.ready_fails[name] = 0
            if name not in self.rotation:
                self.rotation.add(name)
                self.log(f"checker: {name} passed /readyz, joins the rotation")
        else:
            self.ready_fails[name] += 1
            out = self.ready_fails[name] >= FAILURE_THRESHOLD
            if out and name in self.rotation:
                # => a failed readiness check removes, it never restarts
                self.rotation.discard(name)
                n = self.ready_fails[name]
                self.log(f"checker: {name} failed /readyz {n} times, removed")
        self.live_fails[name] = 0 if live else self.live_fails[name] + 1
        if self.live_fails[name] >= FAILURE_THRESHOLD:
            # => a failed liveness check restarts: kill the process and
            # start a fresh one on the same port, cold again
            old = self.pool[name]
            old.kill()
            self.pool[name] = Instance(name, WARM_UP, port=old.port)
            self.rotation.discard(name)
            self.live_fails[name] = self.ready_fails[name] = 0
            n = FAILURE_THRESHOLD
            self.log(f"checker: {name} failed /livez {n} times, restarted")

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.probes.shutdown()


class Balancer:
    """Round-robin over the instances that candidates returns."""

    def __init__(self, candidates: Callable[[], list[Instance]]) -> None:
        self.candidates = candidates
        self.next = 0

    def pick(self) -> Instance:
        instances = self.candidates()
        pick = instances[self.next % len(instances)]
        self.next += 1
        return pick


def send_batch(balancer: Balancer, label: str) -> int:
    """Send BATCH requests at once, print how they ended and return the
    number that failed."""
    picked = [balancer.pick() for _ in range(BATCH)]
    with ThreadPoolExecutor(max_workers=BATCH) as senders:
        results = list(
            senders.map(lambda i: get(i.url("/"), CLIENT_TIMEOUT), picked)
        )
    failures = Counter(
        f"{why} from {inst.name}"
        for inst, why in zip(picked, results, strict=True)
        if why != "ok"
    )
    failed = failures.total()
    line = f"{label}: {BATCH - failed} served, {failed} failed"
    if failures:
        line += " (" + ", ".join(f"{k} x{n}" for k, n in failures.items()) + ")"
    print(line)
    return failed


def start_pool() -> dict[str, Instance]:
    # A and B have warmed up; C has just started and needs WARM_UP.
    return {
        "A": Instance("A", 0.0),
        "B": Instance("B", 0.0),
        "C": Instance("C", WARM_UP),
    }


def without_checks() -> int:
    pool = start_pool()
    every = list(pool.values())
    balancer = Balancer(lambda: every)

    # => round-robin over A, B, C: two requests reach C while it is cold
    failed = send_batch(balancer, "no checks, C cold")
    # => prints: no checks, C cold: 4 served, 2 failed (503 from C x2)

    time.sleep(WARM_UP)
    pool["B"].hung.set()
    # => nothing notices the hang, so B keeps its share of every batch
    failed += send_batch(balancer, "no checks, B hung")
    # => prints: no checks, B hung: 4 served, 2 failed (timeout from B x2)
    failed += send_batch(balancer, "no checks, B hung")
    # => prints: no checks, B hung: 4 served, 2 failed (timeout from B x2)

    for inst in every:
        inst.kill()
    return failed


def with_checks() -> int:
    pool = start_pool()
    checker = Checker(pool, print)
    balancer = Balancer(checker.ready)
    started = time.monotonic()
    checker.start()

    # The first probe round passes A and B; C stays out while it is cold.
    checker.wait_until(lambda r: {"A", "B"} <= r)
    # => prints: checker: A passed /readyz, joins the rotation
    # => prints: checker: B passed /readyz, joins the rotation
    failed = send_batch(balancer, "checks, C cold")
    # => prints: checks, C cold: 6 served, 0 failed

    checker.wait_until(lambda r: "C" in r)
    # => prints: checker: C passed /readyz, joins the rotation
    joined = time.monotonic() - started
    print(f"C joined {joined * 1000:.0f} ms after it started")
    # => prints: C joined 205 ms after it started (varies)

    # B hangs. Until FAILURE_THRESHOLD probes in a row have failed, the
    # balancer still sends it a third of the requests.
    hung_at = time.monotonic()
    pool["B"].hung.set()
    failed += send_batch(balancer, "checks, B hung")
    # => prints: checks, B hung: 4 served, 2 failed (timeout from B x2)

    checker.wait_until(lambda r: "B" not in r)
    # => prints: checker: B failed /readyz 3 times, removed
    # => prints: checker: B failed /livez 3 times, restarted
    gone = time.monotonic() - hung_at
    print(f"B left the rotation {gone * 1000:.0f} ms after it hung")
    # => prints: B left the rotation 350 ms after it hung (varies)

    # The fresh B is cold: it rejoins only when its /readyz passes.
    checker.wait_until(lambda r: "B" in r)
    # => prints: checker: B passed /readyz, joins the rotation
    failed += send_batch(balancer, "checks, B restarted")
    # => prints: checks, B restarted: 6 served, 0 failed

    checker.stop()
    for inst in pool.values():
        inst.kill()
    return failed


def main() -> None:
    without = without_checks()
    with_ = with_checks()
    print(f"failed of {3 * BATCH}: {without} without checks, {with_} with")
    # => prints: failed of 18: 6 without checks, 2 with


if __name__ == "__main__":
    main()
