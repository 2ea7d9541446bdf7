// Package netns holds the NAT connectivity matrix: a test that builds network
// namespaces (a "public" host running rtcd, and two peers each behind its
// own nftables router), then places real calls between Go peers across
// port-preserving NAT, symmetric NAT, a UDP-blocked network and a network
// that lets only TCP 443 out (TURN over TLS on the HTTPS port), and reports
// the path ICE took and the time to connected. It runs only as root with
// `ip` and `nft` available, and skips saying so otherwise.
package netns
