package turn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/zeromicro/go-zero/core/logx"
	"golang.org/x/sys/unix"
)

// Event loops. At a few hundred datagrams per second per client each
// datagram finds the socket's reader goroutine parked: Go's netpoller wakes
// an idle thread, the scheduler runs the goroutine, and often wakes a second
// thread that looks for more work and finds none. That hand-off put rtcd at
// 1.1–1.2× coturn's CPU per datagram at such rates (docs/performance.md). An
// eventLoop is one OS thread that waits in epoll_wait(2) on the fast path's
// UDP sockets and relays whatever is ready itself: one wake-up per burst,
// whatever the number of sockets, and no goroutine hand-off.
//
// A loop owns:
//   - UDP listen sockets: ChannelData of a bound channel goes to the peer
//     from the loop; everything else (STUN) is queued for pion's reader;
//   - the relay sockets of allocations whose client is on one of its listen
//     sockets, moved there when pion reports the allocation (before pion
//     reads them): datagrams from bound peers go to the client from the
//     loop, the rest are queued for pion's packetHandler.
//
// TURN-over-TCP and TLS clients and their relays stay with Go's poller: the
// loop never waits, and a stream write can. A socket in a loop is no longer
// in Go's poller (detach), so one datagram never wakes both.

// errWouldBlock is what a loop socket's RawConn.Read returns when nothing is
// queued: the loop goes back to epoll_wait.
var errWouldBlock = errors.New("turn: socket would block")

// eventLoop is one thread waiting in epoll_wait on its sockets.
type eventLoop struct {
	epfd   int
	wakefd int      // eventfd, token 0: Stop
	srcs   sync.Map // token (uint64) → loopSource
	next   atomic.Uint64
	done   chan struct{}
	stop   atomic.Bool
}

// loopSource is a socket a loop reads.
type loopSource interface {
	// readable is called on the loop's thread when the socket has data;
	// it reads until the socket would block.
	readable()
}

func newEventLoop() (*eventLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("turn: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("turn: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("turn: epoll_ctl: %w", err)
	}
	l := &eventLoop{epfd: epfd, wakefd: wakefd, done: make(chan struct{})}
	go l.run()
	return l, nil
}

// run is the loop. epoll_wait is a blocking system call: the thread the
// kernel wakes is the one that relays.
//
// The loop yields now and then (runtime.Gosched, at most every
// loopYieldEvery): Go's sysmon treats a goroutine that has not been
// rescheduled for 10 ms as running too long, takes its P away in the middle
// of epoll_wait, and then polls every 20 µs for a while; at a few hundred
// datagrams a second that polling cost more than the relaying.
func (l *eventLoop) run() {
	defer close(l.done)
	evs := make([]unix.EpollEvent, 128)
	lastYield := time.Now()
	for {
		n, err := unix.EpollWait(l.epfd, evs, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			logx.Errorw("turn: event loop: epoll_wait failed", logx.Field("err", err.Error()))
			return
		}
		for i := range evs[:n] {
			tok := uint64(uint32(evs[i].Fd)) | uint64(uint32(evs[i].Pad))<<32
			if tok == 0 {
				if l.stop.Load() {
					return
				}
				continue
			}
			if v, ok := l.srcs.Load(tok); ok {
				v.(loopSource).readable()
			}
		}
		if now := time.Now(); now.Sub(lastYield) >= loopYieldEvery {
			lastYield = now
			runtime.Gosched()
		}
	}
}

// loopYieldEvery is how often a busy loop yields; see run.
const loopYieldEvery = 8 * time.Millisecond

// add makes the loop read fd for src, edge-triggered. Data queued before
// the call is reported at once.
func (l *eventLoop) add(fd *loopFD, src loopSource) error {
	tok := l.next.Add(1)
	l.srcs.Store(tok, src)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(uint32(tok)), Pad: int32(uint32(tok >> 32))}
	var cerr error
	err := fd.Control(func(raw uintptr) {
		cerr = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, int(raw), &ev)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		l.srcs.Delete(tok)
		return fmt.Errorf("turn: event loop: epoll_ctl add: %w", err)
	}
	fd.loop, fd.tok = l, tok
	return nil
}

// shutdown ends the loop and waits for it; its sockets are closed already.
func (l *eventLoop) shutdown() {
	l.stop.Store(true)
	one := uint64(1)
	_, _ = unix.Write(l.wakefd, (*[8]byte)(unsafe.Pointer(&one))[:])
	select {
	case <-l.done:
	case <-time.After(stopTimeout):
		logx.Errorw("turn: event loop did not stop")
		return // leave the descriptors: the thread may still use them
	}
	_ = unix.Close(l.epfd)
	_ = unix.Close(l.wakefd)
}

// loopFD is a UDP socket a loop reads, as a syscall.RawConn so that
// rawSender and batchReader work on it. Every use holds the read lock and
// checks closed, and close takes the write lock: the descriptor number is
// never used after close(2), when the kernel may hand it out again.
type loopFD struct {
	mu     sync.RWMutex
	fd     int
	closed bool
	loop   *eventLoop
	tok    uint64
}

