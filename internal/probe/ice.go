package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"

	"github.com/rtcd/rtcd/internal/callback"
)

// endpoint is one STUN or TURN URL from the hello reply.
type endpoint struct {
	url       string
	stun      bool
	host      string
	port      int
	transport string // UDP, TCP or TLS (client to server)
}

func (e endpoint) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// name is the check name, in the words of the /diag page.
func (e endpoint) name() string {
	kind := "TURN"
	if e.stun {
		kind = "STUN"
	}
	return kind + " " + e.addr() + " " + e.transport
}

func parseEndpoint(raw string) (endpoint, error) {
	u, err := stun.ParseURI(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("unparsable ICE server URL %q: %w", raw, err)
	}
	e := endpoint{url: raw, host: u.Host, port: u.Port, transport: "UDP"}
	switch u.Scheme {
	case stun.SchemeTypeSTUN:
		e.stun = true
	case stun.SchemeTypeSTUNS:
		e.stun, e.transport = true, "TLS"
	case stun.SchemeTypeTURN:
		if u.Proto == stun.ProtoTypeTCP {
			e.transport = "TCP"
		}
	case stun.SchemeTypeTURNS:
		e.transport = "TLS"
	default:
		return endpoint{}, fmt.Errorf("unknown scheme in ICE server URL %q", raw)
	}
	return e, nil
}

// stunBinding sends STUN Binding requests over UDP (retransmitting as RFC
// 8489 §6.2.1 suggests) and reports the mapped address.
func stunBinding(ctx context.Context, ep endpoint) (string, error) {
	if ep.transport != "UDP" {
		return "", fmt.Errorf("%s: only STUN over UDP is checked", ep.url)
	}
	raddr, err := net.ResolveUDPAddr("udp", ep.addr())
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ep.addr(), err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", ep.addr(), err)
	}
	defer conn.Close()
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 1500)
	rto := 250 * time.Millisecond
	for {
		if _, err := conn.Write(req.Raw); err != nil {
			return "", fmt.Errorf("send to %s: %w", ep.addr(), err)
		}
		wait := time.Now().Add(rto)
		if d, ok := ctx.Deadline(); ok && d.Before(wait) {
			wait = d
		}
		_ = conn.SetReadDeadline(wait)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return "", fmt.Errorf("no answer from %s: %w", ep.addr(), ctx.Err())
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // retransmit
				}
				return "", fmt.Errorf("read from %s: %w", ep.addr(), err)
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if err := res.Decode(); err != nil || res.TransactionID != req.TransactionID {
				continue
			}
			var xor stun.XORMappedAddress
			if err := xor.GetFrom(res); err != nil {
				return "", fmt.Errorf("answer from %s has no mapped address: %w", ep.addr(), err)
			}
			return fmt.Sprintf("your public address %s", xor.String()), nil
		}
		if rto < 2*time.Second {
			rto *= 2
		}
	}
}

// turnAllocate makes a TURN allocation over the endpoint's transport with
// the credentials from hello, and reports the relay address.
func turnAllocate(ctx context.Context, ep endpoint, user, pass, serverName string, roots *x509.CertPool) (string, error) {
	var conn net.PacketConn
	var d net.Dialer
	switch ep.transport {
	case "UDP":
		pc, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			return "", fmt.Errorf("open UDP socket: %w", err)
		}
		conn = pc
	case "TCP":
		c, err := d.DialContext(ctx, "tcp", ep.addr())
		if err != nil {
			return "", fmt.Errorf("connect TCP %s: %w", ep.addr(), err)
		}
		conn = turn.NewSTUNConn(c)
	case "TLS":
		name := ep.host
		if net.ParseIP(name) != nil && serverName != "" && net.ParseIP(serverName) == nil {
			name = serverName // an IP in the URL: verify the deployment's name
		}
		td := tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: name, RootCAs: roots, MinVersion: tls.VersionTLS12}}
		c, err := td.DialContext(ctx, "tcp", ep.addr())
		if err != nil {
			return "", fmt.Errorf("TLS to %s: %w", ep.addr(), err)
		}
		conn = turn.NewSTUNConn(c)
	}
	defer conn.Close()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: ep.addr(),
		TURNServerAddr: ep.addr(),
		Conn:           conn,
		Username:       user,
		Password:       pass,
		LoggerFactory:  lf,
	})
	if err != nil {
		return "", fmt.Errorf("TURN client: %w", err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		return "", fmt.Errorf("TURN client: %w", err)
	}
	// The pion client retransmits on its own; closing it on timeout wakes
	// the pending transaction.
	stop := callback.AfterFunc(ctx, func() { client.Close(); _ = conn.Close() })
	defer stop()
	relay, err := client.Allocate()
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("no answer from %s over %s: %w", ep.addr(), ep.transport, ctx.Err())
		}
		return "", fmt.Errorf("allocate on %s over %s: %w", ep.addr(), ep.transport, err)
	}
	addr := relay.LocalAddr().String()
	_ = relay.Close()
	return "relay address " + addr, nil
}
