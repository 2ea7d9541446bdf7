// Package turntest is a TURN client round trip for tests of packages that
// carry TURN without being the relay (the daemon's TLS listener, portmux,
// TURN-only mode): allocate over a given connection, send a datagram to a
// loopback peer through the relay and get the peer's answer back; and
// coturn's own client tools, run against a relay.
package turntest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v4"
)

// Timeout bounds each step of RoundTrip.
const Timeout = 5 * time.Second

// RoundTrip runs a pion TURN client over conn (a TCP or TLS connection to
// the relay at addr): Allocate with the long-term credentials, a datagram
// to a UDP peer on 127.0.0.1 through the relay, and the peer's answer back.
// It fails t on any error and closes conn on return.
func RoundTrip(t testing.TB, conn net.Conn, addr, user, pass, realm string) {
	t.Helper()
	defer conn.Close()
	roundTrip(t, pionturn.NewSTUNConn(conn), addr, user, pass, realm)
}

// RoundTripUDP is RoundTrip over UDP, from a socket of its own on 127.0.0.1.
func RoundTripUDP(t testing.TB, addr, user, pass, realm string) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	roundTrip(t, pc, addr, user, pass, realm)
}

func roundTrip(t testing.TB, pc net.PacketConn, addr, user, pass, realm string) {
	t.Helper()
	client, relay, err := allocate(pc, addr, user, pass, realm)
	if err != nil {
		t.Fatalf("turntest: %v", err)
	}
	defer client.Close()
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	_ = peer.SetDeadline(time.Now().Add(Timeout))
	_ = relay.SetDeadline(time.Now().Add(Timeout))
	// Payloads longer than 4 bytes: pion's STUNConn waits for at least 9
	// bytes of a stream, so a ChannelData frame with a tiny payload would
	// sit in its buffer (a pion client quirk).
	ping, pong := "ping from the client via the relay", "pong from the peer via the relay"
	if _, err := relay.WriteTo([]byte(ping), peer.LocalAddr()); err != nil {
		t.Fatalf("turntest: relay write: %v", err)
	}
	buf := make([]byte, 64)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != ping {
		t.Fatalf("turntest: peer read %q, %v", buf[:n], err)
	}
	if from.String() != relay.LocalAddr().String() {
		t.Fatalf("turntest: peer got data from %s, relay is %s", from, relay.LocalAddr())
	}
	if _, err := peer.WriteTo([]byte(pong), from); err != nil {
		t.Fatal(err)
	}
	n, _, err = relay.ReadFrom(buf)
	if err != nil || string(buf[:n]) != pong {
		t.Fatalf("turntest: relay read %q, %v", buf[:n], err)
	}
}

// AllocateUDP tries one allocation over UDP with user/pass and reports the
// error, for credentials that must be refused.
func AllocateUDP(addr, user, pass, realm string) error {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer pc.Close()
	client, relay, err := allocate(pc, addr, user, pass, realm)
	if err != nil {
		return err
	}
	defer client.Close()
	return relay.Close()
}

// allocate starts a pion TURN client on pc and allocates with the long-term
// credentials; on success the caller closes both.
func allocate(pc net.PacketConn, addr, user, pass, realm string) (*pionturn.Client, net.PacketConn, error) {
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	client, err := pionturn.NewClient(&pionturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr,
		Conn: pc, Username: user, Password: pass, Realm: realm, LoggerFactory: lf})
	if err != nil {
		return nil, nil, fmt.Errorf("client: %w", err)
	}
	if err := client.Listen(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("listen: %w", err)
	}
	relay, err := client.Allocate()
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("Allocate: %w", err)
	}
	return client, relay, nil
}
