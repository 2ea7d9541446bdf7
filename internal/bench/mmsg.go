package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/pion/stun/v3"
	"golang.org/x/net/ipv4"

	"github.com/rtcd/rtcd/internal/callback"
)

// The batched load generator. pion's TURN client frames every datagram
// behind locks and a per-packet goroutine hand-off, so with it bench used
// up its own core before the relay did (rtcd/raw UDP ≈ 0.35 in
// docs/performance.md). For UDP, bench now sets up the allocation and the
// channel itself (Allocate, ChannelBind: RFC 8656 §7, §11) on a socket
// connected to the server, frames ChannelData itself, and moves datagrams
// with sendmmsg/recvmmsg (golang.org/x/net/ipv4 batches), mmsgBatch at a
// time; raw-UDP flows use the same batches, and so does the echo peer. Every
// flow has its own socket, sender and receiver goroutine, so the load
// spreads over the cores. --client pion keeps pion's client, for the old
// numbers and for TCP.

// mmsgBatch is the most datagrams one sendmmsg/recvmmsg moves.
const mmsgBatch = 32

// chanHeaderLen is the ChannelData header (RFC 8656 §12.4).
const chanHeaderLen = 4

// benchChannel is the channel number every raw flow binds (each flow has its
// own allocation).
const benchChannel = 0x4000

// chanConn is a flow's socket connected to the TURN server, speaking
// ChannelData on channel ch (ch 0: plain datagrams, for raw UDP). It is a
// net.PacketConn for probe and the paced sender; the closed loop uses uc
// with batches.
type chanConn struct {
	uc  *net.UDPConn
	pc  *ipv4.PacketConn
	ch  uint16
	buf []byte // WriteTo's frame; probe and the paced sender are single goroutines
}

func newChanConn(uc *net.UDPConn, ch uint16) *chanConn {
	return &chanConn{uc: uc, pc: ipv4.NewPacketConn(uc), ch: ch, buf: make([]byte, maxPktSize+chanHeaderLen)}
}

// WriteTo sends b (to the connected address: addr is the peer, which the
// channel already names).
func (c *chanConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	if c.ch == 0 {
		return c.uc.Write(b)
	}
	n := c.frame(c.buf, b)
	if _, err := c.uc.Write(c.buf[:n]); err != nil {
		return 0, err
	}
	return len(b), nil
}

// frame writes b as ChannelData into dst and returns the frame's length.
func (c *chanConn) frame(dst, b []byte) int {
	binary.BigEndian.PutUint16(dst[0:], c.ch)
	binary.BigEndian.PutUint16(dst[2:], uint16(len(b))) //nolint:gosec // b <= maxPktSize
	return chanHeaderLen + copy(dst[chanHeaderLen:], b)
}

// unframe returns the payload of a received datagram, or false for
// anything but ChannelData on c's channel.
func (c *chanConn) unframe(b []byte) ([]byte, bool) {
	if c.ch == 0 {
		return b, true
	}
	if len(b) < chanHeaderLen || binary.BigEndian.Uint16(b) != c.ch {
		return nil, false
	}
	l := int(binary.BigEndian.Uint16(b[2:]))
	if l > len(b)-chanHeaderLen {
		return nil, false
	}
	return b[chanHeaderLen : chanHeaderLen+l], true
}

// ReadFrom returns the next payload on the channel.
func (c *chanConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, err := c.uc.Read(c.buf)
		if err != nil {
			return 0, nil, err
		}
		if p, ok := c.unframe(c.buf[:n]); ok {
			return copy(b, p), c.uc.RemoteAddr(), nil
		}
	}
}

func (c *chanConn) Close() error                       { return c.uc.Close() }
func (c *chanConn) LocalAddr() net.Addr                { return c.uc.LocalAddr() }
func (c *chanConn) SetDeadline(t time.Time) error      { return c.uc.SetDeadline(t) }
func (c *chanConn) SetReadDeadline(t time.Time) error  { return c.uc.SetReadDeadline(t) }
func (c *chanConn) SetWriteDeadline(t time.Time) error { return c.uc.SetWriteDeadline(t) }

