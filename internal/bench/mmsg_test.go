package bench

import (
	"bytes"
	"testing"
)

// TestChanConnFraming: the batched generator's ChannelData framing round
// trips, and anything but ChannelData of its own channel (another channel,
// a short header, a length past the datagram, STUN) is not taken for an
// echo.
func TestChanConnFraming(t *testing.T) {
	c := &chanConn{ch: benchChannel}
	payload := []byte("bench payload")
	frame := make([]byte, 64)
	n := c.frame(frame, payload)
	if n != chanHeaderLen+len(payload) {
		t.Fatalf("frame of %d bytes, want %d", n, chanHeaderLen+len(payload))
	}
	if got, ok := c.unframe(frame[:n]); !ok || !bytes.Equal(got, payload) {
		t.Fatalf("unframe: %q, %v", got, ok)
	}
	if got, ok := c.unframe(append(frame[:n:n], 0, 0, 0)); !ok || !bytes.Equal(got, payload) {
		t.Fatalf("padded: %q, %v", got, ok)
	}
	other := append([]byte(nil), frame[:n]...)
	other[1] = 0x01
	for name, b := range map[string][]byte{
		"other channel": other,
		"short":         frame[:3],
		"length past":   frame[:n-1],
		"stun":          {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42},
	} {
		if _, ok := c.unframe(b); ok {
			t.Errorf("%s: taken for ChannelData", name)
		}
	}
	raw := &chanConn{}
	if got, ok := raw.unframe(payload); !ok || !bytes.Equal(got, payload) {
		t.Fatalf("raw UDP: %q, %v", got, ok)
	}
}
