package signal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcd/rtcd/signal/proto"
)

// BenchmarkRelay measures relay latency (client send -> addressee receive)
// with N clients across M rooms all sending at once: each client signals the
// next member of its room, in a ring, so every client sends and receives
// b.N/N messages. Each sender has one message in flight (it sends the next
// when the previous arrived), so p50/p99 are relay latencies with N
// concurrent flows, not queueing delay; ns/op is wall time per relayed
// message.
func BenchmarkRelay(b *testing.B) {
	for _, tc := range []struct{ clients, rooms int }{{2, 1}, {12, 2}, {60, 10}, {200, 50}} {
		b.Run(fmt.Sprintf("clients=%d/rooms=%d", tc.clients, tc.rooms), func(b *testing.B) {
			benchRelay(b, tc.clients, tc.rooms)
		})
	}
}

func benchRelay(b *testing.B, n, m int) {
	e := newEnv(b, Config{MessagesPerSecond: 1 << 20, QueueSize: 1 << 16, MaxConnsPerIP: 1 << 16, RoomSize: (n + m - 1) / m})
	peers := make([]*peer, n)
	rooms := make([][]int, m)
	for i := range peers {
		peers[i] = e.peer(fmt.Sprint("p", i))
		r := i % m
		peers[i].send(msg{"v": 1, "type": "join", "room": fmt.Sprint("room", r)})
		rooms[r] = append(rooms[r], i)
	}
	// Drain joined/peer-joined so only signals remain.
	for _, members := range rooms {
		for k, i := range members {
			peers[i].expect(proto.TypeJoined)
			for range len(members) - k - 1 {
				peers[i].expect(proto.TypePeerJoined)
			}
		}
	}
	next := make([]string, n)
	for _, members := range rooms {
		for k, i := range members {
			next[i] = peers[members[(k+1)%len(members)]].id
		}
	}
	per := max(b.N/n, 1)
	lat := make([][]time.Duration, n)
	prev := make([]int, n)
	for _, members := range rooms {
		for k, i := range members {
			prev[members[(k+1)%len(members)]] = i
		}
	}
	window := make([]chan struct{}, n) // one in flight per sender
	for i := range window {
		window[i] = make(chan struct{}, 1)
	}
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, p := range peers {
		wg.Add(2)
		go func() { // receiver
			defer wg.Done()
			ws := p.ws
			l := make([]time.Duration, 0, per)
			for range per {
				_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, data, err := ws.ReadMessage()
				if err != nil {
					b.Error(err)
					return
				}
				var s struct {
					Data struct {
						T int64 `json:"t"`
					} `json:"data"`
				}
				_ = json.Unmarshal(data, &s)
				l = append(l, time.Since(time.Unix(0, s.Data.T)))
				<-window[prev[i]]
			}
			lat[i] = l
		}()
		go func() { // sender
			defer wg.Done()
			prefix := []byte(`{"v":1,"type":"signal","to":"` + next[i] + `","kind":"candidate","data":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host","sdpMid":"0","t":`)
			for range per {
				window[i] <- struct{}{}
				frame := fmt.Appendf(slices.Clip(prefix), "%d}}", time.Now().UnixNano())
				if err := p.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(el.Nanoseconds())/float64(len(all)), "ns/op")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(all))/el.Seconds(), "msgs/s")
}

// BenchmarkIdleConnMemory reports the server's memory per idle connection
// (hello + join done, nothing flowing). Clients are raw TCP sockets that
// speak just enough WebSocket to say hello and join and never read, so the
// numbers are nearly all server side: heap and goroutine stacks.
func BenchmarkIdleConnMemory(b *testing.B) {
	const k = 1000
	e := newEnv(b, Config{MaxConnsPerIP: 2 * k})
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	conns := make([]net.Conn, 0, k)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	for i := range k {
		c, err := rawWebSocket(addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		writeFrame(b, c, `{"v":1,"type":"hello","name":"idle"}`)
		writeFrame(b, c, fmt.Sprintf(`{"v":1,"type":"join","room":"idle-%d"}`, i/5))
	}
	waitFor(b, "all joined", func() bool { return e.hub.Stats().Peers == k })
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	heap := float64(after.HeapInuse) - float64(before.HeapInuse)
	stack := float64(after.StackInuse) - float64(before.StackInuse)
	for b.Loop() {
	}
	b.ReportMetric(heap/k, "heap-B/conn")
	b.ReportMetric(stack/k, "stack-B/conn")
	b.ReportMetric((heap+stack)/k, "B/conn")
	b.ReportMetric(float64(g1-g0)/k, "goroutines/conn")
}

// rawWebSocket does a client handshake on a bare TCP socket.
func rawWebSocket(addr string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	_ = c.SetReadDeadline(time.Now().Add(readTimeout))
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 256), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	return c, nil
}

// writeFrame writes one masked text frame (payload < 126 bytes).
func writeFrame(b testing.TB, c net.Conn, payload string) {
	if len(payload) > 125 {
		b.Fatalf("frame of %d bytes needs an extended length", len(payload))
	}
	mask := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(payload))}
	f = append(f, mask[:]...)
	for i := range len(payload) {
		f = append(f, payload[i]^mask[i%4])
	}
	if _, err := c.Write(f); err != nil {
		b.Fatal(err)
	}
}
