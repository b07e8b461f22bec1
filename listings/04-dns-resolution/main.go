// DNS resolution: a caching resolver walks root, TLD and authoritative
// servers, each a real UDP server on 127.0.0.1 speaking a tiny text
// protocol, and a hand-driven clock shows when cached records expire.
package main

import (
	"fmt"
	"log"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is one name server: it returns the addresses it stores and
// refers the resolver to a child zone's server for names below it.
type Server struct {
	conn        net.PacketConn
	mu          sync.Mutex
	records     map[string]string // name -> IPv4 address
	delegations map[string]string // child zone -> server's host:port
	answerTTL   int               // seconds
	nsTTL       int               // seconds
}

// NewServer listens on an ephemeral UDP port of 127.0.0.1.
func NewServer(answerTTL, nsTTL int) *Server {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen on 127.0.0.1: %v", err)
	}
	s := &Server{conn: conn, records: map[string]string{},
		delegations: map[string]string{}, answerTTL: answerTTL, nsTTL: nsTTL}
	go s.serve()
	return s
}

// Delegate sends queries for names under zone to the server at addr.
func (s *Server) Delegate(zone, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delegations[zone] = addr
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Set stores or changes the address of a name.
func (s *Server) Set(name, ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[name] = ip
}

// The protocol, one datagram each way:
//
//	query:    Q www.example.com
//	answer:   A www.example.com 192.0.2.10 300
//	referral: NS example.com 127.0.0.1:40123 86400
//	no name:  NX www.example.com
func (s *Server) serve() {
	buf := make([]byte, 512)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return // => the listener was closed
		}
		name, ok := strings.CutPrefix(string(buf[:n]), "Q ")
		if !ok {
			continue // => not a query: drop it, as DNS servers do
		}
		reply := s.respond(name)
		if _, err := s.conn.WriteTo([]byte(reply), from); err != nil {
			log.Printf("reply to %v: %v", from, err)
		}
	}
}

func (s *Server) respond(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ip, ok := s.records[name]; ok {
		return fmt.Sprintf("A %s %s %d", name, ip, s.answerTTL)
	}
	// => a referral for the child zone that the name falls under
	for zone, addr := range s.delegations {
		if name == zone || strings.HasSuffix(name, "."+zone) {
			return fmt.Sprintf("NS %s %s %d", zone, addr, s.nsTTL)
		}
	}
	return "NX " + name
}

// FakeClock is a clock in seconds that moves only when the program
// advances it, so TTL expiry happens at the same point on every run.
type FakeClock struct{ now float64 }

func (c *FakeClock) Now() float64      { return c.now }
func (c *FakeClock) Advance(s float64) { c.now += s }

// entry is a cached record: an address, or the server of a zone.
type entry struct {
	value   string
	expires float64 // clock reading when the TTL runs out
}

// Resolver is a caching recursive resolver. Clients send it one
// recursive query; it sends iterative queries down the hierarchy.
type Resolver struct {
	root  string // the root server's address: the only one configured
	clock *FakeClock
	cache map[string]entry // "A name" or "NS zone"
	sent  int              // queries sent to servers by the last lookup
}

// cached returns a record if its TTL has not run out.
func (r *Resolver) cached(key string) (string, float64, bool) {
	e, ok := r.cache[key]
	if !ok || r.clock.Now() >= e.expires {
		return "", 0, false
	}
	return e.value, e.expires - r.clock.Now(), true
}

func (r *Resolver) store(key, value string, ttl int) {
	r.cache[key] = entry{value, r.clock.Now() + float64(ttl)}
}

// closest returns the deepest zone of name whose server is cached,
// falling back to the root: www.example.com tries example.com, then com.
func (r *Resolver) closest(name string) (zone, addr string) {
	labels := strings.Split(name, ".")
	for i := 1; i < len(labels); i++ {
		zone := strings.Join(labels[i:], ".")
		if addr, _, ok := r.cached("NS " + zone); ok {
			return zone, addr
		}
	}
	return ".", r.root
}

// ask sends one query over UDP and waits up to a second for the reply.
func ask(addr, name string) ([]string, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte("Q " + name)); err != nil {
		return nil, err
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(buf[:n])), nil
}

