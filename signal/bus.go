package signal

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/rtcd/rtcd/auth"
	"github.com/rtcd/rtcd/signal/proto"
)

// RoomBus carries rooms between the nodes that serve them together. The
// router calls it at every membership change of a local peer and for every
// signal to a peer of another node; the bus applies the other nodes' news to
// this node's rooms through Rooms. A hub that is given no bus (Hub.StartBus)
// runs the local bus: one node, nothing shared, nothing to ask.
//
// The Redis bus (package signal/redisbus, docs/cluster.md) is the other
// implementation. Each node is the authority on its own sessions; the others
// mirror them as placeholders in their rooms.
type RoomBus interface {
	// Start hands the bus this hub's rooms before the hub serves: from then
	// on it applies the other nodes' presence to them.
	Start(rooms *Rooms)
	// Stop leaves the other nodes; when it returns, nothing of the bus runs
	// or calls into the rooms any more. Hub.Stop calls it once, after every
	// socket is closed.
	Stop()
	// NodeID names this node to the others, and ends its resume tokens, so
	// that whichever node a client resumes on finds the session's node. ""
	// on the local bus.
	NodeID() string
	// Health is nil while the node is connected to the other nodes;
	// otherwise it says why not (rooms then work on this node only). It
	// backs Hub.Ready and so /readyz.
	Health() error
	// ICEURLs are the STUN/TURN URLs handed to clients: own (this node's)
	// first, then those of the other live nodes if the bus shares them, so
	// that a client has a fallback relay.
	ICEURLs(own ICEURLs) ICEURLs

	// Join places a peer in a room on every node, with the room's capacity
	// counted across nodes. The bus calls j.Begin, then either j.Abort or
	// j.Complete with the room's members at the point of its news where the
	// join took effect, so that no presence change is missed or seen twice.
	// JoinLocal means the bus cannot place the peer now: the router places
	// it on this node alone, and the bus tells the other nodes once it can.
	Join(j *Joining) JoinResult
	// Leave tells the other nodes that a peer of this node left room, and
	// says whether anyone is left in it on a live node, so that exactly
	// one node reports the room's end (the leave that emptied it).
	Leave(room, peer string) RoomLeft
	// Update tells the other nodes what a peer of this node in room looks
	// like now (name, state, away).
	Update(room string, m Member)

	// Signal hands msg from peer from to peer to, which lives on node,
	// exactly once or not at all: an error means the sender is told that
	// the peer cannot be reached, instead of silence.
	Signal(node, from, to, room string, msg []byte) error
	// Hold keeps msg for peer to if this node is taking that peer over right
	// now, so that it is delivered after the signals the old node forwards.
	// Called with the router's lock held, so that a signal is either held
	// before the peer enters its room here or delivered to it after.
	Hold(to string, msg []byte) bool
	// Drain takes the signals held or forwarded for a peer this node is
	// taking over: as the peer enters its room (with the router's lock held,
	// so that nothing is held after), or to drop them when the take-over
	// ends without it.
	Drain(peer string) [][]byte

	// TakeOver fetches from node the session of resume token tok, with the
	// signals queued for it, because its client resumed on this node; nil
	// if no node has it any more.
	TakeOver(node, tok string) (*SessionRecord, [][]byte)
	// SaveSessions leaves the sessions of a stopping node (by resume token)
	// where the other nodes find them for ttl, so that the clients told to
	// reconnect resume there.
	SaveSessions(recs map[string]SessionRecord, ttl time.Duration)

	// MediaNode names the node that carries the media of room: the live
	// node that claimed it first, or this node, which claims it now if no
	// live node holds the claim (the claim of a node whose presence expired
	// is taken over). "" or NodeID() means this node. The hub calls it, and
	// ReleaseMedia, under one lock of its own. An error says the bus could
	// not ask (the backend is unreachable): node is then this node, which
	// carries the media of its rooms as it carries the rooms themselves.
	MediaNode(room string) (node string, err error)
	// ReleaseMedia gives up this node's claim on the media of room: it
	// carries no media session of the room any more.
	ReleaseMedia(room string)
	// SetControl stores what hosts set on room (lock, password, removals)
	// where every node finds it (Control) and tells the nodes that have
	// members of it (Rooms.Controlled), so that a join is judged alike on
	// every node.
	SetControl(room string, c Control)
	// Control returns the stored control state of a room this node has no
	// member of; false if there is none or the bus cannot ask.
	Control(room string) (Control, bool)
	// Lobby tells the other nodes who of this node waits in room's lobby
	// now (Rooms.Lobbied), so that hosts anywhere see and admit them.
	Lobby(room string, waiting []Member)
	// Members lists the members of room on live nodes, for a locked room
	// this node has no member of: whether a host is in it to let a joiner
	// in, and where the room's presence starts while the joiner waits here
	// (the bus's news about the room applies from then on). nil and no
	// error on the local bus, where this node's rooms are all there is.
	Members(room string) ([]Member, error)
	// ListRooms lists every room of the cluster with its members, for the
	// admin API; nil (and no error) on the local bus, where this node's
	// rooms are all there is.
	ListRooms() (map[string][]Member, error)
	// Command hands a host action on a peer of node to that node
	// (Rooms.Command), or with node "" to every other node (end). An error
	// says it could not be delivered.
	Command(node string, c Command) error

	// CountFailure adds one failure of key (hostctl.go: an address's wrong
	// room password) to a count that every node shares, which starts with
	// the key's first failure and lasts window, and returns the count. ok
	// is false when the bus shares no count (the local bus) or cannot
	// reach it: the hub then goes by its own count alone.
	CountFailure(key string, window time.Duration) (n int, ok bool)
	// Failures reads key's shared count of CountFailure (0 once its window
	// is over); ok as there.
	Failures(key string) (n int, ok bool)

	// MediaSignal hands sig, from a client of this node, to node, which
	// carries the media of the client's room (a MediaNode answer), exactly
	// once or not at all. That node's hub opens the client's media session
	// there (Rooms.MediaSignal) and sends the media server's signals back
	// with Signal, from proto.SFUPeer.
	MediaSignal(node string, sig MediaSignal) error
}

