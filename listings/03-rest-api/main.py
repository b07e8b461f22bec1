"""REST API design: a resource-oriented /orders API next to RPC-style
endpoints on the same 127.0.0.1 server, and a client that uses both."""

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_LIMIT = 100

# Order id -> status. One lock guards it, because ThreadingHTTPServer
# handles each connection on its own thread.
orders = {1: "open", 2: "shipped", 3: "open"}
next_id = 4
lock = threading.Lock()


def order_json(order_id: int) -> str:
    return f'{{"id":{order_id},"status":"{orders[order_id]}"}}'


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # => keep stdout for the client's lines

    def reply(self, status: int, body: str = "", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        data = body.encode()
        if status != 204:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # A HEAD response carries GET's headers, Content-Length included.
        if self.command != "HEAD":
            self.wfile.write(data)

    def read_json(self) -> dict:
        length = int(self.headers.get("Content-Length", 0))
        try:
            value = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def route(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/rpc/"):
            return self.rpc(url.path, parse_qs(url.query))
        if url.path == "/orders":
            return self.collection(parse_qs(url.query))
        prefix, _, tail = url.path.rpartition("/")
        if prefix != "/orders":
            return self.reply(404, '{"error":"no such resource"}')
        if not tail.isdigit():
            return self.reply(400, '{"error":"id must be a number"}')
        self.item(int(tail))

    # /orders: GET and HEAD list with a filter and a limit, POST creates.
    def collection(self, query: dict[str, list[str]]) -> None:
        global next_id
        if self.command == "POST":
            order_id, next_id = next_id, next_id + 1
            orders[order_id] = "open"
            # => 201 with Location: the client learns the new URL at once
            body = order_json(order_id)
            return self.reply(201, body, Location=f"/orders/{order_id}")
        if self.command not in ("GET", "HEAD"):
            return self.reply(405, Allow="GET, HEAD, POST")
        limit = query.get("limit", [str(MAX_LIMIT)])[0]
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            # => 400 names the parameter and the valid range
            return self.reply(400, '{"error":"limit must be 1 to 100"}')
        status = query.get("status", [None])[0]
        ids = [i for i in sorted(orders) if status in (None, orders[i])]
        shown = ",".join(str(i) for i in ids[: int(limit)])
        self.reply(200, f'{{"ids":[{shown}]}}')

    # /orders/{id}: the method names the action on this one order.
    def item(self, order_id: int) -> None:
        if self.command not in ("GET", "HEAD", "PATCH", "DELETE"):
            return self.reply(405, Allow="GET, HEAD, PATCH, DELETE")
        if order_id not in orders:
            # => 404: the id is well formed, the order does not exist
            return self.reply(404, '{"error":"order not found"}')
        if self.command == "PATCH":
            status = self.read_json().get("status")
            if status not in ("open", "shipped"):
                return self.reply(
                    400, '{"error":"status must be open or shipped"}'
                )
            orders[order_id] = status
        if self.command == "DELETE":
            del orders[order_id]
            return self.reply(204)
        self.reply(200, order_json(order_id))

    # RPC style: a verb in the path, any method, and 200 for every outcome.
    def rpc(self, path: str, query: dict[str, list[str]]) -> None:
        raw_id = query.get("id", [None])[0] or self.read_json().get("id")
        order_id = int(raw_id) if str(raw_id).isdigit() else None
        if order_id not in orders:
            # => the failure hides in a 200: monitors count it as success
            return self.reply(200, '{"error":"order not found"}')
        if path == "/rpc/getOrder":
            return self.reply(200, order_json(order_id))
        if path == "/rpc/deleteOrder":
            # => runs for GET too: a crawler or prefetcher deletes orders
            del orders[order_id]
            return self.reply(200, '{"ok":true}')
        self.reply(200, '{"error":"unknown procedure"}')

    def handle_one(self) -> None:
        with lock:
            self.route()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one


def send(
    address: tuple[str, int], method: str, path: str, body: str = ""
) -> None:
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        conn.request(method, path, body=body or None)
        resp = conn.getresponse()
        data = resp.read().decode()
    finally:
        conn.close()
    print(f"{method} {path} {body}".rstrip())
    location = resp.getheader("Location")
    extra = f" Location: {location}" if location else ""
    print(f"  -> {resp.status} {resp.reason}{extra} {data}".rstrip())


def main() -> None:
    # Port 0: the kernel picks a free port on 127.0.0.1.
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = server.server_address[:2]

    print("== resource-oriented ==")
    send(address, "POST", "/orders")
    # => prints: POST /orders
    # => prints:   -> 201 Created Location: /orders/4 {"id":4,"status":"open"}

    # A filter and a limit on the results are query parameters on the
    # collection. Order 4 is open too, but limit=2 stops at two ids.
    send(address, "GET", "/orders?status=open&limit=2")
    # => prints: GET /orders?status=open&limit=2
    # => prints:   -> 200 OK {"ids":[1,3]}
    send(address, "GET", "/orders?limit=0")
    # => prints: GET /orders?limit=0
    # => prints:   -> 400 Bad Request {"error":"limit must be 1 to 100"}

    # 404 and 400 tell the client different things: the order is gone, or
    # the request itself is wrong and retrying it will not help.
    send(address, "GET", "/orders/9")
    # => prints: GET /orders/9
    # => prints:   -> 404 Not Found {"error":"order not found"}
    send(address, "GET", "/orders/x")
    # => prints: GET /orders/x
    # => prints:   -> 400 Bad Request {"error":"id must be a number"}

    # HEAD gets GET's status and headers without the body.
    send(address, "HEAD", "/orders/3")
    # => prints: HEAD /orders/3
    # => prints:   -> 200 OK

    send(address, "PATCH", "/orders/1", '{"status":"shipped"}')
    # => prints: PATCH /orders/1 {"status":"shipped"}
    # => prints:   -> 200 OK {"id":1,"status":"shipped"}
    send(address, "DELETE", "/orders/1")
    # => prints: DELETE /orders/1
    # => prints:   -> 204 No Content

    print("== RPC-style ==")
    send(address, "POST", "/rpc/getOrder", '{"id":9}')
    # => prints: POST /rpc/getOrder {"id":9}
    # => prints:   -> 200 OK {"error":"order not found"}

    # A crawler follows every link on an admin page with GET. The RPC
    # delete link runs its side effect, and the order is gone.
    for link in ("/orders/2", "/rpc/deleteOrder?id=2"):
        send(address, "GET", link)
    # => prints: GET /orders/2
    # => prints:   -> 200 OK {"id":2,"status":"shipped"}
    # => prints: GET /rpc/deleteOrder?id=2
    # => prints:   -> 200 OK {"ok":true}
    send(address, "GET", "/orders")
    # => prints: GET /orders
    # => prints:   -> 200 OK {"ids":[3,4]}

    server.shutdown()


if __name__ == "__main__":
    main()
