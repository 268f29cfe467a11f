// Package storetest gives tests a real database of each dialect: a SQLite file
// in a temp directory and a database in a throwaway PostgreSQL cluster that the
// test binary starts itself (as the postgres user when running as root).
package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/store"
)

// cluster is started at most once per test binary and stopped by Main. It is
// the one piece of package state: a test binary owns exactly one cluster.
var cluster struct {
	once sync.Once
	err  error
	dir  string
	port int
	cmd  *exec.Cmd
	n    int
	mu   sync.Mutex
}

// Main runs the tests and then stops the PostgreSQL cluster if one was
// started. Call it from TestMain: os.Exit(storetest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	stop()
	return code
}

// Each runs f once against a fresh SQLite database and once against a fresh
// PostgreSQL database, as subtests named "sqlite" and "postgres".
func Each(t *testing.T, f func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, Postgres(t)) })
}

// SQLite opens a migrated SQLite database in a temp directory.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Postgres opens a migrated, empty database in the test cluster. It skips the
// test only where PostgreSQL's binaries are absent from this machine.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	dsn := PostgresDSN(t)
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PostgresDSN creates an empty database in the test cluster and returns its
// connection string.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		if os.Getenv("SLIPWAY_REQUIRE_POSTGRES") != "" {
			t.Fatal("SLIPWAY_REQUIRE_POSTGRES is set but PostgreSQL's binaries (initdb, postgres) are not installed: apt-get install postgresql")
		}
		t.Skip("PostgreSQL binaries (initdb, postgres) not found under /usr/lib/postgresql/*/bin or on PATH: install the postgresql package to run the PostgreSQL store tests")
	}
	cluster.once.Do(func() { cluster.err = start(bin) })
	if cluster.err != nil {
		t.Fatalf("start PostgreSQL test cluster: %v", cluster.err)
	}
	cluster.mu.Lock()
	cluster.n++
	name := fmt.Sprintf("t%d_%d", os.Getpid(), cluster.n)
	cluster.mu.Unlock()
	admin, err := sql.Open("pgx", dsn("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return dsn(name)
}

func dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", cluster.port, db)
}

// postgresBin finds the directory holding initdb and postgres, newest version first.
func postgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// asPostgres runs a PostgreSQL program, as the postgres user when we are root
// (PostgreSQL refuses to run as root).
func asPostgres(bin string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func start(bin string) error {
	dir, err := os.MkdirTemp("", "slipway-pg-")
	if err != nil {
		return err
	}
	cluster.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root needs a postgres user to own the cluster: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := asPostgres(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cluster.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := asPostgres(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(cluster.port),
		"-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
		"-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300")
	logf, err := os.Create(filepath.Join(os.TempDir(), filepath.Base(dir)+".log"))
	if err == nil {
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	cluster.cmd = cmd
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		db, err := sql.Open("pgx", dsn("postgres"))
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("postgres did not accept connections within 30s"), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func stop() {
	if cluster.cmd != nil && cluster.cmd.Process != nil {
		// runuser does not pass signals on to PostgreSQL, so ask pg_ctl for a
		// fast shutdown and then reap the runuser process.
		data := filepath.Join(cluster.dir, "data")
		if out, err := asPostgres(filepath.Join(postgresBin(), "pg_ctl"), "-D", data, "-m", "fast", "-w", "-t", "20", "stop").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "storetest: pg_ctl stop: %v: %s\n", err, out)
			_ = cluster.cmd.Process.Kill()
		}
		done := make(chan struct{})
		go func() { _ = cluster.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cluster.cmd.Process.Kill()
		}
	}
	if cluster.dir != "" {
		os.RemoveAll(cluster.dir)
	}
}
