package cfacts

import "testing"

func TestEval(t *testing.T) {
	if !HaveGCC() {
		t.Skip("gcc not found")
	}
	vals, err := Eval(t.TempDir(), "struct pair { int a; long b; };\n#define SEVEN 7", []string{"sizeof(int)", "offsetof(struct pair, b)", "SEVEN", "-1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{4, 8, 7, ^uint64(0)}; len(vals) != 4 || vals[0] != want[0] || vals[1] != want[1] || vals[2] != want[2] || vals[3] != want[3] {
		t.Errorf("Eval = %v, want %v", vals, want)
	}
	if _, err := Eval(t.TempDir(), "", []string{"no_such_name"}); err == nil {
		t.Error("an expression gcc cannot compile gave no error")
	}
}
