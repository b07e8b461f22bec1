// Health checks: three instances on 127.0.0.1 with /livez and /readyz, a
// checker that probes them, and a balancer that routes only to ready ones.
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	warmUp           = 200 * time.Millisecond // before a fresh process serves
	period           = 100 * time.Millisecond // between starts of probe rounds
	probeTimeout     = 50 * time.Millisecond  // a slower probe has failed
	failureThreshold = 3                      // failures in a row to act on
	clientTimeout    = 100 * time.Millisecond // a slower request has failed
	batch            = 6                      // requests sent at once
)

// Instance is one process of the service: an HTTP server on 127.0.0.1
// that is cold for warmUp after it starts and can be made to hang.
type Instance struct {
	Name    string
	Addr    string
	started time.Time
	warmUp  time.Duration
	hung    atomic.Bool
	killed  chan struct{}
	srv     *http.Server
}

// startInstance starts a process listening on addr ("127.0.0.1:0" picks
// a free port).
func startInstance(name string, warmUp time.Duration, addr string) *Instance {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("listen on %s failed: %v", addr, err)
	}
	in := &Instance{
		Name:    name,
		Addr:    ln.Addr().String(),
		started: time.Now(),
		warmUp:  warmUp,
		killed:  make(chan struct{}),
	}
	in.srv = &http.Server{Handler: http.HandlerFunc(in.serve)}
	go in.srv.Serve(ln)
	return in
}

func (in *Instance) warm() bool { return time.Since(in.started) >= in.warmUp }

