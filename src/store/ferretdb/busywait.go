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
// Ours waits for the next commit instead: the WAL hook runs right after every commit, once the
// write lock is released, and wakes every waiter. A waiter also retries after retryAfter, for
// the releases no commit announces (a rollback, a checkpoint, another process), and gives up
// after busyTimeout/retryAfter tries: within the 10 s busy_timeout allowed, sooner only for a
// writer that lost the lock to 40,000 commits in a row.
const (
	retryAfter  = 250 * time.Microsecond
	busyTimeout = 10 * time.Second
	// SQLite's own hook checkpoints the WAL into the database once it holds this many pages;
	// ours replaces it, so it does the same.
	autoCheckpointPages = 1000
)

var (
	commitMu sync.Mutex
	// Closed at each commit and replaced: a broadcast to the writers waiting now.
	committed = make(chan struct{})
	// Waits begun, and retries a commit woke (the tests read them).
	busyWaits, busyWoken atomic.Int64
)

func commitSignal() <-chan struct{} {
	commitMu.Lock()
	defer commitMu.Unlock()
	return committed
}

// Calling convention of SQLite's callbacks in modernc's translation (see its __ccgo_fp).
func callbackPointer(f any) uintptr {
	type iface [2]uintptr
	return (*iface)(unsafe.Pointer(&f))[1]
}

// int xBusy(void *arg, int count): non-zero to try again, 0 to give up with SQLITE_BUSY.
func busyHandler(_ *libc.TLS, _ uintptr, count int32) int32 {
	if count == 0 {
		busyWaits.Add(1)
	}
	if time.Duration(count)*retryAfter >= busyTimeout {
		return 0
	}
	timer := time.NewTimer(retryAfter)
	select {
	case <-commitSignal():
		busyWoken.Add(1)
	case <-timer.C:
	}
	timer.Stop()
	return 1
}

// int xWal(void *arg, sqlite3 *db, const char *zDb, int nPages): after a commit, lock released.
func walHook(tls *libc.TLS, _ uintptr, db uintptr, zDb uintptr, pages int32) int32 {
	commitMu.Lock()
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
		sqlite3.Xsqlite3_busy_handler(tls, db, busyHandlerPtr, 0)
		sqlite3.Xsqlite3_wal_hook(tls, db, walHookPtr, 0)
		return nil
	})
}
