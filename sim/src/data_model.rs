//! SQL vs NoSQL: one dataset stored relationally and as documents, and what each
//! access pattern costs in each model.
//!
//! The dataset has `users`, `products`, and `users * orders_per_user` orders of
//! `items_per_order` items each. The relational model keeps four normalized
//! tables (users, products, orders, order_items), so each fact is stored once
//! and a query joins the rows it needs. The document model keeps one document
//! per order that embeds its items, with copies of each product's name and the
//! user's name, next to separate user and product documents.
//!
//! Five access patterns run against both models and return the same answers:
//! fetch one order with its items, list a user's orders, rename a product,
//! report revenue per product across all orders, and place an order that also
//! takes stock from its products. Each costs round trips, records read (rows or
//! documents), records written and bytes read, from the record sizes below. A
//! pattern's latency is `round_trip_ms` per round trip plus [`RECORD_MS`] per
//! record read or written.
//!
//! The model counts work only: it assumes an index on every key a pattern looks
//! up (order id, user id, product id inside an order's items), has no cache, and
//! sends a transaction as one round trip.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::metrics::{LatencyHistogram, Metric, Percentiles, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 500.0;

/// Cost of reading or writing one row or document, in milliseconds.
pub const RECORD_MS: f64 = 0.01;

/// Bytes of a product or user name, in either model.
pub const NAME_BYTES: u64 = 24;
/// Bytes of a `users` row or user document: id and name.
pub const USER_BYTES: u64 = 8 + NAME_BYTES;
/// Bytes of a `products` row or product document: id, name, price, stock.
pub const PRODUCT_BYTES: u64 = 8 + NAME_BYTES + 8 + 8;
/// Bytes of an `orders` row: id, user id, date.
pub const ORDER_ROW_BYTES: u64 = 24;
/// Bytes of an `order_items` row: order id, product id, quantity, price.
pub const ITEM_ROW_BYTES: u64 = 8 + 8 + 4 + 8;
/// Bytes of an order document without its items: the order row plus a copy of the user's name.
pub const ORDER_DOC_BYTES: u64 = ORDER_ROW_BYTES + NAME_BYTES;
/// Bytes of one item embedded in an order document: the item row plus a copy of the product name.
pub const ITEM_DOC_BYTES: u64 = ITEM_ROW_BYTES + NAME_BYTES;

/// Largest number of users, products, orders per user, and items per order.
pub const MAX_USERS: u32 = 1000;
/// Largest number of products.
pub const MAX_PRODUCTS: u32 = 1000;
/// Largest number of orders per user.
pub const MAX_ORDERS_PER_USER: u32 = 50;
/// Largest number of items per order.
pub const MAX_ITEMS_PER_ORDER: u32 = 20;

/// Stock each product starts with.
const START_STOCK: u64 = 1_000_000;

/// Parameters of the data model widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataModelConfig {
    /// Number of users.
    pub users: u32,
    /// Number of products.
    pub products: u32,
    /// Orders each user has placed at the start.
    pub orders_per_user: u32,
    /// Items in each order.
    pub items_per_order: u32,
    /// Time of one round trip between the application and the database, in milliseconds.
    pub round_trip_ms: f64,
}

impl Default for DataModelConfig {
    fn default() -> Self {
        Self {
            users: 100,
            products: 20,
            orders_per_user: 5,
            items_per_order: 3,
            round_trip_ms: 1.0,
        }
    }
}

impl Config for DataModelConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_u32("users", self.users, 1, MAX_USERS)?;
        ConfigError::check_range_u32("products", self.products, 1, MAX_PRODUCTS)?;
        ConfigError::check_range_u32(
            "orders_per_user",
            self.orders_per_user,
            1,
            MAX_ORDERS_PER_USER,
        )?;
        ConfigError::check_range_u32(
            "items_per_order",
            self.items_per_order,
            1,
            MAX_ITEMS_PER_ORDER,
        )?;
        ConfigError::check_range_f64("round_trip_ms", self.round_trip_ms, 0.01, 100.0)?;
        Ok(())
    }
}

/// An access pattern the reader runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Fetch one order with its items and their product names.
    FetchOrder,
    /// List one user's orders with their items.
    UserOrders,
    /// Change one product's name everywhere it appears.
    RenameProduct,
    /// Sum revenue per product across all orders.
    Report,
    /// Insert an order and take its quantities from product stock, atomically.
    PlaceOrder,
}

