package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"coderunner"
)

// Content editing through the real processes (issue 11): the problems the
// tests edit are shipped ones, hello-world of level explorers-1 (age group
// 7-9), and one they create; builders-1 (age group 10-12) is never touched.
const (
	editedProblem  = "hello-world"
	editedLevel    = "explorers-1"
	untouchedLevel = "builders-1"
	draftProblem   = "e2e-double"
	// seenWithin bounds how long another replica may serve the old
	// content after a change was made (issue 11: within 1 s).
	seenWithin = time.Second
)

// editableFields are the fields of an EditableProblem, the names of
// coderunner.Problem's JSON, so that one decodes into the other.
const editableFields = `id levelId position title statement starterCode sampleTests { input output hint } hiddenTests { input output hint }
	timeLimitMs memoryMb referenceSolution checker { kind tolerance } stopOnFirstFailure draft version`

const updateProblemMutation = `mutation($in: ProblemInput!) { updateProblem(input: $in) { ` + editableFields + ` } }`

// problemForEditing reads problem id as an editor.
func problemForEditing(t *testing.T, api *proc, token, id string) coderunner.Problem {
	t.Helper()
	var data struct{ ProblemForEditing coderunner.Problem }
	graphqlAs(t, api, token, `query($id: ID!) { problemForEditing(id: $id) { `+editableFields+` } }`, map[string]any{"id": id}, &data)
	return data.ProblemForEditing
}

// problemInput is p as a ProblemInput: every field but the position.
func problemInput(t *testing.T, p coderunner.Problem) map[string]any {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}
	delete(in, "position")
	return in
}

// updateProblem sends updateProblem with p through api and returns the
// stored problem, or the errors.
func updateProblem(t *testing.T, api *proc, token string, p coderunner.Problem) (coderunner.Problem, []gqlError) {
	t.Helper()
	status, data, errs, err := post(api, token, updateProblemMutation, map[string]any{"in": problemInput(t, p)})
	if err != nil {
		t.Errorf("%s: updateProblem %s: %v", api.name, p.ID, err)
		return coderunner.Problem{}, []gqlError{{Message: err.Error()}}
	}
	if len(errs) > 0 {
		return coderunner.Problem{}, errs
	}
	var out struct{ UpdateProblem coderunner.Problem }
	if status != http.StatusOK || json.Unmarshal(data, &out) != nil {
		t.Fatalf("%s: updateProblem %s: %d %s", api.name, p.ID, status, data)
	}
	return out.UpdateProblem, nil
}

// mustUpdateProblem is updateProblem that must succeed.
func mustUpdateProblem(t *testing.T, api *proc, token string, p coderunner.Problem) coderunner.Problem {
	t.Helper()
	began := time.Now()
	stored, errs := updateProblem(t, api, token, p)
	if errs != nil {
		t.Fatalf("%s: updateProblem %s: %+v", api.name, p.ID, errs)
	}
	t.Logf("updateProblem %s (draft: %v) took %v", p.ID, p.Draft, time.Since(began).Round(time.Millisecond))
	return stored
}

// onlyError returns the one error of errs with code, or fails the test.
func onlyError(t *testing.T, what string, errs []gqlError, code string) gqlError {
	t.Helper()
	if len(errs) != 1 || errs[0].code() != code {
		t.Fatalf("%s: errors %+v; want one %s", what, errs, code)
	}
	return errs[0]
}

// studentLevel is a level as students read it.
type studentLevel struct {
	Version      int64
	ProblemCount int
	Problems     []struct{ ID, Statement string }
}

func (l studentLevel) has(id string) bool {
	return slices.ContainsFunc(l.Problems, func(p struct{ ID, Statement string }) bool { return p.ID == id })
}

func levelAs(t *testing.T, api *proc, token, id string) studentLevel {
	t.Helper()
	var data struct{ Level studentLevel }
	graphqlAs(t, api, token, `query($id: ID!) { level(id: $id) { version problemCount problems { id statement } } }`, map[string]any{"id": id}, &data)
	return data.Level
}

// cachedGet is a public GET's outcome.
type cachedGet struct {
	status     int
	etag, data string
}

