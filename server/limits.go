package server

import (
	"context"
	"math"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"coderunner/graph"
)

// Limits bound what one request may ask of the server. gqlgen enforces
// complexity and parser tokens itself; selectionCap bounds the fields as
// written before validation, and shapeLimit depth, aliases and the number
// of fields once fragments are expanded. MaxResponseBytes bounds the text
// of each response while it is built (budget.go).
type Limits struct {
	MaxBodyBytes     int64
	MaxDepth         int
	MaxAliases       int
	MaxFields        int
	MaxComplexity    int
	MaxTokens        int
	MaxResponseBytes int64
}

// DefaultLimits are generous for the curriculum (the whole of it, down to
// every problem's sample tests, has depth 5 and costs about 2,100) and
// tight enough that no single request can make the server do much work.
// A response may hold 4 MiB of text: a whole run (code and stdin within
// the 1 MiB body, stdout and stderr within the 1 MiB output limit) twice
// over, and the shipped curriculum many times over.
var DefaultLimits = Limits{
	MaxBodyBytes:     1 << 20,
	MaxDepth:         8,
	MaxAliases:       30,
	MaxFields:        500,
	MaxComplexity:    3000,
	MaxTokens:        15_000,
	MaxResponseBytes: 4 << 20,
}

// selectionCap rejects a query holding more than max selections (fields,
// fragment spreads and inline fragments, as written: fragments are not
// expanded) before gqlgen validates it. Validation's
// OverlappingFieldsCanBeMerged rule compares fields pairwise: 15,000
// repeated fields, within the token limit, cost it half a minute of CPU,
// and shapeLimit and the complexity limit only run after validation.
// Counting is linear. It runs before the persisted-query extension, so a
// query it rejects is never stored.
type selectionCap struct {
	max, maxTokens int
	// validated is gqlgen's query cache: a query found there passed
	// validation already and is not parsed again.
	validated graphql.Cache[*ast.QueryDocument]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = selectionCap{}

func (selectionCap) ExtensionName() string                   { return "SelectionCap" }
func (selectionCap) Validate(graphql.ExecutableSchema) error { return nil }

func (c selectionCap) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	if params.Query == "" {
		// A persisted query's hash alone: the text was checked when it was
		// registered.
		return nil
	}
	if _, ok := c.validated.Get(ctx, params.Query); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Query}, c.maxTokens)
	if err != nil {
		return nil // gqlgen parses it again and reports the error
	}
	n := 0
	for _, op := range doc.Operations {
		n += countSelections(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		n += countSelections(f.SelectionSet)
	}
	if n <= c.max {
		return nil
	}
	return limitError("query lists %d fields; the limit is %d: ask for fewer at once", n, c.max)
}

// countSelections counts the selections in set, at any depth, without
// following fragment spreads.
func countSelections(set ast.SelectionSet) int {
	n := len(set)
	for _, sel := range set {
		switch x := sel.(type) {
		case *ast.Field:
			n += countSelections(x.SelectionSet)
		case *ast.InlineFragment:
			n += countSelections(x.SelectionSet)
		}
	}
	return n
}

// listFactor is how many items a list field is assumed to hold: its
// selections cost that many times over. Without it complexity counts one
// per field, and a short query nesting lists in lists (problems → level →
// problems …) returns megabytes.
const listFactor = 5

// largeFieldCost is the complexity of a field that may hold a megabyte: a
// run's code and stdin (within the 1 MiB body that sent them) and its
// stdout and stderr (within the 1 MiB output limit). A query may then
// select at most five of them: one whole run, every field, costs about
// 2,020 of the 3,000 allowed, and two whole runs, or six aliases of
// stdout, are refused before anything is read — where, counted as one
// each, a query could ask for 30 megabytes. The response budget
// (budget.go) bounds what the fields allowed hold. The curriculum's text
// fields are bounded by content validation (20,000 bytes of statement,
// 64 KiB of starter code) and keep the default cost of 1, so that the
// whole curriculum stays one query.
const largeFieldCost = 500

// fieldComplexity gives every list field of the schema a complexity of
// listFactor times its selections', and every field that may hold a
// megabyte largeFieldCost. A test checks that no list field is left out.
func fieldComplexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	c.Query.AgeGroups = timesListFactor
	c.Query.Levels = func(child int, _ string) int { return timesListFactor(child) }
	c.AgeGroup.Levels = timesListFactor
	c.Level.Problems = timesListFactor
	c.Problem.SampleTests = timesListFactor
	c.Query.AuditLog = func(child, _ int, _ *string) int { return timesListFactor(child) }
	c.SubmissionConnection.Nodes = timesListFactor
	c.Submission.Tests = timesListFactor
	c.User.Progress = timesListFactor
	c.Query.ProblemsForEditing = func(child int, _ string) int { return timesListFactor(child) }
	c.EditableProblem.SampleTests = timesListFactor
	c.EditableProblem.HiddenTests = timesListFactor
	c.Run.Code = largeField
	c.Run.Stdin = largeField
	c.Run.Stdout = largeField
	c.Run.Stderr = largeField
	return c
}

func largeField(int) int { return largeFieldCost }

func timesListFactor(child int) int {
	if child > math.MaxInt/listFactor {
		return math.MaxInt
	}
	return listFactor * child
}

// shapeLimit rejects operations nested deeper than maxDepth, using more
// than maxAliases aliases, or selecting more than maxFields fields once
// fragments are expanded. It runs after validation (fragments exist and
// form no cycles) and before the complexity limit, whose walk expands
// every fragment spread anew: a query of a few dozen fragments that each
// spread the next twice would otherwise cost it minutes. shapeLimit
// measures each fragment once.
//
// An operation that only introspects (every root field is __schema, __type
// or __typename) has no depth limit: the standard introspection query that
// GraphiQL and code generators send nests ofType 7 or more times. Its lists
// are bounded by gqlparser's MaxIntrospectionDepth rule, and the aliases
// and fields limits still apply.
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
	switch {
	case s.depth > l.maxDepth && !onlyIntrospection(op.Operation.SelectionSet, map[string]bool{}):
		return limitError("query is nested %d levels deep; the limit is %d", s.depth, l.maxDepth)
	case s.aliases > l.maxAliases:
		return limitError("query uses %d aliases; the limit is %d", s.aliases, l.maxAliases)
	case s.fields > l.maxFields:
		return limitError("query selects more than %d fields once its fragments are expanded; ask for less at once", l.maxFields)
	}
	return nil
}

// onlyIntrospection reports whether every root field in set is __schema,
// __type or __typename. checked holds the fragments already looked into,
// so that fragments spread many times are looked into once.
func onlyIntrospection(set ast.SelectionSet, checked map[string]bool) bool {
	for _, sel := range set {
		switch x := sel.(type) {
		case *ast.Field:
			if x.Name != "__schema" && x.Name != "__type" && x.Name != "__typename" {
				return false
			}
		case *ast.InlineFragment:
			if !onlyIntrospection(x.SelectionSet, checked) {
				return false
			}
		case *ast.FragmentSpread:
			if checked[x.Name] {
				continue
			}
			checked[x.Name] = true
			if !onlyIntrospection(x.Definition.SelectionSet, checked) {
				return false
			}
		}
	}
	return true
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
