package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Bounds on what a device record may hold, so a misbehaving peer cannot
// grow a row without limit.
const (
	MaxUserLen       = 256
	MaxPasswordLen   = 1024
	MaxBoundPorts    = 64
	MaxGatewayIDs    = 32
	MaxFailoverBytes = 64 // the PROTOCOL_VERSION reserved area (reference §4.4)
	maxShortText     = 512
)

func checkText(field, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, field, max)
	}
	return nil
}

const deviceCols = `uuid, cira_user, amt_user, state, last_seen, last_trigger, last_trigger_at,
	bound_ports, failover_raw, failover_summary, gateway_ids, conn_path, via_gateway, remote_addr,
	connected_at, created_at, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanDevice(r rowScanner) (Device, error) {
	var d Device
	var state, path, ports, gwids string
	var lastSeen, trigAt, connAt, created, updated int64
	var raw []byte
	err := r.Scan(&d.UUID, &d.CIRAUser, &d.AMTUser, &state, &lastSeen, &d.LastTrigger, &trigAt,
		&ports, &raw, &d.Failover.Summary, &gwids, &path, &d.ViaGateway, &d.RemoteAddr,
		&connAt, &created, &updated)
	if err != nil {
		return d, err
	}
	d.State, d.Path = DeviceState(state), ConnPath(path)
	d.LastSeen, d.LastTriggerAt, d.ConnectedAt = nt(lastSeen), nt(trigAt), nt(connAt)
	d.CreatedAt, d.UpdatedAt = nt(created), nt(updated)
	if len(raw) > 0 {
		d.Failover.Raw = raw
	}
	if err := json.Unmarshal([]byte(ports), &d.BoundPorts); err != nil {
		return d, fmt.Errorf("registry: device %s: bound_ports: %w", d.UUID, err)
	}
	if err := json.Unmarshal([]byte(gwids), &d.GatewayIDs); err != nil {
		return d, fmt.Errorf("registry: device %s: gateway_ids: %w", d.UUID, err)
	}
	if d.BoundPorts == nil {
		d.BoundPorts = []BoundPort{}
	}
	if d.GatewayIDs == nil {
		d.GatewayIDs = []Identifier{}
	}
	return d, nil
}

// EnrolDevice creates a device. An existing UUID returns ErrExists.
func (s *SQLite) EnrolDevice(ctx context.Context, e DeviceEnrolment, now time.Time) (Device, error) {
	id, err := CanonicalUUID(e.UUID)
	if err != nil {
		return Device{}, err
	}
	if e.AMTUser == "" {
		e.AMTUser = "admin"
	}
	if e.CIRAUser == "" {
		return Device{}, fmt.Errorf("%w: CIRA user is required", ErrInvalid)
	}
	if e.CIRAPassword == "" {
		return Device{}, fmt.Errorf("%w: CIRA password is required", ErrInvalid)
	}
	for _, c := range []struct {
		f, v string
		m    int
	}{{"CIRA user", e.CIRAUser, MaxUserLen}, {"AMT user", e.AMTUser, MaxUserLen},
		{"CIRA password", e.CIRAPassword, MaxPasswordLen}, {"AMT password", e.AMTPassword, MaxPasswordLen}} {
		if err := checkText(c.f, c.v, c.m); err != nil {
			return Device{}, err
		}
	}
	// Hash and seal before taking the write lock (PBKDF2, when chosen, is slow).
	hash, err := s.pw.hash(e.CIRAPassword)
	if err != nil {
		return Device{}, fmt.Errorf("registry: %w", err)
	}
	sealed, err := s.seal.seal(e.AMTPassword, "amt:"+id)
	if err != nil {
		return Device{}, fmt.Errorf("registry: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO devices (uuid, cira_user, cira_pass_hash, amt_user, amt_pass_sealed,
			state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			id, e.CIRAUser, hash, e.AMTUser, sealed, string(StateEnrolled), tn(now), tn(now))
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: device %s", ErrExists, id)
		}
		return err
	})
	if err != nil {
		return Device{}, s.wrap(err)
	}
	s.cache.drop(id)
	return s.GetDevice(ctx, id)
}

// GetDevice returns one device.
func (s *SQLite) GetDevice(ctx context.Context, uuid string) (Device, error) {
	id, err := CanonicalUUID(uuid)
	if err != nil {
		return Device{}, err
	}
	r, err := s.reader()
	if err != nil {
		return Device{}, err
	}
	d, err := scanDevice(s.queryRow(ctx, r, `SELECT `+deviceCols+` FROM devices WHERE uuid = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, fmt.Errorf("%w: device %s", ErrNotFound, id)
	}
	return d, s.wrap(err)
}

