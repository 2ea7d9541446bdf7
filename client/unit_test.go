package client

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/signal/proto"
)

func TestWebSocketURL(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "http adds /ws", in: "http://127.0.0.1:8080", want: "ws://127.0.0.1:8080/ws"},
		{name: "https", in: "https://rtc.example.org/", want: "wss://rtc.example.org/ws"},
		{name: "ws kept", in: "ws://127.0.0.1:1/ws", want: "ws://127.0.0.1:1/ws"},
		{name: "custom path kept", in: "wss://h/rtc/ws", want: "wss://h/rtc/ws"},
		{name: "bad scheme", in: "ftp://h", wantErr: true},
		{name: "no host", in: "http://", wantErr: true},
		{name: "garbage", in: "::", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WebSocketURL(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFilterICEServers(t *testing.T) {
	in := []webrtc.ICEServer{
		{URLs: []string{"stun:127.0.0.1:3478"}},
		{URLs: []string{"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp",
			"turns:127.0.0.1:5349?transport=tcp", "turn:127.0.0.1:3479"}, Username: "u", Credential: "p"},
	}
	tests := []struct {
		name string
		keep []string
		want [][]string
	}{
		{name: "all", keep: nil, want: [][]string{{"stun:127.0.0.1:3478"}, in[1].URLs}},
		{name: "tcp", keep: []string{"tcp"}, want: [][]string{{"stun:127.0.0.1:3478"}, {"turn:127.0.0.1:3478?transport=tcp"}}},
		{name: "udp default transport", keep: []string{"UDP"}, want: [][]string{{"stun:127.0.0.1:3478"},
			{"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3479"}}},
		{name: "tls", keep: []string{"tls"}, want: [][]string{{"stun:127.0.0.1:3478"}, {"turns:127.0.0.1:5349?transport=tcp"}}},
		{name: "none left", keep: []string{"sctp"}, want: [][]string{{"stun:127.0.0.1:3478"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := FilterICEServers(in, tt.keep)
			var got [][]string
			for _, s := range out {
				got = append(got, s.URLs)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if URLTransport("nonsense") != "" {
		t.Fatal("unparsable URL should classify as empty")
	}
}

func TestSealOpen(t *testing.T) {
	msg := seal(42, 100)
	seq, err := openSealed(msg)
	if err != nil || seq != 42 {
		t.Fatalf("Open = %d, %v", seq, err)
	}
	msg[len(msg)-1] ^= 1
	if _, err := openSealed(msg); !errors.Is(err, ErrChecksum) {
		t.Fatalf("tampered: err = %v", err)
	}
	if _, err := openSealed([]byte{1, 2}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("short: err = %v", err)
	}
}

func TestRTPCounterLossAndWrap(t *testing.T) {
	var c rtpCounter
	seqs := []uint16{65530, 65531, 65533, 65535, 0, 1, 3, 2}
	for _, s := range seqs {
		c.add(&rtp.Packet{Header: rtp.Header{SequenceNumber: s}}, 100)
	}
	rx, b, lost, _ := c.stats()
	// 65530..3 is 10 packets; 8 arrived (2 reordered late is fine).
	if rx != 8 || b != 800 || lost != 2 {
		t.Fatalf("rx=%d bytes=%d lost=%d, want 8, 800, 2", rx, b, lost)
	}
}

func TestICEConfig(t *testing.T) {
	var in []proto.ICEServer
	if err := json.Unmarshal([]byte(`[{"urls":"stun:h:1"},{"urls":["turn:h:1"],"username":"u","credential":"c"}]`), &in); err != nil {
		t.Fatal(err)
	}
	out := iceConfig(in)
	if len(out) != 2 || out[0].URLs[0] != "stun:h:1" || out[1].Credential != "c" || out[0].Credential != nil {
		t.Fatalf("got %+v", out)
	}
	if err := json.Unmarshal([]byte(`[{"urls":42}]`), &in); err == nil {
		t.Fatal("want error for bad urls")
	}
}
