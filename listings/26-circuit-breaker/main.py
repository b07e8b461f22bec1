"""Circuit breaker: a client calls a real HTTP dependency on 127.0.0.1
that stalls for a while, first without a breaker and then through one."""

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIMEOUT = 0.1  # seconds: the client gives up after this
STALL = 0.3  # seconds: a failing dependency responds late
OPEN_FOR = 0.5  # seconds: the breaker sheds calls this long

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class OpenError(Exception):
    """Raised for a shed call, which never reaches the dependency."""


class Breaker:
    """Opens when at least threshold of the last window calls failed,
    sheds every call while open, then lets probes through half-open."""

    def __init__(
        self,
        window: int,
        threshold: float,
        open_for: float,
        probes: int,
        on_change: Callable[[str, str, str], None],
    ) -> None:
        self.window = window
        self.threshold = threshold  # failure fraction that opens it
        self.open_for = open_for
        self.probes = probes  # calls a half-open breaker lets through
        self.on_change = on_change
        self.lock = threading.Lock()
        self.state = CLOSED
        self.outcomes: list[bool] = []  # last window outcomes, True = failed
        self.opened_at = 0.0
        self.sent = 0  # probes sent in this half-open period
        self.passed = 0  # probes that succeeded in this half-open period
        # period counts state changes. A call remembers the period it
        # started in, so a late response from an earlier period is ignored.
        self.period = 0

    def _allow(self) -> int | None:
        """Return the period a call may start in, or None to shed it."""
        with self.lock:
            # => the open period ends at the first call after open_for, so
            # an idle breaker needs no timer
            elapsed = time.monotonic() - self.opened_at
            if self.state == OPEN and elapsed >= self.open_for:
                self._move(HALF_OPEN, "open period over")
            if self.state == CLOSED:
                return self.period
            if self.state == HALF_OPEN and self.sent < self.probes:
                self.sent += 1
                return self.period
            return None  # => open, or half-open with every probe out

    def _record(self, period: int, failed: bool) -> None:
        with self.lock:
            if period != self.period:
                return
            if self.state == CLOSED:
                self.outcomes = (self.outcomes + [failed])[-self.window :]
                n = sum(self.outcomes)
                # => judge only a full window: one early failure is not 100%
                full = len(self.outcomes) == self.window
                if full and n >= self.threshold * self.window:
                    why = f"{n} of the last {self.window} calls failed"
                    self._move(OPEN, why)
            elif self.state == HALF_OPEN:
                if failed:
                    self._move(OPEN, "the probe failed")
                    return
                self.passed += 1
                if self.passed == self.probes:
                    self._move(CLOSED, "the probe succeeded")

    def _move(self, to: str, why: str) -> None:
        # Change state and start a new period with fresh counts.
        was = self.state
        self.state, self.period = to, self.period + 1
        self.outcomes, self.sent, self.passed = [], 0, 0
        if to == OPEN:
            self.opened_at = time.monotonic()
        self.on_change(was, to, why)

    def call(self, fn: Callable[[], None]) -> None:
        """Run fn through the breaker, or raise OpenError at once."""
        period = self._allow()
        if period is None:
            raise OpenError("circuit open: call shed")
        try:
            fn()
        except Exception:
            self._record(period, True)
            raise
        self._record(period, False)


class Dependency(BaseHTTPRequestHandler):
    """Responds at once while healthy, and stalls for 300 ms while
    failing, three times the client's timeout."""

    failing = threading.Event()

    def do_GET(self) -> None:
        if self.failing.is_set():
            time.sleep(STALL)
            status, body = 503, b"too late\n"
        else:
            status, body = 200, b"ok\n"
        try:
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # => the client gave up and closed the connection

    def log_message(self, format: str, *args: object) -> None:
        # Keep the per-request access log off the program's output.
        pass


def get(url: str) -> None:
    """Call the dependency once; a timeout or a 5xx raises."""
    with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
        resp.read()


def is_timeout(err: Exception) -> bool:
    # => urllib raises TimeoutError itself, or wraps it in URLError
    reason = getattr(err, "reason", None)
    return isinstance(err, TimeoutError) or isinstance(reason, TimeoutError)


@dataclass
class Tally:
    """How the calls of one phase ended and how long they took."""

    ok: int = 0
    timed_out: int = 0
    shed: int = 0
    waited: float = 0.0
    max_shed: float = 0.0

    def add(self, err: Exception | None, took: float) -> None:
        self.waited += took
        if err is None:
            self.ok += 1
        elif isinstance(err, OpenError):
            self.shed += 1
            self.max_shed = max(self.max_shed, took)
        elif is_timeout(err):
            self.timed_out += 1
        else:
            raise SystemExit(f"unexpected call error: {err!r}")


def run(n: int, breaker: Breaker | None, url: str) -> Tally:
    """Make n calls one after another, through the breaker if given."""
    t = Tally()
    for _ in range(n):
        start = time.monotonic()
        err = None
        try:
            if breaker is None:
                get(url)
            else:
                breaker.call(lambda: get(url))
        except (OpenError, urllib.error.URLError, TimeoutError) as e:
            err = e
        t.add(err, time.monotonic() - start)
    return t


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Dependency)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}/"

    # Without a breaker, every call to the stalled dependency waits for
    # the full timeout before it fails.
    Dependency.failing.set()
    t = run(10, None, url)
    print(
        f"no breaker: {t.timed_out} timed out, callers waited {t.waited:.1f} s"
    )
    # => prints: no breaker: 10 timed out, callers waited 1.0 s (varies)

    # The breaker: a window of 4 calls, open at 50% failures, stay open
    # for 500 ms, then let 1 probe through.
    changes = 0

    def on_change(was: str, to: str, why: str) -> None:
        nonlocal changes
        changes += 1
        print(f"change {changes}: {was} -> {to} ({why})")

    b = Breaker(
        window=4,
        threshold=0.5,
        open_for=OPEN_FOR,
        probes=1,
        on_change=on_change,
    )
    Dependency.failing.clear()
    t = run(5, b, url)
    print(f"healthy: {t.ok} succeeded")
    # => prints: healthy: 5 succeeded

    # Two timeouts make 2 failures in a window of 4: the breaker opens,
    # and the next 8 calls fail at once without touching the dependency.
    Dependency.failing.set()
    t = run(10, b, url)
    # => prints: change 1: closed -> open (2 of the last 4 calls failed)
    print(f"failing: {t.timed_out} timed out, {t.shed} shed")
    # => prints: failing: 2 timed out, 8 shed
    print(f"a shed call took at most {t.max_shed * 1e6:.1f} µs")
    # => prints: a shed call took at most 3.0 µs (varies)

    # After the open period the next call is a probe. The dependency is
    # still stalled, so the probe times out and the breaker opens again.
    time.sleep(OPEN_FOR + 0.1)
    t = run(4, b, url)
    # => prints: change 2: open -> half-open (open period over)
    # => prints: change 3: half-open -> open (the probe failed)
    print(f"still failing: {t.timed_out} probe timed out, {t.shed} shed")
    # => prints: still failing: 1 probe timed out, 3 shed

    # The dependency recovers. One successful probe closes the breaker.
    Dependency.failing.clear()
    time.sleep(OPEN_FOR + 0.1)
    t = run(5, b, url)
    # => prints: change 4: open -> half-open (open period over)
    # => prints: change 5: half-open -> closed (the probe succeeded)
    print(f"recovered: {t.ok} succeeded, {t.shed} shed")
    # => prints: recovered: 5 succeeded, 0 shed

    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
