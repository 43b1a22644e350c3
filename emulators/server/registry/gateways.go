package registry

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Bounds on a gateway's declaration.
const (
	MaxGatewayIdentifiers = 64
	MaxWANEndpoints       = 16
	MaxLANPrefixes        = 16
	X25519KeyLen          = 32
)

var gatewayIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

func checkGatewayID(id string) error {
	if !gatewayIDRe.MatchString(id) {
		return fmt.Errorf("%w: gateway id %q: want 1-128 of [A-Za-z0-9._:-]", ErrInvalid, truncate(id, 64))
	}
	return nil
}

// CreateGateway pre-registers a gateway and returns its one-time enrolment
// token (only its hash is stored). Calling it again for a gateway that has
// not enrolled yet replaces the token; for an enrolled one it is ErrExists.
func (s *SQLite) CreateGateway(ctx context.Context, id string, now time.Time) (string, error) {
	if err := checkGatewayID(id); err != nil {
		return "", err
	}
	tok, err := newToken(s.rand)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var enrolled bool
		err := tx.QueryRowContext(ctx, `SELECT enrolled FROM gateways WHERE id = ?`, id).Scan(&enrolled)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO gateways (id, enrol_token_hash, created_at, updated_at) VALUES (?, ?, ?, ?)`,
				id, tokenHash(tok), tn(now), tn(now))
			return err
		case err != nil:
			return err
		case enrolled:
			return fmt.Errorf("%w: gateway %s is already enrolled", ErrExists, id)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE gateways SET enrol_token_hash = ?, updated_at = ? WHERE id = ?`,
				tokenHash(tok), tn(now), id)
			return err
		}
	})
	if err != nil {
		return "", s.wrap(err)
	}
	return tok, nil
}

type gatewayDecl struct {
	pub      []byte
	ids      []Identifier
	wan      string
	domain   string
	prefixes string
}

func checkRegistration(r GatewayRegistration) (gatewayDecl, error) {
	var d gatewayDecl
	if len(r.PublicKey) != X25519KeyLen {
		return d, fmt.Errorf("%w: gateway public key must be %d bytes (X25519), got %d", ErrInvalid, X25519KeyLen, len(r.PublicKey))
	}
	if len(r.Identifiers) > MaxGatewayIdentifiers {
		return d, fmt.Errorf("%w: more than %d identifiers", ErrInvalid, MaxGatewayIdentifiers)
	}
	ids, err := normalizeIdentifiers(r.Identifiers)
	if err != nil {
		return d, err
	}
	if len(r.WANEndpoints) > MaxWANEndpoints {
		return d, fmt.Errorf("%w: more than %d WAN endpoints", ErrInvalid, MaxWANEndpoints)
	}
	wan := make([]string, 0, len(r.WANEndpoints))
	for _, e := range r.WANEndpoints {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(e))
		if err != nil || ap.Port() == 0 {
			return d, fmt.Errorf("%w: WAN endpoint %q is not address:port", ErrInvalid, truncate(e, 64))
		}
		wan = append(wan, ap.String())
	}
	dom := ""
	if r.LANDomain != "" {
		n, err := NormalizeIdentifier(Identifier{Type: IDDomain, Value: r.LANDomain})
		if err != nil {
			return d, err
		}
		dom = n.Value
	}
	if len(r.LANPrefixes) > MaxLANPrefixes {
		return d, fmt.Errorf("%w: more than %d LAN prefixes", ErrInvalid, MaxLANPrefixes)
	}
	pfx := make([]string, 0, len(r.LANPrefixes))
	for _, p := range r.LANPrefixes {
		pp, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			return d, fmt.Errorf("%w: LAN prefix %q", ErrInvalid, truncate(p, 64))
		}
		pfx = append(pfx, pp.Masked().String())
	}
	wb, _ := json.Marshal(wan)
	pb, _ := json.Marshal(pfx)
	return gatewayDecl{pub: append([]byte(nil), r.PublicKey...), ids: ids, wan: string(wb), domain: dom, prefixes: string(pb)}, nil
}

