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
	// Close ends the session. When it returns, send is not called again.
	Close() error
}

// mediaLink is a session's link to the media server. mu orders its opening
// against its closing: the room is checked and the session opened under it,
// and a leave closes it under it, so no media session outlives its room.
type mediaLink struct {
	mu sync.Mutex
	ms MediaSession
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
// session on the first one.
func (h *Hub) mediaSignal(s *session, kind string, data json.RawMessage) *proto.Error {
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
		ms, err := h.media.Join(room, s.id, h.mediaSender(s))
		if err != nil {
			logx.Errorw("signal: media server join", logx.Field("peer", s.id), logx.Field("room", room),
				logx.Field("err", err.Error()))
			return proto.Errorf(proto.CodeInternal, "the media server cannot take you right now")
		}
		s.media.ms = ms
		h.st.mediaSessions.Add(1)
	}
	if err := s.media.ms.Signal(kind, data); err != nil {
		return proto.Errorf(proto.CodeBadRequest, "media server: %s", proto.Clip(err.Error(), 200))
	}
	return nil
}

// mediaSender returns the send function of s's media session: signals from
// proto.SFUPeer, kept across a resume like every relayed signal.
func (h *Hub) mediaSender(s *session) func(string, json.RawMessage) {
	return func(kind string, data json.RawMessage) {
		b := proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeSignal, From: proto.SFUPeer,
			Kind: kind, Data: data})
		if s.out.push(b, true) {
			s.out.notify()
			return
		}
		h.overflowLater(s)
	}
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
// room, without locks.
func (h *Hub) closeMedia(s *session) {
	s.media.mu.Lock()
	ms := s.media.ms
	s.media.ms = nil
	s.media.mu.Unlock()
	if ms == nil {
		return
	}
	h.st.mediaSessions.Add(-1)
	if err := ms.Close(); err != nil {
		logx.Infow("signal: media session close", logx.Field("peer", s.id), logx.Field("err", err.Error()))
	}
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
