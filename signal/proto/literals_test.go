package proto

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestNoProtocolLiterals keeps the protocol in this package: no non-test Go
// file elsewhere in the module spells a message type, signal kind, error code
// host action or data channel type as a string literal where a message is built or
// matched (a Type/Code/Kind/T field, a comparison or case on one, or JSON
// text with a "type" key). Such code uses the constants here instead.
func TestNoProtocolLiterals(t *testing.T) {
	names := slices.Concat(ClientTypes, ServerTypes, ErrorCodes, HostActions,
		[]string{KindOffer, KindAnswer, KindCandidate, KindRestart, KindLayers, KindSpeaker, DataChat, DataBye, DataRebind})
	isName := func(e ast.Expr) (string, bool) {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(lit.Value)
		return s, err == nil && slices.Contains(names, s)
	}
	fields := map[string]bool{"Type": true, "Code": true, "Kind": true, "T": true, "Action": true}
	isField := func(e ast.Expr) bool {
		switch x := e.(type) {
		case *ast.SelectorExpr:
			return fields[x.Sel.Name]
		case *ast.Ident:
			return fields[x.Name]
		}
		return false
	}
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "node_modules" || n == "testdata" || strings.HasPrefix(n, ".") && path != root {
				return filepath.SkipDir
			}
			if abs, _ := filepath.Abs(path); abs == mustAbs(t, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		checked++
		report := func(n ast.Node, s string) {
			t.Errorf("%s: protocol string %q spelled out; use the constant in signal/proto", fset.Position(n.Pos()), s)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.KeyValueExpr:
				if s, ok := isName(x.Value); ok && isField(x.Key) {
					report(x, s)
				}
			case *ast.BinaryExpr:
				if x.Op == token.EQL || x.Op == token.NEQ {
					if s, ok := isName(x.Y); ok && isField(x.X) {
						report(x, s)
					}
					if s, ok := isName(x.X); ok && isField(x.Y) {
						report(x, s)
					}
				}
			case *ast.SwitchStmt:
				if x.Tag != nil && isField(x.Tag) {
					for _, c := range x.Body.List {
						for _, e := range c.(*ast.CaseClause).List {
							if s, ok := isName(e); ok {
								report(e, s)
							}
						}
					}
				}
			case *ast.BasicLit:
				if x.Kind == token.STRING && typeKey.MatchString(x.Value) {
					report(x, x.Value)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d Go files checked; is the module root right?", checked)
	}
}

// typeKey matches JSON text that spells a message type.
var typeKey = regexp.MustCompile(`\\?"type\\?":\s*\\?"[a-z]`)

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
