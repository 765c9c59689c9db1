package grade

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"coderunner"
)

var (
	byLines = coderunner.Checker{}
	exact   = coderunner.Checker{Kind: coderunner.CheckExact}
	tokens  = coderunner.Checker{Kind: coderunner.CheckTokens}
	float   = coderunner.Checker{Kind: coderunner.CheckFloat}
)

type checkCase struct {
	name             string
	expected, actual string
	want             bool
}

func testCheck(t *testing.T, c coderunner.Checker, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		if got := Check(c, tc.expected, tc.actual); got != tc.want {
			t.Errorf("%s: Check(%q, %q) = %v, want %v", tc.name, tc.expected, tc.actual, got, tc.want)
		}
		// Diff is "" exactly when Check holds.
		if d := Diff(c, tc.expected, tc.actual); (d == "") != tc.want {
			t.Errorf("%s: Check = %v but Diff(%q, %q) = %q", tc.name, tc.want, tc.expected, tc.actual, d)
		}
	}
}

func TestCheckLines(t *testing.T) {
	cases := []checkCase{
		{"equal", "Hello\nWorld\n", "Hello\nWorld\n", true},
		{"both empty", "", "", true},
		{"empty vs blank lines", "", "\n\n \n", true},
		{"empty vs whitespace", "", " \t\r", true},
		{"empty vs text", "", "x", false},
		{"text vs empty", "x\n", "", false},
		{"missing final newline", "Hello\nWorld\n", "Hello\nWorld", true},
		{"crlf endings", "Hello\nWorld\n", "Hello\r\nWorld\r\n", true},
		{"crlf expected", "Hello\r\nWorld\r\n", "Hello\nWorld\n", true},
		{"trailing spaces and tabs", "a b\nc\n", "a b  \t\nc \n", true},
		{"extra blank lines at the end", "a\n", "a\n\n\n  \n", true},
		{"expected ends with blank lines", "a\n\n\n", "a", true},
		{"extra blank line in the middle", "a\nb\n", "a\n\nb\n", false},
		{"missing blank line in the middle", "a\n\nb\n", "a\nb\n", false},
		{"leading spaces count", "a\n", " a\n", false},
		{"inner spaces count", "a b\n", "a  b\n", false},
		{"case counts", "Hello\n", "hello\n", false},
		{"missing line", "a\nb\n", "a\n", false},
		{"extra line", "a\n", "a\nb\n", false},
		{"unicode", "héllo wörld ✓\n", "héllo wörld ✓", true},
		{"no-break space is not trailing whitespace", "a\n", "a\u00a0\n", false},
		{"unknown kind checks as lines", "a\n", "a  \r\n", true},
	}
	testCheck(t, byLines, cases)
	testCheck(t, coderunner.Checker{Kind: coderunner.CheckLines}, cases[:len(cases)-1])
	testCheck(t, coderunner.Checker{Kind: "bogus"}, cases[len(cases)-1:])
}

func TestCheckExact(t *testing.T) {
	testCheck(t, exact, []checkCase{
		{"equal", "a\nb\n", "a\nb\n", true},
		{"both empty", "", "", true},
		{"empty vs newline", "", "\n", false},
		{"missing final newline", "a\n", "a", false},
		{"extra final newline", "a", "a\n", false},
		{"crlf", "a\n", "a\r\n", false},
		{"trailing space", "a\n", "a \n", false},
		{"extra blank line at the end", "a\n", "a\n\n", false},
		{"different text", "a\n", "b\n", false},
	})
}

func TestCheckTokens(t *testing.T) {
	testCheck(t, tokens, []checkCase{
		{"equal", "1 2 3\n", "1 2 3\n", true},
		{"both empty", "", "", true},
		{"only whitespace", " \n\t", "\r\n", true},
		{"empty vs word", "", "0", false},
		{"other layout", "1 2\n3\n", "1\n2   3", true},
		{"tabs and crlf", "a b c", "a\tb\r\nc\r\n", true},
		{"blank lines in the middle", "a\nb", "a\n\n\nb", true},
		{"fewer words", "1 2 3", "1 2", false},
		{"more words", "1 2", "1 2 3", false},
		{"numbers compare as words", "1.0", "1", false},
		{"different word", "yes", "Yes", false},
		{"glued words", "a b", "ab", false},
	})
}