// serve handles /livez, /readyz and /.
func (in *Instance) serve(w http.ResponseWriter, r *http.Request) {
	if in.hung.Load() {
		// => a hung process accepts the connection and never responds
		<-in.killed
		return
	}
	ok := true // => /livez: the process runs, even while it is still cold
	if r.URL.Path != "/livez" {
		ok = in.warm() // => /readyz and real requests need the warm-up
	}
	if !ok {
		http.Error(w, "warming up", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// kill stops the process; its hung handlers return without responding.
func (in *Instance) kill() {
	close(in.killed)
	in.srv.Close()
}

// newClient returns a client that opens a new connection for every
// request, so no request reuses a connection to a killed process.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
}

// get returns "ok", or why the request failed: "503", "timeout", "error".
func get(client *http.Client, url string) string {
	resp, err := client.Get(url)
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case err != nil:
		return "error"
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return strconv.Itoa(resp.StatusCode)
	}
	return "ok"
}

// Checker probes /livez and /readyz of every instance each period. An
// instance joins the rotation when /readyz passes and leaves it after
// failureThreshold failures in a row. failureThreshold failed /livez
// probes in a row restart it.
type Checker struct {
	mu         sync.Mutex
	pool       map[string]*Instance // a restart replaces an entry
	rotation   map[string]bool      // => empty until a probe passes
	readyFails map[string]int
	liveFails  map[string]int
	client     *http.Client
	stop, done chan struct{}
}

func newChecker(pool map[string]*Instance) *Checker {
	return &Checker{
		pool:       pool,
		rotation:   map[string]bool{},
		readyFails: map[string]int{},
		liveFails:  map[string]int{},
		client:     newClient(probeTimeout),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
}

// ready returns the instances in the rotation, by name.
func (c *Checker) ready() []*Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Instance
	for _, name := range sortedNames(c.pool) {
		if c.rotation[name] {
			out = append(out, c.pool[name])
		}
	}
	return out
}

// waitUntil returns once check holds for the rotation.
func (c *Checker) waitUntil(check func(rotation map[string]bool) bool) {
	for deadline := time.Now().Add(2 * time.Second); ; {
		c.mu.Lock()
		ok := check(c.rotation)
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			log.Fatal("the rotation did not change in 2 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *Checker) start() { go c.run() }

// run starts a probe round on every tick of a ticker, as the kubelet
// does: rounds begin a period apart, or at once after a round overran.
func (c *Checker) run() {
	defer close(c.done)
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		c.probeRound()
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
	}
}

// probeRound probes every endpoint at once, so one hung instance costs
// the round probeTimeout, not probeTimeout per probe.
func (c *Checker) probeRound() {
	c.mu.Lock()
	names := sortedNames(c.pool)
	targets := make([]*Instance, len(names))
	for i, name := range names {
		targets[i] = c.pool[name]
	}
	c.mu.Unlock()

	live := make([]bool, len(targets))
	ready := make([]bool, len(targets))
	var wg sync.WaitGroup
	for i, in := range targets {
		wg.Add(2)
		go func() {
			defer wg.Done()
			live[i] = get(c.client, "http://"+in.Addr+"/livez") == "ok"
		}()
		go func() {
			defer wg.Done()
			ready[i] = get(c.client, "http://"+in.Addr+"/readyz") == "ok"
		}()
	}
	wg.Wait()

	c.mu.Lock()
	defer c.mu.Unlock()
	for i, name := range names {
		c.judge(name, live[i], ready[i])
	}
}

// judge acts on one instance's probe results; the caller holds c.mu.
func (c *Checker) judge(name string, live, ready bool) {
	if ready {
		c.readyFails[name] = 0
		if !c.rotation[name] {
			c.rotation[name] = true
			fmt.Printf("checker: %s passed /readyz, joins the rotation\n",
				name)
		}
	} else {
		c.readyFails[name]++
		n := c.readyFails[name]
		if n >= failureThreshold && c.rotation[name] {
			// => a failed readiness check removes, it never restarts
			delete(c.rotation, name)
			fmt.Printf("checker: %s failed /readyz %d times, removed\n",
				name, n)
		}
	}
	if live {
		c.liveFails[name] = 0
	} else {
		c.liveFails[name]++
	}
	if c.liveFails[name] >= failureThreshold {
		// => a failed liveness check restarts: kill the process and start
		// a fresh one on the same port, cold again
		old := c.pool[name]
		old.kill()
		c.pool[name] = startInstance(name, warmUp, old.Addr)
		delete(c.rotation, name)
		c.liveFails[name], c.readyFails[name] = 0, 0
		fmt.Printf("checker: %s failed /livez %d times, restarted\n",
			name, failureThreshold)
	}
}

func (c *Checker) halt() {
	close(c.stop)
	<-c.done
}

// killAll stops every instance in the pool.
func (c *Checker) killAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, in := range c.pool {
		in.kill()
	}
}

// Balancer is round-robin over the instances that candidates returns.
type Balancer struct {
	candidates func() []*Instance
	next       int
}

func (b *Balancer) pick() *Instance {
	in := b.candidates()
	pick := in[b.next%len(in)]
	b.next++
	return pick
}

var client = newClient(clientTimeout)

// sendBatch sends batch requests at once, prints how they ended and
// returns the number that failed.
func sendBatch(b *Balancer, label string) int {
	picked := make([]*Instance, batch)
	for i := range picked {
		picked[i] = b.pick()
	}
	results := make([]string, batch)
	var wg sync.WaitGroup
	for i, in := range picked {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = get(client, "http://"+in.Addr+"/")
		}()
	}
	wg.Wait()

	var kinds []string // => failure kinds in order of first appearance
	counts := map[string]int{}
	for i, why := range results {
		if why == "ok" {
			continue
		}
		kind := why + " from " + picked[i].Name
		if counts[kind] == 0 {
			kinds = append(kinds, kind)
		}
		counts[kind]++
	}
	failed := 0
	var parts []string
	for _, kind := range kinds {
		failed += counts[kind]
		parts = append(parts, fmt.Sprintf("%s x%d", kind, counts[kind]))
	}
	line := fmt.Sprintf("%s: %d served, %d failed",
		label, batch-failed, failed)
	if failed > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	fmt.Println(line)
	return failed
}

func sortedNames(pool map[string]*Instance) []string {
	names := make([]string, 0, len(pool))
	for name := range pool {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// startPool starts A and B warm and C just started, needing warmUp.
func startPool() map[string]*Instance {
	return map[string]*Instance{
		"A": startInstance("A", 0, "127.0.0.1:0"),
		"B": startInstance("B", 0, "127.0.0.1:0"),
		"C": startInstance("C", warmUp, "127.0.0.1:0"),
	}
}

func withoutChecks() int {
	pool := startPool()
	all := []*Instance{pool["A"], pool["B"], pool["C"]}
	b := &Balancer{candidates: func() []*Instance { return all }}

	// => round-robin over A, B, C: two requests reach C while it is cold
	failed := sendBatch(b, "no checks, C cold")
	// => prints: no checks, C cold: 4 served, 2 failed (503 from C x2)

	time.Sleep(warmUp)
	pool["B"].hung.Store(true)
	// => nothing notices the hang, so B keeps its share of every batch
	failed += sendBatch(b, "no checks, B hung")
	// => prints: no checks, B hung: 4 served, 2 failed (timeout from B x2)
	failed += sendBatch(b, "no checks, B hung")
	// => prints: no checks, B hung: 4 served, 2 failed (timeout from B x2)

	for _, in := range all {
		in.kill()
	}
	return failed
}

func withChecks() int {
	pool := startPool()
	c := newChecker(pool)
	b := &Balancer{candidates: c.ready}
	started := time.Now()
	c.start()

	// The first probe round passes A and B; C stays out while it is cold.
	c.waitUntil(func(r map[string]bool) bool { return r["A"] && r["B"] })
	// => prints: checker: A passed /readyz, joins the rotation
	// => prints: checker: B passed /readyz, joins the rotation
	failed := sendBatch(b, "checks, C cold")
	// => prints: checks, C cold: 6 served, 0 failed

	c.waitUntil(func(r map[string]bool) bool { return r["C"] })
	// => prints: checker: C passed /readyz, joins the rotation
	fmt.Printf("C joined %d ms after it started\n",
		time.Since(started).Milliseconds())
	// => prints: C joined 205 ms after it started (varies)

	// B hangs. Until failureThreshold probes in a row have failed, the
	// balancer still sends it a third of the requests.
	hungAt := time.Now()
	c.mu.Lock()
	c.pool["B"].hung.Store(true)
	c.mu.Unlock()
	failed += sendBatch(b, "checks, B hung")
	// => prints: checks, B hung: 4 served, 2 failed (timeout from B x2)

	c.waitUntil(func(r map[string]bool) bool { return !r["B"] })
	// => prints: checker: B failed /readyz 3 times, removed
	// => prints: checker: B failed /livez 3 times, restarted
	fmt.Printf("B left the rotation %d ms after it hung\n",
		time.Since(hungAt).Milliseconds())
	// => prints: B left the rotation 350 ms after it hung (varies)

	// The fresh B is cold: it rejoins only when its /readyz passes.
	c.waitUntil(func(r map[string]bool) bool { return r["B"] })
	// => prints: checker: B passed /readyz, joins the rotation
	failed += sendBatch(b, "checks, B restarted")
	// => prints: checks, B restarted: 6 served, 0 failed

	c.halt()
	c.killAll()
	return failed
}

func main() {
	without := withoutChecks()
	with := withChecks()
	fmt.Printf("failed of %d: %d without checks, %d with\n",
		3*batch, without, with)
	// => prints: failed of 18: 6 without checks, 2 with
}
