package cira

import (
	"fmt"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// DeviceConfig is what the AMT side presents to a server.
type DeviceConfig struct {
	UUID     apf.GUID
	Trigger  apf.TriggerReason
	Reserved [64]byte // PROTOCOL_VERSION reserved bytes (gwext block or zeros)
	Username string
	Password string
	// Hostname is the address field of tcpip-forward; servers ignore it.
	Hostname string
	// Ports are forwarded in this order; nil means AMT's order.
	Ports []uint32
	// KeepaliveInterval applies until the server sends KEEPALIVE_OPTIONS;
	// 0 means 30 s, a safe default for every stock server's 90 s idle limit.
	KeepaliveInterval time.Duration
}

type deviceStage int

const (
	devStart deviceStage = iota
	devAwaitAuthAccept
	devAwaitAuthResult
	devAwaitPfwdAccept
	devForwarding
	devReady
)

func (s deviceStage) String() string {
	return [...]string{"start", "awaiting auth service accept", "awaiting auth result",
		"awaiting pfwd service accept", "forwarding ports", "ready"}[s]
}

// deviceSession is the AMT side of reference §1.5 as a pure state machine.
type deviceSession struct {
	cfg        DeviceConfig
	stage      deviceStage
	next       int // index of the next port to forward
	ka         time.Duration
	lastKA     time.Time
	kaCookie   uint32
	serverOpts bool
}

func newDeviceSession(cfg DeviceConfig) *deviceSession {
	if cfg.Ports == nil {
		cfg.Ports = apf.ForwardedPortOrder[:]
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = 30 * time.Second
	}
	return &deviceSession{cfg: cfg, ka: cfg.KeepaliveInterval}
}

// start returns the opening messages: PROTOCOL_VERSION and the auth service
// request, which AMT sends without waiting (§1.5 step 3).
func (s *deviceSession) start(now time.Time) []apf.Message {
	s.stage = devAwaitAuthAccept
	s.lastKA = now
	return []apf.Message{
		&apf.ProtocolVersion{Major: apf.MajorVersion, Minor: apf.MinorVersion, Trigger: s.cfg.Trigger, UUID: s.cfg.UUID, Reserved: s.cfg.Reserved},
		&apf.ServiceRequest{Service: apf.ServiceAuth},
	}
}

// handle consumes one non-channel message. Channel messages are the driver's.
func (s *deviceSession) handle(m apf.Message, now time.Time) (out []apf.Message, ev Event, err error) {
	switch m := m.(type) {
	case *apf.ServiceAccept:
		switch {
		case s.stage == devAwaitAuthAccept && m.Service == apf.ServiceAuth:
			s.stage = devAwaitAuthResult
			return []apf.Message{&apf.UserauthRequest{Username: s.cfg.Username, Service: apf.ServicePfwd,
				Method: apf.MethodPassword, Password: s.cfg.Password}}, nil, nil
		case s.stage == devAwaitPfwdAccept && m.Service == apf.ServicePfwd:
			s.stage = devForwarding
			return s.forwardNext(), nil, nil
		}
		return nil, nil, fmt.Errorf("unexpected SERVICE_ACCEPT %q while %s", m.Service, s.stage)
	case *apf.UserauthSuccess:
		if s.stage != devAwaitAuthResult {
			return nil, nil, fmt.Errorf("unexpected USERAUTH_SUCCESS while %s", s.stage)
		}
		s.stage = devAwaitPfwdAccept
		return []apf.Message{&apf.ServiceRequest{Service: apf.ServicePfwd}}, nil, nil
	case *apf.UserauthFailure:
		return nil, nil, &AuthError{Reason: "server refused the CIRA credentials (USERAUTH_FAILURE)"}
	case *apf.RequestSuccess:
		if s.stage == devForwarding {
			if !m.HasPort || m.Port != s.cfg.Ports[s.next-1] {
				return nil, nil, fmt.Errorf("REQUEST_SUCCESS for tcpip-forward of port %d carried %s", s.cfg.Ports[s.next-1], portText(m))
			}
			if s.next < len(s.cfg.Ports) {
				return s.forwardNext(), nil, nil
			}
			s.stage = devReady
			return nil, EventReady{}, nil
		}
		// Replies to our later global requests (extensions) are matched by
		// the driver's pending-reply queue.
		return nil, EventGlobalReply{OK: true}, nil
	case *apf.RequestFailure:
		if s.stage == devForwarding {
			return nil, nil, fmt.Errorf("server refused tcpip-forward of port %d", s.cfg.Ports[s.next-1])
		}
		return nil, EventGlobalReply{OK: false}, nil
	case *apf.ProtocolVersion:
		// The DMT console echoes one; an oobtb server answers with its
		// capability block. Either way, hand it up.
		return nil, EventPeerVersion{Msg: *m}, nil
	case *apf.KeepaliveRequest:
		return []apf.Message{&apf.KeepaliveReply{Cookie: m.Cookie}}, nil, nil
	case *apf.KeepaliveReply:
		return nil, nil, nil
	case *apf.KeepaliveOptionsRequest:
		s.serverOpts = true
		if m.Interval > 0 {
			s.ka = time.Duration(m.Interval) * time.Second
		}
		return []apf.Message{&apf.KeepaliveOptionsReply{Interval: m.Interval, Timeout: m.Timeout}}, nil, nil
	case *apf.ExtensionRequest:
		if s.stage != devReady {
			return nil, nil, fmt.Errorf("extension request %q before the tunnel was ready", m.Name)
		}
		return nil, EventGlobalRequest{Req: cloneExt(m)}, nil
	case apf.GlobalRequest:
		// A server has no business binding ports on the device.
		if m.WantsReply() {
			return []apf.Message{&apf.RequestFailure{}}, nil, nil
		}
		return nil, nil, nil
	case *apf.Disconnect:
		return nil, nil, &DisconnectError{Reason: m.Reason, ByPeer: true}
	}
	return nil, nil, fmt.Errorf("unexpected %s from the server while %s", m.Type(), s.stage)
}

func (s *deviceSession) forwardNext() []apf.Message {
	p := s.cfg.Ports[s.next]
	s.next++
	return []apf.Message{&apf.TCPIPForward{WantReply: true, Address: s.cfg.Hostname, Port: p}}
}

// tick returns a keep-alive when one is due; AMT keeps its own schedule even
// if the server never sends KEEPALIVE_OPTIONS (§1.5).
func (s *deviceSession) tick(now time.Time) []apf.Message {
	if s.stage != devReady || now.Before(s.lastKA.Add(s.ka)) {
		return nil
	}
	s.lastKA = now
	s.kaCookie++
	return []apf.Message{&apf.KeepaliveRequest{Cookie: s.kaCookie}}
}

// wake is when tick next has something to do.
func (s *deviceSession) wake() time.Time { return s.lastKA.Add(s.ka) }

func (s *deviceSession) ready() bool { return s.stage == devReady }

func portText(m *apf.RequestSuccess) string {
	if !m.HasPort {
		return "no port"
	}
	return fmt.Sprintf("port %d", m.Port)
}

func cloneExt(m *apf.ExtensionRequest) *apf.ExtensionRequest {
	return &apf.ExtensionRequest{Name: m.Name, WantReply: m.WantReply, Payload: append([]byte(nil), m.Payload...)}
}
