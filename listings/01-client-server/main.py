"""Client-server model: a TCP server with a fixed pool of workers, and
clients that each send one request at a time and wait for the response."""

import logging
import queue
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

WORKERS = 2  # requests the server serves at once
WORK_S = 0.020  # simulated work for one request, in seconds
PER_CLIENT = 20  # requests each client sends in a row


def millis(seconds: float) -> float:
    return seconds * 1000


# Serve one request: read a line, do the work, reply with how long the
# request waited in the queue before this worker took it.
def handle(conn: socket.socket, queued_at: float) -> None:
    queued = time.monotonic() - queued_at
    with conn, conn.makefile("rb") as reader:
        if not reader.readline():
            logging.warning("connection closed before a request arrived")
            return

        # => a sleep takes the place of real work (a query, a template, a
        # computation) and keeps the numbers predictable: 20 ms per request
        time.sleep(WORK_S)
        conn.sendall(f"done, queued {millis(queued):.3f} ms\n".encode())


class Server:
    """A TCP server on a loopback port with a fixed pool of workers."""

    def __init__(self) -> None:
        # Port 0: the kernel picks a free port on 127.0.0.1.
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()

        # The queue: accepted connections wait here until a worker is free.
        # => queue.Queue is FIFO, so requests start in the order they came.
        # When all 64 slots are full, the kernel's listen backlog queues more.
        self.jobs: queue.Queue = queue.Queue(maxsize=64)
        self.stopping = threading.Event()

        # The pool is fixed, so at most 2 requests are in service at once.
        # Every other request waits in the queue, however many clients ask.
        self.workers = [
            threading.Thread(target=self.work) for _ in range(WORKERS)
        ]
        self.acceptor = threading.Thread(target=self.accept)
        for thread in [*self.workers, self.acceptor]:
            thread.start()

    # One thread accepts connections and queues them. The timeout lets it
    # notice a stop within 50 ms, because closing a socket from another
    # thread does not wake a blocked accept() on every platform.
    def accept(self) -> None:
        self.listener.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.jobs.put((conn, time.monotonic()))
        for _ in self.workers:
            self.jobs.put(None)  # => one "no more work" marker per worker

    # A failed request is logged and dropped, and the worker goes on.
    def work(self) -> None:
        while (job := self.jobs.get()) is not None:
            try:
                handle(*job)
            except OSError as err:
                logging.warning("serving a request failed: %s", err)

    # Stop accepting, let the workers serve what is left, then wait.
    def stop(self) -> None:
        self.stopping.set()
        for thread in [self.acceptor, *self.workers]:
            thread.join()
        self.listener.close()


class Sample(NamedTuple):
    """Timings of one request."""

    latency: float  # latency the client measured, in ms
    queued: float  # wait in the server's queue, as the server reported, in ms


class Stats(NamedTuple):
    """Throughput and mean timings for one number of clients."""

    throughput: float  # requests completed per second
    latency: float  # mean latency the clients measured, in ms
    queued: float  # mean wait in the server's queue, in ms


# Send one request and wait for the response.
def request(address: tuple[str, int]) -> Sample:
    start = time.monotonic()

    # => one connection per request, so each entry in the server's queue is
    # one request. With keep-alive a worker would hold the connection open
    # between requests.
    with socket.create_connection(address) as conn:
        conn.sendall(b"work\n")
        with conn.makefile("rb") as reader:
            reply = reader.readline().decode()
    latency = millis(time.monotonic() - start)

    # => the reply reads "done, queued 12.345 ms"
    words = reply.split()
    if len(words) != 4 or words[:2] != ["done,", "queued"]:
        raise ValueError(f"invalid response {reply!r}")
    return Sample(latency=latency, queued=float(words[2]))


# Run `clients` threads that each send PER_CLIENT requests, one after the
# other with no pause between them.
def measure(address: tuple[str, int], clients: int) -> Stats:
    # A client has at most one request outstanding: it sends the next
    # one only after the response to the last has arrived.
    def client() -> list[Sample]:
        return [request(address) for _ in range(PER_CLIENT)]

    # => result() raises here any error a client thread raised
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client) for _ in range(clients)]
        samples = [sample for f in futures for sample in f.result()]
    seconds = time.monotonic() - start

    n = len(samples)
    return Stats(
        throughput=n / seconds,
        latency=sum(sample.latency for sample in samples) / n,
        queued=sum(sample.queued for sample in samples) / n,
    )


def main() -> None:
    server = Server()

    # => each worker finishes one request per 20 ms, 50 per second
    capacity = WORKERS / WORK_S
    print(
        f"server: {WORKERS} workers, {millis(WORK_S):.0f} ms of work each, "
        f"capacity {capacity:.0f} req/s"
    )
    # => prints: server: 2 workers, 20 ms of work each, capacity 100 req/s

    # Up to 2 clients every request finds an idle worker. Beyond that
    # each request waits behind the others, so latency grows to about
    # clients x 20 ms / 2 workers while throughput stays at the capacity.
    results: dict[int, Stats] = {}
    for clients in [1, 2, 4, 8]:
        stats = measure(server.address, clients)
        results[clients] = stats
        print(
            f"clients={clients}: {stats.throughput:.1f} req/s, "
            f"latency {stats.latency:.1f} ms, queued {stats.queued:.1f} ms"
        )
    # => prints: clients=1: 48.5 req/s, latency 20.6 ms, queued 0.0 ms (varies)
    # => prints: clients=2: 95.5 req/s, latency 20.9 ms, queued 0.0 ms (varies)
    # => prints: clients=4: 96.0 req/s, latency 41.0 ms, queued 20.0 ms (varies)
    # => prints: clients=8: 96.0 req/s, latency 82.0 ms, queued 61.0 ms (varies)

    # Twice the clients bought no extra throughput, only twice the latency.
    # => compare 4 with 8 clients, not 2: both keep requests waiting, so
    # a worker that finishes takes the next one at once. At 2 clients a
    # worker idles whenever its client is slow to send the next request.
    four, eight = results[4], results[8]
    print(
        "4 -> 8 clients: "
        f"throughput x{eight.throughput / four.throughput:.2f}, "
        f"latency x{eight.latency / four.latency:.2f}"
    )
    # => prints: 4 -> 8 clients: throughput x1.00, latency x1.98 (varies)

    server.stop()


if __name__ == "__main__":
    main()
