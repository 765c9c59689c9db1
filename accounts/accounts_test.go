package accounts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"coderunner"
	"coderunner/accounts"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/store/sqlite"
)

type fixture struct {
	svc   *accounts.Service
	store *sqlite.Store
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := memory.New(broker.Options{})
	t.Cleanup(func() { b.Close() })
	f := &fixture{store: db, now: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
	f.svc = &accounts.Service{Store: db, Broker: b, Now: func() time.Time { return f.now }, Config: accounts.Config{
		TokenTTL: time.Hour, Guests: true, Quotas: accounts.DefaultQuotas, GuestQuota: accounts.DefaultGuestQuota,
	}}
	return f
}

func wantCode(t *testing.T, what string, err error, want coderunner.Code) {
	t.Helper()
	if got := coderunner.ErrorCode(err); err == nil || got != want {
		t.Fatalf("%s: error %v (%s), want %s", what, err, got, want)
	}
}

func TestSignUpSignInSignOut(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	up, err := f.svc.SignUp(ctx, "Ada", "correct horse", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if up.User.Role != coderunner.RoleStudent || !strings.HasPrefix(up.Token, "crt_") || !up.ExpiresAt.Equal(f.now.Add(time.Hour)) {
		t.Fatalf("SignUp = %+v, want a student with a crt_ token for an hour", up)
	}
	in, err := f.svc.SignIn(ctx, "ADA", "correct horse", "192.0.2.1")
	if err != nil {
		t.Fatalf("sign in with the name in other case: %v", err)
	}
	for _, token := range []string{up.Token, in.Token} {
		c, _, err := f.svc.Authenticate(ctx, token)
		if err != nil || c.User.ID != up.User.ID {
			t.Fatalf("Authenticate = %+v, %v; want Ada", c, err)
		}
	}
	c, _, _ := f.svc.Authenticate(ctx, in.Token)
	if err := f.svc.SignOut(ctx, c); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.Authenticate(ctx, in.Token)
	wantCode(t, "a signed-out token", err, coderunner.Unauthenticated)
	if _, _, err := f.svc.Authenticate(ctx, up.Token); err != nil {
		t.Fatalf("signing out one session ended another: %v", err)
	}
	f.now = f.now.Add(time.Hour)
	_, _, err = f.svc.Authenticate(ctx, up.Token)
	wantCode(t, "an expired token", err, coderunner.Unauthenticated)
}

func TestBadInputKeepsAccounts(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.svc.SignUp(ctx, "Ada", "correct horse", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want coderunner.Code
	}{
		{"wrong password", func() error { _, err := f.svc.SignIn(ctx, "Ada", "wrong horse", "a"); return err }, coderunner.Unauthenticated},
		{"unknown name", func() error { _, err := f.svc.SignIn(ctx, "Bob", "correct horse", "a"); return err }, coderunner.Unauthenticated},
		{"oversized password", func() error { _, err := f.svc.SignIn(ctx, "Ada", strings.Repeat("x", 1<<20), "a"); return err }, coderunner.Unauthenticated},
		{"taken name", func() error { _, err := f.svc.SignUp(ctx, "aDA", "another horse", "192.0.2.1"); return err }, coderunner.Conflict},
		{"oversized name", func() error {
			_, err := f.svc.SignUp(ctx, strings.Repeat("a", 33), "correct horse", "192.0.2.1")
			return err
		}, coderunner.BadUserInput},
		{"short name", func() error { _, err := f.svc.SignUp(ctx, "al", "correct horse", "192.0.2.1"); return err }, coderunner.BadUserInput},
		{"name with a space", func() error { _, err := f.svc.SignUp(ctx, "Ada L", "correct horse", "192.0.2.1"); return err }, coderunner.BadUserInput},
		{"short password", func() error { _, err := f.svc.SignUp(ctx, "Bob", "short", "192.0.2.1"); return err }, coderunner.BadUserInput},
		{"malformed token", func() error { _, _, err := f.svc.Authenticate(ctx, "Bearer nonsense"); return err }, coderunner.Unauthenticated},
		{"unknown token", func() error {
			_, _, err := f.svc.Authenticate(ctx, "crt_"+strings.Repeat("A", 43))
			return err
		}, coderunner.Unauthenticated},
		{"huge token", func() error { _, _, err := f.svc.Authenticate(ctx, strings.Repeat("x", 1<<20)); return err }, coderunner.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.name, tt.call(), tt.want) })
	}
	if _, err := f.svc.SignIn(ctx, "Ada", "correct horse", "a"); err != nil {
		t.Fatalf("after all that, Ada cannot sign in: %v", err)
	}
}

