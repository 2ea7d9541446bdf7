package bench

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort lets several echo sockets share one port so the kernel spreads
// relayed flows across them (SO_REUSEPORT hashes on the 4-tuple).
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

const haveReusePort = true

// childAttr puts a child server in its own process group (a ^C to bench must not
// race bench's own orderly stop) and has the kernel SIGTERM it if bench dies
// without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
