package signal

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/signal/proto"
)

// AdminConfig is the `Admin` section of etc/rtcd.yaml: the admin API under
// /api/v1/admin (docs/admin-api.yaml), for an operator's tools to see and
// moderate rooms with the same effects as a host's controls.
type AdminConfig struct {
	// Token is the bearer token every admin request must carry; "" (the
	// default) turns the admin API off, and its paths answer 404. At least
	// 16 characters; set it from the environment (${RTCD_ADMIN_TOKEN}).
	Token string `json:",optional"`
	// AllowFrom lists the CIDRs besides loopback that may call the admin
	// API; by default only 127.0.0.0/8 and ::1 may, so a leaked token is no
	// use from elsewhere. The client address is the one limits use (see
	// Signal.TrustedProxies).
	AllowFrom []string `json:",optional"`
}

// minAdminToken is the shortest admin token accepted.
const minAdminToken = 16

// Enabled reports whether the admin API is served.
func (c AdminConfig) Enabled() bool { return c.Token != "" }

// Validate names the first invalid field.
func (c AdminConfig) Validate() error {
	if c.Token != "" && len(c.Token) < minAdminToken {
		return fmt.Errorf("Admin.Token: %d characters, at least %d are needed (set RTCD_ADMIN_TOKEN)", len(c.Token), minAdminToken)
	}
	for i, s := range c.AllowFrom {
		if _, err := parsePrefixes([]string{s}); err != nil {
			return fmt.Errorf("Admin.AllowFrom[%d]: %q is not a CIDR or an address", i, s)
		}
	}
	return nil
}

// AdminRoute is one route of the admin API, with its path in go-zero's
// pattern syntax (":room"), as the daemon registers it.
type AdminRoute struct {
	Method string
	Path   string
}

// AdminRoutes are the routes the admin API serves; docs/admin-api.yaml
// describes exactly these (a daemon test checks).
var AdminRoutes = []AdminRoute{
	{http.MethodGet, "/api/v1/admin/rooms"},
	{http.MethodGet, "/api/v1/admin/rooms/:room"},
	{http.MethodDelete, "/api/v1/admin/rooms/:room"},
	{http.MethodDelete, "/api/v1/admin/rooms/:room/participants/:peer"},
	{http.MethodPost, "/api/v1/admin/rooms/:room/participants/:peer/mute"},
}

// Admin serves the admin API for one hub.
type Admin struct {
	h     *Hub
	sum   [sha256.Size]byte // of the token: compared in constant time whatever the length
	allow []netip.Prefix
	mux   *http.ServeMux
}

