// canary: the order flow while the admin API deploys two canaries of a
// component (panier by default): first a faulty build, which comptoir must
// roll back by itself, then a good one, which it must promote by itself.
//
// Env: ADMIN_URL, ADMIN_TOKEN, CANARY_COMPONENT (default panier),
// CANARY_FAULTY and CANARY_GOOD (paths of the two builds), CANARY_SHARE
// (percent, default 10), VUS, DURATION (default 60s; both canaries must be
// decided within it).
//
// With DRILL_LOG set, failed requests are logged (`FAIL <epoch ms> …`, see
// lib/flow.js) and so is each canary's course: `CANARY <epoch ms> <which>
// <version>` when it starts, `DECISION <epoch ms> <which> <state>
// <canary requests> <canary 5xx> <seconds to decide> <reason>` when it is
// decided. `cargo xtask bench canary` reads them to count the requests that
// failed before, and after, each decision.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { orderFlow, prepare } from './lib/flow.js';

const ADMIN = __ENV.ADMIN_URL || 'http://127.0.0.1:8081';
const COMPONENT = __ENV.CANARY_COMPONENT || 'panier';
const SHARE = Number(__ENV.CANARY_SHARE || 10);
const BUILDS = { faulty: open(__ENV.CANARY_FAULTY, 'b'), good: open(__ENV.CANARY_GOOD, 'b') };
const DURATION = __ENV.DURATION || '60s';
const LOG = !!__ENV.DRILL_LOG;
const AUTH = { Authorization: `Bearer ${__ENV.ADMIN_TOKEN}` };

export const options = {
  scenarios: {
    traffic: { executor: 'constant-vus', vus: Number(__ENV.VUS || 10), duration: DURATION, exec: 'traffic' },
    canaries: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: DURATION, exec: 'canaries' },
  },
  thresholds: {
    // Not 0: the faulty canary fails requests until it is rolled back
    // (4 of a flow's 7 requests go to panier, 10 % of those to the canary,
    // 1 in 5 of which answer 500: about 1 % of requests while it runs, a
    // few seconds of the 60). `cargo xtask bench canary` checks exactly
    // how many and when, and that none fail outside it.
    'http_req_failed{scenario:traffic}': ['rate<0.01'],
    'checks{scenario:canaries}': ['rate==1'],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  return prepare();
}

export function traffic(data) {
  orderFlow(data.products);
}

/// Deploys `which` as a canary and waits for comptoir's decision.
function canary(which) {
  const res = http.put(`${ADMIN}/admin/components/${COMPONENT}?canary=${SHARE}`, BUILDS[which], {
    headers: AUTH,
    tags: { name: 'PUT /admin/components/{name}?canary' },
    timeout: '60s',
  });
  if (!check(res, { [`${which} canary started (202)`]: (r) => r.status === 202 })) {
    console.error(`the ${which} canary was refused: ${res.status} ${res.body}`);
    return null;
  }
  const version = res.json().version;
  if (LOG) console.log(`CANARY ${Date.now()} ${which} ${version}`);
  for (;;) {
    sleep(0.1);
    const inventory = http.get(`${ADMIN}/admin/components`, { headers: AUTH, tags: { name: 'GET /admin/components' } });
    const entry = (inventory.json().components || []).find((c) => c.name === COMPONENT);
    const report = entry && entry.canary;
    if (report && report.version === version && report.state !== 'running') {
      if (LOG) {
        console.log(`DECISION ${Date.now()} ${which} ${report.state} ${report.canary.requests} `
          + `${report.canary.server_errors} ${report.elapsed_s.toFixed(2)} ${report.reason}`);
      }
      return report;
    }
  }
}

export function canaries() {
  sleep(5);
  const faulty = canary('faulty');
  check(faulty, { 'the faulty canary was rolled back by itself': (r) => r && r.state === 'rolled_back' && !r.manual });
  sleep(10);
  const good = canary('good');
  check(good, { 'the good canary was promoted by itself': (r) => r && r.state === 'promoted' && !r.manual });
}
