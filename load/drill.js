// drill: the order flow through NGINX while `cargo xtask drill` kills,
// cuts off and restores comptoir containers. No thresholds: the drill
// judges the run from the log DRILL_LOG asks for (every failed request
// with its time, every acknowledged order with its line count), finding
// each order in PostgreSQL afterwards.
import { orderFlow, prepare } from './lib/flow.js';

export const options = {
  vus: Number(__ENV.VUS || 8),
  duration: __ENV.DURATION || '60s',
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  return prepare();
}

export default function (data) {
  orderFlow(data.products);
}
