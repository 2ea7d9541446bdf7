package sfu

// vp8Keyframe reports whether payload, the payload of one RTP packet of
// VP8 (RFC 7741), begins a keyframe, and the frame's size when it does: a
// layer switch may start only there, and the size tells which layer covers
// a tile.
func vp8Keyframe(payload []byte) (key bool, width, height int) {
	frame, ok := vp8FrameStart(payload)
	if !ok {
		return false, 0, 0
	}
	// The frame tag's P bit is 0 on a keyframe (RFC 6386 §9.1).
	if frame[0]&0x01 != 0 {
		return false, 0, 0
	}
	// 3 bytes of frame tag, the start code, then 14 bits each of width and
	// height (the top 2 bits are scaling).
	if len(frame) < 10 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return true, 0, 0
	}
	width = int(frame[6]) | int(frame[7]&0x3f)<<8
	height = int(frame[8]) | int(frame[9]&0x3f)<<8
	return true, width, height
}

// vp8FrameStart returns the VP8 frame that payload, one RTP packet's
// payload, begins after its descriptor (RFC 7741 §4.2), or false when the
// packet does not begin a frame.
func vp8FrameStart(payload []byte) (frame []byte, ok bool) {
	if len(payload) < 1 {
		return nil, false
	}
	d := payload[0]
	// S (start of partition) set and partition index 0: the frame begins.
	if d&0x10 == 0 || d&0x07 != 0 {
		return nil, false
	}
	i := 1
	if d&0x80 != 0 { // X: extended control bits
		if len(payload) <= i {
			return nil, false
		}
		x := payload[i]
		i++
		if x&0x80 != 0 { // I: picture id, 7 or 15 bits
			if len(payload) <= i {
				return nil, false
			}
			if payload[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	if len(payload) <= i {
		return nil, false
	}
	return payload[i:], true
}

// vp8Descriptor locates the picture ID and TL0PICIDX in the payload
// descriptor of one VP8 packet (RFC 7741 §4.2): the offset of each, -1 when
// absent, and whether the picture ID has 15 bits.
type vp8Descriptor struct {
	pic   int
	pic15 bool
	tl0   int
}

func parseVP8Descriptor(payload []byte) vp8Descriptor {
	d := vp8Descriptor{pic: -1, tl0: -1}
	if len(payload) < 2 || payload[0]&0x80 == 0 {
		return d
	}
	x, i := payload[1], 2
	if x&0x80 != 0 { // I
		if len(payload) <= i {
			return d
		}
		d.pic, d.pic15 = i, payload[i]&0x80 != 0
		i++
		if d.pic15 {
			if len(payload) <= i { // a truncated 15-bit id
				d.pic = -1
				return d
			}
			i++
		}
	}
	if x&0x40 != 0 && len(payload) > i { // L
		d.tl0 = i
	}
	return d
}

// vp8Rewriter keeps a subscriber's VP8 picture IDs and TL0PICIDX running
// on across layer switches. Each simulcast layer numbers its pictures on
// its own; a receiver that sees the numbers jump back takes the new
// layer's frames for old ones and drops them.
type vp8Rewriter struct {
	picOffset, lastPic uint16 // 15-bit arithmetic
	tl0Offset, lastTL0 uint8
	seen               bool
	scratch            []byte // the rewritten payload, reused: written before the next packet
}

// rewrite returns payload with its picture ID and TL0PICIDX moved by the
// offsets; switched says the packet begins a newly forwarded layer, whose
// numbers then continue the last ones sent.
func (w *vp8Rewriter) rewrite(payload []byte, switched bool) []byte {
	d := parseVP8Descriptor(payload)
	if d.pic < 0 && d.tl0 < 0 {
		return payload
	}
	var pic uint16
	if d.pic >= 0 {
		pic = uint16(payload[d.pic] & 0x7f)
		if d.pic15 {
			pic = pic<<8 | uint16(payload[d.pic+1])
		}
	}
	var tl0 uint8
	if d.tl0 >= 0 {
		tl0 = payload[d.tl0]
	}
	if switched && w.seen {
		w.picOffset = (w.lastPic + 1 - pic) & 0x7fff
		w.tl0Offset = w.lastTL0 + 1 - tl0
	}
	out := append(w.scratch[:0], payload...)
	w.scratch = out
	if d.pic >= 0 {
		p := (pic + w.picOffset) & 0x7fff
		if d.pic15 {
			out[d.pic], out[d.pic+1] = 0x80|byte(p>>8), byte(p)
		} else {
			p &= 0x7f
			out[d.pic] = byte(p)
		}
		if !w.seen || int16((p-w.lastPic)<<1) > 0 {
			w.lastPic = p
		}
	}
	if d.tl0 >= 0 {
		t := tl0 + w.tl0Offset
		out[d.tl0] = t
		if !w.seen || int8(t-w.lastTL0) > 0 {
			w.lastTL0 = t
		}
	}
	w.seen = true
	return out
}
