//! HTTP methods against an in-memory collection of orders, in a resource-oriented or RPC design.
//!
//! The server contains `/orders`, three orders to start with. The reader sends one request at a
//! time with [`Action::Send`] and repeats it with [`Action::SendAgain`]. Each response carries a
//! status code, the headers that status needs (`Location` on 201, `Allow` on 405 and OPTIONS)
//! and `Content-Length`, which a 204 omits. Method properties follow RFC 9110 section 9.2: GET, HEAD, OPTIONS and
//! TRACE are safe, and those plus PUT and DELETE are idempotent. PATCH (RFC 5789) and POST are
//! neither, and this server's PATCH adds one to the quantity, so repeating it changes the order
//! again.
//!
//! With [`Design::Rpc`] the same store sits behind verb-named endpoints that route by path
//! alone: `GET /deleteOrder?id=1` deletes, and a missing order gets `200 OK` with an error body.
//! Two optional clients run on simulated time: a crawler that follows the GET links a page
//! shows, at `crawler_per_s`, and a retry policy that resends a reader request when its response
//! is lost (`loss_pct`), after [`TIMEOUT_MS`], up to [`MAX_ATTEMPTS`] attempts in all.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::metrics::{LatencyHistogram, Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Simulated time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Time the client waits for a response before it sends the request again, in milliseconds.
pub const TIMEOUT_MS: f64 = 1000.0;

/// Attempts the retrying client makes for one request, the first included.
pub const MAX_ATTEMPTS: u32 = 3;

/// Longest path a request may carry, in bytes.
pub const MAX_PATH_LEN: usize = 64;

/// Maximum number of orders in the store; a POST beyond it gets `507 Insufficient Storage`.
pub const MAX_ORDERS: usize = 50;

/// Exchanges kept for [`HttpApi::history`], newest last.
pub const HISTORY_LEN: usize = 8;

/// Quantity that `PUT /orders/{id}` stores: the full replacement body is `{"qty":5}`.
pub const PUT_QTY: u32 = 5;

/// API style the server exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// Nouns in the path, and the method names the action: `GET /orders/1`, `DELETE /orders/1`.
    #[default]
    Resource,
    /// Verbs in the path, any method accepted: `POST /getOrder?id=1`, `GET /deleteOrder?id=1`.
    Rpc,
}

impl Design {
    /// Returns the paths the widget offers for this design.
    pub fn paths(self) -> &'static [&'static str] {
        match self {
            Design::Resource => &[
                "/orders",
                "/orders/1",
                "/orders/2",
                "/orders/9",
                "/orders/abc",
            ],
            Design::Rpc => &[
                "/getOrder?id=1",
                "/getOrder?id=9",
                "/createOrder",
                "/updateOrder?id=1",
                "/deleteOrder?id=1",
            ],
        }
    }
}

/// Parameters of the HTTP API widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpApiConfig {
    /// API style: `resource` or `rpc`.
    pub design: Design,
    /// Chance that the response to a reader request is lost, in percent; the client then
    /// times out and resends.
    pub loss_pct: f64,
    /// Mean rate at which a crawler follows GET links (Poisson arrivals), per second.
    pub crawler_per_s: f64,
}

impl Default for HttpApiConfig {
    fn default() -> Self {
        Self {
            design: Design::Resource,
            loss_pct: 0.0,
            crawler_per_s: 0.0,
        }
    }
}

impl Config for HttpApiConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range_f64("loss_pct", self.loss_pct, 0.0, 100.0)?;
        ConfigError::check_range_f64("crawler_per_s", self.crawler_per_s, 0.0, 20.0)?;
        Ok(())
    }
}

/// An HTTP request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// Transfers the current representation.
    Get,
    /// Like GET, without the body.
    Head,
    /// Processes the enclosed body; here, creates an order.
    Post,
    /// Replaces the target's state with the enclosed one.
    Put,
    /// Applies a partial modification; here, adds one to the quantity.
    Patch,
    /// Removes the target.
    Delete,
    /// Lists the methods the target supports.
    Options,
}

impl Method {
    /// Every method, in the order the widget lists them.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    /// Returns the method's name as it appears on the request line.
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    /// Returns whether RFC 9110 defines the method as safe (read-only).
    pub fn is_safe(self) -> bool {
        matches!(self, Method::Get | Method::Head | Method::Options)
    }

    /// Returns whether RFC 9110 defines the method as idempotent.
    pub fn is_idempotent(self) -> bool {
        self.is_safe() || matches!(self, Method::Put | Method::Delete)
    }
}

