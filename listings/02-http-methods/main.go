// HTTP methods and status codes: a small /orders server on 127.0.0.1 and a
// client that sends it every method, then repeats PUT, DELETE and POST.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

const (
	collectionAllow = "GET, HEAD, POST, OPTIONS"
	itemAllow       = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
)

// Store is the resource state: order id -> quantity. One mutex guards it,
// because net/http serves each connection on its own goroutine.
type Store struct {
	mu     sync.Mutex
	orders map[int]int
	nextID int
}

func (s *Store) listing() string {
	ids := make([]int, 0, len(s.orders))
	for id := range s.orders {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	items := make([]string, len(ids))
	for i, id := range ids {
		items[i] = fmt.Sprintf(`"%d":%d`, id, s.orders[id])
	}
	return "{" + strings.Join(items, ",") + "}"
}

// reply sends every response. For HEAD, net/http keeps the headers,
// Content-Length included, and drops the body.
func reply(w http.ResponseWriter, status int, body string, headers ...string) {
	for i := 0; i+1 < len(headers); i += 2 {
		w.Header().Set(headers[i], headers[i+1])
	}
	if status != http.StatusNoContent {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// readInt reads a JSON body such as {"qty":5} and returns the named field.
func readInt(r *http.Request, field string) (int, bool) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return 0, false
	}
	var value int
	err := json.Unmarshal(body[field], &value)
	return value, err == nil
}

// ServeHTTP routes on the path first, then on the method, so a known path
// with the wrong method gets 405, not 404.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	method := r.Method
	if r.URL.Path == "/orders" {
		switch method {
		case "GET", "HEAD":
			reply(w, 200, s.listing())
		case "OPTIONS":
			reply(w, 204, "", "Allow", collectionAllow)
		case "POST":
			qty, ok := readInt(r, "qty")
			if !ok {
				reply(w, 400, `{"error":"qty must be a number"}`)
				return
			}
			id := s.nextID
			s.nextID++
			s.orders[id] = qty
			// => 201 Created names the new resource in Location
			reply(w, 201, "", "Location", fmt.Sprintf("/orders/%d", id))
		default:
			// => RFC 9110: a 405 must list the allowed methods
			reply(w, 405, "", "Allow", collectionAllow)
		}
		return
	}

	tail, found := strings.CutPrefix(r.URL.Path, "/orders/")
	if !found || strings.Contains(tail, "/") {
		reply(w, 404, `{"error":"no such resource"}`)
		return
	}
	id, err := strconv.Atoi(tail)
	if err != nil || id < 0 {
		// => 400: the request is malformed, not the order missing
		reply(w, 400, `{"error":"id must be a number"}`)
		return
	}
	switch method {
	case "OPTIONS":
		reply(w, 204, "", "Allow", itemAllow)
		return
	case "POST":
		reply(w, 405, "", "Allow", itemAllow)
		return
	case "PUT":
		// PUT replaces the whole state, creating the order if needed,
		// so sending it twice leaves the same state as sending it once.
		qty, ok := readInt(r, "qty")
		if !ok {
			reply(w, 400, `{"error":"qty must be a number"}`)
			return
		}
		_, exists := s.orders[id]
		s.orders[id] = qty
		if !exists {
			reply(w, 201, "", "Location", fmt.Sprintf("/orders/%d", id))
			return
		}
		reply(w, 200, fmt.Sprintf(`{"id":%d,"qty":%d}`, id, qty))
		return
	}
	if _, exists := s.orders[id]; !exists {
		reply(w, 404, `{"error":"order not found"}`)
		return
	}
	switch method {
	case "PATCH":
		// => this patch format adds to the quantity: not idempotent
		add, ok := readInt(r, "add")
		if !ok {
			reply(w, 400, `{"error":"add must be a number"}`)
			return
		}
		s.orders[id] += add
	case "DELETE":
		delete(s.orders, id)
		reply(w, 204, "") // => success, and no body to send
		return
	}
	reply(w, 200, fmt.Sprintf(`{"id":%d,"qty":%d}`, id, s.orders[id]))
}

