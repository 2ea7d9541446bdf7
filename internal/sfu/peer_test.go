package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
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

// newTestServer starts a server on one loopback UDP port; opts adjust its
// configuration.
func newTestServer(t *testing.T, opts ...func(*ServerConfig)) *Server {
	t.Helper()
	cfg := ServerConfig{UDP: "127.0.0.1:0", Loopback: true, SettingEngine: loopback}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// clientAPI is the pion API of a test client, restricted to loopback.
func clientAPI(t *testing.T, extra ...interceptor.Factory) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	loopback(&se)
	api, err := newAPI(&se, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// peerOpts are a test client's variations; the zero value publishes audio
// and video in room testRoom, and processes the server's signals before
// making its own offer.
type peerOpts struct {
	api  *webrtc.API // default clientAPI
	room string      // default testRoom
	// badAnswer, when set, is sent before the real answer to the first
	// server offer; its error goes to badErr.
	badAnswer json.RawMessage
	// offerFirst makes the client's first offer before it reads the
	// server's signals.
	offerFirst bool
	// recvOnly publishes nothing: the client never offers and waits for
	// the server's offers.
	recvOnly bool
	// simulcast publishes the video as three layers, rids q, h and f.
	simulcast bool
}

// testLayer is one video layer a test publisher sends: a frame of size
// bytes every 20 ms, whose keyframes say width×height, marked so the
// subscriber can tell the layers apart.
type testLayer struct {
	rid           string
	marker        byte
	size          int
	width, height int
}

var (
	simulcastLayers = []testLayer{{"q", 'q', 100, 320, 180}, {"h", 'h', 600, 640, 360}, {"f", 'f', 2400, 1280, 720}}
	singleLayer     = []testLayer{{"", 's', 200, 640, 360}}
)

// peer is a client of the server: a pion PeerConnection that publishes a
// synthetic VP8 and Opus track, negotiates as the polite peer of perfect
// negotiation and counts the packets of every remote track.
type peer struct {
	t      *testing.T
	name   string
	opts   peerOpts
	pc     *webrtc.PeerConnection
	part   *Participant
	gate   callback.Gate
	wg     sync.WaitGroup
	done   chan struct{}
	once   sync.Once
	audio  *webrtc.TrackLocalStaticSample
	video  []*webrtc.TrackLocalStaticSample // one per layer
	layers []testLayer
	// streamIDs are the mid and rid of each simulcast layer's SSRC.
	streamIDs streamIDs
	pcs       []*webrtc.PeerConnection // every one made, for close
	// loopDone is closed when the signal loop, which makes the
	// PeerConnections after the first, has returned.
	loopDone chan struct{}
	// iceStarted is closed when the current pc's ICE transport leaves
	// "new", which is when it has taken the server's ICE credentials.
	iceStarted chan struct{}

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change below
	inbox     []Signal
	wantOffer bool // negotiation is needed: offer when stable
	// offeredOn is the PeerConnection that made the client's one offer: a
	// test client publishes in its first offer only.
	offeredOn *webrtc.PeerConnection
	delivered int    // signals sent to us, ever
	offers    int    // server offers answered
	answers   int    // server answers applied
	rollbacks int    // own offers rolled back for the server's
	lastSDP   string // the last server offer answered
	packets   map[string]int
	plis      int
	keyframe  bool // the next video frame is a keyframe: asked for
	// Of each remote track by key: its SSRC, the last sequence number and
	// timestamp, how often either did not follow on, and how many frames
	// of each layer marker came.
	ssrcs      map[string]uint32
	lastSeq    map[string]uint16
	lastTS     map[string]uint32
	seqJumps   map[string]int
	tsBack     map[string]int
	markers    map[string]int // key/marker → frames
	badErr     error
	absStamped int      // remote video packets that carried abs-send-time
	speakers   []string // the dominant speakers the server named, in order
	// spoke is set once the first offer went to the server; candidates
	// found before are held.
	spoke    bool
	held     [][]byte
	loopErrs []error
	dc       *webrtc.DataChannel // the current pc's chat channel
	dcOpen   bool
	chat     []proto.DataMessage // received on the chat channel, in order
}

// key names a remote track by its publisher and kind.
func key(publisher string, kind webrtc.RTPCodecType) string { return publisher + "/" + kind.String() }

func newPeer(t *testing.T, s *Server, name string, opts peerOpts) *peer {
	t.Helper()
	if opts.room == "" {
		opts.room = testRoom
	}
	p := &peer{t: t, name: name, done: make(chan struct{}), changed: make(chan struct{}),
		packets: map[string]int{}, ssrcs: map[string]uint32{}, lastSeq: map[string]uint16{},
		lastTS: map[string]uint32{}, seqJumps: map[string]int{}, tsBack: map[string]int{}, markers: map[string]int{}}
	p.streamIDs.level.Store(127)
	if opts.api == nil {
		opts.api = clientAPI(t, &p.streamIDs)
	}
	p.opts = opts
	t.Cleanup(p.close)
	if !opts.recvOnly {
		p.makeTracks()
	}
	pc := p.newPC()
	p.mu.Lock()
	p.pc = pc
	p.mu.Unlock()
	part, err := s.Join(opts.room, name, p.deliver)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.part = part
	p.mu.Unlock()
	if opts.recvOnly {
		// The server offers once the client has signalled; one that
		// publishes nothing opens with end-of-candidates.
		if err := part.HandleSignal(Signal{Kind: proto.KindCandidate, Data: json.RawMessage("null")}); err != nil {
			t.Fatal(err)
		}
	}
	p.loopDone = make(chan struct{})
	go p.signalLoop()
	return p
}

// makeTracks makes the synthetic tracks and starts writing them.
func (p *peer) makeTracks() {
	t := p.t
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", p.name)
	if err != nil {
		t.Fatal(err)
	}
	p.audio = audio
	p.layers = singleLayer
	if p.opts.simulcast {
		p.layers = simulcastLayers
	}
	for _, l := range p.layers {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if l.rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(l.rid))
		}
		v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8},
			"video", p.name, opts...)
		if err != nil {
			t.Fatal(err)
		}
		p.video = append(p.video, v)
	}
	p.keyframe = true
	p.wg.Add(1)
	go p.sendMedia()
}

