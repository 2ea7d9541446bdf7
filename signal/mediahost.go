package signal

import (
	"encoding/json"
	"sync"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/signal/proto"
)

// The media sessions this node hosts for clients of other nodes: in a
// cluster a room's media lives on one node (docs/cluster.md), which opens a
// media session for every client of the room whose node forwards its signals
// to proto.SFUPeer (RoomBus.MediaSignal). Each hosted session has a goroutine
// that applies the client's signals in order and sends the media server's
// back to the client's node (RoomBus.Signal), so that neither the bus's
// receiving goroutine nor the media server's send waits on the other. The
// client's presence drives the end of the session: it closes when the
// client's node says the client left the room, moved, or when that node is
// gone.

// hostQueueMax bounds the work waiting for one hosted session; beyond it
// the session is dropped, as a local client's session is when its queue
// overflows.
const hostQueueMax = 1024

// hostedMedia is the hosted sessions by peer id. A session stays listed
// until its goroutine has closed its media session, so that the next one
// of the same peer opens after that: the media server knows a peer once.
type hostedMedia struct {
	mu     sync.Mutex
	closed bool // the hub is stopping: no new session
	byPeer map[string]*hostedSession
	wg     sync.WaitGroup // the sessions' goroutines
}

// hostedSession is the media session of peer, a client of node in room.
type hostedSession struct {
	node, room, peer string
	prev             *hostedSession // the peer's previous session, which closes first
	done             chan struct{}  // closed when the media session is closed

	mu     sync.Mutex // guards the fields below
	items  []hostItem
	closed bool
	wake   chan struct{} // capacity 1: work or close
}

// hostItem is a signal from the client (in) or one for it (out, the
// message as the client gets it).
type hostItem struct {
	in  *MediaSignal
	out []byte
}

// push queues it; false if the queue is full. Never blocks.
func (hs *hostedSession) push(it hostItem) bool {
	hs.mu.Lock()
	if hs.closed {
		hs.mu.Unlock()
		return true // nothing is sent after close
	}
	if len(hs.items) >= hostQueueMax {
		hs.mu.Unlock()
		return false
	}
	hs.items = append(hs.items, it)
	hs.mu.Unlock()
	hs.poke()
	return true
}

func (hs *hostedSession) poke() {
	select {
	case hs.wake <- struct{}{}:
	default:
	}
}

// stop ends the session: its goroutine drops what is queued and closes the
// media session.
func (hs *hostedSession) stop() {
	hs.mu.Lock()
	hs.closed = true
	hs.items = nil
	hs.mu.Unlock()
	hs.poke()
}

func (hs *hostedSession) stopped() bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.closed
}

// take waits for work; ok is false once the session is stopped.
func (hs *hostedSession) take() (items []hostItem, ok bool) {
	for {
		hs.mu.Lock()
		if hs.closed {
			hs.mu.Unlock()
			return nil, false
		}
		if len(hs.items) > 0 {
			items, hs.items = hs.items, nil
			hs.mu.Unlock()
			return items, true
		}
		hs.mu.Unlock()
		<-hs.wake
	}
}

// hostSignal takes a signal that node forwarded for the media session of
// its client sig.Peer, opening the session on the first one.
func (h *Hub) hostSignal(node string, sig MediaSignal) {
	m := &h.hosted
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	hs := m.byPeer[sig.Peer]
	if hs == nil || hs.stopped() || hs.node != node || hs.room != sig.Room {
		if sig.Kind == "" {
			return // a hold for a session that is gone: the next one opens with its first signal's
		}
		prev := hs
		if prev != nil {
			prev.stop() // left, moved or rejoined without this node hearing yet
		}
		hs = &hostedSession{node: node, room: sig.Room, peer: sig.Peer, prev: prev, done: make(chan struct{}),
			wake: make(chan struct{}, 1)}
		if m.byPeer == nil {
			m.byPeer = make(map[string]*hostedSession)
		}
		m.byPeer[sig.Peer] = hs
		m.wg.Add(1)
		go h.runHosted(hs)
	}
	if !hs.push(hostItem{in: &sig}) {
		h.dropHosted(hs, "its queue is full")
	}
}

