package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"coderunner"
	"coderunner/accounts"
	"coderunner/broker"
	"coderunner/broker/redis"
	"coderunner/broker/redis/redistest"
	"coderunner/cache"
	"coderunner/internal/stats"
	"coderunner/runs"
	"coderunner/server"
	"coderunner/store/sqlite"
)

// admissionPair is two API servers on one SQLite store and one Redis
// broker, with no worker (jobs only queue):
//
//	guest: the run service budgets nobody, and the client sends no token —
//	       the run mutation as it was before accounts;
//	user:  the client signs in with a token, which is looked up in the
//	       store, and the run service admits each run through the Redis
//	       limiter (one Lua script).
type admissionPair struct{ guest, user *stack }

func newAdmissionPair(tb testing.TB) admissionPair {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "coderunner.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	rb, err := redis.Open(redistest.Start(tb), redis.Config{Options: broker.Options{MaxWaiting: 1 << 30}, Log: logger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rb.Close() })
	unlimited := coderunner.Quota{RunsPerMinute: coderunner.MaxQuotaValue, RunsPerDay: coderunner.MaxQuotaValue, ExecSecondsPerDay: coderunner.MaxQuotaValue, MaxActiveRuns: coderunner.MaxQuotaValue}
	acc := &accounts.Service{Store: db, Broker: rb, Config: accounts.Config{
		Guests: true, GuestQuota: unlimited, Quotas: map[coderunner.Role]coderunner.Quota{coderunner.RoleStudent: unlimited},
	}}
	auth, err := acc.SignUp(context.Background(), "bench", "bench password", "127.0.0.1")
	if err != nil {
		tb.Fatal(err)
	}
	serve := func(svc *runs.Service, token string) *stack {
		queries, err := cache.NewQueries(8<<20, nil)
		if err != nil {
			tb.Fatal(err)
		}
		api := server.New(server.Config{Store: db, Queries: queries, Limits: server.DefaultLimits, Runs: svc,
			Accounts: acc, Revocations: rb, Logger: logger()})
		ts := httptest.NewServer(api)
		tb.Cleanup(ts.Close)
		tb.Cleanup(api.CloseSubscriptions)
		return &stack{URL: ts.URL, runs: svc, token: token, client: &http.Client{Timeout: 30 * time.Second}}
	}
	return admissionPair{
		guest: serve(&runs.Service{Store: db, Broker: rb}, ""),
		user:  serve(&runs.Service{Store: db, Broker: rb, Quotas: acc}, auth.Token),
	}
}

// sample times n run mutations on each server, interleaved (the order
// alternates), after one untimed mutation on each.
func (p admissionPair) sample(ctx context.Context, n int) (guest, user []time.Duration, err error) {
	for _, s := range []*stack{p.guest, p.user} {
		if _, err := s.startRun(ctx, `print("hi")`); err != nil {
			return nil, nil, err
		}
	}
	for i := range n {
		order := []*stack{p.guest, p.user}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, s := range order {
			began := time.Now()
			if _, err := s.startRun(ctx, `print("hi")`); err != nil {
				return nil, nil, err
			}
			if s == p.guest {
				guest = append(guest, time.Since(began))
			} else {
				user = append(user, time.Since(began))
			}
		}
	}
	return guest, user, nil
}

// BenchmarkRunAdmission measures what authentication and quota admission
// add to the run mutation: the p50 of the signed-in, budgeted path minus
// the p50 of the guest path without budgets, measured side by side. The
// target is at most 1 ms with Redis on the same machine.
func BenchmarkRunAdmission(b *testing.B) {
	p := newAdmissionPair(b)
	b.ResetTimer()
	guest, user, err := p.sample(context.Background(), b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	g50, u50 := stats.Percentile(guest, 50), stats.Percentile(user, 50)
	b.ReportMetric(ms(g50), "guest-p50-ms")
	b.ReportMetric(ms(u50), "user-p50-ms")
	b.ReportMetric(ms(u50-g50), "added-p50-ms")
	b.ReportMetric(ms(stats.Percentile(user, 95)-stats.Percentile(guest, 95)), "added-p95-ms")
	b.Logf("n=%d: guest p50 %.2f ms, signed in and budgeted p50 %.2f ms: +%.2f ms (%s ≤ 1 ms)",
		len(guest), ms(g50), ms(u50), ms(u50-g50), verdict(u50-g50 <= time.Millisecond))
}

// TestAdmissionHarness runs BenchmarkRunAdmission's clients for a few
// samples, and checks that the budgeted path really counts its runs.
func TestAdmissionHarness(t *testing.T) {
	p := newAdmissionPair(t)
	guest, user, err := p.sample(t.Context(), 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(guest) != 20 || len(user) != 20 {
		t.Fatalf("%d and %d samples, want 20 each", len(guest), len(user))
	}
	caller, _, err := p.user.runs.Quotas.(*accounts.Service).Authenticate(t.Context(), p.user.token)
	if err != nil {
		t.Fatal(err)
	}
	usage, err := p.user.runs.Broker.Usage(t.Context(), caller.Owner(), time.Now())
	if err != nil || usage.RunsToday != 21 {
		t.Fatalf("the budgeted path counted %d runs today (%v), want 21", usage.RunsToday, err)
	}
}
