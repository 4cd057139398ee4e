// stress: ramps VUs up until errors or a latency knee; the run aborts when
// more than 1 % of requests fail or p95 passes 1 s, and the summary shows
// how far it got. It overloads the machine on purpose, so it claims no
// zero: the 1 % of failed requests it allows is where it stops, not a
// budget a healthy run should use (its summary shows how many failed).
import { orderFlow, prepare } from './lib/flow.js';

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-vus',
      startVUs: 1,
      stages: [
        { duration: '20s', target: 20 },
        { duration: '20s', target: 50 },
        { duration: '20s', target: 100 },
        { duration: '20s', target: 200 },
        { duration: '20s', target: 400 },
      ],
      gracefulRampDown: '5s',
    },
  },
  thresholds: {
    http_req_failed: [{ threshold: 'rate<0.01', abortOnFail: true, delayAbortEval: '5s' }],
    http_req_duration: [{ threshold: 'p(95)<1000', abortOnFail: true, delayAbortEval: '5s' }],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  return prepare();
}

export default function (data) {
  orderFlow(data.products);
}
