"""HTTP methods and status codes: a small /orders server on 127.0.0.1 and a
client that sends it every method, then repeats PUT, DELETE and POST."""

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

COLLECTION_ALLOW = "GET, HEAD, POST, OPTIONS"
ITEM_ALLOW = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"

# The resource state: order id -> quantity. One lock guards it, because
# ThreadingHTTPServer handles each connection on its own thread.
orders = {1: 1, 2: 2, 3: 3}
next_id = 4
lock = threading.Lock()


def listing() -> str:
    items = ",".join(f'"{i}":{q}' for i, q in sorted(orders.items()))
    return "{" + items + "}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # => keep stdout for the client's lines

    # Every response goes through here. A HEAD response sends the headers a
    # GET would, Content-Length included, and no body.
    def reply(self, status: int, body: str = "", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        data = body.encode()
        if status != 204:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def read_json(self) -> dict | None:
        length = int(self.headers.get("Content-Length", 0))
        try:
            value = json.loads(self.rfile.read(length))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    # One method for all verbs: route on the path first, then on the method,
    # so a known path with the wrong method gets 405, not 404.
    def route(self) -> None:
        global next_id
        method = self.command
        # self.path includes the query string, so route on the path alone, as
        # Go's r.URL.Path does.
        path = urlsplit(self.path).path
        if path == "/orders":
            if method in ("GET", "HEAD"):
                return self.reply(200, listing())
            if method == "OPTIONS":
                return self.reply(204, Allow=COLLECTION_ALLOW)
            if method != "POST":
                # => RFC 9110: a 405 must list the allowed methods
                return self.reply(405, Allow=COLLECTION_ALLOW)
            body = self.read_json()
            if body is None or not isinstance(body.get("qty"), int):
                return self.reply(400, '{"error":"qty must be a number"}')
            order_id, next_id = next_id, next_id + 1
            orders[order_id] = body["qty"]
            # => 201 Created names the new resource in Location
            return self.reply(201, Location=f"/orders/{order_id}")

        prefix, _, tail = path.rpartition("/")
        if prefix != "/orders":
            return self.reply(404, '{"error":"no such resource"}')
        if not tail.isdigit():
            # => 400: the request is malformed, not the order missing
            return self.reply(400, '{"error":"id must be a number"}')
        order_id = int(tail)
        if method == "OPTIONS":
            return self.reply(204, Allow=ITEM_ALLOW)
        if method == "POST":
            return self.reply(405, Allow=ITEM_ALLOW)
        if method == "PUT":
            # PUT replaces the whole state, creating the order if needed,
            # so sending it twice leaves the same state as sending it once.
            body = self.read_json()
            if body is None or not isinstance(body.get("qty"), int):
                return self.reply(400, '{"error":"qty must be a number"}')
            created = order_id not in orders
            orders[order_id] = body["qty"]
            if created:
                return self.reply(201, Location=f"/orders/{order_id}")
            return self.reply(200, f'{{"id":{order_id},"qty":{body["qty"]}}}')
        if order_id not in orders:
            return self.reply(404, '{"error":"order not found"}')
        if method == "PATCH":
            # => this patch format adds to the quantity: not idempotent
            body = self.read_json()
            if body is None or not isinstance(body.get("add"), int):
                return self.reply(400, '{"error":"add must be a number"}')
            orders[order_id] += body["add"]
        if method == "DELETE":
            del orders[order_id]
            return self.reply(204)  # => success, and no body to send
        qty = orders[order_id]
        return self.reply(200, f'{{"id":{order_id},"qty":{qty}}}')

    def handle_one(self) -> None:
        with lock:
            self.route()

    do_GET = do_HEAD = do_POST = do_PUT = handle_one
    do_PATCH = do_DELETE = do_OPTIONS = handle_one


# Send one request and print its status line, the headers that matter for
# it, and the body. Returns the status code.
def send(
    address: tuple[str, int],
    method: str,
    path: str,
    body: str = "",
    label: str = "",
) -> int:
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        conn.request(method, path, body=body or None)
        resp = conn.getresponse()
        data = resp.read().decode()
    finally:
        conn.close()
    print(f"{label}{method} {path} -> {resp.status} {resp.reason}")
    for name in ("Location", "Allow"):
        if value := resp.getheader(name):
            print(f"  {name}: {value}")
    if method == "HEAD":
        # => the length of the body a GET would return
        print(f"  Content-Length: {resp.getheader('Content-Length')}")
    if data:
        print(f"  body: {data}")
    return resp.status


def main() -> None:
    # Port 0: the kernel picks a free port on 127.0.0.1.
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = server.server_address[:2]

    send(address, "GET", "/orders")
    # => prints: GET /orders -> 200 OK
    # => prints:   body: {"1":1,"2":2,"3":3}
    send(address, "GET", "/orders/1")
    # => prints: GET /orders/1 -> 200 OK
    # => prints:   body: {"id":1,"qty":1}

    # HEAD returns GET's headers without the body: a cheap existence and
    # size check.
    send(address, "HEAD", "/orders/1")
    # => prints: HEAD /orders/1 -> 200 OK
    # => prints:   Content-Length: 16

    send(address, "POST", "/orders", '{"qty":2}')
    # => prints: POST /orders -> 201 Created
    # => prints:   Location: /orders/4
    send(address, "PUT", "/orders/2", '{"qty":5}')
    # => prints: PUT /orders/2 -> 200 OK
    # => prints:   body: {"id":2,"qty":5}
    send(address, "PATCH", "/orders/2", '{"add":1}')
    # => prints: PATCH /orders/2 -> 200 OK
    # => prints:   body: {"id":2,"qty":6}
    send(address, "DELETE", "/orders/3")
    # => prints: DELETE /orders/3 -> 204 No Content

    # Errors: a missing order, a malformed id, a method the path does not
    # support, and OPTIONS to ask which methods it does.
    send(address, "GET", "/orders/3")
    # => prints: GET /orders/3 -> 404 Not Found
    # => prints:   body: {"error":"order not found"}
    send(address, "GET", "/orders/abc")
    # => prints: GET /orders/abc -> 400 Bad Request
    send(address, "DELETE", "/orders")
    # => prints: DELETE /orders -> 405 Method Not Allowed
    # => prints:   Allow: GET, HEAD, POST, OPTIONS
    send(address, "OPTIONS", "/orders/1")
    # => prints: OPTIONS /orders/1 -> 204 No Content
    # => prints:   Allow: GET, HEAD, PUT, PATCH, DELETE, OPTIONS

    # Repeat the writes, as a client retrying after a timeout would.
    # PUT and DELETE leave the state as it was after the first send; the
    # second DELETE gets 404, but nothing changes. POST creates order 5.
    again = "again: "
    send(address, "PUT", "/orders/2", '{"qty":5}', again)
    # => prints: again: PUT /orders/2 -> 200 OK
    send(address, "DELETE", "/orders/3", label=again)
    # => prints: again: DELETE /orders/3 -> 404 Not Found
    send(address, "POST", "/orders", '{"qty":2}', again)
    # => prints: again: POST /orders -> 201 Created
    # => prints:   Location: /orders/5
    send(address, "GET", "/orders", label="after: ")
    # => prints: after: GET /orders -> 200 OK
    # => prints:   body: {"1":1,"2":5,"4":2,"5":2}
    # => PATCH was not repeated: a second {"add":1} would make qty 7

    server.shutdown()


if __name__ == "__main__":
    main()
