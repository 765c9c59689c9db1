package bench

import (
	"context"
	"testing"
	"time"

	"coderunner"
)

// standIn is a sandbox that prints "hi" at once: for checking the run
// benchmarks' clients without Docker. The benchmarks use the real executor.
type standIn struct{}

func (standIn) Run(_ context.Context, _ coderunner.RunRequest, onOutput coderunner.OutputFunc) (coderunner.RunResult, error) {
	if onOutput != nil {
		onOutput(coderunner.OutputChunk{Stream: coderunner.StreamStdout, Data: []byte("hi\n")})
	}
	return coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: "hi\n", WallMs: 1}, nil
}

// TestRunHarness runs the clients of benchmarks a and c through the stack
// (run mutation, then the subscription until FINISHED), one after another
// and 8 at once, with the stand-in sandbox.
func TestRunHarness(t *testing.T) {
	s := newStack(t, standIn{}, 8)
	ctx := context.Background()
	const clients = 8
	cs := make([]*stackClient, clients)
	for i := range cs {
		c, err := s.newClient(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.ws.close()
		cs[i] = c
	}
	for range 5 {
		total, mutation, err := cs[0].run(ctx, helloProgram)
		if err != nil {
			t.Fatal(err)
		}
		if total < mutation || total > 10*time.Second {
			t.Errorf("run took %v, its mutation %v", total, mutation)
		}
	}
	if err := concurrently(clients, 40, func(i int) error { _, _, err := cs[i].run(ctx, helloProgram); return err }); err != nil {
		t.Fatal(err)
	}
	if err := runHello(ctx, standIn{}); err != nil {
		t.Fatal(err)
	}
}
