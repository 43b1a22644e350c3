package gwext

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// GatewayInfo is the payload of gateway-info@oobtb (device → server): the
// identifiers of the gateway the device found on its LAN, and the gateway's
// static X25519 public key as the LAN announced it.
type GatewayInfo struct {
	IDs     []Identifier // at least one; no key (it is Key)
	Key     [32]byte
	Unknown []TLV
}

// GatewayConnect is the payload of gateway-connect@oobtb (server → device):
// go to this gateway on the LAN and present this token.
type GatewayConnect struct {
	// Gateway holds the gateway's LAN address identifiers: an IPv4/IPv6
	// endpoint, or an address or domain plus a port; others (UDI, MAC, URL)
	// may follow for naming.
	Gateway   []Identifier
	Key       [32]byte // the gateway's static public key
	SessionID SessionID
	Expiry    time.Time // unix seconds on the wire; the device refuses to act after it
	Token     Token
	Unknown   []TLV
}

// SessionID identifies a pairing.
type SessionID [16]byte

// Token is the one-time pairing token the device presents to the gateway.
type Token [16]byte

func (g GatewayInfo) validate() error {
	if len(g.IDs) == 0 {
		return fmt.Errorf("gwext: gateway-info without identifiers")
	}
	return checkIDs(g.IDs, g.Key)
}

func checkIDs(ids []Identifier, key [32]byte) error {
	if len(ids) > MaxIdentifiers {
		return fmt.Errorf("gwext: %d identifiers, at most %d", len(ids), MaxIdentifiers)
	}
	for _, id := range ids {
		if id.Type == IDKey || !id.Type.Known() {
			return fmt.Errorf("gwext: %s is not allowed in the identifier list", id.Type)
		}
		if err := id.Validate(); err != nil {
			return err
		}
	}
	_, err := Key(key)
	return err
}

