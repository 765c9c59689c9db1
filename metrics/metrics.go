// Package metrics is what coderunner reports to Prometheus at /metrics:
// the queue, runs, the warm pool, subscriptions and caches — the cost
// drivers of the platform.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"coderunner"
)

// Metrics holds one process's collectors, in a registry of its own so
// that tests can make as many as they like.
type Metrics struct {
	registry *prometheus.Registry
	// collectors are those registered, for tests to list what is exported.
	collectors          []prometheus.Collector
	queueWait           prometheus.Histogram
	runDuration         *prometheus.HistogramVec
	runsTotal           *prometheus.CounterVec
	deadLettered        prometheus.Counter
	runsDeleted         prometheus.Counter
	gradingDuration     *prometheus.HistogramVec
	testsGraded         prometheus.Counter
	activeSubscriptions prometheus.Gauge
	errors              *prometheus.CounterVec
	refused             *prometheus.CounterVec
	dropped             *prometheus.CounterVec
	contentChanges      prometheus.Counter
	cdnPurges           *prometheus.CounterVec
	// The cost model's raw figures (package usage).
	programCPU        *prometheus.CounterVec
	runnerBusy        prometheus.Counter
	runnerProvisioned prometheus.Counter
	activeUsers       *prometheus.GaugeVec
	peakUsers         prometheus.Gauge
}

