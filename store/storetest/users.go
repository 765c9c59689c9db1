package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"coderunner"
)

func user(id, name string) coderunner.User {
	return coderunner.User{ID: id, Name: name, Role: coderunner.RoleStudent, CreatedAt: at(7)}
}

// passwordHash is a made-up hash: stores keep it as an opaque string.
func passwordHash(id string) string { return "$argon2id$v=19$m=65536,t=3,p=4$" + id }

// show formats users and quotas for failure messages: as JSON, a quota
// shows the values its fields point to, not the pointers.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v (%v)", v, err)
	}
	return string(b)
}

func mustCreateUser(t *testing.T, s coderunner.Store, u coderunner.User) {
	t.Helper()
	if err := s.CreateUser(ctxFor(t), u, passwordHash(u.ID)); err != nil {
		t.Fatalf("CreateUser(%q, %q): %v", u.ID, u.Name, err)
	}
}

func mustCreateSession(t *testing.T, s coderunner.Store, sess coderunner.Session) {
	t.Helper()
	if err := s.CreateSession(ctxFor(t), sess); err != nil {
		t.Fatalf("CreateSession(%q): %v", sess.TokenHash, err)
	}
}

// wantUser checks that the store holds want, under its id and its name,
// with the password hash it was created with.
func wantUser(t *testing.T, s coderunner.Store, want coderunner.User) {
	t.Helper()
	got, hash, err := s.UserByName(ctxFor(t), want.Name)
	if err != nil {
		t.Fatalf("UserByName(%q): %v", want.Name, err)
	}
	if !reflect.DeepEqual(got, want) || hash != passwordHash(want.ID) {
		t.Errorf("UserByName(%q) =\n %s, %q\nwant\n %s, %q", want.Name, show(got), hash, show(want), passwordHash(want.ID))
	}
	m, err := s.Users(ctxFor(t), []string{want.ID})
	if err != nil {
		t.Fatalf("Users(%q): %v", want.ID, err)
	}
	if !reflect.DeepEqual(m[want.ID], want) {
		t.Errorf("Users[%q] = %s, want %s", want.ID, show(m[want.ID]), show(want))
	}
}

func testUserRoundTrip(t *testing.T, s coderunner.Store) {
	ada := user("u-ada", "Ada")
	grace := coderunner.User{
		ID: "u-grace", Name: "Grace_Hopper.1906", Role: coderunner.RoleAdmin, CreatedAt: at(123),
		Quota: coderunner.QuotaOverride{RunsPerDay: new(0), MaxActiveRuns: new(coderunner.MaxQuotaValue), SubmitsPerDay: new(0), SubmitsPerMinute: new(3)},
	}
	aeroe := user("u-aeroe", "Ærøskøbing-Åsa") // non-ASCII: its name key is lower-cased too
	for _, u := range []coderunner.User{ada, grace, aeroe} {
		mustCreateUser(t, s, u)
		wantUser(t, s, u)
	}

	ctx := ctxFor(t)
	tests := []struct {
		in   []string
		want []coderunner.User
	}{
		{[]string{"u-grace", "u-ada"}, []coderunner.User{ada, grace}},
		{[]string{"missing", "u-aeroe", "gone"}, []coderunner.User{aeroe}},
		{[]string{"u-ada", "u-ada"}, []coderunner.User{ada}},
		{[]string{"Ada"}, nil}, // a name is not an id
		{nil, nil},
		{[]string{}, nil},
	}
	for _, tt := range tests {
		m, err := s.Users(ctx, tt.in)
		if err != nil {
			t.Fatalf("Users(%q): %v", tt.in, err)
		}
		want := map[string]coderunner.User{}
		for _, u := range tt.want {
			want[u.ID] = u
		}
		if len(m) != len(want) || (len(want) > 0 && !reflect.DeepEqual(m, want)) {
			t.Errorf("Users(%q) =\n %s\nwant\n %s", tt.in, show(m), show(want))
		}
	}

	if t.Failed() {
		return // what follows would scribble on the wrong values
	}
	// Values returned are the caller's, the quota's pointers included.
	m, err := s.Users(ctx, []string{grace.ID})
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	scribbled := m[grace.ID]
	scribbled.Name = "scribbled"
	*scribbled.Quota.RunsPerDay = 99
	m[grace.ID] = scribbled
	byName, _, err := s.UserByName(ctx, grace.Name)
	if err != nil {
		t.Fatalf("UserByName: %v", err)
	}
	*byName.Quota.MaxActiveRuns = 99
	*byName.Quota.SubmitsPerMinute = 99
	wantUser(t, s, grace)
}

