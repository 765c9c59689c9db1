// Package e2e holds the fault tests of coderunner: they build the real
// binary, start a real redis-server, FerretDB (a MongoDB wire-protocol
// peer, in the test process) and two `api` and two `worker` processes, then
// kill, restart and disconnect parts of that deployment and check that no
// run or submission is lost, finished twice, graded twice or streamed with
// a gap. TestShippedProblemsGrade also grades every shipped problem's
// reference solution and starter code through the submit mutation, and
// TestContentEditing edits the curriculum through one api replica and
// checks what the other serves (docs/content.md).
//
// They need a Docker engine (scripts/setup-docker.sh) and redis-server
// (scripts/setup-redis.sh). Without them the tests skip, except when CI is
// set, where they fail:
//
//	CI=true go test -count=1 -race ./e2e/
//
// Under -race the coderunner binary is built with -race too, and a data
// race reported by any process fails the test that ran it.
package e2e
