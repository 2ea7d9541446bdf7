// Package client is a Go peer for rtcd: it speaks the v1 signaling protocol
// (docs/protocol.md) over a WebSocket and drives one pion/webrtc
// PeerConnection per remote peer, using MDN "perfect negotiation" with the
// server-assigned polite flag.
//
// It exists so that the relay can be proven without a browser: the end-to-end
// tests, `rtcd probe` and the network-namespace NAT matrix all place real
// calls with it, and it interoperates with the web app (same protocol, same
// "chat" data channel).
package client
