package client

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrChecksum reports a data message whose SHA-256 does not match its payload.
var ErrChecksum = errors.New("client: data checksum mismatch")

// sealedHeader is seq (8 bytes) followed by the SHA-256 of seq+payload.
const sealedHeader = 8 + sha256.Size

// seal builds a self-verifying data message: an 8-byte sequence number, the
// SHA-256 of sequence number and payload, then size random payload bytes. The
// test calls (RunCall) use it so that every message crossing the relay is
// checked end to end.
func seal(seq uint64, size int) []byte {
	msg := make([]byte, sealedHeader+size)
	binary.BigEndian.PutUint64(msg[:8], seq)
	_, _ = rand.Read(msg[sealedHeader:])
	sum := sha256.New()
	sum.Write(msg[:8])
	sum.Write(msg[sealedHeader:])
	copy(msg[8:sealedHeader], sum.Sum(nil))
	return msg
}

// openSealed verifies a message made by seal and returns its sequence number.
func openSealed(msg []byte) (uint64, error) {
	if len(msg) < sealedHeader {
		return 0, fmt.Errorf("%w: short message (%d bytes)", ErrChecksum, len(msg))
	}
	sum := sha256.New()
	sum.Write(msg[:8])
	sum.Write(msg[sealedHeader:])
	if !bytes.Equal(sum.Sum(nil), msg[8:sealedHeader]) {
		return 0, ErrChecksum
	}
	return binary.BigEndian.Uint64(msg[:8]), nil
}