func writeDecl(ctx context.Context, tx *sql.Tx, id string, d gatewayDecl, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE gateways SET public_key = ?, wan_endpoints = ?, lan_domain = ?,
		lan_prefixes = ?, updated_at = ? WHERE id = ?`, d.pub, d.wan, d.domain, d.prefixes, tn(now), id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM gateway_identifiers WHERE gateway_id = ?`, id); err != nil {
		return err
	}
	for _, i := range d.ids {
		if _, err := tx.ExecContext(ctx, `INSERT INTO gateway_identifiers (gateway_id, type, value) VALUES (?, ?, ?)`,
			id, string(i.Type), i.Value); err != nil {
			return err
		}
	}
	return nil
}

// EnrolGateway consumes the gateway's one-time enrolment token and stores
// its declaration. A wrong, reused or unknown token is a *TokenError.
func (s *SQLite) EnrolGateway(ctx context.Context, e GatewayEnrolment, now time.Time) (Gateway, error) {
	if err := checkGatewayID(e.ID); err != nil {
		return Gateway{}, err
	}
	decl, err := checkRegistration(e.GatewayRegistration)
	if err != nil {
		return Gateway{}, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var stored []byte
		var enrolled bool
		err := tx.QueryRowContext(ctx, `SELECT enrol_token_hash, enrolled FROM gateways WHERE id = ?`, e.ID).Scan(&stored, &enrolled)
		if errors.Is(err, sql.ErrNoRows) {
			return &TokenError{Reason: "unknown gateway"}
		}
		if err != nil {
			return err
		}
		if enrolled || stored == nil {
			return &TokenError{Reason: TokenReused}
		}
		if subtle.ConstantTimeCompare(stored, tokenHash(e.Token)) != 1 {
			return &TokenError{Reason: TokenUnknown}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE gateways SET enrol_token_hash = NULL, enrolled = 1 WHERE id = ?`, e.ID); err != nil {
			return err
		}
		return writeDecl(ctx, tx, e.ID, decl, now)
	})
	if err != nil {
		return Gateway{}, s.wrap(err)
	}
	return s.GetGateway(ctx, e.ID)
}

// RegisterGateway replaces an enrolled gateway's declaration (on every
// control-channel reconnect). A changed public key is accepted here: the
// control channel that carries the call is already authenticated.
func (s *SQLite) RegisterGateway(ctx context.Context, id string, r GatewayRegistration, now time.Time) (Gateway, error) {
	if err := checkGatewayID(id); err != nil {
		return Gateway{}, err
	}
	decl, err := checkRegistration(r)
	if err != nil {
		return Gateway{}, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var enrolled bool
		err := tx.QueryRowContext(ctx, `SELECT enrolled FROM gateways WHERE id = ?`, id).Scan(&enrolled)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: gateway %s", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if !enrolled {
			return fmt.Errorf("%w: gateway %s has not enrolled", ErrConflict, id)
		}
		return writeDecl(ctx, tx, id, decl, now)
	})
	if err != nil {
		return Gateway{}, s.wrap(err)
	}
	return s.GetGateway(ctx, id)
}

// GatewayHeartbeat records the control channel's liveness.
func (s *SQLite) GatewayHeartbeat(ctx context.Context, id string, online bool, now time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE gateways SET online = ?, last_heartbeat = ? WHERE id = ? AND enrolled = 1`,
			online, tn(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: enrolled gateway %s", ErrNotFound, truncate(id, 64))
		}
		return nil
	})
	return s.wrap(err)
}

const gatewayCols = `id, enrolled, public_key, wan_endpoints, lan_domain, lan_prefixes, online, last_heartbeat, created_at, updated_at`