impl Pattern {
    /// Every pattern, in the order the engine cycles through them.
    pub const ALL: [Pattern; 5] = [
        Pattern::FetchOrder,
        Pattern::UserOrders,
        Pattern::RenameProduct,
        Pattern::Report,
        Pattern::PlaceOrder,
    ];

    /// Returns the pattern's position in [`Pattern::ALL`].
    pub fn index(self) -> usize {
        match self {
            Pattern::FetchOrder => 0,
            Pattern::UserOrders => 1,
            Pattern::RenameProduct => 2,
            Pattern::Report => 3,
            Pattern::PlaceOrder => 4,
        }
    }

    /// Returns a short label for the widget.
    pub fn label(self) -> &'static str {
        match self {
            Pattern::FetchOrder => "fetch order + items",
            Pattern::UserOrders => "list user's orders",
            Pattern::RenameProduct => "rename a product",
            Pattern::Report => "revenue by product",
            Pattern::PlaceOrder => "place order + stock",
        }
    }
}

/// The work one pattern did in one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Cost {
    /// Requests sent to the database.
    pub round_trips: u64,
    /// Rows (relational) or documents (document model) read.
    pub reads: u64,
    /// Rows or documents written.
    pub writes: u64,
    /// Bytes of the records read.
    pub bytes_read: u64,
    /// Whether the writes span more than one record that the model updates atomically on its
    /// own: a multi-row transaction, or a multi-document transaction.
    pub multi_record_txn: bool,
}

/// The result of a pattern, the same in both models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Answer {
    /// An order's items as `(product name, quantity)`.
    Items {
        /// The items in order.
        items: Vec<(String, u32)>,
    },
    /// A user's name, and their order ids with item counts.
    Orders {
        /// The user's name.
        user: String,
        /// `(order id, items)` in id order.
        orders: Vec<(u32, u32)>,
    },
    /// The product's new name and how many order items now show it.
    Renamed {
        /// The new name.
        name: String,
        /// Order items that carry the product.
        items: u64,
    },
    /// Revenue per product id, in cents.
    Revenue {
        /// One total per product.
        totals: Vec<u64>,
    },
    /// The new order's id and the stock left of its first product.
    Placed {
        /// The new order's id.
        order: u32,
        /// Stock of the first product after the order.
        stock_left: u64,
    },
}

/// An action a reader can take between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Runs one access pattern now, against both models.
    Run {
        /// The pattern to run.
        pattern: Pattern,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A pattern ran against both models.
    Ran {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// The pattern.
        pattern: Pattern,
        /// The id of the order, user or product it targeted, if any.
        target: Option<u32>,
        /// Cost in the relational model.
        relational: Cost,
        /// Cost in the document model.
        document: Cost,
        /// The answer, which both models returned alike.
        answer: Answer,
        /// Whether the two models' answers were equal.
        agree: bool,
    },
}

#[derive(Debug, Clone)]
struct Product {
    name: String,
    price_cents: u64,
    stock: u64,
}

#[derive(Debug, Clone)]
struct ItemRow {
    product: u32,
    quantity: u32,
    price_cents: u64,
}

/// Normalized tables: each fact once, linked by ids.
#[derive(Debug, Clone)]
struct Relational {
    users: Vec<String>,
    products: Vec<Product>,
    /// `orders[id]` is the order's user id and the range of its rows in `items`.
    orders: Vec<OrderRow>,
    items: Vec<ItemRow>,
}

/// An `orders` row. Its items are inserted together, so they sit next to each other in
/// `order_items`, which replaces an index on `order_items.order_id`.
#[derive(Debug, Clone)]
struct OrderRow {
    user: u32,
    first_item: usize,
    item_count: usize,
}

#[derive(Debug, Clone)]
struct ItemDoc {
    product: u32,
    product_name: String,
    quantity: u32,
    price_cents: u64,
}

#[derive(Debug, Clone)]
struct OrderDoc {
    user: u32,
    user_name: String,
    items: Vec<ItemDoc>,
}

/// Order documents that embed their items, next to user and product documents.
#[derive(Debug, Clone)]
struct Documents {
    users: Vec<String>,
    products: Vec<Product>,
    orders: Vec<OrderDoc>,
}

/// Totals per pattern and model since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Times the pattern ran.
    pub runs: u64,
    /// Summed relational cost.
    pub relational: Cost,
    /// Summed document cost.
    pub document: Cost,
}

