package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Write is one change ApplyWrites can commit together with others: a
// device's connection update (UUID and Connection) or an audit record
// (Audit). Exactly one of Connection and Audit is set.
type Write struct {
	UUID       string
	Connection *ConnectionUpdate
	Audit      *AuditRecord
}

// MaxBatch bounds the writes ApplyWrites commits in one transaction, so one
// commit never holds SQLite's write lock for long.
const MaxBatch = 512

// ApplyWrites applies ws in order and returns each write's outcome. The
// writes share transactions of up to MaxBatch: a reconnect storm's
// thousands of "connected" updates and audit records cost one commit per
// batch instead of one each. A write the store refuses (invalid, unknown
// device: ErrNotFound) fails alone; when a transaction fails as a whole,
// its writes are retried one per transaction, so one bad write never takes
// the others with it.
func (s *SQLite) ApplyWrites(ctx context.Context, ws []Write) []error {
	errs := make([]error, len(ws))
	for lo := 0; lo < len(ws); lo += MaxBatch {
		hi := min(lo+MaxBatch, len(ws))
		s.applyBatch(ctx, ws[lo:hi], errs[lo:hi])
	}
	return errs
}

type batchOp struct {
	id    string // device UUID for a connection update
	query string
	args  []any
}

func (s *SQLite) applyBatch(ctx context.Context, ws []Write, errs []error) {
	ops := make([]*batchOp, len(ws))
	for i, w := range ws {
		ops[i], errs[i] = prepareWrite(w)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for i, op := range ops {
			if op == nil {
				continue
			}
			errs[i] = s.execOp(ctx, tx, op)
			if errs[i] != nil && !errors.Is(errs[i], ErrNotFound) {
				return errs[i]
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	if errors.Is(s.wrap(err), ErrClosed) || ctx.Err() != nil {
		for i, op := range ops {
			if op != nil {
				errs[i] = s.wrap(err)
			}
		}
		return
	}
	for i, op := range ops {
		if op == nil {
			continue
		}
		errs[i] = s.wrap(s.write(ctx, func(tx *sql.Tx) error { return s.execOp(ctx, tx, op) }))
	}
}

func prepareWrite(w Write) (*batchOp, error) {
	switch {
	case w.Connection != nil && w.Audit == nil:
		id, q, args, err := connectionSQL(w.UUID, *w.Connection)
		if err != nil {
			return nil, err
		}
		return &batchOp{id: id, query: q, args: args}, nil
	case w.Audit != nil && w.Connection == nil:
		args, err := auditArgs(*w.Audit)
		if err != nil {
			return nil, err
		}
		return &batchOp{query: auditInsert, args: args}, nil
	}
	return nil, fmt.Errorf("%w: a batched write needs exactly one of a connection update and an audit record", ErrInvalid)
}

func (s *SQLite) execOp(ctx context.Context, tx *sql.Tx, op *batchOp) error {
	res, err := s.txExec(ctx, tx, op.query, op.args...)
	if err != nil {
		return err
	}
	if op.id != "" {
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("%w: device %s", ErrNotFound, op.id)
		}
	}
	return nil
}
