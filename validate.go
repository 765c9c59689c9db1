package coderunner

import (
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"
)

// idPattern is what content ids and age-group slugs look like: short,
// URL-safe, stable across seeds.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Size caps on content, so a mistaken upload cannot bloat every response.
const (
	maxTitle     = 200
	maxText      = 20_000
	maxCode      = 64 << 10
	maxTestCases = 100
	maxTestData  = 64 << 10
	maxHint      = 500
)

// Validate reports an unknown checker or a tolerance out of range as
// BAD_USER_INPUT.
func (c Checker) Validate() error {
	switch c.Kind {
	case "", CheckLines, CheckExact, CheckTokens, CheckFloat:
	default:
		return Errorf(BadUserInput, "checker %q is unknown: use lines, exact, tokens or float", c.Kind)
	}
	if c.Tolerance < 0 || c.Tolerance >= 1 || (c.Tolerance != 0 && c.Kind != CheckFloat) {
		return Errorf(BadUserInput, "checker tolerance %g: give 0 (the default, %g) or a number below 1, for the float checker only", c.Tolerance, DefaultTolerance)
	}
	return nil
}

// Validate reports the first problem with g as a BAD_USER_INPUT error.
func (g AgeGroup) Validate() error {
	if !idPattern.MatchString(g.Slug) {
		return Errorf(BadUserInput, "age group slug %q must be 1-64 lower-case letters, digits, '-' or '_'", g.Slug)
	}
	return checkText("age group "+g.Slug, g.Title, g.Description)
}

// Validate reports the first problem with l as a BAD_USER_INPUT error.
func (l Level) Validate() error {
	if !idPattern.MatchString(l.ID) {
		return Errorf(BadUserInput, "level id %q must be 1-64 lower-case letters, digits, '-' or '_'", l.ID)
	}
	if l.AgeGroup == "" {
		return Errorf(BadUserInput, "level %s: ageGroup is required", l.ID)
	}
	return checkText("level "+l.ID, l.Title, l.Description)
}

// Validate reports the first problem with p as a BAD_USER_INPUT error.
func (p Problem) Validate() error {
	if !idPattern.MatchString(p.ID) {
		return Errorf(BadUserInput, "problem id %q must be 1-64 lower-case letters, digits, '-' or '_'", p.ID)
	}
	what := "problem " + p.ID
	if p.LevelID == "" {
		return Errorf(BadUserInput, "%s: levelId is required", what)
	}
	if err := checkText(what, p.Title, p.Statement); err != nil {
		return err
	}
	if len(p.StarterCode) > maxCode || len(p.ReferenceSolution) > maxCode {
		return Errorf(BadUserInput, "%s: starter code and reference solution are limited to %d bytes", what, maxCode)
	}
	if len(p.SampleTests) == 0 || len(p.HiddenTests) == 0 {
		return Errorf(BadUserInput, "%s: needs at least one sample and one hidden test case", what)
	}
	if len(p.SampleTests)+len(p.HiddenTests) > maxTestCases {
		return Errorf(BadUserInput, "%s: at most %d test cases", what, maxTestCases)
	}
	for _, tc := range append(append([]TestCase{}, p.SampleTests...), p.HiddenTests...) {
		if len(tc.Input) > maxTestData || len(tc.Output) > maxTestData {
			return Errorf(BadUserInput, "%s: test case input and output are limited to %d bytes each", what, maxTestData)
		}
		if utf8.RuneCountInString(tc.Hint) > maxHint || !utf8.ValidString(tc.Hint) {
			return Errorf(BadUserInput, "%s: a test's hint is limited to %d characters of valid UTF-8", what, maxHint)
		}
	}
	if err := p.Checker.Validate(); err != nil {
		return Errorf(BadUserInput, "%s: %s", what, err.Error())
	}
	if p.TimeLimitMs < 0 || p.TimeLimitMs > MaxTimeLimitMs {
		return Errorf(BadUserInput, "%s: timeLimitMs must be 0 (the default, %d) or 1 to %d", what, DefaultTimeLimitMs, MaxTimeLimitMs)
	}
	if p.MemoryMB != 0 && (p.MemoryMB < MinMemoryMB || p.MemoryMB > MaxMemoryMB) {
		return Errorf(BadUserInput, "%s: memoryMb must be 0 (the default, %d) or %d to %d", what, DefaultMemoryMB, MinMemoryMB, MaxMemoryMB)
	}
	return nil
}

// WithDefaults returns p with zero limits replaced by the defaults.
func (p Problem) WithDefaults() Problem {
	if p.TimeLimitMs == 0 {
		p.TimeLimitMs = DefaultTimeLimitMs
	}
	if p.MemoryMB == 0 {
		p.MemoryMB = DefaultMemoryMB
	}
	return p
}

func checkText(what, title, body string) error {
	switch {
	case strings.TrimSpace(title) == "":
		return Errorf(BadUserInput, "%s: title is required", what)
	case utf8.RuneCountInString(title) > maxTitle:
		return Errorf(BadUserInput, "%s: title is limited to %d characters", what, maxTitle)
	case len(body) > maxText:
		return Errorf(BadUserInput, "%s: text is limited to %d bytes", what, maxText)
	case !utf8.ValidString(title) || !utf8.ValidString(body):
		return Errorf(BadUserInput, "%s: text must be valid UTF-8", what)
	}
	return nil
}

// SameContent reports whether g and o hold the same content: everything
// but Version.
func (g AgeGroup) SameContent(o AgeGroup) bool {
	g.Version = o.Version
	return g == o
}

// SameContent reports whether l and o hold the same content: everything
// but Version and ProblemCount.
func (l Level) SameContent(o Level) bool {
	l.Version, l.ProblemCount = o.Version, o.ProblemCount
	return l == o
}

// SameContent reports whether p and o hold the same content: everything
// but Version. Nil and empty test lists are alike.
func (p Problem) SameContent(o Problem) bool {
	p.Version = o.Version
	return reflect.DeepEqual(p.normal(), o.normal())
}

func (p Problem) normal() Problem {
	if len(p.SampleTests) == 0 {
		p.SampleTests = nil
	}
	if len(p.HiddenTests) == 0 {
		p.HiddenTests = nil
	}
	return p
}

// ValidateUpdate is Validate for an update, which must also name the
// version it edited.
func (g AgeGroup) ValidateUpdate() error {
	if err := g.Validate(); err != nil {
		return err
	}
	return CheckEditVersion("age group", g.Slug, g.Version)
}

// ValidateUpdate is Validate for an update, which must also name the
// version it edited.
func (l Level) ValidateUpdate() error {
	if err := l.Validate(); err != nil {
		return err
	}
	return CheckEditVersion("level", l.ID, l.Version)
}

// ValidateUpdate is Validate for an update, which must also name the
// version it edited.
func (p Problem) ValidateUpdate() error {
	if err := p.Validate(); err != nil {
		return err
	}
	return CheckEditVersion("problem", p.ID, p.Version)
}
