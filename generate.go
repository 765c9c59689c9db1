package coderunner

// graph/ is gqlgen's executable schema, generated from schema/*.graphqls as
// configured in gqlgen.yml. Never edit it by hand.
//go:generate go tool gqlgen generate
