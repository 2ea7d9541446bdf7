// Package defaults is the one way rtcd's configuration sections fill the
// fields a file or a caller left out: each section lists its defaults once,
// in its WithDefaults, with Set, and a zero value always means "the
// default".
package defaults

// Set sets *v to def when *v is the zero value.
func Set[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