func testUserByName(t *testing.T, s coderunner.Store) {
	ada := user("u-ada", "Ada")
	aeroe := user("u-aeroe", "Ærøskøbing")
	mustCreateUser(t, s, ada)
	mustCreateUser(t, s, aeroe)
	tests := []struct {
		name string
		want coderunner.User // zero: NOT_FOUND
	}{
		{"Ada", ada},
		{"ada", ada},
		{"ADA", ada},
		{"aDa", ada},
		{"ærøskøbing", aeroe},
		{"ÆRØSKØBING", aeroe},
		{"Adam", coderunner.User{}},
		{"Ad", coderunner.User{}},
		{"", coderunner.User{}},
		{"u-ada", coderunner.User{}}, // an id is not a name
	}
	for _, tt := range tests {
		got, hash, err := s.UserByName(ctxFor(t), tt.name)
		if tt.want.ID == "" {
			wantCode(t, fmt.Sprintf("UserByName(%q)", tt.name), err, coderunner.NotFound)
			continue
		}
		// The stored spelling comes back, whatever the spelling asked for.
		if err != nil || !reflect.DeepEqual(got, tt.want) || hash != passwordHash(tt.want.ID) {
			t.Errorf("UserByName(%q) = %s, %q, %v; want %s, %q", tt.name, show(got), hash, err, show(tt.want), passwordHash(tt.want.ID))
		}
	}
}

// testUserTaken checks that a name taken in any spelling, or an id taken, is
// CONFLICT, and that a refused user is not written.
func testUserTaken(t *testing.T, s coderunner.Store) {
	ada := user("u-ada", "Ada")
	aeroe := user("u-aeroe", "Ærøskøbing")
	mustCreateUser(t, s, ada)
	mustCreateUser(t, s, aeroe)
	tests := []struct {
		name string
		u    coderunner.User
	}{
		{"same name", user("u-2", "Ada")},
		{"name in capitals", user("u-2", "ADA")},
		{"name in lower case", user("u-2", "ada")},
		{"non-ASCII name in another case", user("u-2", "ærøSKØBING")},
		{"same id, another name", user("u-ada", "Grace")},
		{"same id and name", ada},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refused := tt.u
			refused.Role = coderunner.RoleAdmin
			err := s.CreateUser(ctxFor(t), refused, "other hash")
			wantCode(t, fmt.Sprintf("CreateUser(%q, %q)", refused.ID, refused.Name), err, coderunner.Conflict)
			wantUser(t, s, ada)
			wantUser(t, s, aeroe)
			m, err := s.Users(ctxFor(t), []string{"u-2"})
			if err != nil {
				t.Fatalf("Users: %v", err)
			}
			if u, ok := m["u-2"]; ok {
				t.Errorf("refused user was written: %s", show(u))
			}
		})
	}
	// A name that differs from a taken one by more than case is free.
	mustCreateUser(t, s, user("u-3", "Ada2"))
}