// get GETs /graphql?params through api as a guest, conditionally on etag
// if it is not "".
func get(t *testing.T, api *proc, params url.Values, etag string) cachedGet {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, api.url("/graphql?"+params.Encode()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := defaultHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", api.name, params.Encode(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", api.name, params.Encode(), err)
	}
	got := cachedGet{status: resp.StatusCode, etag: resp.Header.Get("ETag")}
	if resp.StatusCode == http.StatusOK {
		var r struct {
			Data   json.RawMessage
			Errors []gqlError
		}
		if err := json.Unmarshal(body, &r); err != nil || len(r.Errors) > 0 {
			t.Fatalf("%s: GET %s: %s (%v)", api.name, params.Encode(), body, err)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public") || got.etag == "" {
			t.Fatalf("%s: GET %s: Cache-Control %q, ETag %q; want a public, tagged response", api.name, params.Encode(), cc, got.etag)
		}
		got.data = string(r.Data)
	}
	return got
}

// cachedBy GETs params through api until a conditional GET with the
// response's ETag answers 304 (the replica stores responses in its cache
// in the background), and returns that response.
func cachedBy(t *testing.T, api *proc, params url.Values) cachedGet {
	t.Helper()
	first := get(t, api, params, "")
	if first.status != http.StatusOK {
		t.Fatalf("%s: GET %s: status %d", api.name, params.Encode(), first.status)
	}
	eventually(t, 5*time.Second, api.name+" caches "+params.Encode(), func() error {
		if got := get(t, api, params, first.etag); got.status != http.StatusNotModified {
			return fmt.Errorf("status %d, ETag %q (was %q)", got.status, got.etag, first.etag)
		}
		return nil
	})
	return first
}

// persisted registers query as an automatic persisted query through api
// and returns the parameters of a GET of it by its hash alone, as Apollo
// clients send them.
func persisted(t *testing.T, api *proc, query string) url.Values {
	t.Helper()
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	body, _ := json.Marshal(map[string]any{"query": query, "extensions": ext})
	resp, err := defaultHTTP.Post(api.url("/graphql"), "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: registering a persisted query: status %d", api.name, resp.StatusCode)
	}
	extJSON, _ := json.Marshal(ext)
	return url.Values{"extensions": {string(extJSON)}}
}

