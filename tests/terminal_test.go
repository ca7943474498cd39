package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/syscalls"
)

// terminalGuests are the guest programs TestGuestsOnTerminalMatchNative
// runs with stdout on a pseudo-terminal: a libc line-buffers a terminal
// (glibc knows one by fstat's st_rdev, musl asks TIOCGWINSZ), and tty-*
// asks it what programs ask (isatty, tcgetattr, tcsetattr, TIOCGWINSZ,
// and how many bytes TCGETS writes).
var terminalGuests = []string{
	"tty-musl", "tty-glibc", "hello-glibc", "hello-musl", "proccalls",
	"signals-musl", "signals-glibc", "files-musl", "files-glibc", "memfd-musl", "memfd-glibc",
}

// pty is a pseudo-terminal pair: the master the test reads and the slave
// the program writes to.
type pty struct {
	master, slave *os.File
	// read is what the master read, done when the master saw the last
	// slave descriptor close.
	read chan []byte
}

// openPTY opens a pseudo-terminal as posix_openpt, unlockpt and ptsname
// do (TIOCSPTLCK, TIOCGPTN), and starts reading its master.
func openPTY(t *testing.T) *pty {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		t.Fatalf("ptsname: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatalf("opening the slave: %v", err)
	}
	p := &pty{master: master, slave: slave, read: make(chan []byte, 1)}
	go func() {
		var b bytes.Buffer
		_, err := io.Copy(&b, master)
		if err != nil && !errors.Is(err, syscall.EIO) { // EIO: the slave is closed
			b.WriteString("\n[master read: " + err.Error() + "]")
		}
		p.read <- b.Bytes()
	}()
	t.Cleanup(func() { master.Close(); slave.Close() })
	return p
}

// output closes the test's slave descriptor and returns what the master
// read once the program's are closed too.
func (p *pty) output(t *testing.T) []byte {
	t.Helper()
	p.slave.Close()
	select {
	case b := <-p.read:
		return b
	case <-time.After(30 * time.Second):
		t.Fatal("the terminal's master never saw the slave close")
		return nil
	}
}

// runNativeOnPTY runs the program on the host kernel with stdout on a
// fresh terminal.
func runNativeOnPTY(t *testing.T, path string, args []string) (terminal, stderr []byte, status int) {
	t.Helper()
	tty := openPTY(t)
	var e bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = tty.slave, &e
	cmd.Env = []string{}
	status = runStatus(t, cmd)
	return tty.output(t), e.Bytes(), status
}

// runInMachineOnPTY runs the program in a fresh mmvm Machine with stdout on
// a fresh terminal: the slave is both the writer and the host descriptor
// behind fd 1 (its fstat and terminal ioctls).
func runInMachineOnPTY(t *testing.T, path string, args []string, views ...syscalls.View) (terminal, stderr []byte, stop machine.Stop) {
	t.Helper()
	kvmtest.Open(t)
	tty := openPTY(t)
	var e bytes.Buffer
	m, err := machine.New(machine.Config{Memory: 256 << 20, Stdout: tty.slave, Stderr: &e, StdioFDs: [3]int{-1, int(tty.slave.Fd()), -1}, Views: views})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.LoadProgram(path, append([]string{path}, args...), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if stop, err = m.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return tty.output(t), e.Bytes(), stop
}

// TestGuestsOnTerminalMatchNative runs guest programs natively and inside
// mmvm with stdout on a pseudo-terminal and compares what the terminal's
// master reads (the terminal's output processing included), stderr and
// the exit status.
func TestGuestsOnTerminalMatchNative(t *testing.T) {
	dir := guestDir(t)
	for _, name := range terminalGuests {
		t.Run(name, func(t *testing.T) {
			path, ok := guestProgram(t, dir, name)
			if !ok {
				return
			}
			var args []string
			var views []syscalls.View
			if dirGuests[name] {
				d := filesDir(t)
				args = []string{d}
				views = append(views, syscalls.View{Host: d, Guest: d})
			}
			nOut, nErr, nStatus := runNativeOnPTY(t, path, args)
			vOut, vErr, stop := runInMachineOnPTY(t, path, args, views...)
			if stop.Status() != nStatus {
				t.Errorf("status: mmvm %d (%v %s), native %d", stop.Status(), stop.Kind, stop.Reason, nStatus)
			}
			if !bytes.Equal(vOut, nOut) {
				t.Errorf("terminal output differs:\nmmvm:   %q\nnative: %q", vOut, nOut)
			}
			if !bytes.Equal(vErr, nErr) {
				t.Errorf("stderr differs:\nmmvm:   %q\nnative: %q", vErr, nErr)
			}
			if len(nOut) == 0 {
				t.Errorf("the program wrote nothing to the terminal")
			}
			t.Logf("status %d, %d bytes on the terminal", nStatus, len(nOut))
		})
	}
}

// cttyGuests are the guest programs TestControllingTerminalMatchesNative
// runs with stdin, stdout and stderr on a pseudo-terminal that is their
// controlling terminal.
var cttyGuests = []string{"ctty-musl", "ctty-glibc"}

// TestControllingTerminalMatchesNative runs ctty natively as a session
// leader whose controlling terminal is a fresh pseudo-terminal, on all of
// its stdio, and inside mmvm given that terminal as the controlling one of
// the session it starts in (as mmvm run from a shell gives its own), and
// compares what the terminal's master reads and the exit status.
func TestControllingTerminalMatchesNative(t *testing.T) {
	dir := guestDir(t)
	for _, name := range cttyGuests {
		t.Run(name, func(t *testing.T) {
			path, ok := guestProgram(t, dir, name)
			if !ok {
				return
			}
			tty := openPTY(t)
			cmd := exec.Command(path)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = tty.slave, tty.slave, tty.slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			cmd.Env = []string{}
			nStatus := runStatus(t, cmd)
			nOut := tty.output(t)

			kvmtest.Open(t)
			tty = openPTY(t)
			term := syscalls.HostTerminal(int(tty.slave.Fd()))
			if term == nil {
				t.Fatal("the pty's slave is no terminal")
			}
			term.Controlling = true
			fd := int(tty.slave.Fd())
			m, err := machine.New(machine.Config{Memory: 256 << 20, Stdin: tty.slave, Stdout: tty.slave, Stderr: tty.slave,
				StdioFDs: [3]int{fd, fd, fd}, Terminals: [3]*syscalls.Terminal{term, term, term}})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.LoadProgram(path, []string{path}, nil); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			stop, err := m.Run(ctx)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			vOut := tty.output(t)
			if stop.Status() != nStatus {
				t.Errorf("status: mmvm %d (%v %s), native %d", stop.Status(), stop.Kind, stop.Reason, nStatus)
			}
			if !bytes.Equal(vOut, nOut) {
				t.Errorf("terminal output differs:\nmmvm:   %q\nnative: %q", vOut, nOut)
			}
			t.Logf("status %d, terminal:\n%s", nStatus, nOut)
		})
	}
}
