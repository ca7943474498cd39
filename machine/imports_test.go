package machine

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/mmvm/mmvm/"

// directImports returns the project packages that the non-test files of
// the package in dir import.
func directImports(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if rel, ok := strings.CutPrefix(p, module); ok && !seen[rel] {
				seen[rel] = true
				out = append(out, rel)
			}
		}
	}
	return out
}

// TestImportFlow pins the direction imports flow in (README, Architecture):
// command → machine → mm, kvm, ring0, loader, syscalls, vdso → pagetable,
// memmap, memfile → rangeset, arch (and the leaves latency and x86enc). A violation means the design wants to change,
// not that this table does. It lives here rather than in tests/ because it
// reads the source tree, which the KVM test binaries do not have inside the
// QEMU guest.
func TestImportFlow(t *testing.T) {
	root := ".."
	deps := map[string][]string{}
	var walk func(pkg string) map[string]bool
	memo := map[string]map[string]bool{}
	walk = func(pkg string) map[string]bool {
		if m, ok := memo[pkg]; ok {
			return m
		}
		m := map[string]bool{}
		memo[pkg] = m
		if _, ok := deps[pkg]; !ok {
			deps[pkg] = directImports(t, filepath.Join(root, pkg))
		}
		for _, d := range deps[pkg] {
			m[d] = true
			for dd := range walk(d) {
				m[dd] = true
			}
		}
		return m
	}
	forbidden := map[string][]string{
		"arch":      {"rangeset", "memmap", "memfile", "mm", "pagetable", "kvm", "ring0", "loader", "syscalls", "machine", "vdso"},
		"rangeset":  {"memmap", "memfile", "mm", "pagetable", "kvm", "ring0", "loader", "syscalls", "machine", "vdso"},
		"memmap":    {"memfile", "mm", "pagetable", "kvm", "ring0", "loader", "syscalls", "machine", "vdso"},
		"memfile":   {"mm", "pagetable", "kvm", "ring0", "loader", "syscalls", "machine", "vdso"},
		"pagetable": {"memfile", "mm", "kvm", "ring0", "loader", "syscalls", "machine", "vdso"},
		"mm":        {"pagetable", "kvm", "ring0", "loader", "syscalls", "machine", "vdso"},
		"kvm":       {"mm", "pagetable", "ring0", "loader", "syscalls", "machine", "vdso"},
		"ring0":     {"mm", "kvm", "pagetable", "loader", "syscalls", "machine", "vdso"},
		"loader":    {"mm", "kvm", "pagetable", "ring0", "syscalls", "machine", "vdso"},
		"syscalls":  {"kvm", "pagetable", "ring0", "loader", "machine", "vdso"},
		"vdso":      {"mm", "kvm", "pagetable", "ring0", "loader", "syscalls", "machine"},
		"machine":   {"cmd/mmvm", "cmd/kvmrun"},
		"latency":   {"arch", "rangeset", "memmap", "memfile", "mm", "pagetable", "kvm", "ring0", "loader", "syscalls", "machine"},
		"x86enc":    {"arch", "rangeset", "memmap", "memfile", "mm", "pagetable", "kvm", "ring0", "loader", "syscalls", "machine"},
	}
	for pkg, bad := range forbidden {
		if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
			t.Fatalf("package %s: %v", pkg, err)
		}
		all := walk(pkg)
		for _, b := range bad {
			if all[b] {
				t.Errorf("%s imports %s (directly or not): against the import flow", pkg, b)
			}
		}
	}
	// And the flow's positive side: mm sees the machine only through its
	// AddressSpace, so machine must be what brings mm and pagetable together.
	if m := walk("machine"); !m["mm"] || !m["pagetable"] || !m["kvm"] || !m["ring0"] {
		t.Errorf("machine no longer ties mm, pagetable, kvm and ring0 together: %v", deps["machine"])
	}
}
