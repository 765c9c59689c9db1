package coderunner_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"coderunner"
)

// TestQuotaFields: every field of a Quota, named as in JSON, is applied,
// merged and validated by itself, leaving the others alone.
func TestQuotaFields(t *testing.T) {
	base := coderunner.Quota{RunsPerMinute: 1, RunsPerDay: 2, ExecSecondsPerDay: 3, MaxActiveRuns: 4, SubmitsPerMinute: 5, SubmitsPerDay: 6}
	names := base.Fields()
	if len(names) != 6 {
		t.Fatalf("Quota.Fields() has %d fields; want 6", len(names))
	}
	override := func(t *testing.T, name string, v int) coderunner.QuotaOverride {
		t.Helper()
		var o coderunner.QuotaOverride
		if err := json.Unmarshal(fmt.Appendf(nil, `{%q: %d}`, name, v), &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	for name := range names {
		t.Run(name, func(t *testing.T) {
			want := base
			*want.Fields()[name] = 0
			o := override(t, name, 0)
			if got := base.Apply(o); got != want {
				t.Errorf("Apply(%s: 0) = %+v; want %+v", name, got, want)
			}
			if got := base.Apply(coderunner.QuotaOverride{}.Merge(o)); got != want {
				t.Errorf("Apply(Merge(%s: 0)) = %+v; want %+v", name, got, want)
			}
			if got := base.Apply(o.Merge(coderunner.QuotaOverride{})); got != want {
				t.Errorf("Apply(%s: 0 merged with nothing) = %+v; want %+v", name, got, want)
			}
			*want.Fields()[name] = 9
			if got := base.Apply(o.Merge(override(t, name, 9))); got != want {
				t.Errorf("Apply(%s: 0 merged with 9) = %+v; want %+v", name, got, want)
			}

			for _, v := range []int{0, coderunner.MaxQuotaValue} {
				if err := override(t, name, v).Validate(); err != nil {
					t.Errorf("Validate(%s: %d): %v", name, v, err)
				}
			}
			for _, v := range []int{-1, coderunner.MaxQuotaValue + 1} {
				err := override(t, name, v).Validate()
				if coderunner.ErrorCode(err) != coderunner.BadUserInput || !strings.Contains(err.Error(), name) {
					t.Errorf("Validate(%s: %d): %v; want BAD_USER_INPUT naming %s", name, v, err, name)
				}
			}
		})
	}
}
