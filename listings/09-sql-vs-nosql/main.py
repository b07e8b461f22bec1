"""SQL vs NoSQL: one small shop stored as normalized tables and as order
documents, the same five queries run against both, with the rows or
documents each one read and wrote."""

from collections import defaultdict

USERS = ["ada", "grace", "linus"]
# id -> (name, price in cents)
PRODUCTS = {0: ("keyboard", 4900), 1: ("mouse", 1900), 2: ("monitor", 19900)}
PRODUCTS[3] = ("cable", 900)


def seed_orders() -> list[tuple[int, list[tuple[int, int]]]]:
    """Six orders as (user, [(product, quantity), ...])."""
    return [(i % 3, [(i % 4, 1 + i % 2), ((i + 1) % 4, 1)]) for i in range(6)]


class Tables:
    """Normalized: every fact once, rows linked by ids, indexes as dicts."""

    def __init__(self) -> None:
        self.users = dict(enumerate(USERS))
        self.products = {
            p: {"name": n, "price": c, "stock": 100}
            for p, (n, c) in PRODUCTS.items()
        }
        self.orders: dict[int, int] = {}  # order id -> user id
        # order_items rows: (order, product, quantity, price)
        self.items: list[tuple[int, int, int, int]] = []
        self.by_user: dict[int, list[int]] = defaultdict(list)
        self.by_order: dict[int, list[int]] = defaultdict(list)
        self.reads = self.writes = 0

    def place(self, user: int, lines: list[tuple[int, int]]) -> str:
        # One transaction: the order row, a row per item, and the stock of
        # each product, all committed together or not at all.
        order = len(self.orders)
        self.orders[order] = user
        self.by_user[user].append(order)
        for product, qty in lines:
            price = self.products[product]["price"]
            self.by_order[order].append(len(self.items))
            self.items.append((order, product, qty, price))
            self.products[product]["stock"] -= qty
        self.writes += 1 + 2 * len(lines)
        return f"order {order}"

    def fetch_order(self, order: int) -> str:
        # JOIN orders, order_items, products: 1 row, then 2 per item.
        self.reads += 1
        result = []
        for row in self.by_order[order]:
            _, product, qty, _ = self.items[row]
            self.reads += 2
            result.append(f"{self.products[product]['name']} x{qty}")
        return ", ".join(result)

    def user_orders(self, user: int) -> str:
        # Only the order rows: the result is their ids, which an index on
        # user_id finds without reading the user row.
        self.reads += len(self.by_user[user])
        return ", ".join(str(o) for o in self.by_user[user])

    def rename(self, product: int, name: str) -> str:
        # The name lives in one row, however many orders mention it.
        self.products[product]["name"] = name
        self.writes += 1
        return name

    def revenue(self) -> str:
        # GROUP BY product over order_items, then product names.
        totals: dict[int, int] = defaultdict(int)
        for _, product, qty, price in self.items:
            totals[product] += qty * price
        self.reads += len(self.items) + len(totals)
        return ", ".join(
            f"{self.products[p]['name']} {t}" for p, t in sorted(totals.items())
        )


