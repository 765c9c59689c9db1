package validate

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// repo is the root of the coderunner repository, seen from this package.
var repo = filepath.Join("..", "..")

// facts is what the deployment must agree with, read from the main
// module's source and docs (this module imports nothing from it).
type facts struct {
	// defaults of the configuration variables given a default by
	// loadConfig's env and duration helpers (cmd/coderunner/config.go).
	defaults map[string]string
	// requiredInProduction: the variables CODERUNNER_ENV=production
	// cannot start without.
	requiredInProduction []string
	// shutdownGrace bounds the requests in flight after SIGTERM
	// (cmd/coderunner/app.go).
	shutdownGrace time.Duration
	// stream and group: the Redis stream of jobs and the workers'
	// consumer group (broker/redis), with the default key prefix.
	stream, group string
	// documented: every variable in docs/configuration.md's table.
	documented map[string]bool
}

var (
	factsOnce sync.Once
	theFacts  facts
	factsErr  error
)

// sourceFacts reads the facts once for every test.
func sourceFacts(t *testing.T) facts {
	t.Helper()
	factsOnce.Do(func() { theFacts, factsErr = readFacts() })
	if factsErr != nil {
		t.Fatal(factsErr)
	}
	return theFacts
}

// duration returns variable name's configured value in env, or its
// default.
func (f facts) duration(t *testing.T, env map[string]string, name string) time.Duration {
	t.Helper()
	v, ok := env[name]
	if !ok {
		v = f.defaults[name]
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

// port returns the port of address variable name (":8080") in env, or of
// its default.
func (f facts) port(t *testing.T, env map[string]string, name string) int32 {
	t.Helper()
	v, ok := env[name]
	if !ok {
		v = f.defaults[name]
	}
	i := strings.LastIndexByte(v, ':')
	p, err := strconv.ParseInt(v[i+1:], 10, 32)
	if i < 0 || err != nil {
		t.Fatalf("%s=%q is not an address with a port", name, v)
	}
	return int32(p)
}

func readFacts() (facts, error) {
	f := facts{defaults: map[string]string{}}
	config, err := parseGo("cmd/coderunner/config.go")
	if err != nil {
		return f, err
	}
	ast.Inspect(config, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			// env("CODERUNNER_ADDR", ":8080"), duration("CODERUNNER_GRACE", 30*time.Second)
			fn, ok := n.Fun.(*ast.Ident)
			if !ok || len(n.Args) != 2 || (fn.Name != "env" && fn.Name != "duration") {
				return true
			}
			name, ok := stringLit(n.Args[0])
			if !ok {
				return true
			}
			if fn.Name == "env" {
				if def, ok := stringLit(n.Args[1]); ok {
					f.defaults[name] = def
				}
			} else if d, ok := durationExpr(n.Args[1]); ok {
				f.defaults[name] = d.String()
			}
		case *ast.ValueSpec:
			if len(n.Names) == 1 && n.Names[0].Name == "requiredInProduction" && len(n.Values) == 1 {
				if lit, ok := n.Values[0].(*ast.CompositeLit); ok {
					for _, e := range lit.Elts {
						if s, ok := stringLit(e); ok {
							f.requiredInProduction = append(f.requiredInProduction, s)
						}
					}
				}
			}
		}
		return true
	})

	app, err := parseGo("cmd/coderunner/app.go")
	if err != nil {
		return f, err
	}
	if v := constValue(app, "shutdownGrace"); v != nil {
		f.shutdownGrace, _ = durationExpr(v)
	}

	broker, err := parseGo("broker/redis/broker.go")
	if err != nil {
		return f, err
	}
	if v := constValue(broker, "group"); v != nil {
		f.group, _ = stringLit(v)
	}
	var prefix, jobs string
	ast.Inspect(broker, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			// cfg.Prefix = "coderunner:"
			if sel, ok := n.Lhs[0].(*ast.SelectorExpr); ok && sel.Sel.Name == "Prefix" && len(n.Rhs) == 1 {
				prefix, _ = stringLit(n.Rhs[0])
			}
		case *ast.FuncDecl:
			// func (k keys) jobs() string { return k.prefix + "jobs" }
			if n.Name.Name == "jobs" && n.Recv != nil && len(n.Body.List) == 1 {
				if ret, ok := n.Body.List[0].(*ast.ReturnStmt); ok && len(ret.Results) == 1 {
					if sum, ok := ret.Results[0].(*ast.BinaryExpr); ok && sum.Op == token.ADD {
						jobs, _ = stringLit(sum.Y)
					}
				}
			}
		}
		return true
	})
	if prefix != "" && jobs != "" {
		f.stream = prefix + jobs
	}

	if f.documented, err = documentedVariables(); err != nil {
		return f, err
	}

	var missing []string
	for what, ok := range map[string]bool{
		"CODERUNNER_GRACE's default (config.go)":       f.defaults["CODERUNNER_GRACE"] != "",
		"CODERUNNER_ADDR's default (config.go)":        f.defaults["CODERUNNER_ADDR"] != "",
		"CODERUNNER_WORKER_ADDR's default (config.go)": f.defaults["CODERUNNER_WORKER_ADDR"] != "",
		"requiredInProduction (config.go)":             len(f.requiredInProduction) > 0,
		"shutdownGrace (app.go)":                       f.shutdownGrace > 0,
		"the consumer group (broker/redis)":            f.group != "",
		"the jobs stream's key (broker/redis)":         f.stream != "",
		"docs/configuration.md's table":                len(f.documented) > 0,
	} {
		if !ok {
			missing = append(missing, what)
		}
	}
	if len(missing) > 0 {
		return f, fmt.Errorf("could not read %s: the code changed shape, so update readFacts", strings.Join(missing, ", "))
	}
	return f, nil
}

