package curriculum

import (
	"bytes"
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"coderunner"
)

// Parse is Load of a file's bytes.
func Parse(data []byte) (Curriculum, error) {
	return Load(bytes.NewReader(data))
}

// Export writes c as a curriculum file, the format Load and `coderunner
// seed --file` read: age groups in order of Position, each with its levels
// (by AgeGroup, in order of Position), each with its problems (by LevelID,
// in order of Position). It writes what an author writes — not what
// Load derives from the file's order and nesting (positions, a level's
// age group, a problem's level) nor what the store keeps (a level's
// ProblemCount) — and leaves out what is zero (a problem's limits,
// checker, hints). A level whose age group, or a problem whose level, is
// not in c is an error: it would be lost.
//
// The output is the normal form of the file: comments and layout are not
// kept, positions are renumbered from 1 without gaps, and each text is
// written in one fixed style — a plain scalar where YAML cannot misread
// it, a literal block (|) for text of several lines that ends with one
// newline and that a block keeps exactly, double quotes otherwise. So
// Parse(Export(c)) is c with its positions renumbered, and exporting
// what Parse read from an export gives the same bytes again: two files
// with the same content export to the same bytes. Export checks the
// latter of its own output before returning it.
func Export(c Curriculum) ([]byte, error) {
	t, err := nest(c)
	if err != nil {
		return nil, err
	}
	out, err := t.emit()
	if err != nil {
		return nil, err
	}
	// Read back: the output must load, and say the same thing.
	parsed, err := Parse(out)
	if err != nil {
		return nil, fmt.Errorf("export: the curriculum written does not load: %w", err)
	}
	back, err := nest(parsed)
	if err != nil {
		return nil, fmt.Errorf("export: the curriculum written does not load: %w", err)
	}
	if again, err := back.emit(); err != nil || !bytes.Equal(again, out) {
		return nil, fmt.Errorf("export: the curriculum written does not read back as it was (%v): a text is written in a style YAML misreads", err)
	}
	return out, nil
}

// tree is a curriculum nested as its file is.
type tree []groupNode

type groupNode struct {
	coderunner.AgeGroup
	levels []levelNode
}

type levelNode struct {
	coderunner.Level
	problems []coderunner.Problem
}

// nest nests c's items by their parents, each in order of Position (then
// of their place in c).
func nest(c Curriculum) (tree, error) {
	byPosition := func(a, b int) int { return cmp.Compare(a, b) }
	groups := slices.Clone(c.AgeGroups)
	slices.SortStableFunc(groups, func(a, b coderunner.AgeGroup) int { return byPosition(a.Position, b.Position) })
	levels := slices.Clone(c.Levels)
	slices.SortStableFunc(levels, func(a, b coderunner.Level) int { return byPosition(a.Position, b.Position) })
	problems := slices.Clone(c.Problems)
	slices.SortStableFunc(problems, func(a, b coderunner.Problem) int { return byPosition(a.Position, b.Position) })

	problemsOf := map[string][]coderunner.Problem{}
	for _, p := range problems {
		problemsOf[p.LevelID] = append(problemsOf[p.LevelID], p)
	}
	levelsOf := map[string][]levelNode{}
	for _, l := range levels {
		levelsOf[l.AgeGroup] = append(levelsOf[l.AgeGroup], levelNode{Level: l, problems: problemsOf[l.ID]})
		delete(problemsOf, l.ID)
	}
	var t tree
	for _, g := range groups {
		t = append(t, groupNode{AgeGroup: g, levels: levelsOf[g.Slug]})
		delete(levelsOf, g.Slug)
	}
	for slug, ls := range levelsOf {
		return nil, coderunner.Errorf(coderunner.BadUserInput, "export: level %s is in age group %q, which is not in the curriculum", ls[0].ID, slug)
	}
	for id, ps := range problemsOf {
		return nil, coderunner.Errorf(coderunner.BadUserInput, "export: problem %s is in level %q, which is not in the curriculum", ps[0].ID, id)
	}
	return t, nil
}

// header opens every exported file.
const header = `# A coderunner curriculum, as ` + "`coderunner seed --file`" + ` reads it (the format
# of curriculum/curriculum.yaml, which explains it). Order is meaningful: age
# groups, levels and problems are numbered in the order they appear.
`

func (t tree) emit() ([]byte, error) {
	e := emitter{}
	e.b.WriteString(header)
	e.b.WriteString("ageGroups:\n")
	for _, g := range t {
		e.item(0, "slug", g.Slug)
		e.field(1, "title", g.Title)
		e.optional(1, "description", g.Description)
		e.b.WriteString("  levels:\n")
		for _, l := range g.levels {
			e.item(1, "id", l.ID)
			e.field(2, "title", l.Title)
			e.optional(2, "description", l.Description)
			e.b.WriteString("    problems:\n")
			for _, p := range l.problems {
				e.problem(p)
			}
		}
	}
	return e.b.Bytes(), e.err
}

