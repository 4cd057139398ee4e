// drill: the order flow through NGINX while `cargo xtask drill` kills,
// cuts off and restores comptoir containers. The drill judges the run from
// the log DRILL_LOG asks for (every failed request with its time, every
// acknowledged order with its line count, requests per second), finding
// each order in PostgreSQL afterwards.
import { orderFlow, prepare } from './lib/flow.js';

const VUS = Number(__ENV.VUS || 8);
/// The faults `cargo xtask drill` injects: a kill, then a network cut.
const FAULTS = 2;

export const options = {
  vus: VUS,
  duration: __ENV.DURATION || '60s',
  thresholds: {
    // Not 0: a request in flight on a container that is killed or cut off
    // fails, at most one per VU per fault. `cargo xtask drill` checks the
    // same bound, and that no request failed before the first fault.
    'http_reqs{expected_response:false}': [`count<=${VUS * FAULTS}`],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  return prepare();
}

export default function (data) {
  orderFlow(data.products);
}
