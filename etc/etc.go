// Package etc holds the default configuration file, embedded so that the
// binary runs with safe defaults even when etc/rtcd.yaml is not on disk.
package etc

import _ "embed"

// DefaultYAML is etc/rtcd.yaml as it was at build time.
//
//go:embed rtcd.yaml
var DefaultYAML []byte
