// Three ways a write can treat the cache: leave it to the TTL, delete the
// key, or store the new value. The program counts the stale reads each
// one serves, then shows the race that lets a slow reader put an old
// value back after a delete, and a lease that closes it.
package main

import (
	"fmt"
	"strings"
	"sync"
)

// Database is the source of truth: one value per key.
type Database struct {
	mu    sync.Mutex
	rows  map[string]string
	reads int
}

// Read returns the current value of key.
func (db *Database) Read(key string) string {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.reads++
	return db.rows[key]
}

// Write stores value as the current value of key.
func (db *Database) Write(key, value string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.rows[key] = value
}

// entry is one cached value and the clock reading at which it expires.
type entry struct {
	value     string
	expiresAt float64
}

// Cache is a TTL cache on a clock the program sets. It also hands out
// leases: a reader that misses takes a token, a delete of the key
// invalidates it, and a set with an invalidated token is rejected.
type Cache struct {
	mu        sync.Mutex
	ttl       float64
	now       float64 // seconds, set by the program
	entries   map[string]entry
	leases    map[string]int // live token per key
	nextToken int
	sets      int
}

// NewCache returns an empty cache whose entries live ttl seconds.
func NewCache(ttl float64) *Cache {
	return &Cache{ttl: ttl, entries: map[string]entry{},
		leases: map[string]int{}}
}

// Get returns the cached value of key if it has not expired.
func (c *Cache) Get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || c.now >= e.expiresAt {
		return "", false
	}
	return e.value, true
}

// Set stores value for key with a fresh TTL.
func (c *Cache) Set(key, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sets++
	c.entries[key] = entry{value, c.now + c.ttl}
}

// Delete removes key and invalidates any lease on it.
func (c *Cache) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
	delete(c.leases, key)
}

// Lease returns a new token for key, to be passed to SetLeased.
func (c *Cache) Lease(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextToken++
	c.leases[key] = c.nextToken
	return c.nextToken
}

// SetLeased stores value only if token is still the live lease on key,
// so a value read before a delete can no longer be stored after it.
func (c *Cache) SetLeased(key, value string, token int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leases[key] != token {
		return false
	}
	delete(c.leases, key)
	c.sets++
	c.entries[key] = entry{value, c.now + c.ttl}
	return true
}

// Strategy names the change a write makes to the cached copy of its key.
type Strategy string

const (
	TTLOnly           Strategy = "ttl_only"
	InvalidateOnWrite Strategy = "invalidate_on_write"
	UpdateOnWrite     Strategy = "update_on_write"
)

// write stores the new value in the database first, then applies the
// strategy to the cache.
func write(s Strategy, db *Database, c *Cache, key, value string) {
	db.Write(key, value)
	switch s {
	case InvalidateOnWrite:
		c.Delete(key)
	case UpdateOnWrite:
		c.Set(key, value)
	}
}

// read looks key up cache-aside: the cache first, the database on a miss.
func read(db *Database, c *Cache, key string) string {
	if v, ok := c.Get(key); ok {
		return v
	}
	v := db.Read(key)
	c.Set(key, v)
	return v
}

func compare() {
	// One script of reads and writes, one operation per second, against
	// each strategy with an 8 s TTL. "w:a" writes the next version of a.
	script := strings.Fields("r:a r:b w:a r:a r:b r:a w:b r:b r:a " +
		"r:b w:a r:a r:a r:b r:b r:a")
	for _, s := range []Strategy{TTLOnly, InvalidateOnWrite, UpdateOnWrite} {
		db := &Database{rows: map[string]string{"a": "a1", "b": "b1"}}
		c := NewCache(8)
		version := map[string]int{"a": 1, "b": 1}
		var stale []string
		for i, op := range script {
			c.now = float64(i)
			kind, key, _ := strings.Cut(op, ":")
			if kind == "w" {
				version[key]++
				write(s, db, c, key, fmt.Sprintf("%s%d", key, version[key]))
				continue
			}
			got := read(db, c, key)
			// => compared with the row itself, without counting a read
			if want := db.rows[key]; got != want {
				stale = append(stale, fmt.Sprintf("%s@%ds", got, i))
			}
		}
		fmt.Printf("%-19s stale %d, database reads %d, cache sets %d\n",
			s, len(stale), db.reads, c.sets)
		if len(stale) > 0 {
			fmt.Printf("  served %s\n", strings.Join(stale, " "))
		}
	}
	// => prints: ttl_only            stale 6, database reads 4, cache sets 4
	// => prints:   served a1@3s a1@5s b1@7s a2@11s a2@12s a2@15s
	// => prints: invalidate_on_write stale 0, database reads 5, cache sets 5
	// => prints: update_on_write     stale 0, database reads 3, cache sets 6
}

func race() {
	// Invalidate-on-write with two goroutines, made to interleave in
	// the bad order by channels: the reader misses and reads the
	// database, the writer writes and deletes, then the reader stores
	// what it read.
	db := &Database{rows: map[string]string{"user:1": "v1"}}
	c := NewCache(60)
	readDone := make(chan string) // the reader has read the database
	writeDone := make(chan bool)  // the writer has written and deleted
	setDone := make(chan bool)    // the reader has stored its value

	go func() {
		_, hit := c.Get("user:1") // => a miss: the cache is empty
		v := db.Read("user:1")
		fmt.Printf("reader: miss (hit=%v), read %q from the database\n",
			hit, v)
		readDone <- v
		<-writeDone
		c.Set("user:1", v) // => too late: this value predates the write
		fmt.Printf("reader: stored %q in the cache\n", v)
		setDone <- true
	}()
	<-readDone
	write(InvalidateOnWrite, db, c, "user:1", "v2")
	fmt.Println(`writer: stored "v2" in the database, deleted user:1`)
	writeDone <- true
	<-setDone
	v, _ := c.Get("user:1")
	fmt.Printf("next read: %q from the cache, database has %q\n",
		v, db.rows["user:1"])
	// => prints: reader: miss (hit=false), read "v1" from the database
	// => prints: writer: stored "v2" in the database, deleted user:1
	// => prints: reader: stored "v1" in the cache
	// => prints: next read: "v1" from the cache, database has "v2"

	// The same interleaving with a lease: the delete invalidates the token
	// the reader took on its miss, so its late set is rejected and the
	// next read loads "v2".
	db = &Database{rows: map[string]string{"user:1": "v1"}}
	c = NewCache(60)
	token := c.Lease("user:1")
	old := db.Read("user:1")
	write(InvalidateOnWrite, db, c, "user:1", "v2")
	ok := c.SetLeased("user:1", old, token)
	fmt.Printf("lease: late set of %q accepted=%v\n", old, ok)
	fmt.Printf("lease: next read %q\n", read(db, c, "user:1"))
	// => prints: lease: late set of "v1" accepted=false
	// => prints: lease: next read "v2"
}

func main() {
	compare()
	race()
}
