package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// pairing is one session the server announced: what the device and the
// console must present, and what they have presented. The table is a plain
// data structure; the callers hold Gateway.mu and pass the time.
type pairing struct {
	id     gwext.SessionID
	device string // lower-case canonical UUID

	hasDevice    bool
	tokenHash    [32]byte
	deviceExpiry time.Time
	tokenUsed    bool

	hasConsole    bool
	consoleID     string
	consoleKey    [32]byte
	consoleExpiry time.Time
	consoleUsed   bool

	cancelled string // reason, when cancelled

	conn     *cira.Conn  // the paired device's tunnel
	consoles []*p2p.Conn // live console channels
}

func (p *pairing) expired(now time.Time) bool {
	return (!p.hasDevice || !now.Before(p.deviceExpiry)) && (!p.hasConsole || !now.Before(p.consoleExpiry))
}

// errLogin is a refused pairing login; the text is the logged reason.
type errLogin struct{ reason string }

func (e *errLogin) Error() string { return e.reason }

// admitDevice checks a pairing login and burns the token. The order of the
// checks decides which reason a combination of faults gets: unknown before
// cancelled before used before expired before wrong token before wrong device.
func (g *Gateway) admitDevice(user, pass, uuid string, now time.Time) (*pairing, error) {
	sid, err := gwext.ParseUsername(user)
	if err != nil {
		return nil, &errLogin{"malformed pairing username"}
	}
	tok, err := gwext.ParsePassword(pass)
	if err != nil {
		return nil, &errLogin{fmt.Sprintf("session %s: malformed pairing password", sid)}
	}
	p := g.pairings[sid]
	switch {
	case p == nil || !p.hasDevice:
		return nil, &errLogin{fmt.Sprintf("session %s: unknown pairing session (no expect-device)", sid)}
	case p.cancelled != "":
		return nil, &errLogin{fmt.Sprintf("session %s: cancelled: %s", sid, p.cancelled)}
	case p.tokenUsed:
		return nil, &errLogin{fmt.Sprintf("session %s: pairing token already used (replay)", sid)}
	case !now.Before(p.deviceExpiry):
		return nil, &errLogin{fmt.Sprintf("session %s: pairing token expired at %s", sid, p.deviceExpiry.UTC().Format(time.RFC3339))}
	}
	h := sha256.Sum256(tok[:])
	if subtle.ConstantTimeCompare(h[:], p.tokenHash[:]) != 1 {
		return nil, &errLogin{fmt.Sprintf("session %s: wrong pairing token", sid)}
	}
	if !strings.EqualFold(uuid, p.device) {
		return nil, &errLogin{fmt.Sprintf("session %s: device %s is not the paired device %s", sid, uuid, p.device)}
	}
	p.tokenUsed = true
	return p, nil
}

// expectation resolves a console's preamble.
func (g *Gateway) expectation(sid gwext.SessionID) (p2p.Expectation, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pairings[sid]
	switch {
	case p == nil || !p.hasConsole:
		return p2p.Expectation{}, errors.New("unknown session (no expect-console)")
	case p.cancelled != "":
		return p2p.Expectation{}, fmt.Errorf("session cancelled: %s", p.cancelled)
	case p.consoleUsed:
		return p2p.Expectation{}, errors.New("session already used by a console (replay)")
	}
	return p2p.Expectation{
		Params:     p2p.Params{Session: sid, GatewayID: g.idLocked(), DeviceUUID: p.device, ConsoleID: p.consoleID},
		ConsoleKey: p.consoleKey, Expiry: p.consoleExpiry}, nil
}

func (g *Gateway) claimConsole(sid gwext.SessionID) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pairings[sid]
	if p == nil || p.cancelled != "" {
		return errors.New("session withdrawn during the handshake")
	}
	if p.consoleUsed {
		return errors.New("session already used by a console (replay)")
	}
	p.consoleUsed = true
	return nil
}

// sweep drops pairings whose every expiry has passed and that carry no live
// connection.
func (g *Gateway) sweep(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for sid, p := range g.pairings {
		if (p.expired(now) || p.cancelled != "") && p.conn == nil && len(p.consoles) == 0 {
			delete(g.pairings, sid)
		}
	}
}
