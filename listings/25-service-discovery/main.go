// Service discovery: a registry with heartbeats and a TTL, instances that
// register with it, and a client that caches the registry's list and
// round-robins over it. Every part is a real HTTP server on 127.0.0.1.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	ttl       = 300 * time.Millisecond // no heartbeat this long: dropped
	heartbeat = 100 * time.Millisecond // between an instance's heartbeats
	refresh   = 200 * time.Millisecond // between the client's list fetches
	drain     = 400 * time.Millisecond // a stopping instance serves this long
	gap       = 20 * time.Millisecond  // between the client's requests
	timeout   = 100 * time.Millisecond // a request gives up after this

	registryTimeout = 500 * time.Millisecond // limit on each registry call
)

// registryHTTP carries every call to the registry, so a registry that
// stalls fails the call instead of hanging the program.
var registryHTTP = &http.Client{Timeout: registryTimeout}

// Entry is one instance as the registry lists it.
type Entry struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

type lease struct {
	addr string
	seen time.Time // time of the last heartbeat
}

// Registry keeps a lease per instance id. A reaper drops every lease
// that has gone a TTL without a heartbeat.
type Registry struct {
	mu      sync.Mutex
	leases  map[string]lease
	dropped map[string]time.Time // id -> when its lease expired
	stop    chan struct{}
}

func NewRegistry() *Registry {
	r := &Registry{leases: map[string]lease{},
		dropped: map[string]time.Time{}, stop: make(chan struct{})}
	go r.reap()
	return r
}

func (r *Registry) reap() {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-tick.C:
			r.mu.Lock()
			for id, l := range r.leases {
				if now.Sub(l.seen) > ttl {
					delete(r.leases, id)
					r.dropped[id] = now
				}
			}
			r.mu.Unlock()
		}
	}
}

func (r *Registry) droppedAt(id string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped[id]
}

// Handler serves PUT /services/{id} to register, PUT
// /services/{id}/heartbeat to renew, DELETE /services/{id} to
// deregister and GET /services to list.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /services/{id}", func(w http.ResponseWriter,
		req *http.Request) {
		var e Entry
		if err := json.NewDecoder(req.Body).Decode(&e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.leases[req.PathValue("id")] = lease{e.Addr, time.Now()}
		r.mu.Unlock()
	})
	mux.HandleFunc("PUT /services/{id}/heartbeat", func(w http.ResponseWriter,
		req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		l, ok := r.leases[req.PathValue("id")]
		if !ok {
			// => expired: the instance must register again
			http.NotFound(w, req)
			return
		}
		l.seen = time.Now()
		r.leases[req.PathValue("id")] = l
	})
	mux.HandleFunc("DELETE /services/{id}", func(w http.ResponseWriter,
		req *http.Request) {
		r.mu.Lock()
		delete(r.leases, req.PathValue("id"))
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /services", func(w http.ResponseWriter,
		req *http.Request) {
		r.mu.Lock()
		list := []Entry{}
		for id, l := range r.leases {
			list = append(list, Entry{id, l.addr})
		}
		r.mu.Unlock()
		slices.SortFunc(list, func(a, b Entry) int {
			return strings.Compare(a.ID, b.ID)
		})
		json.NewEncoder(w).Encode(list)
	})
	return mux
}

// call sends one request to the registry and returns its status code.
func call(method, url string, body []byte) (int, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp, err := registryHTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func serve(h http.Handler) (*http.Server, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return srv, ln.Addr().String()
}

// Instance is a real HTTP server that returns its id, registers
// itself and sends a heartbeat every 100 ms until it stops.
type Instance struct {
	id, url string
	body    []byte
	srv     *http.Server
	stop    chan struct{}
	done    chan struct{}
}

func StartInstance(id, registryURL string) *Instance {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, id)
	})
	srv, addr := serve(h)
	body, _ := json.Marshal(Entry{id, addr})
	in := &Instance{id: id, url: registryURL + "/services/" + id,
		body: body, srv: srv,
		stop: make(chan struct{}), done: make(chan struct{})}
	in.register()
	go in.beat()
	return in
}

func (in *Instance) register() {
	if _, err := call("PUT", in.url, in.body); err != nil {
		log.Printf("%s: register failed: %v", in.id, err)
	}
}

func (in *Instance) beat() {
	defer close(in.done)
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-in.stop:
			return
		case <-tick.C:
			status, err := call("PUT", in.url+"/heartbeat", nil)
			if err == nil && status == http.StatusNotFound {
				in.register() // => the lease expired: register again
			}
		}
	}
}

// Crash stops the heartbeats and the server without a word to the
// registry, as a killed process would.
func (in *Instance) Crash() {
	close(in.stop)
	<-in.done
	in.srv.Close()
}

// StopGracefully deregisters first, serves while clients refresh, then
// exits.
func (in *Instance) StopGracefully() {
	close(in.stop)
	<-in.done
	if _, err := call("DELETE", in.url, nil); err != nil {
		log.Printf("%s: deregister failed: %v", in.id, err)
	}
	time.Sleep(drain)
	in.srv.Close()
}

// Client caches the registry's list, refreshes it every 200 ms and sends
// each request to the next cached instance in turn.
type Client struct {
	registryURL string
	http        *http.Client
	cache       []Entry
	cursor      int
	nextRefresh time.Time
	dropped     map[string]time.Time // id -> left the cache at
	firstOK     map[string]time.Time // id -> first success at
	failed      map[string]int
	sent        int
}

