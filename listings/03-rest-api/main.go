// REST API design: a resource-oriented /orders API next to RPC-style
// endpoints on the same 127.0.0.1 server, and a client that uses both.
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

const maxLimit = 100

// API holds the orders: id -> status. One mutex guards them, because
// net/http serves each connection on its own goroutine.
type API struct {
	mu     sync.Mutex
	orders map[int]string
	nextID int
}

func (a *API) orderJSON(id int) string {
	return fmt.Sprintf(`{"id":%d,"status":"%s"}`, id, a.orders[id])
}

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

// readJSON decodes a JSON object body, or returns an empty map.
func readJSON(r *http.Request) map[string]any {
	body := map[string]any{}
	json.NewDecoder(r.Body).Decode(&body)
	return body
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	path := r.URL.Path
	if strings.HasPrefix(path, "/rpc/") {
		a.rpc(w, r)
		return
	}
	if path == "/orders" {
		a.collection(w, r)
		return
	}
	tail, found := strings.CutPrefix(path, "/orders/")
	if !found || strings.Contains(tail, "/") {
		reply(w, 404, `{"error":"no such resource"}`)
		return
	}
	id, err := strconv.Atoi(tail)
	if err != nil || id < 0 {
		reply(w, 400, `{"error":"id must be a number"}`)
		return
	}
	a.item(w, r, id)
}

// collection serves /orders: GET and HEAD list with a filter and a limit,
// POST creates.
func (a *API) collection(w http.ResponseWriter, r *http.Request) {
	if r.Method == "POST" {
		id := a.nextID
		a.nextID++
		a.orders[id] = "open"
		// => 201 with Location: the client learns the new URL at once
		location := fmt.Sprintf("/orders/%d", id)
		reply(w, 201, a.orderJSON(id), "Location", location)
		return
	}
	// net/http drops the body of a HEAD response and keeps its headers.
	if r.Method != "GET" && r.Method != "HEAD" {
		reply(w, 405, "", "Allow", "GET, HEAD, POST")
		return
	}

	query := r.URL.Query()
	limit := maxLimit
	if query.Has("limit") {
		n, err := strconv.Atoi(query.Get("limit"))
		if err != nil || n < 1 || n > maxLimit {
			// => 400 names the parameter and the valid range
			reply(w, 400, `{"error":"limit must be 1 to 100"}`)
			return
		}
		limit = n
	}

	status := query.Get("status")
	ids := []int{}
	for id := range a.orders {
		if status == "" || a.orders[id] == status {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)

	shown := make([]string, 0, limit)
	for i := 0; i < len(ids) && i < limit; i++ {
		shown = append(shown, strconv.Itoa(ids[i]))
	}
	reply(w, 200, `{"ids":[`+strings.Join(shown, ",")+`]}`)
}

// item serves /orders/{id}: the method names the action on this order.
func (a *API) item(w http.ResponseWriter, r *http.Request, id int) {
	switch r.Method {
	case "GET", "HEAD", "PATCH", "DELETE":
	default:
		reply(w, 405, "", "Allow", "GET, HEAD, PATCH, DELETE")
		return
	}
	if _, exists := a.orders[id]; !exists {
		// => 404: the id is well formed, the order does not exist
		reply(w, 404, `{"error":"order not found"}`)
		return
	}
	switch r.Method {
	case "PATCH":
		status, _ := readJSON(r)["status"].(string)
		if status != "open" && status != "shipped" {
			reply(w, 400, `{"error":"status must be open or shipped"}`)
			return
		}
		a.orders[id] = status
	case "DELETE":
		delete(a.orders, id)
		reply(w, 204, "")
		return
	}
	reply(w, 200, a.orderJSON(id))
}

// rpc serves the RPC style: a verb in the path, any method, and 200 for
// every outcome.
func (a *API) rpc(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.URL.Query().Get("id"))
	if err != nil {
		number, _ := readJSON(r)["id"].(float64)
		id = int(number)
	}
	if _, exists := a.orders[id]; !exists {
		// => the failure hides in a 200: monitors count it as success
		reply(w, 200, `{"error":"order not found"}`)
		return
	}
	switch r.URL.Path {
	case "/rpc/getOrder":
		reply(w, 200, a.orderJSON(id))
	case "/rpc/deleteOrder":
		// => runs for GET too: a crawler or prefetcher deletes orders
		delete(a.orders, id)
		reply(w, 200, `{"ok":true}`)
	default:
		reply(w, 200, `{"error":"unknown procedure"}`)
	}
}