fn add(total: &mut Cost, cost: &Cost) {
    total.round_trips += cost.round_trips;
    total.reads += cost.reads;
    total.writes += cost.writes;
    total.bytes_read += cost.bytes_read;
    total.multi_record_txn |= cost.multi_record_txn;
}

/// The data model engine.
#[derive(Debug, Clone)]
pub struct DataModel {
    config: DataModelConfig,
    rng: SimRng,
    now_ms: f64,
    relational: Relational,
    documents: Documents,
    next_pattern: usize,
    renames: u64,
    totals: [Totals; 5],
    last: Option<(Pattern, Cost, Cost)>,
    disagreements: u64,
    relational_latency: LatencyHistogram,
    document_latency: LatencyHistogram,
    recent: VecDeque<Event>,
}

/// Events kept for [`DataModel::recent`].
pub const RECENT_EVENTS: usize = 10;

impl DataModel {
    /// Returns the configuration the engine runs with.
    pub fn config(&self) -> &DataModelConfig {
        &self.config
    }

    /// Returns the totals of one pattern since the start.
    pub fn totals(&self, pattern: Pattern) -> Totals {
        self.totals
            .get(pattern.index())
            .copied()
            .unwrap_or_default()
    }

    /// Returns the pattern that ran last with its relational and document costs.
    pub fn last(&self) -> Option<(Pattern, Cost, Cost)> {
        self.last
    }

    /// Returns the orders in the dataset now.
    pub fn orders(&self) -> u64 {
        self.relational.orders.len() as u64
    }

    /// Returns the bytes the document model stores as copies: every product name inside an
    /// order and every user name inside an order, which the relational model stores once.
    pub fn duplicated_bytes(&self) -> u64 {
        let items: u64 = self
            .documents
            .orders
            .iter()
            .map(|order| order.items.len() as u64)
            .sum();
        (items + self.documents.orders.len() as u64) * NAME_BYTES
    }

    /// Returns how many patterns gave different answers in the two models, which stays 0.
    pub fn disagreements(&self) -> u64 {
        self.disagreements
    }

    /// Returns latency percentiles of the relational model over every pattern run.
    pub fn relational_percentiles(&self) -> Option<Percentiles> {
        self.relational_latency.percentiles()
    }

    /// Returns latency percentiles of the document model over every pattern run.
    pub fn document_percentiles(&self) -> Option<Percentiles> {
        self.document_latency.percentiles()
    }

    /// Returns the last [`RECENT_EVENTS`] patterns run, oldest first.
    pub fn recent(&self) -> impl ExactSizeIterator<Item = &Event> + '_ {
        self.recent.iter()
    }

    /// Returns the latency a cost stands for, in milliseconds.
    pub fn latency_ms(&self, cost: &Cost) -> f64 {
        cost.round_trips as f64 * self.config.round_trip_ms
            + (cost.reads + cost.writes) as f64 * RECORD_MS
    }

    /// Runs `pattern` against both models on a target drawn from the seeded stream.
    fn run(&mut self, pattern: Pattern) -> Event {
        let (target, relational, document, rel_answer, doc_answer) = match pattern {
            Pattern::FetchOrder => {
                let order = self.rng.below(self.orders()) as u32;
                let (rc, ra) = self.relational.fetch_order(order);
                let (dc, da) = self.documents.fetch_order(order);
                (Some(order), rc, dc, ra, da)
            }
            Pattern::UserOrders => {
                let user = self.rng.below(u64::from(self.config.users)) as u32;
                let (rc, ra) = self.relational.user_orders(user);
                let (dc, da) = self.documents.user_orders(user);
                (Some(user), rc, dc, ra, da)
            }
            Pattern::RenameProduct => {
                let product = self.rng.below(u64::from(self.config.products)) as u32;
                self.renames += 1;
                let name = product_name(product, self.renames);
                let (rc, ra) = self.relational.rename(product, &name);
                let (dc, da) = self.documents.rename(product, &name);
                (Some(product), rc, dc, ra, da)
            }
            Pattern::Report => {
                let (rc, ra) = self.relational.report();
                let (dc, da) = self.documents.report();
                (None, rc, dc, ra, da)
            }
            Pattern::PlaceOrder => {
                let user = self.rng.below(u64::from(self.config.users)) as u32;
                let items = self.draw_items();
                let (rc, ra) = self.relational.place(user, &items);
                let (dc, da) = self.documents.place(user, &items);
                (Some(user), rc, dc, ra, da)
            }
        };
        let agree = rel_answer == doc_answer;
        if !agree {
            self.disagreements += 1;
        }
        if let Some(totals) = self.totals.get_mut(pattern.index()) {
            totals.runs += 1;
            add(&mut totals.relational, &relational);
            add(&mut totals.document, &document);
        }
        self.relational_latency
            .record_ms(self.latency_ms(&relational));
        self.document_latency.record_ms(self.latency_ms(&document));
        self.last = Some((pattern, relational, document));
        let event = Event::Ran {
            at_ms: self.now_ms,
            pattern,
            target,
            relational,
            document,
            answer: rel_answer,
            agree,
        };
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent.push_back(event.clone());
        event
    }

    /// Draws `items_per_order` items as `(product, quantity)`.
    fn draw_items(&mut self) -> Vec<(u32, u32)> {
        (0..self.config.items_per_order)
            .map(|_| {
                let product = self.rng.below(u64::from(self.config.products)) as u32;
                let quantity = 1 + self.rng.below(3) as u32;
                (product, quantity)
            })
            .collect()
    }
}

