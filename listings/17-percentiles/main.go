// Latency percentiles: p50, p95 and p99 from measured samples, the mean
// that hides a slow tail, and what fan-out does to that tail.
package main

import (
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	slowShare = 0.02                  // share of requests that are slow
	fastWork  = 1 * time.Millisecond  // work of an ordinary request
	slowWork  = 50 * time.Millisecond // work of a slow one
	singles   = 300                   // requests measured one at a time
	fanOut    = 10                    // backend calls per fanned-out request
	fanned    = 120                   // fanned-out requests measured
	seed      = 67                    // picks which request ids are slow
)

// percentile returns the nearest-rank percentile of sorted samples: the
// smallest sample with at least p% of all samples at or below it.
func percentile(sorted []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func mean(samples []float64) float64 {
	sum := 0.0
	for _, s := range samples {
		sum += s
	}
	return sum / float64(len(samples))
}

// isSlow decides from the request id alone whether a request is slow, by
// hashing the id with splitmix64. The Python program uses the same hash,
// so both pick the same slow requests, whatever order they arrive in.
// => other seeds give other counts, around 6 of 300 and 22 of 120
func isSlow(id uint64) bool {
	z := id*0x9e3779b97f4a7c15 + seed
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11)/(1<<53) < slowShare
}

// startServer serves GET /work?id=N on a loopback port the kernel picks.
// Every request gets its own goroutine, so nothing queues: a latency is
// the work plus the network round trip, and the tail is the slow work.
func startServer() (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
		if err != nil {
			http.Error(w, "invalid id: "+err.Error(), http.StatusBadRequest)
			return
		}
		if isSlow(id) {
			time.Sleep(slowWork) // => a GC pause, a cold cache, a lock
			io.WriteString(w, "slow\n")
			return
		}
		time.Sleep(fastWork)
		io.WriteString(w, "fast\n")
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/work?id=", func() { srv.Close() }
}

// call sends one request and returns its latency in ms and whether the
// server reported it slow.
func call(client *http.Client, base string, id uint64) (float64, bool) {
	start := time.Now()
	resp, err := client.Get(base + strconv.FormatUint(id, 10))
	if err != nil {
		log.Fatalf("GET id=%d failed: %v", id, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		log.Fatalf("GET id=%d failed: status %d, %v", id, resp.StatusCode, err)
	}
	ms := float64(time.Since(start)) / float64(time.Millisecond)
	return ms, strings.TrimSpace(string(body)) == "slow"
}

// fannedCall calls fanOut backends in parallel, one goroutine each, and
// waits for all of them: its latency is that of the slowest call.
func fannedCall(c *http.Client, base string, first uint64) (float64, bool) {
	start := time.Now()
	slow := make([]bool, fanOut)
	var wg sync.WaitGroup
	for i := range fanOut {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, slow[i] = call(c, base, first+uint64(i))
		}()
	}
	wg.Wait()
	ms := float64(time.Since(start)) / float64(time.Millisecond)
	return ms, slices.Contains(slow, true)
}

// report prints the mean and the percentiles of samples.
func report(label string, samples []float64) {
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	fmt.Printf("%s: mean %.1f, p50 %.1f, p95 %.1f, p99 %.1f ms\n",
		label, mean(sorted), percentile(sorted, 50),
		percentile(sorted, 95), percentile(sorted, 99))
}

func main() {
	// Nearest rank on ten samples, by hand: p50 is the 5th smallest, p90
	// the 9th, and p99 rounds up to the 10th, the largest. One 300 ms
	// outlier pulls the mean far above almost every sample.
	ten := []float64{12, 15, 11, 90, 14, 13, 16, 12, 14, 300}
	sorted := slices.Clone(ten)
	slices.Sort(sorted)
	fmt.Printf("ten samples: mean %.1f, p50 %.0f, p90 %.0f, p99 %.0f ms\n",
		mean(ten), percentile(sorted, 50), percentile(sorted, 90),
		percentile(sorted, 99))
	// => prints: ten samples: mean 49.7, p50 14, p90 90, p99 300 ms

	base, stop := startServer()
	defer stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	// 300 requests, one after another. About 2% of them hit the 50 ms
	// path, which is enough to own p99 but too few to move p95.
	var latencies []float64
	slowCount := 0
	for id := range uint64(singles) {
		ms, slow := call(client, base, id)
		latencies = append(latencies, ms)
		if slow {
			slowCount++
		}
	}
	fmt.Printf("one call: %d of %d requests slow\n", slowCount, singles)
	// => prints: one call: 6 of 300 requests slow
	report("one call", latencies)
	// => prints: one call: mean 2.3, p50 1.2, p95 1.4, p99 51.0 ms (varies)

	// Each fanned-out request waits for the slowest of 10 calls, so it is
	// fast only if all 10 are: (1 - 0.02)^10 = 81.7% of the time.
	var fannedLatencies []float64
	hit := 0
	for n := range uint64(fanned) {
		ms, slow := fannedCall(client, base, singles+n*fanOut)
		fannedLatencies = append(fannedLatencies, ms)
		if slow {
			hit++
		}
	}
	fmt.Printf("fan-out %d: %d of %d requests saw a slow call (%.1f%%)\n",
		fanOut, hit, fanned, 100*float64(hit)/fanned)
	// => prints: fan-out 10: 21 of 120 requests saw a slow call (17.5%)
	fmt.Printf("formula: 1 - (1 - %.2f)^%d = %.1f%%\n",
		slowShare, fanOut, 100*(1-math.Pow(1-slowShare, fanOut)))
	// => prints: formula: 1 - (1 - 0.02)^10 = 18.3%
	report("fan-out 10", fannedLatencies)
	// => prints: fan-out 10: mean 10.4, p50 1.6, p95 51.3, p99 51.9 ms (varies)
}
