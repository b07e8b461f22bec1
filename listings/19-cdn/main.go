// A CDN at small scale: an origin HTTP server and two edge caches on
// 127.0.0.1. The edges honour Cache-Control: max-age, serve hits locally,
// add a simulated distance to origin fetches and accept PURGE requests.
package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// maxAge is what the origin sends as Cache-Control: max-age, in seconds.
const maxAge = 30

// fakeClock moves only when the program sets it, so TTL expiry prints
// the same on every run.
type fakeClock struct {
	mu sync.Mutex
	t  float64
}

func (c *fakeClock) now() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t float64) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// origin keeps one version number per object, and a request count.
type origin struct {
	mu       sync.Mutex
	versions map[string]int
	requests int
}

func (o *origin) publish(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.versions[path]++
	return o.versions[path]
}

func (o *origin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.requests++
	version, ok := o.versions[r.URL.Path]
	o.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	// => the origin decides how long caches may keep a copy
	w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", maxAge))
	fmt.Fprintf(w, "%s v%d", r.URL.Path[1:], version)
}

// cached is one copy at an edge: the body, the clock reading when it
// was fetched, and the max-age the origin sent with it.
type cached struct {
	body    string
	fetched float64
	maxAge  float64
}

// edge is a cache in one region.
type edge struct {
	name      string
	originURL string
	distance  time.Duration // sleep per origin fetch
	clock     *fakeClock

	mu     sync.Mutex
	copies map[string]cached
	hits   int
	misses int
}

var maxAgeRe = regexp.MustCompile(`max-age=(\d+)`)