fn product_name(product: u32, version: u64) -> String {
    if version == 0 {
        format!("product {product}")
    } else {
        format!("product {product} v{version}")
    }
}

impl Relational {
    /// `SELECT ... FROM orders JOIN order_items JOIN products WHERE orders.id = ?`
    fn fetch_order(&self, order: u32) -> (Cost, Answer) {
        let rows = self.order_items(order);
        let k = rows.len() as u64;
        let items = rows
            .iter()
            .map(|row| (self.product_name(row.product), row.quantity))
            .collect();
        let cost = Cost {
            round_trips: 1,
            reads: 1 + 2 * k,
            writes: 0,
            bytes_read: ORDER_ROW_BYTES + k * (ITEM_ROW_BYTES + PRODUCT_BYTES),
            multi_record_txn: false,
        };
        (cost, Answer::Items { items })
    }

    fn order_items(&self, order: u32) -> &[ItemRow] {
        self.orders
            .get(order as usize)
            .and_then(|row| {
                self.items
                    .get(row.first_item..row.first_item + row.item_count)
            })
            .unwrap_or(&[])
    }

    fn product_name(&self, product: u32) -> String {
        self.products
            .get(product as usize)
            .map_or_else(String::new, |p| p.name.clone())
    }

    /// The same join plus `users`, `WHERE users.id = ?`.
    fn user_orders(&self, user: u32) -> (Cost, Answer) {
        let mut orders = Vec::new();
        let mut item_rows = 0u64;
        for (id, row) in self
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| o.user == user)
        {
            let count = row.item_count as u64;
            item_rows += count;
            orders.push((id as u32, count as u32));
        }
        let m = orders.len() as u64;
        let cost = Cost {
            round_trips: 1,
            reads: 1 + m + 2 * item_rows,
            writes: 0,
            bytes_read: USER_BYTES
                + m * ORDER_ROW_BYTES
                + item_rows * (ITEM_ROW_BYTES + PRODUCT_BYTES),
            multi_record_txn: false,
        };
        let user = self.users.get(user as usize).cloned().unwrap_or_default();
        (cost, Answer::Orders { user, orders })
    }

    /// `UPDATE products SET name = ? WHERE id = ?`: one row, whatever the orders.
    fn rename(&mut self, product: u32, name: &str) -> (Cost, Answer) {
        if let Some(p) = self.products.get_mut(product as usize) {
            p.name = name.to_string();
        }
        let items = self.items.iter().filter(|i| i.product == product).count() as u64;
        let cost = Cost {
            round_trips: 1,
            reads: 1,
            writes: 1,
            bytes_read: PRODUCT_BYTES,
            multi_record_txn: false,
        };
        let answer = Answer::Renamed {
            name: self.product_name(product),
            items,
        };
        (cost, answer)
    }

    /// `SELECT product_id, SUM(quantity * price) FROM order_items GROUP BY product_id`.
    fn report(&self) -> (Cost, Answer) {
        let mut totals = vec![0u64; self.products.len()];
        for row in &self.items {
            if let Some(total) = totals.get_mut(row.product as usize) {
                *total += u64::from(row.quantity) * row.price_cents;
            }
        }
        let n = self.items.len() as u64;
        let cost = Cost {
            round_trips: 1,
            reads: n,
            writes: 0,
            bytes_read: n * ITEM_ROW_BYTES,
            multi_record_txn: false,
        };
        (cost, Answer::Revenue { totals })
    }

    /// One transaction: insert the order row and its item rows, update each product's stock.
    fn place(&mut self, user: u32, items: &[(u32, u32)]) -> (Cost, Answer) {
        let order = self.orders.len() as u32;
        let first_item = self.items.len();
        for &(product, quantity) in items {
            let Some(p) = self.products.get_mut(product as usize) else {
                continue;
            };
            p.stock = p.stock.saturating_sub(u64::from(quantity));
            let price_cents = p.price_cents;
            self.items.push(ItemRow {
                product,
                quantity,
                price_cents,
            });
        }
        self.orders.push(OrderRow {
            user,
            first_item,
            item_count: self.items.len() - first_item,
        });
        let k = items.len() as u64;
        let stock_left = items
            .first()
            .and_then(|(product, _)| self.products.get(*product as usize))
            .map_or(0, |p| p.stock);
        let cost = Cost {
            round_trips: 1,
            reads: k,
            writes: 1 + 2 * k,
            bytes_read: k * PRODUCT_BYTES,
            multi_record_txn: true,
        };
        (cost, Answer::Placed { order, stock_left })
    }
}

