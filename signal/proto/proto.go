package proto

// Version is the protocol version: the v field of every message.
const Version = 1

// V1 is Version as the raw v field a client sends in ClientMessage.
var V1 = []byte("1")

// Message types (docs/protocol.md §3).
const (
	TypeHello       = "hello"        // client → server, and the server's reply
	TypeJoin        = "join"         // client → server
	TypeJoined      = "joined"       // reply to join
	TypeLeave       = "leave"        // client → server
	TypeLeft        = "left"         // reply to leave
	TypeSignal      = "signal"       // offer/answer/candidate/restart, both ways
	TypeUpdate      = "update"       // client → server: name or media state
	TypeICE         = "ice"          // fresh ICE servers: a request and its reply or push
	TypePing        = "ping"         // client → server
	TypePong        = "pong"         // reply to ping
	TypeError       = "error"        // server → client
	TypeBye         = "bye"          // server → client, before it closes the socket
	TypePeerJoined  = "peer-joined"  // server → client
	TypePeerLeft    = "peer-left"    // server → client
	TypePeerUpdated = "peer-updated" // server → client
	TypeMedia       = "media"        // server → client: the room now carries media another way
	// Host controls (docs/protocol.md §3.11).
	TypeHost        = "host"         // client → server: a host action; the server echoes it when done
	TypeRoomUpdated = "room-updated" // server → client: the room's settings or your host role changed
	TypeLobby       = "lobby"        // server → hosts: who waits in the lobby, the whole list
	TypeWaiting     = "waiting"      // reply to join: you wait in the lobby for a host
	TypeHostRequest = "host-request" // server → client: a host asks you to mute or unmute
)

// ClientTypes are the types a client may send, in the order the hub's
// statistics list them.
var ClientTypes = []string{TypeHello, TypeJoin, TypeLeave, TypeSignal, TypeUpdate, TypeICE, TypePing, TypeHost}

// ServerTypes are the types the server sends.
var ServerTypes = []string{TypeHello, TypeJoined, TypeLeft, TypeSignal, TypeICE, TypePong, TypeError, TypeBye,
	TypePeerJoined, TypePeerLeft, TypePeerUpdated, TypeMedia, TypeHost, TypeRoomUpdated, TypeLobby, TypeWaiting,
	TypeHostRequest}

// Error codes (docs/protocol.md §4). Stable: programs match on them.
const (
	CodeBadRequest         = "bad_request"
	CodeUnknownType        = "unknown_type"
	CodeMissingField       = "missing_field"
	CodeUnsupportedVersion = "unsupported_version"
	CodeHelloRequired      = "hello_required"
	CodeAlreadyHello       = "already_hello"
	CodeUnauthorized       = "unauthorized"
	CodeTokenExpired       = "token_expired"
	CodeForbidden          = "forbidden"
	CodeThrottled          = "throttled"
	CodeNoSuchSession      = "no_such_session"
	CodeNotInRoom          = "not_in_room"
	CodeAlreadyJoined      = "already_joined"
	CodeRoomFull           = "room_full"
	CodeUnknownPeer        = "unknown_peer"
	CodeRateLimited        = "rate_limited"
	CodeInternal           = "internal"
	// Host controls (§3.11).
	CodeNotHost          = "not_host"          // a host action from someone who is not a host of the room
	CodeRoomLocked       = "room_locked"       // locked room and no host there to let you in
	CodePasswordRequired = "password_required" // the room has a password and join carried none
	CodeWrongPassword    = "wrong_password"    // join's password is not the room's
	CodeLobbyDenied      = "lobby_denied"      // a host turned you away from the lobby
	CodeRemoved          = "removed"           // a host removed you; you cannot come back while the room lasts
	CodeRoomEnded        = "room_ended"        // a host ended the meeting for everyone
)

// ErrorCodes lists every error code, in the order the hub's statistics list them.
var ErrorCodes = []string{
	CodeBadRequest, CodeUnknownType, CodeMissingField, CodeUnsupportedVersion, CodeHelloRequired,
	CodeAlreadyHello, CodeUnauthorized, CodeTokenExpired, CodeForbidden, CodeThrottled, CodeNoSuchSession,
	CodeNotInRoom, CodeAlreadyJoined, CodeRoomFull, CodeUnknownPeer, CodeRateLimited, CodeInternal,
	CodeNotHost, CodeRoomLocked, CodePasswordRequired, CodeWrongPassword, CodeLobbyDenied, CodeRemoved, CodeRoomEnded,
}

// Host actions: the action of a host message (§3.11). Only a host of the
// room may send one; the server enforces each, and the page only shows them.
const (
	ActionLock      = "lock"       // joins wait in the lobby until a host admits them
	ActionUnlock    = "unlock"     // joins enter again; whoever waits is admitted
	ActionPassword  = "password"   // set the room's password (password ""/absent clears it)
	ActionAdmit     = "admit"      // let peer in from the lobby
	ActionDeny      = "deny"       // turn peer away from the lobby
	ActionMute      = "mute"       // mute peer: shown muted at once, and asked to turn its microphone off
	ActionAskUnmute = "ask-unmute" // ask peer to unmute; nobody can unmute someone else
	ActionRemove    = "remove"     // take peer out of the room for the rest of its life
	ActionEnd       = "end"        // end the meeting for everyone
)

