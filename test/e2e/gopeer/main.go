// Command gopeer is the Go side of test/e2e/gopeer.test.mjs: a client.Client
// (pion/webrtc) that joins a room relay-only with synthetic VP8 video, waits
// for the browser peer to connect, sends it a chat line over the app's data
// channel, and waits for RTP (and optionally a chat line) from it. It prints
// one JSON result line on stdout and exits 0, or exits 1 on error or timeout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rtcd/rtcd/client"
	"github.com/rtcd/rtcd/signal/proto"
)

type result struct {
	OK         bool            `json:"ok"`
	Error      string          `json:"error,omitempty"`
	PeerID     string          `json:"peerId,omitempty"`
	Remote     string          `json:"remote,omitempty"`
	Connected  bool            `json:"connected"`
	Path       client.PathInfo `json:"path"`
	Packets    uint64          `json:"rtpPackets"`
	Bytes      uint64          `json:"rtpBytes"`
	Tracks     int             `json:"tracks"`
	ChatSent   string          `json:"chatSent,omitempty"`
	ChatGot    string          `json:"chatReceived,omitempty"`
	ElapsedMS  int64           `json:"elapsedMs"`
	MinPackets uint64          `json:"minPackets"`
}

func main() {
	url := flag.String("url", "", "daemon URL (http://127.0.0.1:port)")
	room := flag.String("room", "", "room to join")
	name := flag.String("name", "GoPeer", "display name")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	chat := flag.String("chat", "", "chat line to send (default: hello from <name>)")
	expectChat := flag.String("expect-chat", "", "wait for a chat line from the browser containing this")
	minPackets := flag.Uint64("min-packets", 30, "RTP packets to receive from the browser")
	flag.Parse()
	if *url == "" || *room == "" {
		fmt.Fprintln(os.Stderr, "gopeer: -url and -room are required")
		os.Exit(2)
	}
	if *chat == "" {
		*chat = "hello from " + *name
	}
	start := time.Now()
	res := result{MinPackets: *minPackets}
	err := run(*url, *room, *name, *chat, *expectChat, *timeout, &res)
	res.ElapsedMS = time.Since(start).Milliseconds()
	res.OK = err == nil
	if err != nil {
		res.Error = err.Error()
	}
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	if err != nil {
		os.Exit(1)
	}
}

func run(url, room, name, chat, expectChat string, timeout time.Duration, res *result) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: url, Name: name, RelayOnly: true, Video: true, Logf: logf})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	res.PeerID = c.PeerID()
	if _, err := c.Join(ctx, room); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	logf("joined %s as %s", room, res.PeerID)

	dataOpen := false
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if res.Remote != "" {
				fillMedia(c, res)
			}
			return fmt.Errorf("timed out after %s (remote %q connected=%v dataOpen=%v chatSent=%q rtp=%d chatReceived=%q)",
				timeout, res.Remote, res.Connected, dataOpen, res.ChatSent, res.Packets, res.ChatGot)
		case ev, ok := <-c.Events():
			if !ok {
				return errors.New("event stream closed")
			}
			logf("event %s peer=%s state=%s err=%v", ev.Kind, ev.Peer, ev.State, ev.Err)
			if res.Remote == "" && (ev.Kind == client.EventPeerJoined || ev.Kind == client.EventConnected) && ev.Peer != "" {
				res.Remote = ev.Peer
			}
			if ev.Peer != res.Remote {
				continue
			}
			switch ev.Kind {
			case client.EventConnected:
				res.Connected = true
			case client.EventPeerLeft, client.EventClosed:
				return fmt.Errorf("%s before done", ev.Kind)
			case client.EventDataOpen:
				dataOpen = true
			case client.EventData:
				var m proto.DataMessage
				if json.Unmarshal(ev.Data, &m) == nil && m.T == proto.DataChat {
					logf("chat from browser: %q", m.Text)
					res.ChatGot = m.Text
				}
			}
		case <-tick.C:
		}
		if res.Remote == "" {
			continue
		}
		if res.Connected && dataOpen && res.ChatSent == "" {
			if err := c.SendChat(res.Remote, chat); err != nil {
				logf("send chat: %v (retrying)", err)
			} else {
				res.ChatSent = chat
				logf("chat sent")
			}
		}
		fillMedia(c, res)
		chatOK := expectChat == "" || (res.ChatGot != "" && strings.Contains(res.ChatGot, expectChat))
		if res.Connected && res.ChatSent != "" && res.Packets >= res.MinPackets && chatOK {
			if res.Path.LocalType != "relay" {
				return fmt.Errorf("selected local candidate is %q, not relay", res.Path.LocalType)
			}
			return nil
		}
	}
}

func fillMedia(c *client.Client, res *result) {
	if m, err := c.Media(res.Remote); err == nil {
		res.Packets, res.Bytes, res.Tracks = m.PacketsReceived, m.BytesReceived, m.Tracks
	}
	if p, err := c.Path(res.Remote); err == nil {
		res.Path = p
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "gopeer: "+format+"\n", a...)
}
