// The order flow of comptoir, as k6 functions with a check on every
// response: create client → 3 × add item → read cart → place order → read
// order (7 requests).
import http from 'k6/http';
import { check, fail } from 'k6';
import { Counter } from 'k6/metrics';

/// Responses with a 5xx status, counted apart from other failures.
export const serverErrors = new Counter('http_5xx');

/// With DRILL_LOG set, failed requests and acknowledged orders are logged
/// (to K6_CONSOLE_OUTPUT): `FAIL <epoch ms> <method> <url> <status>` and
/// `ORDER <id> <lines>`, for `cargo xtask drill` to check afterwards.
const DRILL_LOG = !!__ENV.DRILL_LOG;

/// Counts `res` in `http_5xx` when the server failed; returns it.
export function track(res) {
  if (res.status >= 500) serverErrors.add(1);
  if (DRILL_LOG && (res.status === 0 || res.status >= 400)) {
    console.log(`FAIL ${Date.now()} ${res.request.method} ${res.url} ${res.status}`);
  }
  return res;
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
  return `${__VU}-${__ITER}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`;
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

const PRODUCTS = [
  { product_id: 'CAFE-250', name: 'Café 250 g', unit_price_cents: 1250 },
  { product_id: 'THE-100', name: 'Thé 100 g', unit_price_cents: 499 },
  { product_id: 'SUCRE-1', name: 'Sucre 1 kg', unit_price_cents: 120 },
];

export function addItems(clientId) {
  let ok = true;
  for (const p of PRODUCTS) {
    const res = track(http.post(
      `${BASE}/panier/${clientId}/items`,
      JSON.stringify({ ...p, quantity: 2 }),
      { headers: JSON_HEADERS, tags: { name: 'POST /panier/{id}/items' } },
    ));
    ok = check(res, { 'item added (200)': (r) => r.status === 200 }) && ok;
  }
  return ok;
}

export function readCart(clientId) {
  const res = track(http.get(`${BASE}/panier/${clientId}`, authed('GET /panier/{id}')));
  const body = json(res);
  check(res, {
    'cart read (200)': (r) => r.status === 200,
    'cart total in cents': () => body && body.total_cents === 2 * (1250 + 499 + 120),
  });
  return body;
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

export function readOrder(orderId) {
  const res = track(http.get(`${BASE}/commandes/${orderId}`, authed('GET /commandes/{id}')));
  check(res, { 'order read (200)': (r) => r.status === 200 });
}

/// One full order flow (7 requests).
export function orderFlow() {
  const clientId = createClient();
  if (!clientId) return;
  if (!addItems(clientId)) return;
  readCart(clientId);
  const orderId = placeOrder(clientId);
  if (orderId) readOrder(orderId);
}

/// Fails the run unless the server answers 200 at READY_PATH (`/readyz`
/// unless set: `spin up` has no `/readyz`, the benchmark asks it for
/// `/openapi.json`).
export function requireUp() {
  const url = `${BASE}${__ENV.READY_PATH || '/readyz'}`;
  const res = http.get(url);
  if (res.status !== 200) fail(`not ready at ${url}: ${res.status}`);
}
