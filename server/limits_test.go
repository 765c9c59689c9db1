package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"coderunner/graph"
	"coderunner/internal/gqlws"
	"coderunner/resolvers"
)

// TestListFieldsHaveComplexity walks the schema: every field returning a
// list must cost listFactor times its selections, or a query nesting it
// escapes the complexity limit. A list field added to the schema without
// a line in fieldComplexity fails here.
func TestListFieldsHaveComplexity(t *testing.T) {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}, Complexity: fieldComplexity()})
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

// TestLargeFieldsCostMore: fields that may hold a megabyte cost enough
// that a query cannot select many of them under aliases, while what
// clients ask for — a whole run, the editor's subscription, the whole
// curriculum with every field of its problems — stays within the limit.
func TestLargeFieldsCostMore(t *testing.T) {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}, Complexity: fieldComplexity()})
	wholeRun := `id owner { name } language code stdin interactive timeLimitMs memoryMb status stdout stderr truncated exitCode signal wallMs cpuMs memoryKb createdAt startedAt finishedAt`
	aliases := func(n int, selection string) string {
		var q strings.Builder
		for i := range n {
			fmt.Fprintf(&q, "r%d: run(id: \"x\") { %s } ", i, selection)
		}
		return "{ " + q.String() + "}"
	}
	tests := []struct {
		name   string
		query  string
		within bool
	}{
		{"a whole run", `{ run(id: "x") { ` + wholeRun + ` } }`, true},
		{"the README's run query", `{ run(id: "x") { id status stdout stderr truncated exitCode wallMs cpuMs memoryKb } }`, true},
		{"the editor's subscription", gqlws.RunEventsQuery, true},
		{"a finished run's output in every event", `subscription { runEvents(runId: "x") { seq type text run { ` + wholeRun + ` } } }`, true},
		{"cancelRun returning a whole run", `mutation { cancelRun(id: "x") { ` + wholeRun + ` } }`, true},
		{"the whole curriculum with every problem field", `{ ageGroups { slug title description position levels { id title description position problemCount ageGroup { slug } problems { id position title statement starterCode timeLimitMs memoryMb sampleTests { input output } level { id } } } } }`, true},
		{"5 aliases of stdout", aliases(5, "stdout"), true},
		{"6 aliases of stdout", aliases(6, "stdout"), false},
		{"30 aliases of stdout", aliases(30, "id stdout"), false},
		{"two whole runs", aliases(2, wholeRun), false},
		{"the four large fields of one run and two of another", `{ a: run(id: "x") { code stdin stdout stderr } b: run(id: "y") { stdout stderr } }`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, errs := gqlparser.LoadQuery(es.Schema(), tt.query)
			if errs != nil {
				t.Fatal(errs)
			}
			cost := complexity.Calculate(t.Context(), es, doc.Operations[0], nil)
			t.Logf("costs %d", cost)
			if within := cost <= DefaultLimits.MaxComplexity; within != tt.within {
				t.Errorf("costs %d; within the limit of %d: %v, want %v", cost, DefaultLimits.MaxComplexity, within, tt.within)
			}
		})
	}
	for _, field := range []string{"code", "stdin", "stdout", "stderr"} {
		if got, _ := es.Complexity(t.Context(), "Run", field, 0, nil); got != largeFieldCost {
			t.Errorf("Run.%s costs %d, want %d", field, got, largeFieldCost)
		}
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
