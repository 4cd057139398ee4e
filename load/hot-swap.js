// hot-swap: the order flow while the admin API swaps a component back and
// forth between two builds every SWAP_EVERY seconds. Threshold: 0 failed
// requests (swaps included).
//
// Env: ADMIN_URL, ADMIN_TOKEN, SWAP_COMPONENT (default panier), SWAP_A and
// SWAP_B (paths of two .wasm builds of it).
import http from 'k6/http';
import { check, sleep } from 'k6';
import { orderFlow, prepare } from './lib/flow.js';

const ADMIN = __ENV.ADMIN_URL || 'http://127.0.0.1:8081';
const COMPONENT = __ENV.SWAP_COMPONENT || 'panier';
const BUILDS = [open(__ENV.SWAP_A, 'b'), open(__ENV.SWAP_B, 'b')];
const EVERY = Number(__ENV.SWAP_EVERY || 2);

export const options = {
  scenarios: {
    traffic: { executor: 'constant-vus', vus: Number(__ENV.VUS || 10), duration: __ENV.DURATION || '30s', exec: 'traffic' },
    swaps: { executor: 'constant-vus', vus: 1, duration: __ENV.DURATION || '30s', exec: 'swap' },
  },
  thresholds: {
    'http_req_failed{scenario:traffic}': ['rate==0'],
    'http_req_failed{scenario:swaps}': ['rate==0'],
    checks: ['rate==1'],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  return prepare();
}

export function traffic(data) {
  orderFlow(data.products);
}

export function swap() {
  const res = http.put(`${ADMIN}/admin/components/${COMPONENT}`, BUILDS[__ITER % 2], {
    headers: { Authorization: `Bearer ${__ENV.ADMIN_TOKEN}` },
    tags: { name: 'PUT /admin/components/{name}' },
    timeout: '60s',
  });
  check(res, { 'swap accepted (200)': (r) => r.status === 200 });
  sleep(EVERY);
}
