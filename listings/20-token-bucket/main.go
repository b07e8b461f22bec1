// Token bucket rate limiter: a burst up to capacity, then a steady refill,
// first on a hand-driven clock and then in front of a real HTTP server.
package main

import (
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Bucket holds up to capacity tokens and gains rate tokens per second.
// Every request takes one token or is rejected. The clock is a function
// the caller passes in, so a program can drive time by hand.
type Bucket struct {
	// The HTTP server calls Allow from many goroutines at once.
	mu       sync.Mutex
	capacity float64
	rate     float64        // tokens per second
	tokens   float64        // level at the last refill
	last     float64        // clock reading at the last refill, seconds
	now      func() float64 // seconds since some fixed start
}

// NewBucket returns a bucket with capacity tokens in it.
func NewBucket(capacity int, rate float64, now func() float64) *Bucket {
	// => starts full, so a client that has been quiet may burst at once
	c := float64(capacity)
	return &Bucket{capacity: c, rate: rate, tokens: c, last: now(), now: now}
}

// refill adds the tokens earned since the last call, capped at capacity.
// No timer runs in the background: the level is worked out on demand.
func (b *Bucket) refill() {
	t := b.now()
	// => min is the cap: tokens earned beyond capacity are lost
	b.tokens = min(b.capacity, b.tokens+(t-b.last)*b.rate)
	b.last = t
}

// Allow takes one token if a whole token is there. Otherwise it returns
// how many seconds remain until there will be one.
func (b *Bucket) Allow() (bool, float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	// => 0.4 tokens at 1 token/s means a whole token in 0.6 s
	return false, (1 - b.tokens) / b.rate
}

// Tokens returns the level now, fractions included.
func (b *Bucket) Tokens() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	return b.tokens
}

// FakeClock is a clock that moves only when the program advances it.
type FakeClock struct{ t float64 }

// Now returns the clock reading in seconds.
func (c *FakeClock) Now() float64 { return c.t }

// Advance moves the clock forward by s seconds.
func (c *FakeClock) Advance(s float64) { c.t += s }

func verdict(ok bool) string {
	if ok {
		return "accepted"
	}
	return "rejected"
}

func simulate() {
	// Capacity 5, refill 1 token per second, on a clock we move by hand,
	// so every line below prints the same on every run.
	clock := &FakeClock{}
	b := NewBucket(5, 1, clock.Now)

	// Eight requests in the same instant: the bucket pays for five of
	// them out of its stored tokens and has nothing left for the rest.
	for i := 1; i <= 8; i++ {
		ok, _ := b.Allow()
		fmt.Printf("burst: request %d %s, %.1f tokens left\n",
			i, verdict(ok), b.Tokens())
	}
	// => prints: burst: request 1 accepted, 4.0 tokens left
	// => prints: burst: request 2 accepted, 3.0 tokens left
	// => prints: burst: request 3 accepted, 2.0 tokens left
	// => prints: burst: request 4 accepted, 1.0 tokens left
	// => prints: burst: request 5 accepted, 0.0 tokens left
	// => prints: burst: request 6 rejected, 0.0 tokens left
	// => prints: burst: request 7 rejected, 0.0 tokens left
	// => prints: burst: request 8 rejected, 0.0 tokens left

	// Half a second later half a token has come back. Half a token is
	// not a token: the request is rejected, with the wait it needs.
	clock.Advance(0.5)
	ok, wait := b.Allow() // => false, 0.5
	fmt.Printf("t=0.5s: %s, retry in %.1f s\n", verdict(ok), wait)
	// => prints: t=0.5s: rejected, retry in 0.5 s

	// At t=1.0s the first whole token is back and pays for one request.
	clock.Advance(0.5)
	ok, _ = b.Allow() // => true: the token is spent at once
	fmt.Printf("t=1.0s: %s, %.1f tokens left\n", verdict(ok), b.Tokens())
	// => prints: t=1.0s: accepted, 0.0 tokens left

	// Tokens pile up while no requests arrive, but never beyond capacity: a
	// client idle for a minute still gets a burst of 5, not of 60.
	clock.Advance(3)
	fmt.Printf("t=4.0s: %.1f tokens after 3 s idle\n", b.Tokens())
	// => prints: t=4.0s: 3.0 tokens after 3 s idle
	clock.Advance(56)
	fmt.Printf("t=60.0s: %.1f tokens, the capacity\n", b.Tokens())
	// => prints: t=60.0s: 5.0 tokens, the capacity

	// Now a client sends 4 requests per second for 20 s. The first 10 s
	// spend the stored burst on top of the refill; after that the
	// accepted rate is the refill rate, 1 per second.
	for part := 0; part < 2; part++ {
		accepted := 0
		for i := 0; i < 40; i++ {
			if ok, _ := b.Allow(); ok {
				accepted++
			}
			clock.Advance(0.25)
		}
		from, to := part*10, part*10+10
		fmt.Printf("seconds %d-%d at 4/s: %d of 40 accepted, %.2f/s\n",
			from, to, accepted, float64(accepted)/10)
	}
	// => prints: seconds 0-10 at 4/s: 14 of 40 accepted, 1.40/s
	// => prints: seconds 10-20 at 4/s: 10 of 40 accepted, 1.00/s
}

// limited wraps next and responds with 429 Too Many Requests while the
// bucket is empty, with Retry-After set to the whole seconds until the
// next token.
func limited(b *Bucket, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := b.Allow()
		if !ok {
			// => Retry-After takes whole seconds, so round up, never down:
			// a client that comes back early is rejected again.
			retry := strconv.Itoa(int(math.Ceil(wait)))
			w.Header().Set("Retry-After", retry)
			http.Error(w, "rate limit exceeded", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// get sends one request and returns the status line and Retry-After.
func get(client *http.Client, url string) (string, string) {
	resp, err := client.Get(url)
	if err != nil {
		log.Fatalf("GET %s failed: %v", url, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.Status, resp.Header.Get("Retry-After")
}

func serve() {
	// The same bucket on the real clock, in front of a real server on a
	// loopback port that the kernel picks.
	start := time.Now()
	b := NewBucket(5, 1, func() float64 {
		return time.Since(start).Seconds()
	})
	hello := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	srv := &http.Server{Handler: limited(b, hello)}
	go srv.Serve(ln)
	defer srv.Close()

	// Seven requests back to back: five tokens, then two 429s.
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + ln.Addr().String() + "/"
	retry := ""
	for i := 1; i <= 7; i++ {
		status, after := get(client, url)
		if after == "" {
			fmt.Printf("GET / #%d: %s\n", i, status)
			continue
		}
		retry = after
		fmt.Printf("GET / #%d: %s, Retry-After: %s\n", i, status, after)
	}
	// => prints: GET / #1: 200 OK
	// => prints: GET / #2: 200 OK
	// => prints: GET / #3: 200 OK
	// => prints: GET / #4: 200 OK
	// => prints: GET / #5: 200 OK
	// => prints: GET / #6: 429 Too Many Requests, Retry-After: 1
	// => prints: GET / #7: 429 Too Many Requests, Retry-After: 1

	// A well-behaved client waits as long as the server asked, and its
	// next request finds a token.
	seconds, err := strconv.Atoi(retry)
	if err != nil {
		log.Fatalf("invalid Retry-After %q: %v", retry, err)
	}
	time.Sleep(time.Duration(seconds) * time.Second)
	status, _ := get(client, url)
	fmt.Printf("GET / #8 after %d s: %s\n", seconds, status)
	// => prints: GET / #8 after 1 s: 200 OK
}

func main() {
	simulate()
	serve()
}
