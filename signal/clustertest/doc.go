// Package clustertest holds the multi-node tests of signal's cluster mode:
// whole rtcd nodes (internal/daemon) sharing rooms through a real
// redis-server that each test starts on a free loopback port and stops.
// It has no non-test code.
package clustertest
