package gateway

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	reg        *prometheus.Registry
	lanLogins  *prometheus.CounterVec
	handshakes *prometheus.CounterVec
	streams    *prometheus.CounterVec
	p2pBytes   *prometheus.CounterVec
	relayBytes *prometheus.CounterVec
	controlUp  prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{reg: reg,
		lanLogins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oobtb_gateway_lan_logins_total",
			Help: "CIRA logins on the local MPS by result (paired, failover, refused)."}, []string{"result"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oobtb_gateway_console_handshakes_total",
			Help: "Console Noise KK handshakes by result (ok, refused)."}, []string{"result"}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oobtb_gateway_console_streams_total",
			Help: "Console streams by target and result."}, []string{"target", "result"}),
		p2pBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oobtb_gateway_p2p_bytes_total",
			Help: "Console stream payload bytes by direction (to_console, from_console), counted at channel end."}, []string{"direction"}),
		relayBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oobtb_gateway_failover_bytes_total",
			Help: "Failover device-channel payload bytes carried over the control channel."}, []string{"direction"}),
		controlUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "oobtb_gateway_control_connected",
			Help: "1 while the control channel to the server is up."}),
	}
	for _, c := range []prometheus.Collector{m.lanLogins, m.handshakes, m.streams, m.p2pBytes, m.relayBytes, m.controlUp} {
		_ = reg.Register(c)
	}
	return m
}
