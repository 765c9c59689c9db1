package server

import (
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
)

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
