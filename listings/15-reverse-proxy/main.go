// Reverse proxy: one address in front of several backends. It routes by
// the longest matching path prefix, adds X-Forwarded-For, caches static
// files and responds 502 Bad Gateway when a backend is down.
package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Backend is a server behind the proxy that remembers what it was sent.
type Backend struct {
	name     string
	server   *http.Server
	url      *url.URL
	mu       sync.Mutex
	requests int
	xff      string // X-Forwarded-For of the last request
}

func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.requests++
	b.xff = r.Header.Get("X-Forwarded-For")
	b.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/static/") {
		w.Header().Set("Cache-Control", "max-age=60")
	}
	fmt.Fprintf(w, "%s served %s\n", b.name, r.URL.Path)
}

func (b *Backend) seen() (requests int, xff string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests, b.xff
}

// startBackend serves b on a port the kernel picks on 127.0.0.1.
func startBackend(name string) *Backend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	b := &Backend{name: name}
	b.url = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	b.server = &http.Server{Handler: b}
	go b.server.Serve(ln)
	return b
}

// upstream is one backend as the proxy sees it.
type upstream struct {
	name  string
	proxy *httputil.ReverseProxy
}

// newUpstream builds a ReverseProxy that forwards to b.
func newUpstream(b *Backend) upstream {
	rp := &httputil.ReverseProxy{
		// Before Rewrite runs, ReverseProxy drops any Forwarded,
		// X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto header
		// the client sent. SetXForwarded sets X-Forwarded-For to the
		// client's IP and X-Forwarded-Host and -Proto to what the client
		// asked for.
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(b.url)
			r.SetXForwarded()
		},
		// => the default handler also responds 502, but logs each error
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return upstream{b.name, rp}
}

// route sends paths that start with prefix to a pool of upstreams.
type route struct {
	prefix string
	pool   []upstream
	cached bool // whether the proxy caches responses on this route
	next   int  // round-robin position in the pool
}

// entry is one cached response and the moment it stops being fresh.
type entry struct {
	header  http.Header // the backend's response headers
	body    []byte
	expires time.Time
}

// Proxy is the reverse proxy: a routing table and a cache.
type Proxy struct {
	mu     sync.Mutex
	routes []*route
	cache  map[string]entry
}

// match returns the route with the longest prefix of path, or nil.
func (p *Proxy) match(path string) *route {
	var best *route
	for _, rt := range p.routes {
		if strings.HasPrefix(path, rt.prefix) &&
			(best == nil || len(rt.prefix) > len(best.prefix)) {
			best = rt
		}
	}
	return best
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := p.match(r.URL.Path)
	if rt == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Route", rt.prefix)

	p.mu.Lock()
	e, hit := p.cache[r.URL.Path]
	hit = hit && rt.cached && time.Now().Before(e.expires)
	up := rt.pool[rt.next%len(rt.pool)]
	if !hit {
		rt.next++
	}
	p.mu.Unlock()
	if hit {
		// => a hit never reaches the static server
		for name, values := range e.header {
			w.Header()[name] = values
		}
		w.Header().Set("X-Upstream", "cache")
		w.Write(e.body)
		return
	}
	w.Header().Set("X-Upstream", up.name)
	if !rt.cached {
		up.proxy.ServeHTTP(w, r)
		return
	}

	// Record the response so it can be stored, then copy it out.
	rec := httptest.NewRecorder()
	up.proxy.ServeHTTP(rec, r)
	if age := maxAge(rec.Header().Get("Cache-Control")); age > 0 &&
		rec.Code == http.StatusOK {
		p.mu.Lock()
		p.cache[r.URL.Path] = entry{
			rec.Header().Clone(), rec.Body.Bytes(), time.Now().Add(age),
		}
		p.mu.Unlock()
	}
	for name, values := range rec.Header() {
		w.Header()[name] = values
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// maxAge reads max-age=N from a Cache-Control value; 0 means do not store.
func maxAge(cacheControl string) time.Duration {
	for _, part := range strings.Split(cacheControl, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "max-age=")
		if n, err := strconv.Atoi(v); ok && err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return 0
}

func main() {
	api1, api2 := startBackend("api-1"), startBackend("api-2")
	static := startBackend("static")

	// /api/ goes to two app servers in turn, /static/ to one file
	// server, and / catches the rest on api-1.
	proxy := &Proxy{cache: map[string]entry{}}
	proxy.routes = []*route{
		{prefix: "/", pool: []upstream{newUpstream(api1)}},
		{prefix: "/api/",
			pool: []upstream{newUpstream(api1), newUpstream(api2)}},
		{prefix: "/static/", pool: []upstream{newUpstream(static)},
			cached: true},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	go http.Serve(ln, proxy)
	base := "http://" + ln.Addr().String()

	// The client knows only the proxy's address. Every request claims a
	// client address the proxy must not trust.
	get := func(path string) {
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			log.Fatalf("building GET %s failed: %v", path, err)
		}
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatalf("GET %s failed: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Printf("%-16s route %-9s -> %-6s %s\n", path,
			resp.Header.Get("X-Route"), resp.Header.Get("X-Upstream"),
			resp.Status)
	}

	get("/api/users")
	// => prints: /api/users       route /api/     -> api-1  200 OK
	get("/api/orders")
	// => prints: /api/orders      route /api/     -> api-2  200 OK
	get("/static/app.js")
	// => prints: /static/app.js   route /static/  -> static 200 OK
	get("/static/app.js")
	// => prints: /static/app.js   route /static/  -> cache  200 OK
	get("/about")
	// => prints: /about           route /         -> api-1  200 OK

	// The backend sees the proxy's connection; the client's address
	// arrives only in the header the proxy set, and the forged one is gone.
	_, xff := api2.seen()
	fmt.Printf("api-2 saw X-Forwarded-For: %s\n", xff)
	// => prints: api-2 saw X-Forwarded-For: 127.0.0.1

	// Stop api-2. This proxy has no health checks, so the next request
	// round-robin gives api-2 fails with 502.
	api2.server.Close()
	get("/api/users")
	// => prints: /api/users       route /api/     -> api-1  200 OK
	get("/api/orders")
	// => prints: /api/orders      route /api/     -> api-2  502 Bad Gateway

	n1, _ := api1.seen()
	n2, _ := api2.seen()
	ns, _ := static.seen()
	fmt.Printf("requests at backends: api-1 %d, api-2 %d, static %d\n",
		n1, n2, ns)
	// => prints: requests at backends: api-1 3, api-2 1, static 1
}