// DeviceExists says whether a device is enrolled: the check a CIRA
// connection's PROTOCOL_VERSION needs, without reading the whole record.
func (s *SQLite) DeviceExists(ctx context.Context, uuid string) (bool, error) {
	id, err := CanonicalUUID(uuid)
	if err != nil {
		return false, err
	}
	r, err := s.reader()
	if err != nil {
		return false, err
	}
	var one int
	err = s.queryRow(ctx, r, `SELECT 1 FROM devices WHERE uuid = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, s.wrap(err)
}

// ListDevices returns up to p.Limit devices ordered by UUID after the
// cursor p.After, and the cursor for the next page ("" at the end). The
// order is stable under concurrent inserts: keyset pagination never skips
// or repeats a record that existed for the whole walk.
func (s *SQLite) ListDevices(ctx context.Context, p Page) ([]Device, string, error) {
	r, err := s.reader()
	if err != nil {
		return nil, "", err
	}
	lim := limitOf(p.Limit)
	rows, err := r.QueryContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE uuid > ? ORDER BY uuid LIMIT ?`,
		strings.ToLower(p.After), lim+1)
	if err != nil {
		return nil, "", s.wrap(err)
	}
	defer rows.Close()
	out := make([]Device, 0, lim)
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, "", s.wrap(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.wrap(err)
	}
	next := ""
	if len(out) > lim {
		out = out[:lim]
		next = out[lim-1].UUID
	}
	return out, next, nil
}

// VerifyCIRA checks APF USERAUTH credentials. The user name comparison and
// the password hash comparison are both constant-time, and an unknown
// device still pays one PBKDF2 so timing does not reveal enrolment.
func (s *SQLite) VerifyCIRA(ctx context.Context, uuid, user, password string) error {
	id, err := CanonicalUUID(uuid)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnknownDevice, err)
	}
	if len(user) > MaxUserLen || len(password) > MaxPasswordLen {
		return ErrBadCredentials
	}
	r, err := s.reader()
	if err != nil {
		return err
	}
	var storedUser, stored string
	err = s.queryRow(ctx, r, `SELECT cira_user, cira_pass_hash FROM devices WHERE uuid = ?`, id).Scan(&storedUser, &stored)
	if errors.Is(err, sql.ErrNoRows) {
		_, _ = s.pw.verify(s.pw.dummy(), password)
		return fmt.Errorf("%w: device %s", ErrUnknownDevice, id)
	}
	if err != nil {
		return s.wrap(err)
	}
	userOK := constEq(storedUser, user)
	if userOK && s.cache.check(id, stored, user, password) {
		return nil
	}
	ok, err := s.pw.verify(stored, password)
	if err != nil {
		return fmt.Errorf("registry: device %s: %w", id, err)
	}
	if !ok || !userOK {
		return fmt.Errorf("%w: device %s", ErrBadCredentials, id)
	}
	s.cache.put(id, stored, user, password)
	return nil
}

// AMTCredentials opens the sealed AMT password.
func (s *SQLite) AMTCredentials(ctx context.Context, uuid string) (string, string, error) {
	id, err := CanonicalUUID(uuid)
	if err != nil {
		return "", "", err
	}
	r, err := s.reader()
	if err != nil {
		return "", "", err
	}
	var user string
	var sealed []byte
	err = r.QueryRowContext(ctx, `SELECT amt_user, amt_pass_sealed FROM devices WHERE uuid = ?`, id).Scan(&user, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("%w: device %s", ErrNotFound, id)
	}
	if err != nil {
		return "", "", s.wrap(err)
	}
	pass, err := s.seal.open(sealed, "amt:"+id)
	if err != nil {
		return "", "", fmt.Errorf("device %s: %w", id, err)
	}
	return user, pass, nil
}

