// hello: GET / at 32 VUs for DURATION (10 s) against the testing-hello
// component: what a gateway costs per request on the smallest component
// (`cargo xtask bench hello`: comptoir beside `wasmtime serve`).
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 32,
  duration: __ENV.DURATION || '10s',
  thresholds: {
    http_req_failed: ['rate==0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/`);
  check(res, { 'status 200': (r) => r.status === 200 });
}
