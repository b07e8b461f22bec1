// Stateful vs stateless app servers: two app servers behind a balancer on
// 127.0.0.1 keep a user's log-in session and cart, first in their own
// memory with a sticky balancer, then in a small shared key-value store
// with a round-robin balancer. One app server stops, and the user's next
// request shows whether the session survived.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"syscall"
)

// serve starts handler on a port the kernel picks (port 0) and returns
// the server and its address.
func serve(handler http.Handler) (*http.Server, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	server := &http.Server{Handler: handler}
	go server.Serve(ln)
	return server, ln.Addr().String()
}

// store is a tiny key-value server, standing in for Redis or Memcached:
// PUT stores a value under a key, GET returns it or 404.
type store struct {
	mu       sync.Mutex
	data     map[string]string
	requests int
	addr     string
}

func startStore() *store {
	s := &store{data: map[string]string{}}
	_, s.addr = serve(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.requests++
			if r.Method == http.MethodPut {
				body, _ := io.ReadAll(r.Body)
				s.data[r.URL.Path] = string(body)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			value, ok := s.data[r.URL.Path]
			if !ok {
				http.Error(w, "not found", http.StatusNotFound)
				return
			}
			io.WriteString(w, value)
		}))
	return s
}

// app is an app server. Its sessions map a session id (the sid cookie)
// to the items in that user's cart. With storeAddr empty they live in
// this process's memory. Otherwise every request reads and writes them
// in the store, so the app itself keeps nothing between requests.
type app struct {
	name      string
	storeAddr string
	mu        sync.Mutex
	memory    map[string][]string
	server    *http.Server
	addr      string
}