// New returns metrics with the Go runtime's and the process's collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "coderunner_queue_wait_seconds",
			Help:    "Time from enqueueing a run to a worker claiming it.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "coderunner_run_duration_seconds",
			Help:    "Time from a run's start to its end on a worker, by final status.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"status"}),
		runsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coderunner_runs_total",
			Help: "Runs finished by this worker, by final status.",
		}, []string{"status"}),
		gradingDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "coderunner_grading_duration_seconds",
			Help:    "Time from a submission's start to its verdict on a worker, by verdict (t_submit of the cost model).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"verdict"}),
		testsGraded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "coderunner_tests_graded_total",
			Help: "Test cases run to grade submissions (each one a sandbox run).",
		}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "coderunner_dead_lettered_total",
			Help: "Jobs moved to the dead-letter queue.",
		}),
		runsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "coderunner_runs_deleted_total",
			Help: "Finished runs deleted for being older than CODERUNNER_RUN_RETENTION.",
		}),
		activeSubscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "coderunner_active_subscriptions",
			Help: "runEvents subscriptions open on this process.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coderunner_errors_total",
			Help: "GraphQL errors answered, by extensions.code: RATE_LIMITED and QUOTA_EXCEEDED count refused runs and sign-ins, UNAUTHENTICATED bad tokens and passwords.",
		}, []string{"code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coderunner_refused_total",
			Help: "WebSockets, SSE streams and subscriptions refused, by the cap that refused them: streams_per_address, subscriptions_per_connection, subscriptions_per_caller, duplicate_id.",
		}, []string{"limit"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coderunner_streams_dropped_total",
			Help: "WebSockets and SSE streams the server closed, by reason: init_timeout (no connection_init), ping_timeout (no answer to a keep-alive), write_timeout (the client stopped reading).",
		}, []string{"reason"}),
		contentChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "coderunner_content_changes_applied_total",
			Help: "Content changes, from any replica, this process applied to its caches.",
		}),
		cdnPurges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coderunner_cdn_purges_total",
			Help: "Purges of content changes asked of the CDN (CODERUNNER_CDN_PURGE_URL), by result: ok, or failed after every attempt.",
		}, []string{"result"}),
		programCPU: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coderunner_program_cpu_seconds_total",
			Help: "CPU time of the programs this worker ran, by kind: run, or test (of a submission). The overhead factors' denominator.",
		}, []string{"kind"}),
		runnerBusy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "coderunner_runner_busy_cpu_seconds_total",
			Help: "CPU time the worker's host spent (not idle; engine, worker, programs and all, from /proc/stat) while the worker ran. Over coderunner_program_cpu_seconds_total: the busy overhead factor.",
		}),
		runnerProvisioned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "coderunner_runner_provisioned_vcpu_seconds_total",
			Help: "The worker's host's vCPUs × the seconds the worker ran. Over coderunner_program_cpu_seconds_total: the provisioned overhead factor.",
		}),
		activeUsers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "coderunner_active_users",
			Help: "Distinct users who ran or submitted, by period: day (today so far, UTC) or month (the last 30 days), at the last hourly roll-up.",
		}, []string{"period"}),
		peakUsers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "coderunner_peak_users",
			Help: "The most distinct users active in any five minutes of today (UTC), at the last hourly roll-up.",
		}),
	}
	m.register(m.queueWait, m.runDuration, m.runsTotal, m.gradingDuration, m.testsGraded, m.deadLettered, m.runsDeleted, m.activeSubscriptions, m.errors, m.refused, m.dropped,
		m.contentChanges, m.cdnPurges, m.programCPU, m.runnerBusy, m.runnerProvisioned, m.activeUsers, m.peakUsers,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// register registers cs, and remembers them.
func (m *Metrics) register(cs ...prometheus.Collector) {
	m.registry.MustRegister(cs...)
	m.collectors = append(m.collectors, cs...)
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// QueueWait records how long a job waited to be claimed.
func (m *Metrics) QueueWait(d time.Duration) { m.queueWait.Observe(d.Seconds()) }

// RunFinished records a finished run.
func (m *Metrics) RunFinished(status coderunner.RunStatus, d time.Duration) {
	m.runDuration.WithLabelValues(string(status)).Observe(d.Seconds())
	m.runsTotal.WithLabelValues(string(status)).Inc()
}

// SubmissionGraded records a graded submission: its verdict, the tests
// run and the time grading took.
func (m *Metrics) SubmissionGraded(verdict coderunner.Verdict, tests int, d time.Duration) {
	m.gradingDuration.WithLabelValues(string(verdict)).Observe(d.Seconds())
	m.testsGraded.Add(float64(tests))
}

// ProgramCPU records the CPU time of a program a worker ran: kind is run,
// or test for one test of a submission.
func (m *Metrics) ProgramCPU(kind string, d time.Duration) {
	m.programCPU.WithLabelValues(kind).Add(d.Seconds())
}

// RunnerMeasured records a sample of the runner host: the CPU seconds it
// spent and the vCPU-seconds it had since the last one (usage.Meter).
func (m *Metrics) RunnerMeasured(busy, provisioned float64) {
	m.runnerBusy.Add(busy)
	m.runnerProvisioned.Add(provisioned)
}

// UsageRolledUp records today's roll-up and the month's distinct users
// (usage.Roller).
func (m *Metrics) UsageRolledUp(today coderunner.UsageDay, monthUsers float64) {
	m.activeUsers.WithLabelValues("day").Set(float64(today.ActiveUsers))
	m.activeUsers.WithLabelValues("month").Set(monthUsers)
	m.peakUsers.Set(float64(today.PeakUsers))
}

// ErrorAnswered records a GraphQL error answered with code.
func (m *Metrics) ErrorAnswered(code coderunner.Code) { m.errors.WithLabelValues(string(code)).Inc() }

// Refused records a stream or subscription refused by limit.
func (m *Metrics) Refused(limit string) { m.refused.WithLabelValues(limit).Inc() }

// Dropped records a stream the server closed, and why.
func (m *Metrics) Dropped(reason string) { m.dropped.WithLabelValues(reason).Inc() }

// ContentChangeApplied records a content change applied to the caches.
func (m *Metrics) ContentChangeApplied() { m.contentChanges.Inc() }

// CDNPurged records a purge asked of the CDN, and its result.
func (m *Metrics) CDNPurged(result string) { m.cdnPurges.WithLabelValues(result).Inc() }

// RunsDeleted records n runs deleted by retention.
func (m *Metrics) RunsDeleted(n int) { m.runsDeleted.Add(float64(n)) }

// DeadLettered records a dead-lettered job.
func (m *Metrics) DeadLettered() { m.deadLettered.Inc() }

// SubscriptionStarted records a subscription; call the returned func when
// it ends.
func (m *Metrics) SubscriptionStarted() (ended func()) {
	m.activeSubscriptions.Inc()
	return m.activeSubscriptions.Dec
}

// scrapeTimeout bounds each read a gauge makes of an outside system at a
// scrape: the registry reads its collectors concurrently, so a scrape of a
// process whose Redis hangs takes about this long, not a multiple of it.
const scrapeTimeout = time.Second

// WatchQueue reports the broker's queue depth and the age of its oldest
// waiting job, each read at each scrape (Redis: a short script each), and
// -1 when the broker cannot be read.
func (m *Metrics) WatchQueue(q coderunner.Queue) {
	m.register(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "coderunner_queue_depth",
			Help: "Jobs waiting to be claimed; -1 when the broker cannot be read.",
		}, readFunc(func(ctx context.Context) (float64, error) {
			n, err := q.Depth(ctx)
			return float64(n), err
		})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "coderunner_queue_oldest_job_age_seconds",
			Help: "How long the oldest job not yet delivered to any worker has waited, by the broker's clock; 0 when none waits, -1 when the broker cannot be read.",
		}, readFunc(func(ctx context.Context) (float64, error) {
			d, err := q.OldestWaiting(ctx)
			return d.Seconds(), err
		})),
	)
}