func TestCheckFloat(t *testing.T) {
	testCheck(t, float, []checkCase{
		{"equal", "3.14\n", "3.14\n", true},
		{"both empty", "", "", true},
		{"1.0 vs 1", "1.0", "1", true},
		{"1e-7 vs 0: absolute", "0", "1e-7", true},
		{"1e-5 vs 0", "0", "0.00001", false},
		{"absolute within default", "0.3333333", "0.33333333333", true},
		{"absolute beyond default", "0.333", "0.334", false},
		{"relative within default", "1000000", "1000000.5", true},
		{"relative beyond default", "1000000", "1000002", false},
		{"negative numbers", "-2.5", "-2.5000001", true},
		{"sign matters", "2.5", "-2.5", false},
		{"exponent forms", "1e3", "1000.0000001", true},
		{"leading dot", ".5", "0.5", true},
		{"plus sign", "+1", "1", true},
		{"other layout", "1.0 2.0\n", "1\n2\n", true},
		{"words must be equal", "x = 1.0", "x = 1", true},
		{"different words", "x = 1.0", "y = 1.0", false},
		{"word vs number", "one", "1", false},
		{"number vs word", "1", "one", false},
		{"fewer numbers", "1 2 3", "1 2", false},
		{"more numbers", "1 2", "1 2 3", false},
		{"nan as a word", "nan", "nan", true},
		{"nan vs number", "nan", "0", false},
		{"NaN vs nan", "NaN", "nan", false},
		{"inf as a word", "inf", "inf", true},
		{"inf vs infinity", "inf", "Infinity", false},
		{"inf vs huge", "inf", "1e400", false},
		{"overflow as a word", "1e400", "1e400", true},
		{"overflow vs max", "1e400", "1.7976931348623157e308", false},
		{"hex is a word", "0x10", "16", false},
		{"underscores are words", "1_000", "1000", false},
		{"trailing garbage is a word", "1.0.0", "1.0", false},
	})
	custom := coderunner.Checker{Kind: coderunner.CheckFloat, Tolerance: 0.01}
	testCheck(t, custom, []checkCase{
		{"absolute within", "0.5", "0.509", true},
		{"absolute beyond", "0.5", "0.52", false},
		{"relative within", "1000", "1009", true},
		{"relative beyond", "1000", "1011", false},
		{"zero", "0", "0.01", true},
	})
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  coderunner.RunResult
		want coderunner.Verdict
	}{
		{"completed right", coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: "42\n"}, coderunner.Accepted},
		{"completed right, crlf", coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: "42\r\n"}, coderunner.Accepted},
		{"completed wrong", coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: "41\n"}, coderunner.WrongAnswer},
		{"completed silent", coderunner.RunResult{Status: coderunner.StatusCompleted}, coderunner.WrongAnswer},
		{"completed but truncated", coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: "42\n", Truncated: true}, coderunner.OutputLimitExceeded},
		{"runtime error with right output", coderunner.RunResult{Status: coderunner.StatusRuntimeError, ExitCode: 1, Stdout: "42\n"}, coderunner.RuntimeError},
		{"time limit", coderunner.RunResult{Status: coderunner.StatusTimeLimitExceeded, Stdout: "42\n"}, coderunner.TimeLimitExceeded},
		{"memory limit", coderunner.RunResult{Status: coderunner.StatusMemoryLimitExceeded}, coderunner.MemoryLimitExceeded},
		{"output limit, truncated", coderunner.RunResult{Status: coderunner.StatusOutputLimitExceeded, Stdout: "42\n42\n", Truncated: true}, coderunner.OutputLimitExceeded},
		{"internal error", coderunner.RunResult{Status: coderunner.StatusInternalError, Stdout: "42\n"}, coderunner.InternalError},
		{"cancelled", coderunner.RunResult{Status: coderunner.StatusCancelled, Stdout: "42\n"}, coderunner.InternalError},
		{"queued", coderunner.RunResult{Status: coderunner.StatusQueued}, coderunner.InternalError},
		{"running", coderunner.RunResult{Status: coderunner.StatusRunning}, coderunner.InternalError},
		{"no status", coderunner.RunResult{Stdout: "42\n"}, coderunner.InternalError},
		{"unknown status", coderunner.RunResult{Status: "EXPLODED", Stdout: "42\n"}, coderunner.InternalError},
	} {
		if got := Judge(byLines, "42\n", tc.run); got != tc.want {
			t.Errorf("%s: Judge = %s, want %s", tc.name, got, tc.want)
		}
	}
	// The checker is the one given.
	run := coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: "42"}
	if got := Judge(exact, "42\n", run); got != coderunner.WrongAnswer {
		t.Errorf("exact: Judge = %s, want WRONG_ANSWER", got)
	}
	if got := Judge(float, "42.0000001", run); got != coderunner.Accepted {
		t.Errorf("float: Judge = %s, want ACCEPTED", got)
	}
}

