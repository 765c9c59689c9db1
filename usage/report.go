package usage

import (
	"context"
	"fmt"
	"time"

	"coderunner"
	"coderunner/cost"
)

// CostReport is the cost model over measured days: its inputs, each with
// its source, the figures, what was measured, and the runner sizing.
type CostReport struct {
	cost.Report
	Measured       Measured       `json:"measured"`
	Recommendation Recommendation `json:"recommendation"`
}

// DefaultTargetWait is the p95 queue wait runners are sized for: the
// report adds a runner when queue wait passes 2–5 s.
const DefaultTargetWait = 2 * time.Second

// Report measures the days whole days before now's day and applies the
// cost model to them, priced as price says (its VCPUHour and VPS fields;
// the rest is measured). The overhead is the provisioned one — the
// vCPU-seconds paid for per program CPU second, as the report's
// OverheadFactor — or the model's default where no runner measured its
// host.
func Report(ctx context.Context, store coderunner.UsageStore, now time.Time, days int, price cost.Sourced, target time.Duration) (CostReport, error) {
	m, err := Measure(ctx, store, now, days)
	if err != nil {
		return CostReport{}, err
	}
	span := fmt.Sprintf("%d days %s to %s", days, m.From.Format(time.DateOnly), m.To.Add(-day).Format(time.DateOnly))
	measured := func(format string, args ...any) string { return "measured: " + fmt.Sprintf(format, args...) }
	in := cost.Sourced{
		DAU:     cost.Input{Value: m.DAU, Source: measured("mean active users a day over %s", span)},
		MAU:     cost.Input{Value: m.MAU, Source: measured("distinct users in the %d days to %s", MonthDays, m.To.Add(-day).Format(time.DateOnly))},
		Runs:    cost.Input{Value: m.RunsPerUser, Source: measured("%d runs / %d active user-days", m.Runs, m.ActiveUserDays)},
		Submits: cost.Input{Value: m.SubmitsPerUser, Source: measured("%d submissions / %d active user-days", m.Submissions, m.ActiveUserDays)},
		TRun: cost.Input{Value: m.RunCPU.Mean, Source: measured("mean program CPU of %d runs (p50 %.3g s, p95 %.3g s)",
			m.Runs, m.RunCPU.P50, m.RunCPU.P95)},
		TSubmit: cost.Input{Value: m.SubmissionCPU.Mean, Source: measured("mean program CPU of %d submissions, %.3g tests each (p50 %.3g s, p95 %.3g s)",
			m.Submissions, m.TestsPerSubmission, m.SubmissionCPU.P50, m.SubmissionCPU.P95)},
		Overhead: cost.Input{Value: cost.Default().Overhead, Source: "default: no runner measured its host in these days"},
		VPSPrice: price.VPSPrice, VPSVCPUs: price.VPSVCPUs, VCPUHour: price.VCPUHour,
	}
	if m.ProvisionedOverhead >= 1 {
		in.Overhead = cost.Input{Value: m.ProvisionedOverhead, Source: measured("runner vCPU-seconds provisioned / program CPU seconds (busy: %.3g)",
			m.BusyOverhead)}
	}
	return CostReport{
		Report:         cost.NewReport(in),
		Measured:       m,
		Recommendation: Recommend(m, target, cost.Default().Overhead),
	}, nil
}
