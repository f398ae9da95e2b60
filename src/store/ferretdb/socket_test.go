package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
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