var _ syscall.RawConn = (*loopFD)(nil)

// detach moves uc's socket out of Go's poller: a duplicate descriptor (the
// same socket, still non-blocking) survives uc.Close, which removes uc's
// descriptor from the runtime's epoll set.
func detach(uc *net.UDPConn) (*loopFD, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, fmt.Errorf("turn: dup: %w", derr)
	}
	if err := uc.Close(); err != nil {
		_ = unix.Close(nfd)
		return nil, err
	}
	return &loopFD{fd: nfd}, nil
}

// Control runs f with the descriptor, unless it is closed.
func (f *loopFD) Control(fn func(uintptr)) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return net.ErrClosed
	}
	fn(uintptr(f.fd))
	return nil
}

// Read tries fn once: the loop never waits for data, epoll tells it.
func (f *loopFD) Read(fn func(uintptr) bool) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return net.ErrClosed
	}
	if !fn(uintptr(f.fd)) {
		return errWouldBlock
	}
	return nil
}

// Write tries fn, waiting up to loopSendWait for room in the send buffer.
func (f *loopFD) Write(fn func(uintptr) bool) error {
	deadline := time.Now().Add(loopSendWait)
	for {
		f.mu.RLock()
		if f.closed {
			f.mu.RUnlock()
			return net.ErrClosed
		}
		ok := fn(uintptr(f.fd))
		if !ok && time.Now().Before(deadline) {
			pfd := []unix.PollFd{{Fd: int32(f.fd), Events: unix.POLLOUT}}
			_, _ = unix.Poll(pfd, int(loopSendWait/time.Millisecond))
		}
		f.mu.RUnlock()
		if ok {
			return nil
		}
		if !time.Now().Before(deadline) {
			return errWouldBlock
		}
	}
}

// loopSendWait bounds how long a send from one of pion's goroutines waits
// for a full send buffer; the loop itself never waits (it drops).
const loopSendWait = 5 * time.Millisecond

// close takes the socket out of its loop and closes it.
func (f *loopFD) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return net.ErrClosed
	}
	f.closed = true
	if f.loop != nil {
		_ = unix.EpollCtl(f.loop.epfd, unix.EPOLL_CTL_DEL, f.fd, nil)
		f.loop.srcs.Delete(f.tok)
	}
	return unix.Close(f.fd)
}

// recvFrom reads one datagram without waiting.
func (f *loopFD) recvFrom(b []byte) (int, netip.AddrPort, error) {
	var sa unix.RawSockaddrInet6
	var n uintptr
	var errno syscall.Errno
	err := f.Control(func(fd uintptr) {
		for {
			salen := uint32(unix.SizeofSockaddrInet6)
			n, _, errno = unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
				unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen)))
			if errno != unix.EINTR {
				return
			}
		}
	})
	switch {
	case err != nil:
		return 0, netip.AddrPort{}, err
	case errno == unix.EAGAIN:
		return 0, netip.AddrPort{}, errWouldBlock
	case errno != 0:
		return 0, netip.AddrPort{}, fmt.Errorf("turn: recvfrom: %w", errno)
	}
	return int(n), sockaddrAddrPort(&sa), nil
}

// loopSock is a listen or relay socket in a loop, with the queue of
// datagrams the loop leaves to pion.
type loopSock struct {
	fd *loopFD
	q  *pktQueue
}

// newLoopSock detaches uc; the caller hands it to src, then calls start.
func newLoopSock(uc *net.UDPConn, queueLen int, drops *atomic.Uint64) (*loopSock, error) {
	fd, err := detach(uc)
	if err != nil {
		return nil, err
	}
	return &loopSock{fd: fd, q: newPktQueue(queueLen, drops)}, nil
}

// start registers the socket with l for src; src must be ready to read it.
// On failure the socket is closed, and pion's reader sees that.
func (ls *loopSock) start(l *eventLoop, src loopSource) error {
	if err := l.add(ls.fd, src); err != nil {
		_ = ls.close()
		return err
	}
	return nil
}

func (ls *loopSock) close() error {
	err := ls.fd.close()
	ls.q.close()
	return err
}

// eventLoopsSupported: this platform has event loops.
const eventLoopsSupported = true

// startLoops gives each UDP listen socket to one of n loops (round robin).
// A socket that cannot move stays with Go's poller.
func (s *Server) startLoops(udp []*listenerConn) {
	if !s.tune.eventLoops || len(udp) == 0 {
		return
	}
	n := loopCount(len(udp))
	for i := 0; i < n; i++ {
		l, err := newEventLoop()
		if err != nil {
			logx.Errorw("turn: event loops off", logx.Field("err", err.Error()))
			break
		}
		s.loops = append(s.loops, l)
	}
	if len(s.loops) == 0 {
		return
	}
	for i, lc := range udp {
		uc, ok := lc.PacketConn.(*net.UDPConn)
		if !ok || !lc.fast {
			continue
		}
		ls, err := newLoopSock(uc, listenQueue, &s.stats.loopQueueDrops)
		if err != nil {
			logx.Errorw("turn: listen socket stays off the event loop", logx.Field("err", err.Error()))
			continue
		}
		lc.raw = newRawSenderFor(ls.fd)
		lc.batch, lc.batchOK = newBatchReaderFor(ls.fd, max(s.tune.listenBatch, 1), s.tune.batchSlot), true
		lc.lp, lc.loop = ls, s.loops[i%len(s.loops)]
		if err := ls.start(lc.loop, lc); err != nil {
			logx.Errorw("turn: listen socket closed: event loop refused it", logx.Field("err", err.Error()))
		}
	}
}

