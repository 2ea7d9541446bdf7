package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v3"

	"github.com/rtcd/rtcd/client"
	"github.com/rtcd/rtcd/signal/proto"
)

// The test binary doubles as the peer: started inside a LAN namespace with
// RTCD_NETNS_PEER=1, TestMain runs peerMain instead of the tests. It probes
// its NAT, joins the room, runs a call (media + checksummed data) and prints
// one JSON peerResult line on stdout.

// peerResult is what a peer process reports back to the test.
type peerResult struct {
	Name string `json:"name"`
	// NAT mapping as seen by STUN from one local socket to two addresses.
	LocalPort   int    `json:"localPort,omitempty"`
	MappedPorts []int  `json:"mappedPorts,omitempty"`
	NATError    string `json:"natError,omitempty"`

	Path            string  `json:"path"` // e.g. direct/udp, relay/tcp
	LocalType       string  `json:"localType"`
	RemoteType      string  `json:"remoteType"`
	LocalAddr       string  `json:"localAddr"`
	RemoteAddr      string  `json:"remoteAddr"`
	RelayProtocol   string  `json:"relayProtocol"`
	Relayed         bool    `json:"relayed"`
	ConnectedMS     float64 `json:"connectedMs"`     // from join to PeerConnection connected
	PCConnectedMS   float64 `json:"pcConnectedMs"`   // from PeerConnection creation to connected
	DataRTTMS       float64 `json:"dataRttMs"`       // data channel round trip
	ICERTTMS        float64 `json:"iceRttMs"`        // STUN round trip on the pair
	Sent            int     `json:"sent"`            // checksummed messages
	Received        int     `json:"received"`        // verified messages
	RTPPackets      uint64  `json:"rtpPackets"`      // video RTP received
	RTPLost         int64   `json:"rtpLost"`         // from sequence gaps
	Error           string  `json:"error,omitempty"` // the call failed
	DurationSeconds float64 `json:"durationSeconds"`
}

const (
	peerMessages = 100
	peerMinRTP   = 60 // two seconds of synthetic video
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// stunMain is a minimal STUN Binding responder bound to one address, run in
// the public namespace as the second destination of the NAT mapping check.
// (The daemon listens on 0.0.0.0, so its replies to a second address would
// leave from the first one and a symmetric NAT would drop them.)
func stunMain(addr string) int {
	laddr, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conn, err := net.ListenUDP("udp4", laddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return 0
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil || req.Type != stun.BindingRequest {
			continue
		}
		res, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: from.IP, Port: from.Port})
		if err == nil {
			_, _ = conn.WriteToUDP(res.Raw, from)
		}
	}
}

