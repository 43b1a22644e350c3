package cira

import (
	"fmt"
	"slices"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// ServerConfig is the MPS side's policy.
type ServerConfig struct {
	// KeepaliveInterval and KeepaliveTimeout are sent in
	// KEEPALIVE_OPTIONS_REQUEST; 0 → 30 s and 0, as DMT MPS and MeshCentral.
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	// IdleTimeout closes a tunnel with no traffic; 0 → 90 s as both Node
	// servers.
	IdleTimeout time.Duration
	// MaxAuthAttempts before DISCONNECT; 0 → 3.
	MaxAuthAttempts int
	// MaxPorts bounds the port table; 0 → 16.
	MaxPorts int
}

// EventAuthRequest asks the party to check credentials; the driver answers
// with serverSession.authDone.
type EventAuthRequest struct {
	UUID     apf.GUID
	Username string
	Password string
	Method   string
}

func (EventAuthRequest) event() {}

// serverSession is the MPS side of reference §1.5 and the server-role
// checklist of §1.10, as a pure state machine.
type serverSession struct {
	cfg        ServerConfig
	gotVersion bool
	version    apf.ProtocolVersion
	authAccept bool
	authed     bool
	authWait   bool
	attempts   int
	pfwd       bool
	ports      []uint32
	optsSent   bool
	lastRx     time.Time

	// The keep-alive answer is built in place: an idle tunnel's only
	// traffic then allocates nothing (see handle). The driver sends out
	// before it handles the next message.
	kaReply apf.KeepaliveReply
	kaOut   [1]apf.Message
}

func newServerSession(cfg ServerConfig, now time.Time) *serverSession {
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 90 * time.Second
	}
	if cfg.MaxAuthAttempts <= 0 {
		cfg.MaxAuthAttempts = 3
	}
	if cfg.MaxPorts <= 0 {
		cfg.MaxPorts = 16
	}
	return &serverSession{cfg: cfg, lastRx: now}
}

// received notes traffic for the idle timer; the driver calls it for every
// message, channel messages included.
func (s *serverSession) received(now time.Time) { s.lastRx = now }

