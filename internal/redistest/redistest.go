// Package redistest runs a throwaway redis-server for the tests of cluster
// mode: on a free loopback port, without persistence, stopped by PID at the
// test's cleanup, also on failure. A test is skipped where redis-server is
// not installed (test/deps.sh installs Debian's).
package redistest

import (
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is one redis-server process that a test started.
type Server struct {
	t    testing.TB
	bin  string
	port int
	args []string // extra redis-server arguments
	cmd  *exec.Cmd
}

// Run starts redis-server with the extra arguments args (e.g.
// "--requirepass", pw) and waits until it answers.
func Run(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found: install Debian's redis-server (test/deps.sh does) to run the cluster tests")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	r := &Server{t: t, bin: bin, port: port, args: args}
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// Addr is the server's host:port.
func (r *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Start runs the server (again, after Stop) on its port, empty.
func (r *Server) Start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, r.args...)...)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	r.cmd = cmd
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ping(r.Addr()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatal("redis-server did not answer PING within 5s")
}

// Stop kills the server; its data is gone.
func (r *Server) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Signal sends sig to the running server (SIGSTOP and SIGCONT make it hang
// and answer again).
func (r *Server) Signal(sig os.Signal) error { return r.cmd.Process.Signal(sig) }

// ping reports whether a Redis answers at addr.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b := make([]byte, 7)
	n, _ := io.ReadFull(c, b)
	// -NOAUTH also means it is up (a password is set).
	return strings.HasPrefix(string(b[:n]), "+PONG") || strings.HasPrefix(string(b[:n]), "-NOAUTH")
}