// newPC makes a PeerConnection that publishes the peer's tracks. Its
// callbacks act only while it is the peer's current one. The tracks'
// transceivers get mids of the client's own naming, so an offer of the
// server's never claims them for its own media sections.
func (p *peer) newPC() *webrtc.PeerConnection {
	t := p.t
	pc, err := p.opts.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p.pcs = append(p.pcs, pc)
	iceStarted, iceOnce := make(chan struct{}), &sync.Once{}
	p.iceStarted = iceStarted
	current := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.pc == pc
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { callback.Guard(&p.gate, p.onTrack)(tr) })
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s != webrtc.ICEConnectionStateNew {
			iceOnce.Do(func() { close(iceStarted) })
		}
	})
	pc.OnNegotiationNeeded(callback.Guard0(&p.gate, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		// A test client publishes once, in its first offer, as the Go
		// client does: pion also fires this after some answers, and an
		// offer then can meet the server's, a collision pion cannot roll
		// back.
		if p.pc == pc && p.answers == 0 {
			p.wantOffer = true
			p.notifyLocked()
		}
	}))
	pc.OnICECandidate(callback.Guard(&p.gate, func(c *webrtc.ICECandidate) {
		if c == nil || !current() {
			return
		}
		data, _ := json.Marshal(c.ToJSON())
		p.mu.Lock()
		part := p.part
		if !p.spoke {
			// As a browser's, the first offer goes before its candidates:
			// the server offers after the client's first signal.
			p.held = append(p.held, data)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		// Candidates may reach the server before the answer: it queues them.
		if err := part.HandleSignal(Signal{Kind: proto.KindCandidate, Data: data}); err != nil && !errors.Is(err, ErrClosed) {
			p.fail(err)
		}
	}))
	negotiated, id := true, proto.DataChannelID
	dc, err := pc.CreateDataChannel(proto.DataChannelLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		t.Fatal(err)
	}
	dc.OnOpen(callback.Guard0(&p.gate, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.pc == pc {
			p.dcOpen = true
			p.notifyLocked()
		}
	}))
	dc.OnMessage(callback.Guard(&p.gate, func(m webrtc.DataChannelMessage) {
		var dm proto.DataMessage
		if err := json.Unmarshal(m.Data, &dm); err != nil {
			p.fail(fmt.Errorf("data channel: %w", err))
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.chat = append(p.chat, dm)
		p.notifyLocked()
	}))
	p.mu.Lock()
	p.dc = dc
	p.mu.Unlock()
	if p.audio != nil {
		for _, tr := range []*webrtc.TrackLocalStaticSample{p.audio, p.video[0]} {
			// Send only, as the web app does: the server offers what this
			// client receives on transceivers of its own.
			x, err := pc.AddTransceiverFromTrack(tr,
				webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			if err != nil {
				t.Fatal(err)
			}
			sender := x.Sender()
			if tr == p.video[0] {
				for _, v := range p.video[1:] {
					if err := sender.AddEncoding(v); err != nil {
						t.Fatal(err)
					}
				}
			}
			mid := "c" + tr.Kind().String()
			for _, x := range pc.GetTransceivers() {
				if x.Sender() == sender {
					if err := x.SetMid(mid); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, e := range sender.GetParameters().Encodings {
				p.streamIDs.set(uint32(e.SSRC), mid, e.RID)
			}
			for _, e := range sender.GetParameters().Encodings {
				p.wg.Add(1)
				go p.readRTCP(sender, e.RID)
			}
		}
	}
	p.mu.Lock()
	p.wantOffer = p.audio != nil
	p.mu.Unlock()
	return pc
}

// rollback gives way to the server's offer, as the polite peer does. pion
// has no rollback (its signaling state machine lacks the transitions), so
// a first offer is undone by starting over with a new PeerConnection, which
// is what a browser's rollback of a first offer amounts to; a later one
// cannot be, and fails the test.
func (p *peer) rollback() error {
	if p.pc.CurrentRemoteDescription() != nil {
		return errors.New("pion cannot roll back a renegotiation offer")
	}
	old := p.pc
	pc := p.newPC()
	p.mu.Lock()
	p.pc = pc
	p.rollbacks++
	p.mu.Unlock()
	return old.Close()
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

// signalLoop applies the server's signals in order and offers when
// negotiation is needed and the state is stable, as a browser's
// negotiationneeded handler does.
func (p *peer) signalLoop() {
	defer close(p.loopDone)
	first := p.opts.offerFirst
	for {
		if first {
			first = false
			p.maybeOffer()
		}
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
		p.maybeOffer()
		select {
		case <-changed:
		case <-p.done:
			return
		}
	}
}

// maybeOffer sends an offer if one is wanted and the state is stable.
func (p *peer) maybeOffer() {
	p.mu.Lock()
	want := p.wantOffer && p.offeredOn != p.pc && p.pc.SignalingState() == webrtc.SignalingStateStable
	if want {
		p.wantOffer = false
		p.offeredOn = p.pc
	}
	p.mu.Unlock()
	if !want {
		return
	}
	if err := p.offer(); err != nil {
		p.fail(err)
	}
}

func (p *peer) offer() error {
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	data, _ := json.Marshal(offer)
	if err := p.part.HandleSignal(Signal{Kind: proto.KindOffer, Data: data}); err != nil {
		return err
	}
	return p.spoken()
}

// spoken lets the candidates go that waited for the first offer.
func (p *peer) spoken() error {
	p.mu.Lock()
	held := p.held
	p.spoke, p.held = true, nil
	p.mu.Unlock()
	for _, data := range held {
		if err := p.part.HandleSignal(Signal{Kind: proto.KindCandidate, Data: data}); err != nil && !errors.Is(err, ErrClosed) {
			return err
		}
	}
	return nil
}

func (p *peer) apply(s Signal) error {
	switch s.Kind {
	case proto.KindCandidate:
		var c webrtc.ICECandidateInit
		if err := json.Unmarshal(s.Data, &c); err != nil {
			return err
		}
		return p.pc.AddICECandidate(c)
	case proto.KindAnswer:
		var answer webrtc.SessionDescription
		if err := json.Unmarshal(s.Data, &answer); err != nil {
			return err
		}
		if err := p.pc.SetRemoteDescription(answer); err != nil {
			return err
		}
		p.mu.Lock()
		p.answers++
		p.notifyLocked()
		p.mu.Unlock()
		return nil
	case proto.KindOffer:
		var offer webrtc.SessionDescription
		if err := json.Unmarshal(s.Data, &offer); err != nil {
			return err
		}
		if p.pc.CurrentRemoteDescription() != nil {
			// An offer applied before pion's transports have started looks
			// like an ICE restart to it (the server waits the same way).
			select {
			case <-p.iceStarted:
			case <-p.done:
				return nil
			}
		}
		if p.pc.PendingLocalDescription() != nil {
			// The polite peer gives way: its offer is rolled back and
			// made again once stable.
			if err := p.rollback(); err != nil {
				return err
			}
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
		first, bad := p.offers == 0, p.opts.badAnswer
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
		if err := p.spoken(); err != nil {
			return err
		}
		p.mu.Lock()
		p.offers++
		p.lastSDP = offer.SDP
		p.notifyLocked()
		p.mu.Unlock()
		return nil
	}
	if s.Kind == proto.KindSpeaker {
		var sp proto.Speaker
		if err := json.Unmarshal(s.Data, &sp); err != nil {
			return err
		}
		p.mu.Lock()
		p.speakers = append(p.speakers, sp.Peer)
		p.notifyLocked()
		p.mu.Unlock()
		return nil
	}
	return errors.New("unexpected signal kind " + s.Kind)
}

func (p *peer) onTrack(tr *webrtc.TrackRemote) {
	k := key(tr.StreamID(), tr.Kind())
	p.mu.Lock()
	p.ssrcs[k] = uint32(tr.SSRC())
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		seen := false
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.packets[k]++
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				if ext := pkt.GetExtension(absSendTimeID); len(ext) == 3 {
					p.absStamped++
				}
			}
			if seen && pkt.SequenceNumber != p.lastSeq[k]+1 {
				p.seqJumps[k]++
			}
			if seen && int32(pkt.Timestamp-p.lastTS[k]) < 0 {
				p.tsBack[k]++
			}
			seen = true
			p.lastSeq[k], p.lastTS[k] = pkt.SequenceNumber, pkt.Timestamp
			// A frame's first packet holds the marker of its layer.
			if frame, ok := vp8FrameStart(pkt.Payload); ok && tr.Kind() == webrtc.RTPCodecTypeVideo && len(frame) > 10 {
				p.markers[k+"/"+string(frame[10])]++
			}
			p.notifyLocked()
			p.mu.Unlock()
		}
	}()
}

// readRTCP counts the keyframe requests the server sends for our tracks
// and has the next video frame be a keyframe.
func (p *peer) readRTCP(sender *webrtc.RTPSender, rid string) {
	defer p.wg.Done()
	onKeyframeRequest(sender, rid, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.plis++
		p.keyframe = true
		p.notifyLocked()
	})
}

// sendMedia writes a frame on each track every 20 ms until close: on each
// video layer an interframe, or a keyframe when one was asked for.
func (p *peer) sendMedia() {
	defer p.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	opus := make([]byte, 60)
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		key := p.keyframe
		p.keyframe = false
		p.mu.Unlock()
		for i, l := range p.layers {
			frame := vp8Frame(key, l.width, l.height, l.marker, l.size)
			_ = p.video[i].WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond})
		}
		_ = p.audio.WriteSample(media.Sample{Data: opus, Duration: 20 * time.Millisecond})
	}
}

