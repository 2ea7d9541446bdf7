package signal

import (
	"slices"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

// The router's side of a room bus: how news from other nodes (their joins,
// leaves, updates, moves and full membership lists, join snapshots, dead
// nodes) changes the rooms of this node. Every method takes router.mu and
// pushes presence to the local members only, so each local client sees the
// changes in one order.

// Rooms is this node's rooms as its room bus sees them: the bus applies the
// other nodes' presence to them, delivers their signals into them, and reads
// this node's own membership and sessions from them. RoomBus.Start gets it.
type Rooms struct {
	h *Hub
	r *router
}

// RoomSize is the capacity of every room, counted across nodes.
func (x *Rooms) RoomSize() int { return x.r.size }

// ResumeWindow is how long a session waits for its client to resume.
func (x *Rooms) ResumeWindow() time.Duration { return x.h.cfg.ResumeWindow }

// ICEURLs are this node's own STUN/TURN URLs.
func (x *Rooms) ICEURLs() ICEURLs { return x.h.urls }

// memberOf describes s for the other nodes; node "" means this node. Called
// with router.mu held (name, state, away).
func memberOf(s *session, node string) Member {
	return Member{ID: s.id, Node: node, Name: s.name, State: s.state, Away: s.away, Host: s.host, Since: s.since}
}

// placeholder stands for a peer of another node in a room.
func placeholder(m Member) *session {
	return &session{id: m.ID, node: m.Node, name: m.Name, state: m.State, away: m.Away, host: m.Host, since: m.Since}
}

// beginJoin records s as joining name, so that this node's membership (View)
// lists it while the bus places it, and describes s for the other nodes. It
// fails if s is already in a room.
func (r *router) beginJoin(s *session, name string, resumed bool) (Member, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.room != nil {
		return Member{}, false
	}
	// As the other nodes will know it: a token host is one from the start;
	// the first member is marked host by the bus (join.lua). A session
	// taken over keeps its role and place.
	if !resumed {
		s.host, s.since = tokenHost(s), r.nextSince()
	}
	s.joining = name
	js := r.joining[name]
	if js == nil {
		js = make(map[string]*session)
		r.joining[name] = js
	}
	js[s.id] = s
	return memberOf(s, r.bus.NodeID()), true
}

// abortJoin undoes beginJoin (room full, or the bus failed).
func (r *router) abortJoin(s *session) {
	r.mu.Lock()
	r.endJoin(s)
	r.mu.Unlock()
}

func (r *router) endJoin(s *session) {
	if js := r.joining[s.joining]; js != nil {
		delete(js, s.id)
		if len(js) == 0 {
			delete(r.joining, s.joining)
		}
	}
	s.joining = ""
}

// completeJoin puts s into room name once the bus has placed it; remotes is
// the room as the bus had it at that moment (the snapshot), which replaces
// what this node knew of other nodes' peers in the room (nil: keep it).
// resumed joins (a session taken over from another node) push no joined
// reply, and local peers that already knew s as a remote peer see no
// peer-joined. The signals the bus held for s follow. A room new to this
// node starts with ctl, its stored control state, if not nil. It returns
// false if s ended meanwhile; the caller then undoes the join.
func (r *router) completeJoin(s *session, name, id string, remotes []Member, resumed bool, ctl *Control) bool {
	var d delivery
	r.mu.Lock()
	r.endJoin(s)
	if s.closed || s.room != nil {
		r.mu.Unlock()
		return false
	}
	if r.rooms[name] == nil && ctl != nil {
		r.room(name).ctl = *ctl
	}
	rm := r.room(name)
	known := false
	if old := rm.members[s.id]; old != nil && old.node != "" {
		delete(rm.members, s.id) // s itself, as another node saw it before the take-over
		known = true
	}
	if remotes != nil {
		r.replaceRemote(rm, func(*session) bool { return true }, remotes, &d)
	}
	r.enter(rm, s, id, len(rm.members) == 0, known, resumed, &d)
	for _, b := range r.bus.Drain(s.id) {
		d.push(s, b, true)
	}
	r.mu.Unlock()
	r.flush(&d)
	return true
}

// replaceRemote makes the remote peers of rm for which inScope holds exactly
// want (minus this node's own peers), telling local members the difference.
// Called with mu held.
func (r *router) replaceRemote(rm *room, inScope func(*session) bool, want []Member, d *delivery) {
	self := r.bus.NodeID()
	byID := make(map[string]Member, len(want))
	for _, m := range want {
		if m.Node != "" && m.Node != self {
			byID[m.ID] = m
		}
	}
	for id, m := range rm.members {
		if m.node == "" || !inScope(m) {
			continue
		}
		if w, ok := byID[id]; ok {
			r.refresh(rm, m, w, d)
			delete(byID, id)
			continue
		}
		delete(rm.members, id)
		r.tell(rm, proto.TypePeerLeft, &proto.PeerInfo{ID: id}, d)
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r.addRemote(rm, byID[id], d)
	}
}

// addRemote adds a peer of another node and tells the local members.
func (r *router) addRemote(rm *room, m Member, d *delivery) {
	if old := rm.members[m.ID]; old != nil {
		if old.node != "" {
			r.refresh(rm, old, m, d)
		}
		return // a local session is authoritative here
	}
	if r.joiningHere(m.ID) {
		return
	}
	r.promote(rm, d)
	p := placeholder(m)
	rm.members[m.ID] = p
	for _, l := range rm.members {
		if l.node == "" {
			pi := info(p, boolp(politeFor(l.id, p.id)))
			d.push(l, proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypePeerJoined, Peer: &pi}), false)
		}
	}
}

