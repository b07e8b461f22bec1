"""Token bucket rate limiter: a burst up to capacity, then a steady refill,
first on a hand-driven clock and then in front of a real HTTP server."""

import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Bucket:
    """Holds up to capacity tokens and gains rate tokens per second.

    Every request takes one token or is rejected. The clock is a function
    the caller passes in, so a program can drive time by hand.
    """

    def __init__(
        self, capacity: int, rate: float, now: Callable[[], float]
    ) -> None:
        # => starts full, so a client that has been quiet may burst at once
        self.capacity = float(capacity)
        self.rate = rate  # tokens per second
        self.tokens = float(capacity)  # level at the last refill
        self.now = now  # seconds since some fixed start
        self.last = now()  # clock reading at the last refill
        # The HTTP server calls allow() from several threads at once.
        self.lock = threading.Lock()

    def _refill(self) -> None:
        # Add the tokens earned since the last call, capped at capacity.
        # No timer runs in the background: the level is worked out on demand.
        t = self.now()
        # => min is the cap: tokens earned beyond capacity are lost
        self.tokens = min(
            self.capacity, self.tokens + (t - self.last) * self.rate
        )
        self.last = t

    def allow(self) -> tuple[bool, float]:
        """Take one token if a whole token is there.

        Otherwise return how many seconds remain until there will be one.
        """
        with self.lock:
            self._refill()
            if self.tokens >= 1:
                self.tokens -= 1
                return True, 0.0
            # => 0.4 tokens at 1 token/s means a whole token in 0.6 s
            return False, (1 - self.tokens) / self.rate

    def level(self) -> float:
        """Return the level now, fractions included."""
        with self.lock:
            self._refill()
            return self.tokens


class FakeClock:
    """A clock that moves only when the program advances it."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def verdict(ok: bool) -> str:
    return "accepted" if ok else "rejected"


def simulate() -> None:
    # Capacity 5, refill 1 token per second, on a clock we move by hand,
    # so every line below prints the same on every run.
    clock = FakeClock()
    b = Bucket(5, 1.0, clock.now)

    # Eight requests in the same instant: the bucket pays for five of
    # them out of its stored tokens and has nothing left for the rest.
    for i in range(1, 9):
        ok, _ = b.allow()
        print(f"burst: request {i} {verdict(ok)}, {b.level():.1f} tokens left")
    # => prints: burst: request 1 accepted, 4.0 tokens left
    # => prints: burst: request 2 accepted, 3.0 tokens left
    # => prints: burst: request 3 accepted, 2.0 tokens left
    # => prints: burst: request 4 accepted, 1.0 tokens left
    # => prints: burst: request 5 accepted, 0.0 tokens left
    # => prints: burst: request 6 rejected, 0.0 tokens left
    # => prints: burst: request 7 rejected, 0.0 tokens left
    # => prints: burst: request 8 rejected, 0.0 tokens left

    # Half a second later half a token has come back. Half a token is
    # not a token: the request is rejected, with the wait it needs.
    clock.advance(0.5)
    ok, wait = b.allow()  # => False, 0.5
    print(f"t=0.5s: {verdict(ok)}, retry in {wait:.1f} s")
    # => prints: t=0.5s: rejected, retry in 0.5 s

    # At t=1.0s the first whole token is back and pays for one request.
    clock.advance(0.5)
    ok, _ = b.allow()  # => True: the token is spent at once
    print(f"t=1.0s: {verdict(ok)}, {b.level():.1f} tokens left")
    # => prints: t=1.0s: accepted, 0.0 tokens left

    # Tokens pile up while no requests arrive, but never beyond capacity: a
    # client idle for a minute still gets a burst of 5, not of 60.
    clock.advance(3)
    print(f"t=4.0s: {b.level():.1f} tokens after 3 s idle")
    # => prints: t=4.0s: 3.0 tokens after 3 s idle
    clock.advance(56)
    print(f"t=60.0s: {b.level():.1f} tokens, the capacity")
    # => prints: t=60.0s: 5.0 tokens, the capacity

    # Now a client sends 4 requests per second for 20 s. The first 10 s
    # spend the stored burst on top of the refill; after that the
    # accepted rate is the refill rate, 1 per second.
    for part in range(2):
        accepted = 0
        for _ in range(40):
            ok, _ = b.allow()
            accepted += ok
            clock.advance(0.25)
        start, end = part * 10, part * 10 + 10
        print(
            f"seconds {start}-{end} at 4/s: {accepted} of 40 accepted, "
            f"{accepted / 10:.2f}/s"
        )
    # => prints: seconds 0-10 at 4/s: 14 of 40 accepted, 1.40/s
    # => prints: seconds 10-20 at 4/s: 10 of 40 accepted, 1.00/s


class Limited(BaseHTTPRequestHandler):
    """Responds with 429 Too Many Requests while the bucket is empty, with
    Retry-After set to the whole seconds until the next token."""

    bucket: Bucket  # set on a subclass before the server starts

    def do_GET(self) -> None:
        ok, wait = self.bucket.allow()
        if not ok:
            # => Retry-After takes whole seconds, so round up, never down:
            # a client that comes back early is rejected again.
            self.send_response(429)
            self.send_header("Retry-After", str(math.ceil(wait)))
            self.end_headers()
            self.wfile.write(b"rate limit exceeded\n")
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello\n")

    def log_message(self, format: str, *args: object) -> None:
        # Keep the per-request access log off the program's output.
        pass


def get(url: str) -> tuple[str, str | None]:
    """Send one request and return the status line and Retry-After."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            resp.read()
            return f"{resp.status} {resp.reason}", None
    except urllib.error.HTTPError as err:
        # => urllib raises HTTPError on 4xx, but a 429 here is expected
        err.read()
        return f"{err.code} {err.reason}", err.headers.get("Retry-After")


def serve() -> None:
    # The same bucket on the real clock, in front of a real server on a
    # loopback port that the kernel picks.
    start = time.monotonic()

    class Handler(Limited):
        bucket = Bucket(5, 1.0, lambda: time.monotonic() - start)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}/"

    # Seven requests back to back: five tokens, then two 429s.
    retry = ""
    for i in range(1, 8):
        status, after = get(url)
        if after is None:
            print(f"GET / #{i}: {status}")
            continue
        retry = after
        print(f"GET / #{i}: {status}, Retry-After: {after}")
    # => prints: GET / #1: 200 OK
    # => prints: GET / #2: 200 OK
    # => prints: GET / #3: 200 OK
    # => prints: GET / #4: 200 OK
    # => prints: GET / #5: 200 OK
    # => prints: GET / #6: 429 Too Many Requests, Retry-After: 1
    # => prints: GET / #7: 429 Too Many Requests, Retry-After: 1

    # A well-behaved client waits as long as the server asked, and its
    # next request finds a token.
    seconds = int(retry)
    time.sleep(seconds)
    status, _ = get(url)
    print(f"GET / #8 after {seconds} s: {status}")
    # => prints: GET / #8 after 1 s: 200 OK

    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    simulate()
    serve()
