// Horizontal scaling: 1, 2, 4 and 8 HTTP servers on 127.0.0.1 behind a
// round-robin client. Every request also takes a shared "database" lock,
// so throughput grows with the servers only until that lock is always
// busy.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

const (
	slots    = 2                     // requests one server serves at once
	work     = 20 * time.Millisecond // work on the server itself
	dbHold   = 4 * time.Millisecond  // time under the shared database lock
	requests = 120                   // requests for each cluster size
	clients  = 16                    // client goroutines, enough to fill slots
)

var sizes = []int{1, 2, 4, 8}

// One lock for all servers: the database they share.
// => this is the serialized part, the USL's contention sigma
var database sync.Mutex

// A server with a fixed capacity: a buffered channel admits `slots`
// requests at a time and the rest wait for a slot. The work is a sleep,
// so the numbers do not depend on this machine's cores.
func handler() http.Handler {
	slot := make(chan struct{}, slots)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slot <- struct{}{}
		time.Sleep(work)
		database.Lock()
		time.Sleep(dbHold)
		database.Unlock()
		<-slot
		fmt.Fprintln(w, "ok")
	})
}

// Start `count` servers, each on its own port that the kernel picks.
func startServers(count int) ([]*http.Server, []string, error) {
	var servers []*http.Server
	var urls []string
	for range count {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return servers, nil, err
		}
		server := &http.Server{Handler: handler()}
		go server.Serve(listener)
		servers = append(servers, server)
		urls = append(urls, "http://"+listener.Addr().String()+"/")
	}
	return servers, urls, nil
}

// Send `requests` requests from `clients` goroutines, taking the servers
// in turn, and return the requests completed per second.
func measure(urls []string) (float64, error) {
	// => no proxy, whatever the environment sets: loopback only
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		Timeout:   5 * time.Second,
	}
	var turn, sent atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup

	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= requests {
				url := urls[int(turn.Add(1)-1)%len(urls)]
				resp, err := client.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s: status %d", url, resp.StatusCode)
					}
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return requests / time.Since(start).Seconds(), nil
}

func main() {
	// One server finishes `slots` requests per 24 ms: 83 per second.
	one := slots / (work + dbHold).Seconds()
	fmt.Printf("one server: %d slots, 24 ms per request, %.0f req/s\n",
		slots, one)
	// => prints: one server: 2 slots, 24 ms per request, 83 req/s

	// The lock passes one request per 4 ms, however many servers wait.
	ceiling := 1 / dbHold.Seconds()
	fmt.Printf("lock ceiling: 1 / %d ms = %.0f req/s, %.1f times one server\n",
		dbHold.Milliseconds(), ceiling, ceiling/one)
	// => prints: lock ceiling: 1 / 4 ms = 250 req/s, 3.0 times one server

	// Measure each cluster size, started fresh, beside the bound: n servers
	// serve at most n times one, and never more than the lock passes.
	for _, n := range sizes {
		servers, urls, err := startServers(n)
		var rate float64
		if err == nil {
			rate, err = measure(urls)
		}
		for _, server := range servers {
			server.Close()
		}
		if err != nil {
			fmt.Println("measuring failed:", err)
			return
		}
		bound := min(float64(n)*one, ceiling)
		fmt.Printf("servers=%d: measured %.0f req/s, bound %.0f\n",
			n, rate, bound)
	}
	// => prints: servers=1: measured 79 req/s, bound 83 (varies)
	// => prints: servers=2: measured 155 req/s, bound 167 (varies)
	// => prints: servers=4: measured 205 req/s, bound 250 (varies)
	// => prints: servers=8: measured 203 req/s, bound 250 (varies)
	// => linear up to the lock, then flat: 8 servers serve no more than 4,
	// because every request still waits its turn at the one database
}
