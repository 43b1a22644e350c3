package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxPairingTTL bounds a pairing's life; pairings are for one session setup.
const MaxPairingTTL = 24 * time.Hour

const pairingCols = `session_id, device_uuid, gateway_id, console_id, expires_at, gateway_pub, console_pub,
	state, path, reason, outcome, created_at, updated_at`

func scanPairing(r rowScanner) (Pairing, error) {
	var p Pairing
	var exp, created, updated int64
	var state, path string
	err := r.Scan(&p.SessionID, &p.DeviceUUID, &p.GatewayID, &p.ConsoleID, &exp, &p.GatewayPublicKey,
		&p.ConsolePublicKey, &state, &path, &p.Reason, &p.Outcome, &created, &updated)
	p.ExpiresAt, p.CreatedAt, p.UpdatedAt = nt(exp), nt(created), nt(updated)
	p.State, p.Path = PairingState(state), SessionPath(path)
	return p, err
}

func validPath(p SessionPath) bool {
	return p == SessionDirect || p == SessionRelay || p == SessionClassic
}

func validPairingState(s PairingState) bool {
	switch s {
	case PairingCreated, PairingActive, PairingClosed, PairingFailed, PairingExpired:
		return true
	}
	return false
}

// CreatePairing stores a pairing and returns one fresh one-time token per
// requested role, in clear, this once.
func (s *SQLite) CreatePairing(ctx context.Context, np NewPairing, now time.Time) (Pairing, map[TokenRole]string, error) {
	dev, err := CanonicalUUID(np.DeviceUUID)
	if err != nil {
		return Pairing{}, nil, err
	}
	if np.TTL <= 0 || np.TTL > MaxPairingTTL {
		return Pairing{}, nil, fmt.Errorf("%w: pairing TTL must be in (0, %s]", ErrInvalid, MaxPairingTTL)
	}
	if np.ConsoleID == "" || len(np.ConsoleID) > maxShortText {
		return Pairing{}, nil, fmt.Errorf("%w: console id", ErrInvalid)
	}
	if np.Path == "" {
		np.Path = SessionDirect
	}
	if !validPath(np.Path) {
		return Pairing{}, nil, fmt.Errorf("%w: session path %q", ErrInvalid, truncate(string(np.Path), 32))
	}
	if np.GatewayID != "" {
		if err := checkGatewayID(np.GatewayID); err != nil {
			return Pairing{}, nil, err
		}
	} else if np.Path != SessionClassic {
		return Pairing{}, nil, fmt.Errorf("%w: a %s pairing needs a gateway", ErrInvalid, np.Path)
	}
	for _, k := range [][]byte{np.GatewayPublicKey, np.ConsolePublicKey} {
		if k != nil && len(k) != X25519KeyLen {
			return Pairing{}, nil, fmt.Errorf("%w: public keys must be %d bytes (X25519)", ErrInvalid, X25519KeyLen)
		}
	}
	if err := checkText("reason", np.Reason, maxShortText); err != nil {
		return Pairing{}, nil, err
	}
	if np.SessionID == "" {
		if np.SessionID, err = newID(s.rand, "ps-"); err != nil {
			return Pairing{}, nil, fmt.Errorf("registry: %w", err)
		}
	} else if err := checkGatewayID(np.SessionID); err != nil {
		return Pairing{}, nil, fmt.Errorf("%w: session id", ErrInvalid)
	}
	tokens := map[TokenRole]string{}
	for _, role := range np.Roles {
		switch role {
		case RoleDevice, RoleConsole, RoleGateway:
		default:
			return Pairing{}, nil, fmt.Errorf("%w: token role %q", ErrInvalid, truncate(string(role), 32))
		}
		if _, dup := tokens[role]; dup {
			return Pairing{}, nil, fmt.Errorf("%w: token role %q twice", ErrInvalid, role)
		}
		if tokens[role], err = newToken(s.rand); err != nil {
			return Pairing{}, nil, fmt.Errorf("registry: %w", err)
		}
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO pairings (session_id, device_uuid, gateway_id, console_id, expires_at,
			gateway_pub, console_pub, state, path, reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			np.SessionID, dev, np.GatewayID, np.ConsoleID, tn(now.Add(np.TTL)), np.GatewayPublicKey, np.ConsolePublicKey,
			string(PairingCreated), string(np.Path), np.Reason, tn(now), tn(now))
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: session %s", ErrExists, np.SessionID)
		}
		if err != nil {
			return err
		}
		for role, tok := range tokens {
			if _, err := tx.ExecContext(ctx, `INSERT INTO pairing_tokens (token_hash, session_id, role) VALUES (?, ?, ?)`,
				tokenHash(tok), np.SessionID, string(role)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Pairing{}, nil, s.wrap(err)
	}
	p, err := s.GetPairing(ctx, np.SessionID)
	return p, tokens, err
}

// GetPairing returns one pairing.
func (s *SQLite) GetPairing(ctx context.Context, sessionID string) (Pairing, error) {
	r, err := s.reader()
	if err != nil {
		return Pairing{}, err
	}
	p, err := scanPairing(r.QueryRowContext(ctx, `SELECT `+pairingCols+` FROM pairings WHERE session_id = ?`, sessionID))
	if errors.Is(err, sql.ErrNoRows) {
		return Pairing{}, fmt.Errorf("%w: pairing %s", ErrNotFound, truncate(sessionID, 64))
	}
	return p, s.wrap(err)
}

// ListPairings returns pairings, newest first.
func (s *SQLite) ListPairings(ctx context.Context, f PairingFilter) ([]Pairing, error) {
	r, err := s.reader()
	if err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if f.DeviceUUID != "" {
		id, err := CanonicalUUID(f.DeviceUUID)
		if err != nil {
			return nil, err
		}
		where, args = append(where, "device_uuid = ?"), append(args, id)
	}
	if f.GatewayID != "" {
		where, args = append(where, "gateway_id = ?"), append(args, f.GatewayID)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	q := `SELECT ` + pairingCols + ` FROM pairings`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, session_id LIMIT ?`
	rows, err := r.QueryContext(ctx, q, append(args, limitOf(f.Limit))...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []Pairing
	for rows.Next() {
		p, err := scanPairing(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, p)
	}
	return out, s.wrap(rows.Err())
}

// ConsumeToken checks and spends a one-time pairing token atomically: of
// any number of concurrent calls with the same token, exactly one succeeds.
// A refusal is a *TokenError naming the reason. sessionID may be "" when
// the presenter does not know it (the token alone identifies the pairing).
func (s *SQLite) ConsumeToken(ctx context.Context, sessionID string, role TokenRole, token string, now time.Time) (Pairing, error) {
	if token == "" || len(token) > 256 {
		return Pairing{}, &TokenError{Reason: TokenUnknown}
	}
	var p Pairing
	err := s.write(ctx, func(tx *sql.Tx) error {
		var sid, r string
		var used int64
		err := tx.QueryRowContext(ctx, `SELECT session_id, role, used_at FROM pairing_tokens WHERE token_hash = ?`,
			tokenHash(token)).Scan(&sid, &r, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return &TokenError{Reason: TokenUnknown}
		}
		if err != nil {
			return err
		}
		if sessionID != "" && sid != sessionID {
			return &TokenError{Reason: TokenWrongSession}
		}
		if TokenRole(r) != role {
			return &TokenError{Reason: TokenWrongRole}
		}
		if used != 0 {
			return &TokenError{Reason: TokenReused}
		}
		p, err = scanPairing(tx.QueryRowContext(ctx, `SELECT `+pairingCols+` FROM pairings WHERE session_id = ?`, sid))
		if err != nil {
			return err
		}
		if !now.Before(p.ExpiresAt) {
			return &TokenError{Reason: TokenExpired}
		}
		if p.State != PairingCreated && p.State != PairingActive {
			return &TokenError{Reason: TokenClosed}
		}
		// The used_at = 0 guard makes the spend itself atomic even if this
		// ever runs outside a serialised writer.
		res, err := tx.ExecContext(ctx, `UPDATE pairing_tokens SET used_at = ? WHERE token_hash = ? AND used_at = 0`,
			tn(now), tokenHash(token))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return &TokenError{Reason: TokenReused}
		}
		return nil
	})
	if err != nil {
		return Pairing{}, s.wrap(err)
	}
	return p, nil
}

// UpdatePairing changes state, path, reason or outcome.
func (s *SQLite) UpdatePairing(ctx context.Context, sessionID string, u PairingUpdate, now time.Time) (Pairing, error) {
	sets := []string{"updated_at = ?"}
	args := []any{tn(now)}
	if u.State != "" {
		if !validPairingState(u.State) {
			return Pairing{}, fmt.Errorf("%w: pairing state %q", ErrInvalid, truncate(string(u.State), 32))
		}
		sets, args = append(sets, "state = ?"), append(args, string(u.State))
	}
	if u.Path != "" {
		if !validPath(u.Path) {
			return Pairing{}, fmt.Errorf("%w: session path %q", ErrInvalid, truncate(string(u.Path), 32))
		}
		sets, args = append(sets, "path = ?"), append(args, string(u.Path))
	}
	for _, f := range []struct{ col, v string }{{"reason", u.Reason}, {"outcome", u.Outcome}} {
		if f.v == "" {
			continue
		}
		if err := checkText(f.col, f.v, maxShortText); err != nil {
			return Pairing{}, err
		}
		sets, args = append(sets, f.col+" = ?"), append(args, f.v)
	}
	var p Pairing
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = scanPairing(tx.QueryRowContext(ctx, `UPDATE pairings SET `+strings.Join(sets, ", ")+
			` WHERE session_id = ? RETURNING `+pairingCols, append(args, sessionID)...))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: pairing %s", ErrNotFound, truncate(sessionID, 64))
		}
		return err
	})
	return p, s.wrap(err)
}

// ExpirePairings marks created/active pairings past their expiry as expired
// and returns how many changed.
func (s *SQLite) ExpirePairings(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE pairings SET state = ?, updated_at = ?
			WHERE state IN (?, ?) AND expires_at <= ?`,
			string(PairingExpired), tn(now), string(PairingCreated), string(PairingActive), tn(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), s.wrap(err)
}
