"""Horizontal scaling: 1, 2 and 4 HTTP servers on 127.0.0.1 behind a
round-robin client. Every request also takes a shared "database" lock, so
throughput grows less than the number of servers, as the USL predicts."""

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
SIZES = [1, 2, 4]

# One lock for all servers: the database they share.
# => this is the serialized part, sigma = 4 ms / 24 ms of each request
database = threading.Lock()


def usl(n: int, sigma: float, kappa: float) -> float:
    return n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


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
        threading.Thread(target=server.serve_forever, daemon=True).start()
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
    sigma = DB_S / (WORK_S + DB_S)
    print(f"one server: {SLOTS} slots, 24 ms per request, {one:.0f} req/s")
    # => prints: one server: 2 slots, 24 ms per request, 83 req/s

    # The USL with the database lock as contention and no coherency term.
    row = " ".join(f"C({n})={usl(n, sigma, 0):.2f}" for n in SIZES)
    print(f"USL sigma={sigma:.3f} kappa=0: {row}")
    # => prints: USL sigma=0.167 kappa=0: C(1)=1.00 C(2)=1.71 C(4)=2.67
    print(f"lock ceiling: 1 / {DB_S * 1000:.0f} ms = {1 / DB_S:.0f} req/s")
    # => prints: lock ceiling: 1 / 4 ms = 250 req/s

    # Measure 1, 2 and 4 servers, each cluster started fresh.
    for n in SIZES:
        servers = start_servers(n)
        rate = measure(servers)
        for server in servers:
            server.shutdown()
            server.server_close()
        predicted = one * usl(n, sigma, 0)
        print(f"servers={n}: measured {rate:.0f} req/s, USL {predicted:.0f}")
    # => prints: servers=1: measured 80 req/s, USL 83 (varies)
    # => prints: servers=2: measured 140 req/s, USL 143 (varies)
    # => prints: servers=4: measured 215 req/s, USL 222 (varies)
    # => four servers buy less than three times one: every request still
    # waits its turn at the one database


if __name__ == "__main__":
    main()
