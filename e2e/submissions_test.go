package e2e

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coderunner"
	"coderunner/curriculum"
	"coderunner/internal/gqlws"
)

// testResult is a TestResult as the tests read it.
type testResult struct {
	Index    int
	Sample   bool
	Verdict  string
	WallMs   int
	CPUMs    int `json:"cpuMs"`
	MemoryKB int `json:"memoryKb"`
}

// submission is a Submission as the tests read it; Verdict is "" until
// it has finished.
type submission struct {
	ID      string
	Status  string
	Verdict string
	Passed  int
	Total   int
	Tests   []testResult
}

const submissionFields = `id status verdict passed total tests { index sample verdict wallMs cpuMs memoryKb }`

// submissionEvent is a SubmissionEvent as a subscriber receives it.
type submissionEvent struct {
	SubmissionID string
	Seq          int64
	Type         string
	Test         *testResult
	Submission   *submission
}

func (e submissionEvent) String() string {
	switch {
	case e.Test != nil:
		return fmt.Sprintf("#%d %s %d %s", e.Seq, e.Type, e.Test.Index, e.Test.Verdict)
	case e.Submission != nil:
		return fmt.Sprintf("#%d %s %s %d/%d", e.Seq, e.Type, e.Submission.Verdict, e.Submission.Passed, e.Submission.Total)
	}
	return fmt.Sprintf("#%d %s", e.Seq, e.Type)
}

const submissionEventsQuery = `subscription($id: ID!, $after: Int!) {
	submissionEvents(submissionId: $id, afterSeq: $after) {
		submissionId seq type test { index sample verdict wallMs cpuMs memoryKb } submission { ` + submissionFields + ` } } }`

func decodeSubmissionEvent(m gqlws.Message) (submissionEvent, error) {
	var e submissionEvent
	err := m.Result("submissionEvents", &e)
	return e, err
}

// submit submits code to a problem on api as the user of token and
// returns the submission's id.
func submit(t *testing.T, api *proc, token, problemID, code string) string {
	t.Helper()
	var data struct{ Submit submission }
	graphqlAs(t, api, token, `mutation($p: ID!, $code: String!) { submit(problemId: $p, code: $code) { `+submissionFields+` } }`,
		map[string]any{"p": problemID, "code": code}, &data)
	if data.Submit.Status != "QUEUED" || data.Submit.ID == "" {
		t.Fatalf("submit to %s on %s returned %+v; want an id and QUEUED", problemID, api.name, data.Submit)
	}
	return data.Submit.ID
}

func getSubmission(t *testing.T, api *proc, token, id string) submission {
	t.Helper()
	var data struct{ Submission submission }
	graphqlAs(t, api, token, `query($id: ID!) { submission(id: $id) { `+submissionFields+` } }`, map[string]any{"id": id}, &data)
	return data.Submission
}

// subscribeSubmission connects to api as the user of token and subscribes
// to submission id's events after afterSeq.
func subscribeSubmission(t *testing.T, api *proc, token, id string, afterSeq int64) *wsOf[submissionEvent] {
	t.Helper()
	return subscribeTo(t, api, gqlws.Options{Protocol: transportWS, Token: token}, submissionEventsQuery,
		map[string]any{"id": id, "after": afterSeq}, decodeSubmissionEvent)
}

// checkSubmissionStream checks what a subscriber saw of a whole
// submission: the seqs as checkSeqs checks them, one STARTED, one
// TEST_FINISHED for each test of the finished submission, in order, and
// the same as FINISHED has it; FINISHED with tests numbered 0, 1, … and
// a verdict and a count of passed tests that follow from them. It returns
// the finished submission.
func checkSubmissionStream(t *testing.T, id string, events []submissionEvent) submission {
	t.Helper()
	heads := make([]event, len(events))
	var told []testResult
	for i, e := range events {
		heads[i] = event{RunID: e.SubmissionID, Seq: e.Seq, Type: e.Type}
		if e.Type == "TEST_FINISHED" {
			if e.Test == nil {
				t.Fatalf("%v without its test", e)
			}
			told = append(told, *e.Test)
		}
	}
	checkSeqs(t, id, heads)
	if n := count(heads, "STARTED"); n != 1 {
		t.Errorf("%d STARTED events; want 1: %v", n, events)
	}
	final := events[len(events)-1].Submission
	if final == nil {
		t.Fatalf("FINISHED without the submission: %v", events)
	}
	checkVerdict(t, *final)
	if !slices.Equal(told, final.Tests) {
		t.Errorf("TEST_FINISHED events told tests %+v; the finished submission has %+v (events: %v)", told, final.Tests, events)
	}
	return *final
}

