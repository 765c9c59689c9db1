package coderunner

import (
	"context"
	"slices"
)

// ContentChange names the curriculum content one write changed, so that
// every process can drop what it cached from it and a CDN can purge the
// responses built from it. It names things by kind and id; the writer
// names
//
//   - every age group, level and problem it created, deleted or whose own
//     fields it changed (a reorder changes the position of each sibling it
//     moves: it names each of them);
//   - every parent whose list of children changed: the age group a level
//     was added to, removed from, moved into or out of, or reordered in,
//     and the level of such a problem (its problemCount, too). A move
//     names both parents.
//
// A named age group also stands for the list of all age groups (age groups
// have no parent): creating, deleting or reordering one names it, and so
// does a change to its own list of levels. Names are what readers depend
// on (see Tags): a reader of "the levels of age group X" depends on X and
// on each level listed, so a change to level L reaches it through L
// without naming X.
type ContentChange struct {
	// AgeGroups are age group slugs.
	AgeGroups []string `json:"ageGroups,omitempty"`
	// Levels are level ids.
	Levels []string `json:"levels,omitempty"`
	// Problems are problem ids.
	Problems []string `json:"problems,omitempty"`
}

// IsZero reports whether c names nothing.
func (c ContentChange) IsZero() bool {
	return len(c.AgeGroups) == 0 && len(c.Levels) == 0 && len(c.Problems) == 0
}

// Content tags name what a cached value or response was computed from;
// a change reaches every value whose tags it shares (ContentChange.Tags).
// They are also the CDN's surrogate keys / cache tags, so they are short,
// printable and free of spaces and commas (ids and slugs are).
const (
	// AgeGroupListTag is the list of all age groups.
	AgeGroupListTag = "agegroups"
	ageGroupTag     = "agegroup:"
	levelTag        = "level:"
	problemTag      = "problem:"
)

// AgeGroupTag is the tag of age group slug: its fields and its list of levels.
func AgeGroupTag(slug string) string { return ageGroupTag + slug }

// LevelTag is the tag of level id: its fields (problemCount among them)
// and its list of problems.
func LevelTag(id string) string { return levelTag + id }

// ProblemTag is the tag of problem id.
func ProblemTag(id string) string { return problemTag + id }

// Tags returns the content tags c reaches, sorted and each once: one per
// thing named, and AgeGroupListTag if c names an age group.
func (c ContentChange) Tags() []string {
	tags := make([]string, 0, len(c.AgeGroups)+len(c.Levels)+len(c.Problems)+1)
	if len(c.AgeGroups) > 0 {
		tags = append(tags, AgeGroupListTag)
	}
	for _, s := range c.AgeGroups {
		tags = append(tags, AgeGroupTag(s))
	}
	for _, id := range c.Levels {
		tags = append(tags, LevelTag(id))
	}
	for _, id := range c.Problems {
		tags = append(tags, ProblemTag(id))
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

// ContentChanges tells every process that curriculum content changed, so
// that each drops what it cached from it (every api replica keeps read
// and response caches).
type ContentChanges interface {
	// PublishContentChange announces c to every process, this one
	// included.
	PublishContentChange(ctx context.Context, c ContentChange) error
	// ContentChanged delivers the changes published from now on, by any
	// process, each publisher's in the order it published them, until ctx
	// ends, when the channel closes. Delivery is best-effort (a broker
	// outage may lose some, and a listener that falls far behind misses
	// the newest): caches also expire on their own.
	ContentChanged(ctx context.Context) (<-chan ContentChange, error)
}
