// Package content is the editing of the curriculum. Checker checks a
// problem in the real sandbox before it is published: its reference
// solution must pass every test, its starter code must not.
package content

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"coderunner"
	"coderunner/submissions"
)

// Defaults of a Checker.
const (
	// DefaultTimeout bounds the check of one problem: both its programs
	// queued, graded test by test and finished.
	DefaultTimeout = 2 * time.Minute
	// DefaultParallel is how many problems CheckAll checks at once.
	DefaultParallel = 4
)

// Checker checks candidate problems — not stored as problems yet — in the
// real sandbox, through the normal queue and workers: the caller's process
// needs none of its own. It stores the candidate's grading and submits two
// check submissions against it (see submissions.Service.SubmitCheck): the
// reference solution and the starter code, charged to the editor.
type Checker struct {
	Submissions *submissions.Service
	// Timeout bounds the check of one problem; 0 means DefaultTimeout.
	Timeout time.Duration
	// Parallel bounds how many problems CheckAll checks at once; 0 means
	// DefaultParallel.
	Parallel int
}

// Program names the program of a problem a Failure is about.
type Program string

const (
	ReferenceSolution Program = "reference solution"
	StarterCode       Program = "starter code"
)

// Failure is one reason a problem may not be published: a test its
// reference solution fails, or its starter code passing every test.
type Failure struct {
	ProblemID string
	Program   Program
	// Test, for the reference solution, is the test it fails: its index
	// in the problem's grading (sample tests first), whether it is a
	// sample, its verdict and — editors see hidden tests — its input,
	// expected and actual outputs, stderr and, for a WRONG_ANSWER, the
	// Diff. Nil for the starter code: it passes every test.
	Test *coderunner.TestResult
	// SampleCount is how many of the problem's tests are samples, to name
	// Test ("hidden test 2").
	SampleCount int
}

// TestName names the failure's test as an editor counts: "sample test 1",
// "hidden test 3"; "" for none.
func (f Failure) TestName() string {
	switch {
	case f.Test == nil:
		return ""
	case f.Test.Sample:
		return fmt.Sprintf("sample test %d", f.Test.Index+1)
	default:
		return fmt.Sprintf("hidden test %d", f.Test.Index-f.SampleCount+1)
	}
}

// String reads, for instance, `the reference solution fails hidden test 3
// (WRONG_ANSWER): line 1: expected "6" but your program printed "5"` or
// `the starter code already passes every test`.
func (f Failure) String() string {
	if f.Test == nil {
		return fmt.Sprintf("the %s already passes every test: it must leave the child something to do", f.Program)
	}
	s := fmt.Sprintf("the %s fails %s (%s)", f.Program, f.TestName(), f.Test.Verdict)
	detail := f.Test.Diff
	if detail == "" && f.Test.Verdict == coderunner.RuntimeError {
		detail = lastLine(f.Test.Stderr)
	}
	if detail != "" {
		s += ": " + strings.ReplaceAll(detail, "\n", "; ")
	}
	return s
}

// lastLine is the last non-blank line of s: a Python traceback's error.
func lastLine(s string) string {
	s = strings.TrimRight(s, " \t\r\n")
	return strings.TrimSpace(s[strings.LastIndexByte(s, '\n')+1:])
}

// CheckError is the refusal of problems that failed their check: a
// BAD_USER_INPUT *coderunner.Error (errors.As finds it, ErrorCode reads
// it) whose message lists every failure, with the failures themselves for
// a caller that shows them otherwise.
type CheckError struct {
	Failures []Failure
	err      *coderunner.Error
}

