// Package proto is rtcd's signaling protocol, version 1 (docs/protocol.md):
// every message type, error code, limit and wire struct, and the validating
// decoder for what clients send.
//
// It exists once so that the hub (signal), the Go client (client), the probe
// and the bench speak the same protocol and cannot drift apart; the web app's
// tests decode the same golden fixtures (testdata/*.json) as this package's
// tests, so a change on one side breaks the other's tests. It imports nothing
// of rtcd.
package proto
