package signal

import (
	"testing"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

// eventLog collects a hub's events.
type eventLog chan Event

// expect reads the next events and checks their types, rooms and peers
// ("" peer: a room event).
func (l eventLog) expect(t *testing.T, want ...[3]string) {
	t.Helper()
	for _, w := range want {
		select {
		case e := <-l:
			if e.Type != w[0] || e.Room != w[1] || e.Peer != w[2] || e.Time.IsZero() {
				t.Fatalf("event %+v, want %v", e, w)
			}
		case <-time.After(readTimeout):
			t.Fatalf("no event, want %v", w)
		}
	}
}

func eventEnv(t *testing.T) (*env, eventLog) {
	t.Helper()
	e := newEnv(t, Config{})
	l := make(eventLog, 64)
	e.hub.SetEvents(func(ev Event) { l <- ev })
	return e, l
}

// TestEvents: a room starts with its first participant and ends with its
// last; joins, leaves, removals and an end are reported, a drop is not
// (the session may resume).
func TestEvents(t *testing.T) {
	e, l := eventEnv(t)
	a, b := e.peer("Ann"), e.peer("Bob")
	a.join("r")
	l.expect(t, [3]string{EventRoomStarted, "r", ""}, [3]string{EventParticipantJoined, "r", a.id})
	b.join("r")
	l.expect(t, [3]string{EventParticipantJoined, "r", b.id})
	b.ws.NetConn().Close() // away, not gone
	a.expect(proto.TypePeerJoined)
	a.expect(proto.TypePeerUpdated)
	a.hostDo(proto.ActionRemove, b.id)
	a.expect(proto.TypePeerLeft)
	a.expectEcho(proto.ActionRemove)
	l.expect(t, [3]string{EventParticipantLeft, "r", b.id})
	a.send(msg{"v": 1, "type": "leave"})
	a.expect(proto.TypeLeft)
	l.expect(t, [3]string{EventParticipantLeft, "r", a.id}, [3]string{EventRoomEnded, "r", ""})

	c, d := e.peer("Cy"), e.peer("Dee")
	c.join("x")
	d.join("x")
	l.expect(t, [3]string{EventRoomStarted, "x", ""}, [3]string{EventParticipantJoined, "x", c.id},
		[3]string{EventParticipantJoined, "x", d.id})
	c.hostDo(proto.ActionEnd, "")
	c.expect(proto.TypePeerJoined)
	c.expectEcho(proto.ActionEnd)
	left := map[string]bool{}
	for range 2 { // in peer id order
		ev := <-l
		if ev.Type != EventParticipantLeft || ev.Room != "x" {
			t.Fatalf("event %+v", ev)
		}
		left[ev.Peer] = true
	}
	if !left[c.id] || !left[d.id] {
		t.Fatalf("left %v", left)
	}
	l.expect(t, [3]string{EventRoomEnded, "x", ""})
	select {
	case ev := <-l:
		t.Fatalf("extra event %+v", ev)
	default:
	}
}
