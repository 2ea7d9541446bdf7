// Package web serves rtcd's browser app: the home page, the call page at
// /r/<room>, the /diag connectivity self-test and their static assets, all
// embedded in the binary with go:embed so a deployment is one file.
//
// The app is plain ES modules with no build step and nothing loaded from
// third parties, which is what lets the handler send a strict
// Content-Security-Policy (no inline script, no foreign origin): a page that
// is handed TURN credentials should run only the daemon's own code.
//
// The package is a stdlib-only leaf; cmd/rtcd mounts Handler.
package web
