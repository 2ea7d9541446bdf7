// Package deploy holds what an operator installs next to the binary: the
// hardened systemd unit (rtcd.service), an example production config and
// environment file, and verify.sh. It has no Go code of its own; its tests
// run verify.sh and check the example config against the daemon's Config,
// so that `go test ./...` in CI catches a broken unit or a stale example.
package deploy
