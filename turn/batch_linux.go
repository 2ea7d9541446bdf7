package turn

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr from recvmmsg(2); Go pads it like C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// batchReader reads up to len(msgs) datagrams with one recvmmsg(2) and hands
// them out one ReadFrom at a time, so a busy socket costs one system call and
// one poller wake-up per batch instead of per datagram. recvmmsg returns what
// is queued without waiting for more, so batching adds no latency. It is
// owned by the single goroutine that reads the socket (pion runs one per
// PacketConn), so it needs no lock.
type batchReader struct {
	rc    syscall.RawConn
	msgs  []mmsghdr
	names []unix.RawSockaddrInet6 // big enough for either family
	iovs  []unix.Iovec
	buf   []byte // len(msgs) slots of slot bytes
	slot  int
	n     int // datagrams in the current batch
	next  int // next one to hand out
	addrs addrCache
	recv  func(uintptr) bool // doRecv
	got   int                // doRecv's results
	errno syscall.Errno
}

// newBatchReader prepares batch slots of slot bytes for c, or returns nil
// where c exposes no raw descriptor.
func newBatchReader(c *net.UDPConn, batch, slot int) *batchReader {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	return newBatchReaderFor(rc, batch, slot)
}

// newBatchReaderFor reads through rc: a net.UDPConn's, or an event loop's
// socket (whose Read never waits: fill then reports errWouldBlock).
func newBatchReaderFor(rc syscall.RawConn, batch, slot int) *batchReader {
	b := &batchReader{
		rc:    rc,
		msgs:  make([]mmsghdr, batch),
		names: make([]unix.RawSockaddrInet6, batch),
		iovs:  make([]unix.Iovec, batch),
		buf:   make([]byte, batch*slot),
		slot:  slot,
	}
	b.recv = b.doRecv
	for i := range b.msgs {
		b.iovs[i].Base = &b.buf[i*slot]
		b.iovs[i].SetLen(slot)
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.msgs[i].hdr.Iov = &b.iovs[i]
		b.msgs[i].hdr.SetIovlen(1)
	}
	return b
}

// ReadFrom returns the next queued datagram, reading a new batch when the
// current one is used up. A datagram longer than p is truncated to len(p),
// as net.UDPConn.ReadFrom does.
func (b *batchReader) ReadFrom(p []byte) (int, net.Addr, error) {
	d, a, err := b.next1()
	if err != nil {
		return 0, nil, err
	}
	return copy(p, d), a, nil
}

// next1 is ReadFrom without the copy: d is the datagram in its batch slot
// (truncated to the slot), valid until the batch is used up.
func (b *batchReader) next1() (d []byte, a *net.UDPAddr, err error) {
	if b.next >= b.n {
		if err := b.fill(); err != nil {
			return nil, nil, err
		}
	}
	i := b.next
	b.next++
	m := &b.msgs[i]
	return b.buf[i*b.slot : i*b.slot+min(int(m.n), b.slot)], b.addrs.get(b.name(i)), nil
}

// queued is the number of datagrams the next ReadFrom returns without a
// system call.
func (b *batchReader) queued() int { return b.n - b.next }

// drained reports that the batch is used up and was short: the socket had
// nothing more when it was read, so an edge-triggered reader can wait for
// the next event without a read that would only return EAGAIN.
func (b *batchReader) drained() bool { return b.next >= b.n && b.n < len(b.msgs) }

func (b *batchReader) fill() error {
	for i := range b.msgs {
		b.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		b.msgs[i].hdr.Flags = 0
		b.msgs[i].n = 0
	}
	b.got, b.errno = 0, 0
	if err := b.rc.Read(b.recv); err != nil {
		return err
	}
	if b.errno != 0 {
		return os.NewSyscallError("recvmmsg", b.errno)
	}
	if b.got <= 0 {
		return errors.New("turn: recvmmsg returned no datagram")
	}
	b.n, b.next = b.got, 0
	return nil
}

// doRecv is RawConn.Read's callback; b.recv is bound to it once, so that a
// read (at low rates, one per datagram) allocates no closure.
func (b *batchReader) doRecv(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])),
			uintptr(len(b.msgs)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			b.got = int(r)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // park in the poller until readable
		default:
			b.errno = e
			return true
		}
	}
}

// name decodes the source address of datagram i.
func (b *batchReader) name(i int) netip.AddrPort { return sockaddrAddrPort(&b.names[i]) }

// sockaddrAddrPort decodes a raw IPv4 or IPv6 socket address.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port))
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
