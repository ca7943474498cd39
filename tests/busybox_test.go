package tests

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/syscalls"
)

// busyboxPath is the static busybox the tests run: $MMVM_BUSYBOX, else
// /bin/busybox (Debian's busybox-static, which .ci/run installs and the
// QEMU guest's initramfs carries).
func busyboxPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("MMVM_BUSYBOX")
	if p == "" {
		p = "/bin/busybox"
	}
	f, err := elf.Open(p)
	if err != nil {
		t.Fatalf("no busybox to run: %v (install busybox-static, or set MMVM_BUSYBOX)", err)
	}
	defer f.Close()
	for _, pr := range f.Progs {
		if pr.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked: install busybox-static, or set MMVM_BUSYBOX to a static busybox", p)
		}
	}
	return p
}

// busyboxCases are applets of a busybox nobody here wrote (glibc, static),
// each with its arguments and stdin, chosen so that the native answer does
// not depend on the machine: no files, clocks, pids or user names.
var busyboxCases = []struct {
	name  string
	args  []string
	stdin string
}{
	{"echo", []string{"echo", "hello", "world"}, ""},
	{"seq", []string{"seq", "1", "200"}, ""},
	{"seq-sep", []string{"seq", "-s", ",", "-w", "1", "3", "30"}, ""},
	{"printf", []string{"printf", "%05d|%-4s|%x|%.3f\n", "42", "ab", "255", "3.14159"}, ""},
	{"expr", []string{"expr", "6", "*", "7"}, ""},
	{"expr-false", []string{"expr", "1", "=", "2"}, ""},
	{"basename", []string{"basename", "/usr/lib/libx.so", ".so"}, ""},
	{"dirname", []string{"dirname", "/usr/lib/libx.so"}, ""},
	{"true", []string{"true"}, ""},
	{"false", []string{"false"}, ""},
	{"env", []string{"env"}, ""},
	{"factor", []string{"factor", "1234567890", "999983"}, ""},
	{"no-such-applet", []string{"no-such-applet"}, ""},
	{"cat", []string{"cat"}, "line one\nline two\n"},
	{"sort", []string{"sort"}, "pear\napple\nfig\nbanana\n"},
	{"sort-nr", []string{"sort", "-n", "-r"}, "10\n9\n100\n-3\n"},
	{"uniq-c", []string{"uniq", "-c"}, "a\na\nb\nc\nc\nc\n"},
	{"wc", []string{"wc"}, "one two three\nfour five\n"},
	{"tr", []string{"tr", "a-z", "A-Z"}, "shout this\n"},
	{"cut", []string{"cut", "-d:", "-f2,4"}, "a:b:c:d\n1:2:3:4\n"},
	{"head", []string{"head", "-n", "3"}, "1\n2\n3\n4\n5\n"},
	{"tail", []string{"tail", "-n", "2"}, "1\n2\n3\n4\n5\n"},
	{"tac", []string{"tac"}, "1\n2\n3\n"},
	{"rev", []string{"rev"}, "stressed\n"},
	{"md5sum", []string{"md5sum"}, "The quick brown fox\n"},
	{"sha256sum", []string{"sha256sum"}, strings.Repeat("mmvm ", 5000)},
	{"sha512sum", []string{"sha512sum"}, "abc"},
	{"od", []string{"od", "-A", "x", "-t", "x1z"}, "binary\x00\x01\x02\xff text\n"},
	{"base64", []string{"base64"}, strings.Repeat("0123456789", 40)},
	{"awk", []string{"awk", "{ s += $1; n++ } END { printf \"%d %d %.2f\\n\", n, s, s/n }"}, "3\n5\n8\n13\n21\n"},
	{"sed", []string{"sed", "-e", "s/cat/dog/g", "-e", "2d"}, "cat one\ncat two\nthe cat sat on the cat\n"},
	{"grep-c", []string{"grep", "-c", "o"}, "foo\nbar\nboo\n"},
	{"grep-none", []string{"grep", "zzz"}, "foo\n"},
	{"dc", []string{"dc", "-e", "2 64 ^ p"}, ""},
	{"bc", []string{"bc"}, "scale=20\n4*a(1)\n"},
	{"gzip", []string{"gzip", "-c", "-9"}, strings.Repeat("compress me, ", 2000)},
	{"sh-arith", []string{"sh", "-c", "x=0; while [ $x -lt 2000 ]; do x=$((x+1)); done; echo $x; exit 3"}, ""},
	{"sh-read", []string{"sh", "-c", "read a b; echo \"$b $a\"; read c; echo \"[$c]\""}, "first second\nthird\n"},
	{"sh-trap", []string{"sh", "-c", "trap 'echo bye' EXIT; echo hi; exit 4"}, ""},
	{"sh-case", []string{"sh", "-c", "for w in apple 7 x; do case $w in [0-9]) echo num;; a*) echo a-word;; *) echo other;; esac; done"}, ""},
}

