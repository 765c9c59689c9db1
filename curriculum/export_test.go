package curriculum_test

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"coderunner"
	"coderunner/curriculum"
)

// TestExportRoundTrip: the shipped curriculum exports to a file that
// parses back to it, and that file is the normal form: exporting what was
// parsed from it gives the same bytes.
func TestExportRoundTrip(t *testing.T) {
	raw, err := os.ReadFile("curriculum.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := curriculum.Parse(raw)
	if err != nil {
		t.Fatalf("Parse(curriculum.yaml): %v", err)
	}
	if !reflect.DeepEqual(fromFile, shipped(t)) {
		t.Fatal("Parse(curriculum.yaml) is not Shipped()")
	}
	out, err := curriculum.Export(shipped(t))
	if err != nil {
		t.Fatalf("Export(Shipped()): %v", err)
	}
	back, err := curriculum.Parse(out)
	if err != nil {
		t.Fatalf("Parse(Export(Shipped())): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, shipped(t)) {
		t.Errorf("Parse(Export(Shipped())) is not Shipped()")
		diffCurricula(t, back, shipped(t))
	}
	again, err := curriculum.Export(back)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("Export(Parse(Export(Shipped()))) differs from Export(Shipped()) (%v)", err)
	}
	// The export reads as the shipped file does: texts of several lines
	// as blocks.
	if !strings.Contains(string(out), "      referenceSolution: |\n        name = input()\n") || !strings.Contains(string(out), "- slug: \"7-9\"\n  title: Explorers\n") {
		t.Errorf("the export is not laid out as the shipped file is:\n%.1500s", out)
	}
}

// diffCurricula reports the first items that differ.
func diffCurricula(t *testing.T, got, want curriculum.Curriculum) {
	t.Helper()
	if len(got.Problems) != len(want.Problems) || len(got.Levels) != len(want.Levels) || len(got.AgeGroups) != len(want.AgeGroups) {
		t.Errorf("got %d/%d/%d groups/levels/problems; want %d/%d/%d", len(got.AgeGroups), len(got.Levels), len(got.Problems), len(want.AgeGroups), len(want.Levels), len(want.Problems))
		return
	}
	for i := range got.AgeGroups {
		if !reflect.DeepEqual(got.AgeGroups[i], want.AgeGroups[i]) {
			t.Errorf("age group %d: got %+v\nwant %+v", i, got.AgeGroups[i], want.AgeGroups[i])
		}
	}
	for i := range got.Levels {
		if !reflect.DeepEqual(got.Levels[i], want.Levels[i]) {
			t.Errorf("level %d: got %+v\nwant %+v", i, got.Levels[i], want.Levels[i])
		}
	}
	for i := range got.Problems {
		if !reflect.DeepEqual(got.Problems[i], want.Problems[i]) {
			t.Errorf("problem %d: got %#v\nwant %#v", i, got.Problems[i], want.Problems[i])
		}
	}
}

// small is a curriculum of one age group, one level and one problem.
func small() curriculum.Curriculum {
	return curriculum.Curriculum{
		AgeGroups: []coderunner.AgeGroup{{Slug: "7-9", Title: "Explorers", Description: "First steps.", Position: 1}},
		Levels:    []coderunner.Level{{ID: "one", AgeGroup: "7-9", Position: 1, Title: "One"}},
		Problems: []coderunner.Problem{{
			ID: "p", LevelID: "one", Position: 1, Title: "P", Statement: "Do it.\n",
			SampleTests:       []coderunner.TestCase{{Input: "1\n", Output: "2\n"}},
			HiddenTests:       []coderunner.TestCase{{Input: "2\n", Output: "4\n"}},
			ReferenceSolution: "print(2 * int(input()))\n",
		}},
	}
}

// TestExportKeepsEveryText: texts YAML could misread — words it takes for
// booleans or numbers, markup characters, leading and trailing spaces,
// carriage returns, tabs, control and invisible characters, blank lines,
// missing or extra final newlines — and every optional field come back
// from Parse(Export(c)) exactly, and the export is its own normal form.
func TestExportKeepsEveryText(t *testing.T) {
	texts := []string{
		"yes", "No", "null", "~", "true", "0x10", "1e3", "-5", ".inf", "7-9", "a: b", "a #b", "#x", "- x", "[x]", "{x}", "*x", "&x", "!x", "|", ">", "%x", "@x", "`x`",
		"'quoted'", `"double" \ back`, " lead", "trail ", "two  spaces", "", "\n", "\n\n", "x\n\n", "no newline\nat end", "line\n  indented\n",
		"  indented first\nsecond\n", "blank\n\nlines\n", "spaces only\n   \nline\n", "trailing \nspace\n", "crlf\r\nlines\r\n", "tab\there\n\tand here\n",
		"bell\a nul\x00 esc\x1b del\x7f", "nbsp\u00a0 zwsp\u200b ls\u2028 bom\ufeff", "emoji 🐍 and é", "--- x", "...\n", "key: |\n  fake block\n",
	}
	for _, text := range texts {
		c := small()
		g, l, p := &c.AgeGroups[0], &c.Levels[0], &c.Problems[0]
		g.Description, l.Description = text, text
		p.Statement, p.StarterCode, p.ReferenceSolution = text, text, "# "+text+"\nprint(2 * int(input()))\n"
		p.SampleTests[0] = coderunner.TestCase{Input: text, Output: text + "x", Hint: text}
		p.HiddenTests = append(p.HiddenTests, coderunner.TestCase{Input: "x" + text, Output: text})
		p.TimeLimitMs, p.MemoryMB, p.StopOnFirstFailure = 1500, 128, true
		p.Checker = coderunner.Checker{Kind: coderunner.CheckFloat, Tolerance: 1e-9}
		out, err := curriculum.Export(c)
		if err != nil {
			t.Errorf("Export with text %q: %v", text, err)
			continue
		}
		back, err := curriculum.Parse(out)
		if err != nil {
			t.Errorf("Parse of the export with text %q: %v\n%s", text, err, out)
			continue
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("text %q does not come back:\n%s", text, out)
			diffCurricula(t, back, c)
		}
	}
}

// TestExportNormalises: items in any order, with gaps in their positions,
// export in order of position and parse back numbered 1, 2, …; a level
// or problem whose parent is missing is refused.
func TestExportNormalises(t *testing.T) {
	c := small()
	c.AgeGroups = append([]coderunner.AgeGroup{{Slug: "10-12", Title: "Older", Position: 7}}, c.AgeGroups...)
	two := c.Levels[0]
	two.ID, two.Title, two.Position = "two", "Two", 9
	c.Levels = append([]coderunner.Level{two}, c.Levels...)
	q := c.Problems[0]
	q.ID, q.Position = "q", 4
	c.Problems = append([]coderunner.Problem{q}, c.Problems...)
	out, err := curriculum.Export(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := curriculum.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range back.AgeGroups {
		got = append(got, g.Slug+":"+string(rune('0'+g.Position)))
	}
	for _, l := range back.Levels {
		got = append(got, l.ID+":"+string(rune('0'+l.Position)))
	}
	for _, p := range back.Problems {
		got = append(got, p.ID+"@"+p.LevelID+":"+string(rune('0'+p.Position)))
	}
	if want := "7-9:1 10-12:2 one:1 two:2 p@one:1 q@one:2"; strings.Join(got, " ") != want {
		t.Errorf("parsed back %s; want %s", strings.Join(got, " "), want)
	}

	orphans := []func(c *curriculum.Curriculum){
		func(c *curriculum.Curriculum) { c.Levels[0].AgeGroup = "gone" },
		func(c *curriculum.Curriculum) { c.Problems[0].LevelID = "gone" },
	}
	for i, orphan := range orphans {
		c := small()
		orphan(&c)
		if _, err := curriculum.Export(c); coderunner.ErrorCode(err) != coderunner.BadUserInput || !strings.Contains(err.Error(), `"gone"`) {
			t.Errorf("orphan %d: Export = %v; want BAD_USER_INPUT naming the missing parent", i, err)
		}
	}
	c = small()
	c.Problems[0].HiddenTests[0].Input = "\xff"
	if _, err := curriculum.Export(c); err == nil {
		t.Error("Export of a test input that is not UTF-8 succeeded; YAML cannot hold it")
	}
}
