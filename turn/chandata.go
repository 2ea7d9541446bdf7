package turn

import "encoding/binary"

// ChannelData framing (RFC 8656 §12.4) for the fast path: a 4-byte header
// (channel number, payload length) and the payload, padded to a multiple of
// 4 bytes over TCP. pion's rules are kept: numbers 0x4000-0x7FFF, a length
// longer than what follows is refused, bytes after the payload (padding) are
// ignored.
const (
	chanHeader = 4
	minChannel = 0x4000
	maxChannel = 0x7FFF
	// maxFastFrame is pion's inbound MTU: pion drops datagrams and frames of
	// this size or more, so the fast path never relays what pion would drop.
	maxFastFrame = 1600
)

// isChannelNumber reports whether n is a ChannelData channel number.
func isChannelNumber(n uint16) bool { return n >= minChannel && n <= maxChannel }

// parseChannelData returns the channel number and payload of the ChannelData
// message b (a UDP datagram, or one whole TCP frame); ok is false for
// anything else, including a length longer than the data and a message pion
// would drop as too long.
func parseChannelData(b []byte) (num uint16, payload []byte, ok bool) {
	if len(b) < chanHeader || len(b) >= maxFastFrame {
		return 0, nil, false
	}
	num = binary.BigEndian.Uint16(b)
	l := int(binary.BigEndian.Uint16(b[2:]))
	if !isChannelNumber(num) || l > len(b)-chanHeader {
		return 0, nil, false
	}
	return num, b[chanHeader : chanHeader+l], true
}

// putChannelHeader writes the ChannelData header for an n-byte payload into
// b[:4].
func putChannelHeader(b []byte, num uint16, n int) {
	binary.BigEndian.PutUint16(b, num)
	binary.BigEndian.PutUint16(b[2:], uint16(n)) //nolint:gosec // n < maxFastFrame
}

// padded is n rounded up to a multiple of 4, the length of a ChannelData
// message over TCP.
func padded(n int) int { return (n + 3) &^ 3 }
