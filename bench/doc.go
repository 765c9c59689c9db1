// Package bench holds coderunner's whole-system benchmarks (issue 4, item
// 9). Each compares, side by side in one run, the full stack with what it
// is built on, and prints the figures with b.Logf and b.ReportMetric:
//
//   - BenchmarkRunLatency: (a) print("hi") from the run mutation (HTTP POST)
//     to the FINISHED event on a graphql-transport-ws subscription, through
//     an in-process stack (server.New + runs.Service + in-memory broker +
//     SQLite in a temporary directory + executor.Worker on a real Docker
//     executor with a warm pool of 2), interleaved with (b) executor.Run of
//     the same program on the same executor; p50/p95 of each and a−b.
//   - BenchmarkRunThroughput: (c) trivial runs per second through the whole
//     stack with 8 concurrent clients (mutation + subscription until
//     FINISHED each), against the executor alone with 8 concurrent callers.
//   - BenchmarkSubscriptions: (d) one api process (the test binary re-run as
//     a child, so that its memory is its own) over a Redis broker (a real
//     redis-server from redistest) holding 5,000 runEvents subscriptions
//     over WebSocket on 1,000 live runs; memory per subscription and the
//     delivery latency of events published through Redis, p50/p95/p99;
//     meanwhile 250 subscriptions to finished runs replay and complete.
//
// Run all three (needs a Docker engine — `bash scripts/setup-docker.sh` —
// and redis-server; traffic stays on 127.0.0.1; about 2¼ minutes in all on
// a 2-core machine; each benchmark stops by itself):
//
//	go test ./bench -run '^$' -bench . -benchtime 40x -timeout 15m
//
// -benchtime 40x means 40 interleaved samples of each of a and b, 40 runs of
// each variant of c, and 40 published rounds of d (each round: one event on
// every live run, 5,000 deliveries). The figures measured on this machine
// are in bench/RESULTS.md.
//
// CODERUNNER_BENCH_TRACE=1 prints d's rounds one by one (latency, api CPU,
// api garbage collections). To see where the api child spends its time or
// memory, set CODERUNNER_BENCH_CPUPROFILE=file (a CPU profile of the
// child's whole life) or CODERUNNER_BENCH_HEAPPROFILE=file (a heap profile
// written at each of its memory readings; the last one is with the 5,000
// open).
//
// TestSubscriptionHarness and TestRunHarness are quick checks of the
// harness itself (50 subscriptions through a child api and Redis; runs
// through the stack with a stand-in sandbox): no Docker, so they run in CI.
package bench