func (e *edge) fetch(path string) (string, float64) {
	// The round trip to the origin region: the cost every miss pays.
	time.Sleep(e.distance)
	resp, err := http.Get(e.originURL + path)
	if err != nil {
		log.Fatalf("edge %s: fetch %s failed: %v", e.name, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatalf("edge %s: read %s failed: %v", e.name, path, err)
	}
	// => no max-age means the edge must not reuse the copy
	age := 0.0
	control := resp.Header.Get("Cache-Control")
	if m := maxAgeRe.FindStringSubmatch(control); m != nil {
		age, _ = strconv.ParseFloat(m[1], 64)
	}
	return string(body), age
}

// get returns the body, HIT or MISS, and the copy's age in seconds.
func (e *edge) get(path string) (string, string, int) {
	now := e.clock.now()
	e.mu.Lock()
	c, ok := e.copies[path]
	// => a copy exactly max-age seconds old has expired
	if ok && now-c.fetched < c.maxAge {
		e.hits++
		e.mu.Unlock()
		return c.body, "HIT", int(now - c.fetched)
	}
	e.mu.Unlock()

	body, age := e.fetch(path)
	e.mu.Lock()
	e.misses++
	e.copies[path] = cached{body, now, age}
	e.mu.Unlock()
	return body, "MISS", 0
}

func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		body, state, age := e.get(r.URL.Path)
		w.Header().Set("X-Cache", state)
		w.Header().Set("Age", strconv.Itoa(age))
		io.WriteString(w, body)
	// PURGE is not a standard HTTP method. Fastly accepts it to purge
	// one URL, and a Varnish cache can be configured to.
	case "PURGE":
		e.mu.Lock()
		_, found := e.copies[r.URL.Path]
		delete(e.copies, r.URL.Path)
		e.mu.Unlock()
		if !found {
			w.WriteHeader(http.StatusNotFound)
		}
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// serve starts an HTTP server on a loopback port the kernel picks.
func serve(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	go http.Serve(ln, h)
	return "http://" + ln.Addr().String()
}

// clientGet is a user in the edge's region: GET through the edge.
func clientGet(edgeURL, path string) (string, string, string) {
	resp, err := http.Get(edgeURL + path)
	if err != nil {
		log.Fatalf("GET %s failed: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatalf("read %s failed: %v", path, err)
	}
	return string(body), resp.Header.Get("X-Cache"), resp.Header.Get("Age")
}

func purge(edgeURL, path string) int {
	req, err := http.NewRequest("PURGE", edgeURL+path, nil)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatalf("PURGE %s failed: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func main() {
	clock := &fakeClock{}
	o := &origin{versions: map[string]int{
		"/logo.png": 1, "/app.js": 1, "/timing": 1,
	}}
	originURL := serve(o)

	// Two regions: one 10 ms from the origin, one 80 ms away.
	names := []string{"near", "far"}
	edges := map[string]*edge{}
	edgeURLs := map[string]string{}
	for i, name := range names {
		e := &edge{
			name:      name,
			originURL: originURL,
			distance:  []time.Duration{10, 80}[i] * time.Millisecond,
			clock:     clock,
			copies:    map[string]cached{},
		}
		edges[name] = e
		edgeURLs[name] = serve(e)
	}

	get := func(t float64, region, path string) {
		clock.set(t)
		body, state, age := clientGet(edgeURLs[region], path)
		fmt.Printf("t=%2.0fs %4s GET %-9s -> %-4s age %2ss %q\n",
			t, region, path, state, age, body)
	}

	// Users in both regions fetch two objects: the first request in
	// each region misses, the rest are served by the edge.
	requests := []struct {
		t            float64
		region, path string
	}{
		{0, "near", "/logo.png"},
		{0, "near", "/app.js"},
		{1, "near", "/logo.png"},
		{0, "far", "/logo.png"},
		{2, "far", "/logo.png"},
		{2, "far", "/app.js"},
	}
	for _, r := range requests {
		get(r.t, r.region, r.path)
	}
	// => prints: t= 0s near GET /logo.png -> MISS age  0s "logo.png v1"
	// => prints: t= 0s near GET /app.js   -> MISS age  0s "app.js v1"
	// => prints: t= 1s near GET /logo.png -> HIT  age  1s "logo.png v1"
	// => prints: t= 0s  far GET /logo.png -> MISS age  0s "logo.png v1"
	// => prints: t= 2s  far GET /logo.png -> HIT  age  2s "logo.png v1"
	// => prints: t= 2s  far GET /app.js   -> MISS age  0s "app.js v1"
	fmt.Printf("origin requests so far: %d\n", o.count())
	// => prints: origin requests so far: 4

	// The origin publishes a new logo. No edge is told, so both keep
	// serving v1 until their copy is 30 s old or is purged.
	clock.set(10)
	fmt.Printf("t=10s origin publishes /logo.png v%d\n",
		o.publish("/logo.png"))
	// => prints: t=10s origin publishes /logo.png v2
	get(20, "near", "/logo.png")
	get(20, "far", "/logo.png")
	// => prints: t=20s near GET /logo.png -> HIT  age 20s "logo.png v1"
	// => prints: t=20s  far GET /logo.png -> HIT  age 20s "logo.png v1"

	// Purge the logo at the near edge only. Its next request goes to
	// the origin and gets v2; the far edge serves v1 until it expires.
	status := purge(edgeURLs["near"], "/logo.png")
	fmt.Printf("t=25s PURGE /logo.png at near -> %d\n", status)
	// => prints: t=25s PURGE /logo.png at near -> 200
	get(26, "near", "/logo.png")
	get(26, "far", "/logo.png")
	get(30, "far", "/logo.png")
	// => prints: t=26s near GET /logo.png -> MISS age  0s "logo.png v2"
	// => prints: t=26s  far GET /logo.png -> HIT  age 26s "logo.png v1"
	// => prints: t=30s  far GET /logo.png -> MISS age  0s "logo.png v2"

	for _, name := range names {
		e := edges[name]
		e.mu.Lock()
		fmt.Printf("edge %s: %d hits, %d misses\n", name, e.hits, e.misses)
		e.mu.Unlock()
	}
	// => prints: edge near: 2 hits, 3 misses
	// => prints: edge far: 3 hits, 3 misses
	fmt.Printf("origin requests: %d\n", o.count())
	// => prints: origin requests: 6

	// On the real clock a miss pays the distance and a hit does not.
	for _, name := range names {
		var timings []time.Duration
		for range 2 {
			start := time.Now()
			clientGet(edgeURLs[name], "/timing")
			timings = append(timings, time.Since(start))
		}
		fmt.Printf("%s: miss %d ms, hit %d ms\n", name,
			timings[0].Milliseconds(), timings[1].Milliseconds())
	}
	// => prints: near: miss 12 ms, hit 1 ms (varies)
	// => prints: far: miss 82 ms, hit 1 ms (varies)
}