// joiningHere reports whether peer id is being taken over by this node.
func (r *router) joiningHere(id string) bool {
	for _, js := range r.joining {
		if js[id] != nil {
			return true
		}
	}
	return false
}

// refresh updates a remote placeholder from w: its node silently, its name
// and state with peer-updated.
func (r *router) refresh(rm *room, p *session, w Member, d *delivery) {
	if w.Node != p.node {
		np := placeholder(w) // node is immutable on a session: swap the placeholder
		np.name, np.state, np.away, np.host = p.name, p.state, p.away, p.host
		rm.members[w.ID] = np
		p = np
	}
	p.since = w.Since
	if p.name != w.Name || p.state != w.State || p.away != w.Away || p.host != w.Host {
		p.name, p.state, p.away, p.host = w.Name, w.State, w.Away, w.Host
		pi := info(p, nil)
		r.tell(rm, proto.TypePeerUpdated, &pi, d)
	}
}

// tell pushes a presence event to the local members of rm.
func (r *router) tell(rm *room, typ string, p *proto.PeerInfo, d *delivery) {
	b := proto.Marshal(proto.ServerMessage{V: proto.Version, Type: typ, Peer: p})
	for _, m := range rm.members {
		d.push(m, b, false)
	}
}

// inRoom runs f with mu held on the named room if this node has it (a node
// with no local peer in a room ignores the room's news), then delivers what
// f pushed. When f leaves the room without a host, a local member may
// become host (handOver), which the other nodes then learn.
func (r *router) inRoom(name string, f func(rm *room, d *delivery)) {
	var d delivery
	var promoted *Member
	r.mu.Lock()
	if rm := r.rooms[name]; rm != nil {
		f(rm, &d)
		if p := r.handOver(rm, &d); p != nil {
			m := memberOf(p, "")
			promoted = &m
		}
		r.vacate(rm, &d) // a room followed for its waiters alone: is anyone left to let them in?
	}
	r.mu.Unlock()
	r.flush(&d)
	if promoted != nil {
		r.bus.Update(name, *promoted)
	}
}

// Joined applies another node's join of (or update to) its peer m in room name.
func (x *Rooms) Joined(name string, m Member) {
	x.r.inRoom(name, func(rm *room, d *delivery) { x.r.addRemote(rm, m, d) })
}

