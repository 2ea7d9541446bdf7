// Package deploy holds what an operator installs next to the binary: the
// hardened systemd unit (rtcd.service), an example production config and
// environment file, verify.sh (systemd-analyze checks of the unit) and
// smoke.sh (the documented install run in throw-away namespaces). It has no
// Go code of its own; its tests run both scripts and check the example
// config against the daemon's Config, so that `go test ./...` in CI catches
// a broken unit, a stale example or an install that no longer starts.
package deploy
