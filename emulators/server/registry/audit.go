package registry

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// MaxAuditDetails bounds one record's details JSON.
const MaxAuditDetails = 16 << 10

// Redacted replaces secret values in audit details.
const Redacted = "[redacted]"

// secretKey reports whether a details key names a secret. Public keys are
// not secrets and stay readable.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	if strings.Contains(k, "public") {
		return false
	}
	for _, w := range []string{"password", "passwd", "secret", "token", "key", "authorization", "cookie", "digest"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if secretKey(k) {
				t[k] = Redacted
			} else {
				t[k] = redact(x)
			}
		}
	case []any:
		for i := range t {
			t[i] = redact(t[i])
		}
	}
	return v
}

func sanitizeDetails(d json.RawMessage) (string, error) {
	if len(bytes.TrimSpace(d)) == 0 {
		return "{}", nil
	}
	if len(d) > MaxAuditDetails {
		return "", fmt.Errorf("%w: audit details longer than %d bytes", ErrInvalid, MaxAuditDetails)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(d))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("%w: audit details are not JSON: %v", ErrInvalid, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return "", fmt.Errorf("%w: audit details must be a JSON object", ErrInvalid)
	}
	b, err := json.Marshal(redact(v))
	return string(b), err
}

// AppendAudit adds a record and returns its id. Records cannot be changed
// or removed afterwards (the table's triggers refuse UPDATE and DELETE).
// Values under secret-looking keys in Details are replaced by Redacted.
func (s *SQLite) AppendAudit(ctx context.Context, r AuditRecord) (int64, error) {
	args, err := auditArgs(r)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := s.txExec(ctx, tx, auditInsert, args...)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, s.wrap(err)
}

const auditInsert = `INSERT INTO audit_log (time, actor, action, subject, outcome, reason, details)
	VALUES (?, ?, ?, ?, ?, ?, ?)`

// auditArgs validates r and returns auditInsert's arguments.
func auditArgs(r AuditRecord) ([]any, error) {
	if r.Time.IsZero() {
		return nil, fmt.Errorf("%w: audit record needs a time", ErrInvalid)
	}
	if r.Action == "" {
		return nil, fmt.Errorf("%w: audit record needs an action", ErrInvalid)
	}
	for _, f := range []struct{ n, v string }{{"actor", r.Actor}, {"action", r.Action}, {"subject", r.Subject},
		{"outcome", r.Outcome}, {"reason", r.Reason}} {
		if err := checkText("audit "+f.n, f.v, maxShortText); err != nil {
			return nil, err
		}
	}
	details, err := sanitizeDetails(r.Details)
	if err != nil {
		return nil, err
	}
	return []any{tn(r.Time), r.Actor, r.Action, r.Subject, r.Outcome, r.Reason, details}, nil
}

// QueryAudit returns matching records in append order; page with AfterID.
func (s *SQLite) QueryAudit(ctx context.Context, q AuditQuery) ([]AuditRecord, error) {
	r, err := s.reader()
	if err != nil {
		return nil, err
	}
	where := []string{"id > ?"}
	args := []any{q.AfterID}
	if q.Subject != "" {
		where, args = append(where, "subject = ?"), append(args, q.Subject)
	}
	if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, tn(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, "time < ?"), append(args, tn(q.Until))
	}
	rows, err := r.QueryContext(ctx, `SELECT id, time, actor, action, subject, outcome, reason, details FROM audit_log
		WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, append(args, limitOf(q.Limit))...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var a AuditRecord
		var t int64
		var d string
		if err := rows.Scan(&a.ID, &t, &a.Actor, &a.Action, &a.Subject, &a.Outcome, &a.Reason, &d); err != nil {
			return nil, s.wrap(err)
		}
		a.Time, a.Details = nt(t), json.RawMessage(d)
		out = append(out, a)
	}
	return out, s.wrap(rows.Err())
}
