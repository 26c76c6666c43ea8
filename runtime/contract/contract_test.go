package contract_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/streamer-go/streamer/runtime/contract"
)

// TestEnvVarsListsEveryVariable reads contract.go and requires every Env* constant in
// EnvVars: template mode refuses a STREAMER_ variable missing from it as a typo.
func TestEnvVarsListsEveryVariable(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "contract.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Env") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					names = append(names, v)
				}
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d Env constants in contract.go: %v", len(names), names)
	}
	for _, n := range names {
		if !slices.Contains(contract.EnvVars, n) {
			t.Errorf("contract.EnvVars lacks %s", n)
		}
	}
	if len(contract.EnvVars) != len(names) {
		t.Errorf("contract.EnvVars has %d entries, contract.go declares %d Env constants", len(contract.EnvVars), len(names))
	}
}
