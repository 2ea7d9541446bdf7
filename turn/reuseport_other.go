//go:build !unix

package turn

import "syscall"

// reusePort is a no-op where SO_REUSEPORT does not exist; use UDPSockets: 1.
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
