package turn

import (
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSender sends datagrams on a listen socket with sendto(2) through
// RawConn.Control, which holds a reference to the descriptor but not Go's
// per-descriptor write lock. Every allocation's relay goroutine writes its
// client's datagrams to the same listen socket; with net.UDPConn.WriteTo they
// queue on that lock (a park and a wake-up each time), while the kernel
// takes concurrent sends on a UDP socket fine. A send that would block falls
// back to WriteTo, which waits in the poller. The fast path also sends to
// peers through one per relay socket.
//
// Sends (and batchReader's receives) use RawSyscall: with MSG_DONTWAIT they
// never block, so telling the scheduler (entersyscall/exitsyscall) would only
// add cost per datagram, and Ps seen "in a system call" keep the runtime's
// sysmon thread polling every 20 µs.
type rawSender struct {
	rc     syscall.RawConn
	family int
	pool   sync.Pool // *sendOp
	many   sync.Pool // *sendManyOp
}

// sendOp is one send's arguments; pooled so Control's callback (a method
// value made once per op) does not allocate per datagram.
type sendOp struct {
	b     []byte
	sa    unix.RawSockaddrInet6 // big enough for either family
	salen uintptr
	errno syscall.Errno
	n     int
	ok    bool
	fn    func(uintptr)
	fnw   func(uintptr) bool // doWait
}

func (op *sendOp) do(fd uintptr) {
	var p unsafe.Pointer
	if len(op.b) > 0 {
		p = unsafe.Pointer(&op.b[0])
	}
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(p), uintptr(len(op.b)), unix.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&op.sa)), op.salen)
	op.n, op.ok, op.errno = int(n), e == 0, e
}

// doWait is do for RawConn.Write: false (wait for room) on EAGAIN.
func (op *sendOp) doWait(fd uintptr) bool {
	op.do(fd)
	if !op.ok && op.errno == unix.EAGAIN {
		return false
	}
	return true
}

func newRawSender(c *net.UDPConn) *rawSender {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	return newRawSenderFor(rc)
}

// newRawSenderFor sends through rc: a net.UDPConn's or an event loop's
// socket.
func newRawSenderFor(rc syscall.RawConn) *rawSender {
	fam := -1
	if err := rc.Control(func(fd uintptr) {
		fam, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	}); err != nil || (fam != unix.AF_INET && fam != unix.AF_INET6) {
		return nil
	}
	s := &rawSender{rc: rc, family: fam}
	s.pool.New = func() any {
		op := &sendOp{}
		op.fn, op.fnw = op.do, op.doWait
		return op
	}
	s.many.New = func() any {
		op := &sendManyOp{}
		op.fn = op.doMany
		return op
	}
	return s
}

// send reports false when the datagram was not sent and the caller should
// use WriteTo (an address it cannot encode, a full send buffer, an error).
func (s *rawSender) send(b []byte, ua *net.UDPAddr) (int, bool) {
	op := s.pool.Get().(*sendOp)
	defer s.pool.Put(op)
	if !op.setAddr(s.family, ua) {
		return 0, false
	}
	op.b, op.ok = b, false
	err := s.rc.Control(op.fn)
	op.b = nil
	if err != nil || !op.ok {
		return 0, false
	}
	return op.n, true
}

// sendWait is send for sockets in an event loop, which Go's poller does not
// watch: on a full send buffer it waits a little (loopFD.Write) and then
// gives up, with the reason.
func (s *rawSender) sendWait(b []byte, ua *net.UDPAddr) (int, error) {
	op := s.pool.Get().(*sendOp)
	defer s.pool.Put(op)
	if !op.setAddr(s.family, ua) {
		return 0, &net.AddrError{Err: "address not sendable on this socket", Addr: ua.String()}
	}
	op.b, op.ok, op.errno = b, false, 0
	err := s.rc.Write(op.fnw)
	op.b = nil
	switch {
	case err != nil:
		return 0, err
	case !op.ok:
		return 0, os.NewSyscallError("sendto", op.errno)
	}
	return op.n, nil
}

func (op *sendOp) setAddr(family int, ua *net.UDPAddr) bool {
	if ua.Port < 0 || ua.Port > 0xffff || ua.Zone != "" {
		return false
	}
	port := uint16(ua.Port)
	pb := (*[2]byte)(unsafe.Pointer(&port))
	pb[0], pb[1] = byte(ua.Port>>8), byte(ua.Port)
	switch family {
	case unix.AF_INET:
		ip4 := ua.IP.To4()
		if ip4 == nil {
			return false
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&op.sa))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: port}
		copy(sa.Addr[:], ip4)
		op.salen = unix.SizeofSockaddrInet4
	case unix.AF_INET6:
		ip16 := ua.IP.To16()
		if ip16 == nil {
			return false
		}
		op.sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: port}
		copy(op.sa.Addr[:], ip16)
		op.salen = unix.SizeofSockaddrInet6
	default:
		return false
	}
	return true
}

// sendManyOp is one sendmmsg's arguments, pooled like sendOp.
type sendManyOp struct {
	sendOp
	msgs [maxSendBatch]mmsghdr
	iovs [maxSendBatch]unix.Iovec
	cnt  int
}

func (op *sendManyOp) doMany(fd uintptr) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&op.msgs[0])), uintptr(op.cnt),
		unix.MSG_DONTWAIT, 0, 0)
	op.n, op.ok = int(n), e == 0
}

// sendMany sends frames to ua with one sendmmsg(2) and returns how many it
// sent; the caller sends the rest (a full send buffer, an error) with
// WriteTo. At most maxSendBatch frames are tried.
func (s *rawSender) sendMany(frames [][]byte, ua *net.UDPAddr) int {
	op := s.many.Get().(*sendManyOp)
	defer s.many.Put(op)
	if !op.setAddr(s.family, ua) {
		return 0
	}
	op.cnt = min(len(frames), maxSendBatch)
	for i := 0; i < op.cnt; i++ {
		f := frames[i]
		if len(f) == 0 {
			op.cnt = i
			break
		}
		op.iovs[i].Base = &f[0]
		op.iovs[i].SetLen(len(f))
		h := &op.msgs[i].hdr
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&op.sa)), Namelen: uint32(op.salen), Iov: &op.iovs[i]}
		h.SetIovlen(1)
	}
	if op.cnt == 0 {
		return 0
	}
	op.ok = false
	err := s.rc.Control(op.fn)
	for i := range op.iovs[:op.cnt] {
		op.iovs[i].Base = nil // keep no reference to the caller's buffer
	}
	if err != nil || !op.ok {
		return 0
	}
	return op.n
}