impl Documents {
    /// `find({_id: order})`: one document carries the items and their names.
    fn fetch_order(&self, order: u32) -> (Cost, Answer) {
        let Some(doc) = self.orders.get(order as usize) else {
            return (Cost::default(), Answer::Items { items: Vec::new() });
        };
        let items = doc
            .items
            .iter()
            .map(|item| (item.product_name.clone(), item.quantity))
            .collect();
        let cost = Cost {
            round_trips: 1,
            reads: 1,
            writes: 0,
            bytes_read: doc_bytes(doc),
            multi_record_txn: false,
        };
        (cost, Answer::Items { items })
    }

    /// `find({user_id: user})`: the user's order documents, items and a copy of the user's
    /// name inside, so the user document is read only for a user without orders.
    fn user_orders(&self, user: u32) -> (Cost, Answer) {
        let mut orders = Vec::new();
        let mut bytes = 0;
        let mut name = None;
        for (id, doc) in self
            .orders
            .iter()
            .enumerate()
            .filter(|(_, d)| d.user == user)
        {
            orders.push((id as u32, doc.items.len() as u32));
            bytes += doc_bytes(doc);
            name.get_or_insert_with(|| doc.user_name.clone());
        }
        let (user, extra) = match name {
            Some(name) => (name, 0),
            None => (
                self.users.get(user as usize).cloned().unwrap_or_default(),
                1,
            ),
        };
        let cost = Cost {
            round_trips: 1 + extra,
            reads: orders.len() as u64 + extra,
            writes: 0,
            bytes_read: bytes + extra * USER_BYTES,
            multi_record_txn: false,
        };
        (cost, Answer::Orders { user, orders })
    }

    /// Updates the product document and every order document that carries a copy of its name.
    fn rename(&mut self, product: u32, name: &str) -> (Cost, Answer) {
        if let Some(p) = self.products.get_mut(product as usize) {
            p.name = name.to_string();
        }
        let mut docs = 0u64;
        let mut bytes = PRODUCT_BYTES;
        let mut items = 0u64;
        for doc in &mut self.orders {
            let mut touched = false;
            for item in doc.items.iter_mut().filter(|i| i.product == product) {
                item.product_name = name.to_string();
                items += 1;
                touched = true;
            }
            if touched {
                docs += 1;
                bytes += doc_bytes(doc);
            }
        }
        let cost = Cost {
            round_trips: 1,
            reads: 1 + docs,
            writes: 1 + docs,
            bytes_read: bytes,
            multi_record_txn: docs > 0,
        };
        let answer = Answer::Renamed {
            name: name.to_string(),
            items,
        };
        (cost, answer)
    }

    /// An aggregation over every order document: each whole document is read for two fields.
    fn report(&self) -> (Cost, Answer) {
        let mut totals = vec![0u64; self.products.len()];
        let mut bytes = 0;
        for doc in &self.orders {
            bytes += doc_bytes(doc);
            for item in &doc.items {
                if let Some(total) = totals.get_mut(item.product as usize) {
                    *total += u64::from(item.quantity) * item.price_cents;
                }
            }
        }
        let cost = Cost {
            round_trips: 1,
            reads: self.orders.len() as u64,
            writes: 0,
            bytes_read: bytes,
            multi_record_txn: false,
        };
        (cost, Answer::Revenue { totals })
    }

