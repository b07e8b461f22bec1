// Idempotency keys: a client retries a payment after a timeout, and a
// real HTTP payment server on 127.0.0.1 charges once or twice.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	timeout  = 100 * time.Millisecond // the client gives up after this
	stall    = 300 * time.Millisecond // the server's slow first response
	backoff  = 50 * time.Millisecond  // pause before a retry
	attempts = 3                      // attempts per payment, the first included
)

// Charge is one line of the server's ledger.
type Charge struct {
	ID    string `json:"charge"`
	Order string `json:"order"`
}

// Reply is the server's response body.
type Reply struct {
	Charge
	Replayed bool `json:"replayed"`
}

// Server charges a card for every POST /charge. With an Idempotency-Key
// header it stores key -> reply and returns the stored reply for a repeat.
type Server struct {
	mu     sync.Mutex
	ledger []Charge
	keys   map[string]Reply // idempotency key -> the first reply
	seen   map[string]bool  // orders the server has had a request for
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Order string `json:"order"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "invalid JSON body", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")

	// Checking the key, charging and storing the reply happen under one
	// lock, so a retry either finds the stored reply or runs first.
	// => a server that charges outside the lock (a slow bank call) must
	// also store "in progress" and answer a retry then with 409 Conflict
	s.mu.Lock()
	if stored, found := s.keys[key]; key != "" && found {
		s.mu.Unlock()
		stored.Replayed = true
		json.NewEncoder(w).Encode(stored)
		return
	}
	// The charge itself: one new line in the ledger.
	c := Charge{ID: fmt.Sprintf("ch_%d", len(s.ledger)+1), Order: body.Order}
	s.ledger = append(s.ledger, c)
	if key != "" {
		s.keys[key] = Reply{Charge: c}
	}
	first := !s.seen[body.Order]
	s.seen[body.Order] = true
	s.mu.Unlock()

	// The first request for each order is slow to respond after the
	// charge, as a slow bank call or a GC pause would make it. The charge
	// is already in the ledger, but the client will not wait this long.
	if first {
		time.Sleep(stall)
	}
	json.NewEncoder(w).Encode(Reply{Charge: c})
}

// Ledger returns the charges made for one order.
func (s *Server) Ledger(order string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, c := range s.ledger {
		if c.Order == order {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// pay sends one payment, retrying after a timeout, and prints each
// attempt. key is the Idempotency-Key header, or "" for none.
func pay(client *http.Client, url, label, order, key string) {
	payload := fmt.Sprintf(`{"order": %q, "amount_cents": 500}`, order)
	for attempt := 1; attempt <= attempts; attempt++ {
		req, err := http.NewRequest("POST", url, strings.NewReader(payload))
		if err != nil {
			log.Fatalf("building the request failed: %v", err)
		}
		// => the same key on every attempt: that is what makes a retry
		// recognisable. A real client makes one random key per payment.
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := client.Do(req)
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			fmt.Printf("%s, attempt %d: timed out\n", label, attempt)
			time.Sleep(backoff)
			continue
		}
		if err != nil {
			log.Fatalf("POST %s failed: %v", url, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var reply Reply
		if err := json.Unmarshal(raw, &reply); err != nil {
			log.Fatalf("invalid reply %q: %v", raw, err)
		}
		note := ""
		if reply.Replayed {
			note = ", replayed"
		}
		fmt.Printf("%s, attempt %d: %s, charge %s%s\n",
			label, attempt, resp.Status, reply.ID, note)
		return
	}
	fmt.Printf("%s: gave up after %d attempts\n", label, attempts)
}

func printLedger(s *Server, order string) {
	ids := s.Ledger(order)
	fmt.Printf("ledger for %s: %s (charged %dx)\n",
		order, strings.Join(ids, ", "), len(ids))
}

func main() {
	s := &Server{keys: map[string]Reply{}, seen: map[string]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1 failed: %v", err)
	}
	srv := &http.Server{Handler: s}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/charge"
	client := &http.Client{Timeout: timeout}

	// Without a key the server cannot tell a retry from a new payment.
	// The first attempt charged, its response came too late, and the
	// retry charges the card again.
	pay(client, url, "no key", "order-1", "")
	// => prints: no key, attempt 1: timed out
	// => prints: no key, attempt 2: 200 OK, charge ch_2
	printLedger(s, "order-1")
	// => prints: ledger for order-1: ch_1, ch_2 (charged 2x)

	// With a key the retry finds the stored reply, so the customer is
	// charged once and the client learns which charge it was.
	pay(client, url, "with key", "order-2", "key-order-2")
	// => prints: with key, attempt 1: timed out
	// => prints: with key, attempt 2: 200 OK, charge ch_3, replayed
	printLedger(s, "order-2")
	// => prints: ledger for order-2: ch_3 (charged 1x)

	// POST is not idempotent by definition, so only the key makes its
	// retry safe. Let the stalled handlers finish before exiting.
	time.Sleep(stall)
	var total int
	for _, order := range []string{"order-1", "order-2"} {
		total += len(s.Ledger(order))
	}
	fmt.Printf("2 payments intended, %d charges made\n", total)
	// => prints: 2 payments intended, 3 charges made
}
