// SQL vs NoSQL: one small shop stored as normalized tables and as order
// documents, the same five queries run against both, with the rows or
// documents each one read and wrote.
package main

import (
	"fmt"
	"sort"
	"strings"
)

// Product is a product row, or a product document.
type Product struct {
	Name  string
	Price int // cents
	Stock int
}

// Line is one (product, quantity) pair of a new order.
type Line struct{ Product, Qty int }

// Counter counts the rows or documents a model read and wrote.
type Counter struct{ Reads, Writes int }

// Model lists the queries both stores run. Each returns a printable string.
type Model interface {
	Place(user int, lines []Line) string
	FetchOrder(order int) string
	UserOrders(user int) string
	Rename(product int, name string) string
	Revenue() string
	Count() *Counter
}

var users = []string{"ada", "grace", "linus"}

func newProducts() map[int]*Product {
	return map[int]*Product{
		0: {"keyboard", 4900, 100}, 1: {"mouse", 1900, 100},
		2: {"monitor", 19900, 100}, 3: {"cable", 900, 100},
	}
}

// seedOrders returns six orders as (user, lines).
func seedOrders() ([]int, [][]Line) {
	var owners []int
	var orders [][]Line
	for i := 0; i < 6; i++ {
		owners = append(owners, i%3)
		orders = append(orders, []Line{{i % 4, 1 + i%2}, {(i + 1) % 4, 1}})
	}
	return owners, orders
}

// ItemRow is an order_items row.
type ItemRow struct{ Order, Product, Qty, Price int }

// Tables is normalized: every fact once, rows linked by ids, indexes as
// maps from a key to row positions.
type Tables struct {
	products map[int]*Product
	orders   []int // order id -> user id
	items    []ItemRow
	byUser   map[int][]int
	byOrder  map[int][]int
	Counter
}

func (t *Tables) Count() *Counter { return &t.Counter }

// Place is one transaction: the order row, a row per item, and the stock
// of each product, all committed together or not at all.
func (t *Tables) Place(user int, lines []Line) string {
	order := len(t.orders)
	t.orders = append(t.orders, user)
	t.byUser[user] = append(t.byUser[user], order)
	for _, l := range lines {
		p := t.products[l.Product]
		t.byOrder[order] = append(t.byOrder[order], len(t.items))
		t.items = append(t.items, ItemRow{order, l.Product, l.Qty, p.Price})
		p.Stock -= l.Qty
	}
	t.Writes += 1 + 2*len(lines)
	return fmt.Sprintf("order %d", order)
}

// FetchOrder joins orders, order_items, products: 1 row, then 2 per item.
func (t *Tables) FetchOrder(order int) string {
	t.Reads++
	var out []string
	for _, row := range t.byOrder[order] {
		it := t.items[row]
		t.Reads += 2
		out = append(out, fmt.Sprintf("%s x%d", t.products[it.Product].Name, it.Qty))
	}
	return strings.Join(out, ", ")
}

func (t *Tables) UserOrders(user int) string {
	// Only the order rows: the result is their ids, which an index on
	// user_id finds without reading the user row.
	t.Reads += len(t.byUser[user])
	return joinInts(t.byUser[user])
}

// Rename changes one row, however many orders mention the product.
func (t *Tables) Rename(product int, name string) string {
	t.products[product].Name = name
	t.Writes++
	return name
}

// Revenue is GROUP BY product over order_items, then product names.
func (t *Tables) Revenue() string {
	totals := map[int]int{}
	for _, it := range t.items {
		totals[it.Product] += it.Qty * it.Price
	}
	t.Reads += len(t.items) + len(totals)
	return formatTotals(totals, t.products)
}

// ItemDoc is an item embedded in an order document.
type ItemDoc struct {
	Product int
	Name    string // copy of the product's name
	Qty     int
	Price   int
}

// OrderDoc embeds its items and a copy of its user's name.
type OrderDoc struct {
	User     int
	UserName string
	Items    []ItemDoc
}

// Documents keeps one document per order next to product documents.
type Documents struct {
	products map[int]*Product
	orders   []OrderDoc
	Counter
}

func (d *Documents) Count() *Counter { return &d.Counter }

// Place writes the order as one document, but each product's stock is
// another, so it needs a multi-document transaction to be all-or-nothing.
func (d *Documents) Place(user int, lines []Line) string {
	doc := OrderDoc{User: user, UserName: users[user]}
	for _, l := range lines {
		p := d.products[l.Product]
		doc.Items = append(doc.Items, ItemDoc{l.Product, p.Name, l.Qty, p.Price})
		p.Stock -= l.Qty
	}
	d.orders = append(d.orders, doc)
	d.Writes += 1 + len(lines)
	return fmt.Sprintf("order %d", len(d.orders)-1)
}