// WatchRedis reports whether Redis answers ping, called at each scrape
// (one PING, bounded by scrapeTimeout): 1 if it does, 0 if not.
func (m *Metrics) WatchRedis(ping func(context.Context) error) {
	m.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "coderunner_redis_up",
		Help: "1 if Redis answered a PING at this scrape, 0 if it did not (within a second).",
	}, upFunc(ping)))
}

// WatchReady reports whether the process is ready, as /readyz answers it:
// ready runs every readiness check, at each scrape.
func (m *Metrics) WatchReady(ready func(context.Context) error) {
	m.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "coderunner_ready",
		Help: "1 if every readiness check of /readyz (store, broker, Redis; Docker on workers) passed at this scrape, 0 if one failed.",
	}, upFunc(ready)))
}

// readFunc makes read a gauge's function: read's value, or -1 if it
// fails, within scrapeTimeout.
func readFunc(read func(context.Context) (float64, error)) func() float64 {
	return func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		defer cancel()
		v, err := read(ctx)
		if err != nil {
			return -1
		}
		return v
	}
}

// upFunc reads check as 1 (it passed within scrapeTimeout) or 0.
func upFunc(check func(context.Context) error) func() float64 {
	return readFunc(func(ctx context.Context) (float64, error) {
		if check(ctx) != nil {
			return 0, nil
		}
		return 1, nil
	})
}

// BuildInfo reports which command (serve, api or worker) this process
// runs, and the version of its build, as a gauge set to 1.
func (m *Metrics) BuildInfo(process, version string) {
	m.info("coderunner_build_info",
		"1, labeled with the command this process runs (serve, api, worker) and its build's version (the VCS revision, or the module version).",
		prometheus.Labels{"process": process, "version": version})
}

// SandboxMode reports the worker's sandbox mode in effect ("container" or
// "jail"), as a gauge set to 1 under its name and the mode requested
// (CODERUNNER_SANDBOX): they differ when jail mode was asked for but failed
// its start-up probe, and the worker fell back to container mode.
func (m *Metrics) SandboxMode(requested, mode string) {
	m.info("coderunner_sandbox_mode",
		"The worker's sandbox mode in effect: 1 under its name (container: a fresh container per run; jail: a fresh namespace jail per run in a reused container) and the mode requested (CODERUNNER_SANDBOX); mode=container with requested=jail is a fallback.",
		prometheus.Labels{"mode": mode, "requested": requested})
}

// info registers a gauge set to 1 whose labels say something about the
// process that does not change while it runs.
func (m *Metrics) info(name, help string, labels prometheus.Labels) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
	g.Set(1)
	m.register(g)
}

// WatchPoolSize reports the worker's warm-pool size, read at each scrape.
func (m *Metrics) WatchPoolSize(size func() int) {
	m.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "coderunner_warm_pool_size",
		Help: "Sandbox containers started and waiting for a run.",
	}, func() float64 { return float64(size()) }))
}

// WatchCache reports a cache's hits and misses, read at each scrape; name
// is "apq" or "curriculum".
func (m *Metrics) WatchCache(name string, stats func() (hits, misses uint64)) {
	labels := prometheus.Labels{"cache": name}
	m.register(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "coderunner_cache_hits_total", Help: "Cache look-ups answered from the cache.", ConstLabels: labels,
		}, func() float64 { h, _ := stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "coderunner_cache_misses_total", Help: "Cache look-ups that went to the source.", ConstLabels: labels,
		}, func() float64 { _, mi := stats(); return float64(mi) }),
	)
}
