// Package netns holds the NAT connectivity matrix: a test that builds network
// namespaces (a "public" host running rtcd, and two peers each behind its
// own nftables router), then places real calls between Go peers across
// port-preserving NAT, symmetric NAT, a UDP-blocked network and a network
// that lets only TCP 443 out (TURN over TLS on the HTTPS port), and reports
// the path ICE took and the time to connected. The same networks are then
// tried with the room's media through the daemon's media server (SFU): each
// peer reaches its one UDP port directly, or through the relay when UDP is
// blocked or only 443 is open. It runs only as root with
// `ip` and `nft` available, and skips saying so otherwise.
package netns