/// One order in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Order {
    /// Quantity ordered.
    pub qty: u32,
    /// Version that the strong ETag carries; it changes only when the quantity changes.
    pub version: u32,
}

/// The store's contents: order id to order.
pub type Store = BTreeMap<u32, Order>;

/// A response as the client sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase for the status code.
    pub reason: &'static str,
    /// `Location` header, sent with 201 Created.
    pub location: Option<String>,
    /// `Allow` header, sent with 405 and with OPTIONS.
    pub allow: Option<&'static str>,
    /// `Content-Length`: the length of the body a GET would return, which HEAD sends without the
    /// body. `None` on 204, because RFC 9110 section 8.6 forbids the header there.
    pub content_length: Option<usize>,
    /// Body sent, empty for HEAD and 204.
    pub body: String,
    /// Whether the body reports an error although the status is 2xx.
    pub error_in_body: bool,
}

/// Sender of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    /// The reader, through the widget.
    Reader,
    /// A crawler or link prefetcher following GET links.
    Crawler,
}

/// One request with its response and the store around it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exchange {
    /// Simulated time in milliseconds.
    pub at_ms: f64,
    /// Sender of the request.
    pub sender: Sender,
    /// Attempt number, 1 for the first send.
    pub attempt: u32,
    /// Request method.
    pub method: Method,
    /// Request path with its query.
    pub path: String,
    /// Whether the request carried a stale `If-Match` ETag.
    pub stale_if_match: bool,
    /// The response.
    pub response: Response,
    /// Store before the request.
    pub before: Store,
    /// Store after the request.
    pub after: Store,
    /// Whether the response was lost on the way back.
    pub lost: bool,
}

/// An action a reader can take between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Sends one request.
    Send {
        /// Request method.
        method: Method,
        /// Path with an optional query, starting with `/`.
        path: String,
        /// Sends `If-Match` with an ETag that no longer matches, to get `412`.
        #[serde(default)]
        stale_if_match: bool,
    },
    /// Sends the reader's last request again, unchanged.
    SendAgain,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The server handled a request.
    Handled {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Sender of the request.
        sender: Sender,
        /// Attempt number, 1 for the first send.
        attempt: u32,
        /// Request method.
        method: Method,
        /// Request path.
        path: String,
        /// Response status code.
        status: u16,
        /// Whether the request changed the store.
        changed: bool,
        /// Whether the response was lost, so the client will time out.
        lost: bool,
    },
    /// The client gave up after [`MAX_ATTEMPTS`] lost responses.
    GaveUp {
        /// Simulated time in milliseconds.
        at_ms: f64,
        /// Request method.
        method: Method,
        /// Request path.
        path: String,
    },
}

/// A reader request waiting for its timeout before it is sent again.
#[derive(Debug, Clone)]
struct PendingRetry {
    due_ms: f64,
    first_sent_ms: f64,
    attempt: u32,
    method: Method,
    path: String,
    stale_if_match: bool,
}

/// The HTTP API engine.
#[derive(Debug, Clone)]
pub struct HttpApi {
    config: HttpApiConfig,
    rng: SimRng,
    now_ms: f64,
    orders: Store,
    next_id: u32,
    next_crawl_ms: f64,
    retries: VecDeque<PendingRetry>,
    last_request: Option<(Method, String, bool)>,
    history: VecDeque<Exchange>,
    latency: LatencyHistogram,
    requests: u64,
    changes_by_safe_methods: u64,
    hidden_failures: u64,
    duplicates: u64,
    gave_up: u64,
}

impl HttpApi {
    /// Returns the configuration the engine runs with.
    pub fn config(&self) -> &HttpApiConfig {
        &self.config
    }

    /// Returns the orders in the store now.
    pub fn orders(&self) -> &Store {
        &self.orders
    }

