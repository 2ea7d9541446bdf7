//go:build race

package turn

const raceEnabled = true
