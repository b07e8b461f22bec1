// Forward proxy: clients send every request through one proxy, which
// blocks denylisted hosts, caches GET responses for their max-age, and
// reaches the origins from its own socket.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// via is the proxy's entry in the Via header.
const via = "1.1 forward-proxy"

// Sockets records the local addresses of the connections a dialer opens,
// so the program can tell whose socket an origin saw.
type Sockets struct {
	mu    sync.Mutex
	addrs map[string]bool
}

// Dial opens a TCP connection and records its local address.
func (s *Sockets) Dial(ctx context.Context, network, addr string) (
	net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		s.mu.Lock()
		s.addrs[conn.LocalAddr().String()] = true
		s.mu.Unlock()
	}
	return conn, err
}

// Has reports whether addr is one of the recorded local addresses.
func (s *Sockets) Has(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[addr]
}

func newSockets() *Sockets { return &Sockets{addrs: map[string]bool{}} }

// Origin is a web server that remembers who connected to it.
type Origin struct {
	name     string
	addr     string // host:port it listens on
	mu       sync.Mutex
	requests int
	lastFrom string // RemoteAddr of the last request
	xff      string // X-Forwarded-For of the last request, if any
}

func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.requests++
	o.lastFrom = r.RemoteAddr
	o.xff = r.Header.Get("X-Forwarded-For")
	n := o.requests
	o.mu.Unlock()
	// => max-age=1: any cache may reuse this response for 1 second.
	w.Header().Set("Cache-Control", "max-age=1")
	fmt.Fprintf(w, "%s %s, response %d\n", o.name, r.URL.Path, n)
}

func (o *Origin) seen() (from, xff string, requests int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastFrom, o.xff, o.requests
}

// serve listens on a port the kernel picks on 127.0.0.1.
func serve(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	go http.Serve(ln, h)
	return ln.Addr().String()
}

// entry is one cached response and the moment it stops being fresh.
type entry struct {
	body    []byte
	expires time.Time
}

