// The options the order-flow scripts share: no failed request, every check
// passing, a p99 bound that only catches a broken system (the benchmark
// reports the real figures), and the latency figures the summary shows.
export const TREND_STATS = ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'];

export function strict(load, p99Ms = 500) {
  return Object.assign({}, load, {
    thresholds: {
      http_req_failed: ['rate==0'],
      checks: ['rate==1'],
      http_req_duration: [`p(99)<${p99Ms}`],
    },
    summaryTrendStats: TREND_STATS,
  });
}
