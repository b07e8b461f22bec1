// Database indexing: the same queries over 100,000 rows, first by scanning
// every row, then through a sorted index found by binary search.
package main

import (
	"fmt"
	"slices"
	"time"
)

// Rows is the table size, and a multiplier coprime with it shuffles ids.
const (
	Rows    = 100_000
	Shuffle = 7_919
	Repeats = 20
)

// Order is one row of the table.
type Order struct {
	ID    int
	Total int
}

// Entry is one index entry: a key and the position of its row.
type Entry struct {
	Key int
	Row int
}

// Result is what a query returned and how much it looked at.
type Result struct {
	Matches  int
	Examined int
}

// buildTable inserts rows in a shuffled id order, as real inserts
// arrive, so the table itself is not sorted by id.
func buildTable() []Order {
	table := make([]Order, 0, Rows)
	for i := 0; i < Rows; i++ {
		id := i * Shuffle % Rows
		table = append(table, Order{ID: id, Total: id % 1000})
	}
	return table
}

// buildIndex is CREATE INDEX: one entry per row, sorted by key.
func buildIndex(table []Order) []Entry {
	index := make([]Entry, len(table))
	for row, order := range table {
		index[row] = Entry{Key: order.ID, Row: row}
	}
	slices.SortFunc(index, func(a, b Entry) int { return a.Key - b.Key })
	return index
}

// scan runs WHERE id BETWEEN lo AND hi by looking at every row.
// => a scan cannot know that ids are unique, so it never stops early
func scan(table []Order, lo, hi int) Result {
	r := Result{}
	for _, order := range table {
		r.Examined++
		if order.ID >= lo && order.ID <= hi {
			r.Matches++
		}
	}
	return r
}

// lowerBound finds the first entry with Key >= key by binary search and
// counts the entries it compared: about log2(n) of them.
func lowerBound(index []Entry, key int) (int, int) {
	lo, hi, probes := 0, len(index), 0
	for lo < hi {
		mid := (lo + hi) / 2
		probes++
		if index[mid].Key < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, probes
}

// seek runs the same query through the index: binary search to the
// first key, then walk forward, fetching one row per matching entry.
func seek(table []Order, index []Entry, lo, hi int) Result {
	pos, probes := lowerBound(index, lo)
	r := Result{Examined: probes}
	for ; pos < len(index) && index[pos].Key <= hi; pos++ {
		_ = table[index[pos].Row]
		r.Examined++
		r.Matches++
	}
	return r
}

// btreeDepth is ceil(log_f(n)): pages read from root to leaf when each
// page holds fanout keys.
func btreeDepth(n, fanout int) int {
	depth, reach := 1, fanout
	for reach < n {
		reach *= fanout
		depth++
	}
	return depth
}

// timeIt runs query Repeats times and returns the mean in microseconds.
func timeIt(query func() Result) float64 {
	start := time.Now()
	for i := 0; i < Repeats; i++ {
		query()
	}
	// Nanoseconds, because 20 index lookups can take under 1 us in all.
	return float64(time.Since(start).Nanoseconds()) / 1e3 / Repeats
}

func main() {
	table := buildTable()
	index := buildIndex(table)
	fmt.Printf("table: %d rows, index: %d sorted keys\n", len(table), len(index))
	// => prints: table: 100000 rows, index: 100000 sorted keys

	// A point lookup, WHERE id = 77777, and a range of 100 ids.
	queries := []struct {
		name   string
		lo, hi int
	}{
		{"point id=77777", 77_777, 77_777},
		{"range 50000-50099", 50_000, 50_099},
	}
	for _, q := range queries {
		s := scan(table, q.lo, q.hi)
		fmt.Printf("%s, scan: examined %d, returned %d\n",
			q.name, s.Examined, s.Matches)
		x := seek(table, index, q.lo, q.hi)
		fmt.Printf("%s, index: examined %d, returned %d\n",
			q.name, x.Examined, x.Matches)
	}
	// => 18 is 17 binary-search probes plus the one row fetched
	// => prints: point id=77777, scan: examined 100000, returned 1
	// => prints: point id=77777, index: examined 18, returned 1
	// => prints: range 50000-50099, scan: examined 100000, returned 100
	// => prints: range 50000-50099, index: examined 116, returned 100

	// A B-tree keeps ~100 keys per page instead of 2 per binary-search
	// step, so it reads only 3 pages to reach any of 100,000 keys.
	fmt.Printf("B-tree, fan-out 100, %d keys: depth %d\n",
		Rows, btreeDepth(Rows, 100))
	// => prints: B-tree, fan-out 100, 100000 keys: depth 3

	// Examined counts turn into time: scanning costs every row.
	scanUS := timeIt(func() Result { return scan(table, 77_777, 77_777) })
	seekUS := timeIt(func() Result {
		return seek(table, index, 77_777, 77_777)
	})
	fmt.Printf("point lookup, scan: %.1f us\n", scanUS)
	// => prints: point lookup, scan: 60.0 us (varies)
	fmt.Printf("point lookup, index: %.1f us\n", seekUS)
	// => prints: point lookup, index: 0.1 us (varies)

	// The index is paid for on writes: every insert also places its key
	// in the sorted index. A sorted slice shifts entries to make room,
	// where a B-tree rewrites one leaf page after walking depth pages.
	plain := slices.Clone(table)
	start := time.Now()
	for i := 0; i < 10_000; i++ {
		plain = append(plain, Order{ID: Rows + i})
	}
	plainMS := float64(time.Since(start).Microseconds()) / 1000
	start = time.Now()
	for i := 0; i < 10_000; i++ {
		id := Rows + i*Shuffle%10_000
		table = append(table, Order{ID: id})
		pos, _ := lowerBound(index, id)
		index = slices.Insert(index, pos, Entry{Key: id, Row: len(table) - 1})
	}
	indexedMS := float64(time.Since(start).Microseconds()) / 1000
	fmt.Printf("10000 inserts, no index: %.1f ms\n", plainMS)
	// => prints: 10000 inserts, no index: 0.1 ms (varies)
	fmt.Printf("10000 inserts, with index: %.1f ms\n", indexedMS)
	// => prints: 10000 inserts, with index: 90.0 ms (varies)
}