// checkVerdict checks that a finished submission's tests are numbered 0,
// 1, … and that its verdict and passed follow from them.
func checkVerdict(t *testing.T, s submission) {
	t.Helper()
	if s.Status != "FINISHED" {
		t.Errorf("submission %s is %s; want FINISHED", s.ID, s.Status)
	}
	passed := 0
	// The worst verdict, in the schema's order.
	order := []coderunner.Verdict{coderunner.Accepted, coderunner.WrongAnswer, coderunner.OutputLimitExceeded,
		coderunner.MemoryLimitExceeded, coderunner.TimeLimitExceeded, coderunner.RuntimeError, coderunner.InternalError}
	worst := 0
	for i, test := range s.Tests {
		if test.Index != i {
			t.Errorf("submission %s: test %d has index %d; want the tests in order, each once: %+v", s.ID, i, test.Index, s.Tests)
			break
		}
		rank := slices.Index(order, coderunner.Verdict(test.Verdict))
		if rank < 0 {
			t.Errorf("submission %s: test %d has verdict %q", s.ID, i, test.Verdict)
		}
		worst = max(worst, rank)
		if test.Verdict == "ACCEPTED" {
			passed++
		}
	}
	if len(s.Tests) == 0 || s.Verdict != string(order[worst]) || s.Passed != passed || len(s.Tests) > s.Total {
		t.Errorf("submission %s: %s, %d of %d passed, with tests %+v; want the worst test's verdict and the tests passed",
			s.ID, s.Verdict, s.Passed, s.Total, s.Tests)
	}
}

// studentWithRoom creates an admin and a student on c, raises the
// student's budget so that nothing the test submits is refused, and
// returns the student's token.
func studentWithRoom(t *testing.T, c *cluster) string {
	t.Helper()
	api := c.apis[0]
	c.createUser(t, "root", "ADMIN")
	c.createUser(t, "ada", "STUDENT")
	admin, _ := signIn(t, api, "root")
	token, id := signIn(t, api, "ada")
	setQuota(t, api, admin, id, `{submitsPerMinute: 1000, submitsPerDay: 10000, maxActiveRuns: 100, execSecondsPerDay: 100000}`)
	return token
}

// testCount is how many tests a problem has.
func testCount(p coderunner.Problem) int { return len(p.SampleTests) + len(p.HiddenTests) }

// TestShippedProblemsGrade submits, through the real submit mutation, the
// reference solution and the starter code of every shipped problem, and
// follows each over submissionEvents: every reference solution is
// ACCEPTED on every test, no starter code is. Then every problem is
// solved after two attempts, and every level completed.
func TestShippedProblemsGrade(t *testing.T) {
	cur, err := curriculum.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	// No worker is stopped here: the default claim timeout keeps a worker
	// slowed by the load from losing its jobs. Jail mode and a warm
	// container per slot, as deployed, keep the ~430 runs quick.
	c := startCluster(t, 1, 1, "CODERUNNER_CLAIM_TIMEOUT=30s", "CODERUNNER_SANDBOX=jail", "CODERUNNER_POOL_SIZE=2")
	api := c.apis[0]
	token := studentWithRoom(t, c)

	// Problems in flight at once, each with its two submissions: enough
	// that both of the worker's slots always have a job waiting.
	const inFlight = 3
	begin := time.Now()
	var graded, tests atomic.Int64
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	for _, p := range cur.Problems {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(p.ID, func(t *testing.T) {
				codes := map[string]string{"reference": p.ReferenceSolution, "starter": p.StarterCode}
				ids := map[string]string{}
				for _, which := range []string{"reference", "starter"} {
					ids[which] = submit(t, api, token, p.ID, codes[which])
				}
				for _, which := range []string{"reference", "starter"} {
					s := checkSubmissionStream(t, ids[which], subscribeSubmission(t, api, token, ids[which], 0).rest(60*time.Second))
					graded.Add(1)
					tests.Add(int64(len(s.Tests)))
					if s.Total != testCount(p) {
						t.Errorf("%s: total %d; the problem has %d tests", which, s.Total, testCount(p))
					}
					accepted := s.Verdict == "ACCEPTED" && s.Passed == s.Total && len(s.Tests) == s.Total
					switch {
					case which == "reference" && !accepted:
						t.Errorf("reference solution: %s, %d of %d passed, tests %+v; want ACCEPTED on every test", s.Verdict, s.Passed, s.Total, s.Tests)
					case which == "starter" && (s.Verdict == "ACCEPTED" || s.Verdict == "INTERNAL_ERROR"):
						t.Errorf("starter code: %s, %d of %d passed; want it judged and not ACCEPTED", s.Verdict, s.Passed, s.Total)
					}
				}
			})
		})
	}
	wg.Wait()
	took := time.Since(begin)
	t.Logf("graded %d submissions of %d problems, %d tests, in %v (%.1f tests/s)",
		graded.Load(), len(cur.Problems), tests.Load(), took.Round(10*time.Millisecond), float64(tests.Load())/took.Seconds())
	if t.Failed() {
		return
	}

	for _, p := range cur.Problems {
		var data struct {
			Problem struct {
				MyProgress *struct {
					Solved   bool
					Attempts int
				}
			}
		}
		graphqlAs(t, api, token, `query($id: ID!) { problem(id: $id) { myProgress { solved attempts } } }`, map[string]any{"id": p.ID}, &data)
		if mp := data.Problem.MyProgress; mp == nil || !mp.Solved || mp.Attempts != 2 {
			t.Errorf("problem %s: myProgress %+v; want solved after 2 attempts", p.ID, mp)
		}
	}
	for _, l := range cur.Levels {
		var data struct {
			Level struct {
				MyProgress *struct {
					Solved, Total int
					Completed     bool
				}
			}
		}
		graphqlAs(t, api, token, `query($id: ID!) { level(id: $id) { myProgress { solved total completed } } }`, map[string]any{"id": l.ID}, &data)
		want := 0
		for _, p := range cur.Problems {
			if p.LevelID == l.ID {
				want++
			}
		}
		if mp := data.Level.MyProgress; mp == nil || !mp.Completed || mp.Solved != want || mp.Total != want {
			t.Errorf("level %s: myProgress %+v; want %d of %d problems solved, completed", l.ID, mp, want, want)
		}
	}
}

