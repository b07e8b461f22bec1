// Round-robin load balancing: three HTTP backends on 127.0.0.1, a reverse
// proxy in front that hands requests to them in turn, and what happens
// when one backend stops.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// backend is one application server. It answers every request with its
// number and counts the requests it handled.
type backend struct {
	id      int
	url     *url.URL
	server  *http.Server
	mu      sync.Mutex
	handled int
}

// startBackend listens on a port the kernel picks (port 0) and serves
// until stopped.
func startBackend(id int) *backend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	addr := ln.Addr().String()
	b := &backend{id: id, url: &url.URL{Scheme: "http", Host: addr}}
	b.server = &http.Server{Handler: http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			b.mu.Lock()
			b.handled++
			b.mu.Unlock()
			fmt.Fprintf(w, "%d", b.id)
		})}
	go b.server.Serve(ln)
	return b
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.handled
}

// balancer is a reverse proxy that picks a backend for each request in
// round-robin order.
type balancer struct {
	backends []*backend
	proxies  []*httputil.ReverseProxy
	// skipFailed turns on a passive health check: a backend that refuses a
	// connection is skipped for downFor, and the request goes to the next.
	skipFailed bool
	mu         sync.Mutex
	next       int
	downUntil  []time.Time
}

// => 10 s, like the default fail_timeout of Nginx's passive health check
const downFor = 10 * time.Second

// failure carries a proxy error out of the ErrorHandler to ServeHTTP.
type failure struct{ err error }

type failureKey struct{}

func newBalancer(backends []*backend, skipFailed bool) *balancer {
	lb := &balancer{
		backends:   backends,
		skipFailed: skipFailed,
		downUntil:  make([]time.Time, len(backends)),
	}
	for _, b := range backends {
		p := httputil.NewSingleHostReverseProxy(b.url)
		// The proxy reports a failed forward here instead of writing a 502
		// itself, so the balancer can still try another backend.
		p.ErrorHandler = func(_ http.ResponseWriter, r *http.Request,
			err error) {
			r.Context().Value(failureKey{}).(*failure).err = err
		}
		lb.proxies = append(lb.proxies, p)
	}
	return lb
}

// pick returns the index of the next backend in turn, skipping the ones
// marked down, or -1 if every backend is down.
func (lb *balancer) pick() int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	now := time.Now()
	for range lb.backends {
		i := lb.next
		lb.next = (lb.next + 1) % len(lb.backends)
		if now.After(lb.downUntil[i]) {
			return i
		}
	}
	return -1
}

func (lb *balancer) markDown(i int) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.downUntil[i] = time.Now().Add(downFor)
}

// ServeHTTP forwards the request to one backend. A refused connection
// fails before any byte reaches the backend, so retrying it on the next
// backend cannot run it twice.
func (lb *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for range lb.backends {
		i := lb.pick()
		if i < 0 {
			break
		}
		f := &failure{}
		ctx := context.WithValue(r.Context(), failureKey{}, f)
		lb.proxies[i].ServeHTTP(w, r.WithContext(ctx))
		if f.err == nil {
			return
		}
		log.Printf("backend %d failed: %v", lb.backends[i].id,
			errors.Unwrap(f.err))
		if !lb.skipFailed {
			// => plain round-robin: the client gets the failure
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		if !errors.Is(f.err, syscall.ECONNREFUSED) {
			// => the backend may have started the request: no retry
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		lb.markDown(i)
	}
	http.Error(w, "no backend available", http.StatusServiceUnavailable)
}

// send makes n requests, one after the other, and returns the backend
// number each response names, or "x" for a failed request.
func send(addr string, n int) []string {
	var order []string
	for range n {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			log.Fatalf("request to the balancer failed: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			log.Fatalf("reading the response failed: %v", err)
		}
		if resp.StatusCode != http.StatusOK {
			order = append(order, "x")
			continue
		}
		order = append(order, string(body))
	}
	return order
}

// serve starts a balancer on its own loopback port.
func serve(lb *balancer) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	go http.Serve(ln, lb)
	return ln.Addr().String()
}

func summary(order []string) string {
	failed := 0
	for _, s := range order {
		if s == "x" {
			failed++
		}
	}
	return fmt.Sprintf("order %s: %d ok, %d failed",
		strings.Join(order, " "), len(order)-failed, failed)
}

func main() {
	log.SetFlags(0)
	backends := []*backend{startBackend(1), startBackend(2), startBackend(3)}

	// Nine requests through round-robin: each backend gets every third.
	addr := serve(newBalancer(backends, false))
	fmt.Println("all up:", summary(send(addr, 9)))
	// => prints: all up: order 1 2 3 1 2 3 1 2 3: 9 ok, 0 failed
	for _, b := range backends {
		fmt.Printf("backend %d handled %d\n", b.id, b.count())
	}
	// => prints: backend 1 handled 3
	// => prints: backend 2 handled 3
	// => prints: backend 3 handled 3

	// Stop backend 2. Its port now refuses connections.
	backends[1].server.Close()

	// Plain round-robin still sends every third request to backend 2, and
	// the client of that request gets a 502 Bad Gateway.
	addr = serve(newBalancer(backends, false))
	fmt.Println("plain:", summary(send(addr, 6)))
	// => prints: plain: order 1 x 3 1 x 3: 4 ok, 2 failed

	// With the passive health check, the first request to backend 2 fails
	// over to backend 3, and the rotation skips backend 2 from then on.
	addr = serve(newBalancer(backends, true))
	fmt.Println("skip failed:", summary(send(addr, 6)))
	// => prints: skip failed: order 1 3 1 3 1 3: 6 ok, 0 failed
}
