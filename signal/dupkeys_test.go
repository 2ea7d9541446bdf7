package signal

import (
	"strings"
	"testing"

	"github.com/rtcd/rtcd/signal/proto"
)

// TestDuplicateKeysRefused: a frame with a duplicate key is an error reply,
// not the message its last key makes it, and the socket keeps serving.
func TestDuplicateKeysRefused(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(nil)
	c.send(`{"v":1,"type":"ping","type":"hello","id":"h0"}`)
	m := c.expectError(proto.CodeBadRequest, "h0")
	if !strings.Contains(m.str("message"), `duplicate key "type"`) {
		t.Fatalf("message %q", m.str("message"))
	}
	a, b := e.peer("a"), e.peer("b")
	a.send(`{"v":1,"type":"ping","type":"join","id":"p","room":"r"}`)
	a.expectError(proto.CodeBadRequest, "p")
	a.send(`{"v":1,"type":"join","id":"j","room":"r","ROOM":"other"}`)
	a.expectError(proto.CodeBadRequest, "j")
	a.send(`{"v":1,"type":"ping","id":"1","id":"2"}`)
	a.expectError(proto.CodeBadRequest, "")
	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	a.send(`{"v":1,"type":"signal","id":"s","to":"` + b.id + `","kind":"offer","data":{"type":"offer","sdp":"v=0","sdp":"evil"}}`)
	m = a.expectError(proto.CodeBadRequest, "s")
	if !strings.Contains(m.str("message"), `"data.sdp"`) {
		t.Fatalf("message %q", m.str("message"))
	}
	a.send(`{"v":1,"type":"signal","to":"` + b.id + `","kind":"offer","data":{"type":"offer","sdp":"v=0"}}`)
	if got := b.expect(proto.TypeSignal); got.obj("data").str("sdp") != "v=0" {
		t.Fatalf("relayed %v", got)
	}
	c.hello("c") // the refused frame did not end the socket
	a.sync()
}
