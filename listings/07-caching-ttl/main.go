// A cache with a time to live (TTL) in front of a slow database: hits,
// misses, expiry and stale reads on a hand-driven clock, then the speedup
// on the real clock.
package main

import (
	"fmt"
	"time"
)

// Database is a key-value table whose reads are slow, like a query that
// crosses the network and touches disk.
type Database struct {
	rows  map[string]string
	delay time.Duration // sleep per read
	reads int
}

// Read returns the current value of key after the read delay.
func (db *Database) Read(key string) string {
	time.Sleep(db.delay)
	db.reads++
	return db.rows[key]
}

// entry is one cached value and the clock readings that bound its life.
type entry struct {
	value     string
	storedAt  float64 // seconds
	expiresAt float64 // storedAt + TTL
}

// Lookup is the result of a Get: the value and whether it was a hit.
type Lookup struct {
	Value   string
	Hit     bool
	Expired bool    // a miss that found an entry past its TTL
	Age     float64 // seconds since the served value was stored
}

// TTLCache keeps each value for ttl seconds after it was loaded. The
// clock is a function, so a program can move time by hand.
type TTLCache struct {
	ttl     float64
	now     func() float64
	entries map[string]entry
	hits    int
	misses  int
	expired int
}

// NewTTLCache returns an empty cache whose entries live ttl seconds.
func NewTTLCache(ttl float64, now func() float64) *TTLCache {
	return &TTLCache{ttl: ttl, now: now, entries: map[string]entry{}}
}

// Get returns the cached value of key while it is younger than the TTL.
// Otherwise it calls load, stores the result and returns it: the
// cache-aside pattern, with the cache checked first.
func (c *TTLCache) Get(key string, load func(string) string) Lookup {
	t := c.now()
	e, found := c.entries[key]
	// => an entry exactly ttl seconds old has expired: the check is <
	if found && t < e.expiresAt {
		c.hits++
		return Lookup{Value: e.value, Hit: true, Age: t - e.storedAt}
	}
	c.misses++
	if found {
		c.expired++
	}
	value := load(key)
	c.entries[key] = entry{value: value, storedAt: t, expiresAt: t + c.ttl}
	return Lookup{Value: value, Expired: found}
}

// FakeClock is a clock that moves only when the program sets it.
type FakeClock struct{ t float64 }

// Now returns the clock reading in seconds.
func (c *FakeClock) Now() float64 { return c.t }

func describe(t float64, key string, r Lookup, db *Database) string {
	switch {
	case r.Hit && r.Value != db.rows[key]:
		return fmt.Sprintf("t=%.1fs get %s -> hit %q, age %.1fs (stale)",
			t, key, r.Value, r.Age)
	case r.Hit:
		return fmt.Sprintf("t=%.1fs get %s -> hit %q, age %.1fs",
			t, key, r.Value, r.Age)
	case r.Expired:
		return fmt.Sprintf("t=%.1fs get %s -> miss (expired), loaded %q",
			t, key, r.Value)
	}
	return fmt.Sprintf("t=%.1fs get %s -> miss, loaded %q", t, key, r.Value)
}

func expiry() {
	// One key, a 10 s TTL, and a clock we set by hand, so every line
	// prints the same on every run.
	clock := &FakeClock{}
	db := &Database{rows: map[string]string{"user:1": "Ada"},
		delay: 5 * time.Millisecond}
	cache := NewTTLCache(10, clock.Now)

	// At 12 s a write changes the row; the cache is not told.
	for _, t := range []float64{0, 0, 9.9, 10, 12, 15, 20} {
		clock.t = t
		if t == 12 {
			db.rows["user:1"] = "Ada Lovelace"
			fmt.Printf("t=%.1fs database: user:1 = %q\n", t, "Ada Lovelace")
			continue
		}
		fmt.Println(describe(t, "user:1", cache.Get("user:1", db.Read), db))
	}
	// => prints: t=0.0s get user:1 -> miss, loaded "Ada"
	// => prints: t=0.0s get user:1 -> hit "Ada", age 0.0s
	// => prints: t=9.9s get user:1 -> hit "Ada", age 9.9s
	// => prints: t=10.0s get user:1 -> miss (expired), loaded "Ada"
	// => prints: t=12.0s database: user:1 = "Ada Lovelace"
	// => prints: t=15.0s get user:1 -> hit "Ada", age 5.0s (stale)
	// => prints: t=20.0s get user:1 -> miss (expired), loaded "Ada Lovelace"

	// The stale read at 15 s is the price of the TTL: a write is seen
	// only when the entry that predates it expires.
	fmt.Printf("hits %d, misses %d (expired %d), database reads %d\n",
		cache.hits, cache.misses, cache.expired, db.reads)
	// => prints: hits 3, misses 3 (expired 2), database reads 3
}

