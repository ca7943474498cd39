// Package cfacts asks the host's C headers for numbers: it compiles a C
// program that prints the value of each expression (a sizeof, an offsetof,
// a constant) and returns them, so that a test can check a Go mirror of a
// kernel ABI against the headers it mirrors. It needs gcc; tests skip the
// comparison where gcc is missing and keep a fixed-number test beside it.
package cfacts

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Eval compiles, in dir, a program with the given prelude (#include lines
// and any #define it needs) that evaluates each expression as an unsigned
// 64-bit number, runs it and returns the values in order.
func Eval(dir, prelude string, exprs []string) ([]uint64, error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return nil, err
	}
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stddef.h>\n")
	src.WriteString(prelude)
	src.WriteString("\nint main(void) {\n")
	for i, e := range exprs {
		fmt.Fprintf(&src, "\tprintf(\"%%d %%llu\\n\", %d, (unsigned long long)(%s));\n", i, e)
	}
	src.WriteString("\treturn 0;\n}\n")
	cfile := filepath.Join(dir, "facts.c")
	if err := os.WriteFile(cfile, []byte(src.String()), 0o644); err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "facts")
	if out, err := exec.Command(gcc, "-o", bin, cfile).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gcc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		return nil, err
	}
	vals := make([]uint64, len(exprs))
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var i int
		var v uint64
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &i, &v); err != nil || i < 0 || i >= len(exprs) {
			return nil, fmt.Errorf("cfacts: unexpected line %q", sc.Text())
		}
		vals[i] = v
		seen++
	}
	if seen != len(exprs) {
		return nil, fmt.Errorf("cfacts: the program printed %d values, want %d", seen, len(exprs))
	}
	return vals, nil
}

// HaveGCC reports whether Eval can run here.
func HaveGCC() bool {
	_, err := exec.LookPath("gcc")
	return err == nil
}