// TestBusyboxMatchesNative runs busybox applets natively and inside mmvm,
// stdin included, and compares stdout and exit status.
func TestBusyboxMatchesNative(t *testing.T) {
	kvmtest.Open(t)
	bb := busyboxPath(t)
	for _, tc := range busyboxCases {
		t.Run(tc.name, func(t *testing.T) {
			matchBusybox(t, bb, tc.args, tc.stdin)
		})
	}
}

// busyboxShellCases are scripts for busybox sh -c that make processes:
// pipelines, command substitutions, subshells, nested shells, background
// jobs, exec, a shell killed by a signal. busybox's shell forks for each
// and then runs an applet either in the child as it is (seq, a NOEXEC
// applet; a subshell) or by execve of /proc/self/exe (cat, wc, sh), so
// both must work. Each one's output and status are the same on every
// native run: no pids, times or files printed.
var busyboxShellCases = []struct {
	name, script string
}{
	{"pipe", "seq 1 1000 | wc -l"},
	{"command-substitution", "echo $(echo hi)"},
	{"loop-into-sort", "for i in 1 2 3; do echo $i; done | sort -r"},
	{"fork-per-round", "i=0; while [ $i -lt 50 ]; do i=$(expr $i + 1); done; echo $i"},
	{"false-status", "false; echo $?"},
	{"nested-sh-status", `sh -c "exit 7"; echo $?`},
	{"pipeline-of-4", "seq 1 100 | grep 1 | sort -n | tail -3"},
	{"pipeline-status", "true | false; echo $?; false | true; echo $?"},
	{"exec-cmdline", `cat /proc/self/cmdline | tr "\0" " "`}, // cat's argv after its execve
	{"killed-self", "kill -9 $$"},                            // status 137
	{"killed-nested-sh", `sh -c 'kill -9 $$'; echo $?`},      // 137
	{"subshell-status", "(exit 3); echo $?"},
	{"background-wait", "(exit 5) & wait $!; echo $?"},
	{"exec-replaces-shell", `exec sh -c 'echo replaced; exit 9'`},
	// personality's PER_LINUX32 in uname, kept across exec; an I/O
	// priority kept across exec.
	{"setarch-ionice", "linux32 uname -m; linux64 uname -m; ionice -c 2 -n 3 sh -c ionice; ionice -c 3 sh -c ionice; ionice -c 4 true; echo $?"},
	{"read-in-subshell", "echo one two | (read a b; echo $b $a)"},
	{"heredoc", "cat <<E\nline $((6*7))\nE"},
	{"xargs", "seq 1 5 | xargs -n 2 echo"},
	{"ppid", `a=$(sh -c 'echo $PPID'); [ "$a" = $$ ] && echo child of the shell || echo not`},
	// A parent that forks two children at once, each writing its
	// copy-on-write memory while the others run: when a vCPU flushed
	// twice between two entries and the second flush undid the first,
	// the parent went on writing pages it shared with its children
	// (about one round in forty under shadow paging).
	{"pipeline-rounds", `n=0; while [ $n -lt 12 ]; do n=$((n+1)); x=$(seq 1 1000 | wc -l); [ "$x" = 1000 ] || echo "round $n: $x"; done; echo $n`},
	// statfs of the guest's own files (proc, devtmpfs), getgroups.
	{"stat-f", `stat -f -c '%t %l' /proc/self/maps /dev/null; id -u; id -G`},
	// /proc/self/fd: ls's fds (its directory's included), the shell's
	// (listed by ls, a child, and by a glob the shell expands itself; not
	// while a pipeline runs, whose pipe the shell closes in a race with
	// its children), a link's text, the links' modes (ls -l), and files
	// opened again through their links.
	{"proc-self-fd", `exec 5</dev/null 7>/dev/null; ls /proc/self/fd; ls /proc/$$/fd; cd /proc/$$/fd && echo *; cd /; ` +
		`readlink /proc/self/fd/5; ` +
		`ls -l /proc/self/fd | cut -c1-10; cat /proc/self/fd/5; echo x >/proc/self/fd/7 && echo wrote`},
}