    /// Returns the last [`HISTORY_LEN`] exchanges, oldest first.
    pub fn history(&self) -> impl ExactSizeIterator<Item = &Exchange> + '_ {
        self.history.iter()
    }

    /// Returns the requests the server handled, retries and crawler requests included.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Returns the GET and HEAD requests that changed the store, which a safe method must not.
    pub fn changes_by_safe_methods(&self) -> u64 {
        self.changes_by_safe_methods
    }

    /// Returns the `200 OK` responses whose body reports an error.
    pub fn hidden_failures(&self) -> u64 {
        self.hidden_failures
    }

    /// Returns the retries of non-idempotent requests that changed the store again, each one a
    /// duplicate of a write the server had already applied.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Returns the reader requests abandoned after [`MAX_ATTEMPTS`] lost responses.
    pub fn gave_up(&self) -> u64 {
        self.gave_up
    }

    /// Returns the retries waiting for their timeout.
    pub fn pending_retries(&self) -> usize {
        self.retries.len()
    }

    /// Returns whether this server keeps the method's idempotence promise. The resource design
    /// does, while the RPC design routes on the path alone, so there no method promises anything.
    fn promises_idempotence(&self, method: Method) -> bool {
        self.config.design == Design::Resource && method.is_idempotent()
    }

    /// Handles one request, records the exchange and returns its event.
    fn handle(
        &mut self,
        sender: Sender,
        attempt: u32,
        method: Method,
        path: &str,
        stale_if_match: bool,
    ) -> (Event, bool) {
        let before = self.orders.clone();
        let mut response = match self.config.design {
            Design::Resource => self.route_resource(method, path, stale_if_match),
            Design::Rpc => self.route_rpc(path),
        };
        // A HEAD response carries the headers of the GET response, errors included, and no body.
        if method == Method::Head {
            response.body.clear();
        }
        let changed = self.orders != before;
        let lost = sender == Sender::Reader
            && self.config.loss_pct > 0.0
            && self.rng.uniform() * 100.0 < self.config.loss_pct;

        self.requests += 1;
        if changed && method.is_safe() {
            self.changes_by_safe_methods += 1;
        }
        if response.error_in_body {
            self.hidden_failures += 1;
        }
        // Every attempt reaches the server, because only responses are lost, so a retry that
        // changes the store again applies the same write twice.
        if attempt > 1 && changed && !self.promises_idempotence(method) {
            self.duplicates += 1;
        }
        let event = Event::Handled {
            at_ms: self.now_ms,
            sender,
            attempt,
            method,
            path: path.to_string(),
            status: response.status,
            changed,
            lost,
        };
        if self.history.len() == HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(Exchange {
            at_ms: self.now_ms,
            sender,
            attempt,
            method,
            path: path.to_string(),
            stale_if_match,
            response,
            after: self.orders.clone(),
            before,
            lost,
        });
        (event, lost)
    }

    /// Routes a request in the resource-oriented design.
    fn route_resource(&mut self, method: Method, path: &str, stale_if_match: bool) -> Response {
        const COLLECTION_ALLOW: &str = "GET, HEAD, POST, OPTIONS";
        const ITEM_ALLOW: &str = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS";

        if path == "/orders" {
            return match method {
                Method::Get | Method::Head => {
                    let body = self.list_body();
                    respond_with_body(200, body)
                }
                Method::Post => self.create(),
                Method::Options => allow(204, COLLECTION_ALLOW),
                Method::Put | Method::Patch | Method::Delete => allow(405, COLLECTION_ALLOW),
            };
        }
        let Some(id_text) = path.strip_prefix("/orders/") else {
            return error(404, "no such resource");
        };
        let Ok(id) = id_text.parse::<u32>() else {
            return error(400, "order id must be a number");
        };
        let exists = self.orders.contains_key(&id);
        // A server evaluates If-Match only when the response without it would be 2xx or 412
        // (RFC 9110 section 13.2.1). A PATCH or DELETE of a missing order therefore stays 404,
        // while a PUT that would create one (201) fails, because no current ETag matches.
        let evaluates_if_match = match method {
            Method::Put => true,
            Method::Patch | Method::Delete => exists,
            Method::Get | Method::Head | Method::Post | Method::Options => false,
        };
        if stale_if_match && evaluates_if_match {
            return error(412, "If-Match does not match the current ETag");
        }
        match method {
            Method::Options => allow(204, ITEM_ALLOW),
            Method::Post => allow(405, ITEM_ALLOW),
            Method::Put => {
                let status = if exists { 200 } else { 201 };
                let order = self
                    .orders
                    .entry(id)
                    .or_insert(Order { qty: 0, version: 0 });
                if order.qty != PUT_QTY || order.version == 0 {
                    order.qty = PUT_QTY;
                    order.version += 1;
                }
                let mut response = respond_with_body(status, order_body(id, *order));
                if status == 201 {
                    response.location = Some(format!("/orders/{id}"));
                }
                response
            }
            _ if !exists => error(404, "order not found"),
            Method::Get | Method::Head => match self.orders.get(&id) {
                Some(order) => respond_with_body(200, order_body(id, *order)),
                None => error(404, "order not found"),
            },
            Method::Patch => match self.orders.get_mut(&id) {
                Some(order) => {
                    order.qty = order.qty.saturating_add(1);
                    order.version = order.version.saturating_add(1);
                    let body = order_body(id, *order);
                    respond_with_body(200, body)
                }
                None => error(404, "order not found"),
            },
            Method::Delete => {
                self.orders.remove(&id);
                empty(204)
            }
        }
    }

    /// Routes a request in the RPC design, which looks only at the path and never the method.
    fn route_rpc(&mut self, path: &str) -> Response {
        let (endpoint, query) = path.split_once('?').unwrap_or((path, ""));
        let id = query
            .strip_prefix("id=")
            .and_then(|text| text.parse::<u32>().ok());
        match (endpoint, id) {
            ("/createOrder", _) => match self.create_order() {
                Some(id) => ok(order_body(id, Order { qty: 1, version: 1 })),
                None => hidden_error("store full"),
            },
            ("/getOrder", Some(id)) => match self.orders.get(&id) {
                Some(order) => ok(order_body(id, *order)),
                None => hidden_error("order not found"),
            },
            ("/updateOrder", Some(id)) => match self.orders.get_mut(&id) {
                Some(order) => {
                    order.qty = order.qty.saturating_add(1);
                    order.version = order.version.saturating_add(1);
                    let body = order_body(id, *order);
                    ok(body)
                }
                None => hidden_error("order not found"),
            },
            ("/deleteOrder", Some(id)) => match self.orders.remove(&id) {
                Some(_) => ok(r#"{"deleted":true}"#.to_string()),
                None => hidden_error("order not found"),
            },
            ("/getOrder" | "/updateOrder" | "/deleteOrder", None) => hidden_error("missing id"),
            _ => error(404, "no such endpoint"),
        }
    }

    /// Creates an order for `POST /orders`.
    fn create(&mut self) -> Response {
        match self.create_order() {
            Some(id) => {
                let mut response =
                    respond_with_body(201, order_body(id, Order { qty: 1, version: 1 }));
                response.location = Some(format!("/orders/{id}"));
                response
            }
            None => error(507, "store full"),
        }
    }

    /// Adds an order with quantity 1 and returns its id, or `None` when the store is full.
    fn create_order(&mut self) -> Option<u32> {
        if self.orders.len() >= MAX_ORDERS {
            return None;
        }
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        self.orders.insert(id, Order { qty: 1, version: 1 });
        Some(id)
    }

    fn list_body(&self) -> String {
        let ids: Vec<String> = self.orders.keys().map(u32::to_string).collect();
        format!("{{\"ids\":[{}]}}", ids.join(","))
    }

    /// Returns the GET links a page of this API shows, which the crawler follows.
    fn crawl_links(&self) -> Vec<String> {
        let mut links = Vec::new();
        match self.config.design {
            Design::Resource => {
                links.push("/orders".to_string());
                for id in self.orders.keys() {
                    links.push(format!("/orders/{id}"));
                }
            }
            Design::Rpc => {
                for id in self.orders.keys() {
                    links.push(format!("/getOrder?id={id}"));
                    links.push(format!("/deleteOrder?id={id}"));
                }
            }
        }
        links
    }

    /// Sends a reader request: attempt 1 now, and a retry after a timeout if its response is lost.
    fn send_reader(
        &mut self,
        attempt: u32,
        first_sent_ms: f64,
        method: Method,
        path: String,
        stale_if_match: bool,
    ) -> Vec<Event> {
        let (event, lost) = self.handle(Sender::Reader, attempt, method, &path, stale_if_match);
        let mut events = vec![event];
        if !lost {
            self.latency.record_ms(self.now_ms - first_sent_ms);
        } else if attempt < MAX_ATTEMPTS {
            self.retries.push_back(PendingRetry {
                due_ms: self.now_ms + TIMEOUT_MS,
                first_sent_ms,
                attempt: attempt + 1,
                method,
                path,
                stale_if_match,
            });
        } else {
            self.gave_up += 1;
            events.push(Event::GaveUp {
                at_ms: self.now_ms + TIMEOUT_MS,
                method,
                path,
            });
        }
        events
    }

    fn next_crawl_gap_ms(&mut self) -> f64 {
        if self.config.crawler_per_s > 0.0 {
            self.rng.exponential(1000.0 / self.config.crawler_per_s)
        } else {
            f64::INFINITY
        }
    }
}

