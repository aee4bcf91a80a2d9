package lint

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// notYetFixed lists the packages (module-relative directories, with all
// below them) whose package-level state other changes of issue 21 are
// removing. Their variables are reported, not failed; once a package has
// none left, the test fails until its line is deleted here.
var notYetFixed = map[string]string{}

// readOnly lists package-level variables that hold values no code
// changes: tables and option values Go cannot make constants. Each needs
// its reason, and the test also fails when any file of the module (tests
// included) assigns one of them, so a table cannot quietly become state.
var readOnly = map[string]string{
	"cmd/enroot-agent.version":       "the version, set by the linker (-X main.version) from git describe",
	"cmd/enroot-agent-front.version": "the version, set by the linker (-X main.version) from git describe",
	"cmd/enroot-agent-aws.version":   "the version, set by the linker (-X main.version) from git describe",
	"pkg/credentials.ErrWithdrawn":   "awswire.ErrWithdrawn, the sentinel the AWS helper's withdrawal is, under the refresher's name",
	"cmd/enroot-agent.commands":      "the agent's commands, with their usage lines",
	"internal/atomicfile.Default":    "the Options most writes pass (a struct value; a func would touch every writer)",
	"pkg/accel.slurmHooks":           "the hook names that need slurmd's PATH",
	"pkg/accel.hookOpts":             "the mode and owner of the hooks the agent writes",
	"pkg/accel.nvidiaSockets":        "the NVIDIA daemons' socket paths",
	"pkg/accel.BrokenToolkit":        "the NVIDIA toolkit releases known to break enroot, with why",
	"pkg/accel.binDirs":              "where programs are looked for under --root",
	"pkg/config.OptionalHooks":       "the hooks enroot 4.1.2 ships for admins to enable",
	"pkg/config.minEnroot":           "the first enroot that authenticates to ECR",
	"pkg/config.importerSince":       "the first Pyxis with an importer interface",
	"pkg/config.sizeUnits":           "the units a size may be written in",
	"pkg/config.pyxisArgs":           "the Pyxis plugstack arguments and their checks",
	"pkg/config.partitionSuffix":     "each AWS partition's DNS suffix",
	"pkg/images.workOpts":            "the mode and owner of the cache's work directory",
	"pkg/images.privOpts":            "the mode and owner of the cache's root-only directories",
	"pkg/images.recOpts":             "the mode and owner of the cache's records",
	"pkg/install.pathKeys":           "the enroot.conf keys naming per-user storage",
	"pkg/install.aptEnv":             "apt's non-interactive environment",
	"pkg/install.confOld":            "dpkg's keep-our-conffile options",
	"pkg/install.dirOpts":            "the mode and owner of enroot's shared directories",
	"pkg/install.EnrootPackages":     "the Enroot package names",
	"pkg/install.Prerequisites":      "the packages Enroot calls at run time",
	"pkg/install.Namespaces":         "the sysctls Enroot needs, with their values",
	"pkg/pyxis.distroPackages":       "which package gives each build tool, per package manager",
	"pkg/slurm.envFiles":             "the environment files slurmd units conventionally read",
	"pkg/slurm.unitDirs":             "systemd's unit directories, in priority order",
}

// sentinels are the initialisers that make a package-level variable a
// constant in all but name: an error value compared with errors.Is, a
// compiled regular expression (safe for concurrent use, never changed), and
// a value computed once on first use (sync.OnceValue, or lazyre.New for a
// regular expression: too costly to compile in every process's init,
// issue 25).
var sentinels = []string{"errors.New", "fmt.Errorf", "regexp.MustCompile", "sync.OnceValue", "lazyre.New"}

// global is one package-level variable.
type global struct {
	dir, name, at string
}

func (g global) key() string { return g.dir + "." + g.name }

func TestNoPackageLevelMutableState(t *testing.T) {
	root, module := moduleRoot(t)
	files := parseModule(t, root)
	byDir := map[string][]global{}
	seen := map[string]bool{}
	var failures []string
	for _, f := range files {
		if f.test {
			continue
		}
		for _, g := range globals(f) {
			switch {
			case readOnly[g.key()] != "":
			case unfixed(g.dir) != "":
				byDir[unfixed(g.dir)] = append(byDir[unfixed(g.dir)], g)
			default:
				failures = append(failures, fmt.Sprintf("%s: package-level var %s is mutable state: make it a field of the value that uses it, a const or a function, or add %q to readOnly with a reason", g.at, g.name, g.key()))
			}
			seen[g.key()] = true
		}
	}
	for _, pkg := range slices.Sorted(maps.Keys(notYetFixed)) {
		vars := byDir[pkg]
		switch {
		case len(vars) > 0:
			var names []string
			for _, g := range vars {
				names = append(names, g.dir+"."+g.name)
			}
			t.Logf("not yet fixed (%s): %s: %d package-level var(s): %s", notYetFixed[pkg], pkg, len(vars), strings.Join(names, ", "))
		case exists(root, pkg):
			failures = append(failures, fmt.Sprintf("%s keeps no package-level state any more: delete its line from notYetFixed", pkg))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(readOnly)) {
		if !seen[key] {
			failures = append(failures, fmt.Sprintf("readOnly names %s, which no longer exists: delete its line", key))
		}
	}
	for _, w := range writes(files, module) {
		if readOnly[w.key] != "" {
			failures = append(failures, fmt.Sprintf("%s: assigns %s, which readOnly says nothing changes: it is state; make it a field of the value that uses it", w.at, w.key))
		}
	}
	for _, f := range failures {
		t.Error(f)
	}
}

// unfixed is the notYetFixed entry dir falls under, "" when none.
func unfixed(dir string) string {
	for pkg := range notYetFixed {
		if dir == pkg || strings.HasPrefix(dir, pkg+"/") {
			return pkg
		}
	}
	return ""
}

// globals lists f's package-level variables, but for the blank ones
// (compile-time assertions, var _ I = T{}) and sentinels.
func globals(f file) []global {
	var out []global
	for _, decl := range f.ast.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if n.Name == "_" || i < len(vs.Values) && slices.Contains(sentinels, callee(vs.Values[i])) {
					continue
				}
				out = append(out, global{dir: f.dir, name: n.Name, at: f.position(n.Pos())})
			}
		}
	}
	return out
}

