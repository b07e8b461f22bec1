"""Stateful vs stateless app servers: two app servers behind a balancer on
127.0.0.1 keep a user's log-in session and cart, first in their own memory
with a sticky balancer, then in a small shared key-value store with a
round-robin balancer. One app server stops, and the user's next request
shows whether the session survived."""

import http.client
import http.cookiejar
import logging
import secrets
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Quiet(BaseHTTPRequestHandler):
    """A handler that does not log every request to stderr."""

    def log_message(self, format, *args):
        pass

    def reply(self, status: int, body: str, cookies: list[str] = ()) -> None:
        data = body.encode()
        self.send_response(status)
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def cookie(self, name: str) -> str | None:
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None


def serve(handler: type) -> ThreadingHTTPServer:
    """Serve `handler` on a port the kernel picks (port 0) in a thread. A
    short poll interval lets shutdown() return in 50 ms, not 500."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), daemon=True
    )
    thread.start()
    return server


class Store:
    """A tiny key-value server, standing in for Redis or Memcached: PUT
    stores a value under a key, GET returns it or 404."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.requests = 0
        self.lock = threading.Lock()
        store = self

        class Handler(Quiet):
            def do_GET(self) -> None:
                with store.lock:
                    store.requests += 1
                    value = store.data.get(self.path)
                if value is None:
                    self.reply(404, "not found")
                else:
                    self.reply(200, value)

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                value = self.rfile.read(length).decode()
                with store.lock:
                    store.requests += 1
                    store.data[self.path] = value
                self.reply(204, "")

        self.server = serve(Handler)
        self.port = self.server.server_address[1]


class App:
    """An app server. Its sessions map a session id (the `sid` cookie) to
    the items in that user's cart. With `store_port` None they live in this
    process's memory. Otherwise every request reads and writes them in the
    store, so the app itself keeps nothing between requests."""

    def __init__(self, name: str, store_port: int | None) -> None:
        self.name = name
        self.store_port = store_port
        self.memory: dict[str, list[str]] = {}
        app = self

        class Handler(Quiet):
            def do_POST(self) -> None:
                if self.path == "/login":
                    sid = secrets.token_hex(8)
                    app.save(sid, [])
                    cookie = f"sid={sid}; Path=/; HttpOnly"
                    self.reply(200, f"logged in on {app.name}", [cookie])
                    return
                # POST /cart?item=NAME adds one item to the cart.
                self.cart(self.path.partition("item=")[2])

            def do_GET(self) -> None:
                self.cart(None)

            def cart(self, item: str | None) -> None:
                sid = self.cookie("sid")
                items = app.load(sid) if sid else None
                if items is None:
                    # => the session is gone: the user must log in again
                    self.reply(401, f"{app.name}: no session, log in again")
                    return
                if item:
                    items.append(item)
                    app.save(sid, items)
                self.reply(200, f"{app.name}: cart {', '.join(items)}")

        self.server = serve(Handler)
        self.port = self.server.server_address[1]

    def load(self, sid: str) -> list[str] | None:
        if self.store_port is None:
            return self.memory.get(sid)
        # => stateless: one round trip to the store on every request
        conn = http.client.HTTPConnection("127.0.0.1", self.store_port)
        try:
            conn.request("GET", f"/sessions/{sid}")
            resp = conn.getresponse()
            body = resp.read().decode()
        finally:
            conn.close()
        if resp.status == 404:
            return None
        return body.split(",") if body else []

    def save(self, sid: str, items: list[str]) -> None:
        if self.store_port is None:
            self.memory[sid] = items
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.store_port)
        try:
            conn.request("PUT", f"/sessions/{sid}", body=",".join(items))
            conn.getresponse().read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def server_id(app: App) -> str:
    """The SERVERID cookie value that pins a client to `app`."""
    return app.name.replace(" ", "")


