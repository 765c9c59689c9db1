// Package grade judges a submission's test runs: whether a program's output
// is the expected one (Check), what verdict a sandbox run earns (Judge), what
// a child is shown of a test (Result, Diff) and what the whole submission
// earns (Overall, Passed). It is pure logic: no I/O, no clock, no state.
package grade

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"coderunner"
)

// Check reports whether actual is an accepted output for expected under c:
//
//   - lines (the zero Kind): equal line by line, ignoring spaces, tabs and
//     "\r" at the end of each line and blank lines at the end of either
//     output, so "\r\n" line endings and a missing final newline pass;
//   - exact: equal byte for byte;
//   - tokens: the same whitespace-separated words, laid out in any way;
//   - float: the same words, except that two words that both read as finite
//     decimal numbers match when they differ by at most the tolerance
//     (c.Tolerance, or coderunner.DefaultTolerance when 0), absolutely or
//     relative to the larger of the two. "nan", "inf", hex and other
//     spellings that are not plain decimals compare as words.
//
// An unknown Kind checks as lines: Checker.Validate keeps them out of
// problems.
func Check(c coderunner.Checker, expected, actual string) bool {
	switch c.Kind {
	case coderunner.CheckExact:
		return expected == actual
	case coderunner.CheckTokens, coderunner.CheckFloat:
		return wordsEqual(c, expected, actual)
	}
	e, a := newLines(expected, false), newLines(actual, false)
	for {
		el, eok := e.next()
		al, aok := a.next()
		if !eok || !aok {
			return eok == aok
		}
		if el != al {
			return false
		}
	}
}

// Judge is the verdict of one test: a run that completed is ACCEPTED or a
// WRONG_ANSWER by Check; one that crashed or broke a limit earns the verdict
// of the same name, with its output, cut short at the limit or not, left
// unchecked; anything else (INTERNAL_ERROR, CANCELLED, a status that is not
// final) is an INTERNAL_ERROR, since it says nothing of the program. A
// completed run whose output was truncated (which the sandbox never
// reports) is an OUTPUT_LIMIT_EXCEEDED: a cut output cannot be checked.
func Judge(c coderunner.Checker, expected string, r coderunner.RunResult) coderunner.Verdict {
	switch r.Status {
	case coderunner.StatusCompleted:
		switch {
		case r.Truncated:
			return coderunner.OutputLimitExceeded
		case Check(c, expected, r.Stdout):
			return coderunner.Accepted
		default:
			return coderunner.WrongAnswer
		}
	case coderunner.StatusRuntimeError:
		return coderunner.RuntimeError
	case coderunner.StatusTimeLimitExceeded:
		return coderunner.TimeLimitExceeded
	case coderunner.StatusMemoryLimitExceeded:
		return coderunner.MemoryLimitExceeded
	case coderunner.StatusOutputLimitExceeded:
		return coderunner.OutputLimitExceeded
	default:
		return coderunner.InternalError
	}
}

// Overall is a submission's verdict: its worst test's, by
// coderunner.Verdict.Severity, so ACCEPTED only when every test was. No
// tests at all, or a verdict Severity does not know, is an INTERNAL_ERROR:
// every problem has tests, so either means the grading went wrong.
func Overall(results []coderunner.TestResult) coderunner.Verdict {
	if len(results) == 0 {
		return coderunner.InternalError
	}
	worst := coderunner.Accepted
	for _, r := range results {
		if r.Verdict.Severity() < 0 {
			return coderunner.InternalError
		}
		if r.Verdict.Worse(worst) {
			worst = r.Verdict
		}
	}
	return worst
}

// Passed counts the ACCEPTED results.
func Passed(results []coderunner.TestResult) int {
	n := 0
	for _, r := range results {
		if r.Verdict == coderunner.Accepted {
			n++
		}
	}
	return n
}

// Result is what a submission's results keep of test index, whose case is tc,
// judged by c on run r: the verdict, the run's cost and, unless it was
// ACCEPTED, the test's hint. Only a sample test (sample) also keeps its
// input, its expected output, the program's stdout and stderr and, for a
// WRONG_ANSWER, their Diff: a hidden test's data, and whatever the program
// printed on it, never leaves the worker.
func Result(index int, sample bool, tc coderunner.TestCase, c coderunner.Checker, r coderunner.RunResult) coderunner.TestResult {
	return result(index, sample, sample, tc, c, r)
}

