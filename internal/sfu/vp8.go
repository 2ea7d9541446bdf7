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
