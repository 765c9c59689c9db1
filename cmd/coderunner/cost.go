package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"coderunner/cost"
	"coderunner/usage"
)

const costUsage = `usage: coderunner cost [--scenario best|base|worst] [--dau N] [--mau N] [--runs R] [--submits S]
                       [--t-run SEC] [--t-submit SEC] [--overhead F]
                       [--vcpu-hour PRICE | --vps-price PRICE --vps-vcpus N] [--json]
       coderunner cost --measured [--days N] [--target-wait DURATION]
                       [--vcpu-hour PRICE | --vps-price PRICE --vps-vcpus N] [--json]

Prints the per-user cost model, each input shown with its source. With no
flags it is the report's base case: 49 exec-seconds and 0.0408 vCPU-hours
per active user per day, about $0.0102 per user per month at $12 a month for
a 2-vCPU VPS; --scenario picks another input set, and flags override any
input. With --measured the inputs are what the platform did in the last
--days whole days, read from the store (CODERUNNER_DATA or MONGODB_URI), with
how many runner vCPUs the measured peak needs to keep the p95 queue wait
under --target-wait. A month is 30 days; a VPS is billed for 720 hours, so a
vCPU-hour costs PRICE / (VCPUS × 720).`

// modelFlags are the flags that set a model input, which --measured
// measures instead.
var modelFlags = []string{"scenario", "dau", "mau", "runs", "submits", "t-run", "t-submit", "overhead"}

// costCmd implements `coderunner cost`.
func costCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), costUsage); fs.PrintDefaults() }
	def := cost.Default()
	scenario := fs.String("scenario", "base", "input set: best, base (the report's) or worst")
	dau := fs.Float64("dau", def.DAU, "daily active users")
	mau := fs.Float64("mau", def.MAU, "monthly active users (for the cost per MAU)")
	runs := fs.Float64("runs", def.Runs, "R: runs per active user per day")
	submits := fs.Float64("submits", def.Submits, "S: submissions per active user per day")
	tRun := fs.Float64("t-run", def.RunSeconds, "t_run: program CPU seconds per run")
	tSubmit := fs.Float64("t-submit", def.SubmitSeconds, "t_submit: program CPU seconds per submission")
	overhead := fs.Float64("overhead", def.Overhead, "OverheadFactor: vCPU-seconds per program CPU second")
	vcpuHour := fs.Float64("vcpu-hour", def.VCPUHourPrice, "price of a vCPU-hour (instead of --vps-price and --vps-vcpus)")
	vpsPrice := fs.Float64("vps-price", cost.DefaultVPSPrice, "monthly price of a VPS")
	vpsVCPUs := fs.Int("vps-vcpus", cost.DefaultVPSVCPUs, "vCPUs of that VPS")
	measured := fs.Bool("measured", false, "measure the inputs from the store")
	days := fs.Int("days", 7, "with --measured: how many whole days to measure, up to yesterday")
	targetWait := fs.Duration("target-wait", usage.DefaultTargetWait, "with --measured: the p95 queue wait to size runners for")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("cost takes no arguments, got %q\n%s", fs.Args(), costUsage)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	price, err := priceInputs(set, *vcpuHour, *vpsPrice, *vpsVCPUs)
	if err != nil {
		return err
	}
	print := func(rep any, table func(*tabwriter.Writer)) error {
		if *asJSON {
			return writeJSON(stdout, rep)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}

	if *measured {
		for _, name := range modelFlags {
			if set[name] {
				return fmt.Errorf("--%s sets an input that --measured measures: give one or the other", name)
			}
		}
		if *targetWait <= 0 {
			return fmt.Errorf("--target-wait %s: give more than 0", *targetWait)
		}
		rep, err := measuredCost(ctx, getenv, *days, price, *targetWait)
		if err != nil {
			return err
		}
		return print(rep, func(tw *tabwriter.Writer) { writeCostTable(tw, rep.Report); writeMeasuredTable(tw, rep) })
	}
	if set["days"] || set["target-wait"] {
		return errors.New("--days and --target-wait go with --measured")
	}

	base, err := cost.Scenario(*scenario)
	if err != nil {
		return fmt.Errorf("--scenario: %w", err)
	}
	src := func(name string) string {
		switch {
		case set[name]:
			return "flag"
		case *scenario != "base":
			return "scenario " + *scenario
		}
		return "default"
	}
	pick := func(name string, flagged, fromScenario float64) cost.Input {
		if set[name] {
			return cost.Input{Value: flagged, Source: "flag"}
		}
		return cost.Input{Value: fromScenario, Source: src(name)}
	}
	in := price
	in.DAU, in.MAU = pick("dau", *dau, base.DAU), pick("mau", *mau, base.MAU)
	in.Runs, in.Submits = pick("runs", *runs, base.Runs), pick("submits", *submits, base.Submits)
	in.TRun, in.TSubmit = pick("t-run", *tRun, base.RunSeconds), pick("t-submit", *tSubmit, base.SubmitSeconds)
	in.Overhead = pick("overhead", *overhead, base.Overhead)
	if err := in.Inputs().Validate(); err != nil {
		return fmt.Errorf("cost: %w", err)
	}
	rep := cost.NewReport(in)
	return print(rep, func(tw *tabwriter.Writer) { writeCostTable(tw, rep) })
}