// Full is Result for an editor's check of a problem (see
// coderunner.CheckOwnerPrefix): every test keeps its data as a sample test
// does, hidden tests included — an editor may see them, and needs the
// Diff of the test a reference solution fails.
func Full(index int, sample bool, tc coderunner.TestCase, c coderunner.Checker, r coderunner.RunResult) coderunner.TestResult {
	return result(index, sample, true, tc, c, r)
}

// result is Result, keeping the test's data when show.
func result(index int, sample, show bool, tc coderunner.TestCase, c coderunner.Checker, r coderunner.RunResult) coderunner.TestResult {
	res := coderunner.TestResult{
		Index:    index,
		Sample:   sample,
		Verdict:  Judge(c, tc.Output, r),
		WallMs:   r.WallMs,
		CPUMs:    r.CPUMs,
		MemoryKB: r.MemoryKB,
	}
	if res.Verdict != coderunner.Accepted {
		res.Hint = tc.Hint
	}
	if !show {
		return res
	}
	res.Input, res.ExpectedOutput = clip(tc.Input), clip(tc.Output)
	res.ActualOutput, res.Stderr = clip(r.Stdout), clip(r.Stderr)
	if res.Verdict == coderunner.WrongAnswer {
		res.Diff = Diff(c, tc.Output, r.Stdout)
	}
	return res
}

// MaxShownBytes bounds each text a sample test's result keeps (its input,
// outputs and stderr): a child reads the start of a long output, and a
// submission's stored results stay within a few megabytes however many
// sample tests its problem has and whatever its program printed.
const MaxShownBytes = 8 << 10

// clip cuts s to MaxShownBytes, at a character boundary, and says so.
func clip(s string) string {
	if len(s) <= MaxShownBytes {
		return s
	}
	cut := MaxShownBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("\n… (%d more bytes not shown)", len(s)-cut)
}

// wordsEqual is Check for the tokens and float checkers.
func wordsEqual(c coderunner.Checker, expected, actual string) bool {
	var e, a string
	for {
		e, expected = nextWord(expected)
		a, actual = nextWord(actual)
		if e == "" || a == "" {
			return e == a
		}
		if !wordEqual(c, e, a) {
			return false
		}
	}
}

// nextWord splits off the first whitespace-separated word of s: "" when
// there is none.
func nextWord(s string) (word, rest string) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// wordEqual compares two words under c: equal strings, or for the float
// checker numbers within its tolerance.
func wordEqual(c coderunner.Checker, e, a string) bool {
	if e == a {
		return true
	}
	if c.Kind != coderunner.CheckFloat {
		return false
	}
	x, ok := decimal(e)
	if !ok {
		return false
	}
	y, ok := decimal(a)
	if !ok {
		return false
	}
	tol := c.Tolerance
	if tol <= 0 {
		tol = coderunner.DefaultTolerance
	}
	d := math.Abs(x - y)
	return d <= tol || d <= tol*math.Max(math.Abs(x), math.Abs(y))
}

// decimal reads s as a finite number written in decimal ("-1", "2.50",
// ".5", "1e-7"); it does not take "inf", "nan", hex or digits with "_".
func decimal(s string) (float64, bool) {
	if strings.Trim(s, "0123456789+-.eE") != "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// lines walks an output line by line, without copying it. Unless raw, it
// walks the output as the lines checker sees it: no blank lines at the end,
// and each line without spaces, tabs and "\r" at its end. Raw, it walks
// every line as it is but for its "\n"; a final "\n" ends the last line
// rather than starting an empty one.
type lines struct {
	rest string
	raw  bool
	done bool
}

func newLines(s string, raw bool) *lines {
	if !raw {
		s = strings.TrimRight(s, " \t\r\n")
	}
	return &lines{rest: s, raw: raw, done: s == ""}
}

// next returns the next line and true, or "" and false after the last.
func (l *lines) next() (string, bool) {
	if l.done {
		return "", false
	}
	line, rest, found := strings.Cut(l.rest, "\n")
	l.rest = rest
	l.done = !found || (l.raw && rest == "")
	if !l.raw {
		line = strings.TrimRight(line, " \t\r")
	}
	return line, true
}
