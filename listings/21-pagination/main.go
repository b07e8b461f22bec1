// Pagination: offset (LIMIT k OFFSET n) and cursor (keyset) paging over a
// list that changes between page fetches, then a cursor API over HTTP.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Row is sorted by (CreatedAt, ID) descending, newest first. ID breaks
// ties, so the key is unique and a cursor names one exact position.
type Row struct {
	CreatedAt int64 // Unix seconds
	ID        int
}

// less reports whether r sorts after key, i.e. (CreatedAt, ID) < key, the
// same row-value comparison as SQL's WHERE (created_at, id) < ($1, $2).
func (r Row) less(key Row) bool {
	if r.CreatedAt != key.CreatedAt {
		return r.CreatedAt < key.CreatedAt
	}
	return r.ID < key.ID
}

// makeRow creates rows in pairs: ids 2j-1 and 2j share one created_at, so
// only the id orders them, and a cursor without the id would skip one.
func makeRow(id int) Row {
	return Row{1_700_000_000 + int64((id+1)/2)*60, id}
}

// Table keeps its rows newest first, like an index on (created_at, id).
type Table struct {
	mu   sync.Mutex
	rows []Row
}

func newTable(n int) *Table {
	t := &Table{}
	for id := n; id >= 1; id-- {
		t.rows = append(t.rows, makeRow(id))
	}
	return t
}

// Insert adds a new row at the top.
func (t *Table) Insert(id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = slices.Insert(t.rows, 0, makeRow(id))
}

// Delete removes the row with this id.
func (t *Table) Delete(id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = slices.DeleteFunc(t.rows, func(r Row) bool { return r.ID == id })
}

// ByOffset returns LIMIT k OFFSET n and the rows a database would read:
// it must walk past the n skipped rows before it returns any.
func (t *Table) ByOffset(n, k int) ([]Row, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	start := min(n, len(t.rows))
	end := min(n+k, len(t.rows))
	return slices.Clone(t.rows[start:end]), end
}

// After returns the k rows below key (all rows from the top when key is
// nil). With an index the database seeks to key and reads only k rows.
func (t *Table) After(key *Row, k int) []Row {
	t.mu.Lock()
	defer t.mu.Unlock()
	var page []Row
	for _, r := range t.rows {
		if len(page) == k {
			break
		}
		if key == nil || r.less(*key) {
			page = append(page, r)
		}
	}
	return page
}

// A change the script makes after a given page.
type change struct {
	insert []int
	delete []int
}

// script: after page 1 two rows arrive; after page 2 two rows the reader
// has already passed are deleted.
var script = map[int]change{
	1: {insert: []int{21, 22}},
	2: {delete: []int{19, 18}},
}

func ids(rows []Row) string {
	var s []string
	for _, r := range rows {
		s = append(s, strconv.Itoa(r.ID))
	}
	return strings.Join(s, " ")
}

// read pages through a fresh 20-row table with page size 5, applying the
// script between pages, and reports duplicates and misses.
func read(method string) {
	const k = 5
	t := newTable(20)
	seen := map[int]int{}
	var cursor *Row
	for page := 1; ; page++ {
		var rows []Row
		var scanned int
		if method == "offset" {
			// => page p skips (p-1)*k rows: the work grows with the page
			rows, scanned = t.ByOffset((page-1)*k, k)
		} else {
			rows = t.After(cursor, k)
			scanned = len(rows)
		}
		fmt.Printf("%s page %d: [%s] scanned %d\n",
			method, page, ids(rows), scanned)
		for _, r := range rows {
			seen[r.ID]++
		}
		if len(rows) < k {
			break
		}
		// => the cursor is the last row's full key, not its position
		cursor = &rows[len(rows)-1]
		c := script[page]
		for _, id := range c.insert {
			t.Insert(id)
		}
		for _, id := range c.delete {
			t.Delete(id)
		}
	}

	// A miss is a row that was there for the whole read but never seen.
	var dups, missed []string
	for id := 20; id >= 1; id-- {
		gone := id == 19 || id == 18
		if seen[id] > 1 {
			dups = append(dups, strconv.Itoa(id))
		}
		if seen[id] == 0 && !gone {
			missed = append(missed, strconv.Itoa(id))
		}
	}
	fmt.Printf("%s: duplicates [%s], missed [%s]\n",
		method, strings.Join(dups, " "), strings.Join(missed, " "))
}

