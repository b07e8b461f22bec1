"""Message queue: a producer and consumers joined by a bounded queue, with
acks and a visibility timeout that redelivers what a crashed consumer
took. Real threads; the queue is a queue.Queue."""

import queue
import threading
import time
from dataclasses import dataclass


# Message is what the queue carries. deliveries counts how many times a
# consumer has received it, so the second delivery is a redelivery.
@dataclass
class Message:
    id: int
    deliveries: int = 0


class Broker:
    """Holds ready messages in a bounded queue and delivered ones in an
    in-flight table until they are acked or their timeout passes."""

    def __init__(self, capacity: int, visibility_s: float) -> None:
        self.ready: queue.Queue[Message] = queue.Queue(maxsize=capacity)
        self.visibility_s = visibility_s
        self.lock = threading.Lock()
        self.in_flight: dict[int, tuple[Message, float]] = {}
        self.stop = threading.Event()
        self.reaper = threading.Thread(target=self._requeue_expired)
        self.reaper.start()

    # Publish adds a message without waiting. It returns False when the
    # queue is full, so the producer learns at once instead of blocking.
    def publish(self, id: int) -> bool:
        try:
            self.ready.put_nowait(Message(id))
            return True
        except queue.Full:
            # => reject-publish: the producer decides to retry, shed or slow
            return False

    # Receive waits for the next ready message and marks it in flight. The
    # message is hidden from other consumers, not deleted.
    def receive(self) -> Message:
        msg = self.ready.get()
        msg.deliveries += 1
        with self.lock:
            deadline = time.monotonic() + self.visibility_s
            self.in_flight[msg.id] = (msg, deadline)
        return msg

    # Ack deletes a message for good: the consumer has finished with it.
    # NOTE: the table is keyed by message id, so a late ack from a consumer
    # whose timeout passed would delete the redelivered copy's entry too.
    # Real brokers key by delivery: a RabbitMQ delivery tag, an SQS receipt
    # handle.
    def ack(self, id: int) -> None:
        with self.lock:
            self.in_flight.pop(id, None)

    def depth(self) -> int:
        return self.ready.qsize()

    # _requeue_expired puts every in-flight message whose deadline has
    # passed back in the queue. This is how a crashed consumer's message
    # survives.
    def _requeue_expired(self) -> None:
        while not self.stop.wait(0.01):
            now = time.monotonic()
            with self.lock:
                expired = [m for m, d in self.in_flight.values() if now > d]
                for msg in expired:
                    del self.in_flight[msg.id]
            # => put outside the lock, because a full queue blocks. A
            # redelivered message waits at the tail, behind newer ones,
            # while the widget puts it at the head.
            for msg in expired:
                self.ready.put(msg)

    def close(self) -> None:
        self.stop.set()
        self.reaper.join()


# consume receives n messages, works on each for work_s, and acks it. It
# returns the ids in the order it acked them.
def consume(broker: Broker, n: int, work_s: float) -> list[int]:
    acked = []
    for _ in range(n):
        msg = broker.receive()
        time.sleep(work_s)
        broker.ack(msg.id)
        acked.append(msg.id)
    return acked


# decouple shows the producer running ahead of a stopped consumer: the
# queue absorbs the difference and the consumer catches up later.
def decouple() -> None:
    broker = Broker(25, 1.0)

    # The consumer waits at the gate, as if it were down or busy.
    gate = threading.Event()
    result: list[int] = []

    def consumer() -> None:
        gate.wait()
        result.extend(consume(broker, 25, 0.002))

    worker = threading.Thread(target=consumer)
    worker.start()

    # The producer publishes 30 messages and never waits for the consumer.
    start = time.perf_counter()
    accepted = sum(broker.publish(id) for id in range(1, 31))
    elapsed_ms = (time.perf_counter() - start) * 1000
    print(f"published {accepted}, rejected {30 - accepted} (queue full)")
    # => prints: published 25, rejected 5 (queue full)
    print(f"depth while the consumer is stopped: {broker.depth()}")
    # => prints: depth while the consumer is stopped: 25
    print(f"the producer spent {elapsed_ms:.2f} ms")
    # => prints: the producer spent 0.02 ms (varies)

    # The consumer starts and drains the backlog at its own pace.
    gate.set()
    worker.join()
    print(f"consumer caught up: acked {len(result)}, depth {broker.depth()}")
    # => prints: consumer caught up: acked 25, depth 0
    print(f"first and last acked: {result[0]}, {result[-1]}")
    # => prints: first and last acked: 1, 25
    broker.close()


# redeliver shows at-least-once delivery: consumer A takes a message and
# dies before acking, and after the visibility timeout consumer B gets it.
def redeliver() -> None:
    broker = Broker(10, 0.2)
    for id in range(1, 4):
        broker.publish(id)

    # Consumer A "crashes": it returns without calling ack.
    crashed = broker.receive()
    print(f"consumer A took message {crashed.id} and crashed")
    # => prints: consumer A took message 1 and crashed

    # Consumer B gets 2 and 3 at once, then 1 once its timeout passes.
    start = time.monotonic()
    for _ in range(3):
        msg = broker.receive()
        # => a redelivered message may be half processed: be idempotent
        again = msg.deliveries > 1
        flag = str(again).lower()
        print(f"consumer B got message {msg.id}, redelivered={flag}")
        # => prints: consumer B got message 2, redelivered=false
        # => prints: consumer B got message 3, redelivered=false
        # => prints: consumer B got message 1, redelivered=true
        if again:
            hidden = time.monotonic() - start
            print(f"message {msg.id} was hidden for {hidden:.1f} s")
            # => prints: message 1 was hidden for 0.2 s (varies)
        broker.ack(msg.id)
    print(f"acked 3 of 3, depth {broker.depth()}")
    # => prints: acked 3 of 3, depth 0
    broker.close()


if __name__ == "__main__":
    decouple()
    redeliver()
