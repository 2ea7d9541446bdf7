package sfu

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/rtcd/rtcd/internal/callback"
	"github.com/rtcd/rtcd/signal/proto"
)

// wait is how long a test waits for an event; generous, for a loaded machine.
const wait = 20 * time.Second

// loopback restricts ICE to IPv4 loopback (which pion leaves out unless told) without mDNS.
func loopback(se *webrtc.SettingEngine) {
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
}

// testRoom is the room name the tests' peers join.
const testRoom = "room"

// newTestServer starts a server on one loopback UDP port.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{UDP: "127.0.0.1:0", Loopback: true, SettingEngine: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// clientAPI is the pion API of a test client, restricted to loopback.
func clientAPI(t *testing.T) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	loopback(&se)
	api, err := newAPI(&se)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// peer is a client of the room: a pion PeerConnection that publishes a
// synthetic VP8 and Opus track, answers every offer and counts the packets
// of every remote track.
type peer struct {
	t    *testing.T
	name string
	pc   *webrtc.PeerConnection
	part *Participant
	gate callback.Gate
	wg   sync.WaitGroup
	done chan struct{}
	once sync.Once
	// badAnswer, when set, is sent before the real answer to the first
	// offer; its error goes to badErr.
	badAnswer json.RawMessage

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change below
	inbox     []Signal
	delivered int    // signals sent to us, ever
	offers    int    // offers answered
	lastSDP   string // the last offer answered
	packets   map[string]int
	plis      int
	badErr    error
	loopErrs  []error
}

// key names a remote track by its publisher and kind.
func key(publisher string, kind webrtc.RTPCodecType) string { return publisher + "/" + kind.String() }

func newPeer(t *testing.T, s *Server, name string, badAnswer json.RawMessage) *peer {
	t.Helper()
	return newPeerWith(t, s, clientAPI(t), testRoom, name, badAnswer)
}

// newPeerWith is newPeer with the client's pion API and the room chosen.
func newPeerWith(t *testing.T, s *Server, api *webrtc.API, room, name string, badAnswer json.RawMessage) *peer {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, name: name, pc: pc, done: make(chan struct{}), badAnswer: badAnswer,
		changed: make(chan struct{}), packets: map[string]int{}}
	t.Cleanup(p.close)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { callback.Guard(&p.gate, p.onTrack)(tr) })
	pc.OnICECandidate(callback.Guard(&p.gate, func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		data, _ := json.Marshal(c.ToJSON())
		p.mu.Lock()
		part := p.part
		p.mu.Unlock()
		// Candidates may reach the server before the answer: it queues them.
		if err := part.HandleSignal(Signal{Kind: proto.KindCandidate, Data: data}); err != nil && !errors.Is(err, ErrClosed) {
			p.fail(err)
		}
	}))
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", name)
	if err != nil {
		t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", name)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*webrtc.TrackLocalStaticSample{video, audio} {
		sender, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		p.wg.Add(1)
		go p.readRTCP(sender)
	}
	p.wg.Add(1)
	go p.sendMedia(video, audio)

	part, err := s.Join(room, name, p.deliver)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.part = part
	p.mu.Unlock()
	p.wg.Add(1)
	go p.signalLoop()
	return p
}

// deliver is the participant's send callback: it only queues.
func (p *peer) deliver(s Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inbox = append(p.inbox, s)
	p.delivered++
	p.notifyLocked()
}

func (p *peer) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *peer) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loopErrs = append(p.loopErrs, err)
	p.notifyLocked()
}

// signalLoop applies the server's signals in order.
func (p *peer) signalLoop() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		inbox, changed := p.inbox, p.changed
		p.inbox = nil
		p.mu.Unlock()
		for _, s := range inbox {
			if err := p.apply(s); err != nil {
				p.fail(err)
			}
		}
		if len(inbox) > 0 {
			continue
		}
		select {
		case <-changed:
		case <-p.done:
			return
		}
	}
}

func (p *peer) apply(s Signal) error {
	switch s.Kind {
	case proto.KindCandidate:
		var c webrtc.ICECandidateInit
		if err := json.Unmarshal(s.Data, &c); err != nil {
			return err
		}
		return p.pc.AddICECandidate(c)
	case proto.KindOffer:
		var offer webrtc.SessionDescription
		if err := json.Unmarshal(s.Data, &offer); err != nil {
			return err
		}
		if err := p.pc.SetRemoteDescription(offer); err != nil {
			return err
		}
		answer, err := p.pc.CreateAnswer(nil)
		if err != nil {
			return err
		}
		if err := p.pc.SetLocalDescription(answer); err != nil {
			return err
		}
		data, _ := json.Marshal(answer)
		p.mu.Lock()
		first, bad := p.offers == 0, p.badAnswer
		p.mu.Unlock()
		if first && bad != nil {
			err := p.part.HandleSignal(Signal{Kind: proto.KindAnswer, Data: bad})
			p.mu.Lock()
			p.badErr = err
			p.mu.Unlock()
		}
		if err := p.part.HandleSignal(Signal{Kind: proto.KindAnswer, Data: data}); err != nil {
			return err
		}
		p.mu.Lock()
		p.offers++
		p.lastSDP = offer.SDP
		p.notifyLocked()
		p.mu.Unlock()
		return nil
	}
	return errors.New("unexpected signal kind " + s.Kind)
}

func (p *peer) onTrack(tr *webrtc.TrackRemote) {
	k := key(tr.StreamID(), tr.Kind())
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			p.mu.Lock()
			p.packets[k]++
			p.notifyLocked()
			p.mu.Unlock()
		}
	}()
}

// readRTCP counts the keyframe requests the server sends for our tracks.
func (p *peer) readRTCP(sender *webrtc.RTPSender) {
	defer p.wg.Done()
	onKeyframeRequest(sender, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.plis++
		p.notifyLocked()
	})
}

// sendMedia writes a small frame on each track every 20 ms until close.
func (p *peer) sendMedia(video, audio *webrtc.TrackLocalStaticSample) {
	defer p.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	frame := make([]byte, 200)
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		_ = video.WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond})
		_ = audio.WriteSample(media.Sample{Data: frame[:60], Duration: 20 * time.Millisecond})
	}
}

// waitFor waits until cond, called with p.mu held, holds, failing the test
// after wait or on an error of the signal loop.
func (p *peer) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok, changed, errs := cond(), p.changed, p.loopErrs
		p.mu.Unlock()
		if len(errs) > 0 {
			p.t.Fatalf("%s: signaling failed: %v", p.name, errors.Join(errs...))
		}
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			p.mu.Lock()
			defer p.mu.Unlock()
			p.t.Fatalf("%s: no %s within %v (packets %v, offers %d)", p.name, what, wait, p.packets, p.offers)
		}
	}
}

// waitMedia waits until at least n more packets than now arrived on each
// remote track of every publisher.
func (p *peer) waitMedia(n int, publishers ...string) {
	p.t.Helper()
	p.mu.Lock()
	base := map[string]int{}
	for k, v := range p.packets {
		base[k] = v
	}
	p.mu.Unlock()
	p.waitFor("media from "+strings.Join(publishers, ", "), func() bool {
		for _, pub := range publishers {
			for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
				if p.packets[key(pub, kind)] < base[key(pub, kind)]+n {
					return false
				}
			}
		}
		return true
	})
}

func (p *peer) remoteTracks() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.packets)
}

func (p *peer) close() {
	p.once.Do(func() {
		p.gate.Shut()
		close(p.done)
		_ = p.pc.GracefulClose()
		p.wg.Wait()
	})
}
