package signal

import (
	"slices"

	"github.com/rtcd/rtcd/signal/proto"
)

// The router's side of cluster mode: how membership news from other nodes
// (Redis events, join snapshots, syncs, dead nodes) changes the rooms of
// this node. Every method takes router.mu and pushes presence to the local
// members only, so each local client sees the changes in one order.

// member is a peer as stored in Redis (room hashes) and carried by events.
type member struct {
	ID    string      `json:"id"`
	Node  string      `json:"node"`
	Name  string      `json:"name"`
	State proto.State `json:"state"`
	Away  bool        `json:"away,omitempty"`
}

// memberOf describes s for Redis; node "" means this node. Called with
// router.mu held (name and state).
func memberOf(s *session, node string) member {
	return member{ID: s.id, Node: node, Name: s.name, State: s.state, Away: s.away}
}

// placeholder stands for a peer of another node in a room.
func placeholder(m member) *session {
	return &session{id: m.ID, node: m.Node, name: m.Name, state: m.State, away: m.Away}
}

// beginJoin records s as joining name, so that a sync of this node lists it
// while the Redis join is in flight. It fails if s is already in a room.
func (r *router) beginJoin(s *session, name string) *proto.Error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.room != nil {
		return proto.Errorf(proto.CodeAlreadyJoined, "already in room %s; leave first", s.room.name)
	}
	s.joining = name
	js := r.joining[name]
	if js == nil {
		js = make(map[string]*session)
		r.joining[name] = js
	}
	js[s.id] = s
	return nil
}

// abortJoin undoes beginJoin (room full, or Redis failed).
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

// completeJoin puts s into room name once Redis has accepted the join;
// remotes is the room as Redis had it at that moment (the snapshot), which
// replaces what this node knew of other nodes' peers in the room. resumed
// joins (a session taken over from another node) push no joined reply, and
// local peers that already knew s as a remote peer see no peer-joined.
// It returns false if s ended meanwhile; the caller then undoes the join.
func (r *router) completeJoin(s *session, name, id string, remotes []member, resumed bool, drain func(*session) [][]byte) bool {
	var d delivery
	r.mu.Lock()
	r.endJoin(s)
	if s.closed || s.room != nil {
		r.mu.Unlock()
		return false
	}
	rm := r.room(name)
	known := false
	if old := rm.members[s.id]; old != nil && old.node != "" {
		delete(rm.members, s.id) // s itself, as another node saw it before the take-over
		known = true
	}
	if remotes != nil { // nil: Redis unreachable, keep what is known
		r.replaceRemote(rm, func(*session) bool { return true }, remotes, &d)
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
	if !resumed {
		d.push(s, proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeJoined, ID: id, Room: name, Peers: peers}), false)
	}
	if drain != nil {
		for _, b := range drain(s) {
			d.push(s, b, true)
		}
	}
	r.mu.Unlock()
	r.flush(&d)
	return true
}

