// Package store opens Slipway's database (SQLite by default, PostgreSQL for
// several server processes), applies its migrations and hides the few
// differences between the two dialects from the services that own tables.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL engine behind a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// DB is the database shared by every service. On SQLite all writes go through
// one connection (SQLite admits one writer; queueing in Go is cheaper than
// SQLite's busy-wait) while reads use a pool; on PostgreSQL both are the same pool.
type DB struct {
	dialect Dialect
	dsn     string
	w       *sql.DB
	r       *sql.DB
}

// Open connects to dsn: "postgres://..." or "postgresql://..." selects PostgreSQL,
// anything else is a SQLite file path (optionally prefixed with "sqlite:"). The
// schema is migrated to the newest version before Open returns.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db, err := open(dsn)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func open(dsn string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		p, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		p.SetMaxOpenConns(20)
		p.SetMaxIdleConns(10)
		return &DB{dialect: Postgres, dsn: dsn, w: p, r: p}, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
	}
	conn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	w, err := sql.Open("sqlite", conn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", conn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	if err := w.Ping(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	_ = os.Chmod(path, 0o600)
	return &DB{dialect: SQLite, dsn: dsn, w: w, r: r}, nil
}

// Dialect reports which SQL engine this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// DSN returns the connection string the DB was opened with. It may hold a
// password: never log it.
func (db *DB) DSN() string { return db.dsn }

// Close releases every connection.
func (db *DB) Close() error {
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Querier is what both a DB and a Tx offer; queries use "?" placeholders in
// either dialect.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ExecContext runs a statement that writes.
func (db *DB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := db.w.ExecContext(ctx, db.rebind(q), args...)
	return res, mapErr(err)
}

// QueryContext runs a read.
func (db *DB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := db.r.QueryContext(ctx, db.rebind(q), args...)
	return rows, mapErr(err)
}

// QueryRowContext runs a read of at most one row.
func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return db.r.QueryRowContext(ctx, db.rebind(q), args...)
}

// Tx is a write transaction.
type Tx struct {
	tx    *sql.Tx
	db    *DB
	hooks []func()
}

// Dialect reports which SQL engine the transaction runs on.
func (tx *Tx) Dialect() Dialect { return tx.db.dialect }

// ExecContext runs a statement inside the transaction.
func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := tx.tx.ExecContext(ctx, tx.db.rebind(q), args...)
	return res, mapErr(err)
}

// QueryContext runs a read inside the transaction.
func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := tx.tx.QueryContext(ctx, tx.db.rebind(q), args...)
	return rows, mapErr(err)
}

// QueryRowContext runs a read of at most one row inside the transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, tx.db.rebind(q), args...)
}

// OnCommit registers f to run once the transaction has committed; services use
// it to wake local listeners only for changes that really happened.
func (tx *Tx) OnCommit(f func()) { tx.hooks = append(tx.hooks, f) }

// Tx runs fn in a write transaction, committing when fn returns nil and rolling
// back otherwise.
func (db *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	stx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", mapErr(err))
	}
	tx := &Tx{tx: stx, db: db}
	if err := fn(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	for _, h := range tx.hooks {
		h()
	}
	return nil
}

// rebind turns "?" placeholders into "$n" for PostgreSQL. Question marks
// inside single-quoted literals are left alone.
func (db *DB) rebind(q string) string {
	if db.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// mapErr turns driver-specific constraint errors into ErrConflict and
// sql.ErrNoRows into ErrNotFound, keeping the original in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

// Scan reads one row and maps "no rows" to ErrNotFound.
func Scan(row *sql.Row, dest ...any) error {
	return mapErr(row.Scan(dest...))
}

// NewID returns a random identifier of 26 lowercase letters and digits
// (130 bits), safe in URLs and file names.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Millis is the storage form of a time: Unix milliseconds.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// Time turns stored Unix milliseconds back into a time.
func Time(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
