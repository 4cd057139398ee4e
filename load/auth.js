// What verifying a token costs (`cargo xtask bench auth`): `PATCH /clients`
// at a fixed rate, authenticated and then refused with a 405 before any
// database work. TOKENS_FILE holds the tokens, sent in turn (one per
// request: a fresh token each time, or the same one repeated); EXPECT is
// the status every answer must have (405 once verified, 401 for tokens
// that are not JWTs).
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { SharedArray } from 'k6/data';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const EXPECT = Number(__ENV.EXPECT || 405);
const TOKENS = new SharedArray('tokens', () => JSON.parse(open(__ENV.TOKENS_FILE)));

http.setResponseCallback(http.expectedStatuses(EXPECT));

export const options = {
  scenarios: {
    auth: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 200),
      timeUnit: '1s',
      duration: __ENV.DURATION || '10s',
      preAllocatedVUs: 20,
      maxVUs: 100,
    },
  },
  thresholds: { http_req_failed: ['rate==0'], checks: ['rate==1'] },
};

export default function () {
  const token = TOKENS[exec.scenario.iterationInTest % TOKENS.length];
  const res = http.patch(`${BASE}/clients`, null, { headers: { Authorization: `Bearer ${token}` } });
  check(res, { 'expected status': (r) => r.status === EXPECT });
}
