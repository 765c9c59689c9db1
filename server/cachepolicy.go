package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// policy is filled in while gqlgen answers a request and read by the HTTP
// layer when it writes the response headers.
type policy struct {
	// public: the operation is a query that read only public data and
	// answered without errors, so browsers and CDNs may share the response.
	public bool
}

type policyKey struct{}

func withPolicy(ctx context.Context, p *policy) context.Context {
	return context.WithValue(ctx, policyKey{}, p)
}

// decidePolicy is a gqlgen response middleware that marks the request's
// policy public when the response may be cached by anyone.
func decidePolicy(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	p, _ := ctx.Value(policyKey{}).(*policy)
	if p == nil || resp == nil || len(resp.Errors) > 0 || !graphql.HasOperationContext(ctx) {
		return resp
	}
	op := graphql.GetOperationContext(ctx).Operation
	p.public = op != nil && op.Operation == ast.Query && selectsOnlyPublic(op.SelectionSet)
	return resp
}

// selectsOnlyPublic reports whether every field in set, at any depth, is
// public: declared @public, or on a @public type and not @private. Root
// fields (on Query, which is not @public) must be @public themselves, and
// introspection is never public.
func selectsOnlyPublic(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__typename" {
				continue
			}
			if s.Definition == nil || !fieldIsPublic(s.Definition, s.ObjectDefinition) || !selectsOnlyPublic(s.SelectionSet) {
				return false
			}
		case *ast.InlineFragment:
			if !selectsOnlyPublic(s.SelectionSet) {
				return false
			}
		case *ast.FragmentSpread:
			if !selectsOnlyPublic(s.Definition.SelectionSet) {
				return false
			}
		}
	}
	return true
}

// fieldIsPublic reports whether field f of type owner is public.
func fieldIsPublic(f *ast.FieldDefinition, owner *ast.Definition) bool {
	if f.Directives.ForName("private") != nil {
		return false
	}
	if f.Directives.ForName("public") != nil {
		return true
	}
	return owner != nil && owner.Directives.ForName("public") != nil
}
