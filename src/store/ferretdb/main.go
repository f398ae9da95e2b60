// Command ferretdb runs FerretDB's embeddable package for the payment app, and
// keeps its tables indexed for lookups by _id (see idindex.go).
// It listens on a Unix socket (-unix) or a loopback TCP address (-listen).
// It prints "ready <mongodb-uri>" on stdout once it accepts connections and exits when
// its stdin closes (the parent died) or on SIGTERM/SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	// A process group of our own, so that a Ctrl-C in the terminal reaches only the payment app,
	// which stops us after its last query; but not a session of our own (Node's detached spawn):
	// with Linux's autogroup scheduling, each session is one group sharing the CPU fairly with
	// the others, and FerretDB alone in one was given half of two busy cores against the app's
	// half, preempting it at each command (README, Performance).
	if err := syscall.Setpgid(0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: cannot start a process group: %v\n", err)
	}
	dir := flag.String("dir", "data/ferretdb", "directory holding the SQLite files")
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on (loopback only)")
	// A Unix socket in the owner-only data directory: no other user of the machine can connect,
	// as any can to a loopback port (README, Performance, for what it costs on two shared cores).
	unix := flag.String("unix", "", "Unix socket to listen on instead of TCP")
	// full: every commit is on disk when it is acknowledged. normal: SQLite's WAL is synced at
	// checkpoints only, so a power loss or OS crash may roll back the last commits (a crash of
	// this process or of the service loses nothing).
	sync := flag.String("sync", "full", "SQLite synchronous setting: full or normal")
	flag.Parse()
	if *sync != "full" && *sync != "normal" {
		fmt.Fprintf(os.Stderr, "ferretdb: -sync must be full or normal, got %q\n", *sync)
		os.Exit(2)
	}

	// Go's collector at its default (GOGC=100) took about a tenth of FerretDB's CPU under card
	// payments: every command allocates its documents anew. Collecting at 5x the live heap instead
	// costs about 15 MB more (35 -> 48 MB under load). GOGC in the environment still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}

	// The SQLite files hold payments and shops: readable by this user only, whatever the umask.
	syscall.Umask(0o077)

	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: cannot create %s: %v\n", *dir, err)
		os.Exit(1)
	}

	// One JSON record per line: the payment app maps their levels onto its own log.
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Tables from an earlier run get their _id indexes (idindex.go) before any client can write:
	// rebuilding one holds SQLite's write lock for as long as it reads the table.
	indexTables(context.Background(), *dir, logger)
	// FERRETDB_BUSY_WAIT=sqlite keeps SQLite's own busy handler (busywait.go), to compare.
	if os.Getenv("FERRETDB_BUSY_WAIT") != "sqlite" {
		useCommitWait(logger)
	}
	listener := ferretdb.ListenerConfig{TCP: *listen}
	if *unix != "" {
		err := checkPrivateDir(filepath.Dir(*unix))
		if err == nil {
			err = clearStaleSocket(*unix)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
			os.Exit(1)
		}
		listener = ferretdb.ListenerConfig{Unix: *unix}
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  listener,
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dir + "/?_pragma=synchronous(" + *sync + ")",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// The parent holds our stdin open; EOF means it is gone, so we must not outlive it.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()

	done := make(chan struct{})
	go func() {
		_ = f.Run(ctx)
		close(done)
	}()

	// MongoDBURI blocks until the listener is bound.
	uri := f.MongoDBURI()
	if *unix != "" {
		// The Node driver takes a socket's path as the URI's host, every byte but the unreserved
		// ones escaped (an "@" left as it is would read as a user name), and only a host ending
		// in ".sock" as a socket.
		uri = "mongodb://" + escapeAll(*unix) + "/"
	}
	fmt.Printf("ready %s\n", uri)
	go keepIndexed(ctx, *dir, 2*time.Second, logger)
	<-done
}

// clearStaleSocket removes the socket a killed FerretDB left behind (a clean stop removes its
// own), so that listening there again does not fail; a socket something still answers on stays.
func clearStaleSocket(path string) error {
	info, err := os.Lstat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if info.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		_ = conn.Close()
		return fmt.Errorf("%s is in use by another process", path)
	}
	// Only a refused connection says nobody listens; a full backlog or a timeout may be a live
	// FerretDB on the same files, whose socket must not be taken from it.
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s may be in use (%v)", path, err)
	}
	return os.Remove(path)
}

// checkPrivateDir refuses a socket directory another user could enter or write to (a symlink
// to a shared folder, say): there, someone could take the socket's place between two starts.
func checkPrivateDir(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !info.IsDir() || info.Mode().Perm()&0o077 != 0 || !ok || int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s must be a directory of this user closed to others (mode 0700) to hold the database's socket", dir)
	}
	return nil
}

// escapeAll percent-encodes every byte of s but the unreserved ones (RFC 3986).
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
