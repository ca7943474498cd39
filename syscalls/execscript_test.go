package syscalls

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// scriptHelperEnv makes the test binary, run as a script's interpreter,
// print its argv and task name as JSON (scriptHelper) instead of testing.
const scriptHelperEnv = "MMVM_TEST_SCRIPT_ARGV"

// scriptRun is what a script's interpreter saw: its argv and its task
// name, or the errno execve failed with.
type scriptRun struct {
	Argv  []string
	Comm  string
	Errno unix.Errno
}

func scriptHelper() int {
	comm, _ := os.ReadFile("/proc/self/comm")
	b, _ := json.Marshal(scriptRun{Argv: os.Args, Comm: strings.TrimSuffix(string(comm), "\n")})
	fmt.Println(string(b))
	return 0
}

// copyTestBinary copies the running test binary to dst, executable.
func copyTestBinary(t *testing.T, dst string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestExecScriptsMatchHost runs "#!" scripts with the host kernel and in
// mmvm and requires the same result: the interpreter's argv (the "#!"
// line parsed as load_script parses it: blanks, one optional argument,
// a CR kept, a NUL ending the line, a line cut at 256 bytes), its task
// name (the script's), and the errno of a script that cannot run (no
// interpreter name, a name cut off at 256 bytes, a missing or
// non-executable interpreter, scripts nested past five).
func TestExecScriptsMatchHost(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	interp := dir + "/interp"
	copyTestBinary(t, interp)
	write := func(name, text string, mode os.FileMode) string {
		if err := os.WriteFile(dir+"/"+name, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return dir + "/" + name
	}
	write("plain-interp", "#!/bin/true\n", 0o644)
	// nest-0 runs interp; nest-k runs nest-(k-1).
	for k := 0; k <= 6; k++ {
		target := interp
		if k > 0 {
			target = fmt.Sprintf("%s/nest-%d", dir, k-1)
		}
		write(fmt.Sprintf("nest-%d", k), "#!"+target+" -n\n", 0o755)
	}
	cases := []struct{ name, text string }{
		{"plain", "#!" + interp + "\necho hi\n"},
		{"arg", "#!" + interp + " -x\n"},
		{"blanks", "#! \t" + interp + " \t -x  y \t\n"},
		{"cr", "#!" + interp + " -x\r\n"},
		{"cr-name", "#!" + interp + "\r\n"},
		{"nul", "#!" + interp + "\x00 -x\n"},
		{"nul-in-arg", "#!" + interp + " a\x00b\n"},
		{"no-newline", "#!" + interp},
		{"long-arg", "#!" + interp + " " + strings.Repeat("a", 300)},
		{"long-name", "#!" + dir + "/" + strings.Repeat("n", 300)},
		{"empty", "#!"},
		{"nul-name", "#! \x00" + interp + "\n"},
		{"blank-line", "#!  \t \nx"},
		{"missing", "#!" + dir + "/no-such-interpreter\n"},
		{"not-executable", "#!" + dir + "/plain-interp\n"},
		{"nest-4", "#!" + dir + "/nest-3\n"},
		{"nest-5", "#!" + dir + "/nest-4\n"},
		{"nest-6", "#!" + dir + "/nest-5\n"},
	}
	argv := []string{"argv0", "one", "t w o"}
	for _, c := range cases {
		script := write("s-"+c.name, c.text, 0o755)

		var host scriptRun
		cmd := exec.Command(script)
		cmd.Args, cmd.Env = argv, []string{scriptHelperEnv + "=1"}
		out, err := cmd.Output()
		var errno unix.Errno
		switch {
		case errors.As(err, &errno):
			host.Errno = errno
		case err != nil:
			t.Fatalf("%s: host run: %v", c.name, err)
		default:
			if err := json.Unmarshal(out, &host); err != nil {
				t.Fatalf("%s: host helper said %q: %v", c.name, out, err)
			}
		}

		h := newExecHarness(t)
		h.p.cfg.Views = []View{{Host: dir, Guest: dir}}
		regs := h.execRegs(script, argv, nil)
		var got scriptRun
		if !h.p.main.HandleSyscall(&regs) {
			got.Errno = unix.Errno(-int64(regs.RAX))
		} else if len(h.asked) != 1 || h.asked[0].hostPath != interp {
			t.Fatalf("%s: Exec got %+v", c.name, h.asked)
		} else {
			got.Argv, got.Comm = h.asked[0].argv, h.taskName(t)
		}
		if got.Errno != host.Errno || !slices.Equal(got.Argv, host.Argv) || got.Comm != host.Comm {
			t.Errorf("%s: mmvm %+v, host %+v", c.name, got, host)
		}
	}
}

// TestExecScriptThroughCloseOnExecFD: a script run by execveat from a
// close-on-exec fd is ENOENT, as Linux answers (its interpreter could not
// open /dev/fd/N); from an fd that stays open it runs, named /dev/fd/N.
func TestExecScriptThroughCloseOnExecFD(t *testing.T) {
	h := newExecHarness(t)
	if err := os.WriteFile(h.dir+"/script", []byte("#!/bin/prog -a\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags uint64
		want  int64
	}{{unix.O_RDONLY | unix.O_CLOEXEC, neg64(unix.ENOENT)}, {unix.O_RDONLY, 0}} {
		h.asked = nil
		fd := sc(h.p, unix.SYS_OPENAT, atFDCWD, putStr(h.mem, 0x1600, "/bin/script"), c.flags)
		if fd < 0 {
			t.Fatal(fd)
		}
		r := sc(h.p, unix.SYS_EXECVEAT, uint64(fd), putStr(h.mem, execArea-base, ""), 0, 0, unix.AT_EMPTY_PATH)
		if c.want != 0 {
			if r != c.want {
				t.Errorf("execveat of a script's close-on-exec fd = %d, want %d", r, c.want)
			}
			continue
		}
		want := []string{"/bin/prog", "-a", fmt.Sprintf("/dev/fd/%d", fd)}
		if len(h.asked) != 1 || !slices.Equal(h.asked[0].argv, want) || h.asked[0].prog.Filename != want[2] {
			t.Errorf("execveat of a script's fd: Exec got %+v, want argv %q", h.asked, want)
		}
	}
}
