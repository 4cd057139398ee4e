// read-heavy: 50 clients with carts and orders (of catalogue products) are
// created once; VUs then read clients, carts, orders and order lists (95 %
// of traffic), with an occasional cart write.
import http from 'k6/http';
import { check, fail } from 'k6';
import { AUTH, BASE, addItems, authed, createClient, placeOrder, prepare, track } from './lib/flow.js';
import { saturationP99, strict } from './lib/options.js';

// Reads are single requests, cheaper than a flow's: the flows' budget
// per VU is generous here.
export const options = strict({ vus: 20, duration: '30s', setupTimeout: '120s' }, saturationP99(20));

/// 50 clients, each with an order and a cart holding other items; the
/// SKU of one of those, whose quantity the writes set.
export function setup() {
  const { products } = prepare();
  const fixtures = [];
  for (let i = 0; i < 50; i++) {
    const clientId = createClient();
    const ordered = clientId && addItems(clientId, products);
    const orderId = ordered && placeOrder(clientId);
    const inCart = orderId && addItems(clientId, products);
    if (!inCart) fail(`setting up client ${i}: a request failed (see the checks)`);
    fixtures.push({ clientId, orderId, sku: inCart[0].sku });
  }
  return fixtures;
}

export default function (fixtures) {
  const f = fixtures[Math.floor(Math.random() * fixtures.length)];
  const roll = Math.random();
  let res;
  if (roll < 0.3) {
    res = http.get(`${BASE}/clients/${f.clientId}`, authed('GET /clients/{id}'));
  } else if (roll < 0.6) {
    res = http.get(`${BASE}/panier/${f.clientId}`, authed('GET /panier/{id}'));
  } else if (roll < 0.8) {
    res = http.get(`${BASE}/commandes/${f.orderId}`, authed('GET /commandes/{id}'));
  } else if (roll < 0.95) {
    res = http.get(`${BASE}/commandes?client_id=${f.clientId}&limit=10`, authed('GET /commandes'));
  } else {
    res = http.put(`${BASE}/panier/${f.clientId}/items/${f.sku}`, JSON.stringify({ quantity: 1 + (__ITER % 5) }), {
      headers: { ...AUTH, 'Content-Type': 'application/json' },
      tags: { name: 'PUT /panier/{id}/items/{sku}' },
    });
  }
  check(track(res), { 'status 200': (r) => r.status === 200 });
}