func (d *Documents) FetchOrder(order int) string {
	d.Reads++ // => the whole aggregate in one read
	var out []string
	for _, it := range d.orders[order].Items {
		out = append(out, fmt.Sprintf("%s x%d", it.Name, it.Qty))
	}
	return strings.Join(out, ", ")
}

func (d *Documents) UserOrders(user int) string {
	var found []int
	for id, doc := range d.orders {
		if doc.User == user {
			found = append(found, id)
		}
	}
	d.Reads += len(found) // with an index on user
	return joinInts(found)
}

// Rename must change every copy: the product and each order that has it.
func (d *Documents) Rename(product int, name string) string {
	d.products[product].Name = name
	d.Writes++
	for i := range d.orders {
		hit := false
		for j := range d.orders[i].Items {
			if d.orders[i].Items[j].Product == product {
				d.orders[i].Items[j].Name = name
				hit = true
			}
		}
		if hit {
			d.Writes++
		}
	}
	return name
}

// Revenue reads every order document whole to sum two fields.
func (d *Documents) Revenue() string {
	totals := map[int]int{}
	for _, doc := range d.orders {
		d.Reads++
		for _, it := range doc.Items {
			totals[it.Product] += it.Qty * it.Price
		}
	}
	return formatTotals(totals, d.products)
}

// Copies counts the names stored as copies inside order documents.
func (d *Documents) Copies() int {
	n := 0
	for _, doc := range d.orders {
		n += 1 + len(doc.Items)
	}
	return n
}

func joinInts(ids []int) string {
	var out []string
	for _, id := range ids {
		out = append(out, fmt.Sprint(id))
	}
	return strings.Join(out, ", ")
}

func formatTotals(totals map[int]int, products map[int]*Product) string {
	var ids []int
	for id := range totals {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var out []string
	for _, id := range ids {
		out = append(out, fmt.Sprintf("%s %d", products[id].Name, totals[id]))
	}
	return strings.Join(out, ", ")
}

// run runs query on both models, checks the answers match, prints costs.
func run(label string, t *Tables, d *Documents, query func(Model) string) {
	tb, db := *t.Count(), *d.Count()
	answer := query(t)
	if other := query(d); other != answer {
		panic(label + ": " + answer + " != " + other)
	}
	fmt.Printf("%s: %s\n", label, answer)
	fmt.Printf("%s, tables: %d rows read, %d written\n",
		label, t.Reads-tb.Reads, t.Writes-tb.Writes)
	fmt.Printf("%s, documents: %d docs read, %d written\n",
		label, d.Reads-db.Reads, d.Writes-db.Writes)
}

func main() {
	t := &Tables{products: newProducts(),
		byUser: map[int][]int{}, byOrder: map[int][]int{}}
	d := &Documents{products: newProducts()}
	owners, orders := seedOrders()
	for i, lines := range orders {
		t.Place(owners[i], lines)
		d.Place(owners[i], lines)
	}
	t.Counter, d.Counter = Counter{}, Counter{}
	fmt.Printf("6 orders: %d item rows, %d docs\n", len(t.items), len(d.orders))
	// => prints: 6 orders: 12 item rows, 6 docs

	// Reading one aggregate: documents keep it together.
	run("fetch order 4", t, d, func(m Model) string { return m.FetchOrder(4) })
	// => prints: fetch order 4: keyboard x1, mouse x1
	// => prints: fetch order 4, tables: 5 rows read, 0 written
	// => prints: fetch order 4, documents: 1 docs read, 0 written
	run("orders of grace", t, d, func(m Model) string { return m.UserOrders(1) })
	// => prints: orders of grace: 1, 4
	// => prints: orders of grace, tables: 2 rows read, 0 written
	// => prints: orders of grace, documents: 2 docs read, 0 written

	// A rename touches one row, but every document that copied the name.
	run("rename", t, d, func(m Model) string { return m.Rename(2, "display") })
	// => prints: rename: display
	// => prints: rename, tables: 0 rows read, 1 written
	// => prints: rename, documents: 0 docs read, 4 written
	run("fetch order 2", t, d, func(m Model) string { return m.FetchOrder(2) })
	// => prints: fetch order 2: display x1, cable x1

	// A report across all orders reads every item row, or every document.
	run("revenue", t, d, func(m Model) string { return m.Revenue() })
	// => prints: revenue: keyboard 14700, mouse 11400, display 59700, cable 2700
	// => prints: revenue, tables: 16 rows read, 0 written
	// => prints: revenue, documents: 6 docs read, 0 written

	// An order that also takes stock touches two kinds of entity.
	lines := []Line{{3, 2}, {1, 1}}
	run("place", t, d, func(m Model) string { return m.Place(2, lines) })
	// => prints: place: order 6
	// => prints: place, tables: 0 rows read, 5 written
	// => prints: place, documents: 0 docs read, 3 written
	fmt.Printf("name copies in documents: %d\n", d.Copies())
	// => prints: name copies in documents: 21
}
