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
// live in one type (router), which tells a room bus (RoomBus) what other
// nodes must learn. A hub alone runs the local bus and needs nothing but
// memory; given the Redis bus (Hub.StartBus, package signal/redisbus,
// docs/cluster.md) the router also mirrors the peers of other nodes and
// room capacity is counted across nodes, so that several nodes serve rooms
// together.
//
// The package imports auth for credentials and tokens, and gets the relay's
// STUN/TURN URLs as data (ICEURLs); it never imports turn, nor a bus.
package signal
