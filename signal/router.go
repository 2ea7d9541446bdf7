package signal

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

// router owns room membership and delivery of messages to sessions; the
// rest of the hub talks to rooms only through its methods. What other nodes
// must learn of a change, and signals for their peers, go to the room bus.
//
// Messages are pushed to outboxes while mu is held, so that each recipient
// sees presence in the order membership changed; pushes never block, and
// writers are woken only after mu is released.
type router struct {
	size       int    // peers per room, across nodes
	media      string // Config.Media once the hub has a media server, else ""
	st         *stats
	onOverflow func(*session) // called without locks for a session whose outbox overflowed
	bus        RoomBus        // the local bus unless Hub.StartBus gave another; set before serving
	events     func(Event)    // nil: nobody listens (Hub.SetEvents); set before serving

	mu      sync.Mutex                     // guards the following fields and session.{name,state,room,joining,closed}
	rooms   map[string]*room               // by name; a room exists while it has local members or waiters
	joining map[string]map[string]*session // bus joins in flight, by room then peer id
	ended   map[string]time.Time           // rooms a host ended, refusing joins until then
	since   int64                          // the last session.since handed out
}

// nextSince is when a session enters a room, in unix ms, later than any
// before on this node, so the host hand-over has an order even within one
// millisecond. Called with mu held.
func (r *router) nextSince() int64 {
	r.since = max(r.since+1, time.Now().UnixMilli())
	return r.since
}

// room is one room as this node sees it. With a shared bus members also holds
// placeholders for the peers of other nodes (session.node set, no outbox):
// they are listed and addressed like local peers, and pushes skip them. A
// room with waiters in its lobby but no local member (local 0) stays on a
// shared bus while members of other nodes can let them in: it follows the
// bus's news like any room, so that the waiters are admitted, turned away
// or told that nobody is left.
type room struct {
	name    string
	media   string              // proto.MediaMesh or MediaSFU; "" without a media server
	members map[string]*session // by peer id
	local   int                 // members of this node
	ctl     Control             // what hosts set (hostctl.go)
	lobby   []*session          // local sessions waiting to be let in, in arrival order
	remote  map[string][]Member // other nodes' waiters, by node
}

func newRouter(size int, st *stats, onOverflow func(*session)) *router {
	return &router{size: size, st: st, onOverflow: onOverflow, bus: localBus{}, rooms: make(map[string]*room),
		joining: make(map[string]map[string]*session), ended: make(map[string]time.Time)}
}

// politeFor decides who yields in MDN perfect negotiation: of each pair the
// peer with the smaller id is polite. Ids never change (not even on resume),
// so the answer is stable for the life of both sessions, and every node of
// a cluster computes the same answer.
func politeFor(me, other string) bool { return me < other }

// delivery gathers the sessions touched under the lock.
type delivery struct {
	touched  []*session
	overflow []*session
	lobbies  map[string][]Member // rooms whose local lobby changed: the waiters, for the bus
	events   []Event             // for router.events
}

func (d *delivery) push(s *session, b []byte, keep bool) {
	if s.node != "" {
		return // a peer of another node: it learns through its own node
	}
	if s.out.push(b, keep) {
		d.touched = append(d.touched, s)
	} else {
		d.overflow = append(d.overflow, s)
	}
}

// flush runs after mu is released.
func (r *router) flush(d *delivery) {
	for _, s := range d.touched {
		s.out.notify()
	}
	for _, s := range d.overflow {
		r.onOverflow(s)
	}
	for room, ws := range d.lobbies {
		r.bus.Lobby(room, ws)
	}
	for _, e := range d.events {
		r.events(e)
	}
}

func info(s *session, polite *bool) proto.PeerInfo {
	st := s.state
	return proto.PeerInfo{ID: s.id, Name: s.name, State: &st, Polite: polite, Away: s.away, Host: s.host}
}

func boolp(b bool) *bool { return &b }

// sortedMembers returns a room's members by id, so joined lists are stable.
func (rm *room) sortedMembers() []*session {
	ms := make([]*session, 0, len(rm.members))
	for _, m := range rm.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *session) int {
		if a.id < b.id {
			return -1
		}
		if a.id > b.id {
			return 1
		}
		return 0
	})
	return ms
}

// peersFor lists the other members of s's room as s sees them.
func peersFor(s *session) []proto.PeerInfo {
	peers := []proto.PeerInfo{}
	if s.room == nil {
		return peers
	}
	for _, m := range s.room.sortedMembers() {
		if m != s {
			peers = append(peers, info(m, boolp(politeFor(s.id, m.id))))
		}
	}
	return peers
}

