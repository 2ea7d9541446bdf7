package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/internal/callback"
	"github.com/rtcd/rtcd/signal/proto"
)

// peerIDs matches the peer ids in a server's error message, which the
// report folds so that one error is one line, not one per participant.
var peerIDs = regexp.MustCompile(`p_[0-9a-z]+`)

// maxQueuedCandidates bounds the server candidates kept until a remote
// description is set.
const maxQueuedCandidates = 64

// Bits of sfuPeer.tracks: which of a publisher's tracks have arrived.
const (
	gotAudio = 1 << iota
	gotVideo
)

// newSFUAPI builds the pion API every bench participant shares: VP8 and
// Opus as a browser offers them, the rid, mid and audio level header
// extensions, NACK, RTCP reports and TWCC, and ICE restricted to loopback
// UDP in both directions (local candidates and the remote ones it accepts).
func newSFUAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	videoFeedback := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"},
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("bench: register opus: %w", err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96},
		webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("bench: register vp8: %w", err)
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI},
		webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("bench: audio level extension: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return nil, fmt.Errorf("bench: nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("bench: rtcp reports: %w", err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, fmt.Errorf("bench: simulcast extensions: %w", err)
	}
	if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
		return nil, fmt.Errorf("bench: twcc: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetRemoteIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se)), nil
}

// sfuPeer is one bench participant: a WebSocket session in a room and one
// PeerConnection to the media server that publishes audio and three
// simulcast layers and receives everyone else.
//
// Negotiation follows the protocol's perfect negotiation with the client
// polite, without SDP rollback, which pion does not have: the participant
// offers once, when it publishes, with every candidate in the offer, and
// afterwards only answers the server's offers. The server offers nothing
// before a client's first signal, so that offer cannot cross one of the
// server's; should one still cross it, the server ignored ours, and the
// participant answers on a fresh PeerConnection (nothing of the old one was
// used) and offers its tracks again once stable.
type sfuPeer struct {
	room *sfuRoom
	idx  int
	id   string // peer id from hello
	conn *websocket.Conn
	wmu  sync.Mutex // serializes writes to conn
	pub  *publisher

	readerDone chan struct{}
	pacerDone  chan struct{}
	pacerWG    sync.WaitGroup
	gate       callback.Gate  // every pion callback enters it
	wg         sync.WaitGroup // track and RTCP readers, closes of replaced PeerConnections

	nmu          sync.Mutex // guards the negotiation fields; held across each step
	pc           *webrtc.PeerConnection
	negotiated   bool // pc has applied a remote description
	offering     bool
	needPublish  bool // the publishing tracks are not on pc yet
	published    chan struct{}
	publishOnce  sync.Once
	candidates   []webrtc.ICECandidateInit
	videoSender  *webrtc.RTPSender
	audioSender  *webrtc.RTPSender
	videoMid     string
	closed       bool
	closeOnce    sync.Once
	closeErr     error
	negotiations int

	smu      sync.Mutex // guards the fields below, written by the track readers
	mode     string     // how the room carries media: joined's media, then media messages
	tracks   map[string]uint8
	streams  []*recvStream
	delay    Histogram
	speakers uint64
}

// recvStream is one track the participant receives, counted for packets
// whose send time (or, without a trailer, arrival) is in the window.
type recvStream struct {
	pub       string
	kind      webrtc.RTPCodecType
	seq       seqTracker
	packets   uint64
	bytes     uint64
	foreign   uint64 // packets without bench's trailer (padding, probes)
	byLayer   [layerCount]uint64
	misrouted uint64 // trailer names another publisher or kind
}

// dialSFU connects participant idx of room, says hello and joins.
func dialSFU(ctx context.Context, room *sfuRoom, idx int) (*sfuPeer, error) {
	cfg := room.run.cfg
	conn, h, joined, err := dialJoin(ctx, wsJoin{url: cfg.url, token: cfg.token, name: "sfu-bench-" + strconv.Itoa(idx),
		room: room.name, source: room.base + idx, perIP: cfg.perIP, timeout: cfg.setupTimeout})
	if err != nil {
		return nil, err
	}
	pub, err := newPublisher(idx, cfg.participants, h.PeerID, cfg.bitrate, cfg.audio, cfg.keyEvery)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	p := &sfuPeer{room: room, idx: idx, id: h.PeerID, conn: conn, pub: pub, mode: joined.Media,
		readerDone: make(chan struct{}), pacerDone: make(chan struct{}), published: make(chan struct{}),
		tracks: map[string]uint8{}}
	go p.read()
	return p, nil
}

// send writes one signal to the media server.
func (p *sfuPeer) send(kind string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return p.conn.WriteJSON(proto.ClientMessage{V: proto.V1, Type: proto.TypeSignal, To: proto.SFUPeer, Kind: kind, Data: b})
}

// read is the participant's WebSocket reader: it applies the server's
// signals in order and notes how the room carries media.
func (p *sfuPeer) read() {
	defer close(p.readerDone)
	run := p.room.run
	for {
		_, b, err := p.conn.ReadMessage()
		if err != nil {
			return
		}
		var m proto.ServerMessage
		if json.Unmarshal(b, &m) != nil {
			run.addErr("unparsable message")
			continue
		}
		switch m.Type {
		case proto.TypeSignal:
			if m.From != proto.SFUPeer {
				continue // a mesh peer: bench only talks to the media server
			}
			if err := p.handleSignal(m.Kind, m.Data); err != nil {
				run.addErr(fmt.Sprintf("signal %s: %v", proto.Clip(m.Kind, 16), trimErr(err)))
			}
		case proto.TypeMedia:
			p.smu.Lock()
			p.mode = m.Mode
			p.smu.Unlock()
		case proto.TypeError:
			run.addErr("server error " + m.Code + ": " + peerIDs.ReplaceAllString(proto.Clip(m.Message, 80), "p_…"))
		case proto.TypeBye:
			run.addErr("server bye " + m.Reason)
		}
	}
}

func (p *sfuPeer) handleSignal(kind string, data json.RawMessage) error {
	switch kind {
	case proto.KindOffer:
		return p.handleOffer(data)
	case proto.KindAnswer:
		return p.handleAnswer(data)
	case proto.KindCandidate:
		return p.handleCandidate(data)
	case proto.KindSpeaker:
		p.smu.Lock()
		p.speakers++
		p.smu.Unlock()
		return nil
	}
	return nil
}

// newPC makes a PeerConnection with the negotiated data channel the
// protocol puts on it, and registers the participant's callbacks.
func (p *sfuPeer) newPC() (*webrtc.PeerConnection, error) {
	pc, err := p.room.run.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("peer connection: %w", err)
	}
	negotiated, id := true, proto.DataChannelID
	if _, err := pc.CreateDataChannel(proto.DataChannelLabel, &webrtc.DataChannelInit{Negotiated: &negotiated,
		ID: &id}); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("data channel: %w", err)
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !p.gate.Enter() {
			return
		}
		defer p.gate.Leave()
		p.onTrack(t)
	})
	pc.OnConnectionStateChange(callback.Guard(&p.gate, func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			p.room.run.addErr("peer connection failed")
		}
	}))
	return pc, nil
}