// Moved re-homes a peer of room name that node from handed to node m.Node.
func (x *Rooms) Moved(from, name string, m Member) {
	x.r.inRoom(name, func(rm *room, d *delivery) {
		if p := rm.members[m.ID]; p != nil && p.node == from {
			x.r.refresh(rm, p, m, d)
		}
	})
	x.h.hostedLeft(from, name, m.ID) // as a session handed over closes its media session
}

// Left applies node's leave of its peer id from room name.
func (x *Rooms) Left(node, name, id string) {
	x.r.inRoom(name, func(rm *room, d *delivery) {
		if m := rm.members[id]; m != nil && m.node == node {
			delete(rm.members, id)
			x.r.tell(rm, proto.TypePeerLeft, &proto.PeerInfo{ID: id}, d)
		}
	})
	x.h.hostedLeft(node, name, id)
}

// Synced makes node's peers in room name exactly members.
func (x *Rooms) Synced(node, name string, members []Member) {
	x.r.inRoom(name, func(rm *room, d *delivery) {
		x.r.replaceRemote(rm, func(m *session) bool { return m.node == node }, members, d)
	})
	in := make(map[string]bool, len(members))
	for _, m := range members {
		in[m.ID] = true
	}
	x.h.stopHosted(func(hs *hostedSession) bool { return hs.node == node && hs.room == name && !in[hs.peer] })
}

// NodeGone removes every peer of a node that stopped heartbeating, so that
// no ghost stays in a room. It returns how many it removed.
func (x *Rooms) NodeGone(node string) int {
	r := x.r
	var d delivery
	n := 0
	var promoted []Member
	var in []string
	r.mu.Lock()
	for _, rm := range r.rooms {
		for id, m := range rm.members {
			if m.node == node {
				delete(rm.members, id)
				r.tell(rm, proto.TypePeerLeft, &proto.PeerInfo{ID: id}, &d)
				n++
			}
		}
		if _, ok := rm.remote[node]; ok {
			delete(rm.remote, node)
			r.tellLobby(rm, &d)
		}
		if p := r.handOver(rm, &d); p != nil {
			promoted, in = append(promoted, memberOf(p, "")), append(in, rm.name)
		}
		r.vacate(rm, &d)
	}
	r.mu.Unlock()
	r.flush(&d)
	for i, m := range promoted {
		r.bus.Update(in[i], m)
	}
	x.h.stopHosted(func(hs *hostedSession) bool { return hs.node == node })
	return n
}

// MediaSignal takes a signal that node forwarded from its client sig.Peer
// for the media server of room sig.Room, whose media lives on this node
// (RoomBus.MediaSignal): this node opens the client's media session on the
// first one, and sends the media server's signals back to node with
// RoomBus.Signal from proto.SFUPeer. It does not block. The session closes
// when node says the client left the room (Left, Synced), moved (Moved), or
// when node is gone (NodeGone).
func (x *Rooms) MediaSignal(node string, sig MediaSignal) { x.h.hostSignal(node, sig) }

// Deliver hands a signal relayed by another node to local peer to in room.
// A peer that is not here may be one this node is taking over: pending
// (called with the router's lock held) keeps the signal for it if so.
// Otherwise Deliver returns the node the peer lives on as far as this node
// knows ("" if unknown).
func (x *Rooms) Deliver(to, room string, msg []byte, pending func(to string, msg []byte) bool) string {
	r := x.r
	var d delivery
	r.mu.Lock()
	var t *session
	if rm := r.rooms[room]; rm != nil {
		t = rm.members[to]
	}
	switch {
	case t != nil && t.node == "":
		d.push(t, msg, true)
		r.st.relayed.Add(1)
	case pending(to, msg):
		// kept for a take-over in progress
	case t != nil:
		r.mu.Unlock()
		return t.node
	}
	r.mu.Unlock()
	r.flush(&d)
	return ""
}

