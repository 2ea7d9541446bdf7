package client

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	pionturn "github.com/pion/turn/v4"
)

// fakeHub is a minimal protocol v1 server for tests that must not depend on
// the real daemon: hello, join, signal routing, presence, and an embedded
// pion TURN server on 127.0.0.1 (UDP and TCP) with static credentials.
type fakeHub struct {
	t    *testing.T
	http *httptest.Server
	turn *pionturn.Server
	udp  string
	tcp  string

	mu    sync.Mutex // guards the following fields
	next  int
	conns map[string]*fakeConn
	// dropNext, when set, makes the hub close the named peer's socket once.
	sessions map[string]*fakeConn // resume token -> session
	signals  []fakeSignal         // every signal routed, in order
}

type fakeConn struct {
	id     string
	name   string
	room   string
	mu     sync.Mutex // serializes writes
	ws     *websocket.Conn
	resume string
}

func (fc *fakeConn) write(m map[string]any) {
	m["v"] = 1
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.ws != nil {
		_ = fc.ws.WriteJSON(m)
	}
}

const fakeUser, fakePass, fakeRealm = "user", "pass", "rtcd-test"

func newFakeHub(t *testing.T) *fakeHub {
	t.Helper()
	h := &fakeHub{t: t, conns: map[string]*fakeConn{}, sessions: map[string]*fakeConn{}}
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gen := &pionturn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1"}
	key := pionturn.GenerateAuthKey(fakeUser, fakeRealm, fakePass)
	h.turn, err = pionturn.NewServer(pionturn.ServerConfig{
		Realm: fakeRealm,
		AuthHandler: func(u, _ string, _ net.Addr) ([]byte, bool) {
			return key, u == fakeUser
		},
		PacketConnConfigs: []pionturn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: gen}},
		ListenerConfigs:   []pionturn.ListenerConfig{{Listener: tcp, RelayAddressGenerator: gen}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.udp, h.tcp = udp.LocalAddr().String(), tcp.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", h.serveWS)
	h.http = httptest.NewServer(mux)
	t.Cleanup(func() {
		h.http.CloseClientConnections()
		h.http.Close()
		_ = h.turn.Close()
	})
	return h
}

func (h *fakeHub) URL() string { return h.http.URL }

func (h *fakeHub) iceServers() []map[string]any {
	return []map[string]any{{
		"urls":       []string{"turn:" + h.udp + "?transport=udp", "turn:" + h.tcp + "?transport=tcp"},
		"username":   fakeUser,
		"credential": fakePass,
	}}
}

// drop closes a peer's socket without ending its session (tests resume).
func (h *fakeHub) drop(id string) {
	h.mu.Lock()
	fc := h.conns[id]
	h.mu.Unlock()
	if fc != nil {
		fc.mu.Lock()
		_ = fc.ws.Close()
		fc.mu.Unlock()
	}
}

func (h *fakeHub) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	var fc *fakeConn
	for {
		var m struct {
			Type, ID, Name, Room, To, Kind, Resume string
			Data                                   json.RawMessage
		}
		if err := ws.ReadJSON(&m); err != nil {
			return
		}
		reply := func(x map[string]any) {
			if m.ID != "" {
				x["id"] = m.ID
			}
			fc.write(x)
		}
		switch m.Type {
		case "hello":
			h.mu.Lock()
			if old, ok := h.sessions[m.Resume]; ok && m.Resume != "" {
				fc = old
				fc.mu.Lock()
				fc.ws = ws
				fc.mu.Unlock()
			} else {
				h.next++
				fc = &fakeConn{id: fmt.Sprintf("p_%d", h.next), name: m.Name, ws: ws}
				h.conns[fc.id] = fc
			}
			delete(h.sessions, fc.resume)
			fc.resume = fmt.Sprintf("r_%s_%d", fc.id, h.next)
			h.next++
			h.sessions[fc.resume] = fc
			peers := h.roomPeersLocked(fc)
			h.mu.Unlock()
			x := map[string]any{"type": "hello", "peerId": fc.id, "resume": fc.resume, "iceServers": h.iceServers()}
			if m.Resume != "" {
				x["resumed"] = true
				x["room"] = fc.room
				x["peers"] = peers
			}
			if m.Resume != "" && fc.resume == "" {
				x = map[string]any{"type": "error", "code": "no_such_session"}
			}
			if m.ID != "" {
				x["id"] = m.ID
			}
			fc.write(x)
		case "join":
			h.mu.Lock()
			fc.room = m.Room
			peers := h.roomPeersLocked(fc)
			var others []*fakeConn
			for _, o := range h.conns {
				if o != fc && o.room == fc.room {
					others = append(others, o)
				}
			}
			h.mu.Unlock()
			reply(map[string]any{"type": "joined", "room": m.Room, "peers": peers})
			for _, o := range others {
				o.write(map[string]any{"type": "peer-joined", "peer": map[string]any{"id": fc.id, "name": fc.name, "polite": o.id > fc.id}})
			}
		case "signal":
			h.mu.Lock()
			to := h.conns[m.To]
			h.mu.Unlock()
			if to == nil || to.room != fc.room {
				reply(map[string]any{"type": "error", "code": "unknown_peer", "message": m.To})
				continue
			}
			h.mu.Lock()
			h.signals = append(h.signals, fakeSignal{From: fc.id, To: m.To, Kind: m.Kind, Data: m.Data})
			h.mu.Unlock()
			to.write(map[string]any{"type": "signal", "from": fc.id, "kind": m.Kind, "data": m.Data})
		case "ping":
			reply(map[string]any{"type": "pong"})
		case "ice":
			reply(map[string]any{"type": "ice", "iceServers": h.iceServers()})
		}
	}
}

// fakeSignal is one signal message the hub routed.
type fakeSignal struct {
	From, To, Kind string
	Data           json.RawMessage
}

// routed returns the signals routed so far.
func (h *fakeHub) routed() []fakeSignal {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]fakeSignal(nil), h.signals...)
}

// roomPeersLocked lists the others in fc's room from fc's point of view.
func (h *fakeHub) roomPeersLocked(fc *fakeConn) []map[string]any {
	var peers []map[string]any
	if fc.room == "" {
		return peers
	}
	for _, o := range h.conns {
		if o != fc && o.room == fc.room {
			peers = append(peers, map[string]any{"id": o.id, "name": o.name, "polite": fc.id > o.id})
		}
	}
	return peers
}