// MediaSignal is a client's signal for the media server of another node, as
// nodes exchange it. Nodes exchange its JSON form, so the form does not
// change.
type MediaSignal struct {
	Room string          `json:"room"`
	Peer string          `json:"peer"`         // the client's peer id, on the sending node
	ID   string          `json:"id,omitempty"` // the client's request id, echoed by an error
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data,omitempty"`
	// Held says a host's mute holds the client's audio as of this signal:
	// the media node applies it to the client's media session first. A
	// MediaSignal without Kind carries only this, for a session that is
	// open already.
	Held bool `json:"held,omitempty"`
}

// JoinResult is how RoomBus.Join ended.
type JoinResult int

const (
	JoinDone    JoinResult = iota // the peer is in the room (or ended meanwhile and was taken out again)
	JoinFull                      // the room has RoomSize peers across nodes
	JoinLocal                     // the bus cannot place it: the router joins it on this node only
	JoinAlready                   // the peer is in a room already
)

// RoomLeft is what RoomBus.Leave learned of the room the peer left.
type RoomLeft int

const (
	LeftUnknown RoomLeft = iota // the bus cannot tell (the local bus, or its backend unreachable): the node goes by its own view
	LeftInUse                   // members of live nodes remain
	LeftEmpty                   // the leave took the last member of a live node out: the room is over
)

// Member is a peer of a room as nodes describe it to each other. Nodes
// store and exchange its JSON form, so the form does not change.
type Member struct {
	ID    string      `json:"id"`
	Node  string      `json:"node"` // the node holding the session
	Name  string      `json:"name"`
	State proto.State `json:"state"`
	Away  bool        `json:"away,omitempty"`
	Host  bool        `json:"host,omitempty"`  // a host of the room
	Since int64       `json:"since,omitempty"` // when it entered the room (unix ms), for the host hand-over
}

// SessionRecord is a session as one node hands it to another that takes it
// over, and as a stopping node leaves it for the resume window. Nodes
// exchange its JSON form, so the form does not change.
type SessionRecord struct {
	Peer   string       `json:"peer"`
	User   string       `json:"user"`
	Claims *auth.Claims `json:"claims,omitempty"`
	Name   string       `json:"name"`
	State  proto.State  `json:"state"`
	Room   string       `json:"room,omitempty"`
	Client string       `json:"client,omitempty"`
	Host   bool         `json:"host,omitempty"`
	Since  int64        `json:"since,omitempty"`
	Held   bool         `json:"held,omitempty"` // a host's mute holds its audio
}

