package signal

import "time"

// Room and participant events, for webhooks (the daemon hands them to
// internal/webhook). Each node reports its own participants; of a room's
// start and end, one node reports each (see SetEvents).

// Event types.
const (
	EventRoomStarted       = "room.started"
	EventRoomEnded         = "room.ended"
	EventParticipantJoined = "participant.joined"
	EventParticipantLeft   = "participant.left"
)

// Event is something that happened to a room: Peer and Name are set for
// participant events.
type Event struct {
	Type string
	Room string
	Peer string
	Name string
	Time time.Time
}

// SetEvents makes the hub call f with every room and participant event.
// Call it before serving. f is called without the hub's locks, from the
// goroutine that made the change, so it must not block (the webhook sender
// queues). A participant's events come from the node holding its session
// (a session resumed on another node neither leaves nor joins). In a
// cluster room.started comes from the node whose join found the room empty
// in Redis (exactly one), and room.ended from the node that sees the room
// empty when its own last participant leaves, or that ended it (a host's end
// or the admin API's close); two nodes whose last participants leave at
// the same moment may both report it.
func (h *Hub) SetEvents(f func(Event)) { h.router.events = f }

// event queues e for the events callback, if there is one. Called with mu
// held; flush delivers.
func (r *router) event(d *delivery, typ, room string, s *session) {
	if r.events == nil {
		return
	}
	e := Event{Type: typ, Room: room, Time: time.Now()}
	if s != nil {
		e.Peer, e.Name = s.id, s.name
	}
	d.events = append(d.events, e)
}

// departed reports that local session s left rm for good (not handed to
// another node), and the room's end if nobody is left that this node knows
// of, or ended says the room was ended for everyone. Called with mu held,
// after remove.
func (r *router) departed(rm *room, s *session, ended bool, d *delivery) {
	r.event(d, EventParticipantLeft, rm.name, s)
	if rm.local == 0 && (ended || len(rm.members) == 0) {
		r.event(d, EventRoomEnded, rm.name, nil)
	}
}
