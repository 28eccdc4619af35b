//go:build race

package index

// raceEnabled shrinks the slowest tests under the race detector, which
// makes the tight loops of a graph build many times slower.
const raceEnabled = true