// NewAdmin builds the admin API of h; c must be enabled.
func NewAdmin(h *Hub, c AdminConfig) (*Admin, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.Enabled() {
		return nil, fmt.Errorf("Admin.Token: empty; the admin API is off")
	}
	allow, err := parsePrefixes(c.AllowFrom)
	if err != nil {
		return nil, fmt.Errorf("Admin.AllowFrom: %w", err)
	}
	a := &Admin{h: h, sum: sha256.Sum256([]byte(c.Token)), allow: allow, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /api/v1/admin/rooms", a.listRooms)
	a.mux.HandleFunc("GET /api/v1/admin/rooms/{room}", a.getRoom)
	a.mux.HandleFunc("DELETE /api/v1/admin/rooms/{room}", a.closeRoom)
	a.mux.HandleFunc("DELETE /api/v1/admin/rooms/{room}/participants/{peer}", a.peerAction(proto.ActionRemove))
	a.mux.HandleFunc("POST /api/v1/admin/rooms/{room}/participants/{peer}/mute", a.peerAction(proto.ActionMute))
	return a, nil
}

// ServeHTTP authorizes the request, then serves it.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(w, r) {
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authorized applies the host check, the address allowlist and the bearer
// token; failed tokens count toward the address's throttle (protocol.md §6).
func (a *Admin) authorized(w http.ResponseWriter, r *http.Request) bool {
	h := a.h
	if h.hostRefused(w, r, true) {
		return false
	}
	ip := h.clientIP(r)
	if !ip.IsLoopback() && !slices.ContainsFunc(a.allow, func(p netip.Prefix) bool { return p.Contains(ip) }) {
		h.st.err(proto.CodeForbidden)
		apiError(w, http.StatusForbidden, proto.CodeForbidden, "the admin API answers loopback addresses only (Admin.AllowFrom)")
		return false
	}
	key := ipKey(ip)
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if tok != "" && subtle.ConstantTimeCompare(sum[:], a.sum[:]) == 1 {
		return true
	}
	blocked := h.fails.blocked(key)
	h.authFailed(key, "admin token")
	if blocked {
		h.st.err(proto.CodeThrottled)
		apiError(w, http.StatusTooManyRequests, proto.CodeThrottled, "too many failed authentications; retry later")
		return false
	}
	h.st.err(proto.CodeUnauthorized)
	apiError(w, http.StatusUnauthorized, proto.CodeUnauthorized, "Authorization: Bearer <Admin.Token> required")
	return false
}

// AdminParticipant is a participant as the admin API lists it.
type AdminParticipant struct {
	ID    string      `json:"id"`
	Name  string      `json:"name"`
	State proto.State `json:"state"`
	Host  bool        `json:"host"`
	Away  bool        `json:"away"`
	Node  string      `json:"node,omitempty"` // cluster mode: the node holding the session
}

// AdminRoom is a room as the admin API lists it.
type AdminRoom struct {
	Name         string              `json:"name"`
	Media        string              `json:"media,omitempty"` // known for rooms with members on the answering node
	Settings     proto.RoomSettings  `json:"settings"`
	Participants []AdminParticipant  `json:"participants"`
	Lobby        []AdminParticipant  `json:"lobby,omitempty"`
	m            map[string]struct{} // participant ids, while merging
}

// AdminRooms lists every room: on a cluster those of every node, from the
// bus, merged with what this node knows better (media, lobby).
func (h *Hub) AdminRooms() ([]AdminRoom, error) {
	byName := map[string]*AdminRoom{}
	r := h.router
	self := r.bus.NodeID()
	r.mu.Lock()
	for name, rm := range r.rooms {
		ar := &AdminRoom{Name: name, Media: rm.media, Settings: *rm.ctl.settings(), m: map[string]struct{}{}}
		for _, m := range rm.sortedMembers() {
			node := m.node
			if node == "" {
				node = self
			}
			ar.Participants = append(ar.Participants, AdminParticipant{ID: m.id, Name: m.name, State: m.state, Host: m.host, Away: m.away, Node: node})
			ar.m[m.id] = struct{}{}
		}
		for _, w := range rm.lobby {
			ar.Lobby = append(ar.Lobby, AdminParticipant{ID: w.id, Name: w.name, Node: self})
		}
		for node, ws := range rm.remote {
			for _, w := range ws {
				ar.Lobby = append(ar.Lobby, AdminParticipant{ID: w.ID, Name: w.Name, Node: node})
			}
		}
		byName[name] = ar
	}
	r.mu.Unlock()
	all, err := r.bus.ListRooms()
	if err != nil {
		return nil, err
	}
	for name, ms := range all {
		ar := byName[name]
		if ar == nil {
			ar = &AdminRoom{Name: name, m: map[string]struct{}{}}
			if c, ok := r.bus.Control(name); ok {
				ar.Settings = *c.settings()
			}
			byName[name] = ar
		}
		for _, m := range ms {
			if _, ok := ar.m[m.ID]; !ok {
				ar.Participants = append(ar.Participants, AdminParticipant{ID: m.ID, Name: m.Name, State: m.State, Host: m.Host, Away: m.Away, Node: m.Node})
				ar.m[m.ID] = struct{}{}
			}
		}
	}
	out := make([]AdminRoom, 0, len(byName))
	for _, ar := range byName {
		if len(ar.Participants) == 0 {
			continue
		}
		slices.SortFunc(ar.Participants, func(a, b AdminParticipant) int { return strings.Compare(a.ID, b.ID) })
		out = append(out, *ar)
	}
	slices.SortFunc(out, func(a, b AdminRoom) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// errNotFound is the admin API's answer for a room or participant that is
// not there.
var errNotFound = proto.Errorf("not_found", "no such room or participant")

// AdminAct applies a host action to room as the admin API takes it: remove
// or mute target, or end the room (target ""). With a cluster it reaches
// the node of the target, or every node for end. It returns errNotFound
// when the room or participant is not there.
func (h *Hub) AdminAct(room, act, target string) *proto.Error {
	res, e := h.router.act(action{room: room, name: act, target: target})
	switch {
	case e == nil && act != proto.ActionEnd:
		h.afterAction(res, false)
		return nil
	case e == nil && res.remote != nil: // ended here, and told the other nodes
		h.afterAction(res, false)
		return nil
	case e != nil && e.Code != proto.CodeNotInRoom:
		return errNotFound
	}
	// The room has no member on this node: find it on the others.
	all, err := h.router.bus.ListRooms()
	if err != nil {
		return proto.Errorf(proto.CodeInternal, "the other nodes cannot be asked: %v", err)
	}
	ms, ok := all[room]
	if !ok {
		return errNotFound
	}
	if act == proto.ActionEnd {
		if err := h.router.bus.Command("", Command{Room: room, Action: act}); err != nil {
			return proto.Errorf(proto.CodeInternal, "the other nodes cannot be reached: %v", err)
		}
		h.router.mu.Lock()
		h.router.endRoom(room)
		h.router.mu.Unlock()
		return nil
	}
	for _, m := range ms {
		if m.ID == target {
			if err := h.router.bus.Command(m.Node, Command{Room: room, Action: act, Target: target}); err != nil {
				return proto.Errorf(proto.CodeInternal, "the participant's node cannot be reached: %v", err)
			}
			return nil
		}
	}
	return errNotFound
}

func (a *Admin) listRooms(w http.ResponseWriter, _ *http.Request) {
	rooms, err := a.h.AdminRooms()
	if err != nil {
		logx.Errorw("signal: admin: list rooms", logx.Field("err", err.Error()))
		apiError(w, http.StatusServiceUnavailable, proto.CodeInternal, "the cluster cannot be asked right now")
		return
	}
	apiJSON(w, http.StatusOK, struct {
		Rooms []AdminRoom `json:"rooms"`
	}{rooms})
}

// roomOf reads the {room} path value, canonical; false (answered) if it
// is not a room name.
func roomOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	room, ok := proto.CanonicalRoom(r.PathValue("room"))
	if !ok {
		apiError(w, http.StatusBadRequest, proto.CodeBadRequest, "not a room name")
	}
	return room, ok
}

func (a *Admin) getRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := roomOf(w, r)
	if !ok {
		return
	}
	rooms, err := a.h.AdminRooms()
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, proto.CodeInternal, "the cluster cannot be asked right now")
		return
	}
	for _, ar := range rooms {
		if ar.Name == room {
			apiJSON(w, http.StatusOK, ar)
			return
		}
	}
	apiError(w, http.StatusNotFound, errNotFound.Code, "no room "+proto.Clip(room, 64))
}

func (a *Admin) closeRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := roomOf(w, r)
	if !ok {
		return
	}
	a.answer(w, room, proto.ActionEnd, "", a.h.AdminAct(room, proto.ActionEnd, ""))
}

func (a *Admin) peerAction(act string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		room, ok := roomOf(w, r)
		if !ok {
			return
		}
		peer := r.PathValue("peer")
		a.answer(w, room, act, peer, a.h.AdminAct(room, act, peer))
	}
}

// answer replies 204 to a done action, else the error's status.
func (a *Admin) answer(w http.ResponseWriter, room, act, peer string, e *proto.Error) {
	switch {
	case e == nil:
		logx.Infow("signal: admin action", logx.Field("room", room), logx.Field("action", act), logx.Field("peer", peer))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	case e == errNotFound:
		apiError(w, http.StatusNotFound, e.Code, e.Message)
	default:
		apiError(w, http.StatusServiceUnavailable, e.Code, e.Message)
	}
}