// Resolve returns the address of name, printing each step.
func (r *Resolver) Resolve(name string) (string, error) {
	r.sent = 0
	if ip, left, ok := r.cached("A " + name); ok {
		// => no packet leaves the resolver
		fmt.Printf("  cache hit: %s, TTL left %.0f s\n", ip, left)
		return ip, nil
	}
	zone, addr := r.closest(name)
	for {
		reply, err := ask(addr, name)
		if err != nil {
			return "", fmt.Errorf("ask %s about %s: %w", zone, name, err)
		}
		r.sent++
		if len(reply) < 2 || reply[0] == "NX" {
			return "", fmt.Errorf("%s: no such name", name)
		}
		if len(reply) != 4 {
			return "", fmt.Errorf("invalid reply from %s: %q", zone, reply)
		}
		ttl, err := strconv.Atoi(reply[3])
		if err != nil {
			return "", fmt.Errorf("invalid TTL from %s: %q", zone, reply[3])
		}
		switch reply[0] {
		case "A":
			fmt.Printf("  ask %-11s -> answer %s, TTL %d s\n",
				zone, reply[2], ttl)
			r.store("A "+name, reply[2], ttl)
			return reply[2], nil
		case "NS":
			// => cache the referral too: the next name under this zone
			// starts here instead of at the root
			fmt.Printf("  ask %-11s -> referral to %s, TTL %d s\n",
				zone, reply[1], ttl)
			r.store("NS "+reply[1], reply[2], ttl)
			zone, addr = reply[1], reply[2]
		default:
			return "", fmt.Errorf("invalid reply from %s: %q", zone, reply)
		}
	}
}

func lookup(r *Resolver, name string) {
	fmt.Printf("t=%.0fs lookup %s\n", r.clock.Now(), name)
	if _, err := r.Resolve(name); err != nil {
		fmt.Println("  error:", err)
	}
	fmt.Printf("  queries sent: %d\n", r.sent)
}

func main() {
	// The hierarchy. Each TTL is set by the zone that serves the record:
	// the root refers to com for two days, com to example.com for a day
	// (the real com zone also uses two days), and example.com gives its
	// address five minutes.
	root := NewServer(0, 172800)
	com := NewServer(0, 86400)
	example := NewServer(300, 0)
	root.Delegate("com", com.Addr())
	com.Delegate("example.com", example.Addr())
	example.Set("www.example.com", "192.0.2.10")
	example.Set("api.example.com", "192.0.2.11")

	r := &Resolver{root: root.Addr(), clock: &FakeClock{},
		cache: map[string]entry{}}

	// A cold cache walks the whole hierarchy: three round trips.
	lookup(r, "www.example.com")
	// => prints: t=0s lookup www.example.com
	// => prints:   ask .           -> referral to com, TTL 172800 s
	// => prints:   ask com         -> referral to example.com, TTL 86400 s
	// => prints:   ask example.com -> answer 192.0.2.10, TTL 300 s
	// => prints:   queries sent: 3

	// Ten seconds later the answer comes from the cache.
	r.clock.Advance(10)
	lookup(r, "www.example.com")
	// => prints: t=10s lookup www.example.com
	// => prints:   cache hit: 192.0.2.10, TTL left 290 s
	// => prints:   queries sent: 0

	// Another name in the same zone: the cached referral skips the root
	// and the TLD, so one round trip is enough.
	lookup(r, "api.example.com")
	// => prints: t=10s lookup api.example.com
	// => prints:   ask example.com -> answer 192.0.2.11, TTL 300 s
	// => prints:   queries sent: 1

	// The owner moves www to a new address. Until the cached answer's
	// TTL runs out, the resolver keeps returning the old one.
	example.Set("www.example.com", "192.0.2.20")
	r.clock.Advance(50)
	lookup(r, "www.example.com")
	// => prints: t=60s lookup www.example.com
	// => prints:   cache hit: 192.0.2.10, TTL left 240 s
	// => prints:   queries sent: 0

	// At 300 s the TTL has run out: the resolver asks again and gets the
	// new address. The zone's referral (a day) is still cached.
	r.clock.Advance(240)
	lookup(r, "www.example.com")
	// => prints: t=300s lookup www.example.com
	// => prints:   ask example.com -> answer 192.0.2.20, TTL 300 s
	// => prints:   queries sent: 1

	for _, s := range []*Server{root, com, example} {
		s.conn.Close()
	}
}
