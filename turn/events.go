package turn

import (
	"net"

	pionturn "github.com/pion/turn/v4"

	"github.com/rtcd/rtcd/internal/callback"
)

// gatedEvents wraps pion's allocation event handlers so that they run
// through gate: an allocation's lifetime or permission timer can fire on
// pion's goroutine while the server stops, and once Stop has shut the gate
// no such event touches the server's counters, tables or logs.
func gatedEvents(gate *callback.Gate, h pionturn.EventHandler) pionturn.EventHandler {
	var out pionturn.EventHandler
	if f := h.OnAuth; f != nil {
		out.OnAuth = func(src, dst net.Addr, proto, user, realm, method string, verdict bool) {
			if gate.Enter() {
				defer gate.Leave()
				f(src, dst, proto, user, realm, method, verdict)
			}
		}
	}
	if f := h.OnAllocationCreated; f != nil {
		out.OnAllocationCreated = func(src, dst net.Addr, proto, user, realm string, relay net.Addr, port int) {
			if gate.Enter() {
				defer gate.Leave()
				f(src, dst, proto, user, realm, relay, port)
			}
		}
	}
	if f := h.OnAllocationDeleted; f != nil {
		out.OnAllocationDeleted = func(src, dst net.Addr, proto, user, realm string) {
			if gate.Enter() {
				defer gate.Leave()
				f(src, dst, proto, user, realm)
			}
		}
	}
	if f := h.OnAllocationError; f != nil {
		out.OnAllocationError = func(src, dst net.Addr, proto, msg string) {
			if gate.Enter() {
				defer gate.Leave()
				f(src, dst, proto, msg)
			}
		}
	}
	if f := h.OnPermissionCreated; f != nil {
		out.OnPermissionCreated = func(src, dst net.Addr, proto, user, realm string, relay net.Addr, peer net.IP) {
			if gate.Enter() {
				defer gate.Leave()
				f(src, dst, proto, user, realm, relay, peer)
			}
		}
	}
	if f := h.OnPermissionDeleted; f != nil {
		out.OnPermissionDeleted = func(src, dst net.Addr, proto, user, realm string, relay net.Addr, peer net.IP) {
			if gate.Enter() {
				defer gate.Leave()
				f(src, dst, proto, user, realm, relay, peer)
			}
		}
	}
	if f := h.OnChannelCreated; f != nil {
		out.OnChannelCreated = func(src, dst net.Addr, proto, user, realm string, relay, peer net.Addr, num uint16) {
			if gate.Enter() {
				defer gate.Leave()
				f(src, dst, proto, user, realm, relay, peer, num)
			}
		}
	}
	if f := h.OnChannelDeleted; f != nil {
		out.OnChannelDeleted = func(src, dst net.Addr, proto, user, realm string, relay, peer net.Addr, num uint16) {
			if gate.Enter() {
				defer gate.Leave()
				f(src, dst, proto, user, realm, relay, peer, num)
			}
		}
	}
	return out
}
