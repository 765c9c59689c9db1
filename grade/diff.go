package grade

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"coderunner"
)

// Bounds on what Diff shows, so its size does not depend on the outputs'.
const (
	// maxDiffLines is how many differing lines Diff describes; it counts
	// the rest.
	maxDiffLines = 5
	// maxLineRunes is how much of a line Diff shows.
	maxLineRunes = 200
	// diffContext is how much of a long line Diff shows before its first
	// difference, when that difference is too far in to show from the start.
	diffContext = 40
)

// Diff tells a child where actual differs from expected, line by line, or is
// "" when Check(c, expected, actual) holds. Line n of one is compared with
// line n of the other, as c compares them (for tokens and float, by the
// words in them), and each of the first 5 lines that differ gets a line:
//
//	line 2: expected "Hello, Ada!" but your program printed "Hello Ada"
//	line 3: expected "Bye" but your program printed nothing more
//	your program printed an extra line 4: "Bye"
//
// and then "… and N more lines differ". Lines are shown as the checker
// compares them (for exact, with their trailing spaces and "\r"; otherwise
// without), quoted with Go's escapes so that tabs, control and invisible
// characters show, and cut to 200 characters, around the first difference
// when that is further in. For exact outputs whose only difference is the
// final line break, Diff says so. The result is valid UTF-8 and a few
// kilobytes at most, whatever the outputs.
func Diff(c coderunner.Checker, expected, actual string) string {
	if Check(c, expected, actual) {
		return ""
	}
	raw := c.Kind == coderunner.CheckExact
	e, a := newLines(expected, raw), newLines(actual, raw)
	nothing := "nothing more"
	if a.done {
		nothing = "nothing"
	}
	var b strings.Builder
	shown, more := 0, 0
	for n := 1; ; n++ {
		el, eok := e.next()
		al, aok := a.next()
		if !eok && !aok {
			break
		}
		if eok && aok && lineEqual(c, el, al) {
			continue
		}
		if shown == maxDiffLines {
			more++
			continue
		}
		if shown > 0 {
			b.WriteByte('\n')
		}
		shown++
		switch {
		case eok && aok:
			start := excerptStart(el, al)
			fmt.Fprintf(&b, "line %d: expected %s but your program printed %s", n, show(el, start), show(al, start))
		case eok:
			fmt.Fprintf(&b, "line %d: expected %s but your program printed %s", n, show(el, 0), nothing)
		default:
			fmt.Fprintf(&b, "your program printed an extra line %d: %s", n, show(al, 0))
		}
	}
	switch {
	case more == 1:
		b.WriteString("\n… and 1 more line differs")
	case more > 1:
		fmt.Fprintf(&b, "\n… and %d more lines differ", more)
	case shown == 0 && strings.HasSuffix(expected, "\n"):
		// Only the exact checker tells these apart.
		return `the last line of your output is missing its line break ("\n") at the end`
	case shown == 0:
		return `your output ends with a line break ("\n") that is not expected`
	}
	return b.String()
}

// lineEqual compares one line of each output as c does.
func lineEqual(c coderunner.Checker, e, a string) bool {
	switch c.Kind {
	case coderunner.CheckTokens, coderunner.CheckFloat:
		return wordsEqual(c, e, a)
	}
	return e == a
}

// excerptStart is the character from which two differing lines are shown:
// their start, unless their first difference would not show then.
func excerptStart(e, a string) int {
	same := 0 // characters in common at the start
	for i := 0; i < len(e) && i < len(a); {
		_, es := utf8.DecodeRuneInString(e[i:])
		_, as := utf8.DecodeRuneInString(a[i:])
		if es != as || e[i:i+es] != a[i:i+as] {
			break
		}
		i += es
		same++
	}
	if same+diffContext <= maxLineRunes {
		return 0
	}
	if utf8.RuneCountInString(e) <= maxLineRunes && utf8.RuneCountInString(a) <= maxLineRunes {
		return 0
	}
	return same - diffContext
}

// show quotes maxLineRunes characters of line from character start on,
// with "…" where it is cut, or says that it is empty.
func show(line string, start int) string {
	if line == "" {
		return "an empty line"
	}
	i := 0
	for n := 0; n < start && i < len(line); n++ {
		_, size := utf8.DecodeRuneInString(line[i:])
		i += size
	}
	j := i
	for n := 0; n < maxLineRunes && j < len(line); n++ {
		_, size := utf8.DecodeRuneInString(line[j:])
		j += size
	}
	s := line[i:j]
	if i > 0 {
		s = "…" + s
	}
	if j < len(line) {
		s += "…"
	}
	return strconv.Quote(s)
}
