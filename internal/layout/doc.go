// Package layout has no code: its test holds the import rules between
// rtcd's packages (CONTRIBUTING.md's package map), so that a dependency
// against the flow (a service importing the daemon, the hub importing the
// Redis bus, a client importing a service) fails the build's tests.
package layout
