// Package clustertest holds the multi-node tests of signal's cluster mode:
// nodes built as internal/daemon builds them, a signal.Hub with the Redis
// bus (signal/redisbus) serving /ws on a loopback port, sharing rooms
// through a real redis-server that each test starts on a free loopback port
// and stops (internal/redistest). The tests that need each node's TURN relay
// are internal/daemon's. It has no non-test code.
package clustertest
