package turn

import (
	"net"
	"testing"

	pionturn "github.com/pion/turn/v4"

	"github.com/rtcd/rtcd/internal/callback"
)

// TestGatedEventsStopAtShut checks that every pion event the relay handles
// reaches it while the gate is open and none does once Stop shut it.
func TestGatedEventsStopAtShut(t *testing.T) {
	calls := 0
	count := func() { calls++ }
	h := pionturn.EventHandler{
		OnAuth:              func(_, _ net.Addr, _, _, _, _ string, _ bool) { count() },
		OnAllocationCreated: func(_, _ net.Addr, _, _, _ string, _ net.Addr, _ int) { count() },
		OnAllocationDeleted: func(_, _ net.Addr, _, _, _ string) { count() },
		OnAllocationError:   func(_, _ net.Addr, _, _ string) { count() },
		OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, _ net.Addr, _ net.IP) { count() },
		OnPermissionDeleted: func(_, _ net.Addr, _, _, _ string, _ net.Addr, _ net.IP) { count() },
		OnChannelCreated:    func(_, _ net.Addr, _, _, _ string, _, _ net.Addr, _ uint16) { count() },
		OnChannelDeleted:    func(_, _ net.Addr, _, _, _ string, _, _ net.Addr, _ uint16) { count() },
	}
	var gate callback.Gate
	g := gatedEvents(&gate, h)
	fire := func() {
		g.OnAuth(nil, nil, "", "", "", "", true)
		g.OnAllocationCreated(nil, nil, "", "", "", nil, 0)
		g.OnAllocationDeleted(nil, nil, "", "", "")
		g.OnAllocationError(nil, nil, "", "")
		g.OnPermissionCreated(nil, nil, "", "", "", nil, nil)
		g.OnPermissionDeleted(nil, nil, "", "", "", nil, nil)
		g.OnChannelCreated(nil, nil, "", "", "", nil, nil, 0)
		g.OnChannelDeleted(nil, nil, "", "", "", nil, nil, 0)
	}
	fire()
	if calls != 8 {
		t.Fatalf("open gate: %d of 8 events reached the handler", calls)
	}
	gate.Shut()
	fire()
	if calls != 8 {
		t.Fatalf("shut gate: %d events reached the handler after Shut", calls-8)
	}
}
