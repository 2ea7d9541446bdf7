package bench

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/signal/proto"
)

// fakeSFU is a hub and media server in one, just enough of protocol.md
// §3.10 to drive sfu mode without the daemon: every room is an SFU room,
// the server answers a client's offer, forwards the q layer and audio of
// each publisher to everyone else and offers them, impolitely. With
// offerOnJoin it offers as soon as a client's session opens, which crosses
// the client's first offer.
type fakeSFU struct {
	api         *webrtc.API
	offerOnJoin bool

	mu    sync.Mutex
	n     int
	rooms map[string][]*fakeSFUPeer
	fwdOf map[string][]*fakeFwd
	conns sync.WaitGroup
	fwds  sync.WaitGroup
}

type fakeSFUPeer struct {
	s    *fakeSFU
	id   string
	room string
	wmu  sync.Mutex
	conn *websocket.Conn

	mu       sync.Mutex // negotiation
	pc       *webrtc.PeerConnection
	offering bool
	need     bool
	closed   bool
	ready    bool // takes forwards: its first offer is answered, or offerOnJoin
	subs     map[*fakeFwd]bool
}

// fakeFwd is one forwarded track: its publisher and the local track every
// other participant gets.
type fakeFwd struct {
	owner *fakeSFUPeer
	local *webrtc.TrackLocalStaticRTP
}

func (p *fakeSFUPeer) send(v any) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.WriteJSON(v)
}

func (p *fakeSFUPeer) signal(kind string, data any) {
	b, _ := json.Marshal(data)
	p.send(proto.ServerMessage{V: proto.Version, Type: proto.TypeSignal, From: proto.SFUPeer, Kind: kind, Data: b})
}

func newFakeSFUAPI(t *testing.T) *webrtc.API {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI},
		webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

func (s *fakeSFU) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.conns.Add(1)
	defer s.conns.Done()
	defer conn.Close()
	p := &fakeSFUPeer{s: s, conn: conn}
	defer s.leave(p)
	for {
		var m proto.ClientMessage
		if err := conn.ReadJSON(&m); err != nil {
			return
		}
		switch m.Type {
		case proto.TypeHello:
			s.mu.Lock()
			s.n++
			p.id = "p_" + strconv.Itoa(s.n)
			s.mu.Unlock()
			p.send(proto.Hello{V: proto.Version, Type: proto.TypeHello, ID: m.ID, PeerID: p.id})
		case proto.TypeJoin:
			s.mu.Lock()
			if s.rooms == nil {
				s.rooms = map[string][]*fakeSFUPeer{}
			}
			p.room = m.Room
			s.rooms[m.Room] = append(s.rooms[m.Room], p)
			s.mu.Unlock()
			p.send(proto.ServerMessage{V: proto.Version, Type: proto.TypeJoined, ID: m.ID, Room: m.Room,
				Peers: []proto.PeerInfo{}, Media: proto.MediaSFU})
		case proto.TypeSignal:
			if m.To == proto.SFUPeer {
				p.handle(m.Kind, m.Data)
			}
		}
	}
}