func TestOverallAndPassed(t *testing.T) {
	const (
		ac  = coderunner.Accepted
		wa  = coderunner.WrongAnswer
		ole = coderunner.OutputLimitExceeded
		mle = coderunner.MemoryLimitExceeded
		tle = coderunner.TimeLimitExceeded
		re  = coderunner.RuntimeError
		ie  = coderunner.InternalError
	)
	for _, tc := range []struct {
		verdicts []coderunner.Verdict
		want     coderunner.Verdict
		passed   int
	}{
		{nil, ie, 0},
		{[]coderunner.Verdict{ac}, ac, 1},
		{[]coderunner.Verdict{ac, ac, ac}, ac, 3},
		{[]coderunner.Verdict{ac, wa, ac}, wa, 2},
		{[]coderunner.Verdict{wa, ole}, ole, 0},
		{[]coderunner.Verdict{ole, mle, ac}, mle, 1},
		{[]coderunner.Verdict{tle, mle, wa}, tle, 0},
		{[]coderunner.Verdict{ac, re, tle, wa}, re, 1},
		{[]coderunner.Verdict{re, ie, ac}, ie, 1},
		{[]coderunner.Verdict{ie, ac}, ie, 1},
		{[]coderunner.Verdict{ac, "", ac}, ie, 2},
		{[]coderunner.Verdict{wa, "SOMETHING_NEW"}, ie, 0},
	} {
		var results []coderunner.TestResult
		for i, v := range tc.verdicts {
			results = append(results, coderunner.TestResult{Index: i, Verdict: v})
		}
		if got := Overall(results); got != tc.want {
			t.Errorf("Overall(%v) = %s, want %s", tc.verdicts, got, tc.want)
		}
		if got := Passed(results); got != tc.passed {
			t.Errorf("Passed(%v) = %d, want %d", tc.verdicts, got, tc.passed)
		}
	}
}

