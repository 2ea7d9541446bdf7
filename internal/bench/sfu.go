package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/rtcd/rtcd/signal/proto"

	"github.com/pion/webrtc/v4"
)

// maxSFUParticipants bounds rooms × participants: each is a PeerConnection
// receiving everyone else in its room.
const maxSFUParticipants = 500

// sfuConfig is everything one sfu row needs.
type sfuConfig struct {
	url          *url.URL
	token        string
	rooms        int
	participants int
	bitrate      int
	audio        bool
	tile         proto.Tile
	keyEvery     time.Duration
	warmup       time.Duration
	duration     time.Duration
	drain        time.Duration
	setupTimeout time.Duration
	setupMax     time.Duration // bounds a room's whole setup
	perIP        int
	pid          int
}

// sfuRun is the state one row's participants share: the pion API, the
// clock that trailers carry and the measured window on it.
type sfuRun struct {
	cfg   sfuConfig
	api   *webrtc.API
	epoch time.Time
	// from and to bound the measured window in ns on the run's clock;
	// until it is set both are far in the future and nothing counts.
	from, to   atomic.Int64
	collisions atomic.Uint64

	errMu sync.Mutex
	errs  map[string]uint64
}

func (r *sfuRun) now() time.Duration { return time.Since(r.epoch) }

func (r *sfuRun) inWindow(t time.Duration) bool {
	return int64(t) >= r.from.Load() && int64(t) < r.to.Load()
}

func (r *sfuRun) addErr(key string) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.errs == nil {
		r.errs = map[string]uint64{}
	}
	r.errs[key]++
}

// sfuRoom is one room of the run. peers is fixed once everyone has joined.
type sfuRoom struct {
	run   *sfuRun
	name  string
	base  int // index of its first participant in the run, for source addresses
	peers []*sfuPeer

	mu      sync.Mutex
	ids     map[string]int
	changed chan struct{} // closed and replaced whenever a track arrives
}

func (r *sfuRoom) notify() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *sfuRoom) index(id string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.ids[id]
	return i, ok
}

// waitProgress waits until cond holds, re-checking it whenever a track
// arrives, and gives up when no track arrived for idle or at deadline.
func (r *sfuRoom) waitProgress(ctx context.Context, idle time.Duration, deadline time.Time, cond func() bool) bool {
	t := time.NewTimer(idle)
	defer t.Stop()
	end := time.NewTimer(time.Until(deadline))
	defer end.Stop()
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
			t.Reset(idle)
		case <-t.C:
			return cond()
		case <-end.C:
			return cond()
		case <-ctx.Done():
			return false
		}
	}
}