/// Builds a response with a body and its length.
fn respond_with_body(status: u16, body: String) -> Response {
    Response {
        status,
        reason: reason(status),
        location: None,
        allow: None,
        content_length: Some(body.len()),
        body,
        error_in_body: false,
    }
}

/// Builds a response without a body. A 204 sends no `Content-Length`, and any other status
/// sends `Content-Length: 0`.
fn empty(status: u16) -> Response {
    Response {
        status,
        reason: reason(status),
        location: None,
        allow: None,
        content_length: (status != 204).then_some(0),
        body: String::new(),
        error_in_body: false,
    }
}

fn allow(status: u16, methods: &'static str) -> Response {
    Response {
        allow: Some(methods),
        ..empty(status)
    }
}

fn error(status: u16, message: &str) -> Response {
    let body = format!("{{\"error\":\"{message}\"}}");
    Response {
        content_length: Some(body.len()),
        body,
        ..empty(status)
    }
}

fn ok(body: String) -> Response {
    Response {
        content_length: Some(body.len()),
        body,
        ..empty(200)
    }
}

/// A `200 OK` whose body reports an error, as RPC-style APIs often send.
fn hidden_error(message: &str) -> Response {
    Response {
        error_in_body: true,
        ..error(200, message)
    }
}

fn order_body(id: u32, order: Order) -> String {
    format!("{{\"id\":{id},\"qty\":{}}}", order.qty)
}