func appendIDs(b []byte, ids []Identifier, key [32]byte, unknown []TLV) ([]byte, error) {
	var err error
	for _, id := range ids {
		if b, err = appendTLV(b, uint8(id.Type), id.Value); err != nil {
			return nil, err
		}
	}
	b, _ = appendTLV(b, uint8(IDKey), key[:])
	for _, t := range unknown {
		if t.Type == 0 || registered(t.Type) {
			return nil, fmt.Errorf("gwext: unknown TLV with registered type 0x%02x", t.Type)
		}
		if b, err = appendTLV(b, t.Type, t.Value); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func checkLen(b []byte) ([]byte, error) {
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("gwext: payload of %d bytes exceeds %d", len(b), MaxPayload)
	}
	return b, nil
}

// Marshal returns the payload: u8 version, then TLVs.
func (g GatewayInfo) Marshal() ([]byte, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	b, err := appendIDs([]byte{Version}, g.IDs, g.Key, g.Unknown)
	if err != nil {
		return nil, err
	}
	return checkLen(b)
}

// Request wraps the payload in its GLOBAL_REQUEST (want_reply = 1).
func (g GatewayInfo) Request() (*apf.ExtensionRequest, error) {
	p, err := g.Marshal()
	if err != nil {
		return nil, err
	}
	return &apf.ExtensionRequest{Name: RequestGatewayInfo, WantReply: true, Payload: p}, nil
}

const (
	infoMsg    = "gateway-info@oobtb payload"
	connectMsg = "gateway-connect@oobtb payload"
)

// payloadWalker checks the version byte and bounds, and returns a walker
// over the TLVs (offsets from the payload start).
func payloadWalker(msg string, p []byte) (tlvWalker, error) {
	if len(p) > MaxPayload {
		return tlvWalker{}, wireerr.New(Proto, msg, "payload length", 0, "at most "+strconv.Itoa(MaxPayload), strconv.Itoa(len(p)))
	}
	if len(p) == 0 {
		return tlvWalker{}, wireerr.New(Proto, msg, "version", 0, "1 or later", "empty payload")
	}
	if p[0] == 0 {
		return tlvWalker{}, wireerr.New(Proto, msg, "version", 0, "1 or later", "0")
	}
	return tlvWalker{msg: msg, b: p[1:], base: 1}, nil
}

// idCollector gathers identifier and key TLVs common to both payloads.
type idCollector struct {
	w       tlvWalker
	ids     []Identifier
	key     [32]byte
	haveKey bool
	unknown []TLV
}

// take handles t if it is an identifier, key or unknown TLV; ok is false for
// other registered types.
func (c *idCollector) take(t uint8, v []byte, off int) (ok bool, err error) {
	switch {
	case IDType(t) == IDKey:
		if c.haveKey {
			return true, c.w.errAt("key identifier", off, "one key", "a second one")
		}
		id, err := c.w.identifier(t, v, off)
		if err != nil {
			return true, err
		}
		c.key, c.haveKey = [32]byte(id.Value), true
	case IDType(t).Known():
		if len(c.ids) == MaxIdentifiers {
			return true, c.w.errAt(typeName(t), off, "at most "+strconv.Itoa(MaxIdentifiers)+" identifiers", "more")
		}
		id, err := c.w.identifier(t, v, off)
		if err != nil {
			return true, err
		}
		id.Value = bytes.Clone(id.Value)
		c.ids = append(c.ids, id)
	case !registered(t):
		c.unknown = append(c.unknown, TLV{Type: t, Value: bytes.Clone(v)})
	default:
		return false, nil
	}
	return true, nil
}

// UnmarshalGatewayInfo parses a gateway-info@oobtb payload. Errors are
// *wireerr.Error with offsets from the payload start.
func UnmarshalGatewayInfo(p []byte) (GatewayInfo, error) {
	w, err := payloadWalker(infoMsg, p)
	if err != nil {
		return GatewayInfo{}, err
	}
	c := idCollector{w: w}
	err = w.each(func(t uint8, v []byte, off int) error {
		ok, err := c.take(t, v, off)
		if err == nil && !ok {
			err = w.errAt(typeName(t), off, "identifier TLVs", "a "+typeName(t)+" TLV")
		}
		return err
	})
	if err != nil {
		return GatewayInfo{}, err
	}
	if !c.haveKey {
		return GatewayInfo{}, wireerr.New(Proto, infoMsg, "key identifier", len(p), "a key TLV", "none")
	}
	if len(c.ids) == 0 {
		return GatewayInfo{}, wireerr.New(Proto, infoMsg, "identifiers", len(p), "at least one identifier besides the key", "none")
	}
	return GatewayInfo{IDs: c.ids, Key: c.key, Unknown: c.unknown}, nil
}

// ParseGatewayInfo checks the request's name and parses its payload.
func ParseGatewayInfo(r *apf.ExtensionRequest) (GatewayInfo, error) {
	if r.Name != RequestGatewayInfo {
		return GatewayInfo{}, fmt.Errorf("gwext: request %q is not %s", r.Name, RequestGatewayInfo)
	}
	return UnmarshalGatewayInfo(r.Payload)
}

func (g GatewayConnect) validate() error {
	if err := checkIDs(g.Gateway, g.Key); err != nil {
		return err
	}
	if _, _, err := g.Target(); err != nil {
		return err
	}
	if g.Expiry.Unix() <= 0 {
		return fmt.Errorf("gwext: gateway-connect expiry %v is not after 1970", g.Expiry)
	}
	return nil
}

// Marshal returns the payload: u8 version, then the gateway identifiers, the
// key, session id, expiry and token TLVs.
func (g GatewayConnect) Marshal() ([]byte, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	b, err := appendIDs([]byte{Version}, g.Gateway, g.Key, nil)
	if err != nil {
		return nil, err
	}
	b, _ = appendTLV(b, TypeSessionID, g.SessionID[:])
	b, _ = appendTLV(b, TypeExpiry, binary.BigEndian.AppendUint64(nil, uint64(g.Expiry.Unix())))
	b, _ = appendTLV(b, TypeToken, g.Token[:])
	for _, t := range g.Unknown {
		if t.Type == 0 || registered(t.Type) {
			return nil, fmt.Errorf("gwext: unknown TLV with registered type 0x%02x", t.Type)
		}
		if b, err = appendTLV(b, t.Type, t.Value); err != nil {
			return nil, err
		}
	}
	return checkLen(b)
}

// Request wraps the payload in its GLOBAL_REQUEST (want_reply = 1).
func (g GatewayConnect) Request() (*apf.ExtensionRequest, error) {
	p, err := g.Marshal()
	if err != nil {
		return nil, err
	}
	return &apf.ExtensionRequest{Name: RequestGatewayConnect, WantReply: true, Payload: p}, nil
}

// UnmarshalGatewayConnect parses a gateway-connect@oobtb payload.
func UnmarshalGatewayConnect(p []byte) (GatewayConnect, error) {
	w, err := payloadWalker(connectMsg, p)
	if err != nil {
		return GatewayConnect{}, err
	}
	c := idCollector{w: w}
	var g GatewayConnect
	var have [3]bool // session id, expiry, token
	fixed := func(t uint8, v []byte, off, want, slot int) error {
		if have[slot] {
			return w.errAt(typeName(t), off, "one "+typeName(t)+" TLV", "a second one")
		}
		if len(v) != want {
			return w.errAt(typeName(t)+" length", off+1, strconv.Itoa(want), strconv.Itoa(len(v)))
		}
		have[slot] = true
		return nil
	}
	err = w.each(func(t uint8, v []byte, off int) error {
		if ok, err := c.take(t, v, off); ok || err != nil {
			return err
		}
		switch t {
		case TypeSessionID:
			if err := fixed(t, v, off, 16, 0); err != nil {
				return err
			}
			g.SessionID = SessionID(v)
		case TypeExpiry:
			if err := fixed(t, v, off, 8, 1); err != nil {
				return err
			}
			s := binary.BigEndian.Uint64(v)
			if s == 0 || s > math.MaxInt64 {
				return w.errAt("expiry value", off+2, "unix seconds in 1..2^63-1", strconv.FormatUint(s, 10))
			}
			g.Expiry = time.Unix(int64(s), 0).UTC()
		case TypeToken:
			if err := fixed(t, v, off, 16, 2); err != nil {
				return err
			}
			g.Token = Token(v)
		default:
			return w.errAt(typeName(t), off, "identifier, key, session id, expiry or token TLVs", "a "+typeName(t)+" TLV")
		}
		return nil
	})
	if err != nil {
		return GatewayConnect{}, err
	}
	for i, name := range [3]string{"session id", "expiry", "pairing token"} {
		if !have[i] {
			return GatewayConnect{}, wireerr.New(Proto, connectMsg, name, len(p), "a "+name+" TLV", "none")
		}
	}
	if !c.haveKey {
		return GatewayConnect{}, wireerr.New(Proto, connectMsg, "key identifier", len(p), "a key TLV", "none")
	}
	g.Gateway, g.Key, g.Unknown = c.ids, c.key, c.unknown
	if _, _, err := g.Target(); err != nil {
		return GatewayConnect{}, wireerr.New(Proto, connectMsg, "gateway address", len(p), "an endpoint, or an address or domain and a port", "none")
	}
	return g, nil
}

// ParseGatewayConnect checks the request's name and parses its payload.
func ParseGatewayConnect(r *apf.ExtensionRequest) (GatewayConnect, error) {
	if r.Name != RequestGatewayConnect {
		return GatewayConnect{}, fmt.Errorf("gwext: request %q is not %s", r.Name, RequestGatewayConnect)
	}
	return UnmarshalGatewayConnect(r.Payload)
}

// Target is where the device connects: the first endpoint identifier; else
// the first IPv4/IPv6 address, else the first domain, with the first port.
func (g GatewayConnect) Target() (host string, port uint16, err error) {
	var addr, domain string
	var p uint16
	for _, id := range g.Gateway {
		switch id.Type {
		case IDIPv4Endpoint, IDIPv6Endpoint:
			a, ok1 := id.Addr()
			pp, ok2 := id.PortValue()
			if ok1 && ok2 {
				return a.String(), pp, nil
			}
		case IDIPv4, IDIPv6:
			if a, ok := id.Addr(); ok && addr == "" {
				addr = a.String()
			}
		case IDDomain:
			if domain == "" && id.invalid() == "" {
				domain = string(id.Value)
			}
		case IDPort:
			if v, ok := id.PortValue(); ok && p == 0 {
				p = v
			}
		}
	}
	if addr == "" {
		addr = domain
	}
	if addr == "" || p == 0 {
		return "", 0, fmt.Errorf("gwext: gateway-connect needs an endpoint, or an address or domain and a port")
	}
	return addr, p, nil
}

// TargetAddrPort is Target for address identifiers (no DNS).
func (g GatewayConnect) TargetAddrPort() (netip.AddrPort, error) {
	h, p, err := g.Target()
	if err != nil {
		return netip.AddrPort{}, err
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("gwext: gateway target %q is a name, not an address", h)
	}
	return netip.AddrPortFrom(a, p), nil
}