class Balancer:
    """A reverse proxy in front of the apps. Sticky, it pins a client to
    one app with a SERVERID cookie, as HAProxy's `cookie SERVERID insert`
    does; otherwise it takes the apps in turn. A refused connection sends
    the request to the next app, which is safe because nothing reached the
    refusing app."""

    def __init__(self, apps: list[App], sticky: bool) -> None:
        self.apps = apps
        self.sticky = sticky
        self.next = 0
        self.lock = threading.Lock()
        balancer = self

        class Handler(Quiet):
            def do_GET(self) -> None:
                balancer.forward(self, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                balancer.forward(self, self.rfile.read(length))

        self.server = serve(Handler)
        self.port = self.server.server_address[1]

    def pick(self, pinned: str | None) -> int:
        for i, app in enumerate(self.apps):
            if self.sticky and server_id(app) == pinned:
                return i
        with self.lock:
            i = self.next
            self.next = (self.next + 1) % len(self.apps)
            return i

    def forward(self, handler: Quiet, body: bytes) -> None:
        i = self.pick(handler.cookie("SERVERID"))
        for _ in self.apps:
            app = self.apps[i]
            conn = http.client.HTTPConnection("127.0.0.1", app.port)
            headers = {"Cookie": handler.headers.get("Cookie", "")}
            try:
                conn.request(handler.command, handler.path, body, headers)
                resp = conn.getresponse()
            except ConnectionRefusedError:
                # => the app is down: redispatch to the next one
                logging.warning(
                    "%s refused the connection, trying the next app", app.name
                )
                conn.close()
                i = (i + 1) % len(self.apps)
                continue
            except OSError as err:
                # Any other error may come after the app got the request, so
                # resending it is not safe and the balancer returns 502.
                logging.warning("forwarding to %s failed: %s", app.name, err)
                conn.close()
                handler.reply(502, "bad gateway")
                return
            cookies = resp.headers.get_all("Set-Cookie") or []
            if self.sticky:
                cookies.append(f"SERVERID={server_id(app)}; Path=/")
            text = resp.read().decode()
            conn.close()
            handler.reply(resp.status, text, cookies)
            return
        handler.reply(503, "no app server available")


def call(opener, port: int, method: str, path: str) -> str:
    """Send one request through the balancer and return the response body,
    prefixed with the status code unless it is 200."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method
    )
    try:
        with opener.open(request) as resp:
            return resp.read().decode()
    except urllib.error.HTTPError as err:
        return f"{err.code} {err.read().decode()}"


def shop(store_port: int | None, sticky: bool, down: int) -> None:
    """Log in, fill a cart, stop apps[down], and look at the cart again.
    The caller picks for `down` the app that the view would go to, so the
    view always meets a refused connection and fails over."""
    apps = [App("app 1", store_port), App("app 2", store_port)]
    balancer = Balancer(apps, sticky)
    # The client's cookie jar carries sid (and SERVERID) like a browser.
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar)
    )
    port = balancer.port
    print("  login:", call(opener, port, "POST", "/login"))
    print("  add book:", call(opener, port, "POST", "/cart?item=book"))
    print("  add pen:", call(opener, port, "POST", "/cart?item=pen"))
    apps[down].stop()
    print(f"  {apps[down].name} stops")
    print("  view cart:", call(opener, port, "GET", "/cart"))
    apps[1 - down].stop()


def main() -> None:
    # Log bare messages to stderr, as Go's log package does with no flags.
    logging.basicConfig(format="%(message)s")
    # Stateful: each app keeps its sessions in memory, so the balancer must
    # pin the user to the app that holds theirs.
    print("stateful, sessions in app memory, sticky balancer:")
    # => prints: stateful, sessions in app memory, sticky balancer:
    # The balancer pins the client to app 1, so app 1 is the one to stop.
    shop(store_port=None, sticky=True, down=0)
    # => prints:   login: logged in on app 1
    # => prints:   add book: app 1: cart book
    # => prints:   add pen: app 1: cart book, pen
    # => prints:   app 1 stops
    # The pinned app refuses the connection, the balancer sends the request
    # to app 2, and app 2 has never seen this session id.
    # => logs: app 1 refused the connection, trying the next app
    # => prints:   view cart: 401 app 2: no session, log in again

    # Stateless: the apps keep nothing; every request reads the session
    # from the store, so any app can serve any request.
    store = Store()
    print("stateless, sessions in a shared store, round-robin balancer:")
    # => prints: stateless, sessions in a shared store, round-robin balancer:
    # Round-robin sends the three requests to app 1, app 2 and app 1, so the
    # view would go to app 2: stop app 2 to make the view fail over.
    shop(store_port=store.port, sticky=False, down=1)
    # => prints:   login: logged in on app 1
    # => prints:   add book: app 2: cart book
    # => prints:   add pen: app 1: cart book, pen
    # => prints:   app 2 stops
    # The balancer sends the view to app 1, as in the first run, and app 1
    # reads the session from the store: both items are still there.
    # => logs: app 2 refused the connection, trying the next app
    # => prints:   view cart: app 1: cart book, pen
    print(f"the store served {store.requests} requests")
    # => 1 PUT for the login, a GET and a PUT per item, 1 GET for the view
    # => prints: the store served 6 requests


if __name__ == "__main__":
    main()
