package signal

import (
	"encoding/json"
	"sync"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/signal/proto"
)

// MediaServer carries the media of SFU rooms (protocol.md §3.10): each
// client of such a room has one session with it, which the hub opens on the
// client's first signal to proto.SFUPeer and closes when the client leaves.
// The daemon adapts the SFU to it, so signal knows nothing of WebRTC.
type MediaServer interface {
	// Join opens peer's session in room. send delivers the media server's
	// signals to the client; it may be called with the media server's locks
	// held, so it never blocks and never calls back into the media server.
	Join(room, peer string, send func(kind string, data json.RawMessage)) (MediaSession, error)
}

// MediaSession is one client's session with the MediaServer.
type MediaSession interface {
	// Signal applies a signal from the client (offer, answer, candidate,
	// layers). An error is about this input only: the session goes on.
	Signal(kind string, data json.RawMessage) error
	// HoldAudio stops (held) or resumes forwarding the client's audio to
	// the others, whatever the client sends: a host muted it, and only the
	// client's own unmute (state audio:true) ends the hold.
	HoldAudio(held bool)
	// Close ends the session. When it returns, send is not called again.
	Close() error
}

// mediaLink is a session's link to the media server. mu orders its opening
// against its closing: the room is checked and the session opened under it,
// and a leave closes it under it, so no media session outlives its room.
// While the media of the session's room lives on another node, ms stays nil
// and every signal goes there.
type mediaLink struct {
	mu   sync.Mutex
	ms   MediaSession
	room string // ms's room, whose media claim ms counts in
	// node is the node the session's signals last went to, because it
	// carries the media of room remote: a hold goes there too.
	node, remote string
}

// mediaClaims counts, by room, the media sessions this node carries (its
// own clients' and those hosted for other nodes' clients), so that the
// node claims a room's media with the first and releases it with the last.
type mediaClaims struct {
	mu    sync.Mutex // held across the bus's MediaNode and ReleaseMedia
	rooms map[string]int
}

// SetMedia gives the hub a media server, which makes Signal.Media apply: SFU
// rooms, and Signal.SFURoomSize as the cap of rooms that may use it. Call it
// before serving; without it every room is a mesh room of Signal.RoomSize.
func (h *Hub) SetMedia(m MediaServer) {
	h.media = m
	h.router.media = h.cfg.Media
	if h.cfg.Media != MediaMesh {
		h.router.size = h.cfg.SFURoomSize
	}
}

// mediaSignal hands a client's signal to its media session, opening the
// session on the first one; id is the request's, for the errors of another
// node's media server.
func (h *Hub) mediaSignal(s *session, id, kind string, data json.RawMessage) *proto.Error {
	if h.media == nil {
		return proto.Errorf(proto.CodeUnknownPeer, "this server has no media server; signal your peers")
	}
	s.media.mu.Lock()
	defer s.media.mu.Unlock()
	room, mode := h.router.mediaOf(s)
	switch {
	case room == "":
		return proto.Errorf(proto.CodeNotInRoom, "join a room first")
	case mode != proto.MediaSFU:
		return proto.Errorf(proto.CodeUnknownPeer, "room %s carries media peer to peer (media %s)", room, mode)
	}
	if s.media.ms == nil {
		if node, here := h.claimMedia(room); !here {
			sig := MediaSignal{Room: room, Peer: s.id, ID: id, Kind: kind, Data: data, Held: h.router.held(s)}
			if err := h.router.bus.MediaSignal(node, sig); err != nil {
				logx.Infow("signal: media node unreachable", logx.Field("room", room), logx.Field("node", node),
					logx.Field("err", err.Error()))
				return proto.Errorf(proto.CodeInternal, "the media server of room %s is on another node, which cannot be reached right now", room)
			}
			s.media.node, s.media.remote = node, room
			return nil
		}
		h.endHosted(s.id) // hosted for s's previous node, if s resumed here
		ms, err := h.media.Join(room, s.id, h.mediaSender(s))
		if err != nil {
			h.releaseMedia(room)
			logx.Errorw("signal: media server join", logx.Field("peer", s.id), logx.Field("room", room),
				logx.Field("err", err.Error()))
			return proto.Errorf(proto.CodeInternal, "the media server cannot take you right now")
		}
		if h.router.held(s) {
			ms.HoldAudio(true)
		}
		s.media.ms, s.media.room, s.media.node, s.media.remote = ms, room, "", ""
		h.st.mediaSessions.Add(1)
	}
	if err := s.media.ms.Signal(kind, data); err != nil {
		return proto.Errorf(proto.CodeBadRequest, "media server: %s", proto.Clip(err.Error(), 200))
	}
	return nil
}