// waitMarker waits until n more frames of pub's layer marked m than now
// have come.
func (p *peer) waitMarker(pub string, m byte, n int) {
	p.t.Helper()
	k := key(pub, webrtc.RTPCodecTypeVideo) + "/" + string(m)
	p.mu.Lock()
	base := p.markers[k]
	p.mu.Unlock()
	p.waitFor(fmt.Sprintf("%d frames of %s", n, k), func() bool { return p.markers[k] >= base+n })
}

// writeRTCP sends pkts to the server, failing the test on error.
func (p *peer) writeRTCP(pkts ...rtcp.Packet) {
	p.t.Helper()
	if err := p.pc.WriteRTCP(pkts); err != nil {
		p.t.Fatal(err)
	}
}

// remoteSSRCs returns the SSRCs of every track p receives.
func (p *peer) remoteSSRCs() []uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []uint32
	for _, s := range p.ssrcs {
		out = append(out, s)
	}
	return out
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
			p.t.Fatalf("%s: no %s within %v (packets %v, server offers %d, answers %d, rollbacks %d, "+
				"client %s/%s, server %s/%s)", p.name, what, wait, p.packets, p.offers, p.answers, p.rollbacks,
				p.pc.ConnectionState(), p.pc.SignalingState(), p.part.pc.ConnectionState(), p.part.pc.SignalingState())
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

// sendData writes raw on the chat channel once it is open.
func (p *peer) sendData(raw string) {
	p.t.Helper()
	p.waitFor("open data channel", func() bool { return p.dcOpen })
	p.mu.Lock()
	dc := p.dc
	p.mu.Unlock()
	if err := dc.SendText(raw); err != nil {
		p.t.Fatal(err)
	}
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
		if p.loopDone != nil {
			<-p.loopDone // no new PeerConnection after this
		}
		for _, pc := range p.pcs {
			_ = pc.GracefulClose()
		}
		p.wg.Wait()
	})
}

// onKeyframeRequest reads sender's RTCP until it stops and calls fn for each
// PLI or FIR; the rest is dropped, and reading keeps the sender's RTCP
// buffer from filling.
func onKeyframeRequest(sender *webrtc.RTPSender, rid string, fn func()) {
	read := sender.ReadRTCP
	if rid != "" {
		read = func() ([]rtcp.Packet, interceptor.Attributes, error) { return sender.ReadSimulcastRTCP(rid) }
	}
	for {
		pkts, _, err := read()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				fn()
			}
		}
	}
}
