package signal

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"slices"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

// Host controls (protocol.md §3.11): who hosts a room, the settings hosts
// put on it (lock, password), its lobby, and the host actions. The router
// enforces every rule under its lock; the page only shows them.

// Fixed policy values of the host controls.
const (
	// endedHold is how long joins of a room a host ended get room_ended, so
	// that clients reconnecting by themselves do not start it again.
	endedHold = time.Minute
	// pwFailMax wrong passwords per address within pwFailWindow, then
	// further password attempts from it are refused unread.
	pwFailMax    = 5
	pwFailWindow = time.Minute
	// maxRemoved bounds a room's removal list.
	maxRemoved = 1024
)

// Control is the state hosts set on a room, as nodes share it
// (RoomBus.SetControl): the lock, the password's salted hash, whether a
// token host entered (then hosts come from tokens only), and who was
// removed (removalKeys). Nodes exchange its JSON form, so the form does not
// change.
type Control struct {
	Locked     bool     `json:"locked,omitempty"`
	Salt       []byte   `json:"salt,omitempty"`
	Hash       []byte   `json:"hash,omitempty"` // sha256(salt || password); nil: no password
	TokenHosts bool     `json:"tokenHosts,omitempty"`
	Removed    []string `json:"removed,omitempty"`
}

// settings is c as members see it.
func (c *Control) settings() *proto.RoomSettings {
	return &proto.RoomSettings{Locked: c.Locked, Password: c.Hash != nil}
}

// setPassword stores p's salted hash, or clears the password when p is "".
func (c *Control) setPassword(p string) {
	if p == "" {
		c.Salt, c.Hash = nil, nil
		return
	}
	c.Salt = make([]byte, 16)
	_, _ = rand.Read(c.Salt)
	c.Hash = passwordHash(c.Salt, p)
}

// passwordOK reports whether p is the room's password, in constant time.
func (c *Control) passwordOK(p string) bool {
	return subtle.ConstantTimeCompare(passwordHash(c.Salt, p), c.Hash) == 1
}

func passwordHash(salt []byte, p string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(p))
	return h.Sum(nil)
}

// removalKeys are what a removal bars from the room: the session, its
// browser (hello.client) and its token user, so that neither a reload nor a
// fresh session of the same browser or user gets back in.
func removalKeys(s *session) []string {
	keys := []string{"p:" + s.id}
	if s.client != "" {
		keys = append(keys, "c:"+s.client)
	}
	if s.claims != nil && s.claims.User != "" {
		keys = append(keys, "u:"+s.claims.User)
	}
	return keys
}

// wasRemoved reports whether a host removed s (or its browser or user).
func (c *Control) wasRemoved(s *session) bool {
	for _, k := range removalKeys(s) {
		if slices.Contains(c.Removed, k) {
			return true
		}
	}
	return false
}

// remove bars s from the room.
func (c *Control) remove(s *session) {
	for _, k := range removalKeys(s) {
		if !slices.Contains(c.Removed, k) {
			c.Removed = append(c.Removed, k)
		}
	}
	if n := len(c.Removed); n > maxRemoved {
		c.Removed = slices.Clone(c.Removed[n-maxRemoved:])
	}
}

// pwFailKey is the bus's failure key of wrong passwords from address ip
// (an ipKey).
func pwFailKey(ip string) string { return "pw:" + ip }

// pwBlocked reports whether address ip has given pwFailMax wrong passwords
// within pwFailWindow: on any node, by the count the bus shares, or on
// this one, by its own count, which stands in while the bus cannot be
// asked.
func (h *Hub) pwBlocked(ip string) bool {
	if h.pwFails.blocked(ip) {
		return true
	}
	n, ok := h.router.bus.Failures(pwFailKey(ip))
	return ok && n >= pwFailMax
}

// pwFailed counts a wrong password from address ip, on this node and in the
// count the bus shares.
func (h *Hub) pwFailed(ip string) {
	h.pwFails.fail(ip)
	h.router.bus.CountFailure(pwFailKey(ip), pwFailWindow)
}

// tokenHost reports whether s holds a host token.
func tokenHost(s *session) bool { return s.claims != nil && s.claims.Role == proto.RoleHost }

// joinOpts are a join's credentials for the room's settings.
type joinOpts struct {
	password string
	admitted bool // a host let it in from the lobby (or unlocked): no lock or password check
}

// gate is the verdict on a join (admit).
type gate int

const (
	gateEnter gate = iota // enter the room
	gateWait              // wait in the lobby
)

// admit checks a join of s to room name against the room's settings (ctl,
// nil for a room that does not exist yet) in protocol.md §3.11's order, all
// but the capacity, which the join checks itself. hosted says a host is in
// the room to let a waiter in. Called with mu held.
func (r *router) admit(s *session, name string, ctl *Control, hosted bool, o joinOpts) (gate, *proto.Error) {
	th := tokenHost(s)
	if until, ok := r.ended[name]; ok && !th {
		if time.Now().Before(until) {
			return 0, proto.Errorf(proto.CodeRoomEnded, "a host ended the meeting in room %s", name)
		}
		delete(r.ended, name)
	}
	if ctl == nil {
		return gateEnter, nil
	}
	if ctl.wasRemoved(s) {
		return 0, proto.Errorf(proto.CodeRemoved, "a host removed you from room %s", name)
	}
	if th || o.admitted {
		return gateEnter, nil
	}
	if ctl.Hash != nil {
		if o.password == "" {
			return 0, proto.Errorf(proto.CodePasswordRequired, "room %s needs a password", name)
		}
		if !ctl.passwordOK(o.password) {
			return 0, proto.Errorf(proto.CodeWrongPassword, "wrong password for room %s", name)
		}
	}
	if ctl.Locked {
		if !hosted {
			return 0, proto.Errorf(proto.CodeRoomLocked, "room %s is locked and no host is there to let you in", name)
		}
		return gateWait, nil
	}
	return gateEnter, nil
}