// UpdateCredentials changes a device's CIRA and/or AMT credentials.
func (s *SQLite) UpdateCredentials(ctx context.Context, uuid string, c CredentialUpdate, now time.Time) error {
	id, err := CanonicalUUID(uuid)
	if err != nil {
		return err
	}
	var sets []string
	var args []any
	if c.CIRAUser != nil {
		if *c.CIRAUser == "" || len(*c.CIRAUser) > MaxUserLen {
			return fmt.Errorf("%w: CIRA user", ErrInvalid)
		}
		sets, args = append(sets, "cira_user = ?"), append(args, *c.CIRAUser)
	}
	if c.CIRAPassword != nil {
		if *c.CIRAPassword == "" || len(*c.CIRAPassword) > MaxPasswordLen {
			return fmt.Errorf("%w: CIRA password", ErrInvalid)
		}
		h, err := s.pw.hash(*c.CIRAPassword)
		if err != nil {
			return fmt.Errorf("registry: %w", err)
		}
		sets, args = append(sets, "cira_pass_hash = ?"), append(args, h)
	}
	if c.AMTUser != nil {
		if *c.AMTUser == "" || len(*c.AMTUser) > MaxUserLen {
			return fmt.Errorf("%w: AMT user", ErrInvalid)
		}
		sets, args = append(sets, "amt_user = ?"), append(args, *c.AMTUser)
	}
	if c.AMTPassword != nil {
		if len(*c.AMTPassword) > MaxPasswordLen {
			return fmt.Errorf("%w: AMT password", ErrInvalid)
		}
		sealed, err := s.seal.seal(*c.AMTPassword, "amt:"+id)
		if err != nil {
			return fmt.Errorf("registry: %w", err)
		}
		sets, args = append(sets, "amt_pass_sealed = ?"), append(args, sealed)
	}
	if len(sets) == 0 {
		return nil
	}
	sets, args = append(sets, "updated_at = ?"), append(args, tn(now), id)
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET `+strings.Join(sets, ", ")+` WHERE uuid = ?`, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: device %s", ErrNotFound, id)
		}
		return nil
	})
	s.cache.drop(id)
	return s.wrap(err)
}

// UpdateConnection records a connection event and returns the new record.
func (s *SQLite) UpdateConnection(ctx context.Context, uuid string, u ConnectionUpdate) (Device, error) {
	id, q, args, err := connectionSQL(uuid, u)
	if err != nil {
		return Device{}, err
	}
	var d Device
	err = s.write(ctx, func(tx *sql.Tx) error {
		// RETURNING gives the updated row in the same statement, inside the
		// same transaction: no read-after-write gap.
		var err error
		d, err = scanDevice(s.txQueryRow(ctx, tx, q+` RETURNING `+deviceCols, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: device %s", ErrNotFound, id)
		}
		return err
	})
	return d, s.wrap(err)
}

// connectionSQL validates u and builds its UPDATE statement (without
// RETURNING) and arguments; id is the canonical UUID.
func connectionSQL(uuid string, u ConnectionUpdate) (id, query string, args []any, err error) {
	id, err = CanonicalUUID(uuid)
	if err != nil {
		return "", "", nil, err
	}
	if u.Now.IsZero() {
		return "", "", nil, fmt.Errorf("%w: ConnectionUpdate.Now is required", ErrInvalid)
	}
	sets := []string{"last_seen = ?", "updated_at = ?"}
	args = []any{tn(u.Now), tn(u.Now)}
	switch u.State {
	case "":
	case StateConnected:
		sets, args = append(sets, "state = ?", "connected_at = ?"), append(args, string(u.State), tn(u.Now))
	case StateDisconnected, StateEnrolled:
		sets, args = append(sets, "state = ?"), append(args, string(u.State))
	default:
		return "", "", nil, fmt.Errorf("%w: device state %q", ErrInvalid, truncate(string(u.State), 32))
	}
	if u.Trigger != nil {
		if err := checkText("trigger", *u.Trigger, maxShortText); err != nil {
			return "", "", nil, err
		}
		sets, args = append(sets, "last_trigger = ?", "last_trigger_at = ?"), append(args, *u.Trigger, tn(u.Now))
	}
	if u.BoundPorts != nil {
		if len(*u.BoundPorts) > MaxBoundPorts {
			return "", "", nil, fmt.Errorf("%w: more than %d bound ports", ErrInvalid, MaxBoundPorts)
		}
		for _, p := range *u.BoundPorts {
			if err := checkText("bound address", p.Address, maxShortText); err != nil {
				return "", "", nil, err
			}
		}
		ports := *u.BoundPorts
		if ports == nil {
			ports = []BoundPort{}
		}
		b, _ := json.Marshal(ports)
		sets, args = append(sets, "bound_ports = ?"), append(args, string(b))
	}
	if u.Failover != nil {
		if len(u.Failover.Raw) > MaxFailoverBytes {
			return "", "", nil, fmt.Errorf("%w: failover field longer than %d bytes", ErrInvalid, MaxFailoverBytes)
		}
		if err := checkText("failover summary", u.Failover.Summary, maxShortText); err != nil {
			return "", "", nil, err
		}
		var raw any
		if u.Failover.Raw != nil {
			raw = append([]byte(nil), u.Failover.Raw...)
		}
		sets, args = append(sets, "failover_raw = ?", "failover_summary = ?"), append(args, raw, u.Failover.Summary)
	}
	if u.GatewayIDs != nil {
		if len(*u.GatewayIDs) > MaxGatewayIDs {
			return "", "", nil, fmt.Errorf("%w: more than %d gateway identifiers", ErrInvalid, MaxGatewayIDs)
		}
		ids, err := normalizeIdentifiers(*u.GatewayIDs)
		if err != nil {
			return "", "", nil, err
		}
		b, _ := json.Marshal(ids)
		sets, args = append(sets, "gateway_ids = ?"), append(args, string(b))
	}
	if u.Path != nil {
		switch *u.Path {
		case PathNone, PathDirect, PathGateway:
		default:
			return "", "", nil, fmt.Errorf("%w: connection path %q", ErrInvalid, truncate(string(*u.Path), 32))
		}
		sets, args = append(sets, "conn_path = ?"), append(args, string(*u.Path))
	}
	if u.ViaGateway != nil {
		if err := checkText("via gateway", *u.ViaGateway, maxShortText); err != nil {
			return "", "", nil, err
		}
		sets, args = append(sets, "via_gateway = ?"), append(args, *u.ViaGateway)
	}
	if u.RemoteAddr != nil {
		if err := checkText("remote address", *u.RemoteAddr, maxShortText); err != nil {
			return "", "", nil, err
		}
		sets, args = append(sets, "remote_addr = ?"), append(args, *u.RemoteAddr)
	}
	args = append(args, id)
	return id, `UPDATE devices SET ` + strings.Join(sets, ", ") + ` WHERE uuid = ?`, args, nil
}

// DeleteDevice removes a device (its audit records stay).
func (s *SQLite) DeleteDevice(ctx context.Context, uuid string) error {
	id, err := CanonicalUUID(uuid)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM devices WHERE uuid = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: device %s", ErrNotFound, id)
		}
		return nil
	})
	s.cache.drop(id)
	return s.wrap(err)
}

func constEq(a, b string) bool {
	// subtle.ConstantTimeCompare returns early on length mismatch; hashing
	// first makes the comparison independent of both lengths.
	ha, hb := tokenHash(a), tokenHash(b)
	var v byte
	for i := range ha {
		v |= ha[i] ^ hb[i]
	}
	return v == 0
}
