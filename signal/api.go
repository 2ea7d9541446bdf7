package signal

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rtcd/rtcd/auth"

	"github.com/rtcd/rtcd/signal/proto"
)

// API paths served by APIHandler.
const (
	PathICEServers = "/api/v1/ice-servers"
	PathTURN       = "/api/v1/turn"
)

// APIHandler serves GET /api/v1/ice-servers and GET /api/v1/turn (full
// paths) for apps that do their own signaling (protocol.md §8). The same
// rules as for /ws decide who gets credentials: a token in token mode, an
// allowed origin in open mode.
func (h *Hub) APIHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathICEServers, func(w http.ResponseWriter, r *http.Request) {
		user, ok := h.apiAuth(w, r)
		if !ok {
			return
		}
		if user == "" {
			user = auth.RandomUser("api")
		}
		s := &session{user: user}
		servers, cred := h.iceServers(s)
		apiJSON(w, http.StatusOK, iceHTTP{IceServers: servers, IceTTL: int64(cred.TTL / time.Second), IceExpires: cred.Expires.Unix()})
	})
	mux.HandleFunc(PathTURN, func(w http.ResponseWriter, r *http.Request) {
		user, ok := h.apiAuth(w, r)
		if !ok {
			return
		}
		if svc := r.URL.Query().Get("service"); svc != "turn" {
			apiError(w, http.StatusBadRequest, proto.CodeBadRequest, "service must be turn")
			return
		}
		if user == "" {
			label := "api"
			if u := r.URL.Query().Get("username"); u != "" {
				n, err := proto.CleanName(u)
				if err != nil || n == "" || strings.ContainsAny(n, ": ") {
					apiError(w, http.StatusBadRequest, proto.CodeBadRequest, "username must be 1-64 characters without ':' or spaces")
					return
				}
				label = n
			}
			// The requested username is only a label: the relay counts
			// quotas per user part, and a caller must not name another's.
			user = auth.RandomUser(label)
		}
		cred := h.issuer.Issue(user)
		uris := append(append([]string{}, h.urls.STUN...), h.urls.TURN...)
		apiJSON(w, http.StatusOK, turnREST{Username: cred.Username, Password: cred.Password,
			TTL: int64(cred.TTL / time.Second), URIs: uris})
	})
	return mux
}

// iceHTTP is the /api/v1/ice-servers response.
type iceHTTP struct {
	IceServers []proto.ICEServer `json:"iceServers"`
	IceTTL     int64             `json:"iceTTL"`
	IceExpires int64             `json:"iceExpires"`
}

// turnREST is the draft-uberti-behave-turn-rest-00 §2.2 response.
type turnREST struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	TTL      int64    `json:"ttl"`
	URIs     []string `json:"uris"`
}

// apiAuth checks host, method, origin, throttle and (token mode) the bearer token.
// In token mode it returns the token user's TURN user part (tokenUser); in
// open mode "", and the caller mints a random one.
func (h *Hub) apiAuth(w http.ResponseWriter, r *http.Request) (string, bool) {
	if h.hostRefused(w, r, true) {
		return "", false
	}
	origin, ok := h.originAllowed(r)
	if !ok {
		h.st.err(proto.CodeForbidden)
		apiError(w, http.StatusForbidden, proto.CodeForbidden, "origin not allowed")
		return "", false
	}
	if origin != "" {
		// Only allowed origins get here: let their pages read the answer.
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Vary", "Origin")
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		apiError(w, http.StatusMethodNotAllowed, proto.CodeBadRequest, "use GET")
		return "", false
	}
	if origin == "" {
		// Browsers omit Origin on same-origin GETs; Sec-Fetch-Site still
		// tells a cross-site request apart (non-browsers send neither).
		if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
			h.st.err(proto.CodeForbidden)
			apiError(w, http.StatusForbidden, proto.CodeForbidden, "cross-site request refused")
			return "", false
		}
	}
	if h.tokens == nil {
		return "", true
	}
	// As for hello: a valid token passes even from a throttled address;
	// only failures are refused there.
	key := ipKey(h.clientIP(r))
	fail := func(code, msg string) {
		blocked := h.fails.blocked(key)
		h.authFailed(key, msg)
		status := http.StatusUnauthorized
		if blocked {
			status, code, msg = http.StatusTooManyRequests, proto.CodeThrottled, "too many failed authentications; retry later"
		}
		h.st.err(code)
		apiError(w, status, code, msg)
	}
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || tok == "" {
		fail(proto.CodeUnauthorized, "Authorization: Bearer <token> required")
		return "", false
	}
	cl, err := h.tokens.Verify(strings.TrimSpace(tok))
	if err != nil {
		code, msg := proto.CodeUnauthorized, "invalid token"
		if errors.Is(err, auth.ErrTokenExpired) {
			code, msg = proto.CodeTokenExpired, "token expired"
		}
		fail(code, msg)
		return "", false
	}
	return h.tokenUser(cl.User), true
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	apiJSON(w, status, struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, msg})
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"internal","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
