// Horizontal scaling: 1, 2 and 4 HTTP servers on 127.0.0.1 behind a
// round-robin client. Every request also takes a shared "database" lock,
// so throughput grows less than the number of servers, as the USL
// predicts.
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

var sizes = []int{1, 2, 4}

// One lock for all servers: the database they share.
// => this is the serialized part, sigma = 4 ms / 24 ms of each request
var database sync.Mutex

func usl(n int, sigma, kappa float64) float64 {
	x := float64(n)
	return x / (1 + sigma*(x-1) + kappa*x*(x-1))
}

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
	perRequest := (work + dbHold).Seconds()
	one := slots / perRequest
	sigma := dbHold.Seconds() / perRequest
	fmt.Printf("one server: %d slots, 24 ms per request, %.0f req/s\n",
		slots, one)
	// => prints: one server: 2 slots, 24 ms per request, 83 req/s

	// The USL with the database lock as contention and no coherency term.
	fmt.Printf("USL sigma=%.3f kappa=0:", sigma)
	for _, n := range sizes {
		fmt.Printf(" C(%d)=%.2f", n, usl(n, sigma, 0))
	}
	fmt.Println()
	// => prints: USL sigma=0.167 kappa=0: C(1)=1.00 C(2)=1.71 C(4)=2.67
	fmt.Printf("lock ceiling: 1 / %d ms = %.0f req/s\n",
		dbHold.Milliseconds(), 1/dbHold.Seconds())
	// => prints: lock ceiling: 1 / 4 ms = 250 req/s

	// Measure 1, 2 and 4 servers, each cluster started fresh.
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
		fmt.Printf("servers=%d: measured %.0f req/s, USL %.0f\n",
			n, rate, one*usl(n, sigma, 0))
	}
	// => prints: servers=1: measured 80 req/s, USL 83 (varies)
	// => prints: servers=2: measured 140 req/s, USL 143 (varies)
	// => prints: servers=4: measured 215 req/s, USL 222 (varies)
	// => four servers buy less than three times one: every request still
	// waits its turn at the one database
}