// hasHost reports whether a member of rm is a host.
func (rm *room) hasHost() bool {
	for _, m := range rm.members {
		if m.host {
			return true
		}
	}
	return false
}

// wait puts s in rm's lobby, replies waiting (echoing id) and tells the
// hosts. Called with mu held.
func (r *router) wait(rm *room, s *session, id string, d *delivery) {
	s.waiting = rm
	rm.lobby = append(rm.lobby, s)
	d.push(s, proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeWaiting, ID: id, Room: rm.name}), false)
	r.lobbyChanged(rm, d)
}

// lobbyChanged tells the hosts, and through the bus the other nodes, that
// rm's local lobby changed. Called with mu held.
func (r *router) lobbyChanged(rm *room, d *delivery) {
	r.tellLobby(rm, d)
	ws := make([]Member, 0, len(rm.lobby))
	for _, w := range rm.lobby {
		ws = append(ws, Member{ID: w.id, Node: r.bus.NodeID(), Name: w.name})
	}
	if d.lobbies == nil {
		d.lobbies = make(map[string][]Member)
	}
	d.lobbies[rm.name] = ws
}

// unwait takes s out of the lobby it waits in, telling the hosts. Called
// with mu held; false if s was not waiting.
func (r *router) unwait(s *session, d *delivery) bool {
	rm := s.waiting
	if rm == nil {
		return false
	}
	s.waiting = nil
	rm.lobby = slices.DeleteFunc(rm.lobby, func(w *session) bool { return w == s })
	r.lobbyChanged(rm, d)
	r.prune(rm)
	return true
}

// lobbyMessage is rm's lobby as hosts get it: this node's waiters, then
// the other nodes'.
func lobbyMessage(rm *room) []byte {
	peers := make([]proto.PeerInfo, 0, len(rm.lobby))
	for _, w := range rm.lobby {
		peers = append(peers, proto.PeerInfo{ID: w.id, Name: w.name})
	}
	nodes := make([]string, 0, len(rm.remote))
	for n := range rm.remote {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		for _, w := range rm.remote[n] {
			peers = append(peers, proto.PeerInfo{ID: w.ID, Name: w.Name})
		}
	}
	return proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeLobby, Peers: peers})
}

// lobbySize counts rm's waiters on every node.
func (rm *room) lobbySize() int {
	n := len(rm.lobby)
	for _, ws := range rm.remote {
		n += len(ws)
	}
	return n
}

// tellLobby sends the lobby to every local host of rm. Called with mu held.
func (r *router) tellLobby(rm *room, d *delivery) {
	b := lobbyMessage(rm)
	for _, m := range rm.members {
		if m.host {
			d.push(m, b, false)
		}
	}
}

// roomUpdated is what member m gets when rm's settings or its role change.
func roomUpdated(rm *room, m *session) []byte {
	return proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeRoomUpdated, Settings: rm.ctl.settings(), Host: m.host})
}

// tellSettings sends room-updated to every local member. Called with mu held.
func (r *router) tellSettings(rm *room, d *delivery) {
	for _, m := range rm.members {
		if m.node == "" {
			d.push(m, roomUpdated(rm, m), false)
		}
	}
}

// vacate settles a room without local members: its waiters keep waiting
// while members of other nodes can let them in (a host, or members one of
// whom becomes host), and otherwise get room_locked, since nobody is there
// to let them in; the room goes once it has neither local members nor
// waiters. Called with mu held.
func (r *router) vacate(rm *room, d *delivery) {
	if rm.local > 0 {
		return
	}
	if len(rm.lobby) > 0 && !rm.canAdmit() {
		b := proto.ErrorFrame("", proto.Errorf(proto.CodeRoomLocked, "everyone left room %s; join again", rm.name))
		for _, w := range rm.lobby {
			w.waiting = nil
			d.push(w, b, false)
			r.st.err(proto.CodeRoomLocked)
		}
		rm.lobby = nil
		r.lobbyChanged(rm, d)
	}
	r.prune(rm)
}

// canAdmit reports whether someone in rm can let a waiter in: a host, or
// members to hand the host role to (not in a room of token hosts).
func (rm *room) canAdmit() bool {
	return rm.hasHost() || len(rm.members) > 0 && !rm.ctl.TokenHosts
}

// handOver makes a new host when rm has none left, as Jitsi does: the
// member that entered earliest. A room a token host entered keeps only
// token hosts. Only the node holding that member promotes it (and tells
// the others through the bus), so every node may call this after a
// departure. Called with mu held; it returns the promoted local session.
func (r *router) handOver(rm *room, d *delivery) *session {
	if rm.ctl.TokenHosts || len(rm.members) == 0 || rm.hasHost() {
		return nil
	}
	var next *session
	for _, m := range rm.members {
		if next == nil || m.since < next.since || m.since == next.since && m.id < next.id {
			next = m
		}
	}
	if next.node != "" {
		return nil // its own node promotes it
	}
	r.makeHost(rm, next, d)
	return next
}

// makeHost makes local member s a host: it gets room-updated (and the lobby,
// if someone waits), the others peer-updated. Called with mu held.
func (r *router) makeHost(rm *room, s *session, d *delivery) {
	s.host = true
	d.push(s, roomUpdated(rm, s), false)
	if rm.lobbySize() > 0 {
		d.push(s, lobbyMessage(rm), false)
	}
	p := info(s, nil)
	b := proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypePeerUpdated, Peer: &p})
	for _, m := range rm.members {
		if m != s {
			d.push(m, b, false)
		}
	}
}
