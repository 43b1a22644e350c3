package registry

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxCachedStmts bounds the statement cache. The hot statements are a
// handful of fixed texts; UpdateConnection's SET list varies with the
// fields given, which stays within a few dozen texts in practice. Past the
// bound, statements are prepared per call as before.
const maxCachedStmts = 256

// stmtCache keeps prepared statements per database handle and query text.
// Preparing (SQLite's parser and planner) was about a third of a
// registration's registry cost during a reconnect storm; a prepared
// statement is compiled once per connection and reused.
type stmtCache struct {
	mu     sync.Mutex
	m      map[stmtKey]*sql.Stmt
	closed bool
	// wanted holds writer statements met inside a transaction before they
	// were cached. The writer pool has one connection, which the
	// transaction holds, so preparing there would wait for itself; they
	// are prepared before the next transaction begins.
	wanted map[stmtKey]struct{}
}

type stmtKey struct {
	db *sql.DB
	q  string
}

// get returns the cached statement for q on db, preparing it on first use;
// nil when the cache is full, closed or preparing failed (the caller then
// runs q unprepared and meets the same error there, with its context).
func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) *sql.Stmt {
	k := stmtKey{db, q}
	c.mu.Lock()
	st, ok := c.m[k]
	full := c.closed || len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[k]; ok || c.closed {
		// Lost a race with another caller, or closing: keep one copy.
		_ = st.Close()
		return prev
	}
	if c.m == nil {
		c.m = map[stmtKey]*sql.Stmt{}
	}
	c.m[k] = st
	return st
}

// lookup returns the cached statement without preparing; a miss is
// remembered for prepareWanted.
func (c *stmtCache) lookup(db *sql.DB, q string) *sql.Stmt {
	k := stmtKey{db, q}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[k]
	if !ok && !c.closed && len(c.m)+len(c.wanted) < maxCachedStmts {
		if c.wanted == nil {
			c.wanted = map[stmtKey]struct{}{}
		}
		c.wanted[k] = struct{}{}
	}
	return st
}

// prepareWanted prepares the statements lookup missed. It must not run
// inside a transaction of the same pool.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	keys := make([]stmtKey, 0, len(c.wanted))
	for k := range c.wanted {
		keys = append(keys, k)
	}
	c.wanted = nil
	c.mu.Unlock()
	for _, k := range keys {
		c.get(ctx, k.db, k.q)
	}
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for k, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, k)
	}
	return errors.Join(errs...)
}

// queryRow runs q on db as a cached prepared statement.
func (s *SQLite) queryRow(ctx context.Context, db *sql.DB, q string, args ...any) *sql.Row {
	if st := s.stmts.get(ctx, db, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.QueryRowContext(ctx, q, args...)
}

// txExec runs q inside tx with the writer's cached prepared statement (from
// the second time on: see stmtCache.wanted).
func (s *SQLite) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.stmts.lookup(s.w, q); st != nil {
		// Bound to tx, the statement reuses its compiled form on the
		// writer's single connection; it is released with the transaction.
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// txQueryRow is txExec for a statement that returns one row.
func (s *SQLite) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := s.stmts.lookup(s.w, q); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}