// SFUResult is one sfu row: R rooms of N participants, each publishing
// simulcast video (and audio) and receiving everyone else in its room.
type SFUResult struct {
	Rooms        int               `json:"rooms"`
	Participants int               `json:"participants"` // per room
	Layers       [3]simulcastLayer `json:"layers"`
	Audio        bool              `json:"audio"`
	Tile         proto.Tile        `json:"tile"`
	Seconds      float64           `json:"seconds"`
	SetupSeconds float64           `json:"setup_seconds"`
	SetupErrors  int               `json:"setup_errors"`
	// Collisions counts server offers that crossed a participant's first
	// offer (answered on a fresh PeerConnection).
	Collisions      uint64 `json:"offer_collisions"`
	StreamsExpected int    `json:"streams_expected"`
	StreamsReceived int    `json:"streams_received"` // with a packet in the window
	// Video streams are always forwarded; audio streams only of the
	// participants the SFU routes (with SFU.LoudestAudio, the loudest in a
	// room larger than its slots: those who spoke), so they are counted apart.
	VideoStreamsExpected int `json:"video_streams_expected"`
	VideoStreamsReceived int `json:"video_streams_received"`
	AudioStreamsReceived int `json:"audio_streams_received"`

	SentPackets uint64  `json:"sent_packets"`
	SentMbps    float64 `json:"sent_mbit_per_sec"` // every layer, as published
	// Received* are what the participants got from the SFU: RTP packets
	// and bytes (header and payload, after SRTP) sent inside the window.
	ReceivedPackets uint64  `json:"received_packets"`
	PacketsPerSec   float64 `json:"received_packets_per_sec"`
	Mbps            float64 `json:"received_mbit_per_sec"`
	// Loss is by RTP sequence number per received stream.
	ExpectedPackets uint64  `json:"expected_packets"`
	LostPackets     uint64  `json:"lost_packets"`
	LossPct         float64 `json:"loss_pct"`
	// Delay is send to receive on the one clock, through the SFU.
	DelayP50us  float64 `json:"delay_p50_us"`
	DelayP99us  float64 `json:"delay_p99_us"`
	DelayMeanus float64 `json:"delay_mean_us"`
	DelayMaxus  float64 `json:"delay_max_us"`
	// LayerPct is the share of received video packets from each simulcast
	// layer, q/h/f.
	LayerPct  [3]float64 `json:"layer_pct"`
	Foreign   uint64     `json:"foreign_packets"`   // without bench's trailer
	Misrouted uint64     `json:"misrouted_packets"` // on another publisher's or kind's track
	// KeyframeRequestsPerSec are PLIs and FIRs the publishers received.
	KeyframeRequestsPerSec float64 `json:"keyframe_requests_per_sec"`
	SpeakerMessages        uint64  `json:"speaker_messages"`
	// LatePct is the share of video frames the pacer sent more than a
	// frame late: the generator could not keep up.
	LatePct   float64           `json:"late_frames_pct"`
	Errors    map[string]uint64 `json:"errors,omitempty"`
	Server    *SFUServer        `json:"server,omitempty"`
	Host      *SFUHost          `json:"host,omitempty"`
	Generator SFUGenerator      `json:"generator"`
}

// SFUServer is the daemon's cost over the window, from /proc/PID.
type SFUServer struct {
	PID             int     `json:"pid"`
	CPUPercent      float64 `json:"cpu_percent"`
	MbitPerCore     float64 `json:"received_mbit_per_core"`
	MicrosPerPacket float64 `json:"cpu_us_per_received_packet"`
	RSSBeforeKiB    int64   `json:"rss_before_kib"`
	RSSKiB          int64   `json:"rss_kib"` // at the end of the window
}

// SFUHost is the machine's CPU over the window from /proc/stat, and that
// minus the generator's own: the daemon and the kernel work (loopback,
// softirq) that its own figure leaves out, plus anything else running.
type SFUHost struct {
	CPUs                      int     `json:"cpus"`
	BusyPercent               float64 `json:"busy_percent"` // of one core; CPUs×100 is all
	NotGeneratorPercent       float64 `json:"not_generator_percent"`
	NotGeneratorMbitPerCore   float64 `json:"not_generator_mbit_per_core"`
	NotGeneratorMicrosPerPkt  float64 `json:"not_generator_cpu_us_per_packet"`
	GeneratorShareOfBusyRatio float64 `json:"generator_share_of_busy"`
}

// SFUGenerator is bench's own CPU over the window; near CPUs×100 the
// generator, not the server, sets the numbers.
type SFUGenerator struct {
	CPUPercent float64 `json:"cpu_percent"`
}

// usageSample is one instant's CPU of the daemon, the host and bench.
type usageSample struct {
	server procSample
	host   hostCPU
	self   procSample
	plis   uint64
}

func (r *sfuRun) sample(rooms []*sfuRoom) (usageSample, error) {
	var s usageSample
	var err error
	if s.server, err = readProc(r.cfg.pid); err != nil {
		return s, err
	}
	if s.self, err = readProc(os.Getpid()); err != nil {
		return s, err
	}
	if s.host, err = readHostCPU(); err != nil {
		return s, err
	}
	for _, room := range rooms {
		for _, p := range room.peers {
			if p != nil {
				s.plis += p.pub.plis.Load()
			}
		}
	}
	return s, nil
}

