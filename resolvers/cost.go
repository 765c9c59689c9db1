package resolvers

import (
	"context"
	"math"
	"time"

	"coderunner"
	"coderunner/cost"
	"coderunner/usage"
)

// CostReport measures the last days whole days: `coderunner cost
// --measured` over GraphQL.
func (r queryResolver) CostReport(ctx context.Context, days int, vcpuHourPrice *float64, targetWaitSeconds float64) (usage.CostReport, error) {
	price := cost.SourcedAs(cost.Default(), "default")
	if vcpuHourPrice != nil {
		if p := *vcpuHourPrice; math.IsNaN(p) || math.IsInf(p, 0) || p <= 0 {
			return usage.CostReport{}, coderunner.Errorf(coderunner.BadUserInput, "vcpuHourPrice %v: give more than 0", p)
		}
		price = cost.Sourced{VCPUHour: cost.Input{Value: *vcpuHourPrice, Source: "argument"}}
	}
	if math.IsNaN(targetWaitSeconds) || targetWaitSeconds <= 0 || targetWaitSeconds > 3600 {
		return usage.CostReport{}, coderunner.Errorf(coderunner.BadUserInput, "targetWaitSeconds %v: give more than 0 and at most 3600", targetWaitSeconds)
	}
	target := time.Duration(targetWaitSeconds * float64(time.Second))
	return usage.Report(ctx, r.Usage, time.Now(), days, price, target)
}
