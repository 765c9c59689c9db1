package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"coderunner"
	"coderunner/accounts"
	"coderunner/graph"
	"coderunner/internal/gqlws"
)

// The authorization matrix: every root field of the schema, called by
// every kind of caller over every transport, answers as the policy says.
// A field added without a row here fails TestAuthorizationMatrixCoversSchema.

// The callers. "student" owns the runs a row works on.
var callers = []string{"guest", "student", "otherStudent", "editor", "admin"}

// expect maps a caller to the code it gets; absent means it succeeds.
type expect map[string]coderunner.Code

var (
	anyone       = expect{}
	signedIn     = expect{"guest": coderunner.Unauthenticated}
	adminOnly    = expect{"guest": coderunner.Unauthenticated, "student": coderunner.Forbidden, "otherStudent": coderunner.Forbidden, "editor": coderunner.Forbidden}
	ownerOrAdmin = expect{"guest": coderunner.NotFound, "otherStudent": coderunner.NotFound, "editor": coderunner.NotFound}
	// A signed-in owner or an admin: guests cannot submit, so they are
	// refused before anything is looked up.
	signedInOwnerOrAdmin = expect{"guest": coderunner.Unauthenticated, "otherStudent": coderunner.NotFound, "editor": coderunner.NotFound}
	editors              = expect{"guest": coderunner.Unauthenticated, "student": coderunner.Forbidden, "otherStudent": coderunner.Forbidden}
)

// authzRow is one root field: an operation calling it, the variables it
// needs (made afresh for each call, so that calls do not disturb each
// other), and what each caller gets.
type authzRow struct {
	op   string
	vars func(t *testing.T, f *authzFixture) map[string]any
	want expect
}

func noVars(*testing.T, *authzFixture) map[string]any { return nil }

// runVars starts a run owned by the student, waiting for input.
func runVars(t *testing.T, f *authzFixture) map[string]any {
	return map[string]any{"id": f.studentRun(t)}
}

// submissionVars submits a program as the student.
func submissionVars(t *testing.T, f *authzFixture) map[string]any {
	return map[string]any{"id": f.studentSubmission(t)}
}

// Content for the editing rows: fresh for each call, so that calls do not
// disturb each other, and drafts, which no sandbox check holds up.
func (f *authzFixture) freshID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nextName.Add(1))
}