func startApp(name, storeAddr string) *app {
	a := &app{name: name, storeAddr: storeAddr,
		memory: map[string][]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter,
		r *http.Request) {
		id := make([]byte, 8)
		rand.Read(id)
		sid := hex.EncodeToString(id)
		a.save(sid, nil)
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: sid,
			Path: "/", HttpOnly: true})
		fmt.Fprintf(w, "logged in on %s", a.name)
	})
	// POST /cart?item=NAME adds one item; GET /cart shows the cart.
	mux.HandleFunc("/cart", func(w http.ResponseWriter, r *http.Request) {
		var items []string
		found := false
		if c, err := r.Cookie("sid"); err == nil {
			items, found = a.load(c.Value)
			if item := r.URL.Query().Get("item"); found && item != "" {
				items = append(items, item)
				a.save(c.Value, items)
			}
		}
		if !found {
			// => the session is gone: the user must log in again
			http.Error(w, a.name+": no session, log in again",
				http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s: cart %s", a.name, strings.Join(items, ", "))
	})
	a.server, a.addr = serve(mux)
	return a
}

func (a *app) load(sid string) ([]string, bool) {
	if a.storeAddr == "" {
		a.mu.Lock()
		defer a.mu.Unlock()
		items, ok := a.memory[sid]
		return items, ok
	}
	// => stateless: one round trip to the store on every request
	resp, err := http.Get("http://" + a.storeAddr + "/sessions/" + sid)
	if err != nil {
		log.Fatalf("reading the session from the store failed: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return nil, false
	}
	if len(body) == 0 {
		return nil, true
	}
	return strings.Split(string(body), ","), true
}

func (a *app) save(sid string, items []string) {
	if a.storeAddr == "" {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.memory[sid] = items
		return
	}
	req, _ := http.NewRequest(http.MethodPut,
		"http://"+a.storeAddr+"/sessions/"+sid,
		strings.NewReader(strings.Join(items, ",")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatalf("writing the session to the store failed: %v", err)
	}
	resp.Body.Close()
}

// serverID is the SERVERID cookie value that pins a client to a.
func serverID(a *app) string {
	return strings.ReplaceAll(a.name, " ", "")
}

// balancer is a reverse proxy in front of the apps. Sticky, it pins a
// client to one app with a SERVERID cookie, as HAProxy's
// `cookie SERVERID insert` does; otherwise it takes the apps in turn.
type balancer struct {
	apps   []*app
	sticky bool
	mu     sync.Mutex
	next   int
	// One connection per request, so a stopped app refuses the next
	// connection instead of failing a reused one.
	client http.Client
}

func (b *balancer) pick(r *http.Request) int {
	if c, err := r.Cookie("SERVERID"); err == nil && b.sticky {
		for i, a := range b.apps {
			if serverID(a) == c.Value {
				return i
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.next
	b.next = (b.next + 1) % len(b.apps)
	return i
}

// ServeHTTP forwards the request to the picked app. A refused connection
// sends it to the next app, which is safe because nothing reached the
// refusing app.
func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	i := b.pick(r)
	for range b.apps {
		a := b.apps[i]
		req, _ := http.NewRequest(r.Method, "http://"+a.addr+r.URL.String(),
			bytes.NewReader(body))
		req.Header.Set("Cookie", r.Header.Get("Cookie"))
		resp, err := b.client.Do(req)
		if errors.Is(err, syscall.ECONNREFUSED) {
			// => the app is down: redispatch to the next one
			log.Printf("%s refused the connection, trying the next app",
				a.name)
			i = (i + 1) % len(b.apps)
			continue
		}
		if err != nil {
			// Any other error may come after the app got the request, so
			// resending it is not safe and the balancer returns 502.
			log.Printf("forwarding to %s failed: %v", a.name, err)
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		for _, c := range resp.Header.Values("Set-Cookie") {
			w.Header().Add("Set-Cookie", c)
		}
		if b.sticky {
			http.SetCookie(w, &http.Cookie{Name: "SERVERID",
				Value: serverID(a), Path: "/"})
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no app server available", http.StatusServiceUnavailable)
}

// call sends one request through the balancer and returns the response
// body, prefixed with the status code unless it is 200.
func call(client *http.Client, addr, method, path string) string {
	req, _ := http.NewRequest(method, "http://"+addr+path, nil)
	resp, err := client.Do(req)
	if err != nil {
		log.Fatalf("request to the balancer failed: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%d %s", resp.StatusCode, text)
	}
	return text
}

// shop logs in, fills a cart, stops apps[down], and looks at the cart
// again. The caller picks for down the app that the view would go to, so
// the view always meets a refused connection and fails over.
func shop(storeAddr string, sticky bool, down int) {
	apps := []*app{startApp("app 1", storeAddr), startApp("app 2", storeAddr)}
	b := &balancer{apps: apps, sticky: sticky, client: http.Client{
		Transport: &http.Transport{DisableKeepAlives: true}}}
	_, addr := serve(b)
	// The client's cookie jar carries sid (and SERVERID) like a browser.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	fmt.Println("  login:", call(client, addr, "POST", "/login"))
	fmt.Println("  add book:", call(client, addr, "POST", "/cart?item=book"))
	fmt.Println("  add pen:", call(client, addr, "POST", "/cart?item=pen"))
	apps[down].server.Close()
	fmt.Printf("  %s stops\n", apps[down].name)
	fmt.Println("  view cart:", call(client, addr, "GET", "/cart"))
	apps[1-down].server.Close()
}

func main() {
	log.SetFlags(0)

	// Stateful: each app keeps its sessions in memory, so the balancer
	// must pin the user to the app that holds theirs.
	fmt.Println("stateful, sessions in app memory, sticky balancer:")
	// => prints: stateful, sessions in app memory, sticky balancer:
	// The balancer pins the client to app 1, so app 1 is the one to stop.
	shop("", true, 0)
	// => prints:   login: logged in on app 1
	// => prints:   add book: app 1: cart book
	// => prints:   add pen: app 1: cart book, pen
	// => prints:   app 1 stops
	// The pinned app refuses the connection, the balancer sends the
	// request to app 2, and app 2 has never seen this session id.
	// => logs: app 1 refused the connection, trying the next app
	// => prints:   view cart: 401 app 2: no session, log in again

	// Stateless: the apps keep nothing; every request reads the session
	// from the store, so any app can serve any request.
	s := startStore()
	fmt.Println("stateless, sessions in a shared store, round-robin balancer:")
	// => prints: stateless, sessions in a shared store, round-robin balancer:
	// Round-robin sends the three requests to app 1, app 2 and app 1, so
	// the view would go to app 2: stop app 2 to make the view fail over.
	shop(s.addr, false, 1)
	// => prints:   login: logged in on app 1
	// => prints:   add book: app 2: cart book
	// => prints:   add pen: app 1: cart book, pen
	// => prints:   app 2 stops
	// The balancer sends the view to app 1, as in the first run, and app 1
	// reads the session from the store: both items are still there.
	// => logs: app 2 refused the connection, trying the next app
	// => prints:   view cart: app 1: cart book, pen
	s.mu.Lock()
	fmt.Printf("the store served %d requests\n", s.requests)
	s.mu.Unlock()
	// => 1 PUT for the login, a GET and a PUT per item, 1 GET for the view
	// => prints: the store served 6 requests
}