// priceInputs are the price inputs the flags give: a vCPU-hour price, or
// a VPS's price and vCPUs.
func priceInputs(set map[string]bool, vcpuHour, vpsPrice float64, vpsVCPUs int) (cost.Sourced, error) {
	var in cost.Sourced
	if set["vcpu-hour"] {
		if set["vps-price"] || set["vps-vcpus"] {
			return in, errors.New("give --vcpu-hour or --vps-price and --vps-vcpus, not both")
		}
		if math.IsNaN(vcpuHour) || math.IsInf(vcpuHour, 0) || vcpuHour <= 0 {
			return in, fmt.Errorf("--vcpu-hour %v: give more than 0 (the vCPU-hour price)", vcpuHour)
		}
		in.VCPUHour = cost.Input{Value: vcpuHour, Source: "flag"}
		return in, nil
	}
	if math.IsNaN(vpsPrice) || math.IsInf(vpsPrice, 0) || vpsPrice <= 0 {
		return in, fmt.Errorf("--vps-price %v: give more than 0", vpsPrice)
	}
	if vpsVCPUs < 1 {
		return in, fmt.Errorf("--vps-vcpus %d: give at least 1", vpsVCPUs)
	}
	source := func(name string) string {
		if set[name] {
			return "flag"
		}
		return "default"
	}
	in.VPSPrice = &cost.Input{Value: vpsPrice, Source: source("vps-price")}
	in.VPSVCPUs = &cost.Input{Value: float64(vpsVCPUs), Source: source("vps-vcpus")}
	priceSrc := "default"
	if set["vps-price"] || set["vps-vcpus"] {
		priceSrc = "flag"
	}
	in.VCPUHour = cost.Input{Value: cost.VCPUHourPrice(vpsPrice, vpsVCPUs), Source: priceSrc}
	return in, nil
}

// measuredCost measures the inputs from the store the environment names.
// It first rolls up, as workers do every hour, yesterday and the days
// measured that have no roll-up yet (a store from before roll-ups
// existed, or one no worker maintains), so that the figures are complete.
func measuredCost(ctx context.Context, getenv func(string) string, days int, price cost.Sourced, target time.Duration) (usage.CostReport, error) {
	if days < 1 || days > usage.MaxDays {
		return usage.CostReport{}, fmt.Errorf("--days %d: give 1 to %d", days, usage.MaxDays)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return usage.CostReport{}, err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return usage.CostReport{}, err
	}
	defer store.Close()
	now := time.Now()
	roller := &usage.Roller{Store: store, Lookback: time.Duration(days) * 24 * time.Hour, Now: func() time.Time { return now }}
	if _, err := roller.Pass(ctx); err != nil {
		return usage.CostReport{}, err
	}
	return usage.Report(ctx, store, now, days, price, target)
}