func newCheckError(failures []Failure) *CheckError {
	var b strings.Builder
	for i, f := range failures {
		switch {
		case i == 0:
			fmt.Fprintf(&b, "problem %s: ", f.ProblemID)
		case f.ProblemID != failures[i-1].ProblemID:
			fmt.Fprintf(&b, "\nproblem %s: ", f.ProblemID)
		default:
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	err := coderunner.Errorf(coderunner.BadUserInput, "%s", b.String())
	list := make([]FailureJSON, len(failures))
	for i, f := range failures {
		list[i] = f.JSON()
	}
	err.Failures = list
	return &CheckError{Failures: failures, err: err}
}

// FailureJSON is a Failure as clients see it, in the BAD_USER_INPUT
// error's extensions.failures: which program fails which test, how, and
// — editors see hidden tests — the test's data and the diff.
type FailureJSON struct {
	ProblemID string `json:"problemId"`
	// Program: "reference solution" or "starter code".
	Program string `json:"program"`
	// Test names it as an editor counts ("sample test 1", "hidden test
	// 3"); "" when the starter code passes every test.
	Test           string `json:"test"`
	Verdict        string `json:"verdict"`
	Input          string `json:"input"`
	ExpectedOutput string `json:"expectedOutput"`
	ActualOutput   string `json:"actualOutput"`
	Stderr         string `json:"stderr"`
	Diff           string `json:"diff"`
	// Message is the failure in words, as in the error's message.
	Message string `json:"message"`
}

// JSON returns the failure as clients see it.
func (f Failure) JSON() FailureJSON {
	j := FailureJSON{ProblemID: f.ProblemID, Program: string(f.Program), Test: f.TestName(), Message: f.String()}
	if t := f.Test; t != nil {
		j.Verdict, j.Input, j.ExpectedOutput, j.ActualOutput, j.Stderr, j.Diff = string(t.Verdict), t.Input, t.ExpectedOutput, t.ActualOutput, t.Stderr, t.Diff
	}
	return j
}

func (e *CheckError) Error() string { return e.err.Message }

// Unwrap returns the BAD_USER_INPUT *coderunner.Error.
func (e *CheckError) Unwrap() error { return e.err }

// Check checks problem p, a candidate, in the sandbox as caller, an
// editor: nil when its reference solution is ACCEPTED on every test, with
// the problem's checker and limits, and its starter code is not. Otherwise
// a *CheckError (BAD_USER_INPUT) lists every test the reference solution
// fails and whether the starter code passes. A problem that fails
// Validate answers its error, checking nothing. Other errors are the
// caller's (UNAUTHENTICATED, FORBIDDEN, QUOTA_EXCEEDED) or the platform's
// (no worker finished the check within the Timeout; the sandbox failed):
// they say nothing of the problem.
func (c *Checker) Check(ctx context.Context, caller coderunner.Caller, p coderunner.Problem) error {
	failures, err := c.check(ctx, caller, p)
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return newCheckError(failures)
	}
	return nil
}

// CheckAll checks every problem as Check does, Parallel at a time: nil
// when all pass; a *CheckError listing the failures of every problem that
// fails; or, when a check could not be carried out, the first such error.
func (c *Checker) CheckAll(ctx context.Context, caller coderunner.Caller, problems []coderunner.Problem) error {
	parallel := c.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	failures := make([][]Failure, len(problems))
	errs := make([]error, len(problems))
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, p := range problems {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			failures[i], errs[i] = c.check(ctx, caller, p)
		}()
	}
	wg.Wait()
	var all []Failure
	for i := range problems {
		if errs[i] != nil {
			return errs[i]
		}
		all = append(all, failures[i]...)
	}
	if len(all) > 0 {
		return newCheckError(all)
	}
	return nil
}

// check returns the failures of problem p.
func (c *Checker) check(ctx context.Context, caller coderunner.Caller, p coderunner.Problem) ([]Failure, error) {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(p.ReferenceSolution) == "" {
		return nil, coderunner.Errorf(coderunner.BadUserInput, "problem %s: a reference solution is required: the check runs it against every test", p.ID)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	g := p.Grading()
	// Every test, so that every failing one is listed.
	g.StopOnFirstFailure = false
	programs := []struct {
		which Program
		code  string
	}{{ReferenceSolution, p.ReferenceSolution}, {StarterCode, p.StarterCode}}
	ids := make([]string, len(programs))
	for i, prog := range programs {
		sub, err := c.submit(ctx, caller, p.ID, g, prog.code)
		if err != nil {
			return nil, fmt.Errorf("check of problem %s: submit its %s: %w", p.ID, prog.which, err)
		}
		ids[i] = sub.ID
	}
	var failures []Failure
	for i, prog := range programs {
		sub, err := c.Submissions.AwaitCheck(ctx, caller, ids[i])
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("check of problem %s: its %s was not graded within %v: are workers running? %w", p.ID, prog.which, timeout, err)
			}
			return nil, fmt.Errorf("check of problem %s: %w", p.ID, err)
		}
		if sub.Verdict == coderunner.InternalError {
			return nil, fmt.Errorf("check of problem %s: grading its %s failed in the sandbox (INTERNAL_ERROR): try again", p.ID, prog.which)
		}
		switch prog.which {
		case ReferenceSolution:
			for _, t := range sub.Tests {
				if t.Verdict != coderunner.Accepted {
					failures = append(failures, Failure{ProblemID: p.ID, Program: prog.which, Test: &t, SampleCount: g.SampleCount})
				}
			}
		case StarterCode:
			if sub.Verdict == coderunner.Accepted {
				failures = append(failures, Failure{ProblemID: p.ID, Program: prog.which, SampleCount: g.SampleCount})
			}
		}
	}
	return failures, nil
}

// submit starts a check submission, waiting and trying again while the
// caller is rate limited or the queue is full: a curriculum's check
// submits many at once.
func (c *Checker) submit(ctx context.Context, caller coderunner.Caller, problemID string, g coderunner.Grading, code string) (coderunner.Submission, error) {
	for {
		sub, err := c.Submissions.SubmitCheck(ctx, caller, problemID, g, code)
		wait := 500 * time.Millisecond
		var e *coderunner.Error
		switch {
		case err == nil:
			return sub, nil
		case !errors.As(err, &e) || (e.Code != coderunner.RateLimited && e.Code != coderunner.QueueFull):
			return sub, err
		case e.RetryAfter > 0:
			wait = e.RetryAfter
		}
		select {
		case <-ctx.Done():
			return sub, err
		case <-time.After(wait):
		}
	}
}