// runSFURow connects, sets up and measures one row, and closes every
// participant before it returns.
func runSFURow(ctx context.Context, cfg sfuConfig) (res SFUResult, err error) {
	res = SFUResult{Rooms: cfg.rooms, Participants: cfg.participants, Layers: simulcastLayers(cfg.bitrate),
		Audio: cfg.audio, Tile: cfg.tile, Seconds: cfg.duration.Seconds()}
	api, err := newSFUAPI()
	if err != nil {
		return res, err
	}
	run := &sfuRun{cfg: cfg, api: api, epoch: time.Now()}
	run.from.Store(math.MaxInt64)
	run.to.Store(math.MaxInt64)
	before, err := readProc(cfg.pid)
	if err != nil {
		return res, err
	}
	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	rooms := make([]*sfuRoom, cfg.rooms)
	for i := range rooms {
		rooms[i] = &sfuRoom{run: run, name: fmt.Sprintf("sfu-bench-%s-%d", hex.EncodeToString(nonce), i),
			base: i * cfg.participants, peers: make([]*sfuPeer, cfg.participants), ids: map[string]int{},
			changed: make(chan struct{})}
	}
	defer func() {
		if cerr := closeRooms(rooms); cerr != nil && err == nil {
			err = cerr
		}
	}()

	// Phase 1: everyone joins over WebSocket, room by room in parallel.
	if err := forRooms(rooms, func(room *sfuRoom) error { return joinRoom(ctx, room) }); err != nil {
		return res, err
	}
	if err := checkMode(ctx, rooms); err != nil {
		return res, err
	}

	// Phase 2: every participant publishes at once, rooms in parallel; the
	// server offers each one the others' tracks as they arrive, one offer
	// outstanding per participant, so changes coalesce.
	start := time.Now()
	var setupErrs atomic.Int64
	_ = forRooms(rooms, func(room *sfuRoom) error {
		for _, err := range setupRoom(ctx, room) {
			setupErrs.Add(1)
			run.addErr("setup: " + trimErr(err))
		}
		return nil
	})
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.SetupSeconds = time.Since(start).Seconds()
	res.SetupErrors = int(setupErrs.Load())
	res.Collisions = run.collisions.Load()

	// Phase 3: warm-up, the measured window with CPU sampled at both ends,
	// then the drain for packets sent inside it.
	from := run.now() + cfg.warmup
	run.to.Store(int64(from + cfg.duration))
	run.from.Store(int64(from))
	if !sleepCtx(ctx, from-run.now()) {
		return res, ctx.Err()
	}
	s0, err := run.sample(rooms)
	if err != nil {
		return res, err
	}
	if !sleepCtx(ctx, from+cfg.duration-run.now()) {
		return res, ctx.Err()
	}
	s1, err := run.sample(rooms)
	if err != nil {
		return res, err
	}
	if !sleepCtx(ctx, cfg.drain) {
		return res, ctx.Err()
	}
	summarizeSFU(&res, run, rooms, before, s0, s1)
	return res, nil
}