func testSetUserRole(t *testing.T, s coderunner.Store) {
	u := user("u-ada", "Ada")
	u.Quota = coderunner.QuotaOverride{RunsPerMinute: new(5)}
	other := user("u-bob", "Bob")
	mustCreateUser(t, s, u)
	mustCreateUser(t, s, other)
	ctx := ctxFor(t)
	// Setting the role a user has already is no error either.
	for _, role := range []coderunner.Role{coderunner.RoleEditor, coderunner.RoleEditor, coderunner.RoleAdmin, coderunner.RoleStudent} {
		if err := s.SetUserRole(ctx, u.ID, role); err != nil {
			t.Fatalf("SetUserRole(%s): %v", role, err)
		}
		u.Role = role
		wantUser(t, s, u)
	}
	wantUser(t, s, other)
	wantCode(t, "SetUserRole of a missing user", s.SetUserRole(ctx, "missing", coderunner.RoleAdmin), coderunner.NotFound)
	wantCode(t, "SetUserRole by name", s.SetUserRole(ctx, "Ada", coderunner.RoleAdmin), coderunner.NotFound)
}

func testSetUserQuota(t *testing.T, s coderunner.Store) {
	u := user("u-ada", "Ada")
	u.Role = coderunner.RoleEditor
	other := user("u-bob", "Bob")
	other.Quota = coderunner.QuotaOverride{RunsPerDay: new(7)}
	mustCreateUser(t, s, u)
	mustCreateUser(t, s, other)
	ctx := ctxFor(t)
	// Each step replaces the whole override: fields not set are nil again.
	steps := []coderunner.QuotaOverride{
		{RunsPerMinute: new(0), ExecSecondsPerDay: new(600)},
		{MaxActiveRuns: new(2)},
		{MaxActiveRuns: new(2)}, // the same again: no error either
		{SubmitsPerDay: new(0), SubmitsPerMinute: new(coderunner.MaxQuotaValue)},
		{RunsPerMinute: new(1), RunsPerDay: new(2), ExecSecondsPerDay: new(3), MaxActiveRuns: new(0), SubmitsPerMinute: new(4), SubmitsPerDay: new(5)},
		{},
	}
	for _, q := range steps {
		if err := s.SetUserQuota(ctx, u.ID, q); err != nil {
			t.Fatalf("SetUserQuota(%s): %v", show(q), err)
		}
		u.Quota = q
		wantUser(t, s, u)
	}
	wantUser(t, s, other)
	wantCode(t, "SetUserQuota of a missing user", s.SetUserQuota(ctx, "missing", steps[0]), coderunner.NotFound)
}

func testRoleQuotas(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	wantRoleQuotas := func(want map[coderunner.Role]coderunner.QuotaOverride) {
		t.Helper()
		got, err := s.RoleQuotas(ctx)
		if err != nil {
			t.Fatalf("RoleQuotas: %v", err)
		}
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Errorf("RoleQuotas =\n %s\nwant\n %s", show(got), show(want))
		}
	}
	wantRoleQuotas(nil)

	want := map[coderunner.Role]coderunner.QuotaOverride{}
	steps := []struct {
		role coderunner.Role
		q    coderunner.QuotaOverride
	}{
		{coderunner.RoleStudent, coderunner.QuotaOverride{RunsPerMinute: new(10), RunsPerDay: new(0)}},
		{coderunner.RoleEditor, coderunner.QuotaOverride{MaxActiveRuns: new(4), SubmitsPerDay: new(0)}},
		// Replaces the student override: RunsPerMinute and RunsPerDay go.
		{coderunner.RoleStudent, coderunner.QuotaOverride{ExecSecondsPerDay: new(300), SubmitsPerMinute: new(2)}},
	}
	for _, st := range steps {
		if err := s.SetRoleQuota(ctx, st.role, st.q); err != nil {
			t.Fatalf("SetRoleQuota(%s, %s): %v", st.role, show(st.q), err)
		}
		want[st.role] = st.q
		wantRoleQuotas(want) // the admin role, never set, stays absent
	}

	if t.Failed() {
		return // what follows would scribble on the wrong values
	}
	// Values returned are the caller's, the quota's pointers included.
	got, err := s.RoleQuotas(ctx)
	if err != nil {
		t.Fatalf("RoleQuotas: %v", err)
	}
	*got[coderunner.RoleEditor].MaxActiveRuns = 99
	wantRoleQuotas(want)
}

