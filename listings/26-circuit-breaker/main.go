// Circuit breaker: a client calls a real HTTP dependency on 127.0.0.1
// that stalls for a while, first without a breaker and then through one.
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

const (
	timeout = 100 * time.Millisecond // the client gives up after this
	stall   = 300 * time.Millisecond // a failing dependency responds late
	openFor = 500 * time.Millisecond // the breaker sheds calls this long
)

// State is the breaker's state.
type State int

const (
	Closed State = iota
	Open
	HalfOpen
)

func (s State) String() string {
	return [...]string{"closed", "open", "half-open"}[s]
}

// ErrOpen is what a shed call returns: the dependency was never called.
var ErrOpen = errors.New("circuit open: call shed")

// Breaker opens when at least threshold of the last window calls failed,
// sheds every call while open, then lets probes through half-open.
type Breaker struct {
	mu        sync.Mutex
	window    int
	threshold float64 // failure fraction that opens the breaker
	openFor   time.Duration
	probes    int // calls a half-open breaker lets through

	state    State
	outcomes []bool // last window outcomes while closed, true = failed
	openedAt time.Time
	sent     int // probes sent in this half-open period
	passed   int // probes that succeeded in this half-open period
	// period counts state changes. A call remembers the period it started
	// in, so a late response from an earlier period is ignored.
	period   int
	onChange func(from, to State, why string)
}

// allow decides whether a call may go to the dependency now.
func (b *Breaker) allow() (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// => the open period ends at the first call after openFor, so an idle
	// breaker needs no timer
	if b.state == Open && time.Since(b.openedAt) >= b.openFor {
		b.move(HalfOpen, "open period over")
	}
	switch b.state {
	case Closed:
		return b.period, true
	case HalfOpen:
		if b.sent < b.probes {
			b.sent++
			return b.period, true
		}
	}
	return 0, false // => open, or half-open with every probe out
}

// record feeds one call's outcome to the breaker.
func (b *Breaker) record(period int, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if period != b.period {
		return
	}
	switch b.state {
	case Closed:
		b.outcomes = append(b.outcomes, failed)
		if len(b.outcomes) > b.window {
			b.outcomes = b.outcomes[1:]
		}
		n := 0
		for _, f := range b.outcomes {
			if f {
				n++
			}
		}
		// => judge only a full window: one early failure is not 100%
		full := len(b.outcomes) == b.window
		if full && float64(n) >= b.threshold*float64(b.window) {
			why := fmt.Sprintf("%d of the last %d calls failed", n, b.window)
			b.move(Open, why)
		}
	case HalfOpen:
		if failed {
			b.move(Open, "the probe failed")
			return
		}
		b.passed++
		if b.passed == b.probes {
			b.move(Closed, "the probe succeeded")
		}
	}
}

// move changes state and starts a new period with fresh counts.
func (b *Breaker) move(to State, why string) {
	from := b.state
	b.state, b.period = to, b.period+1
	b.outcomes, b.sent, b.passed = nil, 0, 0
	if to == Open {
		b.openedAt = time.Now()
	}
	b.onChange(from, to, why)
}

// Call runs fn through the breaker, or returns ErrOpen at once.
func (b *Breaker) Call(fn func() error) error {
	period, ok := b.allow()
	if !ok {
		return ErrOpen
	}
	err := fn()
	b.record(period, err != nil)
	return err
}

// get calls the dependency once; a timeout or a 5xx is a failure.
func get(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 500 {
		return fmt.Errorf("dependency returned %s", resp.Status)
	}
	return nil
}

// tally counts how the calls of one phase ended and how long they took.
type tally struct {
	ok, timedOut, shed int
	waited, maxShed    time.Duration
}

func (t *tally) add(err error, took time.Duration) {
	var netErr net.Error
	t.waited += took
	switch {
	case err == nil:
		t.ok++
	case errors.Is(err, ErrOpen):
		t.shed++
		t.maxShed = max(t.maxShed, took)
	case errors.As(err, &netErr) && netErr.Timeout():
		t.timedOut++
	default:
		log.Fatalf("unexpected call error: %v", err)
	}
}

// run makes n calls one after another, through the breaker if b is set.
func run(n int, b *Breaker, client *http.Client, url string) tally {
	var t tally
	for range n {
		start := time.Now()
		var err error
		if b == nil {
			err = get(client, url)
		} else {
			err = b.Call(func() error { return get(client, url) })
		}
		t.add(err, time.Since(start))
	}
	return t
}

func main() {
	// The dependency: responds at once while healthy, and stalls for
	// 300 ms while failing, three times the client's timeout.
	var failing atomic.Bool
	dep := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			select {
			case <-time.After(stall):
			case <-r.Context().Done(): // => the client gave up
			}
			http.Error(w, "too late", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	srv := &http.Server{Handler: dep}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"
	client := &http.Client{Timeout: timeout}

	// Without a breaker, every call to the stalled dependency waits for
	// the full timeout before it fails.
	failing.Store(true)
	t := run(10, nil, client, url)
	fmt.Printf("no breaker: %d timed out, callers waited %.1f s\n",
		t.timedOut, t.waited.Seconds())
	// => prints: no breaker: 10 timed out, callers waited 1.0 s (varies)

	// The breaker: a window of 4 calls, open at 50% failures, stay open
	// for 500 ms, then let 1 probe through.
	changes := 0
	b := &Breaker{window: 4, threshold: 0.5, openFor: openFor, probes: 1,
		onChange: func(from, to State, why string) {
			changes++
			fmt.Printf("change %d: %s -> %s (%s)\n", changes, from, to, why)
		}}
	failing.Store(false)
	t = run(5, b, client, url)
	fmt.Printf("healthy: %d succeeded\n", t.ok)
	// => prints: healthy: 5 succeeded

	// Two timeouts make 2 failures in a window of 4: the breaker opens,
	// and the next 8 calls fail at once without touching the dependency.
	failing.Store(true)
	t = run(10, b, client, url)
	// => prints: change 1: closed -> open (2 of the last 4 calls failed)
	fmt.Printf("failing: %d timed out, %d shed\n", t.timedOut, t.shed)
	// => prints: failing: 2 timed out, 8 shed
	shedUS := float64(t.maxShed.Nanoseconds()) / 1000
	fmt.Printf("a shed call took at most %.1f µs\n", shedUS)
	// => prints: a shed call took at most 3.0 µs (varies)

	// After the open period the next call is a probe. The dependency is
	// still stalled, so the probe times out and the breaker opens again.
	time.Sleep(openFor + 100*time.Millisecond)
	t = run(4, b, client, url)
	// => prints: change 2: open -> half-open (open period over)
	// => prints: change 3: half-open -> open (the probe failed)
	fmt.Printf("still failing: %d probe timed out, %d shed\n",
		t.timedOut, t.shed)
	// => prints: still failing: 1 probe timed out, 3 shed

	// The dependency recovers. One successful probe closes the breaker.
	failing.Store(false)
	time.Sleep(openFor + 100*time.Millisecond)
	t = run(5, b, client, url)
	// => prints: change 4: open -> half-open (open period over)
	// => prints: change 5: half-open -> closed (the probe succeeded)
	fmt.Printf("recovered: %d succeeded, %d shed\n", t.ok, t.shed)
	// => prints: recovered: 5 succeeded, 0 shed
}