func TestDiff(t *testing.T) {
	long := strings.Repeat("ab", 150) // 300 characters
	for _, tc := range []struct {
		name             string
		c                coderunner.Checker
		expected, actual string
		want             string
	}{
		{"equal", byLines, "a\nb\n", "a\r\nb  \n\n", ""},
		{"one line", byLines, "Hello, Ada!\n", "Hello Ada\n",
			`line 1: expected "Hello, Ada!" but your program printed "Hello Ada"`},
		{"second line", byLines, "Hi\nHello, Ada!\n", "Hi\nHello Ada",
			`line 2: expected "Hello, Ada!" but your program printed "Hello Ada"`},
		{"missing lines", byLines, "a\nb\nc\n", "a\n",
			"line 2: expected \"b\" but your program printed nothing more\n" +
				`line 3: expected "c" but your program printed nothing more`},
		{"printed nothing", byLines, "a\nb\n", "\n",
			"line 1: expected \"a\" but your program printed nothing\n" +
				`line 2: expected "b" but your program printed nothing`},
		{"extra lines", byLines, "a\n", "a\nb\nc\n",
			"your program printed an extra line 2: \"b\"\n" +
				`your program printed an extra line 3: "c"`},
		{"expected nothing", byLines, "", "x\n",
			`your program printed an extra line 1: "x"`},
		{"blank line in the middle", byLines, "a\nb\n", "a\n\nb\n",
			"line 2: expected \"b\" but your program printed an empty line\n" +
				`your program printed an extra line 3: "b"`},
		{"missing blank line", byLines, "a\n\nb\n", "a\nb\n",
			"line 2: expected an empty line but your program printed \"b\"\n" +
				`line 3: expected "b" but your program printed nothing more`},
		{"tabs, quotes and invisible characters", byLines, "say \"hi\"\ta\n", "say 'hi' a\u00a0b\u200b\n",
			`line 1: expected "say \"hi\"\ta" but your program printed "say 'hi' a\u00a0b\u200b"`},
		{"lines hides trailing spaces", byLines, "a\nb\n", "a  \nc \n",
			`line 2: expected "b" but your program printed "c"`},
		{"unicode", byLines, "größe: 5 ✓\n", "größe: 6 ✓\n",
			`line 1: expected "größe: 5 ✓" but your program printed "größe: 6 ✓"`},
		{"invalid utf-8", byLines, "a\n", "a\xff\n",
			`line 1: expected "a" but your program printed "a\xff"`},
		{"five and one more", byLines, "1\n2\n3\n4\n5\n6\n", "x\nx\nx\nx\nx\nx\n",
			"line 1: expected \"1\" but your program printed \"x\"\n" +
				"line 2: expected \"2\" but your program printed \"x\"\n" +
				"line 3: expected \"3\" but your program printed \"x\"\n" +
				"line 4: expected \"4\" but your program printed \"x\"\n" +
				"line 5: expected \"5\" but your program printed \"x\"\n" +
				"… and 1 more line differs"},
		{"five and more", byLines, "0\n1\n2\n3\n4\n5\n6\n7\n8\n", "0\n2\n3\n4\n5\n6\n7\n8\n",
			"line 2: expected \"1\" but your program printed \"2\"\n" +
				"line 3: expected \"2\" but your program printed \"3\"\n" +
				"line 4: expected \"3\" but your program printed \"4\"\n" +
				"line 5: expected \"4\" but your program printed \"5\"\n" +
				"line 6: expected \"5\" but your program printed \"6\"\n" +
				"… and 3 more lines differ"},
		{"long line cut", byLines, long + "\n", "x\n",
			`line 1: expected "` + long[:200] + `…" but your program printed "x"`},
		{"long lines cut around the difference", byLines, long + "X\n", long + "Y\n",
			`line 1: expected "…` + long[260:] + `X" but your program printed "…` + long[260:] + `Y"`},
		{"lines that fit are shown whole", byLines, long[:190] + "X", long[:190] + "Y",
			`line 1: expected "` + long[:190] + `X" but your program printed "` + long[:190] + `Y"`},
		{"long lines differing early", byLines, "X" + long, "Y" + long,
			`line 1: expected "X` + long[:199] + `…" but your program printed "Y` + long[:199] + `…"`},
		{"long lines cut by characters", byLines, strings.Repeat("é", 300), "é",
			`line 1: expected "` + strings.Repeat("é", 200) + `…" but your program printed "é"`},
		{"exact shows trailing spaces", exact, "a\nb\n", "a \nb\r\n",
			"line 1: expected \"a\" but your program printed \"a \"\n" +
				`line 2: expected "b" but your program printed "b\r"`},
		{"exact missing final line break", exact, "a\nb\n", "a\nb",
			`the last line of your output is missing its line break ("\n") at the end`},
		{"exact extra final line break", exact, "a\nb", "a\nb\n",
			`your output ends with a line break ("\n") that is not expected`},
		{"exact extra blank line", exact, "a\n", "a\n\n",
			`your program printed an extra line 2: an empty line`},
		{"tokens compare the words of a line", tokens, "1 2\n3 4\n", "1  2\n3 5\n",
			`line 2: expected "3 4" but your program printed "3 5"`},
		{"float ignores close numbers", float, "0.3333333\n0.5\n", "0.33333333\n0.6\n",
			`line 2: expected "0.5" but your program printed "0.6"`},
		{"float equal in another layout", float, "1 2\n", "1.0\n2.0\n", ""},
	} {
		if got := Diff(tc.c, tc.expected, tc.actual); got != tc.want {
			t.Errorf("%s: Diff(%q, %q) =\n%s\nwant\n%s", tc.name, tc.expected, tc.actual, got, tc.want)
		}
	}
}

