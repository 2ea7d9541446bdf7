package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// iceServer is one iceServers entry from the hello reply.
type iceServer struct {
	URLs       []string
	Username   string
	Credential string
}

type helloInfo struct {
	peerID  string
	servers []iceServer
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
	hello := map[string]any{"v": 1, "type": "hello", "id": "probe", "name": "rtcd-probe"}
	if r.opts.Token != "" {
		hello["token"] = r.opts.Token
	}
	if err := ws.WriteJSON(hello); err != nil {
		return "", fmt.Errorf("send hello: %w", err)
	}
	for {
		var m struct {
			Type       string `json:"type"`
			PeerID     string `json:"peerId"`
			Code       string `json:"code"`
			Message    string `json:"message"`
			ICEServers []struct {
				URLs       json.RawMessage `json:"urls"`
				Username   string          `json:"username"`
				Credential string          `json:"credential"`
			} `json:"iceServers"`
			ICEExpires int64 `json:"iceExpires"`
		}
		if err := ws.ReadJSON(&m); err != nil {
			return "", fmt.Errorf("read hello reply: %w", err)
		}
		switch m.Type {
		case "error":
			return "", &errServer{code: m.Code, message: m.Message}
		case "hello":
		default:
			continue
		}
		info := &helloInfo{peerID: m.PeerID}
		turns, stuns := 0, 0
		for _, s := range m.ICEServers {
			var urls []string
			if err := json.Unmarshal(s.URLs, &urls); err != nil {
				var one string
				if err := json.Unmarshal(s.URLs, &one); err != nil {
					return "", fmt.Errorf("hello reply: bad iceServers urls %s", s.URLs)
				}
				urls = []string{one}
			}
			for _, u := range urls {
				if len(u) >= 4 && u[:4] == "turn" {
					turns++
				} else {
					stuns++
				}
			}
			info.servers = append(info.servers, iceServer{URLs: urls, Username: s.Username, Credential: s.Credential})
		}
		if turns == 0 {
			return "", errNoTURN
		}
		for _, s := range info.servers {
			for _, u := range s.URLs {
				if len(u) >= 4 && u[:4] == "turn" && (s.Username == "" || s.Credential == "") {
					return "", errNoCredentials
				}
			}
		}
		if m.ICEExpires > 0 {
			info.expires = time.Unix(m.ICEExpires, 0)
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