func testSessions(t *testing.T, s coderunner.Store) {
	mustCreateUser(t, s, user("u-ada", "Ada"))
	ctx := ctxFor(t)
	live := coderunner.Session{TokenHash: "hash-live", UserID: "u-ada", CreatedAt: at(10), ExpiresAt: at(1_000_000)}
	expired := coderunner.Session{TokenHash: "hash-expired", UserID: "u-ada", CreatedAt: at(-2000), ExpiresAt: at(-1000)}
	mustCreateSession(t, s, live)
	mustCreateSession(t, s, expired)
	for _, want := range []coderunner.Session{live, expired} {
		got, err := s.Session(ctx, want.TokenHash)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Session(%q) = %+v, %v; want %+v", want.TokenHash, got, err, want)
		}
	}
	_, err := s.Session(ctx, "missing")
	wantCode(t, "Session of a missing hash", err, coderunner.NotFound)

	taken := coderunner.Session{TokenHash: live.TokenHash, UserID: "u-ada", CreatedAt: at(20), ExpiresAt: at(30)}
	wantCode(t, "CreateSession with a taken hash", s.CreateSession(ctx, taken), coderunner.Conflict)
	if got, err := s.Session(ctx, live.TokenHash); err != nil || !reflect.DeepEqual(got, live) {
		t.Errorf("after a refused CreateSession, Session = %+v, %v; want %+v", got, err, live)
	}

	for range 2 { // deleting a deleted session is not an error
		if err := s.DeleteSession(ctx, live.TokenHash); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		_, err := s.Session(ctx, live.TokenHash)
		wantCode(t, "Session after DeleteSession", err, coderunner.NotFound)
	}
	if err := s.DeleteSession(ctx, "never-was"); err != nil {
		t.Errorf("DeleteSession of a hash never stored: %v", err)
	}
	if got, err := s.Session(ctx, expired.TokenHash); err != nil || !reflect.DeepEqual(got, expired) {
		t.Errorf("DeleteSession removed another session: Session(%q) = %+v, %v", expired.TokenHash, got, err)
	}
}

func testDeleteExpiredSessions(t *testing.T, s coderunner.Store) {
	mustCreateUser(t, s, user("u-ada", "Ada"))
	ctx := ctxFor(t)
	expiries := map[string]int64{"s-100": 100, "s-200": 200, "s-300": 300, "s-300b": 300, "s-400": 400}
	for hash, ms := range expiries {
		mustCreateSession(t, s, coderunner.Session{TokenHash: hash, UserID: "u-ada", CreatedAt: at(0), ExpiresAt: at(ms)})
	}
	tests := []struct {
		before    int64
		wantCount int
		wantLeft  []string
	}{
		{50, 0, []string{"s-100", "s-200", "s-300", "s-300b", "s-400"}},
		{100, 0, []string{"s-100", "s-200", "s-300", "s-300b", "s-400"}}, // expiring at t is not before t
		{101, 1, []string{"s-200", "s-300", "s-300b", "s-400"}},
		{301, 3, []string{"s-400"}},
		{301, 0, []string{"s-400"}},
		{1000, 1, nil},
	}
	for _, tt := range tests {
		n, err := s.DeleteExpiredSessions(ctx, at(tt.before))
		if err != nil || n != tt.wantCount {
			t.Errorf("DeleteExpiredSessions(at(%d)) = %d, %v; want %d", tt.before, n, err, tt.wantCount)
		}
		var left []string
		for hash := range expiries {
			_, err := s.Session(ctx, hash)
			if err == nil {
				left = append(left, hash)
			} else if coderunner.ErrorCode(err) != coderunner.NotFound {
				t.Fatalf("Session(%q): %v", hash, err)
			}
		}
		slices.Sort(left)
		if !slices.Equal(left, tt.wantLeft) {
			t.Errorf("after DeleteExpiredSessions(at(%d)), sessions %q are left, want %q", tt.before, left, tt.wantLeft)
		}
	}
}