func (f *authzFixture) freshAgeGroup(t *testing.T) coderunner.AgeGroup {
	g, err := f.ts.inner.CreateAgeGroup(t.Context(), coderunner.AgeGroup{Slug: f.freshID("g"), Title: "G", Position: 9})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (f *authzFixture) freshLevel(t *testing.T) coderunner.Level {
	l, err := f.ts.inner.CreateLevel(t.Context(), coderunner.Level{ID: f.freshID("l"), AgeGroup: "7-9", Title: "L"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func draftProblem(id, levelID string) coderunner.Problem {
	return coderunner.Problem{
		ID: id, LevelID: levelID, Title: "P", Statement: "Echo.", Draft: true,
		SampleTests: []coderunner.TestCase{{Input: "a\n", Output: "a\n"}}, HiddenTests: []coderunner.TestCase{{Input: "b\n", Output: "b\n"}},
		ReferenceSolution: "print(input())",
	}
}

func (f *authzFixture) freshProblem(t *testing.T) coderunner.Problem {
	p, err := f.ts.inner.CreateProblem(t.Context(), draftProblem(f.freshID("p"), "explorers-1"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const problemInput = `{id: $id, levelId: "explorers-1", title: "P", statement: "Echo.", starterCode: "", draft: true,
	sampleTests: [{input: "a\n", output: "a\n"}], hiddenTests: [{input: "b\n", output: "b\n"}], referenceSolution: "print(input())", version: $version}`

func targetVars(t *testing.T, f *authzFixture) map[string]any {
	return map[string]any{"user": f.target.ID}
}

var nextName atomic.Int64

var authzRows = map[string]authzRow{
	"Query.ageGroups":   {`{ ageGroups { slug } }`, noVars, anyone},
	"Query.levels":      {`{ levels(ageGroup: "7-9") { id } }`, noVars, anyone},
	"Query.level":       {`{ level(id: "explorers-1") { id } }`, noVars, anyone},
	"Query.problem":     {`{ problem(id: "hello-world") { id } }`, noVars, anyone},
	"Query.me":          {`{ me { id name role } }`, noVars, anyone},
	"Query.user":        {`query($user: ID) { user(id: $user) { id } }`, targetVars, adminOnly},
	"Query.auditLog":    {`{ auditLog(first: 5) { id action } }`, noVars, adminOnly},
	"Query.costReport":  {`{ costReport(days: 7) { figures { costPerUserMonth } recommendation { vcpus } } }`, noVars, adminOnly},
	"Query.run":         {`query($id: ID!) { run(id: $id) { id code owner { name } } }`, runVars, ownerOrAdmin},
	"Query.submission":  {`query($id: ID!) { submission(id: $id) { id code owner { name } tests { verdict } } }`, submissionVars, signedInOwnerOrAdmin},
	"Query.submissions": {`{ submissions(first: 5) { nodes { id } hasNextPage } }`, noVars, signedIn},

	"Mutation.run":       {`mutation { run(input: {language: "python", code: "print(1)"}) { id status } }`, noVars, anyone},
	"Mutation.sendInput": {`mutation($id: ID!) { sendInput(runId: $id, text: "hi\n") }`, runVars, ownerOrAdmin},
	"Mutation.submit":    {`mutation { submit(problemId: "hello-world", code: "print(1)") { id status } }`, noVars, signedIn},
	"Mutation.cancelRun": {`mutation($id: ID!) { cancelRun(id: $id) { id status } }`, runVars, ownerOrAdmin},
	"Mutation.signUp": {`mutation($name: String!) { signUp(name: $name, password: "correct horse") { token user { id } } }`,
		func(*testing.T, *authzFixture) map[string]any {
			return map[string]any{"name": fmt.Sprintf("newcomer%d", nextName.Add(1))}
		}, anyone},
	"Mutation.signIn":       {`mutation { signIn(name: "target", password: "target password") { token } }`, noVars, anyone},
	"Mutation.signOut":      {`mutation { signOut }`, noVars, signedIn},
	"Mutation.setRole":      {`mutation($user: ID!) { setRole(userId: $user, role: EDITOR) { role } }`, targetVars, adminOnly},
	"Mutation.setQuota":     {`mutation($user: ID!) { setQuota(userId: $user, input: {runsPerDay: 7, submitsPerDay: 3}) { runsPerDay submitsPerDay } }`, targetVars, adminOnly},
	"Mutation.setRoleQuota": {`mutation { setRoleQuota(role: STUDENT, input: {runsPerDay: 400}) { runsPerDay } }`, noVars, adminOnly},

	"Query.problemForEditing":  {`query($id: ID!) { problemForEditing(id: $id) { id hiddenTests { input } referenceSolution version } }`, func(t *testing.T, f *authzFixture) map[string]any { return map[string]any{"id": f.freshProblem(t).ID} }, editors},
	"Query.problemsForEditing": {`{ problemsForEditing(levelId: "explorers-1") { id draft } }`, noVars, editors},
	"Query.exportCurriculum":   {`{ exportCurriculum }`, noVars, editors},

	"Mutation.createProblem": {`mutation($id: ID!, $version: Int!) { createProblem(input: ` + problemInput + `) { id version } }`,
		func(_ *testing.T, f *authzFixture) map[string]any {
			return map[string]any{"id": f.freshID("p"), "version": 0}
		}, editors},
	"Mutation.updateProblem": {`mutation($id: ID!, $version: Int!) { updateProblem(input: ` + problemInput + `) { id version } }`,
		func(t *testing.T, f *authzFixture) map[string]any {
			p := f.freshProblem(t)
			return map[string]any{"id": p.ID, "version": p.Version}
		}, editors},
	"Mutation.deleteProblem": {`mutation($id: ID!, $version: Int!) { deleteProblem(id: $id, version: $version) }`,
		func(t *testing.T, f *authzFixture) map[string]any {
			p := f.freshProblem(t)
			return map[string]any{"id": p.ID, "version": p.Version}
		}, editors},
	"Mutation.reorderProblems": {`mutation($id: ID!, $version: Int!, $ids: [ID!]!) { reorderProblems(levelId: $id, version: $version, ids: $ids) { id version } }`,
		func(t *testing.T, f *authzFixture) map[string]any {
			l := f.freshLevel(t)
			p, err := f.ts.inner.CreateProblem(t.Context(), draftProblem(f.freshID("p"), l.ID))
			if err != nil {
				t.Fatal(err)
			}
			levels, err := f.ts.inner.Levels(t.Context(), []string{l.ID})
			if err != nil {
				t.Fatal(err)
			}
			return map[string]any{"id": l.ID, "version": levels[l.ID].Version, "ids": []string{p.ID}}
		}, editors},
	"Mutation.createLevel": {`mutation($id: ID!) { createLevel(input: {id: $id, ageGroup: "7-9", title: "L", description: ""}) { id version } }`,
		func(_ *testing.T, f *authzFixture) map[string]any { return map[string]any{"id": f.freshID("l")} }, editors},
	"Mutation.updateLevel": {`mutation($id: ID!, $version: Int!) { updateLevel(input: {id: $id, ageGroup: "7-9", title: "L!", description: "", version: $version}) { id version } }`,
		func(t *testing.T, f *authzFixture) map[string]any {
			l := f.freshLevel(t)
			return map[string]any{"id": l.ID, "version": l.Version}
		}, editors},
	"Mutation.deleteLevel": {`mutation($id: ID!, $version: Int!) { deleteLevel(id: $id, version: $version) }`,
		func(t *testing.T, f *authzFixture) map[string]any {
			l := f.freshLevel(t)
			return map[string]any{"id": l.ID, "version": l.Version}
		}, editors},
	"Mutation.reorderLevels": {`mutation($slug: String!, $version: Int!, $ids: [ID!]!) { reorderLevels(ageGroup: $slug, version: $version, ids: $ids) { slug version } }`,
		func(t *testing.T, f *authzFixture) map[string]any {
			g := f.freshAgeGroup(t)
			l, err := f.ts.inner.CreateLevel(t.Context(), coderunner.Level{ID: f.freshID("l"), AgeGroup: g.Slug, Title: "L"})
			if err != nil {
				t.Fatal(err)
			}
			groups, err := f.ts.inner.AgeGroups(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, stored := range groups {
				if stored.Slug == g.Slug {
					g = stored
				}
			}
			return map[string]any{"slug": g.Slug, "version": g.Version, "ids": []string{l.ID}}
		}, editors},
	"Mutation.createAgeGroup": {`mutation($slug: String!) { createAgeGroup(input: {slug: $slug, title: "G", description: "", position: 9}) { slug version } }`,
		func(_ *testing.T, f *authzFixture) map[string]any { return map[string]any{"slug": f.freshID("g")} }, editors},
	"Mutation.updateAgeGroup": {`mutation($slug: String!, $version: Int!) { updateAgeGroup(input: {slug: $slug, title: "G!", description: "", position: 9, version: $version}) { slug version } }`,
		func(t *testing.T, f *authzFixture) map[string]any {
			g := f.freshAgeGroup(t)
			return map[string]any{"slug": g.Slug, "version": g.Version}
		}, editors},
	"Mutation.deleteAgeGroup": {`mutation($slug: String!, $version: Int!) { deleteAgeGroup(slug: $slug, version: $version) }`,
		func(t *testing.T, f *authzFixture) map[string]any {
			g := f.freshAgeGroup(t)
			return map[string]any{"slug": g.Slug, "version": g.Version}
		}, editors},
	"Mutation.importCurriculum": {`mutation($yaml: String!) { importCurriculum(yaml: $yaml) { ageGroups levels problems } }`,
		func(_ *testing.T, f *authzFixture) map[string]any {
			g, l, p := f.freshID("g"), f.freshID("l"), f.freshID("p")
			return map[string]any{"yaml": fmt.Sprintf(`ageGroups:
- slug: %s
  title: G
  levels:
  - id: %s
    title: L
    problems:
    - id: %s
      title: P
      statement: Echo.
      draft: true
      sampleTests: [{input: "a\n", output: "a\n"}]
      hiddenTests: [{input: "b\n", output: "b\n"}]
      referenceSolution: print(input())
`, g, l, p)}
		}, editors},

	"Subscription.runEvents":        {`subscription($id: ID!) { runEvents(runId: $id) { seq type } }`, runVars, ownerOrAdmin},
	"Subscription.submissionEvents": {`subscription($id: ID!) { submissionEvents(submissionId: $id) { seq type } }`, submissionVars, signedInOwnerOrAdmin},
}

// TestAuthorizationMatrixCoversSchema fails for a root field without a row
// above, and for one that does not say who may call it.
func TestAuthorizationMatrixCoversSchema(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	seen := 0
	for _, root := range []string{"Query", "Mutation", "Subscription"} {
		for _, field := range schema.Types[root].Fields {
			if strings.HasPrefix(field.Name, "__") {
				continue
			}
			seen++
			name := root + "." + field.Name
			if _, ok := authzRows[name]; !ok {
				t.Errorf("%s has no row in authzRows: say what every caller gets", name)
			}
			marks := 0
			for _, d := range []string{"public", "anyone", "auth"} {
				if field.Directives.ForName(d) != nil {
					marks++
				}
			}
			if marks != 1 {
				t.Errorf("%s carries %d of @public, @anyone, @auth; want exactly one", name, marks)
			}
		}
	}
	if seen != len(authzRows) {
		t.Errorf("authzRows has %d rows for %d root fields: remove the rows of fields that are gone", len(authzRows), seen)
	}
}

// authzFixture is a server with one user of each kind.
type authzFixture struct {
	ts     *testServer
	users  map[string]coderunner.User // by caller
	target coderunner.User            // whom admin mutations change
}

func newAuthzFixture(t *testing.T) *authzFixture {
	f := &authzFixture{ts: newServer(t, options{}), users: map[string]coderunner.User{}}
	roles := map[string]coderunner.Role{"student": coderunner.RoleStudent, "otherStudent": coderunner.RoleStudent, "editor": coderunner.RoleEditor, "admin": coderunner.RoleAdmin}
	for caller, role := range roles {
		u, err := f.ts.accounts.Bootstrap(t.Context(), caller, caller+" password", role)
		if err != nil {
			t.Fatal(err)
		}
		f.users[caller] = u
	}
	var err error
	if f.target, err = f.ts.accounts.Bootstrap(t.Context(), "target", "target password", coderunner.RoleStudent); err != nil {
		t.Fatal(err)
	}
	return f
}

// token starts a new session for caller ("" for a guest) without the cost
// of a password check.
func (f *authzFixture) token(t *testing.T, caller string) string {
	t.Helper()
	u, ok := f.users[caller]
	if !ok {
		return ""
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token := "crt_" + base64.RawURLEncoding.EncodeToString(raw)
	now := time.Now().UTC()
	s := coderunner.Session{TokenHash: accounts.HashToken(token), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := f.ts.accounts.Store.CreateSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	return token
}

// studentRun starts an interactive run as the student and returns its id.
func (f *authzFixture) studentRun(t *testing.T) string {
	t.Helper()
	out := f.postAs(t, f.token(t, "student"), `mutation { run(input: {language: "python", code: "input()"}) { id } }`, nil)
	var data struct{ Run struct{ ID string } }
	if err := json.Unmarshal(out.Data, &data); err != nil || len(out.Errors) > 0 || data.Run.ID == "" {
		t.Fatalf("start the student's run: %s %+v", out.Data, out.Errors)
	}
	return data.Run.ID
}

// studentSubmission submits a program as the student and returns its id.
func (f *authzFixture) studentSubmission(t *testing.T) string {
	t.Helper()
	out := f.postAs(t, f.token(t, "student"), `mutation { submit(problemId: "hello-world", code: "print(1)") { id } }`, nil)
	var data struct{ Submit struct{ ID string } }
	if err := json.Unmarshal(out.Data, &data); err != nil || len(out.Errors) > 0 || data.Submit.ID == "" {
		t.Fatalf("submit as the student: %s %+v", out.Data, out.Errors)
	}
	return data.Submit.ID
}

func (f *authzFixture) postAs(t *testing.T, token, q string, vars map[string]any) gqlResponse {
	t.Helper()
	header := map[string][]string{}
	if token != "" {
		header["Authorization"] = []string{"Bearer " + token}
	}
	b, _ := json.Marshal(query(q, vars))
	_, out := f.ts.do(t, "POST", "/graphql", strings.NewReader(string(b)), header)
	return out
}

// wsAs sends one operation over a new WebSocket and returns the first
// result: its data, or the codes of its errors.
func (f *authzFixture) wsAs(t *testing.T, protocol, token, q string, vars map[string]any) gqlResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := gqlws.DialAs(ctx, f.ts.URL+"/graphql", protocol, token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe("1", q, vars); err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(time.Now().Add(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out gqlResponse
	switch {
	case m.Type == "connection_error" && strings.Contains(string(m.Payload), "session ended"):
		// signOut over a WebSocket may close it before its result is
		// sent: the session it runs on has just ended.
		return gqlResponse{Data: json.RawMessage(`{"signOut":true}`)}
	case m.IsData():
		err = json.Unmarshal(m.Payload, &out)
	case m.Type == "error" && strings.HasPrefix(string(m.Payload), "["):
		err = json.Unmarshal(m.Payload, &out.Errors)
	case m.Type == "error":
		out.Errors = make([]gqlError, 1)
		err = json.Unmarshal(m.Payload, &out.Errors[0])
	default:
		t.Fatalf("first message %s %s, want a result or an error", m.Type, m.Payload)
	}
	if err != nil {
		t.Fatalf("%s message %s: %v", m.Type, m.Payload, err)
	}
	return out
}

// TestAuthorizationMatrix calls every root field as every caller, over
// HTTP POST and both WebSocket subprotocols.
func TestAuthorizationMatrix(t *testing.T) {
	f := newAuthzFixture(t)
	transports := []string{"http", gqlws.TransportWS, gqlws.LegacyWS}
	for name, row := range authzRows {
		for _, transport := range transports {
			if transport == "http" && strings.HasPrefix(name, "Subscription.") {
				continue
			}
			for _, caller := range callers {
				t.Run(name+"/"+transport+"/"+caller, func(t *testing.T) {
					token := f.token(t, caller)
					vars := row.vars(t, f)
					var out gqlResponse
					if transport == "http" {
						out = f.postAs(t, token, row.op, vars)
					} else {
						out = f.wsAs(t, transport, token, row.op, vars)
					}
					want, refused := row.want[caller]
					switch codes := out.codes(); {
					case !refused && len(codes) > 0:
						t.Errorf("got errors %+v, want success", out.Errors)
					case !refused && (len(out.Data) == 0 || string(out.Data) == "null"):
						t.Errorf("got no data, want success")
					case refused && (len(codes) != 1 || codes[0] != string(want)):
						t.Errorf("got codes %v (data %s), want %s", codes, out.Data, want)
					}
				})
			}
		}
	}
}

// TestHiddenRunAnswersAsMissing checks that a run someone else owns is
// answered exactly as a run that does not exist, message included.
func TestHiddenRunAnswersAsMissing(t *testing.T) {
	f := newAuthzFixture(t)
	hidden := f.studentRun(t)
	missing := "00000000-0000-4000-8000-000000000000"
	token := f.token(t, "otherStudent")
	ask := func(id string) string {
		out := f.postAs(t, token, `query($id: ID!) { run(id: $id) { id } }`, map[string]any{"id": id})
		if len(out.Errors) != 1 {
			t.Fatalf("run(%s): %+v, want one error", id, out.Errors)
		}
		return strings.ReplaceAll(out.Errors[0].Message, id, "ID")
	}
	if a, b := ask(hidden), ask(missing); a != b {
		t.Errorf("a hidden run answers %q, a missing one %q: they must not be told apart", a, b)
	}
}