// dialConnected opens a UDP socket connected to addr with bench's buffers.
func dialConnected(addr *net.UDPAddr) (*net.UDPConn, error) {
	local := &net.UDPAddr{IP: net.IPv4zero}
	if addr.IP.IsLoopback() {
		local.IP = net.IPv4(127, 0, 0, 1)
	}
	uc, err := net.DialUDP("udp4", local, addr)
	if err != nil {
		return nil, fmt.Errorf("bench: client socket to %s: %w", addr, err)
	}
	_ = uc.SetReadBuffer(sockBuf)
	_ = uc.SetWriteBuffer(sockBuf)
	return uc, nil
}

// dialRawRelay allocates on the TURN server and binds benchChannel to peer
// with bench's own STUN requests, then waits for an echo through it.
func dialRawRelay(ctx context.Context, t relayTarget, id uint32, peer *net.UDPAddr, size int,
	timeout time.Duration,
) (*openFlow, error) {
	srv, err := net.ResolveUDPAddr("udp4", t.server)
	if err != nil {
		return nil, fmt.Errorf("bench: --server %q: %w", t.server, err)
	}
	uc, err := dialConnected(srv)
	if err != nil {
		return nil, err
	}
	o := &openFlow{closers: []func(){func() { _ = uc.Close() }}}
	ok := false
	defer func() {
		if !ok {
			o.close()
		}
	}()
	stop := callback.AfterFunc(ctx, func() { _ = uc.Close() })
	defer stop()
	rt := &stunRT{conn: uc, timeout: timeout, buf: make([]byte, 1500)}
	s, err := allocateRaw(rt, t, t.user+strconv.Itoa(int(id)))
	if err != nil {
		return nil, fmt.Errorf("bench: allocate on %s: %w", t.server, err)
	}
	// Refresh LIFETIME 0 frees the allocation at close, as pion's client does.
	o.closers = append(o.closers, func() {
		rt.timeout = time.Second
		_, _ = s.request(rt, stun.MethodRefresh, lifetimeZero)
	})
	if _, err := s.request(rt, stun.MethodChannelBind,
		stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{benchChannel >> 8, benchChannel & 0xff, 0, 0}},
		xorPeer(peer)); err != nil {
		return nil, fmt.Errorf("bench: channel bind on %s: %w", t.server, err)
	}
	cc := newChanConn(uc, benchChannel)
	o.flow = flow{id: id, conn: cc, peer: peer, raw: cc}
	if err := probe(ctx, o.flow, size, timeout); err != nil {
		return nil, fmt.Errorf("bench: relay to echo peer %s via %s: %w", peer, t.server, err)
	}
	ok = true
	return o, nil
}

// xorPeer is the XOR-PEER-ADDRESS attribute for peer.
func xorPeer(peer *net.UDPAddr) stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		return (&stun.XORMappedAddress{IP: peer.IP, Port: peer.Port}).AddToAs(m, stun.AttrXORPeerAddress)
	})
}

type setterFunc func(*stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

// turnSession is what authenticated requests on one allocation carry.
type turnSession struct {
	uname     stun.Username
	realm     stun.Realm
	nonce     stun.Nonce
	integrity stun.MessageIntegrity
}

// allocateRaw makes an allocation over rt: the 401 challenge, then the
// authenticated Allocate (and once more after a 438 Stale Nonce).
func allocateRaw(rt *stunRT, t relayTarget, user string) (*turnSession, error) {
	req, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		requestedUDP, stun.Fingerprint)
	if err != nil {
		return nil, err
	}
	res, err := rt.do(req)
	if err != nil {
		return nil, err
	}
	s := &turnSession{}
	if res.Type.Class != stun.ClassErrorResponse {
		return nil, fmt.Errorf("unauthenticated allocate: got %s, want 401", res.Type)
	}
	if err := s.nonce.GetFrom(res); err != nil {
		return nil, errorCode(res)
	}
	if err := s.realm.GetFrom(res); err != nil {
		return nil, errorCode(res)
	}
	username, password := restCredentials(t.secret, user, time.Now().Add(24*time.Hour))
	s.uname = stun.NewUsername(username)
	s.integrity = stun.NewLongTermIntegrity(username, s.realm.String(), password)
	if _, err := s.request(rt, stun.MethodAllocate, requestedUDP); err != nil {
		return nil, err
	}
	return s, nil
}