// TestBusyboxShellMatchesNative runs busybox sh -c with each script of
// busyboxShellCases natively and inside mmvm and compares stdout and exit
// status.
func TestBusyboxShellMatchesNative(t *testing.T) {
	kvmtest.Open(t)
	bb := busyboxPath(t)
	for _, tc := range busyboxShellCases {
		t.Run(tc.name, func(t *testing.T) {
			matchBusybox(t, bb, []string{"sh", "-c", tc.script}, "")
		})
	}
}

// TestBusyboxScriptsMatchNative runs "#!" scripts from busybox sh and env,
// natively and inside mmvm, from a directory the guest sees as a view:
// the interpreter is busybox (the program itself, at its own path), with
// an argument, one script running another, a script named relative to
// the working directory, and a line whose "awk -f" Linux passes as one
// argument (busybox: no such applet, 127).
func TestBusyboxScriptsMatchNative(t *testing.T) {
	kvmtest.Open(t)
	bb := busyboxPath(t)
	dir := t.TempDir()
	for name, text := range map[string]string{
		"args.sh":   "#!" + bb + " sh\necho \"$0: $# $*\"; exit 6\n",
		"awk.sh":    "#!" + bb + " awk -f\nBEGIN { print \"awk\", ARGV[1] }\n",
		"nested.sh": "#!" + dir + "/args.sh from-nested\n",
	} {
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := dir + `/args.sh a "b c"; echo $?; env ` + dir + `/args.sh; ` + dir + `/awk.sh x; ` + dir + `/nested.sh y; echo $?; ` +
		`cd ` + dir + ` && ./args.sh rel`
	matchBusyboxIn(t, bb, []string{"sh", "-c", script}, "", []syscalls.View{{Host: dir, Guest: dir}})
}

// matchBusybox runs busybox with args (the applet first) and stdin, with
// no environment, natively and inside mmvm, and compares stdout and exit
// status; in mmvm no page may change while forks share it
// (Config.CheckCopyOnWrite).
func matchBusybox(t *testing.T, bb string, args []string, stdin string) {
	t.Helper()
	matchBusyboxIn(t, bb, args, stdin, nil)
}

// matchBusyboxIn is matchBusybox with views the guest sees.
func matchBusyboxIn(t *testing.T, bb string, args []string, stdin string, views []syscalls.View) {
	t.Helper()
	cfg := machine.Config{CheckCopyOnWrite: true, Views: views}
	var nOut bytes.Buffer
	cmd := exec.Command(bb, args...)
	cmd.Stdin, cmd.Stdout, cmd.Env = strings.NewReader(stdin), &nOut, []string{}
	nStatus := runStatus(t, cmd)

	var vOut, vErr bytes.Buffer
	cfg.Memory, cfg.Stdin, cfg.Stdout, cfg.Stderr, cfg.StdioFDs = 256<<20, strings.NewReader(stdin), &vOut, &vErr, [3]int{-1, -1, -1}
	m, err := machine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// argv[0] "busybox" and the applet as argv[1], as natively.
	if err := m.LoadProgram(bb, append([]string{bb}, args...), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop, err := m.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, err := range m.CopyOnWriteChanges() {
		t.Errorf("busybox %q: %v", args, err)
	}
	if stop.Status() != nStatus || !bytes.Equal(vOut.Bytes(), nOut.Bytes()) {
		st := m.Stats()
		t.Errorf("busybox %q: mmvm status %d (%v %s), native %d\nmmvm stdout:   %q\nnative stdout: %q\nmmvm stderr: %q\nunimplemented calls: %v",
			args, stop.Status(), stop.Kind, stop.Reason, nStatus, trunc(vOut.Bytes()), trunc(nOut.Bytes()), trunc(vErr.Bytes()), st.Unimplemented)
	}
}

func trunc(b []byte) []byte {
	if len(b) > 400 {
		return append(b[:400:400], "..."...)
	}
	return b
}
