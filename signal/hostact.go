package signal

import (
	"slices"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/signal/proto"
)

// Command is a host action for the node that holds its target, or with
// RoomBus.Command's node "" for every node (end): the node that took the
// action checked who may take it, so the receiver applies it as the admin
// API would. Nodes exchange its JSON form, so the form does not change.
type Command struct {
	Room   string `json:"room"`
	Action string `json:"action"`           // proto.Action*
	Target string `json:"target,omitempty"` // a peer of the receiving node
	From   string `json:"from,omitempty"`   // the host, for host-request
}

// action is one host action on a room.
type action struct {
	actor    *session // the host taking it; nil for the admin API and other nodes' commands
	room     string   // with actor nil: the room
	name     string   // proto.Action*
	target   string
	password string
	id       string // the request's id, echoed to actor
	from     string // with actor nil: the host named in host-request
	command  bool   // another node's Command
}

// acted is what an action leaves the hub to do once the router's lock is
// released.
type acted struct {
	closed   []*session  // local sessions out of the room: their media sessions close
	admitted []*session  // waiters to join the room, past its lock
	left     []departure // local peers out of the room, for the bus
	updated  []Member    // local members whose state changed, for the bus
	held     []*session  // local members a host muted: the media server holds their audio
	control  *Control    // the room's new control state, for the bus
	remote   *Command    // the action is for another node
	node     string      // ... this one ("" every node)
	room     string
}

// act applies a host action (protocol.md §3.11): the router checks who
// takes it and on whom, changes the room, tells everyone concerned, echoes
// the action to its host and returns what the hub still has to do.
func (r *router) act(a action) (acted, *proto.Error) {
	var d delivery
	r.mu.Lock()
	res, e := r.actLocked(a, &d)
	r.mu.Unlock()
	r.flush(&d)
	return res, e
}

func (r *router) actLocked(a action, d *delivery) (acted, *proto.Error) {
	var res acted
	rm := r.rooms[a.room]
	from := a.from
	if a.actor != nil {
		rm, from = a.actor.room, a.actor.id
		switch {
		case rm == nil:
			return res, proto.Errorf(proto.CodeNotInRoom, "join a room first")
		case !a.actor.host:
			return res, proto.Errorf(proto.CodeNotHost, "only a host of room %s can %s", rm.name, actionText(a.name))
		}
	}
	if rm == nil {
		if a.name == proto.ActionEnd && a.command {
			r.endRoom(a.room) // other nodes end their part; this one has none
			return res, nil
		}
		return res, proto.Errorf(proto.CodeNotInRoom, "no room %s on this node", proto.Clip(a.room, 64))
	}
	res.room = rm.name
	var t *session
	if proto.PeerAction(a.name) {
		if a.name == proto.ActionAdmit || a.name == proto.ActionDeny {
			t = lobbyPeer(rm, a.target)
		} else {
			t = rm.members[a.target]
		}
		if t == nil || t == a.actor {
			return res, proto.Errorf(proto.CodeUnknownPeer, "no peer %s to %s in room %s", proto.Clip(a.target, 64), actionText(a.name), rm.name)
		}
		if t.node != "" {
			res.remote, res.node = &Command{Room: rm.name, Action: a.name, Target: t.id, From: from}, t.node
			r.echo(a, d)
			return res, nil
		}
	}
	switch a.name {
	case proto.ActionLock, proto.ActionUnlock:
		rm.ctl.Locked = a.name == proto.ActionLock
		r.tellSettings(rm, d)
		if !rm.ctl.Locked {
			res.admitted = r.drainLobby(rm, d)
		}
		res.control = snapshot(&rm.ctl)
	case proto.ActionPassword:
		rm.ctl.setPassword(a.password)
		r.tellSettings(rm, d)
		res.control = snapshot(&rm.ctl)
	case proto.ActionAdmit:
		r.unwait(t, d)
		res.admitted = []*session{t}
	case proto.ActionDeny:
		r.unwait(t, d)
		r.pushErr(t, proto.Errorf(proto.CodeLobbyDenied, "a host of room %s did not let you in", rm.name), d)
	case proto.ActionMute:
		if t.state.Audio {
			t.state.Audio = false
			r.tellUpdated(rm, t, d)
			res.updated = append(res.updated, memberOf(t, ""))
		}
		t.audioHeld = true // until t itself says audio:true (router.update)
		res.held = append(res.held, t)
		d.push(t, hostRequest(a.name, from), false)
	case proto.ActionAskUnmute:
		d.push(t, hostRequest(a.name, from), false)
	case proto.ActionRemove:
		rm.ctl.remove(t)
		r.pushErr(t, proto.Errorf(proto.CodeRemoved, "a host removed you from room %s", rm.name), d)
		res.control = snapshot(&rm.ctl)
		r.drop(rm, t, &res, d)
	case proto.ActionEnd:
		r.echo(a, d)
		r.endLocked(rm, a.actor, !a.command, &res, d)
		res.remote = &Command{Room: rm.name, Action: proto.ActionEnd, From: from}
		return res, nil
	}
	r.echo(a, d)
	return res, nil
}

// actionText names an action in error messages.
func actionText(a string) string {
	switch a {
	case proto.ActionPassword:
		return "set its password"
	case proto.ActionAskUnmute:
		return "ask to unmute"
	case proto.ActionEnd:
		return "end the meeting"
	}
	return a
}

// echo tells the host its action is done. Called with mu held.
func (r *router) echo(a action, d *delivery) {
	if a.actor != nil {
		d.push(a.actor, proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeHost, ID: a.id, Action: a.name,
			Target: a.target}), false)
	}
}