// View lists this node's peers (and joins in flight) by room, with node set
// to this node, for a full membership sync. Rooms in also are listed even if
// this node has no peer in them.
func (x *Rooms) View(also []string) map[string][]Member {
	r := x.r
	self := r.bus.NodeID()
	r.mu.Lock()
	defer r.mu.Unlock()
	v := make(map[string][]Member, len(r.rooms)+len(also))
	for _, name := range also {
		v[name] = []Member{}
	}
	for name, rm := range r.rooms {
		ms := v[name]
		if ms == nil {
			ms = []Member{}
		}
		for _, m := range rm.members {
			if m.node == "" {
				ms = append(ms, memberOf(m, self))
			}
		}
		v[name] = ms
	}
	for name, js := range r.joining {
		for _, s := range js {
			v[name] = append(v[name], memberOf(s, self))
		}
	}
	return v
}

// HandOff gives the session of resume token tok to node, which its client
// resumed on: the session ends here without peer-left, its old socket (if
// any) is closed as replaced, and the signals queued for it travel along.
// ok is false if this node has no such session.
func (x *Rooms) HandOff(tok, node string) (rec *SessionRecord, queued [][]byte, ok bool) {
	return x.h.handOff(tok, node)
}

// handOff removes local session s from its room silently and leaves a
// placeholder on node in its place: the session now lives there. It returns
// the room and s as a member, for the new node.
func (r *router) handOff(s *session, node string) (room string, m Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.closed = true
	m = memberOf(s, node)
	rm := s.room
	if rm == nil {
		return "", m
	}
	r.remove(s)
	if r.rooms[rm.name] == rm {
		rm.members[s.id] = placeholder(m)
	}
	return rm.name, m
}

// records describes the sessions of a stopping node, by resume token.
func (r *router) records(byTok map[string]*session) map[string]SessionRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs := make(map[string]SessionRecord, len(byTok))
	for tok, s := range byTok {
		rec := SessionRecord{Peer: s.id, User: s.user, Claims: s.claims, Name: s.name, State: s.state, Client: s.client,
			Host: s.host, Since: s.since, Held: s.audioHeld}
		if s.room != nil {
			rec.Room = s.room.name
		}
		recs[tok] = rec
	}
	return recs
}

// Controlled applies the control state another node stored for room name
// (RoomBus.SetControl): the members here see the new settings, and when
// the room is unlocked, this node lets its own waiters in.
func (x *Rooms) Controlled(name string, c Control) {
	var admitted []*session
	x.r.inRoom(name, func(rm *room, d *delivery) {
		was := rm.ctl.settings()
		rm.ctl = c
		if !c.Locked {
			admitted = x.r.drainLobby(rm, d)
		}
		if *was != *rm.ctl.settings() {
			x.r.tellSettings(rm, d)
		}
	})
	x.h.afterAction(acted{room: name, admitted: admitted}, true)
}

// Lobbied records who of node waits in room name's lobby now, and shows
// this node's hosts the lobby.
func (x *Rooms) Lobbied(node, name string, waiting []Member) {
	x.r.inRoom(name, func(rm *room, d *delivery) {
		if len(waiting) == 0 && len(rm.remote[node]) == 0 {
			return
		}
		if rm.remote == nil {
			rm.remote = make(map[string][]Member)
		}
		if len(waiting) == 0 {
			delete(rm.remote, node)
		} else {
			rm.remote[node] = waiting
		}
		x.r.tellLobby(rm, d)
	})
}

// Command applies a host action that another node took on a peer of this
// node, or on the whole room (end); that node checked who may take it.
func (x *Rooms) Command(c Command) {
	if c.Room == "" || !slices.Contains(proto.HostActions, c.Action) {
		return
	}
	res, e := x.r.act(action{room: c.Room, name: c.Action, target: c.Target, from: c.From, command: true})
	if e != nil {
		return // the peer left meanwhile, or the room is gone here
	}
	res.remote = nil // a command is applied where it arrives, never passed on
	x.h.afterAction(res, true)
}

// Control is the control state of this node's room name, false if this
// node has neither members nor waiters of it.
func (x *Rooms) Control(name string) (Control, bool) {
	x.r.mu.Lock()
	defer x.r.mu.Unlock()
	rm := x.r.rooms[name]
	if rm == nil {
		return Control{}, false
	}
	return *snapshot(&rm.ctl), true
}
