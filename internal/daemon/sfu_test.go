package daemon_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/daemon"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/proto"
)

// sfuClient is a pion peer that talks to the daemon's media server through
// signaling, as the web app does in an SFU room: it offers what it
// publishes and answers the server's offers.
type sfuClient struct {
	t      *testing.T
	ws     *websocket.Conn
	pc     *webrtc.PeerConnection
	id     string
	wmu    sync.Mutex  // serializes writes to ws
	tracks chan string // stream ids of the tracks received
	done   chan struct{}
}

func newSFUClient(t *testing.T, d *daemon.Daemon, room string) *sfuClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(d.WSURL(), http.Header{"Origin": {d.HTTPURL()}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &sfuClient{t: t, ws: ws, tracks: make(chan string, 16), done: make(chan struct{})}
	c.write(proto.ClientMessage{V: proto.V1, Type: proto.TypeHello})
	var h proto.Hello
	if err := ws.ReadJSON(&h); err != nil || h.Type != proto.TypeHello {
		t.Fatalf("hello: %v %+v", err, h)
	}
	c.id = h.PeerID
	c.write(proto.ClientMessage{V: proto.V1, Type: proto.TypeJoin, Room: room})
	var j proto.ServerMessage
	if err := ws.ReadJSON(&j); err != nil || j.Type != proto.TypeJoined || j.Media != proto.MediaSFU {
		t.Fatalf("joined: %v %+v", err, j)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(string) bool { return true })
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	if c.pc, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	c.pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		b, _ := json.Marshal(cand.ToJSON())
		c.signal(proto.KindCandidate, b)
	})
	c.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		c.tracks <- tr.StreamID()
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
		}
	})
	t.Cleanup(c.close)
	go c.read()
	return c
}

func (c *sfuClient) write(m proto.ClientMessage) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.WriteJSON(m)
}

func (c *sfuClient) signal(kind string, data []byte) {
	c.write(proto.ClientMessage{V: proto.V1, Type: proto.TypeSignal, To: proto.SFUPeer, Kind: kind, Data: data})
}

// publish adds a video track, offers it and writes RTP until the client closes.
func (c *sfuClient) publish() {
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", c.id)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.pc.AddTrack(track); err != nil {
		c.t.Fatal(err)
	}
	offer, err := c.pc.CreateOffer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(offer)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := json.Marshal(offer)
	c.signal(proto.KindOffer, b)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		// A VP8 keyframe descriptor: S=1, PID 0, then a keyframe header byte.
		payload := []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
		for seq := uint16(0); ; seq++ {
			select {
			case <-c.done:
				return
			case <-tick.C:
			}
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
				Timestamp: uint32(seq) * 1800, Marker: true}, Payload: payload})
		}
	}()
}

// read applies the media server's signals until the socket closes.
func (c *sfuClient) read() {
	for {
		var m proto.ServerMessage
		if err := c.ws.ReadJSON(&m); err != nil {
			return
		}
		if m.Type != proto.TypeSignal || m.From != proto.SFUPeer {
			continue
		}
		switch m.Kind {
		case proto.KindOffer, proto.KindAnswer:
			var desc webrtc.SessionDescription
			if json.Unmarshal(m.Data, &desc) != nil || c.pc.SetRemoteDescription(desc) != nil {
				continue
			}
			if desc.Type == webrtc.SDPTypeOffer {
				answer, err := c.pc.CreateAnswer(nil)
				if err == nil && c.pc.SetLocalDescription(answer) == nil {
					b, _ := json.Marshal(answer)
					c.signal(proto.KindAnswer, b)
				}
			}
		case proto.KindCandidate:
			var cand webrtc.ICECandidateInit
			if json.Unmarshal(m.Data, &cand) == nil {
				_ = c.pc.AddICECandidate(cand)
			}
		}
	}
}

func (c *sfuClient) close() {
	select {
	case <-c.done:
		return
	default:
	}
	close(c.done)
	_ = c.ws.Close()
	_ = c.pc.Close()
}

// exchangeTracks has a and b publish and waits until each got the other's
// track, with the publisher's peer id as stream id.
func exchangeTracks(t *testing.T, a, b *sfuClient) {
	t.Helper()
	a.publish()
	b.publish()
	for _, tc := range []struct {
		rx   *sfuClient
		from string
	}{{a, b.id}, {b, a.id}} {
		select {
		case got := <-tc.rx.tracks:
			if got != tc.from {
				t.Fatalf("track from stream %q, want %q", got, tc.from)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("no track from %s reached %s", tc.from, tc.rx.id)
		}
	}
}

// TestSFURoomForwardsThroughTheDaemon: in an SFU room, each participant's
// track reaches the others through the daemon's media server, with the
// publisher's peer id as stream id, and /metrics-facing stats count it.
func TestSFURoomForwardsThroughTheDaemon(t *testing.T) {
	c := config.Default()
	c.Signal.Media = signal.MediaSFU
	d := daemontest.Start(t, c)
	a := newSFUClient(t, d, "sfu-room")
	b := newSFUClient(t, d, "sfu-room")
	exchangeTracks(t, a, b)
	var forwarded uint64
	for _, r := range d.SFU().Stats() {
		forwarded += r.PacketsForwarded
	}
	if forwarded == 0 {
		t.Error("the media server's stats count no forwarded packets")
	}
}