func writeCostTable(tw *tabwriter.Writer, rep cost.Report) {
	in, f := rep.Inputs, rep.Figures
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	input := func(name string, in cost.Input, format func(float64) string) { row(name, format(in.Value), in.Source) }
	dollars := func(v float64) string { return "$" + exact(v) }

	row("input", "value", "source")
	input("DAU (daily active users)", in.DAU, exact)
	input("MAU (monthly active users)", in.MAU, exact)
	input("R: runs per active user per day", in.Runs, exact)
	input("S: submissions per active user per day", in.Submits, exact)
	input("t_run: program CPU seconds per run", in.TRun, exact)
	input("t_submit: program CPU seconds per submission", in.TSubmit, exact)
	input("overhead: vCPU-seconds per program CPU second", in.Overhead, exact)
	if in.VPSPrice != nil {
		input("VPS price per month", *in.VPSPrice, dollars)
		input("VPS vCPUs", *in.VPSVCPUs, exact)
		input(fmt.Sprintf("price per vCPU-hour (VPS / vCPUs / %d h)", rep.HoursPerMonth), in.VCPUHour, money)
	} else {
		input("price per vCPU-hour", in.VCPUHour, money)
	}
	row()
	row("per active user", "per day", fmt.Sprintf("per month (%d days)", rep.DaysPerMonth))
	row("exec-seconds (R·t_run + S·t_submit)", figure(f.ExecSecondsPerUserDay), figure(f.ExecSecondsPerUserDay*float64(rep.DaysPerMonth)))
	row("vCPU-seconds (× overhead)", figure(f.VCPUSecondsPerUserDay), figure(f.VCPUSecondsPerUserDay*float64(rep.DaysPerMonth)))
	row("vCPU-hours", figure(f.VCPUHoursPerUserDay), figure(f.VCPUHoursPerUserMonth))
	row("cost", money(f.CostPerUserDay), money(f.CostPerUserMonth))
	row()
	row(fmt.Sprintf("platform at %s DAU", exact(in.DAU.Value)), "per day", "per month")
	row("vCPU-hours", figure(f.VCPUHoursPerDay), figure(f.VCPUHoursPerMonth))
	row("cost", money(f.CostPerDay), money(f.CostPerMonth))
	row(fmt.Sprintf("cost per MAU (%s)", exact(in.MAU.Value)), "", money(f.CostPerMAUMonth))
	row("runner vCPUs on average", figure(f.AverageVCPUs), "(peaks need more: size runners from measured peaks)")
}

// writeMeasuredTable adds what --measured measured beyond the model's
// inputs, and the runner sizing.
func writeMeasuredTable(tw *tabwriter.Writer, rep usage.CostReport) {
	m, r := rep.Measured, rep.Recommendation
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	seconds := func(q usage.Quantiles) string {
		return fmt.Sprintf("mean %s s, p50 %s s, p95 %s s", figure(q.Mean), figure(q.P50), figure(q.P95))
	}
	row()
	row(fmt.Sprintf("measured, %s to %s", m.From.Format(time.DateOnly), m.To.Add(-24*time.Hour).Format(time.DateOnly)), "value")
	row("days with a roll-up", fmt.Sprintf("%d of %d", m.DaysRolledUp, m.Days))
	row("peak users in 5 minutes", exact(float64(m.PeakUsers)))
	row("peak jobs per second (5 minutes)", figure(m.PeakJobsPerSecond))
	row("queue wait", seconds(m.QueueWait))
	row("tests per submission", figure(m.TestsPerSubmission))
	row("program CPU seconds", figure(m.ProgramCPUSeconds))
	row("runner busy CPU seconds", figure(m.BusyCPUSeconds))
	row("runner provisioned vCPU-seconds", figure(m.ProvisionedVCPUSeconds))
	row("overhead, busy (host CPU / program CPU)", figure(m.BusyOverhead))
	row("overhead, provisioned (vCPU-s / program CPU)", figure(m.ProvisionedOverhead))
	row("runner vCPUs provisioned on average", figure(m.RunnerVCPUs))
	row("utilisation (busy / provisioned)", figure(m.Utilisation))
	row()
	row(fmt.Sprintf("runners for p95 queue wait under %s s", figure(r.TargetWaitSeconds)), "value")
	row("vCPU-seconds per job (program CPU × busy overhead)", figure(r.JobVCPUSeconds))
	row("runner vCPUs the peak needs", exact(float64(r.VCPUs)), fmt.Sprintf("(provisioned on average: %s)", figure(r.HaveVCPUs)))
}

func exact(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// figure prints v to two decimals from 1 up and to three significant digits
// below 1 (0.040833… is 0.0408), trailing zeros dropped.
func figure(v float64) string {
	decimals := 2
	if a := math.Abs(v); a > 0 && a < 1 {
		decimals = 2 - int(math.Floor(math.Log10(a)))
	}
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func money(v float64) string { return "$" + figure(v) }
