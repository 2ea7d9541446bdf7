package bench

import (
	"math"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/signal/proto"
)

func TestSeqTrackerWraparound(t *testing.T) {
	tests := []struct {
		name               string
		seqs               []uint16
		expected, lost     uint64
		received, dupCount uint64
	}{
		{"in order", []uint16{10, 11, 12, 13}, 4, 0, 4, 0},
		{"gap", []uint16{10, 11, 14}, 5, 2, 3, 0},
		{"across the wrap", []uint16{65533, 65534, 65535, 0, 1, 2}, 6, 0, 6, 0},
		{"gap across the wrap", []uint16{65533, 65535, 1, 2}, 6, 2, 4, 0},
		{"reordered across the wrap", []uint16{65534, 0, 65535, 1}, 4, 0, 4, 0},
		{"earlier than the first", []uint16{5, 3, 4, 6}, 4, 0, 4, 0},
		{"earlier than the first across the wrap", []uint16{1, 65535, 0, 2}, 4, 0, 4, 0},
		{"retransmission of a received packet", []uint16{1, 2, 2, 3}, 3, 0, 3, 1},
		{"retransmission fills a gap", []uint16{1, 3, 2, 4}, 4, 0, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s seqTracker
			for _, q := range tt.seqs {
				s.add(q)
			}
			if s.expected() != tt.expected || s.lost() != tt.lost || s.received != tt.received || s.dups != tt.dupCount {
				t.Fatalf("expected %d lost %d received %d dups %d, want %d %d %d %d", s.expected(), s.lost(),
					s.received, s.dups, tt.expected, tt.lost, tt.received, tt.dupCount)
			}
		})
	}
}

func TestSeqTrackerManyWraps(t *testing.T) {
	var s seqTracker
	seq := uint16(60000)
	const n = 3*65536 + 123
	for i := 0; i < n; i++ {
		if i%1000 != 999 { // lose one packet in a thousand
			s.add(seq)
		}
		seq++
	}
	if s.expected() != n {
		t.Fatalf("expected = %d, want %d", s.expected(), n)
	}
	if want := uint64(n / 1000); s.lost() != want {
		t.Fatalf("lost = %d, want %d", s.lost(), want)
	}
	if s.dups != 0 {
		t.Fatalf("dups = %d", s.dups)
	}
	var empty seqTracker
	if empty.expected() != 0 || empty.lost() != 0 {
		t.Fatal("an empty tracker expects nothing")
	}
}

func TestParseHostCPU(t *testing.T) {
	stat := []byte("cpu  100 5 50 1000 20 3 7 2 40 0\ncpu0 50 2 25 500 10 1 3 1 20 0\nintr 1\n")
	h, err := parseHostCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Second / clockTicks
	if want := (100 + 5 + 50 + 3 + 7 + 2) * tick; h.Busy != want {
		t.Errorf("busy = %v, want %v (guest is inside user)", h.Busy, want)
	}
	if want := (100 + 5 + 50 + 3 + 7 + 2 + 1000 + 20) * tick; h.Total != want {
		t.Errorf("total = %v, want %v", h.Total, want)
	}
	for _, bad := range []string{"", "intr 1\n", "cpu x 1 2 3 4 5 6 7\n", "cpu 1 2\n"} {
		if _, err := parseHostCPU([]byte(bad)); err == nil {
			t.Errorf("parseHostCPU(%q): no error", bad)
		}
	}
	if _, err := readHostCPU(); err != nil {
		t.Fatal(err)
	}
}

func TestCPUUse(t *testing.T) {
	// Half a core for 10 s while 200 Mbit/s and 20,000 packets/s were forwarded.
	c := cpuUse{cpu: 5 * time.Second, window: 10 * time.Second, mbps: 200, packetsS: 20000}
	if got := c.percent(); got != 50 {
		t.Errorf("percent = %v, want 50", got)
	}
	if got := c.mbitPerCore(); got != 400 {
		t.Errorf("Mbit/s per core = %v, want 400", got)
	}
	if got := c.microsPerPacket(); got != 25 {
		t.Errorf("µs per packet = %v, want 25", got)
	}
	idle := cpuUse{window: time.Second, mbps: 10}
	if !math.IsNaN(idle.mbitPerCore()) {
		t.Error("no CPU: Mbit/s per core should be n/a")
	}
}

