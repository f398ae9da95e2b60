package main

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var installOnce sync.Once

// openDB opens a WAL database as FerretDB does, with our busy handler and WAL hook installed.
func openDB(t *testing.T, file string) *sql.DB {
	t.Helper()
	installOnce.Do(func() { useCommitWait(slog.New(slog.NewTextHandler(os.Stderr, nil))) })
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// A writer behind another one of this process goes as soon as that one commits. SQLite's own
// handler would sleep on: past 128 ms of waiting it sleeps 50 ms at a time.
func TestWriterGoesWhenTheOtherCommits(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "a.sqlite"))
	ctx := context.Background()
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	waits, woken := busyWaits.Load(), busyWoken.Load()
	done := make(chan time.Time)
	go func() {
		if _, err := db.Exec(`INSERT INTO t VALUES (x'01')`); err != nil {
			t.Error(err)
		}
		done <- time.Now()
	}()
	for deadline := time.Now().Add(5 * time.Second); busyWaits.Load() == waits; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second writer never waited for the lock")
		}
	}
	// The lock is held on into SQLite's schedule (its retries at 128 and 178 ms), as a long commit would.
	time.Sleep(130 * time.Millisecond)
	if _, err := holder.ExecContext(ctx, `INSERT INTO t VALUES (x'02')`); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	late := (<-done).Sub(released)
	if late > 10*time.Millisecond {
		t.Errorf("the second writer went %v after the commit", late)
	}
	if busyWoken.Load() == woken {
		t.Error("no waiter was woken by the commit")
	}
}

// Our WAL hook replaces SQLite's, which also checkpointed the WAL: without that, the WAL file
// grows with every commit.
func TestTheWALIsStillCheckpointed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "b.sqlite")
	db := openDB(t, file)
	row := make([]byte, 8192)
	for i := 0; i < 1500; i++ { // about 3,000 pages of 4 KiB, each commit its own
		if _, err := db.Exec(`INSERT INTO t VALUES (?)`, row); err != nil {
			t.Fatal(err)
		}
	}
	wal, err := os.Stat(file + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if wal.Size() > 8<<20 {
		t.Errorf("the WAL holds %d bytes after 12 MB of commits: it was not checkpointed", wal.Size())
	}
}

func TestAConnectionOfAnotherShapeIsLeftAlone(t *testing.T) {
	if _, _, ok := connHandle(&struct{ db string }{}); ok {
		t.Error("a struct without a uintptr db and a *libc.TLS tls was taken for modernc's connection")
	}
	if _, _, ok := connHandle(42); ok {
		t.Error("a non-pointer was taken for a connection")
	}
}
