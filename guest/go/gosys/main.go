// Command gosys is a Go guest program that makes the calls Go's runtime
// and syscall package make on a program's behalf, and prints what comes
// back as booleans and errno names that are the same on any Linux host.
//
//	gosys MODE...   MODE: keepcaps, selfexec
//
// keepcaps: syscall.AllThreadsSyscall sets prctl's PR_SET_KEEPCAPS on
// every thread of the runtime (it signals each one to make the call), and
// each of eight threads, locked to a goroutine, reads it back with
// PR_GET_KEEPCAPS; then one thread clears its own, which the others keep
// (the setting is per thread), and PR_SET_KEEPCAPS 2 is EINVAL; a child
// started by os/exec (fork, then execve of the program itself) from a
// thread that keeps capabilities reads 0, as execve clears the setting.
//
// selfexec: os.Executable (readlink of /proc/self/exe) names the file the
// program was started from (argv[0], when it is an absolute path), and a
// child started from that path finds the same; the child, whose goroutine
// panics, dies with status 2 and Go's panic message on its stderr pipe.
// It exits 1 where any of these fails.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

var modes = map[string]func(){
	"keepcaps": keepCaps,
	"selfexec": selfExec,
	// selfexec-child is the program exec'ed by selfexec.
	"selfexec-child": func() {
		exe, err := os.Executable()
		fmt.Println(exe, err)
		done := make(chan bool)
		go func() { panic("gosys selfexec-child") }()
		<-done
	},
	// keepcaps-child is the program exec'ed by keepcaps.
	"keepcaps-child": func() {
		r, _, _ := syscall.RawSyscall(syscall.SYS_PRCTL, prGetKeepCaps, 0, 0)
		fmt.Println(r)
	},
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gosys MODE...")
		os.Exit(2)
	}
	for _, m := range os.Args[1:] {
		run, ok := modes[m]
		if !ok {
			fmt.Fprintf(os.Stderr, "gosys: no mode %q\n", m)
			os.Exit(2)
		}
		run()
	}
}

const (
	prGetKeepCaps = 7
	prSetKeepCaps = 8
)

// errName names an errno as the result lines print it.
func errName(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	return fmt.Sprintf("errno %d (%v)", int(e), e)
}

// onThreads runs f on each of n threads at once: n goroutines each locked
// to a thread of its own while all of them run f, so that the runtime
// has at least n threads when f runs. f gets the goroutine's index.
func onThreads(n int, f func(i int)) {
	ready := make(chan struct{})
	start := make(chan struct{})
	done := make(chan struct{})
	for i := 0; i < n; i++ {
		go func(i int) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready <- struct{}{}
			<-start // all locked before any runs f
			f(i)
			done <- struct{}{}
		}(i)
	}
	for i := 0; i < n; i++ {
		<-ready
	}
	close(start)
	for i := 0; i < n; i++ {
		<-done
	}
}

func keepCaps() {
	const n = 8
	get := func() uintptr {
		r, _, _ := syscall.RawSyscall(syscall.SYS_PRCTL, prGetKeepCaps, 0, 0)
		return r
	}
	// Eight threads exist before AllThreadsSyscall: it must reach each.
	onThreads(n, func(int) {})
	_, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, prSetKeepCaps, 1, 0)
	fmt.Println("keepcaps: AllThreadsSyscall(PR_SET_KEEPCAPS, 1):", errName(e))
	got := make([]uintptr, n)
	onThreads(n, func(i int) { got[i] = get() })
	ones := 0
	for _, g := range got {
		if g == 1 {
			ones++
		}
	}
	fmt.Printf("keepcaps: %d of %d threads read PR_GET_KEEPCAPS 1\n", ones, n)
	fmt.Println("keepcaps: a child after execve reads", runSelf("keepcaps-child"))
	// Thread 0 clears its own; the seven others still read 1.
	cleared := make(chan uintptr, 1)
	others := make([]uintptr, n)
	onThreads(n, func(i int) {
		if i == 0 {
			syscall.RawSyscall(syscall.SYS_PRCTL, prSetKeepCaps, 0, 0)
			cleared <- get()
		}
	})
	onThreads(n, func(i int) { others[i] = get() })
	c := <-cleared
	still := 0
	for _, g := range others {
		if g == 1 {
			still++
		}
	}
	// Which threads the second round lands on is the scheduler's choice:
	// the cleared thread may be among them, or not.
	fmt.Printf("keepcaps: the clearing thread reads %d; %d or %d of %d threads still read 1 (%v)\n", c, n-1, n, n, still >= n-1)
	_, _, e = syscall.RawSyscall(syscall.SYS_PRCTL, prSetKeepCaps, 2, 0)
	fmt.Println("keepcaps: PR_SET_KEEPCAPS 2:", errName(e))
	_, _, e = syscall.AllThreadsSyscall(syscall.SYS_PRCTL, prSetKeepCaps, 0, 0)
	fmt.Println("keepcaps: AllThreadsSyscall(PR_SET_KEEPCAPS, 0):", errName(e))
	onThreads(n, func(i int) { got[i] = get() })
	zeros := 0
	for _, g := range got {
		if g == 0 {
			zeros++
		}
	}
	fmt.Printf("keepcaps: %d of %d threads read PR_GET_KEEPCAPS 0\n", zeros, n)
}

// runSelf runs the program itself with args and returns its stdout
// without the final newline, or what went wrong.
func runSelf(args ...string) string {
	exe, err := os.Executable()
	if err != nil {
		return err.Error()
	}
	out, err := exec.Command(exe, args...).Output()
	if err != nil {
		return err.Error()
	}
	return strings.TrimSuffix(string(out), "\n")
}

func selfExec() {
	exe, err := os.Executable()
	if err != nil {
		fmt.Println("selfexec: os.Executable:", err)
		os.Exit(1)
	}
	isArgv0 := exe == os.Args[0] || !filepath.IsAbs(os.Args[0])
	fmt.Println("selfexec: os.Executable() is argv[0]:", isArgv0)
	cmd := exec.Command(exe, "selfexec-child")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	same := string(out) == exe+" <nil>\n"
	fmt.Println("selfexec: the child finds itself at the same path:", same)
	panicked := strings.HasPrefix(stderr.String(), "panic: gosys selfexec-child")
	fmt.Println("selfexec: the child's end:", err, panicked)
	if !isArgv0 || !same || !panicked {
		os.Exit(1)
	}
}