// within polls f every 10 ms until it returns nil and returns how long
// that took from since; it fails the test if that is not within d.
func within(t *testing.T, since time.Time, d time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	for {
		err := f()
		took := time.Since(since)
		if err == nil {
			t.Logf("%s after %v", what, took.Round(time.Millisecond))
			return took
		}
		if took > d {
			t.Fatalf("not within %v: %s: %v", d, what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// auditEntry is an AuditEntry as the tests read it.
type auditEntry struct {
	ActorID, Action, Target, Before, After string
}

// TestContentEditing is issue 11's "Done when", through two api replicas,
// a worker, Redis and FerretDB: editors change the curriculum, every
// replica serves the change within a second and changes the ETags of
// exactly what changed; a problem that fails its sandbox check is refused
// with the failing tests and stores nothing; of two concurrent updates
// at one version one wins and the other is CONFLICT with the current
// object; students never see a draft; export → import → export gives the
// same bytes and a broken import stores nothing; the audit log has every
// change, and no refused one.
func TestContentEditing(t *testing.T) {
	begin := time.Now()
	c := startCluster(t, 2, 1, "CODERUNNER_SANDBOX=jail", "CODERUNNER_POOL_SIZE=2")
	a, b := c.apis[0], c.apis[1]
	for _, u := range []struct{ name, role string }{{"root", "ADMIN"}, {"eve", "EDITOR"}, {"ned", "EDITOR"}, {"ada", "STUDENT"}} {
		c.createUser(t, u.name, u.role)
	}
	admin, _ := signIn(t, a, "root")
	eve, eveID := signIn(t, a, "eve")
	ed, edID := signIn(t, b, "ned")
	ada, _ := signIn(t, b, "ada")
	// A check is two submissions charged to the editor, and an import of
	// the whole curriculum checks every problem at once.
	for _, id := range []string{eveID, edID} {
		setQuota(t, a, admin, id, `{submitsPerMinute: 1000, submitsPerDay: 10000, maxActiveRuns: 100, execSecondsPerDay: 100000}`)
	}
	applied := func() float64 { return b.metric(t, "coderunner_content_changes_applied_total") }

	// The student's view of the level before any change, through B (which
	// caches it).
	levelBefore := levelAs(t, b, ada, editedLevel)
	if levelBefore.has(draftProblem) || levelBefore.ProblemCount != len(levelBefore.Problems) {
		t.Fatalf("level %s before any change: %+v", editedLevel, levelBefore)
	}

	// A draft: saved as it is — its starter code already passes, which
	// would fail the check — and seen by editors only.
	draft := coderunner.Problem{
		ID: draftProblem, LevelID: editedLevel, Title: "Double it",
		Statement:         "Read a whole number and print it doubled.",
		StarterCode:       "n = int(input())\nprint(n * 2)\n",
		SampleTests:       []coderunner.TestCase{{Input: "3\n", Output: "6\n"}},
		HiddenTests:       []coderunner.TestCase{{Input: "0\n", Output: "0\n"}, {Input: "-4\n", Output: "-8\n", Hint: "Negative numbers double too."}},
		ReferenceSolution: "print(2 * int(input()))\n",
		Draft:             true,
	}
	if !t.Run("DraftUnseen", func(t *testing.T) {
		appliedBefore := applied()
		var created struct{ CreateProblem coderunner.Problem }
		graphqlAs(t, a, eve, `mutation($in: ProblemInput!) { createProblem(input: $in) { `+editableFields+` } }`,
			map[string]any{"in": problemInput(t, draft)}, &created)
		if p := created.CreateProblem; !p.Draft || p.Version != 1 || p.Position != len(levelBefore.Problems)+1 {
			t.Fatalf("createProblem of a draft returned %+v; want a draft at version 1, last of its level", p)
		}
		// B listens to content changes from some moment after it is
		// ready: its applying this one shows it does.
		eventually(t, 10*time.Second, b.name+" applies the change", func() error {
			if n := applied(); n <= appliedBefore {
				return fmt.Errorf("%s applied %v content changes", b.name, n)
			}
			return nil
		})
		for _, api := range c.apis {
			if l := levelAs(t, api, ada, editedLevel); l.has(draftProblem) || l.ProblemCount != levelBefore.ProblemCount {
				t.Errorf("%s: the student sees level %s as %+v; want no draft, problemCount %d", api.name, editedLevel, l, levelBefore.ProblemCount)
			}
			_, _, errs, err := post(api, ada, `query($id: ID!) { problem(id: $id) { id title } }`, map[string]any{"id": draftProblem})
			if err != nil || len(errs) != 1 || errs[0].code() != "NOT_FOUND" {
				t.Errorf("%s: the student's problem(id: %q): %+v %v; want NOT_FOUND", api.name, draftProblem, errs, err)
			}
			_, _, errs, err = post(api, ada, `query($id: ID!) { problemForEditing(id: $id) { id } }`, map[string]any{"id": draftProblem})
			if err != nil || len(errs) != 1 || errs[0].code() != "FORBIDDEN" {
				t.Errorf("%s: the student's problemForEditing: %+v %v; want FORBIDDEN", api.name, errs, err)
			}
			_, _, errs, err = post(api, ada, updateProblemMutation, map[string]any{"in": problemInput(t, draft)})
			if err != nil || len(errs) != 1 || errs[0].code() != "FORBIDDEN" {
				t.Errorf("%s: the student's updateProblem: %+v %v; want FORBIDDEN", api.name, errs, err)
			}
		}
		var levels struct {
			Levels []struct {
				ID           string
				ProblemCount int
			}
		}
		graphqlAs(t, b, "", `{ levels(ageGroup: "7-9") { id problemCount } }`, nil, &levels)
		for _, l := range levels.Levels {
			if l.ID == editedLevel && l.ProblemCount != levelBefore.ProblemCount {
				t.Errorf("a guest's levels: %s has problemCount %d; want %d (drafts are not counted)", l.ID, l.ProblemCount, levelBefore.ProblemCount)
			}
		}
		var editing struct{ ProblemsForEditing []struct{ ID string } }
		graphqlAs(t, b, ed, `query($l: ID!) { problemsForEditing(levelId: $l) { id } }`, map[string]any{"l": editedLevel}, &editing)
		if n := len(editing.ProblemsForEditing); n == 0 || editing.ProblemsForEditing[n-1].ID != draftProblem {
			t.Errorf("problemsForEditing(%s): %+v; want the draft last", editedLevel, editing.ProblemsForEditing)
		}
	}) {
		return
	}

	// An editor changes a problem's statement through A: B serves it within
	// a second, through its read cache and through its response cache.
	const problemQuery = `{ problem(id: "` + editedProblem + `") { title statement } }`
	levelGET := url.Values{"query": {`{ level(id: "` + untouchedLevel + `") { title problemCount problems { id title statement } } }`}}
	var original, edited coderunner.Problem
	if !t.Run("EveryReplicaSeesTheChange", func(t *testing.T) {
		original = problemForEditing(t, a, eve, editedProblem)
		problemGET := persisted(t, a, problemQuery) // by hash alone, through B
		oldProblem, oldLevel := cachedBy(t, b, problemGET), cachedBy(t, b, levelGET)
		var read struct{ Problem struct{ Statement string } }
		graphqlAs(t, b, ada, problemQuery, nil, &read) // in B's read cache now
		if read.Problem.Statement != original.Statement || !strings.Contains(oldProblem.data, "Every programmer") {
			t.Fatalf("%s before the change: statement %q, GET %s", b.name, read.Problem.Statement, oldProblem.data)
		}

		change := original
		change.Statement = original.Statement + "\n*Changed through " + a.name + ".*\n"
		edited = mustUpdateProblem(t, a, eve, change)
		changed := time.Now()
		if edited.Version != original.Version+1 || edited.Statement != change.Statement || edited.Draft {
			t.Fatalf("updateProblem returned version %d, draft %v, statement %q; want version %d and the new statement", edited.Version, edited.Draft, edited.Statement, original.Version+1)
		}
		within(t, changed, seenWithin, b.name+" answers a query with the new statement", func() error {
			graphqlAs(t, b, ada, problemQuery, nil, &read)
			if read.Problem.Statement != change.Statement {
				return fmt.Errorf("statement %q", read.Problem.Statement)
			}
			return nil
		})
		var fresh cachedGet
		within(t, changed, seenWithin, b.name+" answers the old ETag with 200 and a new ETag", func() error {
			if fresh = get(t, b, problemGET, oldProblem.etag); fresh.status != http.StatusOK {
				return fmt.Errorf("status %d", fresh.status)
			}
			return nil
		})
		if fresh.etag == oldProblem.etag || !strings.Contains(fresh.data, "Changed through") {
			t.Errorf("%s after the change: ETag %q (was %q), data %s; want a new ETag and the new statement", b.name, fresh.etag, oldProblem.etag, fresh.data)
		}
		if got := get(t, b, problemGET, fresh.etag); got.status != http.StatusNotModified {
			t.Errorf("%s: GET with the new ETag: status %d; want 304", b.name, got.status)
		}
		if got := get(t, b, levelGET, oldLevel.etag); got.status != http.StatusNotModified || got.etag != oldLevel.etag {
			t.Errorf("%s: untouched level %s with its old ETag: status %d, ETag %q (was %q); want 304 and the same ETag", b.name, untouchedLevel, got.status, got.etag, oldLevel.etag)
		}
	}) {
		return
	}

	// Problems that fail the sandbox check are refused with the failing
	// tests listed, and nothing is stored. The four checks run at once.
	if !t.Run("BrokenProblemsRefused", func(t *testing.T) {
		brokenReference := edited
		brokenReference.ReferenceSolution = strings.ReplaceAll(edited.ReferenceSolution, `"Hello, " + name`, `"Hi, " + name`)
		wrongSample := edited
		wrongSample.SampleTests = slices.Clone(edited.SampleTests)
		wrongSample.SampleTests[1].Output = strings.Replace(edited.SampleTests[1].Output, "Sam!", "Samm!", 1)
		passingStarter := edited
		passingStarter.StarterCode = edited.ReferenceSolution
		publishDraft := draft
		publishDraft.Draft, publishDraft.Version = false, 1
		if brokenReference.ReferenceSolution == edited.ReferenceSolution || wrongSample.SampleTests[1].Output == edited.SampleTests[1].Output {
			t.Fatalf("the shipped %s is not what this test breaks: %+v", editedProblem, edited)
		}
		tests := []struct {
			name string
			p    coderunner.Problem
			want []string // in the message, in order
			not  []string // not in it
		}{
			{"broken reference solution", brokenReference, []string{
				"problem hello-world: the reference solution fails sample test 1 (WRONG_ANSWER)", "; the reference solution fails sample test 2 (WRONG_ANSWER)",
				"fails hidden test 1 (WRONG_ANSWER)", "fails hidden test 2 (WRONG_ANSWER)", "fails hidden test 3 (WRONG_ANSWER)"},
				[]string{"starter code"}},
			{"sample with a wrong expected output", wrongSample, []string{
				`problem hello-world: the reference solution fails sample test 2 (WRONG_ANSWER)`, "Samm!"},
				[]string{"sample test 1", "hidden test", "starter code"}},
			{"starter code that already passes", passingStarter, []string{
				"problem hello-world: the starter code already passes every test"},
				[]string{"reference solution fails"}},
			{"publishing a draft whose starter code passes", publishDraft, []string{
				"problem e2e-double: the starter code already passes every test"},
				[]string{"reference solution fails"}},
		}
		began := time.Now()
		var wg sync.WaitGroup
		for i, tt := range tests {
			api := c.apis[i%2]
			wg.Go(func() {
				_, errs := updateProblem(t, api, eve, tt.p)
				if len(errs) != 1 || errs[0].code() != "BAD_USER_INPUT" {
					t.Errorf("%s: %+v; want BAD_USER_INPUT", tt.name, errs)
					return
				}
				msg, at := errs[0].Message, 0
				for _, w := range tt.want {
					i := strings.Index(msg[at:], w)
					if i < 0 {
						t.Errorf("%s: message %q; want %q (after what else it lists)", tt.name, msg, w)
						return
					}
					at += i + len(w)
				}
				for _, n := range tt.not {
					if strings.Contains(msg, n) {
						t.Errorf("%s: message %q lists %q", tt.name, msg, n)
					}
				}
				t.Logf("%s refused: %s", tt.name, msg)
			})
		}
		wg.Wait()
		t.Logf("four checks refused in %v", time.Since(began).Round(time.Millisecond))
		if now := problemForEditing(t, b, ed, editedProblem); !reflect.DeepEqual(now, edited) {
			t.Errorf("%s after the refused updates:\n%+v\nwant it unchanged:\n%+v", editedProblem, now, edited)
		}
		if now := problemForEditing(t, b, ed, draftProblem); !now.Draft || now.Version != 1 || now.StarterCode != draft.StarterCode {
			t.Errorf("%s after its refused publication: %+v; want the draft unchanged at version 1", draftProblem, now)
		}
		if l := levelAs(t, b, ada, editedLevel); l.has(draftProblem) || l.ProblemCount != levelBefore.ProblemCount {
			t.Errorf("the student sees level %s as %+v after the refused publication", editedLevel, l)
		}
	}) {
		return
	}

	// Two editors update the problem at the same version at once, through
	// both replicas: one wins, the other is CONFLICT with the problem as
	// the winner left it.
	var winner coderunner.Problem
	var winnerID string
	if !t.Run("ConcurrentUpdatesConflict", func(t *testing.T) {
		type editor struct {
			api       *proc
			token, id string
			stored    coderunner.Problem
			errs      []gqlError
			title     string
			took      time.Duration
		}
		editors := []*editor{{api: a, token: eve, id: eveID, title: "Say hello (eve's title)"}, {api: b, token: ed, id: edID, title: "Say hello (ed's title)"}}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, e := range editors {
			p := edited
			p.Title = e.title
			wg.Go(func() {
				<-start
				began := time.Now()
				e.stored, e.errs = updateProblem(t, e.api, e.token, p)
				e.took = time.Since(began)
			})
		}
		close(start)
		wg.Wait()
		var won, lost *editor
		for _, e := range editors {
			if e.errs == nil {
				won = e
			} else {
				lost = e
			}
			outcome := "won"
			if e.errs != nil {
				outcome = e.errs[0].code()
			}
			t.Logf("%s through %s: %s after %v", e.title, e.api.name, outcome, e.took.Round(time.Millisecond))
		}
		if won == nil || lost == nil {
			t.Fatalf("two updates at version %d: %+v / %+v; want exactly one to win", edited.Version, editors[0].errs, editors[1].errs)
		}
		conflict := onlyError(t, "the losing update", lost.errs, "CONFLICT")
		raw, _ := json.Marshal(conflict.Extensions["current"])
		var current coderunner.Problem
		if err := json.Unmarshal(raw, &current); err != nil || current.ID != editedProblem || current.Version != edited.Version+1 || current.Title != won.title {
			t.Errorf("CONFLICT's extensions.current: %s (%v); want %s at version %d titled %q", raw, err, editedProblem, edited.Version+1, won.title)
		}
		if won.stored.Version != edited.Version+1 || won.stored.Title != won.title {
			t.Errorf("the winning update returned %+v", won.stored)
		}
		for _, api := range c.apis {
			if now := problemForEditing(t, api, eve, editedProblem); !reflect.DeepEqual(now, won.stored) {
				t.Errorf("%s: stored %+v; want the winner's %+v", api.name, now, won.stored)
			}
		}
		winner, winnerID = won.stored, won.id
	}) {
		return
	}

	// Publishing the draft runs the check; then the student sees it,
	// through B, within a second.
	if !t.Run("PublishedDraftSeen", func(t *testing.T) {
		if l := levelAs(t, b, ada, editedLevel); l.has(draftProblem) { // B caches the level without it
			t.Fatalf("the student sees the draft: %+v", l)
		}
		publish := draft
		publish.Draft, publish.Version = false, 1
		publish.StarterCode = "n = int(input())\n# Print n doubled.\n"
		published := mustUpdateProblem(t, a, eve, publish)
		at := time.Now()
		if published.Draft || published.Version != 2 {
			t.Fatalf("publishing returned draft %v, version %d; want published at version 2", published.Draft, published.Version)
		}
		within(t, at, seenWithin, b.name+" shows the student the published problem", func() error {
			l := levelAs(t, b, ada, editedLevel)
			if !l.has(draftProblem) || l.ProblemCount != levelBefore.ProblemCount+1 {
				return fmt.Errorf("level %+v", l)
			}
			_, _, errs, err := post(b, ada, `query($id: ID!) { problem(id: $id) { title } }`, map[string]any{"id": draftProblem})
			if err != nil || len(errs) > 0 {
				return fmt.Errorf("problem(id: %q): %+v %v", draftProblem, errs, err)
			}
			return nil
		})
	}) {
		return
	}

	// Export, import that file, export again: the same bytes. A file with
	// a broken problem stores nothing.
	exportAs := func(t *testing.T, api *proc) string {
		t.Helper()
		var data struct{ ExportCurriculum string }
		graphqlAs(t, api, eve, `{ exportCurriculum }`, nil, &data)
		return data.ExportCurriculum
	}
	if !t.Run("ExportImportRoundTrip", func(t *testing.T) {
		exported := exportAs(t, a)
		for _, want := range []string{"Changed through " + a.name, winner.Title, "id: " + draftProblem} {
			if !strings.Contains(exported, want) {
				t.Fatalf("the export lacks %q:\n%s", want, exported)
			}
		}
		began := time.Now()
		var imported struct {
			ImportCurriculum struct{ AgeGroups, Levels, Problems int }
		}
		// Every problem is checked, as one change: give it time.
		status, data, errs, err := postWith(&http.Client{Timeout: 3 * time.Minute}, b, ed,
			`mutation($y: String!) { importCurriculum(yaml: $y) { ageGroups levels problems } }`, map[string]any{"y": exported})
		if err != nil || len(errs) > 0 || status != http.StatusOK || json.Unmarshal(data, &imported) != nil {
			t.Fatalf("importCurriculum of the export, after %v: %d %v %+v %s (an import that outlasts the API's 1-minute write timeout loses its answer)",
				time.Since(began).Round(time.Millisecond), status, err, errs, data)
		}
		t.Logf("imported %+v, every problem checked, in %v", imported.ImportCurriculum, time.Since(began).Round(time.Millisecond))
		if n := imported.ImportCurriculum; n.AgeGroups == 0 || n.Levels == 0 || n.Problems != strings.Count(exported, "referenceSolution:") {
			t.Errorf("importCurriculum stored %+v; the file has %d problems", n, strings.Count(exported, "referenceSolution:"))
		}
		if again := exportAs(t, a); again != exported {
			t.Errorf("export after importing the export differs:\n%s", lineDiff(exported, again))
		}

		// The same age group and level, with an edit of hello-world and
		// a new problem whose sample expects the wrong output.
		broken := `ageGroups:
- slug: "7-9"
  title: Explorers
  description: First steps with Python for ages 7 to 9. Make the computer talk, count and choose.
  levels:
  - id: explorers-1
    title: Hello, Python
    description: Make the computer talk with print() and listen with input().
    problems:
    - id: hello-world
      title: Say hello (imported)
      statement: Print hello.
      starterCode: "print(\"...\")\n"
      sampleTests:
      - input: "Ada\n"
        output: "Hello, world!\nHello, Ada!\n"
      hiddenTests:
      - input: "Zoe\n"
        output: "Hello, world!\nHello, Zoe!\n"
      referenceSolution: "name = input()\nprint(\"Hello, world!\")\nprint(\"Hello, \" + name + \"!\")\n"
    - id: e2e-triple
      title: Triple it
      statement: Read a whole number and print it tripled.
      starterCode: "n = int(input())\n"
      sampleTests:
      - input: "2\n"
        output: "7\n"
      hiddenTests:
      - input: "0\n"
        output: "0\n"
      referenceSolution: "print(3 * int(input()))\n"
`
		before := exportAs(t, b)
		began = time.Now()
		_, _, errs, err = post(b, ed, `mutation($y: String!) { importCurriculum(yaml: $y) { problems } }`, map[string]any{"y": broken})
		if err != nil {
			t.Fatal(err)
		}
		refusal := onlyError(t, "importing a file with a broken problem", errs, "BAD_USER_INPUT")
		t.Logf("broken import refused in %v: %s", time.Since(began).Round(time.Millisecond), refusal.Message)
		if !strings.Contains(refusal.Message, "problem e2e-triple: the reference solution fails sample test 1 (WRONG_ANSWER)") || strings.Contains(refusal.Message, "hello-world") {
			t.Errorf("the refusal %q; want e2e-triple's failing sample test, and nothing of hello-world", refusal.Message)
		}
		if after := exportAs(t, a); after != before {
			t.Errorf("a refused import changed the curriculum:\n%s", lineDiff(before, after))
		}
	}) {
		return
	}

	// The admin's audit log has each change with its author, before and
	// after, and none of the refused ones.
	t.Run("AuditLog", func(t *testing.T) {
		var data struct{ AuditLog []auditEntry }
		graphqlAs(t, b, admin, `{ auditLog(first: 200) { actorId action target before after } }`, nil, &data)
		var updates []auditEntry
		count := map[string]int{}
		for _, e := range data.AuditLog {
			count[e.Action+" "+e.Target]++
			if e.Action == "updateProblem" && e.Target == "problem:"+editedProblem {
				updates = append(updates, e)
			}
		}
		want := map[string]int{
			"createProblem problem:" + draftProblem:  1,
			"updateProblem problem:" + draftProblem:  1, // published; the refused publication is not there
			"updateProblem problem:" + editedProblem: 2, // the statement, the conflict's winner; no refusal
			"importCurriculum curriculum":            1, // the broken one is not there
		}
		for k, n := range want {
			if count[k] != n {
				t.Errorf("%d audit entries %q; want %d (all: %v)", count[k], k, n, count)
			}
		}
		if len(updates) != 2 {
			return
		}
		// Newest first: the conflict's winner, then eve's statement.
		for i, w := range []struct {
			actor         string
			before, after coderunner.Problem
		}{{winnerID, edited, winner}, {eveID, original, edited}} {
			e := updates[i]
			var before, after coderunner.Problem
			if err := json.Unmarshal([]byte(e.Before), &before); err != nil {
				t.Fatalf("before of %+v: %v", e, err)
			}
			if err := json.Unmarshal([]byte(e.After), &after); err != nil {
				t.Fatalf("after of %+v: %v", e, err)
			}
			if e.ActorID != w.actor || before.Version != w.before.Version || before.Statement != w.before.Statement || before.Title != w.before.Title ||
				after.Version != w.after.Version || after.Statement != w.after.Statement || after.Title != w.after.Title {
				t.Errorf("audit entry %d of %s: actor %s, before v%d %q %q, after v%d %q %q; want actor %s, before v%d %q %q, after v%d %q %q",
					i, editedProblem, e.ActorID, before.Version, before.Title, before.Statement, after.Version, after.Title, after.Statement,
					w.actor, w.before.Version, w.before.Title, w.before.Statement, w.after.Version, w.after.Title, w.after.Statement)
			}
		}
	})
	t.Logf("content editing tested in %v", time.Since(begin).Round(10*time.Millisecond))
}

// lineDiff shows where two texts first differ, by line.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: %q\n   now: %q", i+1, x, y)
		}
	}
	return "(the same lines)"
}