func NewClient(registryURL string) *Client {
	// => no keep-alive: every request dials, as the Python client does
	transport := &http.Transport{DisableKeepAlives: true}
	return &Client{
		registryURL: registryURL,
		http:        &http.Client{Timeout: timeout, Transport: transport},
		dropped:     map[string]time.Time{},
		firstOK:     map[string]time.Time{},
		failed:      map[string]int{},
	}
}

func (c *Client) Refresh() {
	resp, err := registryHTTP.Get(c.registryURL + "/services")
	if err != nil {
		log.Fatalf("list failed: %v", err)
	}
	defer resp.Body.Close()
	var fresh []Entry
	if err := json.NewDecoder(resp.Body).Decode(&fresh); err != nil {
		log.Fatalf("list is not JSON: %v", err)
	}
	now := time.Now()
	for _, old := range c.cache {
		found := false
		for _, e := range fresh {
			found = found || e.ID == old.ID
		}
		if !found {
			c.dropped[old.ID] = now
		}
	}
	c.cache = fresh
	c.nextRefresh = now.Add(refresh)
}

func (c *Client) IDs() string {
	ids := make([]string, len(c.cache))
	for i, e := range c.cache {
		ids[i] = e.ID
	}
	return strings.Join(ids, " ")
}

func (c *Client) Request() string {
	e := c.cache[c.cursor%len(c.cache)]
	c.cursor++
	c.sent++
	resp, err := c.http.Get("http://" + e.Addr + "/")
	if err != nil {
		// => connection refused: the cache still names a dead instance
		c.failed[e.ID]++
		return "x"
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, ok := c.firstOK[e.ID]; !ok {
		c.firstOK[e.ID] = time.Now()
	}
	return e.ID
}

func (c *Client) Run(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if !time.Now().Before(c.nextRefresh) {
			c.Refresh()
		}
		c.Request()
		time.Sleep(gap)
	}
}

func main() {
	registry := NewRegistry()
	regSrv, regAddr := serve(registry.Handler())
	registryURL := "http://" + regAddr
	fmt.Printf("ttl %d ms, heartbeat every %d ms\n",
		ttl.Milliseconds(), heartbeat.Milliseconds())
	// => prints: ttl 300 ms, heartbeat every 100 ms

	// Three instances register; the client fetches the list once and
	// round-robins over its cached copy.
	instances := map[string]*Instance{}
	for _, id := range []string{"a", "b", "c"} {
		instances[id] = StartInstance(id, registryURL)
	}
	client := NewClient(registryURL)
	client.Refresh()
	fmt.Printf("client cache: %s\n", client.IDs())
	// => prints: client cache: a b c
	servedBy := make([]string, 6)
	for i := range servedBy {
		servedBy[i] = client.Request()
	}
	fmt.Printf("6 requests: %s\n", strings.Join(servedBy, " "))
	// => prints: 6 requests: a b c a b c

	// Crash b. Its heartbeats stop, so the registry drops it within a TTL,
	// but the client keeps sending b a third of its requests until its
	// next refresh after that.
	crashed := time.Now()
	instances["b"].Crash()
	client.Run(800 * time.Millisecond)
	dropped := registry.droppedAt("b").Sub(crashed).Seconds()
	fmt.Printf("b crashed: the registry dropped it after %.2f s\n", dropped)
	// => prints: b crashed: the registry dropped it after 0.30 s (varies)
	stale := client.dropped["b"].Sub(crashed).Seconds()
	fmt.Printf("the client dropped it after %.2f s\n", stale)
	// => prints: the client dropped it after 0.42 s (varies)
	fmt.Printf("requests to b that failed: %d\n", client.failed["b"])
	// => prints: requests to b that failed: 7 (varies)
	fmt.Printf("client cache: %s\n", client.IDs())
	// => prints: client cache: a c

	// Stop c gracefully: it deregisters, then keeps serving for the
	// drain time, longer than the refresh, so the client forgets it
	// before it exits.
	stopping := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		instances["c"].StopGracefully()
	}()
	client.Run(600 * time.Millisecond)
	wg.Wait()
	forgot := client.dropped["c"].Sub(stopping).Seconds()
	fmt.Printf("c stopped: the client dropped it after %.2f s\n", forgot)
	// => prints: c stopped: the client dropped it after 0.03 s (varies)
	fmt.Printf("requests to c that failed: %d\n", client.failed["c"])
	// => prints: requests to c that failed: 0

	// Scale up: d registers at once, but gets traffic only after the
	// client's next refresh.
	started := time.Now()
	instances["d"] = StartInstance("d", registryURL)
	client.Run(400 * time.Millisecond)
	first := client.firstOK["d"].Sub(started).Seconds()
	fmt.Printf("d started: its first request came after %.2f s\n", first)
	// => prints: d started: its first request came after 0.07 s (varies)
	fmt.Printf("client cache: %s\n", client.IDs())
	// => prints: client cache: a d
	failed := 0
	for _, n := range client.failed {
		failed += n
	}
	fmt.Printf("%d requests, %d failed\n", client.sent, failed)
	// => prints: 93 requests, 7 failed (varies)

	instances["a"].Crash()
	instances["d"].Crash()
	close(registry.stop)
	regSrv.Close()
}