// replaceRemote makes the remote peers of rm for which inScope holds exactly
// want (minus this node's own peers), telling local members the difference.
// Called with mu held.
func (r *router) replaceRemote(rm *room, inScope func(*session) bool, want []member, d *delivery) {
	byID := make(map[string]member, len(want))
	for _, m := range want {
		if m.Node != "" && m.Node != r.cl.self {
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
func (r *router) addRemote(rm *room, m member, d *delivery) {
	if old := rm.members[m.ID]; old != nil {
		if old.node != "" {
			r.refresh(rm, old, m, d)
		}
		return // a local session is authoritative here
	}
	if r.joiningHere(m.ID) {
		return
	}
	p := placeholder(m)
	rm.members[m.ID] = p
	r.cl.know(m.Node)
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
func (r *router) refresh(rm *room, p *session, w member, d *delivery) {
	if w.Node != p.node {
		np := placeholder(w) // node is immutable on a session: swap the placeholder
		np.name, np.state, np.away = p.name, p.state, p.away
		rm.members[w.ID] = np
		p = np
	}
	if p.name != w.Name || p.state != w.State || p.away != w.Away {
		p.name, p.state, p.away = w.Name, w.State, w.Away
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

// applyJoin handles another node's join (or move) event.
func (r *router) applyJoin(room string, m member) {
	var d delivery
	r.mu.Lock()
	if rm := r.rooms[room]; rm != nil {
		r.addRemote(rm, m, &d)
	}
	r.mu.Unlock()
	r.flush(&d)
}

// applyMove re-homes a peer that its node handed to another node.
func (r *router) applyMove(from, room string, m member) {
	var d delivery
	r.mu.Lock()
	if rm := r.rooms[room]; rm != nil {
		if p := rm.members[m.ID]; p != nil && p.node == from {
			r.refresh(rm, p, m, &d)
		}
	}
	r.mu.Unlock()
	r.flush(&d)
}

// applyLeave handles another node's leave event.
func (r *router) applyLeave(node, room, id string) {
	var d delivery
	r.mu.Lock()
	if rm := r.rooms[room]; rm != nil {
		if m := rm.members[id]; m != nil && m.node == node {
			delete(rm.members, id)
			r.tell(rm, proto.TypePeerLeft, &proto.PeerInfo{ID: id}, &d)
		}
	}
	r.mu.Unlock()
	r.flush(&d)
}

// applySync makes node's peers in room exactly members.
func (r *router) applySync(node, room string, members []member) {
	var d delivery
	r.mu.Lock()
	if rm := r.rooms[room]; rm != nil {
		r.replaceRemote(rm, func(m *session) bool { return m.node == node }, members, &d)
	}
	r.mu.Unlock()
	r.flush(&d)
}

// dropNode removes every peer of a node that stopped heartbeating, so that
// no ghost stays in a room. It returns how many it removed.
func (r *router) dropNode(node string) int {
	var d delivery
	n := 0
	r.mu.Lock()
	for _, rm := range r.rooms {
		for id, m := range rm.members {
			if m.node == node {
				delete(rm.members, id)
				r.tell(rm, proto.TypePeerLeft, &proto.PeerInfo{ID: id}, &d)
				n++
			}
		}
	}
	r.mu.Unlock()
	r.flush(&d)
	return n
}

// deliver hands a signal relayed by another node to local peer to in room.
// If the peer is not here, it returns the node it moved to ("" if unknown).
func (r *router) deliver(to, room string, msg []byte, pending func(string, []byte) bool) string {
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
		// buffered for a take-over in progress
	case t != nil:
		r.mu.Unlock()
		return t.node
	}
	r.mu.Unlock()
	r.flush(&d)
	return ""
}

// localView lists this node's peers (and joins in flight) by room, for a
// sync. Rooms in also are listed even if empty here.
func (r *router) localView(also []string) map[string][]member {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := make(map[string][]member, len(r.rooms)+len(also))
	for _, name := range also {
		v[name] = []member{}
	}
	for name, rm := range r.rooms {
		ms := v[name]
		if ms == nil {
			ms = []member{}
		}
		for _, m := range rm.members {
			if m.node == "" {
				ms = append(ms, memberOf(m, r.cl.self))
			}
		}
		v[name] = ms
	}
	for name, js := range r.joining {
		for _, s := range js {
			v[name] = append(v[name], memberOf(s, r.cl.self))
		}
	}
	return v
}

// handOff removes local session s from its room silently and leaves a
// placeholder on node in its place: the session now lives there. It returns
// the room and s as a member, for the new node.
func (r *router) handOff(s *session, node string) (room string, m member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.closed = true
	m = memberOf(s, node)
	rm := s.room
	if rm == nil {
		return "", m
	}
	r.remove(s)
	if rm.local > 0 {
		rm.members[s.id] = placeholder(m)
	}
	return rm.name, m
}

// records describes the sessions of a stopping node, by resume token.
func (r *router) records(byTok map[string]*session) map[string]sessionRec {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs := make(map[string]sessionRec, len(byTok))
	for tok, s := range byTok {
		rec := sessionRec{Peer: s.id, User: s.user, Claims: s.claims, Name: s.name, State: s.state, Client: s.client}
		if s.room != nil {
			rec.Room = s.room.name
		}
		recs[tok] = rec
	}
	return recs
}
