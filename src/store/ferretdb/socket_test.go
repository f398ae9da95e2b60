package main

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A socket left by a killed FerretDB is removed; one something answers on, or a file that is no
// socket, is left alone and refused.
func TestClearStaleSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ferretdb.sock")

	if err := clearStaleSocket(path); err != nil {
		t.Fatalf("nothing there: %v", err)
	}

	// A listener closed without removing its file is what SIGKILL leaves.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = l.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the stale socket should still be there: %v", err)
	}
	if err := clearStaleSocket(path); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("the stale socket was not removed: %v", err)
	}

	live, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := clearStaleSocket(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a live socket must be refused, got %v", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("a live socket must stay: %v", err)
	}

	file := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := clearStaleSocket(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("a plain file must be refused, got %v", err)
	}
}

// A live FerretDB whose backlog is full answers no connection: its socket is not stale.
func TestClearStaleSocketKeepsABusyOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferretdb.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	// Backlog 0: one pending connection fills it, and nothing is ever accepted.
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for i := 0; i < 4; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			break
		}
		held = append(held, c)
	}
	if err := clearStaleSocket(path); err == nil {
		t.Fatal("a socket whose listener is busy must not be cleared")
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the busy socket must stay: %v", err)
	}
}

// The socket's folder must be this user's and closed to others, through a symlink too.
func TestCheckPrivateDir(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "private")
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(shared, link); err != nil {
		t.Fatal(err)
	}
	if err := checkPrivateDir(private); err != nil {
		t.Fatalf("a 0700 folder of this user: %v", err)
	}
	for _, d := range []string{shared, link} {
		if err := checkPrivateDir(d); err == nil {
			t.Fatalf("%s is open to others and must be refused", d)
		}
	}
}

// The URI's host is the path with every reserved byte escaped, and reads back as that path.
func TestEscapeAll(t *testing.T) {
	path := "/var/lib/pay@shop1:a+b c/ferretdb/ferretdb.sock"
	got := escapeAll(path)
	if strings.ContainsAny(got, "/@:+ ") {
		t.Fatalf("reserved bytes left in %q", got)
	}
	back, err := url.PathUnescape(got)
	if err != nil || back != path {
		t.Fatalf("%q reads back as %q (%v)", got, back, err)
	}
}
