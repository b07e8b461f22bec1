"""Horizontal scaling: 1, 2, 4 and 8 HTTP servers on 127.0.0.1 behind a
round-robin client. Every request also takes a shared "database" lock, so
throughput grows with the servers only until that lock is always busy."""

import http.client
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOTS = 2  # requests one server serves at once
WORK_S = 0.020  # work on the server itself, in seconds
DB_S = 0.004  # time each request holds the shared database lock
REQUESTS = 120  # requests the client sends for each cluster size
CLIENTS = 16  # client threads, enough to keep every slot busy
SIZES = [1, 2, 4, 8]

# One lock for all servers: the database they share.
# => this is the serialized part, the USL's contention sigma
database = threading.Lock()


# A server with a fixed capacity: a semaphore admits SLOTS requests at a
# time and the rest wait for a slot. The work is a sleep, so the numbers
# do not depend on this machine's cores or on the GIL.
def make_handler(slots: threading.Semaphore) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with slots:
                time.sleep(WORK_S)
                with database:
                    time.sleep(DB_S)
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # => one log line per request would flood the output

    return Handler


# Start `count` servers, each on its own port that the kernel picks.
def start_servers(count: int) -> list[ThreadingHTTPServer]:
    servers = []
    for _ in range(count):
        handler = make_handler(threading.Semaphore(SLOTS))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # => a short poll interval lets shutdown() return within 50 ms
        serve = threading.Thread(
            target=server.serve_forever, args=(0.05,), daemon=True
        )
        serve.start()
        servers.append(server)
    return servers


# Send REQUESTS requests from CLIENTS threads, taking the servers in turn,
# and return the requests completed per second.
def measure(servers: list[ThreadingHTTPServer]) -> float:
    ports = [server.server_address[1] for server in servers]
    turn = itertools.count()
    lock = threading.Lock()

    def send() -> None:
        with lock:
            port = ports[next(turn) % len(ports)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"port {port}: status {response.status}")
        finally:
            conn.close()

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for future in [pool.submit(send) for _ in range(REQUESTS)]:
            future.result()  # => raises any error a request hit
    return REQUESTS / (time.monotonic() - start)


def main() -> None:
    # One server finishes SLOTS requests per 24 ms: 83 per second.
    one = SLOTS / (WORK_S + DB_S)
    print(f"one server: {SLOTS} slots, 24 ms per request, {one:.0f} req/s")
    # => prints: one server: 2 slots, 24 ms per request, 83 req/s

    # The lock passes one request per 4 ms, however many servers wait.
    ceiling = 1 / DB_S
    print(
        f"lock ceiling: 1 / {DB_S * 1000:.0f} ms = {ceiling:.0f} req/s, "
        f"{ceiling / one:.1f} times one server"
    )
    # => prints: lock ceiling: 1 / 4 ms = 250 req/s, 3.0 times one server

    # Measure each cluster size, started fresh, beside the bound: n servers
    # serve at most n times one, and never more than the lock passes.
    for n in SIZES:
        servers = start_servers(n)
        rate = measure(servers)
        for server in servers:
            server.shutdown()
            server.server_close()
        bound = min(n * one, ceiling)
        print(f"servers={n}: measured {rate:.0f} req/s, bound {bound:.0f}")
    # => prints: servers=1: measured 80 req/s, bound 83 (varies)
    # => prints: servers=2: measured 156 req/s, bound 167 (varies)
    # => prints: servers=4: measured 224 req/s, bound 250 (varies)
    # => prints: servers=8: measured 220 req/s, bound 250 (varies)
    # => linear up to the lock, then flat: 8 servers serve no more than 4,
    # because every request still waits its turn at the one database


if __name__ == "__main__":
    main()