func hostRequest(act, from string) []byte {
	return proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeHostRequest, From: from, Action: act})
}

// pushErr pushes an error without request id to s and counts it.
func (r *router) pushErr(s *session, e *proto.Error, d *delivery) {
	r.st.err(e.Code)
	d.push(s, proto.ErrorFrame("", e), false)
}

// lobbyPeer finds waiter id in rm's lobby: a local session, or a
// placeholder for another node's waiter.
func lobbyPeer(rm *room, id string) *session {
	for _, w := range rm.lobby {
		if w.id == id {
			return w
		}
	}
	for _, ws := range rm.remote {
		for _, w := range ws {
			if w.ID == id {
				return placeholder(w)
			}
		}
	}
	return nil
}

// drainLobby takes everyone out of rm's lobby, to be admitted. Called with
// mu held.
func (r *router) drainLobby(rm *room, d *delivery) []*session {
	out := rm.lobby
	for _, w := range out {
		w.waiting = nil
	}
	rm.lobby = nil
	if len(out) > 0 {
		r.lobbyChanged(rm, d)
	}
	r.prune(rm)
	return out
}

// snapshot copies a room's control state for the bus. Called with mu held.
func snapshot(ctl *Control) *Control {
	c := *ctl
	c.Removed = slices.Clone(c.Removed)
	return &c
}

// tellUpdated tells the others in rm what s looks like now. Called with mu
// held.
func (r *router) tellUpdated(rm *room, s *session, d *delivery) {
	p := info(s, nil)
	b := proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypePeerUpdated, Peer: &p})
	for _, m := range rm.members {
		if m != s {
			d.push(m, b, false)
		}
	}
}

// drop takes local member s out of rm for good (removed), telling the
// others and handing over the host role if s had it. Called with mu held.
func (r *router) drop(rm *room, s *session, res *acted, d *delivery) {
	r.remove(s)
	res.left = append(res.left, departure{peer: s.id, empty: r.departed(rm, s, false, d), report: true})
	res.closed = append(res.closed, s)
	if rm.local == 0 {
		r.vacate(rm, d)
		return
	}
	r.tell(rm, proto.TypePeerLeft, &proto.PeerInfo{ID: s.id}, d)
	if p := r.handOver(rm, d); p != nil {
		res.updated = append(res.updated, memberOf(p, ""))
	}
}

// endLocked ends rm on this node: every local member but actor (who ended
// it) and every waiter gets room_ended, and all are out of the room, which
// refuses joins for endedHold. here says the end was decided on this node,
// which then reports the room's end. Called with mu held.
func (r *router) endLocked(rm *room, actor *session, here bool, res *acted, d *delivery) {
	r.endRoom(rm.name)
	e := proto.Errorf(proto.CodeRoomEnded, "a host ended the meeting in room %s", rm.name)
	for _, w := range rm.lobby {
		w.waiting = nil
		r.pushErr(w, e, d)
	}
	if len(rm.lobby) > 0 {
		rm.lobby = nil
		r.lobbyChanged(rm, d)
	}
	for _, m := range rm.sortedMembers() {
		if m.node != "" {
			continue
		}
		if m != actor {
			r.pushErr(m, e, d)
		}
		r.remove(m)
		r.departed(rm, m, here, d)
		res.closed = append(res.closed, m)
		res.left = append(res.left, departure{peer: m.id}) // the end is reported by the node that ended the room
	}
	r.prune(rm) // a room this node had waiters of only
}

// endRoom refuses joins of room for endedHold. Called with mu held.
func (r *router) endRoom(room string) {
	now := time.Now()
	for name, until := range r.ended {
		if now.After(until) {
			delete(r.ended, name)
		}
	}
	r.ended[room] = now.Add(endedHold)
}

// hostAction runs a host action and then what it leaves to do: media
// sessions to close, the bus to tell, waiters to let in.
func (h *Hub) hostAction(a action) *proto.Error {
	res, e := h.router.act(a)
	if e != nil {
		return e
	}
	h.afterAction(res, false)
	return nil
}

// afterAction does, without the router's lock, what an action left to do.
// fromBus says it runs on the bus's own goroutine, whose news a bus join
// waits for: the waiters then join on a goroutine of their own.
func (h *Hub) afterAction(res acted, fromBus bool) {
	r := h.router
	for _, s := range res.closed {
		h.closeMedia(s)
	}
	for _, s := range res.held {
		h.holdAudio(s)
	}
	for _, dep := range res.left {
		r.leftRoom(res.room, dep)
	}
	for _, m := range res.updated {
		r.bus.Update(res.room, m)
	}
	if res.control != nil {
		r.bus.SetControl(res.room, *res.control)
	}
	if res.remote != nil {
		if err := r.bus.Command(res.node, *res.remote); err != nil && res.node != "" {
			logx.Infow("signal: host action for a peer of another node not delivered", logx.Field("room", res.room),
				logx.Field("action", res.remote.Action), logx.Field("err", err.Error()))
		}
	}
	if len(res.admitted) == 0 {
		return
	}
	if !fromBus {
		h.admitAll(res.room, res.admitted)
		return
	}
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		h.admitAll(res.room, res.admitted)
	}()
}

// admitAll joins the waiters a host let in to room, past its lock; one that
// cannot enter (the room filled up) is told why.
func (h *Hub) admitAll(room string, ws []*session) {
	r := h.router
	for _, w := range ws {
		if e := r.join(w, room, "", joinOpts{admitted: true}); e != nil {
			var d delivery
			r.pushErr(w, e, &d)
			r.flush(&d)
		}
	}
}