class Documents:
    """One document per order with its items and copies of the names it
    shows, next to user and product documents."""

    def __init__(self) -> None:
        self.users = dict(enumerate(USERS))
        self.products = {
            p: {"name": n, "price": c, "stock": 100}
            for p, (n, c) in PRODUCTS.items()
        }
        self.orders: dict[int, dict] = {}
        self.reads = self.writes = 0

    def place(self, user: int, lines: list[tuple[int, int]]) -> str:
        # The order is one document, but each product's stock is another,
        # so this needs a multi-document transaction to be all-or-nothing.
        order = len(self.orders)
        self.orders[order] = {
            "user": user,
            "user_name": self.users[user],  # copy
            "items": [
                {
                    "product": p,
                    "name": self.products[p]["name"],  # copy
                    "qty": qty,
                    "price": self.products[p]["price"],
                }
                for p, qty in lines
            ],
        }
        for p, qty in lines:
            self.products[p]["stock"] -= qty
        self.writes += 1 + len(lines)
        return f"order {order}"

    def fetch_order(self, order: int) -> str:
        self.reads += 1  # => the whole aggregate in one read
        items = self.orders[order]["items"]
        return ", ".join(f"{i['name']} x{i['qty']}" for i in items)

    def user_orders(self, user: int) -> str:
        found = [o for o, doc in self.orders.items() if doc["user"] == user]
        self.reads += len(found)  # with an index on user
        return ", ".join(str(o) for o in found)

    def rename(self, product: int, name: str) -> str:
        # Every copy must change: the product and each order that has it.
        self.products[product]["name"] = name
        self.writes += 1
        for doc in self.orders.values():
            hits = [i for i in doc["items"] if i["product"] == product]
            for item in hits:
                item["name"] = name
            self.writes += 1 if hits else 0
        return name

    def revenue(self) -> str:
        # Every order document is read whole to sum two fields.
        totals: dict[int, int] = defaultdict(int)
        for doc in self.orders.values():
            self.reads += 1
            for item in doc["items"]:
                totals[item["product"]] += item["qty"] * item["price"]
        return ", ".join(
            f"{self.products[p]['name']} {t}" for p, t in sorted(totals.items())
        )

    def copies(self) -> int:
        """Count the names stored as copies inside order documents."""
        return sum(1 + len(doc["items"]) for doc in self.orders.values())


def run(label: str, tables: Tables, docs: Documents, query) -> None:
    """Run query on both models, check the answers match, print the cost."""
    before = (tables.reads, tables.writes, docs.reads, docs.writes)
    answer = query(tables)
    assert answer == query(docs), label
    r_reads, r_writes = tables.reads - before[0], tables.writes - before[1]
    d_reads, d_writes = docs.reads - before[2], docs.writes - before[3]
    print(f"{label}: {answer}")
    print(f"{label}, tables: {r_reads} rows read, {r_writes} written")
    print(f"{label}, documents: {d_reads} docs read, {d_writes} written")


def main() -> None:
    tables, docs = Tables(), Documents()
    for user, lines in seed_orders():
        tables.place(user, lines)
        docs.place(user, lines)
    tables.writes = docs.writes = 0
    print(f"6 orders: {len(tables.items)} item rows, {len(docs.orders)} docs")
    # => prints: 6 orders: 12 item rows, 6 docs

    # Reading one aggregate: documents keep it together.
    run("fetch order 4", tables, docs, lambda m: m.fetch_order(4))
    # => prints: fetch order 4: keyboard x1, mouse x1
    # => prints: fetch order 4, tables: 5 rows read, 0 written
    # => prints: fetch order 4, documents: 1 docs read, 0 written
    run("orders of grace", tables, docs, lambda m: m.user_orders(1))
    # => prints: orders of grace: 1, 4
    # => prints: orders of grace, tables: 2 rows read, 0 written
    # => prints: orders of grace, documents: 2 docs read, 0 written

    # A rename touches one row, but every document that copied the name.
    run("rename", tables, docs, lambda m: m.rename(2, "display"))
    # => prints: rename: display
    # => prints: rename, tables: 0 rows read, 1 written
    # => prints: rename, documents: 0 docs read, 4 written
    run("fetch order 2", tables, docs, lambda m: m.fetch_order(2))
    # => prints: fetch order 2: display x1, cable x1

    # A report across all orders reads every item row, or every document.
    run("revenue", tables, docs, lambda m: m.revenue())
    # => prints: revenue: keyboard 14700, mouse 11400, display 59700, cable 2700
    # => prints: revenue, tables: 16 rows read, 0 written
    # => prints: revenue, documents: 6 docs read, 0 written

    # An order that also takes stock touches two kinds of entity.
    run("place", tables, docs, lambda m: m.place(2, [(3, 2), (1, 1)]))
    # => prints: place: order 6
    # => prints: place, tables: 0 rows read, 5 written
    # => prints: place, documents: 0 docs read, 3 written
    print(f"name copies in documents: {docs.copies()}")
    # => prints: name copies in documents: 21


if __name__ == "__main__":
    main()