func (s *fakeSFU) leave(p *fakeSFUPeer) {
	s.mu.Lock()
	peers := s.rooms[p.room]
	for i, o := range peers {
		if o == p {
			s.rooms[p.room] = append(peers[:i:i], peers[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	p.mu.Lock()
	p.closed = true
	pc := p.pc
	p.mu.Unlock()
	if pc != nil {
		_ = pc.GracefulClose()
	}
}

func (p *fakeSFUPeer) handle(kind string, data json.RawMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.pc == nil {
		pc, err := p.s.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return
		}
		negotiated, id := true, proto.DataChannelID
		_, _ = pc.CreateDataChannel(proto.DataChannelLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { p.s.publish(p, t) })
		p.pc = pc
		p.subs = map[*fakeFwd]bool{}
		if p.s.offerOnJoin {
			p.subscribeAllLocked()
		}
	}
	switch kind {
	case proto.KindOffer:
		if p.offering {
			return // impolite: our offer wins
		}
		var d webrtc.SessionDescription
		if json.Unmarshal(data, &d) != nil || p.pc.SetRemoteDescription(d) != nil {
			return
		}
		answer, err := p.pc.CreateAnswer(nil)
		if err != nil {
			return
		}
		done := webrtc.GatheringCompletePromise(p.pc)
		if p.pc.SetLocalDescription(answer) != nil {
			return
		}
		<-done
		p.signal(proto.KindAnswer, p.pc.LocalDescription())
		if !p.ready {
			p.subscribeAllLocked()
		}
		p.negotiateLocked()
	case proto.KindAnswer:
		var d webrtc.SessionDescription
		if !p.offering || json.Unmarshal(data, &d) != nil || p.pc.SetRemoteDescription(d) != nil {
			return
		}
		p.offering = false
		p.negotiateLocked()
	case proto.KindLayers:
		p.signal(proto.KindSpeaker, proto.Speaker{Peer: p.id})
	}
}

// subscribeAllLocked gives p every track already forwarded in its room
// and offers them.
func (p *fakeSFUPeer) subscribeAllLocked() {
	p.ready = true
	p.s.mu.Lock()
	fwds := append([]*fakeFwd(nil), p.s.fwdOf[p.room]...)
	p.s.mu.Unlock()
	for _, f := range fwds {
		p.subscribeLocked(f)
	}
	p.need = true
	p.negotiateLocked()
}

func (p *fakeSFUPeer) subscribeLocked(f *fakeFwd) {
	if f.owner == p || p.subs[f] || p.closed {
		return
	}
	sender, err := p.pc.AddTrack(f.local)
	if err != nil {
		return
	}
	p.subs[f] = true
	p.need = true
	p.s.fwds.Add(1)
	go func() {
		defer p.s.fwds.Done()
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
}

func (p *fakeSFUPeer) negotiateLocked() {
	if !p.need || p.offering || p.pc.SignalingState() != webrtc.SignalingStateStable {
		return
	}
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return
	}
	done := webrtc.GatheringCompletePromise(p.pc)
	if p.pc.SetLocalDescription(offer) != nil {
		return
	}
	<-done
	p.need, p.offering = false, true
	p.signal(proto.KindOffer, p.pc.LocalDescription())
}

// publish forwards t, if it is audio or the q layer, to everyone else in
// the room, present and future.
func (s *fakeSFU) publish(from *fakeSFUPeer, t *webrtc.TrackRemote) {
	if t.Kind() == webrtc.RTPCodecTypeVideo && t.RID() != "q" {
		s.fwds.Add(1)
		go func() {
			defer s.fwds.Done()
			for {
				if _, _, err := t.ReadRTP(); err != nil {
					return
				}
			}
		}()
		return
	}
	local, err := webrtc.NewTrackLocalStaticRTP(t.Codec().RTPCodecCapability, t.Kind().String(), from.id)
	if err != nil {
		return
	}
	f := &fakeFwd{owner: from, local: local}
	s.mu.Lock()
	if s.fwdOf == nil {
		s.fwdOf = map[string][]*fakeFwd{}
	}
	s.fwdOf[from.room] = append(s.fwdOf[from.room], f)
	peers := append([]*fakeSFUPeer(nil), s.rooms[from.room]...)
	s.mu.Unlock()
	for _, o := range peers {
		o.mu.Lock()
		if o.ready {
			o.subscribeLocked(f)
			o.negotiateLocked()
		}
		o.mu.Unlock()
	}
	s.fwds.Add(1)
	go func() {
		defer s.fwds.Done()
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			pkt.Header.Extension, pkt.Header.Extensions = false, nil
			_ = local.WriteRTP(pkt)
		}
	}()
}

func startFakeSFU(t *testing.T, offerOnJoin bool) string {
	t.Helper()
	s := &fakeSFU{api: newFakeSFUAPI(t), offerOnJoin: offerOnJoin}
	mux := http.NewServeMux()
	mux.Handle("/ws", s)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		s.conns.Wait()
		s.fwds.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// TestSFUModeAgainstFake runs sfu mode end to end against the fake media
// server, once with the server offering as each session opens, which
// crosses every participant's first offer.
func TestSFUModeAgainstFake(t *testing.T) {
	for _, offerOnJoin := range []bool{false, true} {
		t.Run("offer-on-join="+strconv.FormatBool(offerOnJoin), func(t *testing.T) {
			url := startFakeSFU(t, offerOnJoin)
			var rep struct {
				Rows []SFUResult `json:"rows"`
			}
			runJSON(t, &rep, "sfu", "--url", url, "--smoke", "--participants", "3", "--json", "--pid", strconv.Itoa(os.Getpid()))
			if len(rep.Rows) != 1 {
				t.Fatalf("%d rows", len(rep.Rows))
			}
			r := rep.Rows[0]
			t.Logf("%+v", r)
			if r.SetupErrors != 0 || r.StreamsReceived != r.StreamsExpected || r.StreamsExpected != 12 {
				t.Fatalf("setup errors %d, streams %d/%d, errors %v", r.SetupErrors, r.StreamsReceived,
					r.StreamsExpected, r.Errors)
			}
			if r.ReceivedPackets == 0 || r.DelayP50us <= 0 || r.LayerPct[0] != 100 || r.Server == nil || r.Host == nil {
				t.Fatalf("report: %+v", r)
			}
			if offerOnJoin && r.Collisions == 0 {
				t.Error("no offer collision counted")
			}
			if r.SpeakerMessages == 0 {
				t.Error("no speaker message counted")
			}
		})
	}
}