func testAuditLog(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	entries, err := s.AuditEntries(ctx, "", 10)
	if err != nil || len(entries) != 0 {
		t.Fatalf("AuditEntries of an empty log = %+v, %v; want none", entries, err)
	}

	// Oldest first, by id; added in another order, so that a store must
	// order by id rather than by insertion.
	var log []coderunner.AuditEntry
	for i := range 5 {
		log = append(log, coderunner.AuditEntry{
			ID: uuid.Must(uuid.NewV7()).String(), ActorID: "u-admin", Action: "setQuota", Target: fmt.Sprintf("user:u-%d", i),
			Before: `{}`, After: fmt.Sprintf(`{"runsPerDay":%d,"note":"ünïcødé 🐍"}`, i), At: at(int64(i)),
		})
	}
	log[2].Action, log[2].Target, log[2].Before, log[2].After = "setRole", "role:EDITOR", `"STUDENT"`, `"EDITOR"`
	slices.SortFunc(log, func(a, b coderunner.AuditEntry) int { return strings.Compare(a.ID, b.ID) })
	for _, i := range []int{3, 0, 4, 1, 2} {
		if err := s.AddAuditEntry(ctx, log[i]); err != nil {
			t.Fatalf("AddAuditEntry(%d): %v", i, err)
		}
	}

	tests := []struct {
		name   string
		before string
		limit  int
		want   []int // indexes into log
	}{
		{"all", "", 10, []int{4, 3, 2, 1, 0}},
		{"exactly all", "", 5, []int{4, 3, 2, 1, 0}},
		{"first page", "", 2, []int{4, 3}},
		{"second page", log[3].ID, 2, []int{2, 1}},
		{"last page", log[1].ID, 2, []int{0}},
		{"past the oldest", log[0].ID, 2, nil},
		{"limit 1", log[4].ID, 1, []int{3}},
		{"limit 0", "", 0, nil},
	}
	for _, tt := range tests {
		got, err := s.AuditEntries(ctx, tt.before, tt.limit)
		if err != nil {
			t.Fatalf("%s: AuditEntries: %v", tt.name, err)
		}
		var want []coderunner.AuditEntry
		for _, i := range tt.want {
			want = append(want, log[i])
		}
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Errorf("%s: AuditEntries(%q, %d) =\n %+v\nwant\n %+v", tt.name, tt.before, tt.limit, got, want)
		}
	}
}

// testConcurrentCreateUser signs up one name from many clients at once:
// exactly one gets it, every other is told it is taken, and the store holds
// one user by that name.
func testConcurrentCreateUser(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	const clients = 20
	start := make(chan struct{})
	errs := make([]error, clients)
	userIDs := make([]string, clients)
	var wg sync.WaitGroup
	for i := range clients {
		userIDs[i] = fmt.Sprintf("u-%02d", i)
		wg.Go(func() {
			<-start
			errs[i] = s.CreateUser(ctx, user(userIDs[i], "Ada"), passwordHash(userIDs[i]))
		})
	}
	close(start) // all at once, as far as the scheduler lets them
	wg.Wait()

	var created []string
	for i, err := range errs {
		if err == nil {
			created = append(created, userIDs[i])
			continue
		}
		wantCode(t, "CreateUser("+userIDs[i]+") of a taken name", err, coderunner.Conflict)
	}
	if len(created) != 1 {
		t.Fatalf("users %q were created with the name Ada, want exactly one", created)
	}
	winner := created[0]
	wantUser(t, s, user(winner, "Ada"))
	m, err := s.Users(ctx, userIDs)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	if _, ok := m[winner]; len(m) != 1 || !ok {
		t.Errorf("Users of every id tried = %s, want only %s", show(m), winner)
	}
}
