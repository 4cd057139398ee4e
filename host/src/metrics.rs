//! Prometheus metrics (docs/operations.md, "Observability"), in one registry owned by the
//! application and passed to whoever records (no global registry).
//!
//! Route labels are manifest route templates, never raw paths, and method
//! labels the standard methods or `other`, so label cardinality is bounded
//! by the manifest.

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// One component's live replicas at scrape time.
pub struct LiveReplicas {
    pub component: String,
    /// The version label of each live replica (stable and canary).
    pub versions: Vec<String>,
    /// Requests its replicas are running.
    pub in_flight: usize,
}

/// Buckets from 100 µs to 10 s: sub-millisecond requests to slow ones.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// `2xx`, `4xx`…: the duration histogram's status label.
fn status_class(status: http::StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// The duration histogram's and the counter's method label: the standard
/// methods by name, anything else (`curl -X M1`, `-X M2`…) as `other`, so
/// clients cannot grow the label set without bound.
fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Every comptoir metric.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    instances: IntGaugeVec,
    in_flight: IntGaugeVec,
    traps: IntCounterVec,
    swaps: IntCounterVec,
    instantiation: Histogram,
    db_query: HistogramVec,
    canary_state: IntGaugeVec,
    canary_decisions: IntCounterVec,
    invocations: IntCounterVec,
    chain_cache_hits: IntCounterVec,
    fleet: FleetMetrics,
}

/// What a gateway of a fleet (`--control-url`) says about itself.
struct FleetMetrics {
    converged: IntGaugeVec,
    convergence: Histogram,
    gateways: prometheus::IntGauge,
    refusals: IntCounterVec,
}