// peerMain is the peer process. Its exit status is 0 when the call worked.
func peerMain() int {
	res := peerResult{Name: os.Getenv("RTCD_NAME")}
	err := runPeer(&res)
	if err != nil {
		res.Error = err.Error()
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if err != nil {
		return 1
	}
	return 0
}

func runPeer(res *peerResult) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(envInt("RTCD_TIMEOUT_S", 40))*time.Second)
	defer cancel()
	if stuns := os.Getenv("RTCD_STUN"); stuns != "" {
		res.LocalPort, res.MappedPorts, res.NATError = natMapping(strings.Split(stuns, ","))
	}
	var transports []string
	if t := os.Getenv("RTCD_TRANSPORTS"); t != "" {
		transports = strings.Split(t, ",")
	}
	cfg := client.Config{
		URL:            os.Getenv("RTCD_URL"),
		Name:           res.Name,
		RelayOnly:      os.Getenv("RTCD_RELAY_ONLY") == "1",
		TURNTransports: transports,
		Video:          true,
		DialTimeout:    3 * time.Second,
	}
	// The daemon in the public namespace may still be starting.
	var c *client.Client
	var err error
	for c == nil {
		c, err = client.Dial(ctx, cfg)
		if err != nil {
			select {
			case <-ctx.Done():
				return fmt.Errorf("dial %s: %w", cfg.URL, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Join(ctx, os.Getenv("RTCD_ROOM")); err != nil {
		return err
	}
	if os.Getenv("RTCD_SFU") == "1" {
		if err := runSFUPeer(ctx, c, res, start); err != nil {
			return err
		}
		// Report, then keep publishing until the test closes stdin: the
		// other peer may still be waiting for our media.
		out, _ := json.Marshal(res)
		fmt.Println(string(out))
		_, _ = io.Copy(io.Discard, os.Stdin)
		return nil
	}
	call, err := client.RunCall(ctx, c, client.CallOptions{
		Messages: envInt("RTCD_MESSAGES", peerMessages), Size: 1000, MinRTP: uint64(envInt("RTCD_MIN_RTP", peerMinRTP)),
		Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, res.Name+": "+f+"\n", a...) },
	})
	res.DurationSeconds = time.Since(start).Seconds()
	res.Sent, res.Received = call.Sent, call.Received
	res.RTPPackets, res.RTPLost = call.Media.PacketsReceived, call.Media.PacketsLost
	res.ConnectedMS = float64(call.Connected.Microseconds()) / 1000
	res.DataRTTMS = float64(call.DataRTT.Microseconds()) / 1000
	res.setPath(call.Path)
	return err
}

// runSFUPeer is the call through the media server: one connection, to the
// daemon, that brings the other peer's video.
func runSFUPeer(ctx context.Context, c *client.Client, res *peerResult, start time.Time) error {
	if m := c.MediaMode(); m != proto.MediaSFU {
		return fmt.Errorf("room media %q, want sfu", m)
	}
	call, err := client.RunSFUCall(ctx, c, client.SFUCallOptions{MinRTP: uint64(envInt("RTCD_MIN_RTP", peerMinRTP)), Tracks: 1})
	res.DurationSeconds = time.Since(start).Seconds()
	res.RTPPackets, res.RTPLost = call.Media.PacketsReceived, call.Media.PacketsLost
	res.ConnectedMS = float64(call.Connected.Microseconds()) / 1000 // RunSFUCall starts right after the join
	res.setPath(call.Path)
	return err
}

// setPath records the candidate pair ICE chose.
func (res *peerResult) setPath(p client.PathInfo) {
	res.Path, res.Relayed = p.Kind(), p.Relayed()
	res.LocalType, res.RemoteType, res.LocalAddr, res.RemoteAddr = p.LocalType, p.RemoteType, p.LocalAddr, p.RemoteAddr
	res.RelayProtocol = p.RelayProtocol
	res.PCConnectedMS = float64(p.TimeToConnected.Microseconds()) / 1000
	res.ICERTTMS = float64(p.RTT.Microseconds()) / 1000
}

// natMapping sends a STUN Binding request from one UDP socket to each
// server and returns the local port and the mapped ports seen. Equal mapped
// ports mean an endpoint-independent mapping; a mapped port equal to the
// local port means the NAT preserved it.
func natMapping(servers []string) (int, []int, string) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return 0, nil, err.Error()
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).Port
	var ports []int
	for _, s := range servers {
		raddr, err := net.ResolveUDPAddr("udp4", s)
		if err != nil {
			return local, ports, err.Error()
		}
		port, err := bindingPort(conn, raddr)
		if err != nil {
			return local, ports, fmt.Sprintf("STUN %s: %v", s, err)
		}
		ports = append(ports, port)
	}
	return local, ports, ""
}

func bindingPort(conn *net.UDPConn, to *net.UDPAddr) (int, error) {
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	buf := make([]byte, 1500)
	for attempt := 0; attempt < 5; attempt++ {
		if _, err := conn.WriteToUDP(req.Raw, to); err != nil {
			return 0, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return 0, err
			}
			m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if m.Decode() != nil || m.TransactionID != req.TransactionID {
				continue
			}
			var xor stun.XORMappedAddress
			if err := xor.GetFrom(m); err != nil {
				return 0, err
			}
			return xor.Port, nil
		}
	}
	return 0, errors.New("no answer")
}
