// soak: order flows at moderate load for 10 minutes (override with
// --duration). `cargo xtask load soak` samples comptoir's RSS during the
// run and prints it after warm-up and at the end: it must stay flat.
import { orderFlow, prepare } from './lib/flow.js';
import { sleep } from 'k6';
import { saturationP99, strict } from './lib/options.js';

export const options = strict({ vus: 10, duration: '10m' }, saturationP99(10));

export function setup() {
  return prepare();
}

export default function (data) {
  orderFlow(data.products);
  sleep(0.05);
}