// join puts s into the named room, replies joined to s (echoing id) and
// tells the others. The bus places it in the room on every node, with the
// capacity counted across nodes; where it cannot (a single node, or Redis
// unreachable), the room is this node's own.
func (r *router) join(s *session, name, id string, o joinOpts) *proto.Error {
	stored, e, done := r.gateJoin(s, name, id, o)
	if e != nil || done {
		return e
	}
	switch r.bus.Join(&Joining{Room: name, Peer: s.id, r: r, s: s, id: id, ctl: stored}) {
	case JoinDone:
		return nil
	case JoinFull:
		return proto.Errorf(proto.CodeRoomFull, "room %s is full (%d peers)", name, r.size)
	case JoinAlready:
		return proto.Errorf(proto.CodeAlreadyJoined, "already in a room; leave first")
	}
	return r.joinLocal(s, name, id, o)
}

// alreadyIn is the error for a join of s while it is in a room or a lobby.
// Called with mu held.
func alreadyIn(s *session) *proto.Error {
	switch {
	case s.room != nil:
		return proto.Errorf(proto.CodeAlreadyJoined, "already in room %s; leave first", s.room.name)
	case s.waiting != nil:
		return proto.Errorf(proto.CodeAlreadyJoined, "already waiting to enter room %s; leave first", s.waiting.name)
	}
	return nil
}

// gateJoin checks a join against the room's settings before a shared bus
// places the peer (protocol.md §3.11), with the room as this node knows it
// or, when it has no member of it, as the bus stores it. done says the join
// ended here: refused, or waiting in the lobby. It returns the stored
// control state it read, which a room new to this node starts with. On the
// local bus joinLocal checks, under the same lock as the join.
//
// A locked room this node does not know is looked up on the bus: with a
// host in it on another node the joiner waits here, in the room as the bus
// lists it, which this node follows from then on; without one, or when the
// bus cannot tell, the join gets room_locked.
func (r *router) gateJoin(s *session, name, id string, o joinOpts) (*Control, *proto.Error, bool) {
	if !r.shared() {
		return nil, nil, false
	}
	r.mu.Lock()
	known := r.rooms[name] != nil
	r.mu.Unlock()
	var stored *Control
	var members []Member
	if !known {
		if c, ok := r.bus.Control(name); ok {
			stored = &c
			if c.Locked && !o.admitted {
				if ms, err := r.bus.Members(name); err == nil {
					members = ms
				}
			}
		}
	}
	var d delivery
	r.mu.Lock()
	defer r.flush(&d)
	defer r.mu.Unlock()
	if e := alreadyIn(s); e != nil {
		return nil, e, true
	}
	rm := r.rooms[name]
	ctl, hosted := stored, hostAmong(members)
	if rm != nil {
		ctl, hosted = &rm.ctl, rm.hasHost()
	}
	g, e := r.admit(s, name, ctl, hosted, o)
	switch {
	case e != nil:
		return nil, e, true
	case g == gateWait:
		if rm == nil {
			rm = r.follow(name, *stored, members, &d)
		}
		r.wait(rm, s, id, &d)
		return nil, nil, true
	}
	return stored, nil, false
}

// hostAmong reports whether a host is among ms.
func hostAmong(ms []Member) bool {
	for _, m := range ms {
		if m.Host {
			return true
		}
	}
	return false
}

// follow creates room name on this node, which has no member of it, for a
// joiner to wait in: it starts as the bus has it (ctl, members) and follows
// the bus's news from then on. Called with mu held.
func (r *router) follow(name string, ctl Control, members []Member, d *delivery) *room {
	rm := r.room(name)
	rm.ctl = ctl
	r.replaceRemote(rm, func(*session) bool { return true }, members, d)
	return rm
}

func (r *router) joinLocal(s *session, name, id string, o joinOpts) *proto.Error {
	var d delivery
	r.mu.Lock()
	if e := alreadyIn(s); e != nil {
		r.mu.Unlock()
		return e
	}
	rm := r.rooms[name]
	var ctl *Control
	if rm != nil {
		ctl = &rm.ctl
	}
	g, e := r.admit(s, name, ctl, rm != nil && rm.hasHost(), o)
	if e == nil && rm != nil && len(rm.members)+len(r.joining[name]) >= r.size {
		e = proto.Errorf(proto.CodeRoomFull, "room %s is full (%d peers)", name, r.size)
	}
	if e != nil {
		r.mu.Unlock()
		return e
	}
	if g == gateWait {
		r.wait(rm, s, id, &d)
		r.mu.Unlock()
		r.flush(&d)
		return nil
	}
	rm = r.room(name)
	r.enter(rm, s, id, len(rm.members) == 0, false, false, &d)
	r.mu.Unlock()
	r.flush(&d)
	return nil
}

