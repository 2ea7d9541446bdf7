package daemon_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rtcd/rtcd/internal/config"
)

// TestVictimAllocatesDespiteNamedCredentials: with one allocation per user,
// an attacker who asks /api/v1/turn for the victim's peer id (which the
// whole room sees) and allocates first must not use up the victim's quota:
// the user part minted for the attacker is not the victim's.
func TestVictimAllocatesDespiteNamedCredentials(t *testing.T) {
	c := config.Default()
	c.Turn.MaxAllocationsPerUser = 1
	d := startDaemon(t, c)

	ws, _, err := websocket.DefaultDialer.Dial(d.WSURL(), http.Header{"Origin": {d.HTTPURL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"v": 1, "type": "hello", "name": "victim"}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var reply struct {
		PeerID     string      `json:"peerId"`
		ICEServers []iceServer `json:"iceServers"`
	}
	if err := ws.ReadJSON(&reply); err != nil || reply.PeerID == "" || len(reply.ICEServers) != 2 {
		t.Fatalf("hello reply %+v, %v", reply, err)
	}
	victim := reply.ICEServers[1]

	resp, err := http.Get(d.HTTPURL() + "/api/v1/turn?service=turn&username=" + reply.PeerID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cred struct {
		Username string   `json:"username"`
		Password string   `json:"password"`
		URIs     []string `json:"uris"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cred); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	if cred.Username == victim.Username {
		t.Fatalf("the attacker got the victim's username %q", cred.Username)
	}
	allocateICE(t, iceServer{URLs: cred.URIs, Username: cred.Username, Credential: cred.Password}, "udp")
	allocateICE(t, victim, "udp")
}
