package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"coderunner/cost"
)

const costUsage = `usage: coderunner cost [--dau N] [--mau N] [--runs R] [--submits S] [--t-run SEC] [--t-submit SEC]
                       [--overhead F] [--vcpu-hour PRICE | --vps-price PRICE --vps-vcpus N] [--json]

Prints the per-user cost model for the inputs given, each shown with its
source (default or flag). With no flags it is the report's base case: 49
exec-seconds and 0.0408 vCPU-hours per active user per day, about $0.0102 per
user per month at $12 a month for a 2-vCPU VPS. A month is 30 days; a VPS is
billed for 720 hours, so a vCPU-hour costs PRICE / (VCPUS × 720).`

// costInput is one input of the model as printed: its value and where it
// came from.
type costInput struct {
	Value  float64 `json:"value"`
	Source string  `json:"source"` // "default" or "flag"
}

// costInputs are the inputs in the order printed.
type costInputs struct {
	DAU      costInput  `json:"dau"`
	MAU      costInput  `json:"mau"`
	Runs     costInput  `json:"runs"`
	Submits  costInput  `json:"submits"`
	TRun     costInput  `json:"tRun"`
	TSubmit  costInput  `json:"tSubmit"`
	Overhead costInput  `json:"overhead"`
	VPSPrice *costInput `json:"vpsPrice,omitempty"` // absent with --vcpu-hour
	VPSVCPUs *costInput `json:"vpsVCPUs,omitempty"`
	VCPUHour costInput  `json:"vcpuHour"`
}

type costReport struct {
	Inputs        costInputs   `json:"inputs"`
	DaysPerMonth  int          `json:"daysPerMonth"`
	HoursPerMonth int          `json:"hoursPerMonth"`
	Figures       cost.Figures `json:"figures"`
}

// costCmd implements `coderunner cost`.
func costCmd(args []string, stdout io.Writer) error {
	def := cost.Default()
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), costUsage); fs.PrintDefaults() }
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
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("cost takes no arguments, got %q\n%s", fs.Args(), costUsage)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	src := func(name string) string {
		if set[name] {
			return "flag"
		}
		return "default"
	}
	in := cost.Inputs{DAU: *dau, MAU: *mau, Runs: *runs, Submits: *submits, RunSeconds: *tRun, SubmitSeconds: *tSubmit, Overhead: *overhead}
	rep := costReport{
		Inputs: costInputs{
			DAU: costInput{*dau, src("dau")}, MAU: costInput{*mau, src("mau")},
			Runs: costInput{*runs, src("runs")}, Submits: costInput{*submits, src("submits")},
			TRun: costInput{*tRun, src("t-run")}, TSubmit: costInput{*tSubmit, src("t-submit")},
			Overhead: costInput{*overhead, src("overhead")},
		},
		DaysPerMonth: cost.DaysPerMonth, HoursPerMonth: cost.HoursPerMonth,
	}
	if set["vcpu-hour"] {
		if set["vps-price"] || set["vps-vcpus"] {
			return errors.New("give --vcpu-hour or --vps-price and --vps-vcpus, not both")
		}
		in.VCPUHourPrice = *vcpuHour
		rep.Inputs.VCPUHour = costInput{*vcpuHour, "flag"}
	} else {
		if math.IsNaN(*vpsPrice) || math.IsInf(*vpsPrice, 0) || *vpsPrice <= 0 {
			return fmt.Errorf("--vps-price %v: give more than 0", *vpsPrice)
		}
		if *vpsVCPUs < 1 {
			return fmt.Errorf("--vps-vcpus %d: give at least 1", *vpsVCPUs)
		}
		in.VCPUHourPrice = cost.VCPUHourPrice(*vpsPrice, *vpsVCPUs)
		rep.Inputs.VPSPrice = &costInput{*vpsPrice, src("vps-price")}
		rep.Inputs.VPSVCPUs = &costInput{float64(*vpsVCPUs), src("vps-vcpus")}
		priceSrc := "default"
		if set["vps-price"] || set["vps-vcpus"] {
			priceSrc = "flag"
		}
		rep.Inputs.VCPUHour = costInput{in.VCPUHourPrice, priceSrc}
	}
	if err := in.Validate(); err != nil {
		return fmt.Errorf("cost: %w", err)
	}
	rep.Figures = cost.Compute(in)
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	return writeCostTable(stdout, rep)
}

func writeCostTable(w io.Writer, rep costReport) error {
	in, f := rep.Inputs, rep.Figures
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	exact := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	input := func(name string, in costInput, format func(float64) string) { row(name, format(in.Value), in.Source) }
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
	return tw.Flush()
}

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