    /// Inserts one order document and updates each product document's stock, which spans
    /// several documents and so needs a multi-document transaction.
    fn place(&mut self, user: u32, items: &[(u32, u32)]) -> (Cost, Answer) {
        let order = self.orders.len() as u32;
        let mut doc = OrderDoc {
            user,
            user_name: self.users.get(user as usize).cloned().unwrap_or_default(),
            items: Vec::new(),
        };
        for &(product, quantity) in items {
            let Some(p) = self.products.get_mut(product as usize) else {
                continue;
            };
            p.stock = p.stock.saturating_sub(u64::from(quantity));
            doc.items.push(ItemDoc {
                product,
                product_name: p.name.clone(),
                quantity,
                price_cents: p.price_cents,
            });
        }
        self.orders.push(doc);
        let k = items.len() as u64;
        let stock_left = items
            .first()
            .and_then(|(product, _)| self.products.get(*product as usize))
            .map_or(0, |p| p.stock);
        let cost = Cost {
            round_trips: 1,
            reads: k,
            writes: 1 + k,
            bytes_read: k * PRODUCT_BYTES,
            multi_record_txn: true,
        };
        (cost, Answer::Placed { order, stock_left })
    }
}

/// Returns the size of an order document with its embedded items.
fn doc_bytes(doc: &OrderDoc) -> u64 {
    ORDER_DOC_BYTES + doc.items.len() as u64 * ITEM_DOC_BYTES
}

impl Engine for DataModel {
    type Config = DataModelConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: DataModelConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = SimRng::new(seed);
        let users: Vec<String> = (0..config.users).map(|u| format!("user {u}")).collect();
        let products: Vec<Product> = (0..config.products)
            .map(|p| Product {
                name: product_name(p, 0),
                price_cents: 100 + 100 * u64::from(p % 50),
                stock: START_STOCK,
            })
            .collect();
        let mut relational = Relational {
            users: users.clone(),
            products: products.clone(),
            orders: Vec::new(),
            items: Vec::new(),
        };
        let mut documents = Documents {
            users,
            products,
            orders: Vec::new(),
        };
        for user in 0..config.users {
            for _ in 0..config.orders_per_user {
                let items: Vec<(u32, u32)> = (0..config.items_per_order)
                    .map(|_| {
                        let product = rng.below(u64::from(config.products)) as u32;
                        (product, 1 + rng.below(3) as u32)
                    })
                    .collect();
                relational.place(user, &items);
                documents.place(user, &items);
            }
        }
        Ok(Self {
            config,
            rng,
            now_ms: 0.0,
            relational,
            documents,
            next_pattern: 0,
            renames: 0,
            totals: [Totals::default(); 5],
            last: None,
            disagreements: 0,
            relational_latency: LatencyHistogram::new(),
            document_latency: LatencyHistogram::new(),
            recent: VecDeque::with_capacity(RECENT_EVENTS),
        })
    }

    fn step(&mut self) -> Vec<Event> {
        self.now_ms += STEP_MS;
        let pattern = Pattern::ALL
            .get(self.next_pattern % Pattern::ALL.len())
            .copied()
            .unwrap_or(Pattern::FetchOrder);
        self.next_pattern = (self.next_pattern + 1) % Pattern::ALL.len();
        vec![self.run(pattern)]
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match *action {
            Action::Run { pattern } => Ok(vec![self.run(pattern)]),
        }
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        let p50 = |p: Option<Percentiles>| p.map_or(f64::NAN, |p| p.p50_ms);
        let text = |p: Option<Percentiles>| match p {
            Some(p) => format!("{:.2} ms", p.p50_ms),
            None => "–".to_string(),
        };
        let rel = self.relational_percentiles();
        let doc = self.document_percentiles();
        let duplicated = self.duplicated_bytes();
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::count("orders", "Orders", self.orders()),
                Metric::new(
                    "duplicated",
                    "Duplicated bytes (documents)",
                    duplicated as f64,
                    format!("{:.1} KB", duplicated as f64 / 1000.0),
                ),
                Metric::new("relational-p50", "p50, relational", p50(rel), text(rel)),
                Metric::new("document-p50", "p50, documents", p50(doc), text(doc)),
                Metric::count("disagreements", "Answers that differ", self.disagreements),
            ],
            latency: None,
            samples: vec![Sample {
                label: "orders",
                value: self.orders() as f64,
            }],
        }
    }
}