func TestTrailerAndPayload(t *testing.T) {
	payload := make([]byte, 100)
	st := stamp{sent: 123456789 * time.Nanosecond, pub: 7, layer: 2}
	putTrailer(payload, st)
	h := rtp.Header{Version: 2, SequenceNumber: 65535, Timestamp: 1, SSRC: 2, CSRC: []uint32{9},
		Padding: true, PaddingSize: 4}
	if err := h.SetExtension(3, []byte("q")); err != nil {
		t.Fatal(err)
	}
	raw, err := (&rtp.Packet{Header: h, Payload: payload, PaddingSize: 4}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	seq, got, ok := rtpPayload(raw)
	if !ok || seq != 65535 || len(got) != len(payload) {
		t.Fatalf("rtpPayload: seq %d, %d bytes, ok %v", seq, len(got), ok)
	}
	back, ok := readTrailer(got)
	if !ok || back != st {
		t.Fatalf("trailer %+v ok %v, want %+v", back, ok, st)
	}
	for _, bad := range [][]byte{nil, raw[:11], {0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, _, ok := rtpPayload(bad); ok {
			t.Errorf("rtpPayload(%x) ok", bad)
		}
	}
	if _, ok := readTrailer(make([]byte, 40)); ok {
		t.Error("a payload without the magic has no trailer")
	}
}

func TestVP8FrameParsesAsVP8(t *testing.T) {
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, maxVideoPayload)
	}
	for _, key := range []bool{true, false} {
		n := vp8Frame(bufs, 3000, key, 0x1234, 1280, 720)
		if n != 3 {
			t.Fatalf("3000 bytes in %d packets, want 3", n)
		}
		total := 0
		for i := 0; i < n; i++ {
			var p codecs.VP8Packet
			data, err := p.Unmarshal(bufs[i])
			if err != nil {
				t.Fatal(err)
			}
			total += len(data)
			if p.PictureID != 0x1234 || (p.S == 1) != (i == 0) || p.PID != 0 {
				t.Fatalf("packet %d: picture id %x S %d PID %d", i, p.PictureID, p.S, p.PID)
			}
			if i == 0 {
				isKey := data[0]&1 == 0
				if isKey != key {
					t.Fatalf("key frame bit %v, want %v", isKey, key)
				}
				if key {
					w := int(data[6]) | int(data[7])<<8
					h := int(data[8]) | int(data[9])<<8
					if data[3] != 0x9d || data[4] != 0x01 || data[5] != 0x2a || w != 1280 || h != 720 {
						t.Fatalf("key frame header % x", data[:10])
					}
				}
			}
			if len(bufs[i]) > maxVideoPayload {
				t.Fatalf("packet %d has %d bytes", i, len(bufs[i]))
			}
		}
		if total != 3000 {
			t.Fatalf("frame has %d bytes, want 3000", total)
		}
	}
	if n := vp8Frame(bufs, 10, true, 1, 320, 180); n != 1 || len(bufs[0]) < vp8DescLen+vp8KeyHeader+trailerLen {
		t.Fatalf("a tiny frame: %d packets of %d bytes", n, len(bufs[0]))
	}
}