// publish adds the tracks to the PeerConnection and offers them.
func (p *sfuPeer) publish() error {
	p.nmu.Lock()
	defer p.nmu.Unlock()
	if p.closed {
		return ErrClosedPeer
	}
	if p.pc == nil {
		pc, err := p.newPC()
		if err != nil {
			return err
		}
		p.pc = pc
	}
	p.needPublish = true
	return p.publishLocked()
}

// ErrClosedPeer is returned by a bench participant's methods after close.
var ErrClosedPeer = errors.New("bench: participant closed")

// publishLocked adds the publishing transceivers (sendonly audio, sendonly
// video with three rids) and sends the offer, with every candidate in it so
// none can overtake it.
func (p *sfuPeer) publishLocked() error {
	if !p.needPublish || p.offering || p.pc.SignalingState() != webrtc.SignalingStateStable {
		return nil
	}
	p.needPublish = false
	pc := p.pc
	audio, video, err := p.pub.addTo(pc)
	if err != nil {
		return err
	}
	p.audioSender, p.videoSender = audio, video
	if audio != nil {
		p.readRTCP(audio, "", nil)
	}
	for i := range p.pub.layers {
		l := &p.pub.layers[i]
		p.readRTCP(video, l.spec.RID, l)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	if err := p.waitGathered(gathered); err != nil {
		return err
	}
	p.offering = true
	p.negotiations++
	return p.send(proto.KindOffer, pc.LocalDescription())
}

// waitGathered waits for ICE gathering, which on loopback takes
// milliseconds, bounded by the setup timeout.
func (p *sfuPeer) waitGathered(done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-time.After(p.room.run.cfg.setupTimeout):
		return errors.New("ICE gathering did not complete")
	}
}