func TestConcurrentSignUpsOneWins(t *testing.T) {
	f := newFixture(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = f.svc.SignUp(t.Context(), "Grace", "correct horse", "192.0.2.1") })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case coderunner.ErrorCode(err) != coderunner.Conflict:
			t.Errorf("sign-up failed: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent sign-ups as one name won, want exactly 1", won, n)
	}
}

func TestSignInFailuresAreThrottled(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.svc.SignUp(ctx, "Ada", "correct horse", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		_, err := f.svc.SignIn(ctx, "ada", "guess"+string(rune('a'+i)), "192.0.2.1")
		wantCode(t, "a wrong guess", err, coderunner.Unauthenticated)
	}
	// Even the right password is refused now, without being checked.
	_, err := f.svc.SignIn(ctx, "Ada", "correct horse", "192.0.2.2")
	wantCode(t, "the 11th try within 15 minutes", err, coderunner.RateLimited)
	var e *coderunner.Error
	if !errors.As(err, &e) || e.RetryAfter <= 0 || e.RetryAfter > 15*time.Minute {
		t.Fatalf("RATE_LIMITED with RetryAfter %v, want within 15 minutes", e.RetryAfter)
	}
	f.now = f.now.Add(15*time.Minute + time.Second)
	if _, err := f.svc.SignIn(ctx, "Ada", "correct horse", "192.0.2.2"); err != nil {
		t.Fatalf("15 minutes later: %v", err)
	}
}

func TestQuotaResolution(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	admin, err := f.svc.Bootstrap(ctx, "root", "correct horse", coderunner.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	actor := coderunner.Caller{User: &admin}
	student, err := f.svc.CreateUser(ctx, "Ada", "correct horse", coderunner.RoleStudent)
	if err != nil {
		t.Fatal(err)
	}
	three, five, zero := 3, 5, 0
	if _, err := f.svc.SetRoleQuota(ctx, actor, coderunner.RoleStudent, coderunner.QuotaOverride{RunsPerMinute: &three, SubmitsPerDay: &three}); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.SetQuota(ctx, actor, student.ID, coderunner.QuotaOverride{RunsPerDay: &five, MaxActiveRuns: &zero, SubmitsPerMinute: &zero})
	if err != nil {
		t.Fatal(err)
	}
	want := accounts.DefaultQuotas[coderunner.RoleStudent]
	want.RunsPerMinute, want.RunsPerDay, want.MaxActiveRuns = 3, 5, 0
	want.SubmitsPerDay, want.SubmitsPerMinute = 3, 0
	if got.Quota != want {
		t.Fatalf("effective quota %+v, want %+v", got.Quota, want)
	}
	if got.ResetsAt != time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC) {
		t.Errorf("resetsAt %v, want the next midnight UTC", got.ResetsAt)
	}
	guest, err := f.svc.QuotaFor(ctx, coderunner.Caller{Addr: "192.0.2.1"})
	if err != nil || guest != accounts.DefaultGuestQuota {
		t.Fatalf("guest quota %+v, %v", guest, err)
	}
	f.svc.Config.Guests = false
	_, err = f.svc.QuotaFor(ctx, coderunner.Caller{Addr: "192.0.2.1"})
	wantCode(t, "a guest when guests are off", err, coderunner.Unauthenticated)

	_, err = f.svc.SetRole(ctx, actor, admin.ID, coderunner.RoleStudent)
	wantCode(t, "an admin demoting themselves", err, coderunner.BadUserInput)
	minus := -1
	_, err = f.svc.SetQuota(ctx, actor, student.ID, coderunner.QuotaOverride{RunsPerDay: &minus})
	wantCode(t, "a negative quota", err, coderunner.BadUserInput)

	log, err := f.svc.AuditLog(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action+" "+e.ActorID)
	}
	wantActions := []string{"setQuota " + admin.ID, "setRoleQuota " + admin.ID, "createUser cli"}
	if strings.Join(actions, ", ") != strings.Join(wantActions, ", ") {
		t.Fatalf("audit log %v, want %v (newest first)", actions, wantActions)
	}
	if !strings.Contains(log[0].After, `"runsPerDay":5`) || !strings.Contains(log[0].After, `"submitsPerMinute":0`) || log[0].Target != "user:"+student.ID {
		t.Errorf("setQuota entry %+v: want the target and the value after", log[0])
	}
}

