package signal

import (
	"strings"
	"testing"
)

func TestTokenNode(t *testing.T) {
	tests := []struct{ tok, node string }{
		{"r_abc.n1", "n1"},
		{"r_abc", ""},
		{"x_abc.n1", ""},
		{"", ""},
		{"r_a-b_c.host.example", "host.example"},
		{"r_abc.a:b", ""},
		{"r_abc.", ""},
	}
	for _, tt := range tests {
		if got := tokenNode(tt.tok); got != tt.node {
			t.Errorf("tokenNode(%q) = %q, want %q", tt.tok, got, tt.node)
		}
	}
}

// TestLocalBus: a hub given no bus is a single node: no node id, ready,
// resume tokens without a node; a second bus is refused.
func TestLocalBus(t *testing.T) {
	e := newEnv(t, Config{})
	if e.hub.NodeID() != "" || e.hub.Ready() != nil {
		t.Fatalf("node %q ready %v", e.hub.NodeID(), e.hub.Ready())
	}
	if tok := e.hub.newResumeToken(); strings.Contains(tok, ".") || tokenNode(tok) != "" {
		t.Fatalf("single-node resume token %q names a node", tok)
	}
	if err := e.hub.StartBus(otherBus{}); err != nil {
		t.Fatal(err)
	}
	if err := e.hub.StartBus(otherBus{}); err == nil {
		t.Fatal("second StartBus accepted")
	}
}

// otherBus is a bus that shares nothing but is not the local one.
type otherBus struct{ localBus }
