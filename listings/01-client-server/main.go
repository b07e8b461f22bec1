// Client-server model: a TCP server with a fixed pool of workers, and
// clients that each send one request at a time and wait for the response.
package main

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"sync"
	"time"
)

const (
	workers   = 2                     // requests the server serves at once
	work      = 20 * time.Millisecond // simulated work for one request
	perClient = 20                    // requests each client sends in a row
)

// job is an accepted connection waiting for a worker, stamped with the
// moment it joined the queue.
type job struct {
	conn     net.Conn
	queuedAt time.Time
}

// startServer listens on a loopback port the kernel picks and serves it
// with a fixed pool of workers. It returns the address and a stop
// function that closes the listener and waits for the workers to finish.
func startServer() (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}

	// The queue: accepted connections wait here until a worker is free.
	// => a channel is FIFO, so requests start in the order they arrived.
	// When all 64 slots are full, the kernel's listen backlog queues more.
	queue := make(chan job, 64)

	// The pool is fixed, so at most 2 requests are in service at once.
	// Every other request waits in the queue, however many clients ask.
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				handle(j)
			}
		}()
	}

	// One goroutine accepts connections and queues them. Closing the
	// listener makes Accept fail, which closes the queue and ends the
	// workers once they have served what is left in it.
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				close(queue)
				return
			}
			queue <- job{conn: conn, queuedAt: time.Now()}
		}
	}()

	stop := func() {
		ln.Close()
		wg.Wait()
	}
	return ln.Addr().String(), stop
}

// handle serves one request: read a line, do the work, reply with how
// long the request waited in the queue before this worker took it.
func handle(j job) {
	defer j.conn.Close()
	queued := time.Since(j.queuedAt)

	if _, err := bufio.NewReader(j.conn).ReadString('\n'); err != nil {
		log.Printf("reading request from %v failed: %v",
			j.conn.RemoteAddr(), err)
		return
	}

	// => a sleep takes the place of real work (a query, a template, a
	// computation) and keeps the numbers predictable: 20 ms per request
	time.Sleep(work)
	_, err := fmt.Fprintf(j.conn, "done, queued %.3f ms\n", millis(queued))
	if err != nil {
		log.Printf("writing response to %v failed: %v",
			j.conn.RemoteAddr(), err)
	}
}

func millis(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// request sends one request and waits for the response. It returns the
// latency the client measured and the queue wait the server reported,
// both in milliseconds.
func request(addr string) (latency, queued float64) {
	start := time.Now()

	// => one connection per request, so each entry in the server's queue is
	// one request. With keep-alive a worker would hold the connection open
	// between requests.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		log.Fatalf("dial %s failed: %v", addr, err)
	}
	defer conn.Close()

	if _, err := fmt.Fprint(conn, "work\n"); err != nil {
		log.Fatalf("sending request to %s failed: %v", addr, err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		log.Fatalf("reading response from %s failed: %v", addr, err)
	}
	latency = millis(time.Since(start))

	if _, err := fmt.Sscanf(reply, "done, queued %f ms", &queued); err != nil {
		log.Fatalf("invalid response %q: %v", reply, err)
	}
	return latency, queued
}

// stats is the throughput and mean timings for one number of clients.
type stats struct {
	throughput float64 // requests completed per second
	latency    float64 // mean latency the clients measured, in ms
	queued     float64 // mean wait in the server's queue, in ms
}

// measure runs clients goroutines that each send perClient requests, one
// after the other with no pause between them.
func measure(addr string, clients int) stats {
	var mu sync.Mutex
	var latencySum, queuedSum float64
	var wg sync.WaitGroup
	start := time.Now()

	// A client has at most one request outstanding: it sends the next
	// one only after the response to the last has arrived.
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perClient {
				latency, queued := request(addr)
				mu.Lock()
				latencySum += latency
				queuedSum += queued
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	n := float64(clients * perClient)
	seconds := time.Since(start).Seconds()
	return stats{
		throughput: n / seconds,
		latency:    latencySum / n,
		queued:     queuedSum / n,
	}
}

func main() {
	addr, stop := startServer()
	defer stop()

	// => each worker finishes one request per 20 ms, 50 per second
	capacity := float64(workers) * float64(time.Second/work)
	fmt.Printf("server: %d workers, %d ms of work each, capacity %.0f req/s\n",
		workers, work.Milliseconds(), capacity)
	// => prints: server: 2 workers, 20 ms of work each, capacity 100 req/s

	// Up to 2 clients every request finds an idle worker. Beyond that
	// each request waits behind the others, so latency grows to about
	// clients x 20 ms / 2 workers while throughput stays at the capacity.
	results := map[int]stats{}
	for _, clients := range []int{1, 2, 4, 8} {
		s := measure(addr, clients)
		results[clients] = s
		fmt.Printf("clients=%d: %.1f req/s, latency %.1f ms, queued %.1f ms\n",
			clients, s.throughput, s.latency, s.queued)
	}
	// => prints: clients=1: 48.5 req/s, latency 20.6 ms, queued 0.0 ms (varies)
	// => prints: clients=2: 95.5 req/s, latency 20.9 ms, queued 0.0 ms (varies)
	// => prints: clients=4: 96.0 req/s, latency 41.0 ms, queued 20.0 ms (varies)
	// => prints: clients=8: 96.0 req/s, latency 82.0 ms, queued 61.0 ms (varies)

	// Twice the clients bought no extra throughput, only twice the latency.
	// => compare 4 with 8 clients, not 2: both keep requests waiting, so
	// a worker that finishes takes the next one at once. At 2 clients a
	// worker idles whenever its client is slow to send the next request.
	four, eight := results[4], results[8]
	fmt.Printf("4 -> 8 clients: throughput x%.2f, latency x%.2f\n",
		eight.throughput/four.throughput, eight.latency/four.latency)
	// => prints: 4 -> 8 clients: throughput x1.00, latency x1.98 (varies)
}