// send sends one request and prints it, then the status, Location and
// body of the response.
func send(base, method, path, body string) {
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
	fmt.Println(strings.TrimRight(method+" "+path+" "+body, " "))
	extra := ""
	if location := resp.Header.Get("Location"); location != "" {
		extra = " Location: " + location
	}
	line := fmt.Sprintf("  -> %s%s %s", resp.Status, extra, data)
	fmt.Println(strings.TrimRight(line, " "))
}

func main() {
	// Port 0: the kernel picks a free port on 127.0.0.1.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	api := &API{
		orders: map[int]string{1: "open", 2: "shipped", 3: "open"},
		nextID: 4,
	}
	server := &http.Server{Handler: api}
	go server.Serve(listener)
	defer server.Close()
	base := "http://" + listener.Addr().String()

	fmt.Println("== resource-oriented ==")
	send(base, "POST", "/orders", "")
	// => prints: POST /orders
	// => prints:   -> 201 Created Location: /orders/4 {"id":4,"status":"open"}

	// A filter and a limit on the results are query parameters on the
	// collection. Order 4 is open too, but limit=2 stops at two ids.
	send(base, "GET", "/orders?status=open&limit=2", "")
	// => prints: GET /orders?status=open&limit=2
	// => prints:   -> 200 OK {"ids":[1,3]}
	send(base, "GET", "/orders?limit=0", "")
	// => prints: GET /orders?limit=0
	// => prints:   -> 400 Bad Request {"error":"limit must be 1 to 100"}

	// 404 and 400 tell the client different things: the order is gone, or
	// the request itself is wrong and retrying it will not help.
	send(base, "GET", "/orders/9", "")
	// => prints: GET /orders/9
	// => prints:   -> 404 Not Found {"error":"order not found"}
	send(base, "GET", "/orders/x", "")
	// => prints: GET /orders/x
	// => prints:   -> 400 Bad Request {"error":"id must be a number"}

	// HEAD gets GET's status and headers without the body.
	send(base, "HEAD", "/orders/3", "")
	// => prints: HEAD /orders/3
	// => prints:   -> 200 OK

	send(base, "PATCH", "/orders/1", `{"status":"shipped"}`)
	// => prints: PATCH /orders/1 {"status":"shipped"}
	// => prints:   -> 200 OK {"id":1,"status":"shipped"}
	send(base, "DELETE", "/orders/1", "")
	// => prints: DELETE /orders/1
	// => prints:   -> 204 No Content

	fmt.Println("== RPC-style ==")
	send(base, "POST", "/rpc/getOrder", `{"id":9}`)
	// => prints: POST /rpc/getOrder {"id":9}
	// => prints:   -> 200 OK {"error":"order not found"}

	// A crawler follows every link on an admin page with GET. The RPC
	// delete link runs its side effect, and the order is gone.
	for _, link := range []string{"/orders/2", "/rpc/deleteOrder?id=2"} {
		send(base, "GET", link, "")
	}
	// => prints: GET /orders/2
	// => prints:   -> 200 OK {"id":2,"status":"shipped"}
	// => prints: GET /rpc/deleteOrder?id=2
	// => prints:   -> 200 OK {"ok":true}
	send(base, "GET", "/orders", "")
	// => prints: GET /orders
	// => prints:   -> 200 OK {"ids":[3,4]}
}