// popular picks one of 10 keys, key k with weight about 100/(k+1), from
// a linear congruential generator, so Go and Python draw the same keys.
type popular struct{ x uint64 }

func (p *popular) next() string {
	p.x = (p.x*1103515245 + 12345) % (1 << 31)
	r := int(p.x % 291)
	for k, upTo := range []int{100, 150, 183, 208, 228, 244, 258, 270, 281} {
		if r < upTo {
			return fmt.Sprintf("item:%d", k)
		}
	}
	return "item:9"
}

func sweep() {
	// A minute of traffic on the hand-driven clock: 10 reads per second
	// over 10 keys, and the hottest key rewritten every 5 s. The same
	// reads and writes run against three TTLs.
	for _, ttl := range []float64{1, 5, 30} {
		clock := &FakeClock{}
		db := &Database{rows: map[string]string{}}
		for k := 0; k < 10; k++ {
			db.rows[fmt.Sprintf("item:%d", k)] = "v0"
		}
		cache := NewTTLCache(ttl, clock.Now)
		keys := &popular{x: 42}
		stale := 0
		for i := 0; i < 600; i++ {
			// => integer tenths of a second, so no rounding drift
			clock.t = float64(i) / 10
			if i%50 == 25 {
				db.rows["item:0"] = fmt.Sprintf("v%d", i/50+1)
			}
			key := keys.next()
			r := cache.Get(key, db.Read)
			if r.Hit && r.Value != db.rows[key] {
				stale++
			}
		}
		ratio := 100 * float64(cache.hits) / 600
		fmt.Printf("ttl %2.0fs: hit ratio %4.1f%%, database reads %3d, "+
			"stale reads %3d\n", ttl, ratio, db.reads, stale)
	}
	// => prints: ttl  1s: hit ratio 56.2%, database reads 263, stale reads  11
	// => prints: ttl  5s: hit ratio 84.5%, database reads  93, stale reads 157
	// => prints: ttl 30s: hit ratio 96.7%, database reads  20, stale reads 209
}

func timed() {
	// The same cache on the real clock with a 5 ms database: 200 reads
	// of the popular keys, first straight to the database, then through
	// a cache whose 60 s TTL outlives the run.
	db := &Database{rows: map[string]string{}, delay: 5 * time.Millisecond}
	keys := &popular{x: 7}
	start := time.Now()
	for i := 0; i < 200; i++ {
		db.Read(keys.next())
	}
	direct := time.Since(start).Seconds()

	begin := time.Now()
	cache := NewTTLCache(60, func() float64 {
		return time.Since(begin).Seconds()
	})
	keys = &popular{x: 7}
	start = time.Now()
	for i := 0; i < 200; i++ {
		cache.Get(keys.next(), db.Read)
	}
	cached := time.Since(start).Seconds()

	fmt.Printf("no cache:   200 reads in %.3f s\n", direct)
	// => prints: no cache:   200 reads in 1.055 s (varies)
	fmt.Printf("with cache: 200 reads in %.3f s\n", cached)
	// => prints: with cache: 200 reads in 0.053 s (varies)
	fmt.Printf("with cache: %d hits, %d misses\n", cache.hits, cache.misses)
	// => prints: with cache: 190 hits, 10 misses
	fmt.Printf("speedup: %.0fx\n", direct/cached)
	// => prints: speedup: 20x (varies)
}

func main() {
	expiry()
	sweep()
	timed()
}