func (s *SQLite) loadGateway(ctx context.Context, r *sql.DB, row rowScanner) (Gateway, error) {
	var g Gateway
	var wan, pfx string
	var hb, created, updated int64
	if err := row.Scan(&g.ID, &g.Enrolled, &g.PublicKey, &wan, &g.LANDomain, &pfx, &g.Online, &hb, &created, &updated); err != nil {
		return g, err
	}
	g.LastHeartbeat, g.CreatedAt, g.UpdatedAt = nt(hb), nt(created), nt(updated)
	if err := json.Unmarshal([]byte(wan), &g.WANEndpoints); err != nil {
		return g, err
	}
	if err := json.Unmarshal([]byte(pfx), &g.LANPrefixes); err != nil {
		return g, err
	}
	rows, err := r.QueryContext(ctx, `SELECT type, value FROM gateway_identifiers WHERE gateway_id = ? ORDER BY rowid`, g.ID)
	if err != nil {
		return g, err
	}
	defer rows.Close()
	g.Identifiers = []Identifier{}
	for rows.Next() {
		var i Identifier
		var t string
		if err := rows.Scan(&t, &i.Value); err != nil {
			return g, err
		}
		i.Type = IdentifierType(t)
		g.Identifiers = append(g.Identifiers, i)
	}
	return g, rows.Err()
}

// GetGateway returns one gateway.
func (s *SQLite) GetGateway(ctx context.Context, id string) (Gateway, error) {
	r, err := s.reader()
	if err != nil {
		return Gateway{}, err
	}
	g, err := s.loadGateway(ctx, r, r.QueryRowContext(ctx, `SELECT `+gatewayCols+` FROM gateways WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Gateway{}, fmt.Errorf("%w: gateway %s", ErrNotFound, truncate(id, 64))
	}
	return g, s.wrap(err)
}

// ListGateways returns every gateway ordered by id.
func (s *SQLite) ListGateways(ctx context.Context) ([]Gateway, error) {
	r, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT id FROM gateways ORDER BY id`)
	if err != nil {
		return nil, s.wrap(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, s.wrap(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	out := make([]Gateway, 0, len(ids))
	for _, id := range ids {
		g, err := s.GetGateway(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// FindGatewayByIdentifier resolves a gateway by any identifier type with one
// indexed query. ErrNotFound when none matches, ErrAmbiguous when several
// do (a port, or a private address, is rarely unique on its own).
func (s *SQLite) FindGatewayByIdentifier(ctx context.Context, id Identifier) (Gateway, error) {
	n, err := NormalizeIdentifier(id)
	if err != nil {
		return Gateway{}, err
	}
	r, err := s.reader()
	if err != nil {
		return Gateway{}, err
	}
	rows, err := r.QueryContext(ctx, `SELECT gateway_id FROM gateway_identifiers WHERE type = ? AND value = ? LIMIT 2`,
		string(n.Type), n.Value)
	if err != nil {
		return Gateway{}, s.wrap(err)
	}
	var found []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return Gateway{}, s.wrap(err)
		}
		found = append(found, g)
	}
	rows.Close()
	switch len(found) {
	case 0:
		return Gateway{}, fmt.Errorf("%w: no gateway with identifier %s", ErrNotFound, truncate(n.String(), 128))
	case 1:
		return s.GetGateway(ctx, found[0])
	default:
		return Gateway{}, fmt.Errorf("%w: %s", ErrAmbiguous, truncate(n.String(), 128))
	}
}

// DeleteGateway removes a gateway and its identifiers.
func (s *SQLite) DeleteGateway(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM gateways WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: gateway %s", ErrNotFound, truncate(id, 64))
		}
		return nil
	})
	return s.wrap(err)
}

// ServesLAN reports whether the gateway declared the device's LAN: the
// device's DHCP domain equals the gateway's LAN domain, or its LAN address
// lies in one of the gateway's prefixes. Either may be empty/invalid.
func (g Gateway) ServesLAN(domain string, addr netip.Addr) bool {
	if domain != "" && g.LANDomain != "" &&
		strings.EqualFold(strings.TrimSuffix(domain, "."), g.LANDomain) {
		return true
	}
	if addr.IsValid() {
		for _, p := range g.LANPrefixes {
			if pp, err := netip.ParsePrefix(p); err == nil && pp.Contains(addr.Unmap()) {
				return true
			}
		}
	}
	return false
}