// forRooms runs fn for every room in parallel and returns the first error.
func forRooms(rooms []*sfuRoom, fn func(*sfuRoom) error) error {
	errs := make([]error, len(rooms))
	var wg sync.WaitGroup
	for i, room := range rooms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(room)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func joinRoom(ctx context.Context, room *sfuRoom) error {
	for k := range room.peers {
		p, err := dialSFU(ctx, room, k)
		if err != nil {
			return fmt.Errorf("room %s participant %d: %w", room.name, k, err)
		}
		room.peers[k] = p
		room.mu.Lock()
		room.ids[p.id] = k
		room.mu.Unlock()
	}
	return nil
}

// checkMode fails the run unless every room carries media through the SFU
// (joined said so, or a media message switched it).
func checkMode(ctx context.Context, rooms []*sfuRoom) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		var mesh []string
		for _, room := range rooms {
			for _, p := range room.peers {
				if p.mediaMode() != proto.MediaSFU {
					mesh = append(mesh, room.name)
					break
				}
			}
		}
		if len(mesh) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("room %s does not use the SFU: start the daemon with Signal.Media sfu "+
				"(or auto with 3 or more participants per room)", mesh[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setupRoom publishes every participant of room at once and waits until
// each receives everyone else's video, for as long as tracks keep arriving
// within the setup timeout. Audio is not waited for: an SFU that forwards
// the loudest participants' audio only (SFU.LoudestAudio) sends a silent
// one's none, and pion reports a track at its first packet. It returns one error per participant that did
// not get there, without its index, so the report folds them into one line.
func setupRoom(ctx context.Context, room *sfuRoom) []error {
	cfg := room.run.cfg
	deadline := time.Now().Add(cfg.setupMax)
	errs := make([]error, len(room.peers))
	var wg sync.WaitGroup
	for k, p := range room.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = publishPeer(ctx, p, cfg)
		}()
	}
	wg.Wait()
	want := uint8(gotVideo)
	room.waitProgress(ctx, cfg.setupTimeout, deadline, func() bool {
		for _, p := range room.peers {
			if !p.hasTracks(room.peers, want) {
				return false
			}
		}
		return true
	})
	var out []error
	for k, p := range room.peers {
		switch {
		case errs[k] != nil:
			out = append(out, errs[k])
		case !p.hasTracks(room.peers, want):
			out = append(out, fmt.Errorf("tracks of the room missing (none came in %s, or %s passed)",
				cfg.setupTimeout, cfg.setupMax))
		}
	}
	return out
}

// publishPeer starts p's pacer, offers its tracks and, once answered,
// sends its layers.
func publishPeer(ctx context.Context, p *sfuPeer, cfg sfuConfig) error {
	p.startPacer()
	if err := p.publish(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	t := time.NewTimer(cfg.setupTimeout)
	defer t.Stop()
	select {
	case <-p.published:
	case <-t.C:
		return fmt.Errorf("no answer to its offer within %s", cfg.setupTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := p.sendLayers(cfg.tile); err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	return nil
}

// closeRooms closes every participant in parallel.
func closeRooms(rooms []*sfuRoom) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, room := range rooms {
		for _, p := range room.peers {
			if p == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.close(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("bench: close: %w", errs[0])
	}
	return nil
}

// summarizeSFU fills res from the participants' counters and the CPU
// samples at the window's edges.
func summarizeSFU(res *SFUResult, run *sfuRun, rooms []*sfuRoom, before procSample, s0, s1 usageSample) {
	cfg := run.cfg
	secs := cfg.duration.Seconds()
	var (
		delay   Histogram
		bytes   uint64
		byLayer [layerCount]uint64
		frames  uint64
		late    uint64
		sentB   uint64
	)
	type key struct {
		sub, pub string
		kind     webrtc.RTPCodecType
	}
	streams := map[key]bool{}
	for _, room := range rooms {
		for _, p := range room.peers {
			res.SentPackets += p.pub.sentPackets.Load()
			sentB += p.pub.sentBytes.Load()
			frames += p.pub.frames.Load()
			late += p.pub.late.Load()
			p.smu.Lock()
			for _, s := range p.streams {
				if s.packets > 0 {
					streams[key{p.id, s.pub, s.kind}] = true
				}
				res.ReceivedPackets += s.packets
				bytes += s.bytes
				res.ExpectedPackets += s.seq.expected()
				res.LostPackets += s.seq.lost()
				res.Foreign += s.foreign
				res.Misrouted += s.misrouted
				for i, n := range s.byLayer {
					byLayer[i] += n
				}
			}
			delay.Merge(&p.delay)
			res.SpeakerMessages += p.speakers
			p.smu.Unlock()
		}
	}
	perTrack := 1
	if cfg.audio {
		perTrack = 2
	}
	res.StreamsExpected = cfg.rooms * cfg.participants * (cfg.participants - 1) * perTrack
	res.StreamsReceived = len(streams)
	res.VideoStreamsExpected = cfg.rooms * cfg.participants * (cfg.participants - 1)
	for k := range streams {
		if k.kind == webrtc.RTPCodecTypeVideo {
			res.VideoStreamsReceived++
		} else {
			res.AudioStreamsReceived++
		}
	}
	res.SentMbps = float64(sentB) * 8 / 1e6 / secs
	res.PacketsPerSec = float64(res.ReceivedPackets) / secs
	res.Mbps = float64(bytes) * 8 / 1e6 / secs
	res.LossPct = lossPct(res.ExpectedPackets, res.ExpectedPackets-res.LostPackets)
	res.DelayP50us, res.DelayP99us = us(delay.Quantile(0.5)), us(delay.Quantile(0.99))
	res.DelayMeanus, res.DelayMaxus = us(delay.Mean()), us(delay.Max())
	var video uint64
	for _, n := range byLayer[1:] {
		video += n
	}
	for i := range res.LayerPct {
		res.LayerPct[i] = finite(100 * ratio(float64(byLayer[1+i]), float64(video)))
	}
	res.LatePct = finite(100 * ratio(float64(late), float64(frames)))
	res.KeyframeRequestsPerSec = float64(s1.plis-s0.plis) / secs
	run.errMu.Lock()
	res.Errors = run.errs
	run.errMu.Unlock()

	window := cfg.duration
	gen := cpuUse{cpu: s1.self.CPU - s0.self.CPU, window: window}
	res.Generator.CPUPercent = finite(gen.percent())
	if cfg.pid != 0 {
		srv := cpuUse{cpu: s1.server.CPU - s0.server.CPU, window: window, mbps: res.Mbps, packetsS: res.PacketsPerSec}
		res.Server = &SFUServer{PID: cfg.pid, CPUPercent: finite(srv.percent()), MbitPerCore: finite(srv.mbitPerCore()),
			MicrosPerPacket: finite(srv.microsPerPacket()), RSSBeforeKiB: before.RSSKiB, RSSKiB: s1.server.RSSKiB}
	}
	busy := s1.host.Busy - s0.host.Busy
	if s1.host.Total > s0.host.Total {
		host := cpuUse{cpu: busy, window: window}
		other := cpuUse{cpu: max(busy-gen.cpu, 0), window: window, mbps: res.Mbps, packetsS: res.PacketsPerSec}
		res.Host = &SFUHost{CPUs: runtime.NumCPU(), BusyPercent: finite(host.percent()),
			NotGeneratorPercent: finite(other.percent()), NotGeneratorMbitPerCore: finite(other.mbitPerCore()),
			NotGeneratorMicrosPerPkt:  finite(other.microsPerPacket()),
			GeneratorShareOfBusyRatio: finite(ratio(gen.cpu.Seconds(), busy.Seconds()))}
	}
}

// finite maps the n/a of a ratio over nothing to 0, which JSON can carry.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func runSFUMode(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlagSet("sfu", out)
	rawURL := fs.String("url", "ws://127.0.0.1:8080/ws", "rtcd WebSocket endpoint on loopback")
	token := fs.String("token", "", "join token for token mode (its room claim must allow sfu-bench-* rooms)")
	rooms := fs.Int("rooms", 1, "rooms, run in parallel")
	participants := fs.String("participants", "4", "participants per room, comma separated for one row each (e.g. 4,10,25)")
	duration := fs.Duration("duration", 10*time.Second, "measured time per row")
	warmup := fs.Duration("warmup", 3*time.Second, "media after setup before the measured window")
	drain := fs.Duration("drain", time.Second, "wait for packets sent inside the window")
	bitrate := fs.String("bitrate", "1M", "video bits/s per publisher over the three layers (1:3:6 for q/h/f)")
	audio := fs.Bool("audio", true, "also publish Opus-sized audio, 50 packets/s with the audio level extension")
	tile := fs.String("tile", "grid", "tile size each participant reports for every other (layers signal): "+
		"WIDTHxHEIGHT, or grid for a gallery of N tiles on --screen")
	screen := fs.String("screen", "1280x720", "screen the grid tiles fill")
	keyEvery := fs.Duration("keyframe", 3*time.Second, "periodic key frame interval per layer (PLIs add more)")
	setupTimeout := fs.Duration("setup-timeout", 10*time.Second, "per-participant connect, negotiation and track timeout")
	setupMax := fs.Duration("setup-max", 3*time.Minute, "a room's whole setup at most; the row then runs with the tracks that came")
	perIP := fs.Int("per-ip", 8, "participants per loopback source address (keep under Signal.MaxConnsPerIP)")
	var pid int
	fs.IntVar(&pid, "pid", 0, "daemon PID: report its CPU per forwarded Mbit and RSS")
	fs.IntVar(&pid, "server-pid", 0, "same as --pid")
	asJSON := fs.Bool("json", false, "write JSON instead of a table")
	smoke := fs.Bool("smoke", false, "seconds-long run for CI")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *smoke {
		for name, set := range map[string]func(){
			"participants":  func() { *participants = "3" },
			"duration":      func() { *duration = time.Second },
			"warmup":        func() { *warmup = 500 * time.Millisecond },
			"drain":         func() { *drain = 200 * time.Millisecond },
			"setup-timeout": func() { *setupTimeout = 5 * time.Second },
		} {
			if !isSet(fs, name) {
				set()
			}
		}
	}
	u, err := loopbackWSURL(*rawURL)
	if err != nil {
		return err
	}
	counts, err := parseCounts(*participants, "participants")
	if err != nil {
		return err
	}
	bps, err := parseBitrate(*bitrate)
	if err != nil {
		return err
	}
	scr, err := parseTile(*screen)
	if err != nil {
		return fmt.Errorf("bench: --screen: %w", err)
	}
	grid := *tile == "grid"
	var ts proto.Tile
	if !grid {
		if ts, err = parseTile(*tile); err != nil {
			return err
		}
	}
	for _, n := range counts {
		if n < 2 || n*max(*rooms, 1) > maxSFUParticipants {
			return fmt.Errorf("bench: --participants %d with --rooms %d: want 2 or more per room, %d in all at most",
				n, *rooms, maxSFUParticipants)
		}
	}
	switch {
	case *rooms < 1:
		return fmt.Errorf("bench: --rooms %d: want >= 1", *rooms)
	case *duration <= 0 || *duration > maxDuration:
		return fmt.Errorf("bench: --duration %s: want >0 and <= %s", *duration, maxDuration)
	case *warmup < 0 || *warmup > time.Hour:
		return fmt.Errorf("bench: --warmup %s: want 0..1h", *warmup)
	case *drain < 0 || *drain > time.Minute:
		return fmt.Errorf("bench: --drain %s: want 0..1m", *drain)
	case *keyEvery < 100*time.Millisecond || *keyEvery > time.Hour:
		return fmt.Errorf("bench: --keyframe %s: want 100ms..1h", *keyEvery)
	case *setupTimeout <= 0 || *setupTimeout > 5*time.Minute:
		return fmt.Errorf("bench: --setup-timeout %s: want >0 and <= 5m", *setupTimeout)
	case *setupMax <= 0 || *setupMax > time.Hour:
		return fmt.Errorf("bench: --setup-max %s: want >0 and <= 1h", *setupMax)
	case *perIP < 1:
		return fmt.Errorf("bench: --per-ip %d: want >= 1", *perIP)
	case pid < 0:
		return fmt.Errorf("bench: --pid %d: want a PID", pid)
	}
	if _, err := readProc(pid); err != nil {
		return err
	}
	var rows []SFUResult
	for _, n := range counts {
		t := ts
		if grid {
			t = gridTile(n, scr)
		}
		cfg := sfuConfig{url: u, token: *token, rooms: *rooms, participants: n, bitrate: bps, audio: *audio,
			tile: t, keyEvery: *keyEvery, warmup: *warmup, duration: *duration, drain: *drain,
			setupTimeout: *setupTimeout, setupMax: *setupMax, perIP: *perIP, pid: pid}
		r, err := runSFURow(ctx, cfg)
		if err != nil {
			return fmt.Errorf("bench: sfu with %d rooms of %d: %w", *rooms, n, err)
		}
		rows = append(rows, r)
	}
	if *asJSON {
		return writeJSON(out, struct {
			Mode    string      `json:"mode"`
			LoadAvg string      `json:"loadavg,omitempty"`
			Rows    []SFUResult `json:"rows"`
		}{"sfu", loadAvg(), rows})
	}
	l := simulcastLayers(bps)
	media := "no audio"
	if *audio {
		media = fmt.Sprintf("audio %d packets/s", time.Second/audioInterval)
	}
	fmt.Fprintf(out, "rtcd bench sfu: %s, video %s bit/s per publisher (q %s / h %s / f %s, %d fps), %s, "+
		"tile %s, %s measured after %s warm-up (load average %s, %d CPUs)\n",
		u.Redacted(), fnum(float64(bps)), fnum(float64(l[0].Bitrate)), fnum(float64(l[1].Bitrate)),
		fnum(float64(l[2].Bitrate)), videoFPS, media, tileLabel(grid, ts, scr), *duration, *warmup, loadAvg(), runtime.NumCPU())
	return writeSFUTable(out, rows)
}

// tileLabel describes --tile for the report's header.
func tileLabel(grid bool, t, screen proto.Tile) string {
	if grid {
		return fmt.Sprintf("a grid of N on %dx%d", screen.Width, screen.Height)
	}
	return fmt.Sprintf("%dx%d", t.Width, t.Height)
}

// loopbackWSURL parses --url and insists on a loopback host: the load
// generator sends its media only to this machine.
func loopbackWSURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("bench: --url: %w", err)
	case u.Scheme != "ws" && u.Scheme != "wss":
		return nil, fmt.Errorf("bench: --url %q: want ws:// or wss://", raw)
	case u.Host == "":
		return nil, fmt.Errorf("bench: --url %q: no host", raw)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("bench: --url %q: the SFU load runs against loopback only (127.0.0.0/8, ::1, localhost)", raw)
	}
	return u, nil
}

func writeSFUTable(out io.Writer, rows []SFUResult) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rooms×N\ttile\tsetup s\tvideo streams\taudio streams\trecv pkt/s\tMbit/s\tloss %\tp50 µs\tp99 µs\tq/h/f %\t"+
		"srv CPU %\tsrv Mbit/s/core\tsrv µs/pkt\thost-gen CPU %\thost-gen Mbit/s/core\tgen CPU %\tlate %\tsrv RSS MiB\t")
	for _, r := range rows {
		srvCPU, srvPer, srvUs, rss := "-", "-", "-", "-"
		if r.Server != nil {
			srvCPU = fmt.Sprintf("%.0f", r.Server.CPUPercent)
			srvPer = fmt.Sprintf("%.0f", r.Server.MbitPerCore)
			srvUs = fmt.Sprintf("%.1f", r.Server.MicrosPerPacket)
			rss = mib(r.Server.RSSBeforeKiB) + "→" + mib(r.Server.RSSKiB)
		}
		hostCPU, hostPer := "-", "-"
		if r.Host != nil {
			hostCPU = fmt.Sprintf("%.0f", r.Host.NotGeneratorPercent)
			hostPer = fmt.Sprintf("%.0f", r.Host.NotGeneratorMbitPerCore)
		}
		fmt.Fprintf(tw, "%d×%d\t%dx%d\t%.1f\t%d/%d\t%d\t%s\t%.1f\t%.2f\t%.0f\t%.0f\t%.0f/%.0f/%.0f\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.1f\t%s\t\n",
			r.Rooms, r.Participants, r.Tile.Width, r.Tile.Height, r.SetupSeconds, r.VideoStreamsReceived,
			r.VideoStreamsExpected, r.AudioStreamsReceived, fnum(r.PacketsPerSec),
			r.Mbps, r.LossPct, r.DelayP50us, r.DelayP99us, r.LayerPct[0], r.LayerPct[1], r.LayerPct[2],
			srvCPU, srvPer, srvUs, hostCPU, hostPer, r.Generator.CPUPercent, r.LatePct, rss)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	for _, r := range rows {
		label := fmt.Sprintf("%d×%d", r.Rooms, r.Participants)
		fmt.Fprintf(out, "  %s: sent %s Mbit/s, %s keyframe requests/s, %d speaker messages, %d offer collisions",
			label, fmt.Sprintf("%.1f", r.SentMbps), fmt.Sprintf("%.1f", r.KeyframeRequestsPerSec), r.SpeakerMessages,
			r.Collisions)
		if r.Foreign > 0 || r.Misrouted > 0 {
			fmt.Fprintf(out, ", %d packets without a trailer, %d misrouted", r.Foreign, r.Misrouted)
		}
		if r.Host != nil && r.Host.BusyPercent > 0.9*float64(100*r.Host.CPUs) {
			fmt.Fprintf(out, "; the machine was saturated (%.0f%% busy of %d%%, the generator %.0f%%)",
				r.Host.BusyPercent, 100*r.Host.CPUs, r.Generator.CPUPercent)
		}
		fmt.Fprintln(out)
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(out, "  %s: %d × %s\n", label, r.Errors[k], strings.TrimSpace(k))
		}
	}
	return nil
}
