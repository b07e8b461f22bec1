// Latency and throughput: an HTTP server with a fixed pool of workers,
// driven by an open-loop client at rising load, and Little's law checked
// on the measured numbers.
package main

import (
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

const (
	workers = 2                       // requests the server serves at once
	work    = 20 * time.Millisecond   // fixed work for one request
	level   = 1200 * time.Millisecond // how long each load level sends
)

// gauge counts the requests inside the server, waiting or in service,
// and adds up count x time: the area under the count over time.
type gauge struct {
	mu    sync.Mutex
	n     int
	last  time.Time
	areaS float64 // request-seconds since the last take
}

func (g *gauge) add(delta int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.areaS += float64(g.n) * now.Sub(g.last).Seconds()
	g.last = now
	g.n += delta
}

// take returns the area since the previous take and starts a new one.
func (g *gauge) take() float64 {
	g.add(0)
	g.mu.Lock()
	defer g.mu.Unlock()
	area := g.areaS
	g.areaS = 0
	return area
}

// startServer serves GET /work on a loopback port the kernel picks. A
// buffered channel of 2 slots is the worker pool: a request that finds
// both slots taken waits for one, in its own goroutine.
func startServer(inside *gauge) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	slots := make(chan struct{}, workers)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		inside.add(1)
		slots <- struct{}{} // => blocks while 2 requests are in service
		time.Sleep(work)    // => a sleep takes the place of 20 ms of work
		<-slots
		inside.add(-1)
		io.WriteString(w, "done\n")
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/work", func() { srv.Close() }
}

// splitmix64 is a tiny seeded generator. The Python program uses the same
// one, so both send their requests at the same moments.
type splitmix64 struct{ state uint64 }

func (s *splitmix64) uniform() float64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// arrivals returns n send times, in seconds from the start, spread over
// the given seconds. Given that exactly n requests arrive in a window, the
// arrival times of a Poisson stream are n uniform times, sorted. So the
// load is random in its timing but exact in its rate.
func arrivals(rng *splitmix64, n int, seconds float64) []float64 {
	times := make([]float64, n)
	for i := range times {
		times[i] = rng.uniform() * seconds
	}
	sort.Float64s(times)
	return times
}

// result holds the measurements of one load level.
type result struct {
	throughput float64 // responses per second while the level sent
	latency    float64 // mean latency the client measured, in seconds
	lambda     float64 // arrival rate over the same window, per second
	inside     float64 // mean requests inside the server (L)
}

// run sends one request at each time in sends, whatever happened to the
// earlier ones: an open loop, like users who do not wait for each other.
func run(client *http.Client, url string, sends []float64, in *gauge) result {
	var mu sync.Mutex
	var sum float64 // latencies added up, in seconds
	var early int   // responses that arrived while the level was sending
	var wg sync.WaitGroup
	in.take()
	start := time.Now()
	for _, at := range sends {
		time.Sleep(time.Until(start.Add(time.Duration(at * float64(time.Second)))))
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				log.Fatalf("GET %s failed: %v", url, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			sum += time.Since(sent).Seconds()
			if time.Since(start) <= level {
				early++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()

	// => throughput counts responses while the level sends; the queue
	// left at its end drains afterwards
	// => Little's window runs until the last response, so every request
	// sent in it also finished in it: L, lambda and W cover the same span
	window := time.Since(start).Seconds()
	n := float64(len(sends))
	return result{
		throughput: float64(early) / level.Seconds(),
		latency:    sum / n,
		lambda:     n / window,
		inside:     in.take() / window,
	}
}

func main() {
	inside := &gauge{last: time.Now()}
	url, stop := startServer(inside)
	defer stop()
	// => keep-alive connections, so a request costs no new TCP handshake
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}

	capacity := float64(workers) / work.Seconds()
	fmt.Printf("server: %d workers x %d ms, capacity %.0f req/s\n",
		workers, work.Milliseconds(), capacity)
	// => prints: server: 2 workers x 20 ms, capacity 100 req/s

	// Offered load rises from half the capacity to 95% of it, then past
	// it. Each level sends rho x 100 req/s for 1.2 s at random moments.
	rng := &splitmix64{state: 16}
	latency := map[float64]float64{} // mean latency per rho, in seconds
	served := map[float64]float64{}  // throughput per rho, per second
	for _, rho := range []float64{0.5, 0.8, 0.9, 0.95, 1.2} {
		n := int(math.Round(rho * capacity * level.Seconds()))
		sends := arrivals(rng, n, level.Seconds())
		fmt.Printf("rho %.2f: %d requests in %.1f s, %.0f req/s offered\n",
			rho, n, level.Seconds(), float64(n)/level.Seconds())
		r := run(client, url, sends, inside)
		latency[rho] = r.latency
		served[rho] = r.throughput
		fmt.Printf("rho %.2f: served %.1f req/s, mean latency %.1f ms\n",
			rho, r.throughput, 1000*r.latency)

		// Little's law: mean number inside = arrival rate x mean time
		// inside. The server measured L; the client measured lambda, W.
		fmt.Printf("rho %.2f: Little's law L = %.2f, lambda x W = %.2f\n",
			rho, r.inside, r.lambda*r.latency)
	}
	// => prints: rho 0.50: 60 requests in 1.2 s, 50 req/s offered
	// => prints: rho 0.80: 96 requests in 1.2 s, 80 req/s offered
	// => prints: rho 0.90: 108 requests in 1.2 s, 90 req/s offered
	// => prints: rho 0.95: 114 requests in 1.2 s, 95 req/s offered
	// => prints: rho 1.20: 144 requests in 1.2 s, 120 req/s offered
	// => prints: rho 0.50: served 49.2 req/s, mean latency 27.7 ms (varies)
	// => prints: rho 0.80: served 78.3 req/s, mean latency 33.3 ms (varies)
	// => prints: rho 0.90: served 81.7 req/s, mean latency 47.3 ms (varies)
	// => prints: rho 0.95: served 89.2 req/s, mean latency 55.9 ms (varies)
	// => prints: rho 1.20: served 91.7 req/s, mean latency 158.4 ms (varies)
	// => prints: rho 0.50: Little's law L = 1.35, lambda x W = 1.37 (varies)
	// => prints: rho 0.80: Little's law L = 2.62, lambda x W = 2.64 (varies)
	// => prints: rho 0.90: Little's law L = 3.90, lambda x W = 3.92 (varies)
	// => prints: rho 0.95: Little's law L = 4.99, lambda x W = 5.01 (varies)
	// => prints: rho 1.20: Little's law L = 14.65, lambda x W = 14.69 (varies)

	// Throughput followed the offered load up to the capacity; latency
	// did not. It grows like 1 / (1 - rho), so the last few percent of
	// load cost the most, and past the capacity the queue only grows.
	fmt.Printf("mean latency at rho 0.95 / at rho 0.50: x%.1f\n",
		latency[0.95]/latency[0.5])
	// => prints: mean latency at rho 0.95 / at rho 0.50: x2.0 (varies)

	// Past the capacity, 26% more load brings almost no more throughput,
	// only a longer queue: the backlog adds to every later request.
	fmt.Printf("rho 0.95 -> 1.20: throughput x%.2f, latency x%.1f\n",
		served[1.2]/served[0.95], latency[1.2]/latency[0.95])
	// => prints: rho 0.95 -> 1.20: throughput x1.03, latency x2.8 (varies)
}
