// Consistent hashing with virtual nodes, compared with mod-N placement.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"
)

// hash64 returns the first 8 bytes of SHA-256 as a big-endian integer in
// 0..2^64. The Python program reads the same bytes, so both print the
// same numbers.
func hash64(text string) uint64 {
	sum := sha256.Sum256([]byte(text))
	return binary.BigEndian.Uint64(sum[:8])
}

// point is one virtual node: a position on the ring and its owner.
type point struct {
	pos  uint64
	node string
}

// Ring is a hash ring where each node owns vnodes points.
type Ring struct {
	vnodes int
	points []point // sorted by pos, then by node name on a tie
}

// Add places a node's points at the hashes of "node-1#0", "node-1#1", ...
// so every client that knows the node names builds the same ring.
func (r *Ring) Add(node string) {
	for v := 0; v < r.vnodes; v++ {
		pos := hash64(fmt.Sprintf("%s#%d", node, v))
		r.points = append(r.points, point{pos, node})
	}
	sort.Slice(r.points, func(i, j int) bool {
		a, b := r.points[i], r.points[j]
		if a.pos != b.pos {
			return a.pos < b.pos
		}
		return a.node < b.node
	})
}

// Owner returns the node of the first point clockwise: the first position
// at or after the key's hash, wrapping past 2^64-1 to the lowest point.
func (r *Ring) Owner(key string) string {
	h := hash64(key)
	i := sort.Search(len(r.points), func(i int) bool {
		return r.points[i].pos >= h
	})
	if i == len(r.points) {
		i = 0 // => wrap: after the last point comes the first
	}
	return r.points[i].node
}

// modNOwner is the naive scheme: hash(key) % N picks an index into the
// node list.
func modNOwner(key string, nodes []string) string {
	n := uint64(len(nodes)) // => the divisor changes whenever N does
	return nodes[hash64(key)%n]
}

func loads(owners, nodes []string) string {
	text := ""
	for i, count := range counts(owners, nodes) {
		if i > 0 {
			text += " "
		}
		text += fmt.Sprint(count)
	}
	return text
}

func counts(owners, nodes []string) []int {
	perNode := make([]int, len(nodes))
	for _, owner := range owners {
		for i, node := range nodes {
			if owner == node {
				perNode[i]++
			}
		}
	}
	return perNode
}

// stdDev is the population standard deviation, summed in slice order so
// that Python, doing the same float operations, prints the same digits.
func stdDev(counts []int, mean float64) float64 {
	total := 0.0
	for _, count := range counts {
		deviation := float64(count) - mean
		total += deviation * deviation
	}
	return math.Sqrt(total / float64(len(counts)))
}

func main() {
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	nodes := []string{"node-0", "node-1", "node-2", "node-3"}
	ring := &Ring{vnodes: 100}
	for _, node := range nodes {
		ring.Add(node)
	} // => 400 points: 4 nodes x 100 vnodes

	// Place all 10,000 keys both ways before the cluster grows.
	ringBefore := make([]string, len(keys))
	modBefore := make([]string, len(keys))
	for i, key := range keys {
		ringBefore[i] = ring.Owner(key)
		modBefore[i] = modNOwner(key, nodes)
	}
	fmt.Println("4 nodes:", loads(ringBefore, nodes))
	// => prints: 4 nodes: 2426 2699 2660 2215

	// A fifth node joins. On the ring it adds 100 points and takes the arcs
	// just before them, while mod-N changes the divisor from 4 to 5.
	nodes = append(nodes, "node-4")
	ring.Add("node-4") // => 500 points, and the first 400 stay put
	ringAfter := make([]string, len(keys))
	modAfter := make([]string, len(keys))
	for i, key := range keys {
		ringAfter[i] = ring.Owner(key)
		modAfter[i] = modNOwner(key, nodes)
	}
	fmt.Println("5 nodes:", loads(ringAfter, nodes))
	// => prints: 5 nodes: 1873 2116 2248 1868 1895

	// The ring moves about 1/5 of the keys, because the new node takes
	// about a fifth of the ring. Mod-N keeps a key only when
	// hash % 4 == hash % 5, true for 1 hash in 5, so it moves about 4/5.
	moved, movedMod, toNew := 0, 0, 0
	for i := range keys {
		if ringAfter[i] != ringBefore[i] {
			moved++
			if ringAfter[i] == "node-4" {
				toNew++
			}
		}
		if modAfter[i] != modBefore[i] {
			movedMod++
		}
	}
	pct := func(n int) float64 {
		return 100 * float64(n) / float64(len(keys))
	}
	fmt.Printf("ring moved  %5d keys (%.1f%%)\n", moved, pct(moved))
	fmt.Printf("mod-N moved %5d keys (%.1f%%)\n", movedMod, pct(movedMod))
	// => prints: ring moved   1895 keys (18.9%)
	// => prints: mod-N moved  7938 keys (79.4%)

	// Every key that moved went to the new node: no key changed hands
	// between two old nodes, so the only transfers are old nodes -> new.
	fmt.Printf("moved to node-4: %d of %d\n", toNew, moved)
	// => prints: moved to node-4: 1895 of 1895

	// With one point per node the arcs are as uneven as random cuts of a
	// circle, and more points average them out. The spread is the standard
	// deviation of keys per node as a share of the mean (2,000).
	for _, vnodes := range []int{1, 10, 100, 1000} {
		sized := &Ring{vnodes: vnodes}
		for _, node := range nodes {
			sized.Add(node)
		}
		owners := make([]string, len(keys))
		for i, key := range keys {
			owners[i] = sized.Owner(key)
		}
		perNode := counts(owners, nodes)
		mean := float64(len(keys)) / float64(len(nodes))
		spread := stdDev(perNode, mean) / mean * 100
		low, high := slices.Min(perNode), slices.Max(perNode)
		fmt.Printf("vnodes %4d: %4d to %4d keys per node, spread %.1f%%\n",
			vnodes, low, high, spread)
	}
	// => prints: vnodes    1:  795 to 3106 keys per node, spread 49.2%
	// => prints: vnodes   10: 1387 to 3104 keys per node, spread 29.4%
	// => prints: vnodes  100: 1868 to 2248 keys per node, spread 7.7%
	// => prints: vnodes 1000: 1941 to 2128 keys per node, spread 3.4%
}
