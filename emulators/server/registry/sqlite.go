package registry

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DBFile is the database file name inside the data directory.
const DBFile = "registry.db"

// Options configures Open.
type Options struct {
	// Dir is the data directory holding DBFile and KeyFile (created 0700).
	Dir string
	// PasswordScheme is how newly stored CIRA passwords are hashed
	// (SchemeHMAC when empty).
	PasswordScheme PasswordScheme
	// PasswordIterations is the PBKDF2 cost for SchemePBKDF2;
	// DefaultPasswordIterations when 0.
	PasswordIterations int
	// Readers is the size of the read connection pool (4 when 0). Writes go
	// through one connection.
	Readers int
	// BusyTimeout is how long SQLite waits on a lock held by another
	// process (10 s when 0).
	BusyTimeout time.Duration
	// SchemaVersion migrates only up to this version (0 = latest). Tests use
	// it to build databases of older versions.
	SchemaVersion int
	// Rand is the entropy source for salts, nonces, ids and tokens
	// (crypto/rand when nil).
	Rand io.Reader
	// NoVerifierCache makes every VerifyCIRA pay the full PBKDF2 cost (the
	// in-memory cache of recent successful logins is off).
	NoVerifierCache bool
}

// SQLite is the Store on embedded SQLite (modernc.org/sqlite, pure Go).
//
// Concurrency: SQLite allows one writer at a time. Rather than let many
// connections race for the write lock and spin on SQLITE_BUSY, all writes
// share a single connection (database/sql queues callers for it, honouring
// their contexts), and reads use a separate pool of query-only connections
// that, in WAL mode, never block on the writer.
type SQLite struct {
	w, r   *sql.DB
	seal   *sealer
	cache  *verifierCache
	rand   io.Reader
	pw     *passwords
	path   string
	closed atomic.Bool
	stmts  stmtCache
}

var _ Store = (*SQLite)(nil)

// Open opens (creating on first start) the registry in o.Dir and applies
// pending migrations.
func Open(ctx context.Context, o Options) (*SQLite, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: Options.Dir is required", ErrInvalid)
	}
	if strings.ContainsAny(o.Dir, "?#") {
		return nil, fmt.Errorf("%w: data directory must not contain '?' or '#'", ErrInvalid)
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 10 * time.Second
	}
	if o.SchemaVersion < 0 || o.SchemaVersion > LatestSchemaVersion {
		return nil, fmt.Errorf("%w: schema version %d (latest is %d)", ErrInvalid, o.SchemaVersion, LatestSchemaVersion)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	key, err := loadOrCreateKey(o.Dir, o.Rand)
	if err != nil {
		return nil, err
	}
	seal, err := newSealer(key, o.Rand)
	if err != nil {
		return nil, err
	}
	pw, err := newPasswords(o.PasswordScheme, o.PasswordIterations, key, o.Rand)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(o.Dir, DBFile)
	// Create the file 0600 before SQLite does: SQLite gives the -wal and
	// -shm files the database file's mode, so all three stay private.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	base := "file:" + path + fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", o.BusyTimeout.Milliseconds())
	// Immediate transactions take the write lock at BEGIN, so a transaction
	// that reads then writes can never fail half-way with SQLITE_BUSY.
	wdsn := base + "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Touch the writer first so the WAL mode is set before readers open.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("registry: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("registry: %w", err)
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	// Open every reader now and keep it: a server holding connections up to
	// the process fd limit must still reach its registry, and a connection
	// opened later would need three new descriptors (db, -wal, -shm).
	if err := warm(ctx, r, o.Readers); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("registry: open readers: %w", err)
	}
	s := &SQLite{w: w, r: r, seal: seal, cache: newVerifierCache(!o.NoVerifierCache), rand: o.Rand,
		pw: pw, path: path}
	target := o.SchemaVersion
	if target == 0 {
		target = LatestSchemaVersion
	}
	if err := s.migrate(ctx, target); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func warm(ctx context.Context, db *sql.DB, n int) error {
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if err := c.PingContext(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Path is the database file.
func (s *SQLite) Path() string { return s.path }

// Close closes both pools. Calls after Close return ErrClosed.
func (s *SQLite) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return errors.Join(s.stmts.close(), s.r.Close(), s.w.Close())
}

func (s *SQLite) migrate(ctx context.Context, target int) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("registry: create schema_migrations: %w", err)
	}
	cur, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if cur > LatestSchemaVersion {
		return fmt.Errorf("registry: database schema version %d is newer than this program's %d; refusing to run against it", cur, LatestSchemaVersion)
	}
	for _, m := range migrations {
		if m.version <= cur || m.version > target {
			continue
		}
		err := s.write(ctx, func(tx *sql.Tx) error {
			// Re-check inside the write lock: another process may have
			// migrated between our read and our BEGIN IMMEDIATE.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, st := range m.stmts {
				if _, err := tx.ExecContext(ctx, st); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("registry: migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration (0 for a new file).
func (s *SQLite) SchemaVersion(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	var v sql.NullInt64
	if err := s.w.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("registry: %w", err)
	}
	return int(v.Int64), nil
}

// write runs fn in a transaction on the single writer connection.
func (s *SQLite) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.stmts.prepareWanted(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(err)
	}
	return nil
}

// wrap turns driver errors into registry errors; passes registry errors on.
func (s *SQLite) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrConnDone) || s.closed.Load() || strings.Contains(err.Error(), "database is closed") {
		return ErrClosed
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	for _, e := range []error{ErrNotFound, ErrExists, ErrBadCredentials, ErrUnknownDevice, ErrInvalid, ErrAmbiguous, ErrToken, ErrConflict} {
		if errors.Is(err, e) {
			return err
		}
	}
	return fmt.Errorf("registry: %w", err)
}

func (s *SQLite) reader() (*sql.DB, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	return s.r, nil
}

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// Times are stored as UTC Unix nanoseconds; 0 is the zero time.
func tn(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nt(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func limitOf(n int) int {
	if n <= 0 {
		return DefaultPageLimit
	}
	if n > MaxPageLimit {
		return MaxPageLimit
	}
	return n
}
