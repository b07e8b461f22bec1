"""Pagination: offset (LIMIT k OFFSET n) and cursor (keyset) paging over a
list that changes between page fetches, then a cursor API over HTTP."""

import base64
import json
import logging
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qs, urlparse


# Row is sorted by (created_at, id) descending, newest first. id breaks
# ties, so the key is unique and a cursor names one exact position.
# Python compares tuples element by element, like SQL's row values in
# WHERE (created_at, id) < (%s, %s).
class Row(NamedTuple):
    created_at: int  # Unix seconds
    id: int


# make_row creates rows in pairs: ids 2j-1 and 2j share one created_at, so
# only the id orders them, and a cursor without the id would skip one.
def make_row(id: int) -> Row:
    return Row(1_700_000_000 + (id + 1) // 2 * 60, id)


class Table:
    """Keeps its rows newest first, like an index on (created_at, id)."""

    def __init__(self, n: int) -> None:
        self.lock = threading.Lock()
        self.rows = [make_row(id) for id in range(n, 0, -1)]

    # insert adds a new row at the top.
    def insert(self, id: int) -> None:
        with self.lock:
            self.rows.insert(0, make_row(id))

    def delete(self, id: int) -> None:
        with self.lock:
            self.rows = [r for r in self.rows if r.id != id]

    # by_offset returns LIMIT k OFFSET n and the rows a database would
    # read: it must walk past the n skipped rows before it returns any.
    def by_offset(self, n: int, k: int) -> tuple[list[Row], int]:
        with self.lock:
            end = min(n + k, len(self.rows))
            return self.rows[n:end], end

    # after returns the k rows below key (all rows from the top when key
    # is None). With an index the database seeks to key and reads k rows.
    def after(self, key: Row | None, k: int) -> list[Row]:
        with self.lock:
            below = (r for r in self.rows if key is None or r < key)
            return [r for _, r in zip(range(k), below, strict=False)]


# script: after page 1 two rows arrive; after page 2 two rows the reader
# has already passed are deleted.
SCRIPT = {1: {"insert": [21, 22]}, 2: {"delete": [19, 18]}}


def ids(rows: list[Row]) -> str:
    return " ".join(str(r.id) for r in rows)


# read pages through a fresh 20-row table with page size 5, applying the
# script between pages, and reports duplicates and misses.
def read(method: str) -> None:
    k = 5
    table = Table(20)
    seen: dict[int, int] = {}
    cursor = None
    page = 1
    while True:
        if method == "offset":
            # => page p skips (p-1)*k rows: the work grows with the page
            rows, scanned = table.by_offset((page - 1) * k, k)
        else:
            rows = table.after(cursor, k)
            scanned = len(rows)
        print(f"{method} page {page}: [{ids(rows)}] scanned {scanned}")
        for r in rows:
            seen[r.id] = seen.get(r.id, 0) + 1
        if len(rows) < k:
            break
        # => the cursor is the last row's full key, not its position
        cursor = rows[-1]
        change = SCRIPT.get(page, {})
        for id in change.get("insert", []):
            table.insert(id)
        for id in change.get("delete", []):
            table.delete(id)
        page += 1

    # A miss is a row that was there for the whole read but never seen.
    gone = {19, 18}
    dups = [str(i) for i in range(20, 0, -1) if seen.get(i, 0) > 1]
    missed = [
        str(i) for i in range(20, 0, -1) if i not in seen and i not in gone
    ]
    dups_text, missed_text = " ".join(dups), " ".join(missed)
    print(f"{method}: duplicates [{dups_text}], missed [{missed_text}]")


# encode_cursor makes the opaque token a client passes back: base64 of the
# last key. Clients must not build or parse it, so the server may change it.
def encode_cursor(r: Row) -> str:
    raw = f"{r.created_at},{r.id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(token: str) -> Row:
    padded = token + "=" * (-len(token) % 4)
    raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    created_at, id = raw.split(",")
    return Row(int(created_at), int(id))


def make_handler(table: Table) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # do_GET serves GET /items?limit=K&cursor=TOKEN.
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            try:
                limit = int(query.get("limit", [""])[0])
            except ValueError:
                limit = 0
            if not 1 <= limit <= 100:
                self.send_error(400, explain="invalid limit: use 1 to 100")
                return
            key = None
            if "cursor" in query:
                token = query["cursor"][0]
                try:
                    key = decode_cursor(token)
                except ValueError as err:
                    logging.warning("rejected cursor %r: %s", token, err)
                    self.send_error(400, explain="invalid cursor")
                    return
            rows = table.after(key, limit)
            # => a full page may have more after it; a short page is the end
            next_cursor = None
            if len(rows) == limit:
                next_cursor = encode_cursor(rows[-1])
            body = json.dumps(
                {"items": [r.id for r in rows], "next_cursor": next_cursor}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # => keep the output to the lines below

    return Handler


# get fetches one page and returns the status line and the decoded body.
def get(base: str, query: str) -> tuple[str, dict]:
    try:
        with urllib.request.urlopen(f"{base}/items?{query}") as resp:
            return f"{resp.status} {resp.reason}", json.load(resp)
    except urllib.error.HTTPError as err:
        return f"{err.code} {err.reason}", {}


def serve_api() -> None:
    table = Table(12)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(table))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    query = "limit=5"
    page = 1
    while True:
        status, body = get(base, query)
        next_cursor = body["next_cursor"] or "none"
        items = " ".join(str(id) for id in body["items"])
        print(f"GET page {page}: {status} [{items}] next={next_cursor}")
        # => prints: GET page 1: 200 OK [12 11 10 9 8] next=MTcwMDAwMDI0MCw4
        # => prints: GET page 2: 200 OK [7 6 5 4 3] next=MTcwMDAwMDEyMCwz
        # => 7 has 8's created_at: only the id in the cursor keeps it
        # => prints: GET page 3: 200 OK [2 1] next=none
        if body["next_cursor"] is None:
            break
        if page == 1:
            raw = base64.urlsafe_b64decode(next_cursor + "==").decode()
            print(f"the cursor decodes to {raw}; new rows now")
            # => prints: the cursor decodes to 1700000240,8; new rows now
            table.insert(13)
            table.insert(14)
        query = f"limit=5&cursor={next_cursor}"
        page += 1

    # A token that does not decode gets 400, and the server logs it to
    # stderr. The token is not signed, so a client can still build a valid
    # one: sign it with an HMAC if clients must not.
    status, _ = get(base, "limit=5&cursor=not-a-cursor!")
    print(f"GET with a malformed cursor: {status}")
    # => prints: GET with a malformed cursor: 400 Bad Request
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    read("offset")
    # => prints: offset page 1: [20 19 18 17 16] scanned 5
    # => prints: offset page 2: [17 16 15 14 13] scanned 10
    # => prints: offset page 3: [10 9 8 7 6] scanned 15
    # => prints: offset page 4: [5 4 3 2 1] scanned 20
    # => prints: offset page 5: [] scanned 20
    # => prints: offset: duplicates [17 16], missed [12 11]
    read("cursor")
    # => prints: cursor page 1: [20 19 18 17 16] scanned 5
    # => prints: cursor page 2: [15 14 13 12 11] scanned 5
    # => prints: cursor page 3: [10 9 8 7 6] scanned 5
    # => prints: cursor page 4: [5 4 3 2 1] scanned 5
    # => prints: cursor page 5: [] scanned 0
    # => prints: cursor: duplicates [], missed []
    serve_api()
