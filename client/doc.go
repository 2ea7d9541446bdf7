// Package client is a Go peer for rtcd: it speaks the v1 signaling protocol
// (docs/protocol.md) over a WebSocket and drives one pion/webrtc
// PeerConnection per remote peer, using MDN "perfect negotiation" with the
// server-assigned polite flag.
//
// It is rtcd's Go SDK (docs/client.md): bots, recorders and checks join the
// same rooms as the web app and interoperate with it (same protocol, same
// data channel). It also proves the relay without a browser: the end-to-end
// tests, `rtcd probe` and the network-namespace NAT matrix place real calls
// with it. The wire types come from signal/proto.
package client