func TestDiffSizeIsBounded(t *testing.T) {
	const mib = 1 << 20
	// The most a shown line can take: maxLineRunes characters of 10 bytes
	// ("\U000e0001"), two "…" and two quotes.
	const maxShown = maxLineRunes*10 + 2*len("…") + 2
	const bound = (maxDiffLines+1)*(2*maxShown+100) + 100
	invisible := strings.Repeat("\U000e0001", mib/4)
	for _, tc := range []struct {
		name             string
		c                coderunner.Checker
		expected, actual string
	}{
		{"many short lines", byLines, strings.Repeat("a\n", mib/2), strings.Repeat("b\n", mib/2)},
		{"one long line each", byLines, strings.Repeat("a", mib), strings.Repeat("b", mib)},
		{"long lines differing late", byLines, strings.Repeat("a", mib) + "b", strings.Repeat("a", mib) + "c"},
		{"invisible characters", byLines, invisible + "\n" + invisible, "x\n" + invisible + "x"},
		{"control bytes", exact, strings.Repeat("\x00\n", mib/2), strings.Repeat("\x01\x02\n", mib/3)},
		{"invalid utf-8", tokens, strings.Repeat("\xff", mib), strings.Repeat("\xfe", mib)},
		{"missing everything", float, strings.Repeat(strings.Repeat("1.5 ", 50)+"\n", mib/201), ""},
		{"extra everything", byLines, "", strings.Repeat(strings.Repeat("é", 300)+"\n", mib/601)},
	} {
		d := Diff(tc.c, tc.expected, tc.actual)
		if d == "" || len(d) > bound {
			t.Errorf("%s: Diff is %d bytes, want 1 to %d", tc.name, len(d), bound)
		}
		if !utf8.ValidString(d) {
			t.Errorf("%s: Diff is not valid UTF-8", tc.name)
		}
		if n := strings.Count(d, "\n"); n > maxDiffLines {
			t.Errorf("%s: Diff has %d byLines, want at most %d", tc.name, n+1, maxDiffLines+1)
		}
	}
}

