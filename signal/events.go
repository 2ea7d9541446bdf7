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
// cluster room.started comes from the node whose join found no member of a
// live node in Redis, and room.ended from the node whose leave took the last
// one out (both atomic in Redis, so exactly one node reports each), or from
// the node that ended the room (a host's end or the admin API's close).
// While Redis is unreachable a node goes by its own view.
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
// another node), and the room's end once this node's last member is out
// if ended says the room was ended for everyone, or on the local bus if
// nobody is left. It returns whether this node sees nobody left in rm: on
// a shared bus leftRoom reports the room's end after the bus took s out,
// and goes by this view when the bus cannot tell. Called with mu held,
// after remove.
func (r *router) departed(rm *room, s *session, ended bool, d *delivery) (empty bool) {
	r.event(d, EventParticipantLeft, rm.name, s)
	empty = rm.local == 0 && len(rm.members) == 0
	if rm.local == 0 && (ended || empty && !r.shared()) {
		r.event(d, EventRoomEnded, rm.name, nil)
	}
	return empty
}

// departure is a local peer that left a room for good, for the bus: empty
// is departed's view, and report says whether its leave may end the room
// (not after a host ended it: that node reported the end).
type departure struct {
	peer          string
	empty, report bool
}

// leftRoom tells the bus that a local peer left room for good. On a shared
// bus it then reports the room's end, as the one node whose leave emptied
// the room on every node: when the bus says so, or, when the bus cannot
// tell, when this node saw nobody left. Called without locks.
func (r *router) leftRoom(room string, dep departure) {
	left := r.bus.Leave(room, dep.peer)
	if !r.shared() || !dep.report || !(left == LeftEmpty || left == LeftUnknown && dep.empty) {
		return
	}
	var d delivery
	r.event(&d, EventRoomEnded, room, nil)
	r.flush(&d)
}

// shared reports whether the router has a shared bus (a cluster).
func (r *router) shared() bool {
	_, local := r.bus.(localBus)
	return !local
}