// callee is "pkg.Func" for a call of a package's function, else "".
func callee(e ast.Expr) string {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return ""
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok {
		return ""
	}
	return pkg.Name + "." + sel.Sel.Name
}

// write is a statement that changes a package-level variable, or may.
type write struct {
	key, at string // the variable as dir.name; the statement's file:line
}

// mutators change their first argument in place.
var mutators = []string{"delete", "clear", "copy", "sort.Strings", "sort.Ints", "sort.Slice", "sort.SliceStable", "sort.Sort",
	"slices.Sort", "slices.SortFunc", "slices.SortStableFunc", "slices.Reverse", "maps.Copy", "maps.DeleteFunc"}

// writes finds, in every file of the module (tests too), the assignments,
// increments and in-place mutations whose target is rooted at a name: a
// name of the file's own package, or pkg.Name of a package of the module.
// A local variable shadowing a package-level one is counted too: rename it.
func writes(files []file, module string) []write {
	var out []write
	for _, f := range files {
		target := func(e ast.Expr, at token.Pos) {
			if key := f.rootOf(e, module); key != "" {
				out = append(out, write{key: key, at: f.position(at)})
			}
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			switch s := n.(type) {
			case *ast.AssignStmt:
				if s.Tok != token.DEFINE {
					for _, lhs := range s.Lhs {
						target(lhs, s.Pos())
					}
				}
			case *ast.IncDecStmt:
				target(s.X, s.Pos())
			case *ast.CallExpr:
				name := callee(s)
				if id, ok := s.Fun.(*ast.Ident); ok {
					name = id.Name
				}
				if slices.Contains(mutators, name) && len(s.Args) > 0 {
					target(s.Args[0], s.Pos())
				}
			}
			return true
		})
	}
	return out
}

// file is one parsed .go file of the module.
type file struct {
	ast     *ast.File
	fset    *token.FileSet
	dir     string            // module-relative directory
	test    bool              // a _test.go file
	imports map[string]string // name in the file -> import path
}

func (f file) position(p token.Pos) string {
	pos := f.fset.Position(p)
	return fmt.Sprintf("%s:%d", filepath.Join(f.dir, filepath.Base(pos.Filename)), pos.Line)
}

// rootOf is the package-level variable e is rooted at, as dir.name: x,
// x[i], x.f and *x are rooted at x, a name of f's own package (an
// external test package's own names are not the package's); pkg.X at X of
// the module's package pkg.
func (f file) rootOf(e ast.Expr, module string) string {
	for {
		switch x := e.(type) {
		case *ast.ParenExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok {
				if path, ok := f.imports[id.Name]; ok {
					dir, inModule := strings.CutPrefix(path, module+"/")
					if !inModule {
						return ""
					}
					return dir + "." + x.Sel.Name
				}
			}
			e = x.X
		case *ast.Ident:
			if strings.HasSuffix(f.ast.Name.Name, "_test") {
				return ""
			}
			return f.dir + "." + x.Name
		default:
			return ""
		}
	}
}

// parseModule parses every .go file under root but testdata and hidden
// directories.
func parseModule(t *testing.T, root string) []file {
	t.Helper()
	fset := token.NewFileSet()
	var files []file
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		parsed, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		f := file{ast: parsed, fset: fset, dir: filepath.ToSlash(rel), test: strings.HasSuffix(path, "_test.go"), imports: map[string]string{}}
		for _, imp := range parsed.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			name := filepath.Base(p)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			f.imports[name] = p
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// moduleRoot finds go.mod above the test's directory, and the module path.
func moduleRoot(t *testing.T) (string, string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			defer f.Close()
			s := bufio.NewScanner(f)
			for s.Scan() {
				if m, ok := strings.CutPrefix(s.Text(), "module "); ok {
					return dir, strings.TrimSpace(m)
				}
			}
			t.Fatalf("%s/go.mod names no module", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func exists(root, dir string) bool {
	st, err := os.Stat(filepath.Join(root, dir))
	return err == nil && st.IsDir()
}