// Proxy is a forward proxy for plain HTTP.
type Proxy struct {
	denylist map[string]bool // host:port values it refuses
	upstream *http.Client    // its own connections to origins
	mu       sync.Mutex
	cache    map[string]entry // absolute URL -> response
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A client that uses a proxy sends the absolute URL in the request
	// line (GET http://host:port/path), so the proxy learns the origin
	// from the request itself, not from the connection.
	if !r.URL.IsAbs() {
		http.Error(w, "absolute URL required", http.StatusBadRequest)
		return
	}
	if p.denylist[r.URL.Host] {
		// => blocked here: the origin never hears of the request
		http.Error(w, "blocked by proxy policy", http.StatusForbidden)
		return
	}
	key := r.URL.String()
	p.mu.Lock()
	e, ok := p.cache[key]
	p.mu.Unlock()
	if r.Method == http.MethodGet && ok && time.Now().Before(e.expires) {
		w.Header().Set("X-Cache", "HIT")
		w.Header().Set("Via", via)
		w.Write(e.body)
		return
	}

	// A new request, not the client's: it copies no client header, so
	// it carries no cookie, no X-Forwarded-For and nothing else that
	// names the client. RFC 9110 requires Via, which names the proxy, on
	// every message a proxy forwards: this request and the responses it
	// relays.
	out, err := http.NewRequestWithContext(r.Context(), r.Method, key, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out.Header.Set("Via", via)
	resp, err := p.upstream.Do(out)
	if err != nil {
		http.Error(w, "origin unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, "origin failed", http.StatusBadGateway)
		return
	}

	// Store a successful GET for as long as its max-age allows.
	if age := maxAge(resp.Header.Get("Cache-Control")); r.Method ==
		http.MethodGet && resp.StatusCode == http.StatusOK && age > 0 {
		p.mu.Lock()
		p.cache[key] = entry{body, time.Now().Add(age)}
		p.mu.Unlock()
	}
	w.Header().Set("X-Cache", "MISS")
	w.Header().Set("Via", via)
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
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

// whose names the owner of the socket an origin saw.
func whose(addr string, proxy, client *Sockets) string {
	switch {
	case proxy.Has(addr):
		return "the proxy"
	case client.Has(addr):
		return "the client"
	}
	return "an unknown socket"
}

func main() {
	news := &Origin{name: "news"}
	docs := &Origin{name: "docs"}
	ads := &Origin{name: "ads"}
	origins := map[string]*Origin{}
	for _, o := range []*Origin{news, docs, ads} {
		o.addr = serve(o)
		origins[o.name] = o
	}

	proxySockets := newSockets()
	proxy := &Proxy{
		denylist: map[string]bool{ads.addr: true},
		// => Proxy: nil, so the proxy connects to origins itself
		upstream: &http.Client{Transport: &http.Transport{
			Proxy: nil, DialContext: proxySockets.Dial}},
		cache: map[string]entry{},
	}
	proxyURL, _ := url.Parse("http://" + serve(proxy))
	// Set HTTP_PROXY before anything reads it, because net/http reads
	// the environment once. The end of main shows what the default
	// transport does with it.
	os.Setenv("HTTP_PROXY", proxyURL.String())

	// The client names the proxy explicitly with http.ProxyURL, which
	// applies to every request, 127.0.0.1 included.
	clientSockets := newSockets()
	client := &http.Client{Transport: &http.Transport{
		Proxy:       http.ProxyURL(proxyURL),
		DialContext: clientSockets.Dial,
	}}

	get := func(site, path string) {
		o := origins[site]
		resp, err := client.Get("http://" + o.addr + path)
		if err != nil {
			log.Fatalf("GET %s%s failed: %v", site, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		line := fmt.Sprintf("%s%s: %s", site, path, resp.Status)
		switch resp.Header.Get("X-Cache") {
		case "MISS":
			from, _, _ := o.seen()
			line += fmt.Sprintf(", MISS, %s saw %s", site,
				whose(from, proxySockets, clientSockets))
		case "HIT":
			line += ", HIT, " + site + " saw nothing"
		}
		fmt.Println(line)
	}

	get("news", "/index.html")
	// => prints: news/index.html: 200 OK, MISS, news saw the proxy
	get("news", "/index.html")
	// => prints: news/index.html: 200 OK, HIT, news saw nothing
	get("docs", "/guide.html")
	// => prints: docs/guide.html: 200 OK, MISS, docs saw the proxy
	get("ads", "/banner.js")
	// => prints: ads/banner.js: 403 Forbidden

	// After max-age the entry is stale, so the proxy fetches it from news
	// again.
	time.Sleep(1100 * time.Millisecond)
	get("news", "/index.html")
	// => prints: news/index.html: 200 OK, MISS, news saw the proxy
	_, xff, _ := news.seen()
	fmt.Printf("X-Forwarded-For at news: %q\n", xff)
	// => prints: X-Forwarded-For at news: ""

	// The default transport reads HTTP_PROXY through
	// http.ProxyFromEnvironment, which never proxies localhost or a
	// loopback address such as 127.0.0.1: this request goes direct.
	u, _ := url.Parse("http://" + news.addr + "/index.html")
	viaEnv, _ := http.ProxyFromEnvironment(&http.Request{URL: u})
	fmt.Printf("ProxyFromEnvironment for 127.0.0.1: %v\n", viaEnv)
	// => prints: ProxyFromEnvironment for 127.0.0.1: <nil>
	direct := http.DefaultTransport.(*http.Transport).Clone()
	direct.DialContext = clientSockets.Dial
	resp, err := (&http.Client{Transport: direct}).Get(u.String())
	if err != nil {
		log.Fatalf("direct GET failed: %v", err)
	}
	resp.Body.Close()
	from, _, _ := news.seen()
	fmt.Printf("without the proxy: news saw %s\n",
		whose(from, proxySockets, clientSockets))
	// => prints: without the proxy: news saw the client

	_, _, n := news.seen()
	_, _, d := docs.seen()
	_, _, a := ads.seen()
	fmt.Printf("requests at the origins: news %d, docs %d, ads %d\n", n, d, a)
	// => prints: requests at the origins: news 3, docs 1, ads 0
}