// readRTCP drains a sender's RTCP so the interceptors keep working; for a
// simulcast layer it turns keyframe requests into a key frame on that layer.
func (p *sfuPeer) readRTCP(s *webrtc.RTPSender, rid string, l *pubLayer) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1500)
		for {
			var n int
			var err error
			if rid != "" {
				n, _, err = s.ReadSimulcast(buf, rid)
			} else {
				n, _, err = s.Read(buf)
			}
			if err != nil {
				return // the sender stopped
			}
			pkts, err := rtcp.Unmarshal(buf[:n])
			if err != nil {
				continue // one unparsable compound packet
			}
			for _, pkt := range pkts {
				switch pkt.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					p.pub.plis.Add(1)
					if l != nil {
						l.keyFrame.Store(true)
						p.pub.keyReqs.Add(1)
					}
				}
			}
		}
	}()
}

func (p *sfuPeer) handleAnswer(data json.RawMessage) error {
	var desc webrtc.SessionDescription
	if err := json.Unmarshal(data, &desc); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	p.nmu.Lock()
	defer p.nmu.Unlock()
	if p.closed {
		return nil
	}
	if !p.offering {
		return errors.New("answer without an offer")
	}
	if err := p.pc.SetRemoteDescription(desc); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	p.offering = false
	p.negotiated = true
	p.addQueuedLocked()
	if err := p.pub.bind(p.pc, p.audioSender, p.videoSender); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	p.publishOnce.Do(func() { close(p.published) })
	return nil
}

func (p *sfuPeer) handleOffer(data json.RawMessage) error {
	var desc webrtc.SessionDescription
	if err := json.Unmarshal(data, &desc); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	p.nmu.Lock()
	defer p.nmu.Unlock()
	if p.closed {
		return nil
	}
	if p.pc == nil {
		pc, err := p.newPC()
		if err != nil {
			return err
		}
		p.pc = pc
	}
	if p.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		if p.negotiated {
			return errors.New("the server's offer crossed ours after setup; pion cannot roll back")
		}
		// The server ignored our first offer: answer on a fresh
		// PeerConnection and publish again once stable.
		pc, err := p.newPC()
		if err != nil {
			return err
		}
		old := p.pc
		p.pc, p.offering, p.needPublish = pc, false, true
		p.audioSender, p.videoSender = nil, nil
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			_ = old.GracefulClose()
		}()
		p.room.run.collisions.Add(1)
	}
	pc := p.pc
	if err := pc.SetRemoteDescription(desc); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if err := p.waitGathered(gathered); err != nil {
		return err
	}
	p.negotiated = true
	p.negotiations++
	if err := p.send(proto.KindAnswer, pc.LocalDescription()); err != nil {
		return err
	}
	p.addQueuedLocked()
	return p.publishLocked()
}

func (p *sfuPeer) handleCandidate(data json.RawMessage) error {
	var c *webrtc.ICECandidateInit
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("candidate: %w", err)
	}
	if c == nil || c.Candidate == "" {
		return nil
	}
	p.nmu.Lock()
	defer p.nmu.Unlock()
	if p.closed || p.pc == nil {
		return nil
	}
	if p.pc.RemoteDescription() == nil {
		if len(p.candidates) < maxQueuedCandidates {
			p.candidates = append(p.candidates, *c)
		}
		return nil
	}
	// The remote IP filter drops what is not loopback; an error is a
	// candidate pion cannot use, which ICE does without.
	_ = p.pc.AddICECandidate(*c)
	return nil
}

