// smoke: a short order flow at low load. Run in CI: any failed request or
// check fails the run.
import { orderFlow, requireUp } from './lib/flow.js';

export const options = {
  vus: 2,
  duration: __ENV.DURATION || '10s',
  thresholds: {
    http_req_failed: ['rate==0'],
    checks: ['rate==1'],
    http_req_duration: ['p(99)<1000'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  requireUp();
}

export default function () {
  orderFlow();
}
