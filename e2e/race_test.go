//go:build race

package e2e

// raceEnabled: the test binary was built with -race, so the coderunner
// binary is too.
const raceEnabled = true
