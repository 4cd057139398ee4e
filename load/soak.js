// soak: order flows at moderate load for 10 minutes (override with
// --duration). `cargo xtask load soak` samples comptoir's RSS during the
// run and prints it after warm-up and at the end: it must stay flat.
import { orderFlow, requireUp } from './lib/flow.js';
import { sleep } from 'k6';

export const options = {
  vus: 10,
  duration: '10m',
  thresholds: {
    http_req_failed: ['rate==0'],
    checks: ['rate==1'],
    http_req_duration: ['p(99)<500'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  requireUp();
}

export default function () {
  orderFlow();
  sleep(0.05);
}