/// Returns the reason phrase RFC 9110 gives a status code this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        507 => "Insufficient Storage",
        _ => "",
    }
}

impl Engine for HttpApi {
    type Config = HttpApiConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: HttpApiConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let orders: Store = (1..=3)
            .map(|id| {
                (
                    id,
                    Order {
                        qty: id,
                        version: 1,
                    },
                )
            })
            .collect();
        let mut engine = Self {
            config,
            rng: SimRng::new(seed),
            now_ms: 0.0,
            orders,
            next_id: 4,
            next_crawl_ms: f64::INFINITY,
            retries: VecDeque::new(),
            last_request: None,
            history: VecDeque::with_capacity(HISTORY_LEN),
            latency: LatencyHistogram::new(),
            requests: 0,
            changes_by_safe_methods: 0,
            hidden_failures: 0,
            duplicates: 0,
            gave_up: 0,
        };
        engine.next_crawl_ms = engine.next_crawl_gap_ms();
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        let end_ms = self.now_ms + STEP_MS;
        let mut events = Vec::new();
        // Retries are queued in due order, because every one waits the same timeout.
        while self
            .retries
            .front()
            .is_some_and(|retry| retry.due_ms <= end_ms)
        {
            let Some(retry) = self.retries.pop_front() else {
                break;
            };
            self.now_ms = retry.due_ms.max(self.now_ms);
            events.extend(self.send_reader(
                retry.attempt,
                retry.first_sent_ms,
                retry.method,
                retry.path,
                retry.stale_if_match,
            ));
        }
        while self.next_crawl_ms <= end_ms {
            self.now_ms = self.next_crawl_ms.max(self.now_ms);
            let links = self.crawl_links();
            if !links.is_empty() {
                let pick = self.rng.below(links.len() as u64) as usize;
                if let Some(path) = links.get(pick) {
                    let (event, _) = self.handle(Sender::Crawler, 1, Method::Get, path, false);
                    events.push(event);
                }
            }
            self.next_crawl_ms += self.next_crawl_gap_ms();
        }
        self.now_ms = end_ms;
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        let (method, path, stale_if_match) = match action {
            Action::Send {
                method,
                path,
                stale_if_match,
            } => (*method, path.clone(), *stale_if_match),
            Action::SendAgain => match &self.last_request {
                Some(last) => last.clone(),
                None => {
                    return Err(ActionError(
                        "no request to send again: send one first".to_string(),
                    ));
                }
            },
        };
        if !path.starts_with('/') || path.len() > MAX_PATH_LEN {
            return Err(ActionError(format!(
                "invalid path {path:?}: start it with / and keep it to {MAX_PATH_LEN} bytes"
            )));
        }
        self.last_request = Some((method, path.clone(), stale_if_match));
        Ok(self.send_reader(1, self.now_ms, method, path, stale_if_match))
    }

    fn now_ms(&self) -> f64 {
        self.now_ms
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            at_ms: self.now_ms,
            metrics: vec![
                Metric::count("orders", "Orders", self.orders.len() as u64),
                Metric::count("requests", "Requests", self.requests),
                Metric::count(
                    "safe-changes",
                    "State changed by GET",
                    self.changes_by_safe_methods,
                ),
                Metric::count("hidden", "Errors hidden in 200", self.hidden_failures),
                Metric::count(
                    "duplicates",
                    "Duplicate writes from retries",
                    self.duplicates,
                ),
                Metric::new(
                    "time",
                    "Time",
                    self.now_ms / 1000.0,
                    format!("{:.1} s", self.now_ms / 1000.0),
                ),
            ],
            latency: self.latency.percentiles(),
            samples: vec![Sample {
                label: "orders",
                value: self.orders.len() as f64,
            }],
        }
    }
}