// runHosted is the goroutine of a hosted session.
func (h *Hub) runHosted(hs *hostedSession) {
	defer h.hosted.wg.Done()
	defer h.forgetHosted(hs)
	if hs.prev != nil {
		<-hs.prev.done
		hs.prev = nil
	}
	var ms MediaSession
	for {
		items, ok := hs.take()
		if !ok {
			break
		}
		for _, it := range items {
			if it.out != nil {
				h.sendHosted(hs, it.out)
				continue
			}
			if ms == nil {
				var perr *proto.Error
				if ms, perr = h.openHosted(hs); perr != nil {
					h.sendHosted(hs, proto.ErrorFrame(it.in.ID, perr))
					h.dropHosted(hs, perr.Message)
					break
				}
			}
			ms.HoldAudio(it.in.Held) // the client's node says whether a host's mute holds its audio
			if it.in.Kind == "" {
				continue // the hold alone
			}
			if err := ms.Signal(it.in.Kind, it.in.Data); err != nil {
				perr := proto.Errorf(proto.CodeBadRequest, "media server: %s", proto.Clip(err.Error(), 200))
				h.sendHosted(hs, proto.ErrorFrame(it.in.ID, perr))
			}
		}
	}
	if ms == nil {
		return
	}
	h.st.mediaSessions.Add(-1)
	if err := ms.Close(); err != nil {
		logx.Infow("signal: hosted media session close", logx.Field("peer", hs.peer), logx.Field("err", err.Error()))
	}
	h.releaseMedia(hs.room)
}

// openHosted opens the media session of a hosted client, if the room's media
// lives on this node (it claims it if no node does).
func (h *Hub) openHosted(hs *hostedSession) (MediaSession, *proto.Error) {
	if h.media == nil {
		return nil, proto.Errorf(proto.CodeUnknownPeer, "this server has no media server; signal your peers")
	}
	if node, here := h.claimMedia(hs.room); !here {
		logx.Infow("signal: media signal for a room whose media moved", logx.Field("room", hs.room),
			logx.Field("node", node), logx.Field("peer", hs.peer))
		return nil, proto.Errorf(proto.CodeInternal, "the media server of room %s moved; signal it again", hs.room)
	}
	ms, err := h.media.Join(hs.room, hs.peer, func(kind string, data json.RawMessage) {
		if !hs.push(hostItem{out: sfuMessage(kind, data)}) {
			h.dropHosted(hs, "its queue is full")
		}
	})
	if err != nil {
		h.releaseMedia(hs.room)
		logx.Errorw("signal: media server join", logx.Field("peer", hs.peer), logx.Field("room", hs.room),
			logx.Field("node", hs.node), logx.Field("err", err.Error()))
		return nil, proto.Errorf(proto.CodeInternal, "the media server cannot take you right now")
	}
	h.st.mediaSessions.Add(1)
	return ms, nil
}

// sendHosted hands a message to the hosted client through its node.
func (h *Hub) sendHosted(hs *hostedSession, b []byte) {
	if err := h.router.bus.Signal(hs.node, proto.SFUPeer, hs.peer, hs.room, b); err != nil {
		logx.Debugw("signal: media signal for another node's client dropped", logx.Field("peer", hs.peer),
			logx.Field("node", hs.node), logx.Field("err", err.Error()))
	}
}

// dropHosted stops hs and logs why. Never blocks and never calls into the
// media server.
func (h *Hub) dropHosted(hs *hostedSession, why string) {
	hs.stop()
	logx.Infow("signal: hosted media session dropped", logx.Field("peer", hs.peer), logx.Field("node", hs.node),
		logx.Field("why", why))
}

// forgetHosted unlists hs once its media session is closed.
func (h *Hub) forgetHosted(hs *hostedSession) {
	m := &h.hosted
	m.mu.Lock()
	if m.byPeer[hs.peer] == hs {
		delete(m.byPeer, hs.peer)
	}
	m.mu.Unlock()
	close(hs.done)
}

// stopHosted stops the hosted sessions for which match holds.
func (h *Hub) stopHosted(match func(*hostedSession) bool) {
	m := &h.hosted
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, hs := range m.byPeer {
		if match(hs) {
			hs.stop()
		}
	}
}

// endHosted stops the hosted session of peer, if any, and waits until its
// media session is closed: the peer now lives on this node (a resume), and
// the media server takes it once.
func (h *Hub) endHosted(peer string) {
	m := &h.hosted
	m.mu.Lock()
	hs := m.byPeer[peer]
	m.mu.Unlock()
	if hs == nil {
		return
	}
	hs.stop()
	<-hs.done
}

// hostedLeft ends the hosted session of node's client peer in room.
func (h *Hub) hostedLeft(node, room, peer string) {
	h.stopHosted(func(hs *hostedSession) bool { return hs.peer == peer && hs.node == node && hs.room == room })
}

// closeHosted ends every hosted session and waits until they are closed;
// no new one opens after it. Hub.Stop calls it before it stops the bus.
func (h *Hub) closeHosted() {
	h.hosted.mu.Lock()
	h.hosted.closed = true
	h.hosted.mu.Unlock()
	h.stopHosted(func(*hostedSession) bool { return true })
	h.hosted.wg.Wait()
}
