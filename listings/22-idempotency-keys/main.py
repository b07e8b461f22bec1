"""Idempotency keys: a client retries a payment after a timeout, and a
real HTTP payment server on 127.0.0.1 charges once or twice."""

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIMEOUT = 0.1  # seconds: the client gives up after this
STALL = 0.3  # seconds: the server's slow first response
BACKOFF = 0.05  # seconds: pause before a retry
ATTEMPTS = 3  # attempts per payment, the first included


class PaymentServer(BaseHTTPRequestHandler):
    """Charges a card for every POST /charge. With an Idempotency-Key
    header it stores key -> reply and returns the stored reply for a
    repeat."""

    lock = threading.Lock()
    ledger: list[dict] = []  # one {"charge", "order"} per charge
    keys: dict[str, dict] = {}  # idempotency key -> the first reply
    seen: set[str] = set()  # orders the server has had a request for

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        try:
            order = json.loads(self.rfile.read(length))["order"]
        except (ValueError, KeyError):
            self.reply(400, {"error": "invalid JSON body"})
            return
        key = self.headers.get("Idempotency-Key")

        # Checking the key, charging and storing the reply happen under
        # one lock, so a retry either finds the stored reply or runs first.
        # => a server that charges outside the lock (a slow bank call) must
        # also store "in progress" and answer a retry then with 409 Conflict
        with self.lock:
            stored = self.keys.get(key) if key is not None else None
            if stored is None:
                # The charge itself: one new line in the ledger.
                charge_id = f"ch_{len(self.ledger) + 1}"
                charge = {"charge": charge_id, "order": order}
                self.ledger.append(charge)
                if key is not None:
                    self.keys[key] = charge
                first = order not in self.seen
                self.seen.add(order)
        if stored is not None:
            self.reply(200, {**stored, "replayed": True})
            return

        # The first request for each order is slow to respond after the
        # charge, as a slow bank call or a GC pause would make it. The
        # charge is already in the ledger, but the client will not wait.
        if first:
            time.sleep(STALL)
        self.reply(200, {**charge, "replayed": False})

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # => the client timed out and closed the connection

    def log_message(self, format: str, *args: object) -> None:
        # Keep the per-request access log off the program's output.
        pass


def ledger_for(order: str) -> list[str]:
    """Return the charges made for one order."""
    with PaymentServer.lock:
        return [
            c["charge"] for c in PaymentServer.ledger if c["order"] == order
        ]


def is_timeout(err: Exception) -> bool:
    # => urllib raises TimeoutError itself, or wraps it in URLError
    reason = getattr(err, "reason", None)
    return isinstance(err, TimeoutError) or isinstance(reason, TimeoutError)


def pay(url: str, label: str, order: str, key: str | None) -> None:
    """Send one payment, retrying after a timeout, and print each attempt.

    key is the Idempotency-Key header, or None for none."""
    payload = json.dumps({"order": order, "amount_cents": 500}).encode()
    for attempt in range(1, ATTEMPTS + 1):
        headers = {"Content-Type": "application/json"}
        # => the same key on every attempt: that is what makes a retry
        # recognisable. A real client makes one random key per payment.
        if key is not None:
            headers["Idempotency-Key"] = key
        req = urllib.request.Request(url, payload, headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                reply = json.loads(resp.read())
                status = f"{resp.status} {resp.reason}"
        except (urllib.error.URLError, TimeoutError) as err:
            if not is_timeout(err):
                raise SystemExit(f"POST {url} failed: {err!r}") from err
            print(f"{label}, attempt {attempt}: timed out")
            time.sleep(BACKOFF)
            continue
        note = ", replayed" if reply["replayed"] else ""
        charge = reply["charge"]
        print(f"{label}, attempt {attempt}: {status}, charge {charge}{note}")
        return
    print(f"{label}: gave up after {ATTEMPTS} attempts")


def print_ledger(order: str) -> None:
    ids = ledger_for(order)
    print(f"ledger for {order}: {', '.join(ids)} (charged {len(ids)}x)")


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PaymentServer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}/charge"

    # Without a key the server cannot tell a retry from a new payment.
    # The first attempt charged, its response came too late, and the
    # retry charges the card again.
    pay(url, "no key", "order-1", None)
    # => prints: no key, attempt 1: timed out
    # => prints: no key, attempt 2: 200 OK, charge ch_2
    print_ledger("order-1")
    # => prints: ledger for order-1: ch_1, ch_2 (charged 2x)

    # With a key the retry finds the stored reply, so the customer is
    # charged once and the client learns which charge it was.
    pay(url, "with key", "order-2", "key-order-2")
    # => prints: with key, attempt 1: timed out
    # => prints: with key, attempt 2: 200 OK, charge ch_3, replayed
    print_ledger("order-2")
    # => prints: ledger for order-2: ch_3 (charged 1x)

    # POST is not idempotent by definition, so only the key makes its
    # retry safe. Let the stalled handlers finish before exiting.
    time.sleep(STALL)
    total = len(ledger_for("order-1")) + len(ledger_for("order-2"))
    print(f"2 payments intended, {total} charges made")
    # => prints: 2 payments intended, 3 charges made

    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
