package daemon_test

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
)

// TestVictimAllocatesDespiteNamedCredentials: with one allocation per user,
// an attacker who asks /api/v1/turn for the victim's peer id (which the
// whole room sees) and allocates first must not use up the victim's quota:
// the user part minted for the attacker is not the victim's.
func TestVictimAllocatesDespiteNamedCredentials(t *testing.T) {
	c := config.Default()
	c.Turn.MaxAllocationsPerUser = 1
	d := daemontest.Start(t, c)

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

// TestHostsFromConfiguration: with the shipped defaults a rebinding name is
// refused at /ws and /api/v1, while Turn.PublicHost (a name the operator
// declared) and the loopback address are served; /healthz answers any Host
// (load balancers probe by address or by an internal name).
func TestHostsFromConfiguration(t *testing.T) {
	c := config.Default()
	c.Turn.PublicHost = "rtc.test"
	d := daemontest.Start(t, c)
	_, port, err := net.SplitHostPort(d.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	status := func(path, host string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, d.HTTPURL()+path, nil)
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for host, want := range map[string]int{"evil.example:" + port: 421, "rtc.test:" + port: 200, "localhost:" + port: 200, "127.0.0.1:" + port: 200} {
		if got := status("/api/v1/ice-servers", host); got != want {
			t.Errorf("API with Host %s: %d, want %d", host, got, want)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(d.WSURL(), http.Header{"Host": {host}, "Origin": {"http://" + host}})
		if err == nil {
			_ = ws.Close()
		}
		if want == 421 && (err == nil || resp == nil || resp.StatusCode != 421) {
			t.Errorf("/ws with Host %s: %v %v, want 421", host, err, resp)
		}
		if want == 200 && err != nil {
			t.Errorf("/ws with Host %s: %v", host, err)
		}
	}
	if got := status("/healthz", "evil.example"); got != 200 {
		t.Errorf("/healthz with another Host: %d", got)
	}
}
