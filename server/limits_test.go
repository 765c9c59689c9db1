package server

import (
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"

	"coderunner/graph"
	"coderunner/resolvers"
)

// TestListFieldsHaveComplexity walks the schema: every field returning a
// list must cost listFactor times its selections, or a query nesting it
// escapes the complexity limit. A list field added to the schema without
// a line in listComplexity fails here.
func TestListFieldsHaveComplexity(t *testing.T) {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}, Complexity: listComplexity()})
	lists := 0
	for _, typ := range es.Schema().Types {
		if typ.Kind != ast.Object || strings.HasPrefix(typ.Name, "__") {
			continue
		}
		for _, f := range typ.Fields {
			if f.Type.Elem == nil || strings.HasPrefix(f.Name, "__") {
				continue
			}
			lists++
			args := map[string]any{}
			for _, a := range f.Arguments {
				args[a.Name] = zeroArg(a.Type.Name())
			}
			got, ok := es.Complexity(t.Context(), typ.Name, f.Name, 7, args)
			if !ok || got != listFactor*7 {
				t.Errorf("%s.%s: complexity of a list of 7-cost items is %d (set: %v), want %d", typ.Name, f.Name, got, ok, listFactor*7)
			}
		}
	}
	if lists < 5 {
		t.Errorf("found %d list fields; the schema has at least 5", lists)
	}
}

func zeroArg(typeName string) any {
	switch typeName {
	case "Int":
		return 0
	case "Boolean":
		return false
	}
	return "x"
}

// TestSelectionCapSkipsValidatedQueries: a query in gqlgen's query cache
// passed validation before and is not parsed again. (A query over the cap
// never gets there; it is put there by hand to show it is not looked at.)
func TestSelectionCapSkipsValidatedQueries(t *testing.T) {
	big := "{ " + strings.Repeat("__typename ", 600) + "}"
	validated := lru.New[*ast.QueryDocument](10)
	c := selectionCap{max: 500, maxTokens: 15_000, validated: validated}
	ctx := t.Context()

	if err := c.MutateOperationParameters(ctx, &graphql.RawParams{Query: big}); err == nil {
		t.Fatal("a query of 600 fields passed a cap of 500")
	}
	validated.Add(ctx, big, &ast.QueryDocument{})
	if err := c.MutateOperationParameters(ctx, &graphql.RawParams{Query: big}); err != nil {
		t.Errorf("a query from the validated cache was checked again: %v", err)
	}
	if err := c.MutateOperationParameters(ctx, &graphql.RawParams{Query: "{ ageGroups { slug "}); err != nil {
		t.Errorf("a query that does not parse: %v; want nil, for gqlgen to report", err)
	}
}
