// The options the order-flow scripts share: no failed request, every check
// passing (a flow with a failed check is counted in `flows_failed`, see
// flow.js), a p99 budget near what this machine class does (the benchmark
// reports the real figures beside k6's verdicts), and the latency figures
// the summary shows.
export const TREND_STATS = ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'];

/// `load` with those thresholds and `p99Ms`, the p99 budget in ms
/// (`P99_MS` replaces it: a debug build in containers checks behaviour,
/// not speed).
export function strict(load, p99Ms) {
  p99Ms = Number(__ENV.P99_MS) || p99Ms;
  if (!(p99Ms > 0)) throw new Error('strict(load, p99Ms): a p99 budget in ms is needed');
  return Object.assign({}, load, {
    thresholds: {
      http_req_failed: ['rate==0'],
      checks: ['rate==1'],
      http_req_duration: [`p(99)<${p99Ms}`],
    },
    summaryTrendStats: TREND_STATS,
  });
}

/// The p99 budget, in ms, of `vus` VUs running order flows back to back
/// (saturation) on the 2-core machine class, release host: each request
/// queues behind the other VUs' (`cargo xtask bench`, 2026-12-01: p99
/// 17.7 ms at 10 VUs and 96 ms at 50 with 4 replicas, 214 ms at 50 with
/// one), so 5 ms per VU, and at least 50 ms.
export function saturationP99(vus) {
  return Math.max(50, 5 * vus);
}
