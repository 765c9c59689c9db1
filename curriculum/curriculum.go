// Package curriculum loads the hand-written curriculum shipped with
// coderunner (curriculum.yaml), or any file of its format (Parse), writes
// a curriculum in that format (Export), and seeds it into a store.
//
// The file nests problems in levels in age groups; positions come from the
// order in the file, so authors reorder content by moving it.
package curriculum

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"

	"github.com/goccy/go-yaml"

	"coderunner"
)

//go:embed curriculum.yaml
var shipped []byte

// Curriculum is a whole curriculum, flattened and ready to store.
type Curriculum struct {
	AgeGroups []coderunner.AgeGroup
	Levels    []coderunner.Level
	Problems  []coderunner.Problem
}

// file is the shape of curriculum.yaml.
type file struct {
	AgeGroups []struct {
		coderunner.AgeGroup `yaml:",inline"`
		Levels              []struct {
			coderunner.Level `yaml:",inline"`
			Problems         []coderunner.Problem `yaml:"problems"`
		} `yaml:"levels"`
	} `yaml:"ageGroups"`
}

// Shipped returns the curriculum embedded in the binary.
func Shipped() (Curriculum, error) {
	return Load(bytes.NewReader(shipped))
}

// Load parses a curriculum file and validates every item in it, so that a
// broken file is rejected whole before anything is stored.
func Load(r io.Reader) (Curriculum, error) {
	var f file
	// An empty file decodes to io.EOF; it is reported below like a file
	// without age groups, rather than as a bare "EOF".
	if err := yaml.NewDecoder(r, yaml.DisallowUnknownField()).Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return Curriculum{}, coderunner.Errorf(coderunner.BadUserInput, "parse curriculum: not valid YAML of the expected shape: %v", err)
	}
	if len(f.AgeGroups) == 0 {
		return Curriculum{}, coderunner.Errorf(coderunner.BadUserInput, "curriculum has no age groups (is the file empty?)")
	}
	var c Curriculum
	seen := map[string]bool{}
	for gi, g := range f.AgeGroups {
		group := g.AgeGroup
		group.Position = gi + 1
		c.AgeGroups = append(c.AgeGroups, group)
		for li, l := range g.Levels {
			level := l.Level
			level.AgeGroup, level.Position = group.Slug, li+1
			c.Levels = append(c.Levels, level)
			for pi, p := range l.Problems {
				p.LevelID, p.Position = level.ID, pi+1
				c.Problems = append(c.Problems, p)
			}
		}
	}
	for _, id := range c.ids() {
		if seen[id] {
			return Curriculum{}, coderunner.Errorf(coderunner.BadUserInput, "curriculum: %s appears twice", id)
		}
		seen[id] = true
	}
	for _, err := range c.validate() {
		if err != nil {
			return Curriculum{}, fmt.Errorf("curriculum: %w", err)
		}
	}
	return c, nil
}

func (c Curriculum) ids() []string {
	var ids []string
	for _, g := range c.AgeGroups {
		ids = append(ids, "age group "+g.Slug)
	}
	for _, l := range c.Levels {
		ids = append(ids, "level "+l.ID)
	}
	for _, p := range c.Problems {
		ids = append(ids, "problem "+p.ID)
	}
	return ids
}

func (c Curriculum) validate() []error {
	var errs []error
	for _, g := range c.AgeGroups {
		errs = append(errs, g.Validate())
	}
	for _, l := range c.Levels {
		errs = append(errs, l.Validate())
	}
	for _, p := range c.Problems {
		errs = append(errs, p.Validate())
	}
	return errs
}

// Seed writes c into w. Puts replace by id, so seeding again is harmless.
func Seed(ctx context.Context, w coderunner.CurriculumWriter, c Curriculum) error {
	for _, g := range c.AgeGroups {
		if err := w.PutAgeGroup(ctx, g); err != nil {
			return fmt.Errorf("seed age group %s: %w", g.Slug, err)
		}
	}
	for _, l := range c.Levels {
		if err := w.PutLevel(ctx, l); err != nil {
			return fmt.Errorf("seed level %s: %w", l.ID, err)
		}
	}
	for _, p := range c.Problems {
		if err := w.PutProblem(ctx, p); err != nil {
			return fmt.Errorf("seed problem %s: %w", p.ID, err)
		}
	}
	return nil
}