func TestResult(t *testing.T) {
	tc := coderunner.TestCase{Input: "Ada\n", Output: "Hello, Ada!\n", Hint: "Mind the comma."}
	wrong := coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: "Hello Ada\n", Stderr: "warning\n", WallMs: 30, CPUMs: 20, MemoryKB: 9000}
	got := Result(2, true, tc, byLines, wrong)
	want := coderunner.TestResult{
		Index: 2, Sample: true, Verdict: coderunner.WrongAnswer, WallMs: 30, CPUMs: 20, MemoryKB: 9000,
		Hint: "Mind the comma.", Input: "Ada\n", ExpectedOutput: "Hello, Ada!\n", ActualOutput: "Hello Ada\n", Stderr: "warning\n",
		Diff: `line 1: expected "Hello, Ada!" but your program printed "Hello Ada"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("wrong sample: Result =\n%+v\nwant\n%+v", got, want)
	}

	right := coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: "Hello, Ada!\r\n", WallMs: 31, CPUMs: 21, MemoryKB: 9001}
	got = Result(0, true, tc, byLines, right)
	want = coderunner.TestResult{
		Index: 0, Sample: true, Verdict: coderunner.Accepted, WallMs: 31, CPUMs: 21, MemoryKB: 9001,
		Input: "Ada\n", ExpectedOutput: "Hello, Ada!\n", ActualOutput: "Hello, Ada!\r\n",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("right sample: Result =\n%+v\nwant\n%+v (no hint, no diff)", got, want)
	}

	crashed := coderunner.RunResult{Status: coderunner.StatusRuntimeError, ExitCode: 1, Stdout: "Hello", Stderr: "Traceback\n"}
	got = Result(1, true, tc, byLines, crashed)
	want = coderunner.TestResult{
		Index: 1, Sample: true, Verdict: coderunner.RuntimeError,
		Hint: "Mind the comma.", Input: "Ada\n", ExpectedOutput: "Hello, Ada!\n", ActualOutput: "Hello", Stderr: "Traceback\n",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("crashed sample: Result =\n%+v\nwant\n%+v (no diff)", got, want)
	}

	got = Result(5, false, tc, byLines, wrong)
	want = coderunner.TestResult{Index: 5, Verdict: coderunner.WrongAnswer, WallMs: 30, CPUMs: 20, MemoryKB: 9000, Hint: "Mind the comma."}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("wrong hidden: Result =\n%+v\nwant\n%+v", got, want)
	}
	got = Result(6, false, tc, byLines, right)
	want = coderunner.TestResult{Index: 6, Verdict: coderunner.Accepted, WallMs: 31, CPUMs: 21, MemoryKB: 9001}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("right hidden: Result =\n%+v\nwant\n%+v", got, want)
	}
}

// TestFull: an editor's check keeps a hidden test's data as Result keeps
// a sample test's, and a sample test's as Result does.
func TestFull(t *testing.T) {
	tc := coderunner.TestCase{Input: "Ada\n", Output: "Hello, Ada!\n", Hint: "Mind the comma."}
	wrong := coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: "Hello Ada\n", Stderr: "warning\n", WallMs: 30, CPUMs: 20, MemoryKB: 9000}
	right := coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: "Hello, Ada!\n", WallMs: 31}
	tests := []struct {
		name   string
		sample bool
		run    coderunner.RunResult
		want   coderunner.TestResult
	}{
		{"wrong hidden", false, wrong, coderunner.TestResult{
			Index: 4, Verdict: coderunner.WrongAnswer, WallMs: 30, CPUMs: 20, MemoryKB: 9000,
			Hint: "Mind the comma.", Input: "Ada\n", ExpectedOutput: "Hello, Ada!\n", ActualOutput: "Hello Ada\n", Stderr: "warning\n",
			Diff: `line 1: expected "Hello, Ada!" but your program printed "Hello Ada"`,
		}},
		{"right hidden", false, right, coderunner.TestResult{
			Index: 4, Verdict: coderunner.Accepted, WallMs: 31, Input: "Ada\n", ExpectedOutput: "Hello, Ada!\n", ActualOutput: "Hello, Ada!\n",
		}},
		{"wrong sample", true, wrong, Result(4, true, tc, byLines, wrong)},
	}
	for _, tt := range tests {
		if got := Full(4, tt.sample, tc, byLines, tt.run); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Full =\n%+v\nwant\n%+v", tt.name, got, tt.want)
		}
	}
}

// TestResultClipsLongText: a sample test keeps at most MaxShownBytes of
// each text, cut at a character boundary, and says how much it left out.
func TestResultClipsLongText(t *testing.T) {
	long := strings.Repeat("é", MaxShownBytes) // two bytes each
	tc := coderunner.TestCase{Input: long, Output: "x\n"}
	got := Result(0, true, tc, byLines, coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: long, Stderr: "short"})
	for name, text := range map[string]string{"input": got.Input, "actual output": got.ActualOutput} {
		shown, note, ok := strings.Cut(text, "\n… (")
		if !ok || len(shown) > MaxShownBytes || !utf8.ValidString(shown) || note != fmt.Sprintf("%d more bytes not shown)", len(long)-len(shown)) {
			t.Errorf("%s clipped to %d bytes with note %q; want at most %d bytes of valid UTF-8 and the count left out", name, len(shown), note, MaxShownBytes)
		}
	}
	if got.Stderr != "short" || got.ExpectedOutput != "x\n" {
		t.Errorf("short texts changed: %q, %q", got.Stderr, got.ExpectedOutput)
	}
}

// TestResultKeepsHiddenDataIn checks every string in the TestResult of a
// hidden test, so that a field added later is covered too: none may carry
// the test's input or expected output, whatever the program printed.
func TestResultKeepsHiddenDataIn(t *testing.T) {
	const input, output = "secret-input-7f3a", "secret-output-9c1e"
	tc := coderunner.TestCase{Input: input + "\n", Output: output + "\n", Hint: "Read the whole line."}
	echo := input + "\n" + output + "\n"
	for _, r := range []coderunner.RunResult{
		{Status: coderunner.StatusCompleted, Stdout: echo, Stderr: echo},
		{Status: coderunner.StatusCompleted, Stdout: output + "\n", Stderr: echo},
		{Status: coderunner.StatusRuntimeError, ExitCode: 1, Stdout: echo, Stderr: "ValueError: " + echo},
		{Status: coderunner.StatusTimeLimitExceeded, Stdout: echo, Stderr: echo},
		{Status: coderunner.StatusOutputLimitExceeded, Stdout: echo, Stderr: echo, Truncated: true},
		{Status: coderunner.StatusInternalError, Stdout: echo, Stderr: echo},
	} {
		for _, c := range []coderunner.Checker{byLines, exact, tokens, float} {
			res := Result(3, false, tc, c, r)
			var strs []string
			collectStrings(reflect.ValueOf(res), &strs)
			if len(strs) == 0 {
				t.Fatal("found no strings in a TestResult")
			}
			for _, s := range strs {
				if strings.Contains(s, input) || strings.Contains(s, output) {
					t.Errorf("%s, %q checker: the result of a hidden test holds %q", r.Status, c.Kind, s)
				}
			}
			if res.Hint != "" && res.Verdict == coderunner.Accepted {
				t.Errorf("%s: an accepted test has a hint", r.Status)
			}
		}
	}
}

// collectStrings appends every string reachable from v.
func collectStrings(v reflect.Value, strs *[]string) {
	switch v.Kind() {
	case reflect.String:
		*strs = append(*strs, v.String())
	case reflect.Struct:
		for i := range v.NumField() {
			collectStrings(v.Field(i), strs)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			collectStrings(v.Index(i), strs)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			collectStrings(it.Key(), strs)
			collectStrings(it.Value(), strs)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectStrings(v.Elem(), strs)
		}
	}
}
