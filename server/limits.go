package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bound what one request may ask of the server. gqlgen enforces
// complexity and parser tokens itself; shapeLimit adds depth and aliases.
type Limits struct {
	MaxBodyBytes  int64
	MaxDepth      int
	MaxAliases    int
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
	MaxComplexity: 250,
	MaxTokens:     15_000,
}

// shapeLimit rejects operations nested deeper than maxDepth or using more
// than maxAliases aliases. It runs after validation, so fragments are known
// to exist and not to form cycles.
type shapeLimit struct{ maxDepth, maxAliases int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = shapeLimit{}

func (shapeLimit) ExtensionName() string                   { return "ShapeLimit" }
func (shapeLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (l shapeLimit) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	depth, aliases := measure(op.Operation.SelectionSet, 1)
	var err *gqlerror.Error
	switch {
	case depth > l.maxDepth:
		err = gqlerror.Errorf("query is nested %d levels deep; the limit is %d", depth, l.maxDepth)
	case aliases > l.maxAliases:
		err = gqlerror.Errorf("query uses %d aliases; the limit is %d", aliases, l.maxAliases)
	default:
		return nil
	}
	// Marked as a validation failure, gqlgen answers 422 as for any other
	// query rejected before execution.
	errcode.Set(err, errcode.ValidationFailed)
	return err
}

// measure returns the depth of the deepest field in set (set's own fields
// being at depth level) and the number of aliased fields in it.
func measure(set ast.SelectionSet, level int) (depth, aliases int) {
	for _, sel := range set {
		var d, a int
		switch s := sel.(type) {
		case *ast.Field:
			d, a = measure(s.SelectionSet, level+1)
			d = max(d, level)
			if s.Alias != "" && s.Alias != s.Name {
				a++
			}
		case *ast.InlineFragment:
			d, a = measure(s.SelectionSet, level)
		case *ast.FragmentSpread:
			d, a = measure(s.Definition.SelectionSet, level)
		}
		depth, aliases = max(depth, d), aliases+a
	}
	return depth, aliases
}
