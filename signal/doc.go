// Package signal is rtcd's WebSocket signaling hub (docs/protocol.md, v1).
//
// It introduces the peers of a room to each other, relays their offers,
// answers and ICE candidates to exactly the peer each is addressed to (never a
// broadcast), and hands every client that said hello the ICE servers it needs,
// with fresh TURN REST credentials that it refreshes before they expire.
//
// Each WebSocket has one reader (the HTTP handler goroutine) and one writer
// goroutine draining a bounded per-session outbox, so a slow client is
// disconnected instead of stalling anyone else. Room membership and delivery
// live in one type (router). In cluster mode (Hub.StartCluster,
// docs/cluster.md) the router also mirrors the peers of other nodes, fed
// through Redis pub/sub, and room capacity is checked in Redis, so that
// several nodes serve rooms together; without it a hub needs nothing but
// memory.
//
// The package imports auth for credentials and tokens, and gets the relay's
// STUN/TURN URLs as data (ICEURLs); it never imports turn.
package signal
