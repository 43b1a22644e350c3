package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MaxHelpMessage bounds the user's free-text message.
const MaxHelpMessage = 1024

const helpCols = `id, device_uuid, message, state, created_at, expires_at, accepted_at, accepted_by, session_id`

func scanHelp(r rowScanner) (HelpRequest, error) {
	var h HelpRequest
	var state string
	var c, e, a int64
	err := r.Scan(&h.ID, &h.DeviceUUID, &h.Message, &state, &c, &e, &a, &h.AcceptedBy, &h.SessionID)
	h.State, h.CreatedAt, h.ExpiresAt, h.AcceptedAt = HelpState(state), nt(c), nt(e), nt(a)
	return h, err
}

func expireHelp(ctx context.Context, tx *sql.Tx, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE help_requests SET state = ? WHERE state = ? AND expires_at <= ?`,
		string(HelpExpired), string(HelpOpen), tn(now))
	return err
}

// CreateHelpRequest queues a help request for a device. If the device
// already has an open one, that one is returned (pressing the button twice
// does not queue twice).
func (s *SQLite) CreateHelpRequest(ctx context.Context, deviceUUID, message string, now time.Time, ttl time.Duration) (HelpRequest, error) {
	dev, err := CanonicalUUID(deviceUUID)
	if err != nil {
		return HelpRequest{}, err
	}
	if ttl <= 0 {
		return HelpRequest{}, fmt.Errorf("%w: help request TTL must be positive", ErrInvalid)
	}
	if err := checkText("help message", message, MaxHelpMessage); err != nil {
		return HelpRequest{}, err
	}
	id, err := newID(s.rand, "hr-")
	if err != nil {
		return HelpRequest{}, fmt.Errorf("registry: %w", err)
	}
	var h HelpRequest
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := expireHelp(ctx, tx, now); err != nil {
			return err
		}
		h, err = scanHelp(tx.QueryRowContext(ctx, `SELECT `+helpCols+` FROM help_requests WHERE device_uuid = ? AND state = ?`,
			dev, string(HelpOpen)))
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		h, err = scanHelp(tx.QueryRowContext(ctx, `INSERT INTO help_requests (id, device_uuid, message, state, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING `+helpCols, id, dev, message, string(HelpOpen), tn(now), tn(now.Add(ttl))))
		return err
	})
	return h, s.wrap(err)
}

// ListHelpRequests returns requests in a state (HelpAny for all), oldest
// first, after expiring the open ones whose time has passed.
func (s *SQLite) ListHelpRequests(ctx context.Context, state HelpState, now time.Time) ([]HelpRequest, error) {
	switch state {
	case HelpAny, HelpOpen, HelpAccepted, HelpExpired:
	default:
		return nil, fmt.Errorf("%w: help state %q", ErrInvalid, truncate(string(state), 32))
	}
	if err := s.write(ctx, func(tx *sql.Tx) error { return expireHelp(ctx, tx, now) }); err != nil {
		return nil, s.wrap(err)
	}
	r, err := s.reader()
	if err != nil {
		return nil, err
	}
	q, args := `SELECT `+helpCols+` FROM help_requests`, []any{}
	if state != HelpAny {
		q, args = q+` WHERE state = ?`, append(args, string(state))
	}
	rows, err := r.QueryContext(ctx, q+` ORDER BY created_at, id LIMIT ?`, append(args, MaxPageLimit)...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []HelpRequest
	for rows.Next() {
		h, err := scanHelp(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, h)
	}
	return out, s.wrap(rows.Err())
}

// GetHelpRequest returns one request.
func (s *SQLite) GetHelpRequest(ctx context.Context, id string) (HelpRequest, error) {
	r, err := s.reader()
	if err != nil {
		return HelpRequest{}, err
	}
	h, err := scanHelp(r.QueryRowContext(ctx, `SELECT `+helpCols+` FROM help_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return HelpRequest{}, fmt.Errorf("%w: help request %s", ErrNotFound, truncate(id, 64))
	}
	return h, s.wrap(err)
}

// AcceptHelpRequest moves an open request to accepted for consoleID. When
// consoles race, exactly one wins; the others get ErrConflict naming who
// accepted it. An expired request returns ErrConflict too.
func (s *SQLite) AcceptHelpRequest(ctx context.Context, id, consoleID string, now time.Time) (HelpRequest, error) {
	if consoleID == "" || len(consoleID) > maxShortText {
		return HelpRequest{}, fmt.Errorf("%w: console id", ErrInvalid)
	}
	var h HelpRequest
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := expireHelp(ctx, tx, now); err != nil {
			return err
		}
		var err error
		h, err = scanHelp(tx.QueryRowContext(ctx, `UPDATE help_requests SET state = ?, accepted_at = ?, accepted_by = ?
			WHERE id = ? AND state = ? RETURNING `+helpCols, string(HelpAccepted), tn(now), consoleID, id, string(HelpOpen)))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		cur, err := scanHelp(tx.QueryRowContext(ctx, `SELECT `+helpCols+` FROM help_requests WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: help request %s", ErrNotFound, truncate(id, 64))
		}
		if err != nil {
			return err
		}
		if cur.State == HelpAccepted {
			return fmt.Errorf("%w: help request %s already accepted by %s", ErrConflict, id, cur.AcceptedBy)
		}
		return fmt.Errorf("%w: help request %s is %s", ErrConflict, id, cur.State)
	})
	return h, s.wrap(err)
}

// LinkHelpRequest records the pairing session created for an accepted
// request.
func (s *SQLite) LinkHelpRequest(ctx context.Context, id, sessionID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE help_requests SET session_id = ? WHERE id = ? AND state = ?`,
			sessionID, id, string(HelpAccepted))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: no accepted help request %s", ErrNotFound, truncate(id, 64))
		}
		return nil
	})
	return s.wrap(err)
}