// claimMedia finds the node that carries the media of room. If it is this
// one (here), a media session about to open counts in the room's claim, and
// the caller must open it or call releaseMedia.
func (h *Hub) claimMedia(room string) (node string, here bool) {
	h.claims.mu.Lock()
	defer h.claims.mu.Unlock()
	node, err := h.router.bus.MediaNode(room)
	if err != nil {
		logx.Debugw("signal: media node unknown; carrying the room's media here", logx.Field("room", room),
			logx.Field("err", err.Error()))
	}
	if node != "" && node != h.router.bus.NodeID() {
		return node, false
	}
	if h.claims.rooms == nil {
		h.claims.rooms = make(map[string]int)
	}
	h.claims.rooms[room]++
	return node, true
}

// releaseMedia uncounts a media session of room that closed (or did not
// open), releasing the room's media claim with the last one.
func (h *Hub) releaseMedia(room string) {
	h.claims.mu.Lock()
	defer h.claims.mu.Unlock()
	if h.claims.rooms[room]--; h.claims.rooms[room] > 0 {
		return
	}
	delete(h.claims.rooms, room)
	h.router.bus.ReleaseMedia(room)
}

// mediaSender returns the send function of s's media session: signals from
// proto.SFUPeer, kept across a resume like every relayed signal.
func (h *Hub) mediaSender(s *session) func(string, json.RawMessage) {
	return func(kind string, data json.RawMessage) {
		b := sfuMessage(kind, data)
		if s.out.push(b, true) {
			s.out.notify()
			return
		}
		h.overflowLater(s)
	}
}

// sfuMessage is a signal of the media server as its client gets it.
func sfuMessage(kind string, data json.RawMessage) []byte {
	return proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeSignal, From: proto.SFUPeer,
		Kind: kind, Data: data})
}

// overflowLater ends s from a goroutine the hub waits for: the media server
// calls send under its locks, and ending the session closes its media
// session, which waits for those calls.
func (h *Hub) overflowLater(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping || s.ended {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.overflow(s)
	}()
}

// closeMedia ends s's media session, if it has one. Called after s left its
// room, without locks. A media session on another node ends there when that
// node learns that s left (Rooms.Left).
func (h *Hub) closeMedia(s *session) {
	s.media.mu.Lock()
	ms, room := s.media.ms, s.media.room
	s.media.ms, s.media.room, s.media.node, s.media.remote = nil, "", "", ""
	s.media.mu.Unlock()
	if ms == nil {
		return
	}
	h.st.mediaSessions.Add(-1)
	if err := ms.Close(); err != nil {
		logx.Infow("signal: media session close", logx.Field("peer", s.id), logx.Field("err", err.Error()))
	}
	h.releaseMedia(room)
}

// holdAudio tells the media server whether a host's mute holds s's audio
// now (router.held): s's media session on this node, or the one on the
// node that carries its room's media. The flag is read under the media
// link's lock, so of a mute and an unmute racing the last call applies
// the last word. A client without a media session yet is held from its
// first signal to proto.SFUPeer on. In a mesh room there is nothing to
// hold: media flows between the peers.
func (h *Hub) holdAudio(s *session) {
	if h.media == nil {
		return
	}
	s.media.mu.Lock()
	defer s.media.mu.Unlock()
	held := h.router.held(s)
	switch {
	case s.media.ms != nil:
		s.media.ms.HoldAudio(held)
	case s.media.node != "":
		sig := MediaSignal{Room: s.media.remote, Peer: s.id, Held: held}
		if err := h.router.bus.MediaSignal(s.media.node, sig); err != nil {
			logx.Infow("signal: audio hold for another node's media server not delivered", logx.Field("peer", s.id),
				logx.Field("node", s.media.node), logx.Field("err", err.Error()))
		}
	}
}

// held reports whether a host's mute holds s's audio.
func (r *router) held(s *session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.audioHeld
}

// mediaOf returns s's room and how it carries media, "" when s is in none.
func (r *router) mediaOf(s *session) (room, mode string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.room == nil {
		return "", ""
	}
	return s.room.name, s.room.media
}

// newRoomMedia is the media mode of a room being created.
func (r *router) newRoomMedia() string {
	switch r.media {
	case "":
		return ""
	case MediaSFU:
		return proto.MediaSFU
	}
	return proto.MediaMesh
}

// promote moves rm to the media server when auto mode sees a third peer
// arrive (rm has two members before it is added), telling the local members
// before they learn of the newcomer. Called with mu held.
func (r *router) promote(rm *room, d *delivery) {
	if r.media != MediaAuto || rm.media != proto.MediaMesh || len(rm.members) < 2 {
		return
	}
	rm.media = proto.MediaSFU
	r.st.promotions.Add(1)
	b := proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeMedia, Mode: proto.MediaSFU})
	for _, m := range rm.members {
		d.push(m, b, false)
	}
}