// encodeCursor makes the opaque token a client passes back: base64 of the
// last key. Clients must not build or parse it, so the server may change it.
func encodeCursor(r Row) string {
	raw := fmt.Sprintf("%d,%d", r.CreatedAt, r.ID)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(token string) (*Row, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, err
	}
	var r Row
	_, err = fmt.Sscanf(string(raw), "%d,%d", &r.CreatedAt, &r.ID)
	return &r, err
}

// pageJSON is the API's response body.
type pageJSON struct {
	Items      []int   `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// handler serves GET /items?limit=K&cursor=TOKEN.
func handler(t *Table) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || limit < 1 || limit > 100 {
			http.Error(w, "invalid limit: use 1 to 100", http.StatusBadRequest)
			return
		}
		var key *Row
		if token := r.URL.Query().Get("cursor"); token != "" {
			if key, err = decodeCursor(token); err != nil {
				log.Printf("rejected cursor %q: %v", token, err)
				http.Error(w, "invalid cursor", http.StatusBadRequest)
				return
			}
		}
		rows := t.After(key, limit)
		body := pageJSON{Items: []int{}}
		for _, row := range rows {
			body.Items = append(body.Items, row.ID)
		}
		// => a full page may have more after it; a short page is the end
		if len(rows) == limit {
			next := encodeCursor(rows[len(rows)-1])
			body.NextCursor = &next
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(body); err != nil {
			log.Printf("writing page: %v", err)
		}
	}
}

// get fetches one page and returns the status line and the decoded body.
func get(base, query string) (string, pageJSON) {
	var body pageJSON
	resp, err := http.Get(base + "/items?" + query)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &body); err != nil {
			log.Fatal(err)
		}
	}
	return resp.Status, body
}

func serveAPI() {
	t := newTable(12)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: handler(t)}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	query := "limit=5"
	for page := 1; ; page++ {
		status, body := get(base, query)
		next := "none"
		if body.NextCursor != nil {
			next = *body.NextCursor
		}
		fmt.Printf("GET page %d: %s %v next=%s\n",
			page, status, body.Items, next)
		// => prints: GET page 1: 200 OK [12 11 10 9 8] next=MTcwMDAwMDI0MCw4
		// => prints: GET page 2: 200 OK [7 6 5 4 3] next=MTcwMDAwMDEyMCwz
		// => 7 has 8's created_at: only the id in the cursor keeps it
		// => prints: GET page 3: 200 OK [2 1] next=none
		if body.NextCursor == nil {
			break
		}
		if page == 1 {
			raw, _ := base64.RawURLEncoding.DecodeString(next)
			fmt.Printf("the cursor decodes to %s; new rows now\n", raw)
			// => prints: the cursor decodes to 1700000240,8; new rows now
			t.Insert(13)
			t.Insert(14)
		}
		query = "limit=5&cursor=" + next
	}

	// A token that does not decode gets 400, and the server logs it to
	// stderr. The token is not signed, so a client can still build a valid
	// one: sign it with an HMAC if clients must not.
	status, _ := get(base, "limit=5&cursor=not-a-cursor!")
	fmt.Printf("GET with a malformed cursor: %s\n", status)
	// => prints: GET with a malformed cursor: 400 Bad Request
}

func main() {
	read("offset")
	// => prints: offset page 1: [20 19 18 17 16] scanned 5
	// => prints: offset page 2: [17 16 15 14 13] scanned 10
	// => prints: offset page 3: [10 9 8 7 6] scanned 15
	// => prints: offset page 4: [5 4 3 2 1] scanned 20
	// => prints: offset page 5: [] scanned 20
	// => prints: offset: duplicates [17 16], missed [12 11]
	read("cursor")
	// => prints: cursor page 1: [20 19 18 17 16] scanned 5
	// => prints: cursor page 2: [15 14 13 12 11] scanned 5
	// => prints: cursor page 3: [10 9 8 7 6] scanned 5
	// => prints: cursor page 4: [5 4 3 2 1] scanned 5
	// => prints: cursor page 5: [] scanned 0
	// => prints: cursor: duplicates [], missed []
	serveAPI()
}