// emitter writes YAML: two spaces an indent level, a sequence's items at
// the level of its key.
type emitter struct {
	b   bytes.Buffer
	err error
}

func (e *emitter) problem(p coderunner.Problem) {
	e.item(2, "id", p.ID)
	e.field(3, "title", p.Title)
	e.optional(3, "statement", p.Statement)
	e.optional(3, "starterCode", p.StarterCode)
	e.tests(3, "sampleTests", p.SampleTests)
	e.tests(3, "hiddenTests", p.HiddenTests)
	if p.TimeLimitMs != 0 {
		fmt.Fprintf(&e.b, "      timeLimitMs: %d\n", p.TimeLimitMs)
	}
	if p.MemoryMB != 0 {
		fmt.Fprintf(&e.b, "      memoryMb: %d\n", p.MemoryMB)
	}
	if p.Checker != (coderunner.Checker{}) {
		e.b.WriteString("      checker:\n")
		e.optional(4, "kind", string(p.Checker.Kind))
		if p.Checker.Tolerance != 0 {
			fmt.Fprintf(&e.b, "        tolerance: %s\n", strconv.FormatFloat(p.Checker.Tolerance, 'g', -1, 64))
		}
	}
	if p.StopOnFirstFailure {
		e.b.WriteString("      stopOnFirstFailure: true\n")
	}
	e.optional(3, "referenceSolution", p.ReferenceSolution)
}

func (e *emitter) tests(level int, key string, tests []coderunner.TestCase) {
	if len(tests) == 0 {
		return
	}
	fmt.Fprintf(&e.b, "%s%s:\n", indent(level), key)
	for _, tc := range tests {
		e.item(level, "input", tc.Input)
		e.field(level+1, "output", tc.Output)
		e.optional(level+1, "hint", tc.Hint)
	}
}

// item starts a sequence item at level with its first key.
func (e *emitter) item(level int, key, value string) {
	e.b.WriteString(indent(level) + "- ")
	e.value(level+1, key, value)
}

// field writes key: value at level.
func (e *emitter) field(level int, key, value string) {
	e.b.WriteString(indent(level))
	e.value(level, key, value)
}

// optional is field, unless value is empty.
func (e *emitter) optional(level int, key, value string) {
	if value != "" {
		e.field(level, key, value)
	}
}

// value writes "key: value\n" for a key at level (its indentation
// written already), in the style the text needs.
func (e *emitter) value(level int, key, value string) {
	switch {
	case !utf8.ValidString(value):
		if e.err == nil {
			e.err = coderunner.Errorf(coderunner.BadUserInput, "export: %s %q is not valid UTF-8, which a YAML file cannot hold", key, value)
		}
		fmt.Fprintf(&e.b, "%s: \"\"\n", key)
	case plain(value):
		fmt.Fprintf(&e.b, "%s: %s\n", key, value)
	case literal(value):
		fmt.Fprintf(&e.b, "%s: |\n", key)
		for line := range strings.Lines(value) {
			if line == "\n" {
				e.b.WriteString(line)
			} else {
				e.b.WriteString(indent(level+1) + line)
			}
		}
	default:
		fmt.Fprintf(&e.b, "%s: %s\n", key, quote(value))
	}
}

func indent(level int) string { return strings.Repeat("  ", level) }

// plainText is what plain writes unquoted: words of letters, digits and
// a little punctuation, starting with a letter — nothing YAML reads as
// anything but the same string.
var plainText = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9 ,.!?'()_-]*$`)

// plain reports whether s may be written as a plain scalar.
func plain(s string) bool {
	if !plainText.MatchString(s) || strings.HasSuffix(s, " ") || strings.Contains(s, "  ") {
		return false
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

// literal reports whether s, text of several lines, may be written as a
// literal block scalar and read back the same: it ends with exactly one
// newline, its first line starts with no space (a block takes its
// indentation from it), and no line ends with whitespace or holds
// anything but printable characters and tabs.
func literal(s string) bool {
	if strings.Count(s, "\n") < 2 || !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") || strings.HasPrefix(s, " ") || strings.HasPrefix(s, "\n") {
		return false
	}
	for line := range strings.Lines(s) {
		line = strings.TrimSuffix(line, "\n")
		if strings.TrimRightFunc(line, unicode.IsSpace) != line {
			return false
		}
		for _, r := range line {
			if r != '\t' && !unicode.IsPrint(r) {
				return false
			}
		}
	}
	return true
}

// quote writes s as a YAML double-quoted scalar: printable characters as
// they are, the rest escaped.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == ' ' || (unicode.IsPrint(r) && r != '\u00a0'):
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			fmt.Fprintf(&b, `\U%08X`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