// Joining is one join handed to RoomBus.Join. The bus orders its steps
// around its own round trips; the router does the bookkeeping of each.
type Joining struct {
	Room    string // the room joined
	Peer    string // the joining peer's id
	Resumed bool   // a session taken over from another node: it may count in the room already, and gets no joined reply

	r   *router
	s   *session
	id  string   // the join request's id, echoed in joined
	ctl *Control // the room's stored control state, for a room new to this node
}

// Begin marks the peer as joining, so that this node's membership lists it
// while the bus places it, and describes it as the other nodes will see
// it. It fails if the peer is in a room already.
func (j *Joining) Begin() (Member, bool) { return j.r.beginJoin(j.s, j.Room, j.Resumed) }

// Abort undoes Begin: the room is full or the bus failed.
func (j *Joining) Abort() { j.r.abortJoin(j.s) }

// Complete puts the peer into the room: members is the room as the bus had
// it when the join took effect, which replaces what this node knew of the
// other nodes' peers there. It returns false if the session ended
// meanwhile; the bus then takes the peer out again (Leave).
func (j *Joining) Complete(members []Member) bool {
	if members == nil {
		members = []Member{} // nil would mean: keep what is known
	}
	return j.r.completeJoin(j.s, j.Room, j.id, members, j.Resumed, j.ctl)
}

// Member describes the peer as it is now in the room (its host role
// decided), false if it is not in the room. A bus whose full sync stored
// the peer as Begin described it, while the join was in flight, rewrites
// the peer's entry with it.
func (j *Joining) Member() (Member, bool) { return j.r.memberNow(j.s, j.Room) }

// memberNow describes s for the other nodes if it is in room name.
func (r *router) memberNow(s *session, name string) (Member, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.room == nil || s.room.name != name {
		return Member{}, false
	}
	return memberOf(s, r.bus.NodeID()), true
}

// errNoOtherNode is a signal for a peer of another node on a hub that has
// no other node; it cannot happen, since such a hub has no such peers.
var errNoOtherNode = errors.New("signal: no other node")

// localBus is the room bus of a node alone: every room lives on this node,
// so there is nothing to tell and no one to ask.
type localBus struct{}

func (localBus) Start(*Rooms)                                         {}
func (localBus) Stop()                                                {}
func (localBus) NodeID() string                                       { return "" }
func (localBus) Health() error                                        { return nil }
func (localBus) ICEURLs(own ICEURLs) ICEURLs                          { return own }
func (localBus) Join(*Joining) JoinResult                             { return JoinLocal }
func (localBus) Leave(string, string) RoomLeft                        { return LeftUnknown }
func (localBus) Update(string, Member)                                {}
func (localBus) Signal(string, string, string, string, []byte) error  { return errNoOtherNode }
func (localBus) Hold(string, []byte) bool                             { return false }
func (localBus) Drain(string) [][]byte                                { return nil }
func (localBus) TakeOver(string, string) (*SessionRecord, [][]byte)   { return nil, nil }
func (localBus) SaveSessions(map[string]SessionRecord, time.Duration) {}
func (localBus) MediaNode(string) (string, error)                     { return "", nil }
func (localBus) ReleaseMedia(string)                                  {}
func (localBus) MediaSignal(string, MediaSignal) error                { return errNoOtherNode }
func (localBus) SetControl(string, Control)                           {}
func (localBus) Control(string) (Control, bool)                       { return Control{}, false }
func (localBus) Command(string, Command) error                        { return nil }
func (localBus) Lobby(string, []Member)                               {}
func (localBus) Members(string) ([]Member, error)                     { return nil, nil }
func (localBus) ListRooms() (map[string][]Member, error)              { return nil, nil }
func (localBus) CountFailure(string, time.Duration) (int, bool)       { return 0, false }
func (localBus) Failures(string) (int, bool)                          { return 0, false }
