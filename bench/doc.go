// Package bench implements `rtcd bench`: load generators that measure a TURN relay
// (any server that accepts TURN REST credentials), the raw-UDP loopback limit, and
// rtcd's WebSocket signaling, so that rtcd can be compared with coturn and with the
// machine itself in one run (issue 7). All traffic it generates is addressed to an
// echo peer it starts on loopback and to the server named on the command line; every
// load loop is bounded in duration and count.
package bench