// send sends one request and prints its status line, the headers that
// matter for it, and the body.
func send(base, label, method, path, body string) {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s%s %s -> %s\n", label, method, path, resp.Status)
	for _, name := range []string{"Location", "Allow"} {
		if value := resp.Header.Get(name); value != "" {
			fmt.Printf("  %s: %s\n", name, value)
		}
	}
	if method == "HEAD" {
		// => the length of the body a GET would return
		fmt.Printf("  Content-Length: %s\n", resp.Header.Get("Content-Length"))
	}
	if len(data) > 0 {
		fmt.Printf("  body: %s\n", data)
	}
}

func main() {
	// Port 0: the kernel picks a free port on 127.0.0.1.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	store := &Store{orders: map[int]int{1: 1, 2: 2, 3: 3}, nextID: 4}
	server := &http.Server{Handler: store}
	go server.Serve(listener)
	defer server.Close()
	base := "http://" + listener.Addr().String()

	send(base, "", "GET", "/orders", "")
	// => prints: GET /orders -> 200 OK
	// => prints:   body: {"1":1,"2":2,"3":3}
	send(base, "", "GET", "/orders/1", "")
	// => prints: GET /orders/1 -> 200 OK
	// => prints:   body: {"id":1,"qty":1}

	// HEAD returns GET's headers without the body: a cheap existence and
	// size check.
	send(base, "", "HEAD", "/orders/1", "")
	// => prints: HEAD /orders/1 -> 200 OK
	// => prints:   Content-Length: 16

	send(base, "", "POST", "/orders", `{"qty":2}`)
	// => prints: POST /orders -> 201 Created
	// => prints:   Location: /orders/4
	send(base, "", "PUT", "/orders/2", `{"qty":5}`)
	// => prints: PUT /orders/2 -> 200 OK
	// => prints:   body: {"id":2,"qty":5}
	send(base, "", "PATCH", "/orders/2", `{"add":1}`)
	// => prints: PATCH /orders/2 -> 200 OK
	// => prints:   body: {"id":2,"qty":6}
	send(base, "", "DELETE", "/orders/3", "")
	// => prints: DELETE /orders/3 -> 204 No Content

	// Errors: a missing order, a malformed id, a method the path does not
	// support, and OPTIONS to ask which methods it does.
	send(base, "", "GET", "/orders/3", "")
	// => prints: GET /orders/3 -> 404 Not Found
	// => prints:   body: {"error":"order not found"}
	send(base, "", "GET", "/orders/abc", "")
	// => prints: GET /orders/abc -> 400 Bad Request
	send(base, "", "DELETE", "/orders", "")
	// => prints: DELETE /orders -> 405 Method Not Allowed
	// => prints:   Allow: GET, HEAD, POST, OPTIONS
	send(base, "", "OPTIONS", "/orders/1", "")
	// => prints: OPTIONS /orders/1 -> 204 No Content
	// => prints:   Allow: GET, HEAD, PUT, PATCH, DELETE, OPTIONS

	// Repeat the writes, as a client retrying after a timeout would.
	// PUT and DELETE leave the state as it was after the first send; the
	// second DELETE gets 404, but nothing changes. POST creates order 5.
	send(base, "again: ", "PUT", "/orders/2", `{"qty":5}`)
	// => prints: again: PUT /orders/2 -> 200 OK
	send(base, "again: ", "DELETE", "/orders/3", "")
	// => prints: again: DELETE /orders/3 -> 404 Not Found
	send(base, "again: ", "POST", "/orders", `{"qty":2}`)
	// => prints: again: POST /orders -> 201 Created
	// => prints:   Location: /orders/5
	send(base, "after: ", "GET", "/orders", "")
	// => prints: after: GET /orders -> 200 OK
	// => prints:   body: {"1":1,"2":5,"4":2,"5":2}
	// => PATCH was not repeated: a second {"add":1} would make qty 7
}
