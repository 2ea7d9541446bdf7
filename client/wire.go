package client

import (
	"encoding/json"

	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/signal/proto"
)

// PeerInfo describes another peer in the room, as the server announces it.
type PeerInfo = proto.PeerInfo

// Limits are the server's advertised limits from the hello reply.
type Limits = proto.Limits

// frame is one server message: the envelope every type shares and, for
// hello and ice, the ICE servers only they carry.
type frame struct {
	proto.ServerMessage
	hello *proto.Hello // set for hello
	ice   *proto.ICE   // set for hello (its ICE fields) and ice
}

// decodeFrame decodes a server message, twice for hello and ice, whose
// fields are not in the shared envelope.
func decodeFrame(b []byte) (frame, error) {
	var f frame
	if err := json.Unmarshal(b, &f.ServerMessage); err != nil {
		return f, err
	}
	switch f.Type {
	case proto.TypeHello:
		f.hello = new(proto.Hello)
		if err := json.Unmarshal(b, f.hello); err != nil {
			return f, err
		}
		f.ice = &proto.ICE{IceServers: f.hello.IceServers, IceTTL: f.hello.IceTTL, IceExpires: f.hello.IceExpires}
	case proto.TypeICE:
		f.ice = new(proto.ICE)
		if err := json.Unmarshal(b, f.ice); err != nil {
			return f, err
		}
	}
	return f, nil
}

// ServerError is an `error` message from the server (docs/protocol.md §4).
type ServerError struct {
	Code    string
	Message string
}

func (e *ServerError) Error() string { return "client: server error " + e.Code + ": " + e.Message }

// iceConfig converts the wire form into pion's configuration type.
func iceConfig(in []proto.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		srv := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			srv.Credential = s.Credential
			srv.CredentialType = webrtc.ICECredentialTypePassword
		}
		out = append(out, srv)
	}
	return out
}
