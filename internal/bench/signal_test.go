package bench

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// fakeHub speaks the subset of docs/protocol.md bench uses (hello, join,
// presence, signal), so signal mode is tested without depending on signal/.
type fakeHub struct {
	mu    sync.Mutex
	rooms map[string]map[string]*fakePeer
	n     int
	conns sync.WaitGroup
}

type fakePeer struct {
	id   string
	room string
	wmu  sync.Mutex
	conn *websocket.Conn
}

func (p *fakePeer) send(v any) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.WriteJSON(v)
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	h.conns.Add(1)
	defer h.conns.Done()
	defer conn.Close()
	p := &fakePeer{conn: conn}
	defer h.leave(p)
	for {
		var m map[string]any
		if err := conn.ReadJSON(&m); err != nil {
			return
		}
		id, _ := m["id"].(string)
		switch m["type"] {
		case "hello":
			h.mu.Lock()
			h.n++
			p.id = "p_" + strconv.Itoa(h.n)
			h.mu.Unlock()
			p.send(map[string]any{"v": 1, "type": "hello", "id": id, "peerId": p.id,
				"limits": map[string]any{"messagesPerSecond": 50}})
		case "join":
			room, _ := m["room"].(string)
			h.mu.Lock()
			if h.rooms == nil {
				h.rooms = map[string]map[string]*fakePeer{}
			}
			if h.rooms[room] == nil {
				h.rooms[room] = map[string]*fakePeer{}
			}
			var peers []map[string]any
			var others []*fakePeer
			for _, o := range h.rooms[room] {
				peers = append(peers, map[string]any{"id": o.id})
				others = append(others, o)
			}
			h.rooms[room][p.id] = p
			p.room = room
			h.mu.Unlock()
			p.send(map[string]any{"v": 1, "type": "joined", "id": id, "room": room, "peers": peers})
			for _, o := range others {
				o.send(map[string]any{"v": 1, "type": "peer-joined", "peer": map[string]any{"id": p.id}})
			}
		case "signal":
			to, _ := m["to"].(string)
			h.mu.Lock()
			o := h.rooms[p.room][to]
			h.mu.Unlock()
			if o == nil {
				p.send(map[string]any{"v": 1, "type": "error", "code": "unknown_peer"})
				continue
			}
			o.send(map[string]any{"v": 1, "type": "signal", "from": p.id, "kind": m["kind"], "data": m["data"]})
		default:
			p.send(map[string]any{"v": 1, "type": "error", "id": id, "code": "unknown_type"})
		}
	}
}

func (h *fakeHub) leave(p *fakePeer) {
	h.mu.Lock()
	var others []*fakePeer
	if r := h.rooms[p.room]; r != nil {
		delete(r, p.id)
		for _, o := range r {
			others = append(others, o)
		}
	}
	h.mu.Unlock()
	for _, o := range others {
		o.send(map[string]any{"v": 1, "type": "peer-left", "peer": map[string]any{"id": p.id}})
	}
}

func startFakeHub(t *testing.T) string {
	t.Helper()
	h := &fakeHub{}
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		h.conns.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func TestSignalMode(t *testing.T) {
	u := startFakeHub(t)
	var rep struct{ Rows []SignalResult }
	runJSON(t, &rep, "signal", "--url", u, "--smoke", "--clients", "4,10", "--rooms", "2", "--rate", "200",
		"--per-ip", "3", "--json")
	if len(rep.Rows) != 2 {
		t.Fatalf("rows %d", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if r.Connected != r.Clients || r.ConnectsPerSec <= 0 {
			t.Errorf("%d clients: connected %d", r.Clients, r.Connected)
		}
		if r.Received == 0 || r.Sent == 0 {
			t.Errorf("%d clients: no messages relayed: %+v", r.Clients, r)
		}
		if len(r.Errors) != 0 {
			t.Errorf("%d clients: errors %v", r.Clients, r.Errors)
		}
	}
}

func TestSignalModeBadInput(t *testing.T) {
	u := startFakeHub(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no url", []string{"signal"}, "--url is required"},
		{"http url", []string{"signal", "--url", "http://127.0.0.1:1/ws"}, "want ws://"},
		{"no host", []string{"signal", "--url", "ws:///ws"}, "no host"},
		{"bad rooms", []string{"signal", "--url", u, "--rooms", "-1"}, "--rooms"},
		{"bad concurrency", []string{"signal", "--url", u, "--concurrency", "0"}, "--concurrency"},
		{"nothing listening", []string{"signal", "--url", "ws://127.0.0.1:1/ws", "--smoke", "--clients", "2",
			"--setup-timeout", "1s"}, "no client connected"},
		{"not a websocket", []string{"signal", "--url", strings.Replace(u, "/ws", "/nope", 1), "--smoke",
			"--clients", "1"}, "no client connected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(testCtx(t), tt.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run(%q) = %v, want error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestAppendSignal(t *testing.T) {
	b := appendSignal(nil, `p_"x`, 12345, "xx")
	var m struct {
		Type, To, Kind string
		Data           sigData
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if m.Type != "signal" || m.To != `p_"x` || m.Kind != "candidate" || m.Data.T != 12345 || m.Data.P != "xx" {
		t.Fatalf("decoded %+v", m)
	}
}
