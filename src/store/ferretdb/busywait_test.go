package main

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var installOnce sync.Once

// openDB opens a WAL database as FerretDB does, with our busy handler and WAL hook installed.
func openDB(t *testing.T, file string) *sql.DB {
	t.Helper()
	installOnce.Do(func() { useCommitWait(slog.New(slog.NewTextHandler(os.Stderr, nil))) })
	// synchronous(off): no fsync in the times measured here, whatever the machine's disk is doing.
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(off)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// holdWriteLock takes the database's write lock on a connection of its own, until the test commits
// on that connection or ends (then it is rolled back).
func holdWriteLock(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	ctx := context.Background()
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = holder.ExecContext(ctx, "ROLLBACK") // after a COMMIT: no transaction, an error
		_ = holder.Close()
	})
	if _, err := holder.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return holder
}

// A writer behind another one of this process goes as soon as that one commits. SQLite's own
// handler would sleep on: past 128 ms of waiting it sleeps 50 ms at a time.
func TestWriterGoesWhenTheOtherCommits(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "a.sqlite"))
	ctx := context.Background()
	holder := holdWriteLock(t, db)
	waits := busyWaits.Load()
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
	// SQLite's own handler, asleep from 128 to 178 ms of waiting, would go about 45 ms late.
	if late > 25*time.Millisecond {
		t.Errorf("the second writer went %v after the commit", late)
	}
	// Not asserted: that the commit's signal, rather than the retry every retryAfter, let it go. The
	// lock is free a moment before the WAL hook runs, and a retry that falls in that moment takes it
	// without being woken (seen once in CI with the other core busy); either way it went at once.
}

// A writer gives up with SQLITE_BUSY after busyTimeout of waiting, however many commits (here, to
// another file) wake it meanwhile: not after a number of tries.
func TestAWriterGivesUpAfterTheTimeout(t *testing.T) {
	dir := t.TempDir()
	db, other := openDB(t, filepath.Join(dir, "c.sqlite")), openDB(t, filepath.Join(dir, "d.sqlite"))
	holdWriteLock(t, db)
	saved := busyTimeout
	busyTimeout = 300 * time.Millisecond
	defer func() { busyTimeout = saved }()
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := other.Exec(`INSERT INTO t VALUES (x'04')`); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	start := time.Now()
	_, err := db.Exec(`INSERT INTO t VALUES (x'03')`)
	waited := time.Since(start)
	close(stop)
	<-stopped
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("the writer behind a held lock ended with %v, not SQLITE_BUSY", err)
	}
	if waited < 300*time.Millisecond || waited > 3*time.Second {
		t.Errorf("the writer gave up after %v, not after its 300 ms", waited)
	}
}

// A cancelled statement (FerretDB's client gone, its bound passed) stops waiting at its next try:
// modernc interrupts the connection, and SQLite's retry loop does not look.
func TestAnInterruptedWriterStopsWaiting(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "e.sqlite"))
	ctx := context.Background()
	holdWriteLock(t, db)
	bounded, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := db.ExecContext(bounded, `INSERT INTO t VALUES (x'05')`)
	if waited := time.Since(start); err == nil || waited > 2*time.Second {
		t.Errorf("a writer cancelled after 100 ms ended with %v after %v", err, waited)
	}
}

// Our WAL hook replaces SQLite's, which also checkpointed the WAL: without that, the WAL file
// grows with every commit. (Ours in place reads as wal_autocheckpoint 0.)
func TestTheWALIsStillCheckpointed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "b.sqlite")
	db := openDB(t, file)
	var autocheckpoint int
	if err := db.QueryRow("PRAGMA wal_autocheckpoint").Scan(&autocheckpoint); err != nil {
		t.Fatal(err)
	}
	if autocheckpoint != 0 {
		t.Fatalf("SQLite's own WAL hook is in place (wal_autocheckpoint %d): this test would not see ours", autocheckpoint)
	}
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
		t.Errorf("the WAL holds %d bytes after 12 MB of rows: it was not checkpointed", wal.Size())
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
