// The order flow of comptoir, as k6 functions with a check on every
// response: create client → 3 × add item → read cart → place order → read
// order (7 requests). The items are products of the catalogue, read once
// in `setup()` (`prepare()`) and handed to the VU code as setup data:
//
//   export function setup() { return prepare(); }
//   export default function (data) { orderFlow(data.products); }
import http from 'k6/http';
import { check, fail } from 'k6';
import { Counter } from 'k6/metrics';

/// Responses with a 5xx status, counted apart from other failures.
export const serverErrors = new Counter('http_5xx');

/// Order flows whose every request was answered as expected, and flows a
/// failed request or check cut short or spoilt: the benchmark divides
/// CPU by completed flows, not by iterations.
export const flowsCompleted = new Counter('flows_completed');
export const flowsFailed = new Counter('flows_failed');

/// With DRILL_LOG set, failed requests and acknowledged orders are logged
/// (to K6_CONSOLE_OUTPUT): `FAIL <epoch ms> <method> <url> <status>
/// <problem type>` (the `type` of comptoir's problem+json, `-` for any
/// other answer: NGINX's pages, no answer at all) and
/// `ORDER <id> <lines>`, for `cargo xtask drill` to check afterwards; and
/// each VU's requests and failures per second of the epoch, `TICK <epoch
/// s> <requests> <failed>`, logged once its second is over (a VU's last
/// second is never logged): the drill's timeline.
const DRILL_LOG = !!__ENV.DRILL_LOG;
let tick = { second: 0, requests: 0, failed: 0 };

/// Counts one response of this VU in its current second.
function count(failed) {
  const second = Math.floor(Date.now() / 1000);
  if (second !== tick.second) {
    if (tick.requests > 0) console.log(`TICK ${tick.second} ${tick.requests} ${tick.failed}`);
    tick = { second, requests: 0, failed: 0 };
  }
  tick.requests += 1;
  if (failed) tick.failed += 1;
}

/// Counts `res` in `http_5xx` when the server failed; returns it.
export function track(res) {
  if (res.status >= 500) serverErrors.add(1);
  if (DRILL_LOG) {
    const failed = res.status === 0 || res.status >= 400;
    if (failed) {
      console.log(`FAIL ${Date.now()} ${res.request.method} ${res.url} ${res.status} ${problemType(res)}`);
    }
    count(failed);
  }
  return res;
}

/// The `type` of a problem+json answer, or `-`.
function problemType(res) {
  try {
    return res.json('type') || '-';
  } catch (_) {
    return '-';
  }
}

export const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';

/// Every service route needs an access token: BEARER, which the xtask
/// workflows mint (`cargo xtask token --staff` by hand).
export const AUTH = __ENV.BEARER ? { Authorization: `Bearer ${__ENV.BEARER}` } : {};
const JSON_HEADERS = { ...AUTH, 'Content-Type': 'application/json' };

/// Request parameters: the token, and `name` as the request's tag.
export function authed(name) {
  return { headers: AUTH, tags: { name } };
}

function uid() {
  // `setup()` has no __ITER (a ReferenceError there).
  const iter = typeof __ITER === 'undefined' ? 'setup' : __ITER;
  return `${__VU}-${iter}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`;
}

function json(res) {
  try {
    return res.json();
  } catch (_) {
    return null;
  }
}

export function createClient() {
  const res = track(http.post(
    `${BASE}/clients`,
    JSON.stringify({ name: 'Load Tester', email: `k6-${uid()}@example.com` }),
    { headers: JSON_HEADERS, tags: { name: 'POST /clients' } },
  ));
  const body = json(res);
  if (!check(res, { 'client created (201)': (r) => r.status === 201 && body && body.id })) {
    return null;
  }
  return body.id;
}

/// How many distinct products each flow puts in its cart (fewer if the
/// catalogue has fewer), and how many of each.
const ITEMS_PER_FLOW = 3;
const QUANTITY = 2;
/// The stock a product needs for the flow to order it: enough that no run
/// exhausts it (the sample catalogue has 1 000 000 of most products, and a
/// few with 1 to 5, which the flow leaves alone).
export const MIN_STOCK = 100000;

