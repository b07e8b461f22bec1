"""Forward proxy: clients send every request through one proxy, which
blocks denylisted hosts, caches GET responses for their max-age, and
reaches the origins from its own socket."""

import http.client
import os
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

VIA = {"Via": "1.1 forward-proxy"}  # the proxy's entry in the Via header


class Quiet(BaseHTTPRequestHandler):
    """A request handler that does not log every request to stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status: int, body: bytes, headers: dict) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Origin:
    """A web server that remembers who connected to it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests = 0
        self.last_from = ""  # "host:port" of the last request
        self.xff = ""  # X-Forwarded-For of the last request, if any
        origin = self

        class Handler(Quiet):
            def do_GET(self):
                origin.requests += 1
                origin.last_from = hostport(self.client_address)
                origin.xff = self.headers.get("X-Forwarded-For", "")
                body = f"{origin.name} {self.path}, response "
                body += f"{origin.requests}\n"
                # => max-age=1: any cache may reuse this for 1 second.
                headers = {"Cache-Control": "max-age=1"}
                self.reply(200, body.encode(), headers)

        self.addr = serve(Handler)


def serve(handler: type) -> str:
    """Serve on a port the kernel picks on 127.0.0.1; return host:port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hostport(server.server_address)


def hostport(addr: tuple) -> str:
    """Format a socket address as host:port."""
    return f"{addr[0]}:{addr[1]}"


def max_age(cache_control: str) -> float:
    """Read max-age=N from a Cache-Control value; 0 means do not store."""
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        if name == "max-age" and value.isdigit():
            return float(value)
    return 0.0


class Proxy:
    """A forward proxy for plain HTTP."""

    def __init__(self, denylist: set[str]) -> None:
        self.denylist = denylist  # host:port values it refuses
        self.sockets: set[str] = set()  # its own sockets to origins
        self.cache: dict[str, tuple[bytes, float]] = {}  # body, expiry
        self.lock = threading.Lock()
        self.addr = serve(self.handler())

    def handler(self) -> type:
        proxy = self

        class Handler(Quiet):
            def do_GET(self):
                proxy.handle(self)

        return Handler

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        # A client that uses a proxy sends the absolute URL in the
        # request line (GET http://host:port/path), so the proxy learns
        # the origin from the request itself, not from the connection.
        url = urlsplit(req.path)
        if url.scheme != "http" or not url.netloc:
            req.reply(400, b"absolute URL required\n", {})
            return
        if url.netloc in self.denylist:
            # => blocked here: the origin never hears of the request
            req.reply(403, b"blocked by proxy policy\n", {})
            return
        with self.lock:
            cached = self.cache.get(req.path)
        if cached and time.monotonic() < cached[1]:
            req.reply(200, cached[0], {"X-Cache": "HIT", **VIA})
            return

        # A new request, not the client's: it copies no client header,
        # so it carries no cookie, no X-Forwarded-For and nothing else
        # that names the client. RFC 9110 requires Via, which names the
        # proxy, on every message a proxy forwards: this request and the
        # responses it relays.
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        try:
            conn.connect()
            with self.lock:
                self.sockets.add(hostport(conn.sock.getsockname()))
            # The path and the query: /a?x=1 and /a?x=2 are different
            # resources, as the cache key (the whole URL) already says.
            target = url.path or "/"
            if url.query:
                target += "?" + url.query
            conn.request("GET", target, headers=VIA)
            resp = conn.getresponse()
            body = resp.read()
        except OSError:
            req.reply(502, b"origin unreachable\n", {})
            return
        finally:
            conn.close()

        # Store a successful GET for as long as its max-age allows.
        age = max_age(resp.getheader("Cache-Control", ""))
        if resp.status == 200 and age > 0:
            with self.lock:
                self.cache[req.path] = (body, time.monotonic() + age)
        req.reply(resp.status, body, {"X-Cache": "MISS", **VIA})


def main() -> None:
    # urllib skips a proxy for hosts listed in no_proxy; clear it so the
    # explicit proxy below applies to 127.0.0.1 on every machine.
    os.environ.pop("no_proxy", None)
    os.environ.pop("NO_PROXY", None)

    news, docs, ads = Origin("news"), Origin("docs"), Origin("ads")
    origins = {o.name: o for o in (news, docs, ads)}
    proxy = Proxy(denylist={ads.addr})

    # The client names the proxy explicitly; urllib then sends every
    # http request to it in absolute form, 127.0.0.1 included.
    handler = urllib.request.ProxyHandler({"http": "http://" + proxy.addr})
    client = urllib.request.build_opener(handler)

    def whose(addr: str, client_sockets: set[str]) -> str:
        if addr in proxy.sockets:
            return "the proxy"
        if addr in client_sockets:
            return "the client"
        return "an unknown socket"

    def get(site: str, path: str) -> None:
        o = origins[site]
        try:
            resp = client.open(f"http://{o.addr}{path}", timeout=5)
        except urllib.error.HTTPError as err:
            resp = err
        resp.read()
        line = f"{site}{path}: {resp.status} {resp.reason}"
        cache = resp.headers.get("X-Cache")
        if cache == "MISS":
            line += f", MISS, {site} saw {whose(o.last_from, set())}"
        elif cache == "HIT":
            line += f", HIT, {site} saw nothing"
        print(line)

    get("news", "/index.html")
    # => prints: news/index.html: 200 OK, MISS, news saw the proxy
    get("news", "/index.html")
    # => prints: news/index.html: 200 OK, HIT, news saw nothing
    get("docs", "/guide.html")
    # => prints: docs/guide.html: 200 OK, MISS, docs saw the proxy
    get("ads", "/banner.js")
    # => prints: ads/banner.js: 403 Forbidden

    # After max-age the entry is stale, so the proxy fetches it from news again.
    time.sleep(1.1)
    get("news", "/index.html")
    # => prints: news/index.html: 200 OK, MISS, news saw the proxy
    print(f'X-Forwarded-For at news: "{news.xff}"')
    # => prints: X-Forwarded-For at news: ""

    # Unlike Go's ProxyFromEnvironment, urllib on Linux proxies
    # 127.0.0.1 when http_proxy is set and no_proxy is not, so the
    # request without the proxy uses http.client directly.
    conn = http.client.HTTPConnection(*news.addr.split(":"), timeout=5)
    conn.connect()
    mine = {hostport(conn.sock.getsockname())}
    conn.request("GET", "/index.html")
    conn.getresponse().read()
    conn.close()
    print(f"without the proxy: news saw {whose(news.last_from, mine)}")
    # => prints: without the proxy: news saw the client

    print(
        f"requests at the origins: news {news.requests}, "
        f"docs {docs.requests}, ads {ads.requests}"
    )
    # => prints: requests at the origins: news 3, docs 1, ads 0


if __name__ == "__main__":
    main()
