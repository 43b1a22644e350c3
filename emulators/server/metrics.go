package server

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, on a registry of its own so
// several servers can live in one process (tests, the simulator).
type metrics struct {
	reg          *prometheus.Registry
	sockets      prometheus.Gauge
	devices      prometheus.Gauge
	accepted     prometheus.Counter
	refused      *prometheus.CounterVec
	channels     prometheus.Gauge
	relayBytes   *prometheus.CounterVec
	relays       *prometheus.GaugeVec
	authFailures *prometheus.CounterVec
	wsman        *prometheus.CounterVec
	apiLatency   *prometheus.HistogramVec
}

func newMetrics(s *Server) *metrics {
	const ns = "oobtb_server"
	m := &metrics{reg: prometheus.NewRegistry()}
	m.sockets = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "cira_connections",
		Help: "Open CIRA sockets (TLS handshake and APF authentication included)."})
	m.devices = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "cira_devices_connected",
		Help: "Devices with an authenticated CIRA tunnel."})
	m.accepted = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "cira_accepted_total",
		Help: "CIRA connections accepted."})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "cira_refused_total",
		Help: "CIRA connections refused or failed before registration, by reason (fd_limit, max_conns, tls, unknown_device, ...)."},
		[]string{"reason"})
	m.channels = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "channels_open",
		Help: "APF channels the server has open to devices (WS-MAN and relay)."})
	m.relayBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "relay_bytes_total",
		Help: "Bytes relayed between web-relay clients and devices, by kind (kvm, sol) and direction (to_device, from_device)."},
		[]string{"kind", "direction"})
	m.relays = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "relay_sessions",
		Help: "Web-relay sessions in progress, by kind."}, []string{"kind"})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "auth_failures_total",
		Help: "Authentication failures, by kind (cira, api, relay, wsman)."}, []string{"kind"})
	m.wsman = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "wsman_requests_total",
		Help: "WS-MAN requests sent to devices, by HTTP status (or error)."}, []string{"status"})
	m.apiLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "api_request_duration_seconds",
		Help: "Console API request latency by route, method and status code.", Buckets: prometheus.DefBuckets},
		[]string{"route", "method", "code"})
	m.reg.MustRegister(m.sockets, m.devices, m.accepted, m.refused, m.channels, m.relayBytes, m.relays,
		m.authFailures, m.wsman, m.apiLatency,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "cira_max_connections",
			Help: "The CIRA connection cap (RLIMIT_NOFILE minus the reserve unless set)."},
			func() float64 { return float64(s.maxConns) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "gomaxprocs",
			Help: "Scheduler Ps in use (with --adaptive-procs: 1 while idle, all when busy)."},
			func() float64 { return float64(runtime.GOMAXPROCS(0)) }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{"fd_limit", "max_conns", "tls", "unknown_device"} {
		m.refused.WithLabelValues(r)
	}
	for _, k := range []string{"cira", "api", "relay", "wsman"} {
		m.authFailures.WithLabelValues(k)
	}
	return m
}

// Metrics is the server's Prometheus registry, for modules that add series.
func (s *Server) Metrics() *prometheus.Registry { return s.met.reg }