// TestSubmissionSurvivesWorkerKill kills -9 the worker grading a
// submission once it has graded two tests. The other worker takes the
// job over after the claim timeout and grades from the first test not
// stored: the submission finishes ACCEPTED, each test graded once — the
// tests told before the kill are the ones in the verdict — and a
// subscriber following from the start sees each test once, gapless seqs
// and one FINISHED.
func TestSubmissionSurvivesWorkerKill(t *testing.T) {
	cur, err := curriculum.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	// The problem with the most tests, each made to take 0.7 s more: a
	// sleep, well within the wall-time limit (2 × CPU limit + 1 s).
	p := slices.MaxFunc(cur.Problems, func(a, b coderunner.Problem) int { return testCount(a) - testCount(b) })
	if p.StopOnFirstFailure {
		t.Fatalf("problem %s stops on the first failure", p.ID)
	}
	code := "import time\ntime.sleep(0.7)\n" + p.ReferenceSolution

	c := startCluster(t, 1, 2, "CODERUNNER_SANDBOX=jail", "CODERUNNER_POOL_SIZE=2")
	api := c.apis[0]
	token := studentWithRoom(t, c)

	submitted := time.Now()
	id := submit(t, api, token, p.ID, code)
	sub := subscribeSubmission(t, api, token, id, 0)
	tested := 0
	seen := sub.until(30*time.Second, func(e submissionEvent) bool {
		if e.Type == "TEST_FINISHED" {
			tested++
		}
		return tested >= 2 || e.Type == "FINISHED"
	})
	if seen[len(seen)-1].Type == "FINISHED" {
		t.Fatalf("submission finished before it could be interrupted: %v", seen)
	}
	holder, survivor := c.firstHolder(id)
	killed := time.Now()
	c.kill9(holder)
	if s := getSubmission(t, api, token, id); s.Status != "RUNNING" || len(s.Tests) < 2 || len(s.Tests) >= s.Total {
		t.Fatalf("after the kill, submission is %s with %d of %d tests; want RUNNING, some graded, some not", s.Status, len(s.Tests), s.Total)
	}

	c.waitTakeover(id, survivor, killed)

	all := append(seen, sub.rest(60*time.Second)...)
	final := checkSubmissionStream(t, id, all)
	t.Logf("%d tests of %s graded in %v, %v after the kill: %v", len(final.Tests), p.ID,
		time.Since(submitted).Round(10*time.Millisecond), time.Since(killed).Round(10*time.Millisecond), all)
	if final.Verdict != "ACCEPTED" || final.Passed != final.Total || len(final.Tests) != final.Total || final.Total != testCount(p) {
		t.Errorf("finished %s, %d of %d passed, %d tests graded; want ACCEPTED on all %d tests", final.Verdict, final.Passed, final.Total, len(final.Tests), testCount(p))
	}
	// The tests told before the kill are the ones in the verdict, not
	// graded again: the same figures.
	for _, e := range seen {
		if e.Test != nil && e.Test.Index < len(final.Tests) && *e.Test != final.Tests[e.Test.Index] {
			t.Errorf("test %d told before the kill as %+v; the verdict has %+v: graded twice", e.Test.Index, *e.Test, final.Tests[e.Test.Index])
		}
	}
	if stored := getSubmission(t, api, token, id); !slices.Equal(stored.Tests, final.Tests) || stored.Verdict != final.Verdict || stored.Passed != final.Passed {
		t.Errorf("stored submission %+v; FINISHED had %+v", stored, final)
	}
	// A subscriber from the start after the end sees the same.
	if replayed := checkSubmissionStream(t, id, subscribeSubmission(t, api, token, id, 0).rest(30*time.Second)); !slices.Equal(replayed.Tests, final.Tests) {
		t.Errorf("replayed after the end: tests %+v; want %+v", replayed.Tests, final.Tests)
	}
}