impl FleetMetrics {
    fn new(registry: &Registry) -> anyhow::Result<Self> {
        let converged = IntGaugeVec::new(
            Opts::new(
                "comptoir_fleet_converged",
                "1 when this gateway runs the fleet's desired version of the component, else 0.",
            ),
            &["component"],
        )?;
        let convergence = Histogram::with_opts(
            HistogramOpts::new(
                "comptoir_fleet_convergence_seconds",
                "From a fleet change (deploy, rollback, promotion) to this gateway serving it.",
            )
            .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0]),
        )?;
        let gateways = prometheus::IntGauge::new(
            "comptoir_fleet_gateways",
            "Gateways of the fleet that reported in the last 10 s, as this one sees them.",
        )?;
        let refusals = IntCounterVec::new(
            Opts::new(
                "comptoir_fleet_refusals_total",
                "Desired versions this gateway could not fetch, verify or load.",
            ),
            &["component"],
        )?;
        registry.register(Box::new(converged.clone()))?;
        registry.register(Box::new(convergence.clone()))?;
        registry.register(Box::new(gateways.clone()))?;
        registry.register(Box::new(refusals.clone()))?;
        Ok(Self {
            converged,
            convergence,
            gateways,
            refusals,
        })
    }
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "comptoir_http_requests_total",
                "HTTP requests answered, by service, version (sha256 prefix), method, route template and status.",
            ),
            &["service", "version", "method", "route", "status"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "comptoir_http_request_duration_seconds",
                "Time to the response head, by service, version, method, route template and status class.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["service", "version", "method", "route", "status"],
        )?;
        let instances = IntGaugeVec::new(
            Opts::new(
                "comptoir_component_instances",
                "Live replicas of each component, by version.",
            ),
            &["component", "version"],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "comptoir_component_in_flight",
                "Requests being handled by each component.",
            ),
            &["component"],
        )?;
        let traps = IntCounterVec::new(
            Opts::new(
                "comptoir_component_traps_total",
                "Replicas lost to a trap, timeout or failure.",
            ),
            &["component"],
        )?;
        let swaps = IntCounterVec::new(
            Opts::new(
                "comptoir_component_swaps_total",
                "Hot swaps (deploys and rollbacks), by outcome.",
            ),
            &["component", "outcome"],
        )?;
        let instantiation = Histogram::with_opts(
            HistogramOpts::new(
                "comptoir_instantiation_duration_seconds",
                "Time to instantiate a replica.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let db_query = HistogramVec::new(
            HistogramOpts::new(
                "comptoir_db_query_duration_seconds",
                "Time of each statement a component runs, by database.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["database"],
        )?;
        let canary_state = IntGaugeVec::new(
            Opts::new(
                "comptoir_canary_state",
                "Each component's canary: 0 none yet, 1 running, 2 promoted, 3 rolled back.",
            ),
            &["component"],
        )?;
        let canary_decisions = IntCounterVec::new(
            Opts::new(
                "comptoir_canary_decisions_total",
                "Canaries decided, by outcome (promoted, rolled_back; by the judge or by hand).",
            ),
            &["component", "outcome"],
        )?;
        let invocations = IntCounterVec::new(
            Opts::new(
                "comptoir_component_invocations_total",
                "Requests run by each component, by caller (`public`, or the component that chained to it).",
            ),
            &["component", "caller"],
        )?;
        let chain_cache_hits = IntCounterVec::new(
            Opts::new(
                "comptoir_chain_cache_hits_total",
                "Chained GETs answered from the gateway's cache instead of running the component, by caller.",
            ),
            &["component", "caller"],
        )?;
        registry.register(Box::new(invocations.clone()))?;
        registry.register(Box::new(chain_cache_hits.clone()))?;
        registry.register(Box::new(canary_state.clone()))?;
        registry.register(Box::new(canary_decisions.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(instances.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(traps.clone()))?;
        registry.register(Box::new(swaps.clone()))?;
        registry.register(Box::new(instantiation.clone()))?;
        registry.register(Box::new(db_query.clone()))?;
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let fleet = FleetMetrics::new(&registry)?;
        Ok(Self {
            fleet,
            registry,
            requests,
            request_duration,
            instances,
            in_flight,
            traps,
            swaps,
            instantiation,
            db_query,
            canary_state,
            canary_decisions,
            invocations,
            chain_cache_hits,
        })
    }

    /// Records one answered request.
    pub fn request(
        &self,
        service: &str,
        version: &str,
        method: &http::Method,
        route: &str,
        status: http::StatusCode,
        seconds: f64,
    ) {
        let method = method_label(method);
        self.requests
            .with_label_values(&[service, version, method, route, status.as_str()])
            .inc();
        self.request_duration
            .with_label_values(&[service, version, method, route, status_class(status)])
            .observe(seconds);
    }

    /// A canary of `component` started (1) or ended (2 promoted, 3 rolled back).
    pub fn canary_state(&self, component: &str, state: i64) {
        self.canary_state.with_label_values(&[component]).set(state);
    }

    pub fn canary_decided(&self, component: &str, outcome: &str) {
        self.canary_decisions
            .with_label_values(&[component, outcome])
            .inc();
    }

    /// `component` was asked to run a request by `caller` (`public` or a component).
    pub fn invocation(&self, component: &str, caller: &str) {
        self.invocations
            .with_label_values(&[component, caller])
            .inc();
    }

    /// A chained `GET` from `caller` to `component` was answered from the cache.
    pub fn chain_cache_hit(&self, component: &str, caller: &str) {
        self.chain_cache_hits
            .with_label_values(&[component, caller])
            .inc();
    }

    pub fn trap(&self, component: &str) {
        self.traps.with_label_values(&[component]).inc();
    }

    pub fn swap(&self, component: &str, outcome: &str) {
        self.swaps.with_label_values(&[component, outcome]).inc();
    }

    pub fn instantiated(&self, seconds: f64) {
        self.instantiation.observe(seconds);
    }

    /// Whether this gateway runs the fleet's desired version of `component`.
    pub fn fleet_converged(&self, component: &str, converged: bool) {
        self.fleet
            .converged
            .with_label_values(&[component])
            .set(i64::from(converged));
    }

    /// A fleet change reached this gateway `seconds` after it was made.
    pub fn fleet_convergence(&self, seconds: f64) {
        self.fleet.convergence.observe(seconds);
    }

    pub fn fleet_gateways(&self, live: usize) {
        self.fleet
            .gateways
            .set(i64::try_from(live).unwrap_or(i64::MAX));
    }

    pub fn fleet_refusal(&self, component: &str) {
        self.fleet.refusals.with_label_values(&[component]).inc();
    }

    /// The statement-duration histogram of `database`.
    pub fn db_histogram(&self, database: &str) -> Histogram {
        self.db_query.with_label_values(&[database])
    }

    /// Makes sure every component has its series, even before traffic.
    pub fn register_component(&self, component: &str) {
        self.traps.with_label_values(&[component]);
        self.swaps.with_label_values(&[component, "success"]);
        self.swaps.with_label_values(&[component, "rejected"]);
        self.canary_state.with_label_values(&[component]).set(0);
        self.fleet.refusals.with_label_values(&[component]);
        for outcome in ["promoted", "rolled_back"] {
            self.canary_decisions
                .with_label_values(&[component, outcome]);
        }
    }

    /// The Prometheus text exposition, with the replica gauges set from
    /// `live`, read now.
    pub fn render(&self, live: &[LiveReplicas]) -> http::Response<wasmtime_wasi_http::WasiBody> {
        self.instances.reset();
        for component in live {
            for version in &component.versions {
                self.instances
                    .with_label_values(&[component.component.as_str(), version])
                    .inc();
            }
            self.in_flight
                .with_label_values(&[component.component.as_str()])
                .set(i64::try_from(component.in_flight).unwrap_or(i64::MAX));
        }
        let mut buffer = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(error) = encoder.encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "failed to encode metrics");
        }
        crate::response::with_type(
            http::StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            buffer,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text exposition of `metrics`, as `/metrics` serves it.
    fn exposition(metrics: &Metrics) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&metrics.registry.gather(), &mut buffer)
            .unwrap();
        String::from_utf8(buffer).unwrap()
    }

    /// Standard methods keep their names; any other method, however many
    /// there are, is the one label value `other`.
    #[test]
    fn unknown_methods_share_one_label() {
        let metrics = Metrics::new().unwrap();
        let ok = http::StatusCode::OK;
        for method in [http::Method::GET, http::Method::PATCH, http::Method::TRACE] {
            metrics.request("clients", "", &method, "/clients", ok, 0.001);
        }
        for n in 1..=50 {
            let method = http::Method::from_bytes(format!("M{n}").as_bytes()).unwrap();
            metrics.request("host", "", &method, "unmatched", ok, 0.001);
        }
        let text = exposition(&metrics);
        for method in ["GET", "PATCH", "TRACE"] {
            assert!(
                text.contains(&format!("method=\"{method}\"")),
                "{method}:\n{text}"
            );
        }
        assert!(
            !text.contains("method=\"M"),
            "raw methods became labels:\n{text}"
        );
        let other: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("comptoir_http_requests_total{"))
            .filter(|l| l.contains("method=\"other\""))
            .collect();
        assert_eq!(other.len(), 1, "{other:?}");
        assert!(other[0].ends_with(" 50"), "{other:?}");
    }

    /// Every standard method maps to its own name.
    #[test]
    fn standard_methods_keep_their_names() {
        for name in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
        ] {
            let method = http::Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(method_label(&method), name);
        }
        let lowercase = http::Method::from_bytes(b"get").unwrap();
        assert_eq!(method_label(&lowercase), "other");
    }
}
