package vmctest_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// rawMPS is a hostile MPS that speaks APF by hand: it runs the server side
// of the CIRA handshake (reference §1.5) correctly, then hands the TLS
// connection to an attack, and records how the device answered it.
type rawMPS struct {
	ln     net.Listener
	attack func(s *rawSession) error
	wg     sync.WaitGroup
	out    chan rawResult
}

type rawResult struct {
	attackErr  error
	disconnect *apf.Disconnect // what the device sent after the attack, if anything
	readErr    error           // how the connection ended
}

type rawSession struct {
	conn   net.Conn
	framer *apf.Framer
	buf    []byte
}

func startRawMPS(attack func(s *rawSession) error) *rawMPS {
	crt, err := ca.IssueServer(pki.LeafOptions{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: pki.ECDSAP256})
	Expect(err).NotTo(HaveOccurred())
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLSConfig(crt.TLS()))
	Expect(err).NotTo(HaveOccurred())
	r := &rawMPS{ln: ln, attack: attack, out: make(chan rawResult, 256)}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer nc.Close()
				r.out <- r.serve(nc)
			}()
		}
	}()
	return r
}

func (r *rawMPS) port() uint16 { return uint16(r.ln.Addr().(*net.TCPAddr).Port) }

func (r *rawMPS) close() {
	r.ln.Close()
	r.wg.Wait()
}

// next waits for the outcome of the next connection.
func (r *rawMPS) next() rawResult {
	select {
	case res := <-r.out:
		return res
	case <-time.After(20 * time.Second):
		return rawResult{readErr: errors.New("test: no connection from the device within 20 s")}
	}
}

func (r *rawMPS) serve(nc net.Conn) rawResult {
	s := &rawSession{conn: nc, framer: apf.NewFramer(apf.FramerOptions{}), buf: make([]byte, 4096)}
	if err := s.handshake(); err != nil {
		return rawResult{readErr: fmt.Errorf("handshake: %w", err)}
	}
	res := rawResult{attackErr: r.attack(s)}
	// Read what the device answers until it closes the connection.
	for {
		m, err := s.recv(10 * time.Second)
		if err != nil {
			res.readErr = err
			return res
		}
		switch m := m.(type) {
		case *apf.Disconnect:
			d := *m
			res.disconnect = &d
		case *apf.KeepaliveRequest:
			_ = s.send(&apf.KeepaliveReply{Cookie: m.Cookie})
		}
	}
}

func (s *rawSession) send(ms ...apf.Message) error {
	var b []byte
	for _, m := range ms {
		b = m.Append(b)
	}
	return s.write(b)
}

func (s *rawSession) write(b []byte) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := s.conn.Write(b)
	return err
}

func (s *rawSession) recv(timeout time.Duration) (apf.Message, error) {
	for {
		m, err := s.framer.Next()
		if err != nil {
			return nil, err
		}
		if m != nil {
			return m, nil
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
		n, err := s.conn.Read(s.buf)
		if n > 0 {
			if ferr := s.framer.Feed(s.buf[:n]); ferr != nil {
				return nil, ferr
			}
			continue
		}
		if err != nil {
			return nil, err
		}
	}
}

// handshake answers the device's opening until its last tcpip-forward.
func (s *rawSession) handshake() error {
	last := apf.ForwardedPortOrder[len(apf.ForwardedPortOrder)-1]
	for {
		m, err := s.recv(10 * time.Second)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *apf.ProtocolVersion:
		case *apf.ServiceRequest:
			err = s.send(&apf.ServiceAccept{Service: m.Service})
		case *apf.UserauthRequest:
			err = s.send(&apf.UserauthSuccess{})
		case *apf.TCPIPForward:
			err = s.send(&apf.RequestSuccess{HasPort: true, Port: m.Port})
			if err == nil && m.Port == last {
				return nil
			}
		case *apf.KeepaliveRequest:
			err = s.send(&apf.KeepaliveReply{Cookie: m.Cookie})
		default:
			return fmt.Errorf("unexpected %s during the handshake", m.Type())
		}
		if err != nil {
			return err
		}
	}
}

// openChannel opens a channel to port and returns the device's channel id.
func (s *rawSession) openChannel(port uint32) (uint32, error) {
	if err := s.send(&apf.ChannelOpen{ChannelType: apf.ChannelForwardedTCPIP, Sender: 1, Window: 32768,
		Reserved: apf.ReservedMaxPacket, TargetAddr: "127.0.0.1", TargetPort: port, OriginatorAddr: "127.0.0.1", OriginatorPort: 40000}); err != nil {
		return 0, err
	}
	for {
		m, err := s.recv(10 * time.Second)
		if err != nil {
			return 0, err
		}
		switch m := m.(type) {
		case *apf.ChannelOpenConfirmation:
			return m.Sender, nil
		case *apf.ChannelOpenFailure:
			return 0, fmt.Errorf("device refused the channel: reason %d", m.Reason)
		}
	}
}

// logBuffer collects a device's log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var _ io.Writer = (*logBuffer)(nil)
