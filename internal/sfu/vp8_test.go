package sfu

import "testing"

// vp8Frame is a VP8 frame as the test publishers send it: a keyframe with
// its size, or an interframe, then marker and filler up to size bytes.
func vp8Frame(key bool, width, height int, marker byte, size int) []byte {
	f := make([]byte, max(size, 12))
	if key {
		f[0] = 0x00 // P = 0
		f[3], f[4], f[5] = 0x9d, 0x01, 0x2a
		f[6], f[7] = byte(width), byte(width>>8)
		f[8], f[9] = byte(height), byte(height>>8)
	} else {
		f[0] = 0x01
	}
	f[10] = marker
	return f
}

func TestVP8Keyframe(t *testing.T) {
	key := vp8Frame(true, 1280, 720, 'f', 40)
	inter := vp8Frame(false, 0, 0, 'f', 40)
	cases := []struct {
		name          string
		payload       []byte
		key           bool
		width, height int
	}{
		{"keyframe, short descriptor", append([]byte{0x10}, key...), true, 1280, 720},
		{"keyframe, 15-bit picture id", append([]byte{0x90, 0x80, 0x81, 0x23}, key...), true, 1280, 720},
		{"keyframe, 7-bit picture id, TL0PICIDX, TID", append([]byte{0x90, 0xe0, 0x12, 0x05, 0x40}, key...), true, 1280, 720},
		{"interframe", append([]byte{0x10}, inter...), false, 0, 0},
		{"not the start of the frame", append([]byte{0x00}, key...), false, 0, 0},
		{"second partition", append([]byte{0x11}, key...), false, 0, 0},
		{"keyframe without start code", []byte{0x10, 0x00, 0x00, 0x00}, true, 0, 0},
		{"empty", nil, false, 0, 0},
		{"descriptor only", []byte{0x90, 0x80}, false, 0, 0},
		{"truncated picture id", []byte{0x90, 0x80}, false, 0, 0},
	}
	for _, c := range cases {
		key, w, h := vp8Keyframe(c.payload)
		if key != c.key || w != c.width || h != c.height {
			t.Errorf("%s: %v %dx%d, want %v %dx%d", c.name, key, w, h, c.key, c.width, c.height)
		}
	}
}

// vp8Packet is a payload descriptor with a 15-bit picture ID and a
// TL0PICIDX, S set, then one frame byte.
func vp8Packet(pic uint16, tl0 uint8) []byte {
	return []byte{0x90, 0xc0, 0x80 | byte(pic>>8), byte(pic), tl0, 0x00}
}

func pictureOf(b []byte) (uint16, uint8) {
	d := parseVP8Descriptor(b)
	return uint16(b[d.pic]&0x7f)<<8 | uint16(b[d.pic+1]), b[d.tl0]
}

// TestVP8Rewriter checks that picture IDs and TL0PICIDX run on across a
// switch to a layer that numbers its pictures elsewhere, across the 15-bit
// wrap, and that payloads without them or truncated pass unchanged.
func TestVP8Rewriter(t *testing.T) {
	var w vp8Rewriter
	var got [][2]int
	send := func(pic uint16, tl0 uint8, switched bool) {
		p, l := pictureOf(w.rewrite(vp8Packet(pic, tl0), switched))
		got = append(got, [2]int{int(p), int(l)})
	}
	send(100, 7, true) // the first layer keeps its numbers
	send(101, 8, false)
	send(101, 8, false)     // a second packet of the same picture
	send(30000, 200, true)  // another layer: continues at 102, 9
	send(30001, 201, false) // and follows it
	send(0x7fff, 50, true)  // and again, from just below the wrap
	send(0, 51, false)
	want := [][2]int{{100, 7}, {101, 8}, {101, 8}, {102, 9}, {103, 10}, {104, 11}, {105, 12}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pictures %v, want %v", got, want)
		}
	}
	for _, b := range [][]byte{{0x10, 0x00}, {0x90, 0x80, 0x80}, nil} {
		if out := w.rewrite(b, true); string(out) != string(b) {
			t.Errorf("rewrite(%x) = %x, want it unchanged", b, out)
		}
	}
}
