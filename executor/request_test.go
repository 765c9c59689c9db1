package executor

import (
	"strings"
	"testing"

	"coderunner"
)

func TestNormalizeFillsDefaultsAndRejectsOutOfRange(t *testing.T) {
	tests := []struct {
		name string
		req  coderunner.RunRequest
		want coderunner.RunRequest // when valid
		bad  string                // a word of the error, when not
	}{
		{name: "defaults", req: coderunner.RunRequest{Code: "print(1)"},
			want: coderunner.RunRequest{Code: "print(1)", TimeLimitMs: 2000, WallTimeLimitMs: 5000, MemoryMB: 64, OutputLimitBytes: 64 << 10}},
		{name: "wall follows time, capped", req: coderunner.RunRequest{TimeLimitMs: 10000},
			want: coderunner.RunRequest{TimeLimitMs: 10000, WallTimeLimitMs: 21000, MemoryMB: 64, OutputLimitBytes: 64 << 10}},
		{name: "time over the cap", req: coderunner.RunRequest{TimeLimitMs: 10001}, bad: "time limit"},
		{name: "negative time", req: coderunner.RunRequest{TimeLimitMs: -1}, bad: "time limit"},
		{name: "wall over the cap", req: coderunner.RunRequest{WallTimeLimitMs: 30001}, bad: "wall-time"},
		{name: "memory under the floor", req: coderunner.RunRequest{MemoryMB: 16}, bad: "memory"},
		{name: "memory over the cap", req: coderunner.RunRequest{MemoryMB: 257}, bad: "memory"},
		{name: "output over the cap", req: coderunner.RunRequest{OutputLimitBytes: 1<<20 + 1}, bad: "output"},
		{name: "source too big", req: coderunner.RunRequest{Code: strings.Repeat("#", 2<<20+1)}, bad: "program"},
		{name: "stdin too big", req: coderunner.RunRequest{Stdin: strings.Repeat("1", 1<<20+1)}, bad: "stdin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.req.Normalize()
			if tt.bad != "" {
				if coderunner.ErrorCode(err) != coderunner.BadUserInput || !strings.Contains(err.Error(), tt.bad) {
					t.Fatalf("Normalize: %v, want BAD_USER_INPUT about %s", err, tt.bad)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