func TestSimulcastLayers(t *testing.T) {
	l := simulcastLayers(1_000_000)
	if l[0].RID != "q" || l[1].RID != "h" || l[2].RID != "f" {
		t.Fatalf("rids %s %s %s", l[0].RID, l[1].RID, l[2].RID)
	}
	if l[0].Bitrate+l[1].Bitrate+l[2].Bitrate != 1_000_000 || l[0].Bitrate != 100_000 {
		t.Fatalf("split %d/%d/%d", l[0].Bitrate, l[1].Bitrate, l[2].Bitrate)
	}
	for in, want := range map[string]int{"1M": 1_000_000, "600k": 600_000, "250000": 250_000, "1.5M": 1_500_000} {
		if got, err := parseBitrate(in); err != nil || got != want {
			t.Errorf("parseBitrate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1M", "1k", "100M"} {
		if _, err := parseBitrate(bad); err == nil {
			t.Errorf("parseBitrate(%q): no error", bad)
		}
	}
	if tile, err := parseTile("160×90"); err != nil || tile.Width != 160 || tile.Height != 90 {
		t.Errorf("parseTile: %+v %v", tile, err)
	}
	for _, bad := range []string{"160", "ax90", "-1x5", "99999x1"} {
		if _, err := parseTile(bad); err == nil {
			t.Errorf("parseTile(%q): no error", bad)
		}
	}
}

// TestSummarizeSFU checks the report's arithmetic on counters set by hand:
// two participants that received each other's audio and video.
func TestSummarizeSFU(t *testing.T) {
	cfg := sfuConfig{rooms: 1, participants: 3, audio: true, duration: 2 * time.Second, pid: 1}
	run := &sfuRun{cfg: cfg}
	room := &sfuRoom{run: run}
	mk := func(id string) *sfuPeer {
		return &sfuPeer{room: room, id: id, pub: &publisher{}, tracks: map[string]uint8{}}
	}
	a, b, c := mk("a"), mk("b"), mk("c")
	room.peers = []*sfuPeer{a, b, c}
	stream := func(pub string, kind webrtc.RTPCodecType, seqs []uint16, layer int) *recvStream {
		s := &recvStream{pub: pub, kind: kind}
		for _, q := range seqs {
			if s.seq.add(q) {
				s.packets++
				s.bytes += 1000
				s.byLayer[layer]++
			}
		}
		return s
	}
	// a gets b's video on q across a wrap with one loss, and b's audio;
	// b gets a's video, a third of it on h. c gets nothing.
	a.streams = []*recvStream{
		stream("b", webrtc.RTPCodecTypeVideo, []uint16{65534, 65535, 1, 2}, 1),
		stream("b", webrtc.RTPCodecTypeAudio, []uint16{7, 8, 9, 10}, layerAudio),
	}
	b.streams = []*recvStream{
		stream("a", webrtc.RTPCodecTypeVideo, []uint16{1, 2, 3, 4}, 1),
		stream("a", webrtc.RTPCodecTypeVideo, []uint16{5, 6}, 2), // the same publisher after a renegotiation
	}
	for i := 1; i <= 100; i++ {
		a.delay.Record(time.Duration(i) * time.Millisecond)
	}
	a.pub.sentPackets.Store(10)
	a.pub.sentBytes.Store(250_000)
	a.pub.frames.Store(60)
	a.pub.late.Store(3)
	b.pub.frames.Store(60)
	s0 := usageSample{server: procSample{CPU: time.Second}, self: procSample{CPU: 0},
		host: hostCPU{Busy: 10 * time.Second, Total: 20 * time.Second}, plis: 2}
	s1 := usageSample{server: procSample{CPU: 2 * time.Second, RSSKiB: 4096}, self: procSample{CPU: time.Second},
		host: hostCPU{Busy: 13 * time.Second, Total: 24 * time.Second}, plis: 6}
	var res SFUResult
	summarizeSFU(&res, run, []*sfuRoom{room}, procSample{RSSKiB: 1024}, s0, s1)

	if res.StreamsExpected != 12 || res.StreamsReceived != 3 {
		t.Errorf("streams %d/%d, want 3/12", res.StreamsReceived, res.StreamsExpected)
	}
	if res.VideoStreamsExpected != 6 || res.VideoStreamsReceived != 2 || res.AudioStreamsReceived != 1 {
		t.Errorf("video streams %d/%d and %d audio streams, want 2/6 and 1", res.VideoStreamsReceived,
			res.VideoStreamsExpected, res.AudioStreamsReceived)
	}
	if res.ReceivedPackets != 14 || res.ExpectedPackets != 15 || res.LostPackets != 1 {
		t.Errorf("packets %d expected %d lost %d, want 14 15 1", res.ReceivedPackets, res.ExpectedPackets, res.LostPackets)
	}
	if want := 100.0 / 15; math.Abs(res.LossPct-want) > 1e-9 {
		t.Errorf("loss %v%%, want %v", res.LossPct, want)
	}
	if res.PacketsPerSec != 7 || res.Mbps != 14*1000*8/1e6/2 || res.SentMbps != 1 {
		t.Errorf("rates: %v pkt/s %v Mbit/s sent %v", res.PacketsPerSec, res.Mbps, res.SentMbps)
	}
	if math.Abs(res.DelayP50us-50_000) > 50_000/64 || math.Abs(res.DelayP99us-99_000) > 99_000/64 || res.DelayMaxus != 100_000 {
		t.Errorf("delay p50 %v p99 %v max %v µs", res.DelayP50us, res.DelayP99us, res.DelayMaxus)
	}
	if res.LayerPct != [3]float64{80, 20, 0} {
		t.Errorf("layers %v, want 80/20/0", res.LayerPct)
	}
	if res.LatePct != 2.5 || res.KeyframeRequestsPerSec != 2 {
		t.Errorf("late %v%%, keyframe requests %v/s", res.LatePct, res.KeyframeRequestsPerSec)
	}
	if res.Server == nil || res.Server.CPUPercent != 50 || res.Server.RSSKiB != 4096 || res.Server.RSSBeforeKiB != 1024 {
		t.Fatalf("server %+v", res.Server)
	}
	if want := res.Mbps / 0.5; res.Server.MbitPerCore != want {
		t.Errorf("server Mbit/s per core %v, want %v", res.Server.MbitPerCore, want)
	}
	if res.Generator.CPUPercent != 50 {
		t.Errorf("generator %v%%", res.Generator.CPUPercent)
	}
	// The host was busy 3 s of the 2 s window (1.5 cores), the generator 1 s of it.
	if res.Host == nil || res.Host.BusyPercent != 150 || res.Host.NotGeneratorPercent != 100 {
		t.Fatalf("host %+v", res.Host)
	}
}

func TestGridTile(t *testing.T) {
	screen := proto.Tile{Width: 1280, Height: 720}
	for n, want := range map[int]proto.Tile{
		1: {Width: 1280, Height: 720}, 4: {Width: 640, Height: 360}, 10: {Width: 320, Height: 180},
		25: {Width: 256, Height: 144}, 50: {Width: 160, Height: 90},
	} {
		if got := gridTile(n, screen); got != want {
			t.Errorf("gridTile(%d) = %+v, want %+v", n, got, want)
		}
	}
}