func (s *serverSession) handle(m apf.Message, now time.Time) (out []apf.Message, ev Event, err error) {
	switch m := m.(type) {
	case *apf.ProtocolVersion:
		if s.gotVersion {
			return nil, nil, fmt.Errorf("second PROTOCOL_VERSION")
		}
		if m.Major != apf.MajorVersion {
			return []apf.Message{&apf.Disconnect{Reason: apf.DisconnectProtocolVersionNotSupported}}, nil,
				&DisconnectError{Reason: apf.DisconnectProtocolVersionNotSupported, Detail: fmt.Sprintf("APF major version %d, expected 1", m.Major)}
		}
		s.gotVersion, s.version = true, *m
		return nil, EventPeerVersion{Msg: *m}, nil
	case *apf.ServiceRequest:
		// Either order relative to PROTOCOL_VERSION is accepted (§1.10).
		switch m.Service {
		case apf.ServiceAuth:
			s.authAccept = true
			return []apf.Message{&apf.ServiceAccept{Service: apf.ServiceAuth}}, nil, nil
		case apf.ServicePfwd:
			if !s.authed {
				return nil, nil, fmt.Errorf("SERVICE_REQUEST pfwd before authentication")
			}
			s.pfwd = true
			return []apf.Message{&apf.ServiceAccept{Service: apf.ServicePfwd}}, nil, nil
		}
		// Stock servers consume unknown names silently.
		return nil, nil, nil
	case *apf.UserauthRequest:
		if !s.gotVersion {
			return nil, nil, fmt.Errorf("USERAUTH_REQUEST before PROTOCOL_VERSION: the device's UUID is unknown")
		}
		if s.authed || s.authWait {
			return nil, nil, fmt.Errorf("USERAUTH_REQUEST while already %s", map[bool]string{true: "authenticated", false: "checking credentials"}[s.authed])
		}
		if m.Method != apf.MethodPassword {
			return []apf.Message{authFailure()}, nil, nil
		}
		s.authWait = true
		return nil, EventAuthRequest{UUID: s.version.UUID, Username: m.Username, Password: m.Password, Method: m.Method}, nil
	case apf.GlobalRequest:
		if !s.authed {
			return nil, nil, fmt.Errorf("%s before authentication", m.RequestName())
		}
		switch g := m.(type) {
		case *apf.TCPIPForward:
			if !slices.Contains(s.ports, g.Port) {
				if len(s.ports) >= s.cfg.MaxPorts {
					return []apf.Message{&apf.RequestFailure{}}, nil, nil
				}
				s.ports = append(s.ports, g.Port)
			}
			out = []apf.Message{&apf.RequestSuccess{HasPort: true, Port: g.Port}}
			if g.Port == apf.PortVNC && !s.optsSent {
				s.optsSent = true
				out = append(out, &apf.KeepaliveOptionsRequest{
					Interval: uint32(s.cfg.KeepaliveInterval / time.Second),
					Timeout:  uint32(s.cfg.KeepaliveTimeout / time.Second)})
			}
			return out, EventPortBound{Port: g.Port}, nil
		case *apf.CancelTCPIPForward:
			s.ports = slices.DeleteFunc(s.ports, func(p uint32) bool { return p == g.Port })
			return []apf.Message{&apf.RequestSuccess{}}, EventPortUnbound{Port: g.Port}, nil
		case *apf.ExtensionRequest:
			return nil, EventGlobalRequest{Req: cloneExt(g)}, nil
		}
		if m.WantsReply() {
			return []apf.Message{&apf.RequestFailure{}}, nil, nil
		}
		return nil, nil, nil
	case *apf.RequestSuccess:
		return nil, EventGlobalReply{OK: true}, nil
	case *apf.RequestFailure:
		return nil, EventGlobalReply{OK: false}, nil
	case *apf.KeepaliveRequest:
		s.kaReply = apf.KeepaliveReply{Cookie: m.Cookie}
		s.kaOut[0] = &s.kaReply
		return s.kaOut[:], nil, nil
	case *apf.KeepaliveReply:
		return nil, nil, nil
	case *apf.KeepaliveOptionsReply:
		return nil, EventKeepaliveOptions{Interval: m.Interval, Timeout: m.Timeout}, nil
	case *apf.Disconnect:
		return nil, nil, &DisconnectError{Reason: m.Reason, ByPeer: true}
	}
	return nil, nil, fmt.Errorf("unexpected %s from the device", m.Type())
}

// authDone feeds the verdict on the pending EventAuthRequest.
func (s *serverSession) authDone(ok bool) ([]apf.Message, error) {
	s.authWait = false
	if ok {
		s.authed = true
		return []apf.Message{&apf.UserauthSuccess{}}, nil
	}
	s.attempts++
	if s.attempts >= s.cfg.MaxAuthAttempts {
		return []apf.Message{authFailure(), &apf.Disconnect{Reason: apf.DisconnectNoMoreAuthMethods}},
			&AuthError{Reason: fmt.Sprintf("%d failed attempts", s.attempts)}
	}
	return []apf.Message{authFailure()}, nil
}

// authFailure is the 15-byte form DMT MPS and MeshCentral send.
func authFailure() *apf.UserauthFailure {
	return &apf.UserauthFailure{Methods: apf.MethodPassword, ExtraZero: true}
}

// tick enforces the idle timeout.
func (s *serverSession) tick(now time.Time) error {
	if now.Sub(s.lastRx) >= s.cfg.IdleTimeout {
		return &DisconnectError{Reason: apf.DisconnectConnectionTimedOut, Detail: fmt.Sprintf("no traffic for %s", s.cfg.IdleTimeout)}
	}
	return nil
}

func (s *serverSession) wake() time.Time { return s.lastRx.Add(s.cfg.IdleTimeout) }

// channelsAllowed: channel traffic needs an authenticated tunnel.
func (s *serverSession) channelsAllowed() bool { return s.authed }
