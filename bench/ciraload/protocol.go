package ciraload

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
)

// The coordinator and a worker talk in JSON lines: the coordinator writes a
// workerConfig, then commands; the worker writes events. A worker whose
// stdin ends closes its tunnels and exits, so no worker outlives its
// coordinator, however that one ended.

// maxLine bounds one protocol line (a worker's configuration with 5,000
// credentials is ~0.5 MB).
const maxLine = 64 << 20

type workerDevice struct {
	Index  int        `json:"i"`
	Cred   Credential `json:"c"`
	Source string     `json:"src,omitempty"`
}

type workerConfig struct {
	Target         string         `json:"target"`
	ServerName     string         `json:"server_name"`
	CAPEM          []byte         `json:"ca_pem,omitempty"`
	Insecure       bool           `json:"insecure"`
	TLS            string         `json:"tls"`
	Rate           float64        `json:"rate"` // this worker's share, tunnels/s
	Inflight       int            `json:"inflight"`
	ConnectTimeout time.Duration  `json:"connect_timeout"`
	Ports          []uint32       `json:"ports,omitempty"`
	Resume         bool           `json:"resume,omitempty"`
	TCPKeepAlive   time.Duration  `json:"tcp_keepalive,omitempty"`
	GOMAXPROCS     int            `json:"gomaxprocs,omitempty"`
	Devices        []workerDevice `json:"devices"`
}

type command struct {
	Cmd     string        `json:"cmd"` // "ramp" (after priming), "probe" or "close"
	Timeout time.Duration `json:"timeout,omitempty"`
}

const (
	evConn   = "conn"
	evPrimed = "primed" // Resume: the priming pass is over, waiting for "ramp"
	evRamped = "ramped"
	evProbe  = "probe"
	evClosed = "closed"
)

type event struct {
	T string `json:"t"`
	// evConn
	Index   int     `json:"i,omitempty"`
	OK      bool    `json:"ok,omitempty"`
	MS      float64 `json:"ms,omitempty"` // connect-to-ready
	Reason  string  `json:"reason,omitempty"`
	Err     string  `json:"err,omitempty"`
	Resumed bool    `json:"resumed,omitempty"` // the TLS session was resumed
	// evRamped, evProbe
	Up      int            `json:"up,omitempty"`
	Failed  int            `json:"failed,omitempty"`
	Alive   int            `json:"alive,omitempty"`
	Dead    map[string]int `json:"dead,omitempty"`
	RSSKiB  int64          `json:"rss_kib,omitempty"` // the worker's own VmRSS
	Seconds float64        `json:"s,omitempty"`
}

// readLine reads one line of at most maxLine bytes (without the newline).
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("protocol line longer than %d bytes", maxLine)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}
