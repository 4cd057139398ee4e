// read-heavy: 50 clients with carts and orders are created once; VUs then
// read clients, carts, orders and order lists (95 % of traffic), with an
// occasional cart write.
import http from 'k6/http';
import { check } from 'k6';
import { AUTH, BASE, addItems, authed, createClient, placeOrder, requireUp, track } from './lib/flow.js';
import { strict } from './lib/options.js';

export const options = strict({ vus: 20, duration: '30s', setupTimeout: '120s' });

export function setup() {
  requireUp();
  const fixtures = [];
  for (let i = 0; i < 50; i++) {
    const clientId = createClient();
    addItems(clientId);
    const orderId = placeOrder(clientId);
    addItems(clientId);
    fixtures.push({ clientId, orderId });
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
    res = http.put(`${BASE}/panier/${f.clientId}/items/THE-100`, JSON.stringify({ quantity: 1 + (__ITER % 5) }), {
      headers: { ...AUTH, 'Content-Type': 'application/json' },
      tags: { name: 'PUT /panier/{id}/items/{sku}' },
    });
  }
  check(track(res), { 'status 200': (r) => r.status === 200 });
}