// HostActions lists every host action.
var HostActions = []string{ActionLock, ActionUnlock, ActionPassword, ActionAdmit, ActionDeny, ActionMute,
	ActionAskUnmute, ActionRemove, ActionEnd}

// PeerAction reports whether a host action names a peer (field peer).
func PeerAction(a string) bool {
	switch a {
	case ActionAdmit, ActionDeny, ActionMute, ActionAskUnmute, ActionRemove:
		return true
	}
	return false
}

// RoleHost is the join token role (auth.Claims.Role) that makes its holder a
// host of the room it joins, with no host hand-over away from token hosts.
const RoleHost = "host"

// Signal kinds (docs/protocol.md §3.6); the server never looks inside data.
const (
	KindOffer     = "offer"
	KindAnswer    = "answer"
	KindCandidate = "candidate"
	KindRestart   = "restart"
	// KindLayers (client → SFUPeer) reports the size of each remote
	// participant's video tile (Layers), so the server forwards the
	// simulcast layer that fills it and no more.
	KindLayers = "layers"
	// KindSpeaker (SFUPeer → client) names the dominant speaker (Speaker).
	KindSpeaker = "speaker"
)

// Media modes: how a room carries audio and video (joined.media, media.mode).
const (
	// MediaMesh: every pair of peers has its own PeerConnection.
	MediaMesh = "mesh"
	// MediaSFU: every peer has one PeerConnection to the server's media
	// server (SFUPeer), which forwards each track to the others.
	MediaSFU = "sfu"
)

// SFUPeer is the peer id of the server's media server: a client in an SFU
// room addresses its signals to it, and the server's come from it. Session
// ids start with "p_", so no peer can have this id.
const SFUPeer = "sfu"

// ByeServerRestart is the reason of the bye a stopping server sends when the
// client should come back (reconnect: true) after retryAfterMs.
const ByeServerRestart = "server-restart"

// Close is a WebSocket close code with its reason text.
type Close struct {
	Code   int
	Reason string
}

// WebSocket close codes the server uses (RFC 6455 §7.4.1).
const (
	ClosePolicyViolation = 1008
	CloseGoingAway       = 1001
	CloseNormal          = 1000 // sent by a client, it ends the session at once
	CloseTooBig          = 1009
)

// Every close the server initiates (docs/protocol.md §3.9).
var (
	CloseHelloTimeout = Close{ClosePolicyViolation, "hello timeout"}
	CloseVersion      = Close{ClosePolicyViolation, "unsupported version"}
	CloseFlood        = Close{ClosePolicyViolation, "message flood"}
	CloseThrottled    = Close{ClosePolicyViolation, "auth throttled"}
	CloseReplaced     = Close{ClosePolicyViolation, "replaced"}
	CloseIdle         = Close{CloseGoingAway, "idle timeout"}
	CloseShutdown     = Close{CloseGoingAway, "server shutting down"}
)

// Limits of the protocol itself; the hub's configurable limits are sent in
// the hello reply (Limits).
const (
	// MaxMessageBytes is the largest frame a client may send; larger frames
	// close the socket with 1009. 64 KiB fits any SDP a browser produces.
	MaxMessageBytes = 64 << 10
	// MaxIDBytes bounds request ids and client ids.
	MaxIDBytes = 64
	// MaxNameRunes bounds display names.
	MaxNameRunes = 64
	// MaxRoomRunes bounds room names, counted after NFC normalization.
	MaxRoomRunes = 64
	// MaxRoomBytes bounds a room name before normalization: 64 characters of
	// up to 4 bytes.
	MaxRoomBytes = 256
	// MaxTiles bounds the tiles of a layers signal: more than a room holds.
	MaxTiles = 256
	// MaxTileSide bounds a tile's width and height in CSS pixels.
	MaxTileSide = 16384
	// MaxPasswordRunes bounds room passwords.
	MaxPasswordRunes = 64
	// DefaultName is the display name of a hello without one.
	DefaultName = "guest"
)

// The data channel between two peers, which the server never sees. Both
// sides create it as a negotiated channel (negotiated: true, id 0) with the
// PeerConnection, so neither waits for the other to open it, and send
// DataMessage as JSON text.
const (
	DataChannelLabel        = "rtcd"
	DataChannelID    uint16 = 0
)

// Data channel message types (DataMessage.T).
const (
	DataChat   = "chat"   // a chat line: Text
	DataBye    = "bye"    // the sender is leaving the call
	DataRebind = "rebind" // the sender has a new signaling id (PeerID) after losing its session
)

// MaxChatRunes is how much of a chat line a receiver shows.
const MaxChatRunes = 2000