func TestPasswordNeverInUser(t *testing.T) {
	f := newFixture(t)
	up, err := f.svc.SignUp(t.Context(), "Ada", "correct horse", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	_, hash, err := f.store.UserByName(context.Background(), "Ada")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, "correct horse") {
		t.Fatalf("stored hash %q: want argon2id with the documented parameters", hash)
	}
	if strings.Contains(strings.ToLower(toJSON(t, up)), "argon") {
		t.Fatal("the password hash travels with the user")
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestThrottles checks that no client can fill the store: sign-ups per
// address and sessions per user are limited, each with RATE_LIMITED and
// a message that says why.
func TestThrottles(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for i := range 20 {
		if _, err := f.svc.SignUp(ctx, fmt.Sprintf("child%d", i), "correct horse", "198.51.100.7"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.svc.SignUp(ctx, "child20", "correct horse", "198.51.100.7")
	wantCode(t, "the 21st sign-up from one address within an hour", err, coderunner.RateLimited)
	if !strings.Contains(err.Error(), "too many new accounts") {
		t.Errorf("message %q does not say why", err)
	}
	if _, err := f.svc.SignUp(ctx, "child20", "correct horse", "198.51.100.8"); err != nil {
		t.Fatalf("a sign-up from another address: %v", err)
	}
	// child0's sign-up started one session; 49 more fit in a day.
	for range 49 {
		if _, err := f.svc.SignIn(ctx, "child0", "correct horse", "198.51.100.7"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.svc.SignIn(ctx, "child0", "correct horse", "198.51.100.7")
	wantCode(t, "the 51st session of one user within a day", err, coderunner.RateLimited)
	f.now = f.now.Add(24 * time.Hour)
	if _, err := f.svc.SignIn(ctx, "child0", "correct horse", "198.51.100.7"); err != nil {
		t.Fatalf("a day later: %v", err)
	}
}

// TestConcurrentAttemptsAreThrottledExactly checks that attempts sent at
// once cannot all pass a throttle's check: of 60 wrong passwords for one
// name, exactly 10 are checked.
func TestConcurrentAttemptsAreThrottledExactly(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.SignUp(t.Context(), "Ada", "correct horse", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	const n = 60
	codes := make([]coderunner.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := f.svc.SignIn(t.Context(), "ada", fmt.Sprintf("guess %d", i), fmt.Sprintf("198.51.100.%d", i))
			codes[i] = coderunner.ErrorCode(err)
		})
	}
	wg.Wait()
	count := map[coderunner.Code]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[coderunner.Unauthenticated] != 10 || count[coderunner.RateLimited] != n-10 {
		t.Fatalf("60 wrong passwords at once: %v; want 10 checked (UNAUTHENTICATED), 50 RATE_LIMITED", count)
	}
}

// TestSignUpAttemptsCount checks that sign-ups that fail count against the
// address too: a taken name cannot be tried without limit.
func TestSignUpAttemptsCount(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.svc.SignUp(ctx, "Ada", "correct horse", "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	for range 19 {
		_, err := f.svc.SignUp(ctx, "ada", "correct horse", "192.0.2.9")
		wantCode(t, "a taken name", err, coderunner.Conflict)
	}
	_, err := f.svc.SignUp(ctx, "grace", "correct horse", "192.0.2.9")
	wantCode(t, "the 21st sign-up attempt from one address", err, coderunner.RateLimited)
	// A wrong password does not use up the user's sessions.
	for i := range 9 {
		_, err := f.svc.SignIn(ctx, "ada", fmt.Sprintf("guess %d", i), fmt.Sprintf("198.51.100.%d", i))
		wantCode(t, "a wrong password", err, coderunner.Unauthenticated)
	}
	_, err = f.svc.SignIn(ctx, strings.Repeat("x", 1<<20), "correct horse", "192.0.2.9")
	wantCode(t, "a name that cannot exist", err, coderunner.Unauthenticated)
}
