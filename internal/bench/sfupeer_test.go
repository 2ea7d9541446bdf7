package bench

import (
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// TestPublisherSimulcastToPion sends the publisher's media to a plain pion
// receiver, as an SFU built on pion gets it: three video tracks told apart by
// rid alone, and audio with the audio level extension, every payload ending
// in bench's trailer with the right layer.
func TestPublisherSimulcastToPion(t *testing.T) {
	api, err := newSFUAPI()
	if err != nil {
		t.Fatal(err)
	}
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
	recvAPI := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))

	pub, err := newPublisher(3, 4, "p_pub", 1_000_000, true, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	offerer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	answerer, err := recvAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		readers sync.WaitGroup
		layers  = map[string]uint8{} // rid ("" for audio) → layer code seen in a trailer
		levels  int
		got     = make(chan struct{}, 16)
	)
	answerer.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				st, ok := readTrailer(pkt.Payload)
				if !ok || st.pub != 3 {
					t.Errorf("rid %q: packet without bench's trailer", tr.RID())
					return
				}
				mu.Lock()
				_, seen := layers[tr.RID()]
				layers[tr.RID()] = st.layer
				if tr.Kind() == webrtc.RTPCodecTypeAudio && len(pkt.Header.Extensions) > 0 {
					levels++
				}
				mu.Unlock()
				if !seen {
					got <- struct{}{}
				}
			}
		}()
	})
	audio, video, err := pub.addTo(offerer)
	if err != nil {
		t.Fatal(err)
	}
	signalPair(t, offerer, answerer)
	if err := pub.bind(offerer, audio, video); err != nil {
		t.Fatal(err)
	}
	run := &sfuRun{epoch: time.Now()}
	run.to.Store(math.MaxInt64)
	done := make(chan struct{})
	var pacer sync.WaitGroup
	pacer.Add(1)
	go func() {
		defer pacer.Done()
		pub.run(run, done)
	}()
	timeout := time.After(20 * time.Second)
	for n := 0; n < 4; n++ {
		select {
		case <-got:
		case <-timeout:
			t.Errorf("tracks seen: %v", layers)
			n = 4
		}
	}
	close(done)
	pacer.Wait()
	if err := offerer.GracefulClose(); err != nil {
		t.Error(err)
	}
	if err := answerer.GracefulClose(); err != nil {
		t.Error(err)
	}
	readers.Wait()
	mu.Lock()
	defer mu.Unlock()
	want := map[string]uint8{"": layerAudio, "q": 1, "h": 2, "f": 3}
	for rid, layer := range want {
		if l, ok := layers[rid]; !ok || l != layer {
			t.Errorf("rid %q: layer %d (seen %v), want %d", rid, l, ok, layer)
		}
	}
	if levels == 0 {
		t.Error("no audio packet carried a header extension")
	}
	if pub.sentPackets.Load() == 0 || pub.frames.Load() == 0 {
		t.Error("the publisher counted nothing")
	}
}

// signalPair runs one offer/answer between two PeerConnections with every
// candidate in the descriptions.
func signalPair(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}
