package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bound what one request may ask of the server. gqlgen enforces
// complexity and parser tokens itself; shapeLimit adds depth, aliases and
// the number of fields once fragments are expanded.
type Limits struct {
	MaxBodyBytes  int64
	MaxDepth      int
	MaxAliases    int
	MaxFields     int
	MaxComplexity int
	MaxTokens     int
}

// DefaultLimits are generous for the curriculum (its deepest sensible
// query, ageGroups → levels → problems → sampleTests, has depth 4) and tight
// enough that no single request can make the server do much work.
var DefaultLimits = Limits{
	MaxBodyBytes:  1 << 20,
	MaxDepth:      8,
	MaxAliases:    30,
	MaxFields:     500,
	MaxComplexity: 250,
	MaxTokens:     15_000,
}

// shapeLimit rejects operations nested deeper than maxDepth, using more
// than maxAliases aliases, or selecting more than maxFields fields once
// fragments are expanded. It runs after validation (fragments exist and
// form no cycles) and before the complexity limit, whose walk expands
// every fragment spread anew: a query of a few dozen fragments that each
// spread the next twice would otherwise cost it minutes. shapeLimit
// measures each fragment once.
type shapeLimit struct{ maxDepth, maxAliases, maxFields int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = shapeLimit{}

func (shapeLimit) ExtensionName() string                   { return "ShapeLimit" }
func (shapeLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (l shapeLimit) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	m := measurer{fragments: map[string]shape{}, cap: max(l.maxDepth, l.maxAliases, l.maxFields) + 1}
	s := m.set(op.Operation.SelectionSet)
	var err *gqlerror.Error
	switch {
	case s.depth > l.maxDepth:
		err = gqlerror.Errorf("query is nested %d levels deep; the limit is %d", s.depth, l.maxDepth)
	case s.aliases > l.maxAliases:
		err = gqlerror.Errorf("query uses %d aliases; the limit is %d", s.aliases, l.maxAliases)
	case s.fields > l.maxFields:
		err = gqlerror.Errorf("query selects more than %d fields once its fragments are expanded; ask for less at once", l.maxFields)
	default:
		return nil
	}
	// Marked as a validation failure, gqlgen answers 422 as for any other
	// query rejected before execution.
	errcode.Set(err, errcode.ValidationFailed)
	return err
}

// shape is what a selection set asks for: the depth of its deepest field
// (its own fields being at depth 1), and its aliases and fields with
// fragments expanded. Counts stop growing at the measurer's cap, so that
// they cannot overflow however often fragments are spread.
type shape struct{ depth, aliases, fields int }

type measurer struct {
	fragments map[string]shape
	cap       int
}

func (m *measurer) set(set ast.SelectionSet) shape {
	var s shape
	add := func(c shape, depth int) {
		s.depth = max(s.depth, depth)
		s.aliases = min(s.aliases+c.aliases, m.cap)
		s.fields = min(s.fields+c.fields, m.cap)
	}
	for _, sel := range set {
		switch x := sel.(type) {
		case *ast.Field:
			c := m.set(x.SelectionSet)
			if x.Alias != "" && x.Alias != x.Name {
				c.aliases++
			}
			c.fields++
			add(c, c.depth+1)
		case *ast.InlineFragment:
			c := m.set(x.SelectionSet)
			add(c, c.depth)
		case *ast.FragmentSpread:
			c, ok := m.fragments[x.Name]
			if !ok {
				c = m.set(x.Definition.SelectionSet)
				m.fragments[x.Name] = c
			}
			add(c, c.depth)
		}
	}
	return s
}