/// The products the flow orders: the catalogue's first page (a public
/// read, no token) with at least MIN_STOCK units each, as `{sku,
/// price_cents}`. For `setup()`, which hands them to the VU code; fails
/// the run if there are none.
export function loadProducts() {
  const url = `${BASE}/catalogue?limit=100`;
  const res = http.get(url, { tags: { name: 'GET /catalogue' } });
  const body = json(res);
  if (res.status !== 200 || !body || !Array.isArray(body.items)) {
    fail(`GET ${url}: ${res.status} ${res.body}`);
  }
  const products = body.items
    .filter((p) => p.active !== false && p.stock >= MIN_STOCK)
    .map((p) => ({ sku: p.sku, price_cents: p.price_cents }));
  if (products.length === 0) {
    fail(`no product with at least ${MIN_STOCK} units in stock in the first page of ${url} `
      + '(cargo xtask up and the xtask workflows load a sample catalogue; '
      + 'by hand: PUT /catalogue/{sku} as staff)');
  }
  return products;
}

/// What every order-flow script's `setup()` returns: the server is up,
/// and the products to order (`data.products`).
export function prepare() {
  requireUp();
  return { products: loadProducts() };
}

/// Up to ITEMS_PER_FLOW distinct products of `products`, at random.
function pick(products) {
  const picked = [];
  const taken = new Set();
  const n = Math.min(ITEMS_PER_FLOW, products.length);
  while (picked.length < n) {
    const i = Math.floor(Math.random() * products.length);
    if (!taken.has(i)) {
      taken.add(i);
      picked.push(products[i]);
    }
  }
  return picked;
}

/// Adds QUANTITY of a few of `products` (see `loadProducts`) to the cart:
/// the product and the quantity only, panier prices them from the
/// catalogue. The products added, or null if an add failed.
export function addItems(clientId, products) {
  const picked = pick(products);
  let ok = true;
  for (const p of picked) {
    const res = track(http.post(
      `${BASE}/panier/${clientId}/items`,
      JSON.stringify({ product_id: p.sku, quantity: QUANTITY }),
      { headers: JSON_HEADERS, tags: { name: 'POST /panier/{id}/items' } },
    ));
    ok = check(res, { 'item added (200)': (r) => r.status === 200 }) && ok;
  }
  return ok ? picked : null;
}

/// Reads the cart `added` (what `addItems` returned) filled: its total is
/// their catalogue prices. Whether it was.
export function readCart(clientId, added) {
  const res = track(http.get(`${BASE}/panier/${clientId}`, authed('GET /panier/{id}')));
  const body = json(res);
  const total = added.reduce((sum, p) => sum + QUANTITY * p.price_cents, 0);
  return check(res, {
    'cart read (200)': (r) => r.status === 200,
    'cart total in cents': () => body && body.total_cents === total,
  });
}

export function placeOrder(clientId) {
  const res = track(http.post(`${BASE}/commandes`, JSON.stringify({ client_id: clientId }), {
    headers: { ...JSON_HEADERS, 'Idempotency-Key': `k6-${uid()}` },
    tags: { name: 'POST /commandes' },
  }));
  const body = json(res);
  if (!check(res, { 'order placed (201)': (r) => r.status === 201 && body && body.status === 'validated' })) {
    return null;
  }
  if (DRILL_LOG) console.log(`ORDER ${body.id} ${body.lines.length}`);
  return body.id;
}

/// Whether order `orderId` could be read.
export function readOrder(orderId) {
  const res = track(http.get(`${BASE}/commandes/${orderId}`, authed('GET /commandes/{id}')));
  return check(res, { 'order read (200)': (r) => r.status === 200 });
}

/// One full order flow (7 requests) of `products` (`data.products`, from
/// `prepare()` in `setup()`), counted in `flows_completed` or
/// `flows_failed`.
export function orderFlow(products) {
  if (!products || products.length === 0) fail('no products: setup() must return prepare()');
  if (runFlow(products)) {
    flowsCompleted.add(1);
  } else {
    flowsFailed.add(1);
  }
}

/// The flow's requests, up to the first that fails (a cart read whose
/// check fails still goes on to the order); whether all went as expected.
function runFlow(products) {
  const clientId = createClient();
  if (!clientId) return false;
  const added = addItems(clientId, products);
  if (!added) return false;
  const cartRead = readCart(clientId, added);
  const orderId = placeOrder(clientId);
  return Boolean(orderId && readOrder(orderId) && cartRead);
}

/// Fails the run unless the server answers 200 at READY_PATH (`/readyz`
/// unless set: `spin up` has no `/readyz`, the benchmark asks it for
/// `/openapi.json`).
export function requireUp() {
  const url = `${BASE}${__ENV.READY_PATH || '/readyz'}`;
  const res = http.get(url);
  if (res.status !== 200) fail(`not ready at ${url}: ${res.status}`);
}
