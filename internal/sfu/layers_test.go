package sfu

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/signal/proto"
)

// layersSig builds a layers signal from peer=WxH pairs.
func layersSig(tiles map[string][2]int) Signal {
	m := map[string]map[string]int{}
	for peer, wh := range tiles {
		m[peer] = map[string]int{"width": wh[0], "height": wh[1]}
	}
	data, _ := json.Marshal(map[string]any{"tiles": m})
	return Signal{Kind: proto.KindLayers, Data: data}
}

// setTiles sends p's tile sizes to the server.
func (p *peer) setTiles(tiles map[string][2]int) {
	p.t.Helper()
	if err := p.part.HandleSignal(layersSig(tiles)); err != nil {
		p.t.Fatal(err)
	}
}

// checkContinuous fails the test if p's stream of pub's video skipped or
// repeated a sequence number, or its timestamps went back.
func (p *peer) checkContinuous(pub string) {
	p.t.Helper()
	k := key(pub, webrtc.RTPCodecTypeVideo)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seqJumps[k] != 0 || p.tsBack[k] != 0 {
		p.t.Errorf("%s: %s jumped %d times in sequence and %d back in time, want a continuous stream",
			p.name, k, p.seqJumps[k], p.tsBack[k])
	}
}

// videoPackets returns how many packets of pub's video p has received.
func (p *peer) videoPackets(pub string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.packets[key(pub, webrtc.RTPCodecTypeVideo)]
}

// TestSimulcastLayers checks that a subscriber gets the smallest layer
// that covers its tile: half by default, full for a big tile, quarter for a
// small one, nothing for a hidden one (audio goes on), with one continuous
// stream throughout.
func TestSimulcastLayers(t *testing.T) {
	s := newTestServer(t)
	a := newPeer(t, s, "a", peerOpts{simulcast: true})
	b := newPeer(t, s, "b", peerOpts{})
	b.waitMarker("a", 'h', 10)
	b.setTiles(map[string][2]int{"a": {1280, 720}})
	b.waitMarker("a", 'f', 10)
	b.setTiles(map[string][2]int{"a": {200, 100}})
	b.waitMarker("a", 'q', 10)
	b.setTiles(map[string][2]int{"a": {0, 0}})
	b.waitAudio("a", 10) // what was on its way has come
	v := b.videoPackets("a")
	b.waitAudio("a", 50)
	if got := b.videoPackets("a"); got != v {
		t.Errorf("a hidden tile still got %d video packets", got-v)
	}
	b.setTiles(map[string][2]int{"a": {640, 360}})
	b.waitMarker("a", 'h', 10)
	b.checkContinuous("a")
	b.mu.Lock()
	if stamped, n := b.absStamped, b.packets[key("a", webrtc.RTPCodecTypeVideo)]; stamped != n {
		t.Errorf("%d of %d forwarded video packets carry abs-send-time, want all (browsers estimate from it)", stamped, n)
	}
	b.mu.Unlock()
	a.waitMarker("b", 's', 10) // b's own video, one layer, reaches a
	st, _ := statsOf(s, testRoom)
	if st.LayerSwitches < 4 || st.PLIs < 4 || st.PacketsForwarded == 0 || st.BytesForwarded == 0 {
		t.Errorf("stats %+v: want at least 4 layer switches and PLIs, and packets forwarded", st)
	}
}

// waitAudio waits until n more packets of pub's audio than now have come.
func (p *peer) waitAudio(pub string, n int) {
	p.t.Helper()
	k := key(pub, webrtc.RTPCodecTypeAudio)
	p.mu.Lock()
	base := p.packets[k]
	p.mu.Unlock()
	p.waitFor("audio of "+pub, func() bool { return p.packets[k] >= base+n })
}

