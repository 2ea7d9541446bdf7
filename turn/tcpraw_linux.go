package turn

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tcpRaw reads and writes a plain TURN-over-TCP conn with read(2)/write(2)
// issued as RawSyscall through syscall.RawConn, which keeps Go's deadlines,
// poller waits and per-descriptor locks but skips the scheduler's
// entersyscall/exitsyscall per call (the descriptor is non-blocking, so the
// calls never block); see rawSender.
type tcpRaw struct {
	rc syscall.RawConn
	rd rawIO // owned by the conn's single reader
}

// rawIO is one read or write's arguments; its fn is bound once so passing
// it to RawConn does not allocate.
type rawIO struct {
	b    []byte
	n    int
	errn syscall.Errno
	fn   func(uintptr) bool
}

func (op *rawIO) read(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&op.b[0])), uintptr(len(op.b)))
		switch e {
		case 0:
			op.n = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			op.errn = e
			return true
		}
	}
}

func (op *rawIO) write(fd uintptr) bool {
	for op.n < len(op.b) {
		n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&op.b[op.n])), uintptr(len(op.b)-op.n))
		switch e {
		case 0:
			op.n += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false // wait until writable, holding the write lock
		default:
			op.errn = e
			return true
		}
	}
	return true
}

var rawWrites = sync.Pool{New: func() any {
	op := &rawIO{}
	op.fn = op.write
	return op
}}

// newTCPRaw returns nil unless c is a *net.TCPConn (TLS conns keep their
// own Read and Write).
func newTCPRaw(c net.Conn) *tcpRaw {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	t := &tcpRaw{rc: rc}
	t.rd.fn = t.rd.read
	return t
}

// Read is net.Conn's Read: io.EOF at the end of the stream.
func (t *tcpRaw) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	op := &t.rd
	op.b, op.n, op.errn = b, 0, 0
	err := t.rc.Read(op.fn)
	op.b = nil
	switch {
	case err != nil:
		return 0, err
	case op.errn != 0:
		return 0, os.NewSyscallError("read", op.errn)
	case op.n == 0:
		return 0, io.EOF
	}
	return op.n, nil
}

// Write writes all of b, waiting in the poller while the send buffer is
// full; Go's write lock keeps concurrent writes whole.
func (t *tcpRaw) Write(b []byte) (int, error) {
	op := rawWrites.Get().(*rawIO)
	defer rawWrites.Put(op)
	op.b, op.n, op.errn = b, 0, 0
	err := t.rc.Write(op.fn)
	n := op.n
	op.b = nil
	switch {
	case err != nil:
		return n, err
	case op.errn != 0:
		return n, os.NewSyscallError("write", op.errn)
	}
	return n, nil
}