func (p *sfuPeer) addQueuedLocked() {
	for _, c := range p.candidates {
		_ = p.pc.AddICECandidate(c)
	}
	p.candidates = nil
}

// sendLayers tells the server every other participant's tile is size t.
func (p *sfuPeer) sendLayers(t proto.Tile) error {
	tiles := map[string]proto.Tile{}
	for _, o := range p.room.peers {
		if o != nil && o != p {
			tiles[o.id] = t
		}
	}
	return p.send(proto.KindLayers, proto.Layers{Tiles: tiles})
}

// onTrack starts counting a track the server forwards: its stream id is
// the publisher's peer id.
func (p *sfuPeer) onTrack(t *webrtc.TrackRemote) {
	s := &recvStream{pub: t.StreamID(), kind: t.Kind()}
	bit := uint8(gotVideo)
	if t.Kind() == webrtc.RTPCodecTypeAudio {
		bit = gotAudio
	}
	p.smu.Lock()
	p.streams = append(p.streams, s)
	p.tracks[s.pub] |= bit
	p.smu.Unlock()
	p.room.notify()
	pubIdx, known := p.room.index(s.pub)
	p.wg.Add(1) // inside the gate, so before close waits
	go func() {
		defer p.wg.Done()
		p.readTrack(t, s, pubIdx, known)
	}()
}

// readTrack counts one received track until it ends.
func (p *sfuPeer) readTrack(t *webrtc.TrackRemote, s *recvStream, pubIdx int, known bool) {
	run := p.room.run
	buf := make([]byte, 1500)
	wantAudio := s.kind == webrtc.RTPCodecTypeAudio
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		at := run.now()
		seq, payload, ok := rtpPayload(buf[:n])
		if !ok {
			continue
		}
		st, stamped := readTrailer(payload)
		when := at
		if stamped {
			when = st.sent
		}
		if !run.inWindow(when) {
			continue
		}
		p.smu.Lock()
		if s.seq.add(seq) {
			s.packets++
			s.bytes += uint64(n)
			switch {
			case !stamped:
				s.foreign++
			case known && int(st.pub) != pubIdx, wantAudio != (st.layer == layerAudio):
				s.misrouted++
			default:
				s.byLayer[st.layer]++
				p.delay.Record(at - st.sent)
			}
		}
		p.smu.Unlock()
	}
}

// hasTracks reports whether every publisher in pubs has reached p with all
// of its tracks.
func (p *sfuPeer) hasTracks(pubs []*sfuPeer, want uint8) bool {
	p.smu.Lock()
	defer p.smu.Unlock()
	for _, o := range pubs {
		if o != p && p.tracks[o.id]&want != want {
			return false
		}
	}
	return true
}

func (p *sfuPeer) mediaMode() string {
	p.smu.Lock()
	defer p.smu.Unlock()
	return p.mode
}

// startPacer starts sending; the publisher sends nothing until the answer
// fixed the header extension ids.
func (p *sfuPeer) startPacer() {
	p.pacerWG.Add(1)
	go func() {
		defer p.pacerWG.Done()
		p.pub.run(p.room.run, p.pacerDone)
	}()
}

// close stops sending, leaves (a normal WebSocket close ends the session
// and with it the server's participant) and closes the PeerConnection.
// When it returns, none of the participant's goroutines or callbacks runs.
func (p *sfuPeer) close() error {
	p.closeOnce.Do(func() {
		close(p.pacerDone)
		p.pacerWG.Wait()
		p.wmu.Lock()
		_ = p.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		p.wmu.Unlock()
		_ = p.conn.Close()
		<-p.readerDone
		p.nmu.Lock()
		p.closed = true
		pc := p.pc
		p.nmu.Unlock()
		p.gate.Shut()
		if pc != nil {
			p.closeErr = pc.GracefulClose()
		}
		p.wg.Wait()
	})
	return p.closeErr
}