// enter makes local session s a member of rm, replying joined (echoing id)
// unless resumed, and telling the others with peer-joined unless they knew
// s already (known: a session taken over from another node). first says
// the room had nobody, which makes s its host, as a host token does.
// Called with mu held.
func (r *router) enter(rm *room, s *session, id string, first, known, resumed bool, d *delivery) {
	if !resumed {
		s.host = first || tokenHost(s)
		if s.since == 0 {
			s.since = r.nextSince()
		}
	}
	if tokenHost(s) {
		rm.ctl.TokenHosts = true
	}
	if !known {
		r.promote(rm, d)
	}
	peers := make([]proto.PeerInfo, 0, len(rm.members))
	for _, m := range rm.sortedMembers() {
		peers = append(peers, info(m, boolp(politeFor(s.id, m.id))))
		if !known {
			p := info(s, boolp(politeFor(m.id, s.id)))
			d.push(m, proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypePeerJoined, Peer: &p}), false)
		}
	}
	r.add(rm, s)
	if !resumed && !known {
		if first {
			r.event(d, EventRoomStarted, rm.name, nil)
		}
		r.event(d, EventParticipantJoined, rm.name, s)
	}
	if !resumed {
		d.push(s, proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeJoined, ID: id, Room: rm.name,
			Peers: peers, Media: rm.media, Settings: rm.ctl.settings(), Host: s.host}), false)
	}
	if s.host && rm.lobbySize() > 0 {
		d.push(s, lobbyMessage(rm), false)
	}
}

// room returns the named room, creating it. Called with mu held.
func (r *router) room(name string) *room {
	rm := r.rooms[name]
	if rm == nil {
		rm = &room{name: name, media: r.newRoomMedia(), members: make(map[string]*session)}
		r.rooms[name] = rm
	}
	return rm
}

// add makes local session s a member of rm. Called with mu held.
func (r *router) add(rm *room, s *session) {
	rm.members[s.id] = s
	if rm.local++; rm.local == 1 {
		r.st.rooms.Add(1) // counted while it has local members
	}
	s.room = rm
	r.st.peers.Add(1)
}

// remove takes local session s out of its room, dropping the room with its
// last local member unless someone waits in its lobby (vacate decides
// then). Called with mu held.
func (r *router) remove(s *session) {
	rm := s.room
	delete(rm.members, s.id)
	if rm.local--; rm.local == 0 {
		r.st.rooms.Add(-1)
	}
	s.room, s.host, s.since = nil, false, 0
	r.st.peers.Add(-1)
	r.prune(rm)
}

// prune drops rm once it has neither local members nor waiters. Called
// with mu held.
func (r *router) prune(rm *room) {
	if rm.local == 0 && len(rm.lobby) == 0 && r.rooms[rm.name] == rm {
		delete(r.rooms, rm.name)
	}
}

// leave takes s out of its room. The others get peer-left unless silent
// (shutdown: the other nodes then keep it in the room, so that the session
// can resume on one of them). reply, if not nil, is pushed to s. It
// reports whether s was in a room.
func (r *router) leave(s *session, reply []byte, silent bool) bool {
	var d delivery
	r.mu.Lock()
	rm := s.room
	if rm == nil {
		waited := r.unwait(s, &d)
		if waited && reply != nil {
			d.push(s, reply, false)
		}
		r.mu.Unlock()
		r.flush(&d)
		return waited
	}
	r.remove(s)
	dep := departure{peer: s.id, report: true}
	if !silent {
		dep.empty = r.departed(rm, s, false, &d)
	}
	var promoted *Member
	switch {
	case rm.local == 0:
		r.vacate(rm, &d)
	case !silent:
		b := proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypePeerLeft, Peer: &proto.PeerInfo{ID: s.id}})
		for _, m := range rm.members {
			d.push(m, b, false)
		}
		if p := r.handOver(rm, &d); p != nil {
			m := memberOf(p, "")
			promoted = &m
		}
	}
	if reply != nil {
		d.push(s, reply, false)
	}
	r.mu.Unlock()
	r.flush(&d)
	if !silent {
		r.leftRoom(rm.name, dep)
	}
	if promoted != nil {
		r.bus.Update(rm.name, *promoted)
	}
	return true
}

// leaveLobby takes s out of the lobby it waits in, if any: a waiter whose
// socket dropped waits no more.
func (r *router) leaveLobby(s *session) {
	var d delivery
	r.mu.Lock()
	r.unwait(s, &d)
	r.mu.Unlock()
	r.flush(&d)
}

// forget marks s as ended, so that a bus join still in flight does not
// put it into a room afterwards.
func (r *router) forget(s *session) {
	r.mu.Lock()
	s.closed = true
	r.mu.Unlock()
}

