// smoke: a short order flow at low load. Run in CI: any failed request or
// check fails the run.
import { orderFlow, prepare } from './lib/flow.js';
import { strict } from './lib/options.js';

export const options = strict({ vus: 2, duration: __ENV.DURATION || '10s' }, 1000);

export function setup() {
  return prepare();
}

export default function (data) {
  orderFlow(data.products);
}
