// Least-connections load balancing: the same slow and fast requests go
// through a round-robin proxy and a least-connections proxy in front of
// three single-worker HTTP backends on 127.0.0.1.
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	requests = 7                       // sent one every gap
	gap      = 200 * time.Millisecond  // between two sends
	fast     = 300 * time.Millisecond  // work of a fast request
	slow     = 1600 * time.Millisecond // work of request 0
)

// startBackend serves one request at a time: the mutex is its only
// worker, so a request that arrives while it is busy waits.
func startBackend() *url.URL {
	var worker sync.Mutex
	handler := func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil {
			http.Error(w, "invalid ms", http.StatusBadRequest)
			return
		}
		worker.Lock()
		time.Sleep(time.Duration(ms) * time.Millisecond)
		worker.Unlock()
		fmt.Fprintln(w, "done")
	}
	return &url.URL{Scheme: "http", Host: listen(http.HandlerFunc(handler))}
}

// listen serves h on a port the kernel picks and returns the address.
func listen(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	go http.Serve(ln, h)
	return ln.Addr().String()
}

// balancer is a reverse proxy that counts the requests in flight to each
// backend: the connections that least-connections compares.
type balancer struct {
	leastConn bool
	proxies   []*httputil.ReverseProxy
	mu        sync.Mutex
	next      int   // position where the round-robin scan starts
	active    []int // requests in flight per backend
	picks     []string
}

func newBalancer(backends []*url.URL, leastConn bool) *balancer {
	lb := &balancer{leastConn: leastConn, active: make([]int, len(backends))}
	for _, u := range backends {
		lb.proxies = append(lb.proxies, httputil.NewSingleHostReverseProxy(u))
	}
	return lb
}

// pick chooses a backend and counts the new request against it. Both
// policies scan from one past the last pick, so round-robin takes that
// backend, and least-connections breaks ties in the same rotation.
func (lb *balancer) pick(request string) int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	n := len(lb.active)
	chosen := lb.next
	for k := 1; lb.leastConn && k < n; k++ {
		i := (lb.next + k) % n
		if lb.active[i] < lb.active[chosen] {
			chosen = i
		}
	}
	// => e.g. "request 3 (fast): active 1 0 1 -> backend 2", the counts
	// just before this pick
	lb.picks = append(lb.picks, fmt.Sprintf("%s: active %s -> backend %d",
		request, counts(lb.active), chosen+1))
	lb.active[chosen]++
	lb.next = (chosen + 1) % n
	return chosen
}

func (lb *balancer) done(i int) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.active[i]--
}

func (lb *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := lb.pick(r.URL.Query().Get("name"))
	defer lb.done(i)
	lb.proxies[i].ServeHTTP(w, r)
}

func counts(active []int) string {
	parts := make([]string, len(active))
	for i, a := range active {
		parts[i] = strconv.Itoa(a)
	}
	return strings.Join(parts, " ")
}

// run sends request 0 (slow) and then 6 fast ones, one every 200 ms,
// each from its own goroutine, and returns every latency.
func run(addr string) []time.Duration {
	latencies := make([]time.Duration, requests)
	var wg sync.WaitGroup
	for i := range requests {
		work, kind := fast, "fast"
		if i == 0 {
			work, kind = slow, "slow"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := url.QueryEscape(fmt.Sprintf("request %d (%s)", i, kind))
			target := fmt.Sprintf("http://%s/?ms=%d&name=%s",
				addr, work.Milliseconds(), name)
			start := time.Now()
			resp, err := http.Get(target)
			if err != nil {
				log.Fatalf("request %d failed: %v", i, err)
			}
			resp.Body.Close()
			latencies[i] = time.Since(start)
		}()
		time.Sleep(gap)
	}
	wg.Wait()
	return latencies
}

func main() {
	backends := []*url.URL{startBackend(), startBackend(), startBackend()}

	for _, leastConn := range []bool{false, true} {
		name := "round-robin"
		if leastConn {
			name = "least-connections"
		}
		lb := newBalancer(backends, leastConn)
		latencies := run(listen(lb))

		for _, p := range lb.picks {
			fmt.Println(name, p)
		}
		// The slowest fast request shows the cost of the policy.
		var worst time.Duration
		for _, l := range latencies[1:] {
			worst = max(worst, l)
		}
		fmt.Printf("%s: slowest fast request %d ms\n", name,
			worst.Milliseconds())
	}
	// Round-robin sends requests 3 and 6 to backend 1, where they wait
	// behind the slow request 0.
	// => prints: round-robin request 0 (slow): active 0 0 0 -> backend 1
	// => prints: round-robin request 1 (fast): active 1 0 0 -> backend 2
	// => prints: round-robin request 2 (fast): active 1 1 0 -> backend 3
	// => prints: round-robin request 3 (fast): active 1 0 1 -> backend 1
	// => prints: round-robin request 4 (fast): active 2 0 0 -> backend 2
	// => prints: round-robin request 5 (fast): active 2 1 0 -> backend 3
	// => prints: round-robin request 6 (fast): active 2 0 1 -> backend 1
	// => prints: round-robin: slowest fast request 1300 ms (varies)

	// Least-connections finds backend 1 busy and alternates between the
	// other two. Each fast request ends 100 ms before its backend's next
	// turn, so the counts are the same on every run.
	// => prints: least-connections request 0 (slow): active 0 0 0 -> backend 1
	// => prints: least-connections request 1 (fast): active 1 0 0 -> backend 2
	// => prints: least-connections request 2 (fast): active 1 1 0 -> backend 3
	// => prints: least-connections request 3 (fast): active 1 0 1 -> backend 2
	// => prints: least-connections request 4 (fast): active 1 1 0 -> backend 3
	// => prints: least-connections request 5 (fast): active 1 0 1 -> backend 2
	// => prints: least-connections request 6 (fast): active 1 1 0 -> backend 3
	// => prints: least-connections: slowest fast request 300 ms (varies)
}