// loopCount is how many loops serve the listen sockets: one per GOMAXPROCS
// but one, and none with a single P. A loop waiting in epoll_wait keeps its
// P (the scheduler's right to run Go code) for the whole system call, so
// loops on every P would leave none for pion, timers and the collector until
// sysmon takes one back, and that hand-off is what the loops exist to avoid.
func loopCount(sockets int) int {
	return min(sockets, runtime.GOMAXPROCS(0)-1)
}

// stopLoops ends the loops after every socket in them closed.
func (s *Server) stopLoops() {
	for _, l := range s.loops {
		l.shutdown()
	}
}

// listenQueue and relayQueue bound the datagrams a loop holds for pion's
// reader of a listen or relay socket; beyond them it drops, as a full
// socket buffer would.
const (
	listenQueue = 256
	relayQueue  = 32
)

// relayReadSize is the buffer pion's packetHandler reads a relay socket
// into: a longer datagram from a peer is truncated to it, on either path.
const relayReadSize = 1600

// readable relays ChannelData of bound channels to peers and queues the rest
// for pion; see listenerConn.ReadFrom for the same logic on Go's poller.
func (c *listenerConn) readable() {
	for fresh := true; ; fresh = false {
		if c.batch.queued() == 0 {
			c.out.flush()
			if !fresh && c.batch.drained() {
				return
			}
		}
		d, a, err := c.batch.next1()
		if err != nil {
			if !errors.Is(err, errWouldBlock) && !errors.Is(err, net.ErrClosed) {
				logx.Errorw("turn: listen socket read failed", logx.Field("err", err.Error()))
			}
			return
		}
		if bnd, payload := c.bound(d, a); bnd != nil {
			c.out.add(bnd, payload)
			continue
		}
		c.out.flush()
		c.lp.q.push(d, a)
	}
}

// toLoop moves the relay socket of an allocation whose client is on the
// listen socket lc into lc's loop. pion calls this (OnAllocationCreated)
// before it starts reading the relay.
func (c *relayConn) toLoop(lc *listenerConn) {
	if lc.loop == nil {
		return
	}
	c.lpMu.Lock()
	defer c.lpMu.Unlock()
	if c.closing || c.lp != nil {
		return
	}
	ls, err := newLoopSock(c.UDPConn, relayQueue, &c.s.stats.loopQueueDrops)
	if err != nil {
		logx.Errorw("turn: relay socket stays off the event loop", logx.Field("err", err.Error()))
		return
	}
	c.raw = newRawSenderFor(ls.fd)
	c.lp = ls
	if err := ls.start(lc.loop, c); err != nil {
		logx.Errorw("turn: relay socket closed: event loop refused it", logx.Field("err", err.Error()))
	}
}

// inLoop reports whether the relay moved into a loop (for tests).
func (c *relayConn) inLoop() bool {
	c.lpMu.Lock()
	defer c.lpMu.Unlock()
	return c.lp != nil
}

// readable relays datagrams from bound peers to the client and queues the
// rest for pion; see readFast for the same on Go's poller.
func (c *relayConn) readable() {
	f := &c.fast
	for fresh := true; ; fresh = false {
		if !fresh && c.batch != nil && c.batch.drained() {
			f.flush()
			return
		}
		buf := c.room(relayReadSize)
		n, a, err := c.readNow(buf[chanHeader : chanHeader+relayReadSize])
		if err != nil {
			f.flush()
			return
		}
		bnd := f.lookup(canonical(a.AddrPort()))
		if bnd == nil {
			f.flush()
			c.lp.q.push(buf[chanHeader:chanHeader+n], a)
			continue
		}
		c.relayFrame(buf, n, bnd)
	}
}

// readNow reads the next datagram without waiting: one recvfrom(2) a call
// until the relay proves busy, then batches.
func (c *relayConn) readNow(b []byte) (int, *net.UDPAddr, error) {
	if c.batch != nil {
		d, a, err := c.batch.next1()
		if err != nil {
			return 0, nil, err
		}
		return copy(b, d), a, nil
	}
	n, ap, err := c.lp.fd.recvFrom(b)
	if err != nil {
		return 0, nil, err
	}
	a, busy := c.noteRead(canonical(ap))
	if busy {
		c.batch = newBatchReaderFor(c.lp.fd, c.s.tune.relayBatch, c.s.tune.batchSlot)
		c.batching.Store(true)
	}
	return n, a, nil
}
