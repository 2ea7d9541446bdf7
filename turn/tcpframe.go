package turn

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// frameReader splits a TURN-over-TCP byte stream into frames (STUN messages
// and ChannelData, RFC 8656 §12.5) with one reused buffer, so that one
// read(2) can carry many frames. ChannelData of a channel bound on its conn
// is relayed on the spot; every other frame reaches pion's STUNConn
// unchanged and in order. Bytes that are no TURN frame end the conn with an
// error, as pion's STUNConn does.
//
// Frame sizes follow RFC 8656 with the 16-bit arithmetic of pion's STUNConn,
// so both stay in step; a length that wraps around is refused (pion would
// spin on the zero-length frame it yields). pion also takes a ChannelData
// frame whose payload starts with the STUN magic cookie for a STUN message;
// such a frame of a bound channel is relayed correctly here.
type frameReader struct {
	buf  []byte
	r, w int // buf[r:w] is unread
	give int // bytes from r on that belong to pion (the frame being passed on)
	err  error
	out  peerSends // relayed payloads not yet sent; they point into buf
	busy bool      // a frame was relayed: buf grows to tcpFrameBuffer
}

// The frame reader's buffer starts with room for any frame the fast path
// relays (< maxFastFrame) and grows, once the conn relays, to hold many
// 1200-byte media frames per read; conns that only allocate or signal stay
// small.
const (
	tcpFrameStart  = 2 << 10
	tcpFrameBuffer = 8 << 10
)

// errBadFrame ends a TURN-over-TCP conn whose stream is no TURN framing.
var errBadFrame = errors.New("turn: TCP stream is not STUN or ChannelData framed")

// frame kinds.
const (
	frameIncomplete  = iota // need more bytes to tell
	frameSTUN               // size known, for pion
	frameChannelData        // size known, may be relayed
	frameInvalid            // not a TURN frame
)

// nextFrame classifies the frame at the start of b and returns its size.
func nextFrame(b []byte) (kind, size int) {
	if len(b) < chanHeader {
		return frameIncomplete, 0
	}
	switch b0 := b[0]; {
	case b0&0xC0 == 0x40: // channel numbers 0x4000-0x7FFF
		l := binary.BigEndian.Uint16(b[2:4])
		ds := l
		if over := (ds + 4) % 4; over != 0 {
			ds = (ds + 4) - over
		}
		ds += chanHeader
		if int(ds) < chanHeader+int(l) {
			return frameInvalid, 0 // wrapped
		}
		return frameChannelData, int(ds)
	case b0&0xC0 == 0:
		if len(b) < 8 {
			return frameIncomplete, 0
		}
		if binary.BigEndian.Uint32(b[4:8]) != 0x2112A442 { // STUN magic cookie
			return frameInvalid, 0
		}
		l := binary.BigEndian.Uint16(b[2:4])
		if ds := l + 20; ds >= 20 {
			return frameSTUN, int(ds)
		}
		return frameInvalid, 0 // wrapped
	default:
		return frameInvalid, 0
	}
}

// read fills p with the next bytes for pion, relaying bound ChannelData on
// the way. c supplies the stream and the bindings.
func (f *frameReader) read(c *tcpConn, p []byte) (int, error) {
	for {
		if f.give > 0 {
			if f.r < f.w {
				n := copy(p, f.buf[f.r:f.r+min(f.w-f.r, f.give)])
				f.give -= n
				f.r += n
				return n, nil
			}
			if f.err != nil {
				return 0, f.err
			}
			// Nothing buffered: pass the rest of the frame straight through.
			n, err := c.readConn(p[:min(len(p), f.give)])
			f.give -= n
			return n, err
		}
		if f.r == f.w {
			f.r, f.w = 0, 0
		}
		kind, size := nextFrame(f.buf[f.r:f.w])
		switch {
		case kind == frameInvalid:
			f.out.flush()
			return 0, fmt.Errorf("%w (from %v)", errBadFrame, c.raddr)
		case kind == frameSTUN || (kind == frameChannelData && size > len(f.buf)):
			f.out.flush() // in order with what pion sends
			f.give = size
			continue
		case kind == frameChannelData && f.w-f.r >= size:
			if bnd, payload := c.bound(f.buf[f.r : f.r+size]); bnd != nil {
				f.out.add(bnd, payload)
				f.r += size
				f.busy = true
			} else {
				f.out.flush()
				f.give = size
			}
			continue
		}
		// Incomplete: send what was relayed, then read more after moving the
		// partial frame to the front.
		f.out.flush()
		if f.err != nil {
			return 0, f.err
		}
		if f.busy && len(f.buf) < tcpFrameBuffer {
			f.buf = append(make([]byte, 0, tcpFrameBuffer), f.buf[f.r:f.w]...)[:tcpFrameBuffer]
			f.w -= f.r
			f.r = 0
		}
		if f.r > 0 {
			f.w = copy(f.buf, f.buf[f.r:f.w])
			f.r = 0
		}
		n, err := c.readConn(f.buf[f.w:])
		f.w += n
		f.err = err
	}
}

// bound returns the binding and payload of a whole ChannelData frame of a
// channel bound on this conn, or nil.
func (c *tcpConn) bound(frame []byte) (*binding, []byte) {
	num, payload, ok := parseChannelData(frame)
	if !ok {
		return nil, nil
	}
	return c.tbl.get(c.rap, num), payload
}
