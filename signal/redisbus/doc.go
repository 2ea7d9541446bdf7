// Package redisbus is the room bus of cluster mode (docs/cluster.md):
// several rtcd nodes share rooms through one Redis. It implements
// signal.RoomBus; internal/daemon builds it from the Cluster section of
// etc/rtcd.yaml (Config) and hands it to the hub.
//
// Each node is the authority on its own sessions; the others mirror them as
// placeholders in their rooms, fed by events on one channel that every node
// subscribes to. Room membership and capacity live in one Redis hash per
// room, changed by Lua scripts (join.lua, sync.lua) that also publish the
// change, so that a joining node gets its snapshot at its exact place among
// the events. Targeted messages (signals, session take-overs) go to the
// addressee's node on that node's own channel. Nodes heartbeat through
// Redis; a silent node's peers leave the rooms after NodeTTL.
//
// The messages between nodes (wire.go) are this package's own protocol,
// not the client protocol of signal/proto. The package imports signal for
// the bus's types; signal never imports it.
package redisbus