// relay delivers a signal from s to the member of its room with id to, and
// to no one else. msg is already stamped with from.
func (r *router) relay(s *session, to string, msg []byte) *proto.Error {
	var d delivery
	r.mu.Lock()
	if s.room == nil {
		r.mu.Unlock()
		return proto.Errorf(proto.CodeNotInRoom, "join a room first")
	}
	t := s.room.members[to]
	if t == nil || t == s {
		r.mu.Unlock()
		return proto.Errorf(proto.CodeUnknownPeer, "no peer %s in room %s", proto.Clip(to, 64), s.room.name)
	}
	if t.node != "" {
		if r.bus.Hold(to, msg) {
			r.mu.Unlock() // t is being taken over by this node
			return nil
		}
		node, room := t.node, s.room.name
		r.mu.Unlock()
		// Published synchronously from the sender's reader: that keeps the
		// order of one sender's messages to one addressee across nodes.
		if err := r.bus.Signal(node, s.id, to, room, msg); err != nil {
			return proto.Errorf(proto.CodeInternal, "peer %s is on another node, which cannot be reached right now", proto.Clip(to, 64))
		}
		return nil
	}
	d.push(t, msg, true)
	r.mu.Unlock()
	r.flush(&d)
	return nil
}

// update changes s's name and/or state and tells the others. unheld says
// s unmuted itself (audio:true) after a host muted it: the media server
// forwards its audio again.
func (r *router) update(s *session, name *string, st *proto.StateUpdate) (unheld bool, e *proto.Error) {
	var d delivery
	r.mu.Lock()
	if s.room == nil {
		r.mu.Unlock()
		return false, proto.Errorf(proto.CodeNotInRoom, "join a room first")
	}
	if name != nil {
		s.name = *name
	}
	s.state = s.state.Apply(st)
	if st != nil && st.Audio != nil && *st.Audio && s.audioHeld {
		s.audioHeld, unheld = false, true
	}
	r.announceUnlock(s, &d)
	return unheld, nil
}

// announceUnlock tells the others in s's room (and the bus) what s looks
// like now with peer-updated, and releases mu. Called with mu held and s in a
// room.
func (r *router) announceUnlock(s *session, d *delivery) {
	p := info(s, nil)
	b := proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypePeerUpdated, Peer: &p})
	for _, m := range s.room.members {
		if m != s {
			d.push(m, b, false)
		}
	}
	room, mem := s.room.name, memberOf(s, "")
	r.mu.Unlock()
	r.flush(d)
	r.bus.Update(room, mem)
}

// setAway marks s as away (its socket is gone, a resume may follow) or
// back, and tells the others in its room with peer-updated.
func (r *router) setAway(s *session, away bool) {
	var d delivery
	r.mu.Lock()
	if s.away == away {
		r.mu.Unlock()
		return
	}
	s.away = away
	if s.room == nil {
		r.mu.Unlock()
		return
	}
	r.announceUnlock(s, &d)
}

// awayTwins lists the local sessions in the named room that are away and
// have s's client id.
func (r *router) awayTwins(s *session, name string) []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := r.rooms[name]
	if rm == nil {
		return nil
	}
	var out []*session
	for _, m := range rm.members {
		if m != s && m.node == "" && m.away && m.client == s.client {
			out = append(out, m)
		}
	}
	return out
}

// roomView is a session's room as a resumed hello describes it; name is ""
// outside a room.
type roomView struct {
	name, media string
	peers       []proto.PeerInfo
	settings    *proto.RoomSettings
	host        bool
}

// attach hands s's outbox to c with first (built from the room as it is
// now) at the front. Done under mu so no presence change slips between the
// snapshot and the queue.
func (r *router) attach(s *session, c *conn, first func(v roomView) []byte) {
	r.mu.Lock()
	v := roomView{peers: peersFor(s)}
	if s.room != nil {
		v.name, v.media, v.settings, v.host = s.room.name, s.room.media, s.room.ctl.settings(), s.host
	}
	s.out.attach(c, first(v))
	r.mu.Unlock()
	s.out.notify()
}

// stats are the hub's counters, read by Hub.Stats.
type stats struct {
	conns, sessions, rooms, peers atomic.Int64
	msgs                          [16]atomic.Uint64 // by proto.ClientTypes index; last = other
	errs                          [32]atomic.Uint64
	authFailures, slowConsumers   atomic.Uint64
	ipLimited                     atomic.Uint64
	relayed                       atomic.Uint64
	mediaSessions                 atomic.Int64  // open sessions with the media server
	promotions                    atomic.Uint64 // rooms moved from mesh to the media server
}

func (st *stats) msg(t string) {
	i := slices.Index(proto.ClientTypes, t)
	if i < 0 {
		i = len(proto.ClientTypes)
	}
	st.msgs[i].Add(1)
}

func (st *stats) err(code string) {
	if i := slices.Index(proto.ErrorCodes, code); i >= 0 {
		st.errs[i].Add(1)
	}
}
