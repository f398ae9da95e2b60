package main

import (
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite has one writer per database file. A writer that finds the lock taken calls its busy
// handler, and the one FerretDB gets (busy_timeout) sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between
// tries, however soon the lock comes free: with the service's two connections both writing, the
// second one slept a millisecond or more behind a commit that took a fraction of one.
//
// Ours waits for the next commit instead: the WAL hook runs after every commit that steps to its
// end, once the write lock is released, and wakes every waiter. A waiter also retries after
// retryAfter (about 1 ms on an idle Linux machine, where Go rounds short timers up), for the
// releases no commit of this process announces (a rollback, another process), and gives up after
// busyTimeout of waiting, as busy_timeout did, or at once when its statement is interrupted.
//
// Installing them zeroes what PRAGMA busy_timeout and PRAGMA wal_autocheckpoint read, and setting
// either pragma later would put SQLite's own handler or hook back: FerretDB sets its pragmas when
// it opens a connection, before the connection hook below runs, and never again.
const (
	retryAfter = 250 * time.Microsecond
	// SQLite's own hook checkpoints the WAL into the database once it holds this many pages;
	// ours replaces it, so it does the same.
	autoCheckpointPages = 1000
)

// The longest wait, as FerretDB's busy_timeout (a variable for the tests).
var busyTimeout = 10 * time.Second

var (
	commitMu sync.Mutex
	// Closed at each commit and replaced: a broadcast to the writers waiting now.
	committed = make(chan struct{})
	// Commits so far, so that a waiter knows whether one came since its last try.
	commits uint64
	// Waits begun, and retries after a commit (the tests read them).
	busyWaits, busyWoken atomic.Int64
	// Per connection (its sqlite3 handle) that ever waited: when its current wait began and the
	// commits it had seen at its last try. FerretDB keeps its connections open.
	waiters sync.Map
)

type waiter struct {
	since time.Time
	seen  uint64
}

// The commits so far, and the signal of the next one.
func commitState() (uint64, <-chan struct{}) {
	commitMu.Lock()
	defer commitMu.Unlock()
	return commits, committed
}

// Calling convention of SQLite's callbacks in modernc's translation (see its __ccgo_fp).
func callbackPointer(f any) uintptr {
	type iface [2]uintptr
	return (*iface)(unsafe.Pointer(&f))[1]
}

// int xBusy(void *arg, int count): non-zero to try again, 0 to give up with SQLITE_BUSY.
// arg is the connection's sqlite3 handle; count is 0 at the first call of each wait.
func busyHandler(tls *libc.TLS, db uintptr, count int32) int32 {
	v, ok := waiters.Load(db)
	if !ok { // this connection's first wait: its state is made once
		v, _ = waiters.LoadOrStore(db, &waiter{})
	}
	w := v.(*waiter)
	if count == 0 {
		busyWaits.Add(1)
		w.since = time.Now()
	}
	if time.Since(w.since) >= busyTimeout || sqlite3.Xsqlite3_is_interrupted(tls, db) != 0 {
		return 0
	}
	seen, next := commitState()
	// A commit came between the last try and this call: the lock may be free already.
	if count > 0 && seen != w.seen {
		w.seen = seen
		busyWoken.Add(1)
		return 1
	}
	timer := time.NewTimer(retryAfter)
	select {
	case <-next:
	case <-timer.C:
	}
	timer.Stop()
	// Counted by what happened, not by the case select chose: when both are ready (a late
	// goroutine), it picks either.
	w.seen, _ = commitState()
	if w.seen != seen {
		busyWoken.Add(1)
	}
	return 1
}

// int xWal(void *arg, sqlite3 *db, const char *zDb, int nPages): after a commit, lock released.
func walHook(tls *libc.TLS, _ uintptr, db uintptr, zDb uintptr, pages int32) int32 {
	commitMu.Lock()
	commits++
	close(committed)
	committed = make(chan struct{})
	commitMu.Unlock()
	if pages >= autoCheckpointPages {
		// What sqlite3WalDefaultHook does; its result is ignored there too.
		sqlite3.Xsqlite3_wal_checkpoint(tls, db, zDb)
	}
	return sqlite3.SQLITE_OK
}

var busyHandlerPtr, walHookPtr = callbackPointer(busyHandler), callbackPointer(walHook)

// connHandle reads the sqlite3 handle and thread state out of modernc's connection, whose fields
// are unexported; false if its shape is not the one this was written against (v1.32).
func connHandle(c any) (db uintptr, tls *libc.TLS, ok bool) {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return 0, nil, false
	}
	dbField, tlsField := v.Elem().FieldByName("db"), v.Elem().FieldByName("tls")
	if !dbField.IsValid() || dbField.Kind() != reflect.Uintptr || !tlsField.IsValid() || tlsField.Type() != reflect.TypeOf((*libc.TLS)(nil)) {
		return 0, nil, false
	}
	return uintptr(dbField.Uint()), (*libc.TLS)(unsafe.Pointer(tlsField.Pointer())), true
}

// useCommitWait installs the handler and hook on every connection FerretDB opens. A driver of
// another shape keeps SQLite's own handler, with a warning.
func useCommitWait(logger *slog.Logger) {
	var warned atomic.Bool
	sqlite.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, _ string) error {
		db, tls, ok := connHandle(c)
		if !ok {
			if !warned.Swap(true) {
				logger.Warn("SQLite connection of an unknown shape: writers keep SQLite's sleeping busy handler")
			}
			return nil
		}
		sqlite3.Xsqlite3_busy_handler(tls, db, busyHandlerPtr, db)
		sqlite3.Xsqlite3_wal_hook(tls, db, walHookPtr, 0)
		return nil
	})
}