// TestBandwidthLayers checks that the estimate caps the layer: a
// subscriber whose REMB falls to little gets the quarter layer although its
// tile wants full, and full again once the estimate recovers; a receiver
// report with heavy loss lowers it too.
func TestBandwidthLayers(t *testing.T) {
	s := newTestServer(t)
	newPeer(t, s, "a", peerOpts{simulcast: true})
	b := newPeer(t, s, "b", peerOpts{recvOnly: true})
	b.setTiles(map[string][2]int{"a": {1280, 720}})
	b.waitMarker("a", 'f', 10)
	remb := func(bps float32) {
		b.writeRTCP(&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: bps, SSRCs: b.remoteSSRCs()})
	}
	remb(20_000_000) // no congestion: no cap
	remb(250_000)    // congestion: the estimate falls
	b.waitMarker("a", 'q', 10)
	// The cap grows a little with every report of no loss since.
	if st, _ := statsOf(s, testRoom); st.EstimatedBitrate["b"] < 250_000 || st.EstimatedBitrate["b"] > 350_000 {
		t.Errorf("estimated bitrate %v, want b at 250000 or a little more", st.EstimatedBitrate)
	}
	remb(10_000) // less than even the quarter layer: it keeps coming
	b.waitMarker("a", 'q', 10)
	remb(20_000_000)
	b.waitMarker("a", 'f', 10)
	b.checkContinuous("a")

	b.mu.Lock()
	video := b.ssrcs[key("a", webrtc.RTPCodecTypeVideo)]
	b.mu.Unlock()
	b.writeRTCP(&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: video, FractionLost: 160}}})
	b.waitMarker("a", 'h', 10)
}

// TestBadLayers checks that malformed layers signals get an error and
// change nothing, and that tiles of unknown peers are reported while the
// rest applies.
func TestBadLayers(t *testing.T) {
	s := newTestServer(t)
	newPeer(t, s, "a", peerOpts{simulcast: true})
	b := newPeer(t, s, "b", peerOpts{recvOnly: true})
	b.setTiles(map[string][2]int{"a": {1280, 720}})
	b.waitMarker("a", 'f', 10)
	many := map[string][2]int{}
	for i := range proto.MaxTiles + 1 {
		many[strings.Repeat("x", i%60)+string(rune('a'+i%26))+string(rune('a'+i/26))] = [2]int{1, 1}
	}
	for _, tc := range []struct {
		name string
		sig  Signal
		want string
	}{
		{"not JSON", Signal{Kind: proto.KindLayers, Data: json.RawMessage(`{"tiles":`)}, "layers"},
		{"no tiles", Signal{Kind: proto.KindLayers, Data: json.RawMessage(`{}`)}, "no tiles"},
		{"tiles not an object", Signal{Kind: proto.KindLayers, Data: json.RawMessage(`{"tiles":[1]}`)}, "layers"},
		{"fractional size", Signal{Kind: proto.KindLayers, Data: json.RawMessage(`{"tiles":{"a":{"width":1.5,"height":2}}}`)}, "layers"},
		{"negative size", layersSig(map[string][2]int{"a": {-1, 10}}), "each side"},
		{"huge size", layersSig(map[string][2]int{"a": {proto.MaxTileSide + 1, 10}}), "each side"},
		{"too many tiles", layersSig(many), "at most"},
	} {
		err := b.part.HandleSignal(tc.sig)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "participant b") {
			t.Errorf("%s: %v, want an error naming participant b and %q", tc.name, err, tc.want)
		}
	}
	b.waitMarker("a", 'f', 10) // unchanged

	// A peer the server does not have yet may be named: signaling tells
	// clients of a peer before its media session opens.
	if err := b.part.HandleSignal(layersSig(map[string][2]int{"a": {200, 100}, "ghost": {640, 360}, "b": {1, 1}})); err != nil {
		t.Errorf("tiles of a peer not yet in the room and of itself: %v, want them taken", err)
	}
	b.waitMarker("a", 'q', 10) // the known peer's tile applied

	if err := b.part.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.part.HandleSignal(layersSig(map[string][2]int{"a": {1, 1}})); !errors.Is(err, ErrClosed) {
		t.Errorf("layers after close: %v, want ErrClosed", err)
	}
}

// absSendTimeID is abs-send-time's id in the test clients' negotiation:
// newAPI registers it second, as Chromium numbers it.
const absSendTimeID = 2
