package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcd/rtcd/signal/proto"
)

type helloInfo struct {
	peerID  string
	servers []proto.ICEServer
	expires time.Time
}

// errHTTPStatus is a WebSocket upgrade refused with an HTTP status.
type errHTTPStatus struct {
	code int
	err  error
}

func (e *errHTTPStatus) Error() string {
	return fmt.Sprintf("upgrade refused: HTTP %d %s", e.code, http.StatusText(e.code))
}
func (e *errHTTPStatus) Unwrap() error { return e.err }

// errServer is an error message from the server in reply to hello.
type errServer struct{ code, message string }

func (e *errServer) Error() string { return fmt.Sprintf("server said %s: %s", e.code, e.message) }

// checkWebSocket opens the signaling socket and keeps it for checkHello.
func (r *runner) checkWebSocket(ctx context.Context) (string, error) {
	hdr := http.Header{}
	if r.opts.Origin != "" {
		hdr.Set("Origin", r.opts.Origin)
	}
	d := websocket.Dialer{HandshakeTimeout: r.opts.CheckTimeout, TLSClientConfig: r.tlsConfig()}
	ws, resp, err := d.DialContext(ctx, r.tg.wsURL, hdr)
	if err != nil {
		if resp != nil {
			return "", &errHTTPStatus{code: resp.StatusCode, err: err}
		}
		return "", fmt.Errorf("%s: %w", r.tg.wsURL, err)
	}
	r.ws = ws
	return r.tg.wsURL + " upgraded", nil
}

// checkHello sends hello and checks that the reply carries TURN credentials
// that have not already expired (a server clock far off breaks them).
func (r *runner) checkHello(ctx context.Context) (string, error) {
	ws := r.ws
	defer ws.Close()
	deadline, _ := ctx.Deadline()
	_ = ws.SetWriteDeadline(deadline)
	_ = ws.SetReadDeadline(deadline)
	name := "rtcd-probe"
	hello := proto.ClientMessage{V: proto.V1, Type: proto.TypeHello, ID: "probe", Name: &name, Token: r.opts.Token}
	if err := ws.WriteJSON(hello); err != nil {
		return "", fmt.Errorf("send hello: %w", err)
	}
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return "", fmt.Errorf("read hello reply: %w", err)
		}
		var env proto.ServerMessage
		if err := json.Unmarshal(data, &env); err != nil {
			return "", fmt.Errorf("read hello reply: %w", err)
		}
		switch env.Type {
		case proto.TypeError:
			return "", &errServer{code: env.Code, message: env.Message}
		case proto.TypeHello:
		default:
			continue
		}
		var m proto.Hello
		if err := json.Unmarshal(data, &m); err != nil {
			return "", fmt.Errorf("hello reply: %w", err)
		}
		info := &helloInfo{peerID: m.PeerID}
		turns, stuns := 0, 0
		for _, s := range m.IceServers {
			for _, u := range s.URLs {
				if strings.HasPrefix(u, "turn") {
					turns++
				} else {
					stuns++
				}
			}
		}
		info.servers = m.IceServers
		if turns == 0 {
			return "", errNoTURN
		}
		for _, s := range info.servers {
			for _, u := range s.URLs {
				if strings.HasPrefix(u, "turn") && (s.Username == "" || s.Credential == "") {
					return "", errNoCredentials
				}
			}
		}
		if m.IceExpires > 0 {
			info.expires = time.Unix(m.IceExpires, 0)
			if time.Until(info.expires) <= 0 {
				return "", fmt.Errorf("%w (expired at %s)", errExpired, info.expires.UTC().Format(time.RFC3339))
			}
		}
		r.hello = info
		detail := fmt.Sprintf("peer %s; %d STUN and %d TURN addresses", m.PeerID, stuns, turns)
		if !info.expires.IsZero() {
			detail += fmt.Sprintf("; credentials valid for %s", time.Until(info.expires).Round(time.Minute))
		}
		return detail, nil
	}
}

var (
	errNoTURN        = errors.New("the hello reply lists no TURN server")
	errNoCredentials = errors.New("a TURN server in the hello reply has no username or credential")
	errExpired       = errors.New("the TURN credentials are already expired")
)