func parseGo(path string) (*ast.File, error) {
	return parser.ParseFile(token.NewFileSet(), filepath.Join(repo, path), nil, 0)
}

// constValue returns the expression a top-level const name is set to.
func constValue(file *ast.File, name string) ast.Expr {
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if n.Name == name && i < len(vs.Values) {
					return vs.Values[i]
				}
			}
		}
	}
	return nil
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// durationExpr evaluates N*time.Unit (or time.Unit alone).
func durationExpr(e ast.Expr) (time.Duration, bool) {
	units := map[string]time.Duration{"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute, "Hour": time.Hour}
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if pkg, ok := e.X.(*ast.Ident); ok && pkg.Name == "time" {
			d, ok := units[e.Sel.Name]
			return d, ok
		}
	case *ast.BinaryExpr:
		lit, ok := e.X.(*ast.BasicLit)
		unit, uok := durationExpr(e.Y)
		if e.Op == token.MUL && ok && uok && lit.Kind == token.INT {
			n, err := strconv.Atoi(lit.Value)
			return time.Duration(n) * unit, err == nil
		}
	}
	return 0, false
}

// documentedVariables returns the variables docs/configuration.md's table
// documents: each row's first cell names one or more, such as
// "`GOGC`, `GOMEMLIMIT`" or "`CODERUNNER_QUOTA_STUDENT`, `_EDITOR`" (the
// last one short for CODERUNNER_QUOTA_EDITOR).
func documentedVariables() (map[string]bool, error) {
	file, err := os.Open(filepath.Join(repo, "docs", "configuration.md"))
	if err != nil {
		return nil, err
	}
	defer file.Close()
	names := map[string]bool{}
	code := regexp.MustCompile("`([A-Z_][A-Z0-9_]*)`")
	scan := bufio.NewScanner(file)
	for scan.Scan() {
		line := scan.Text()
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.Split(line, "|")[1]
		last := ""
		for _, m := range code.FindAllStringSubmatch(cell, -1) {
			name := m[1]
			if strings.HasPrefix(name, "_") && last != "" {
				name = last[:strings.LastIndexByte(last, '_')] + name
			} else {
				last = name
			}
			names[name] = true
		}
	}
	return names, scan.Err()
}

func TestFacts(t *testing.T) {
	f := sourceFacts(t)
	// Spot checks that the readers read what they should: if one of these
	// fails, the reader (or docs/configuration.md's table) broke, not a manifest.
	for _, name := range []string{"CODERUNNER_QUOTA_EDITOR", "GOMEMLIMIT", "MONGODB_URI", "SENTRY_DSN", "CODERUNNER_GRACE"} {
		if !f.documented[name] {
			t.Errorf("docs/configuration.md's table: %s not found among %d variables", name, len(f.documented))
		}
	}
	if f.stream == "" || !strings.HasSuffix(f.stream, "jobs") {
		t.Errorf("stream %q", f.stream)
	}
	t.Logf("from the source: stream %q, group %q, CODERUNNER_GRACE %s, shutdownGrace %s, required in production %v",
		f.stream, f.group, f.defaults["CODERUNNER_GRACE"], f.shutdownGrace, f.requiredInProduction)
}
