// Message queue: a producer and consumers joined by a bounded queue, with
// acks and a visibility timeout that redelivers what a crashed consumer
// took. Real goroutines; the queue is a buffered channel.
package main

import (
	"fmt"
	"sync"
	"time"
)

// Message is what the queue carries. Deliveries counts how many times a
// consumer has received it, so the second delivery is a redelivery.
type Message struct {
	ID         int
	Deliveries int
}

// Broker holds ready messages in a bounded channel and delivered ones in
// an in-flight table until they are acked or their timeout passes.
type Broker struct {
	ready      chan Message
	visibility time.Duration

	mu       sync.Mutex
	inFlight map[int]inFlight
	stop     chan struct{}
	done     sync.WaitGroup
}

type inFlight struct {
	msg      Message
	deadline time.Time
}

// NewBroker starts a broker that holds up to capacity ready messages and
// redelivers a message that is not acked within visibility.
func NewBroker(capacity int, visibility time.Duration) *Broker {
	b := &Broker{
		ready:      make(chan Message, capacity),
		visibility: visibility,
		inFlight:   map[int]inFlight{},
		stop:       make(chan struct{}),
	}
	b.done.Add(1)
	go b.requeueExpired()
	return b
}

// Publish adds a message without waiting. It returns false when the queue
// is full, so the producer learns at once instead of blocking.
func (b *Broker) Publish(id int) bool {
	select {
	case b.ready <- Message{ID: id}:
		return true
	default:
		// => reject-publish: the producer decides to retry, shed or slow down
		return false
	}
}

// Receive waits for the next ready message and marks it in flight. The
// message is hidden from other consumers, not deleted.
func (b *Broker) Receive() Message {
	msg := <-b.ready
	msg.Deliveries++
	b.mu.Lock()
	b.inFlight[msg.ID] = inFlight{msg, time.Now().Add(b.visibility)}
	b.mu.Unlock()
	return msg
}

// Ack deletes a message for good: the consumer has finished with it.
// NOTE: the table is keyed by message id, so a late Ack from a consumer
// whose timeout passed would delete the redelivered copy's entry too.
// Real brokers key by delivery: a RabbitMQ delivery tag, an SQS receipt
// handle.
func (b *Broker) Ack(id int) {
	b.mu.Lock()
	delete(b.inFlight, id)
	b.mu.Unlock()
}

// Depth returns the number of ready messages.
func (b *Broker) Depth() int { return len(b.ready) }

// requeueExpired puts every in-flight message whose deadline has passed
// back in the queue. This is how a crashed consumer's message survives.
func (b *Broker) requeueExpired() {
	defer b.done.Done()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-tick.C:
			var expired []Message
			b.mu.Lock()
			for id, f := range b.inFlight {
				if now.After(f.deadline) {
					expired = append(expired, f.msg)
					delete(b.inFlight, id)
				}
			}
			b.mu.Unlock()
			// => sent outside the lock, because a full channel blocks.
			// A channel has no front, so a redelivered message waits at
			// the tail, behind newer ones, while the widget puts it at the head.
			for _, msg := range expired {
				b.ready <- msg
			}
		}
	}
}

// Close stops the requeue goroutine.
func (b *Broker) Close() {
	close(b.stop)
	b.done.Wait()
}

// consume receives n messages, works on each for work, and acks it. It
// returns the ids in the order it acked them.
func consume(b *Broker, n int, work time.Duration) []int {
	var acked []int
	for range n {
		msg := b.Receive()
		time.Sleep(work)
		b.Ack(msg.ID)
		acked = append(acked, msg.ID)
	}
	return acked
}

// decouple shows the producer running ahead of a stopped consumer: the
// queue absorbs the difference and the consumer catches up later.
func decouple() {
	b := NewBroker(25, time.Second)
	defer b.Close()

	// The consumer waits at the gate, as if it were down or busy.
	gate := make(chan struct{})
	result := make(chan []int)
	go func() {
		<-gate
		result <- consume(b, 25, 2*time.Millisecond)
	}()

	// The producer publishes 30 messages and never waits for the consumer.
	start := time.Now()
	accepted, rejected := 0, 0
	for id := 1; id <= 30; id++ {
		if b.Publish(id) {
			accepted++
		} else {
			rejected++
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("published %d, rejected %d (queue full)\n", accepted, rejected)
	// => prints: published 25, rejected 5 (queue full)
	fmt.Printf("depth while the consumer is stopped: %d\n", b.Depth())
	// => prints: depth while the consumer is stopped: 25
	fmt.Printf("the producer spent %.2f ms\n", ms(elapsed))
	// => prints: the producer spent 0.02 ms (varies)

	// The consumer starts and drains the backlog at its own pace.
	close(gate)
	acked := <-result
	fmt.Printf("consumer caught up: acked %d, depth %d\n", len(acked), b.Depth())
	// => prints: consumer caught up: acked 25, depth 0
	fmt.Printf("first and last acked: %d, %d\n", acked[0], acked[len(acked)-1])
	// => prints: first and last acked: 1, 25
}

// redeliver shows at-least-once delivery: consumer A takes a message and
// dies before acking, and after the visibility timeout consumer B gets it.
func redeliver() {
	visibility := 200 * time.Millisecond
	b := NewBroker(10, visibility)
	defer b.Close()
	for id := 1; id <= 3; id++ {
		b.Publish(id)
	}

	// Consumer A "crashes": it returns without calling Ack.
	crashed := b.Receive()
	fmt.Printf("consumer A took message %d and crashed\n", crashed.ID)
	// => prints: consumer A took message 1 and crashed

	// Consumer B gets 2 and 3 at once, then 1 once its timeout passes.
	start := time.Now()
	for range 3 {
		msg := b.Receive()
		// => a redelivered message may be half processed: be idempotent
		again := msg.Deliveries > 1
		fmt.Printf("consumer B got message %d, redelivered=%t\n", msg.ID, again)
		// => prints: consumer B got message 2, redelivered=false
		// => prints: consumer B got message 3, redelivered=false
		// => prints: consumer B got message 1, redelivered=true
		if again {
			hidden := time.Since(start).Seconds()
			fmt.Printf("message %d was hidden for %.1f s\n", msg.ID, hidden)
			// => prints: message 1 was hidden for 0.2 s (varies)
		}
		b.Ack(msg.ID)
	}
	fmt.Printf("acked 3 of 3, depth %d\n", b.Depth())
	// => prints: acked 3 of 3, depth 0
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func main() {
	decouple()
	redeliver()
}