// request sends an authenticated request, once more after a stale nonce,
// and returns the success response.
func (s *turnSession) request(rt *stunRT, method stun.Method, attrs ...stun.Setter) (*stun.Message, error) {
	for attempt := 0; ; attempt++ {
		all := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
		all = append(all, s.uname, s.realm, s.nonce, s.integrity, stun.Fingerprint)
		req, err := stun.Build(all...)
		if err != nil {
			return nil, err
		}
		res, err := rt.do(req)
		if err != nil {
			return nil, err
		}
		if res.Type.Class == stun.ClassSuccessResponse {
			return res, nil
		}
		if attempt == 0 && isStale(res, &s.nonce) {
			continue
		}
		return nil, fmt.Errorf("%s: %w", method, errorCode(res))
	}
}

// dialRawUDP is dialUDP with a connected socket and batches: the no-relay
// reference through the same load generator.
func dialRawUDP(ctx context.Context, id uint32, peer *net.UDPAddr, size int, timeout time.Duration) (*openFlow, error) {
	uc, err := dialConnected(peer)
	if err != nil {
		return nil, err
	}
	cc := newChanConn(uc, 0)
	o := &openFlow{flow: flow{id: id, conn: cc, peer: peer, raw: cc}, closers: []func(){func() { _ = uc.Close() }}}
	if err := probe(ctx, o.flow, size, timeout); err != nil {
		o.close()
		return nil, fmt.Errorf("bench: udp echo %s: %w", peer, err)
	}
	return o, nil
}

// batchSender sends closed-loop datagrams for one flow, up to mmsgBatch
// per sendmmsg.
type batchSender struct {
	c    *chanConn
	msgs []ipv4.Message
	bufs [][]byte
}

func newBatchSender(c *chanConn, size int) *batchSender {
	s := &batchSender{c: c, msgs: make([]ipv4.Message, mmsgBatch), bufs: make([][]byte, mmsgBatch)}
	for i := range s.bufs {
		s.bufs[i] = make([]byte, chanHeaderLen+size)
		s.msgs[i].Buffers = [][]byte{nil}
	}
	return s
}

// send sends k datagrams (k <= mmsgBatch), numbered from *seq, stamped t.
// It returns how many went out.
func (s *batchSender) send(id uint32, seq *uint64, t time.Duration, k, size int) (int, error) {
	for i := 0; i < k; i++ {
		b := s.bufs[i]
		if s.c.ch == 0 {
			putHeader(b, id, *seq, t)
			s.msgs[i].Buffers[0] = b[:size]
		} else {
			putHeader(b[chanHeaderLen:], id, *seq, t)
			binary.BigEndian.PutUint16(b[0:], s.c.ch)
			binary.BigEndian.PutUint16(b[2:], uint16(size)) //nolint:gosec // size <= maxPktSize
			s.msgs[i].Buffers[0] = b[:chanHeaderLen+size]
		}
		*seq++
	}
	sent := 0
	for sent < k {
		n, err := s.c.pc.WriteBatch(s.msgs[sent:k], 0)
		if err != nil {
			return sent, err
		}
		sent += n
	}
	return sent, nil
}

// batchReceiver reads up to mmsgBatch datagrams per recvmmsg.
type batchReceiver struct {
	c    *chanConn
	msgs []ipv4.Message
}

func newBatchReceiver(c *chanConn) *batchReceiver {
	r := &batchReceiver{c: c, msgs: make([]ipv4.Message, mmsgBatch)}
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{make([]byte, maxPktSize+chanHeaderLen)}
	}
	return r
}

// read blocks for at least one datagram and calls f with each payload.
func (r *batchReceiver) read(f func(payload []byte)) error {
	n, err := r.c.pc.ReadBatch(r.msgs, 0)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if p, ok := r.c.unframe(r.msgs[i].Buffers[0][:r.msgs[i].N]); ok {
			f(p)
		}
	}
	return nil
}

// isClosed reports a socket closed under the loop.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) }
