package kvmhost

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// marker starts every control line /init writes on the console.
const marker = "@@kvmhost@@"

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// initScript is the guest's /init: a busybox shell script that prepares
// the guest, loads KVM, runs each command with stdout on ttyS1 and stderr
// on the console, reports each exit status with a marker, drains both
// serial ports and powers off.
func initScript(k *Kernel, cmds []Command) string {
	var b strings.Builder
	b.WriteString(`#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/tmp TMPDIR=/tmp MMVM_REQUIRE_KVM=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts -o ptmxmode=0666 devpts /dev/pts
[ -c /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
# The links udev makes on a Linux system, which programs open their stdio by.
for l in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 stderr:/proc/self/fd/2; do
	d=/dev/${l%%:*}; [ -e $d ] || [ -L $d ] || ln -s ${l#*:} $d
done
mount -t tmpfs tmpfs /tmp
# lo up, as a booted system has it: the programs a test runs natively
# reach 127.0.0.1 and ::1 as they do inside mmvm.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
M=` + marker + `
up() { cut -d' ' -f1 /proc/uptime; }
# Block until the serial port's output is sent: stty applies settings with
# TCSADRAIN, so setting them to what they are waits for the drain.
drain() { stty -F "$1" "$(stty -F "$1" -g)" 2>/dev/null; }
bye() { drain /dev/ttyS1; echo "$M done $(up)"; drain /dev/ttyS0; poweroff -f; sleep 5; }
fail() { echo "$M fail $*"; dmesg | tail -n 12; bye; }
stty -F /dev/ttyS0 raw -echo 2>/dev/null
stty -F /dev/ttyS1 raw -echo 2>/dev/null || fail "no second serial port (ttyS1)"
echo "$M init $(up)"
dmesg -n 1
`)
	for _, m := range k.Modules {
		name := filepath.Base(m)
		fmt.Fprintf(&b, "insmod /lib/modules/%s || fail \"%s refused to load\"\n", name, name)
	}
	b.WriteString(`i=0
while [ ! -c /dev/kvm ]; do
	i=$((i+1)); [ $i -gt 200 ] && fail "/dev/kvm did not appear within 10s of loading the modules"
	sleep 0.05
done
echo "$M kvm $(up)"
`)
	for i, c := range cmds {
		fmt.Fprintf(&b, "echo \"$M start %d $(up)\"\n(", i)
		writeCommandLine(&b, c)
		fmt.Fprintf(&b, ") </dev/null >/dev/ttyS1 2>/dev/console\nst=$?\ndrain /dev/ttyS1\necho \"$M exit %d $st $(up)\"\n", i)
	}
	b.WriteString("bye\n")
	return b.String()
}

// writeCommandLine writes c as one shell command line: cd to its
// directory, then its environment, path and arguments, each quoted. It
// appends to b piece by piece, so the time it takes grows linearly with
// the number of arguments.
func writeCommandLine(b *strings.Builder, c Command) {
	dir := c.Dir
	if dir == "" {
		dir = "/"
	}
	b.WriteString("cd " + shellQuote(dir) + " && ")
	if len(c.Env) > 0 {
		b.WriteString("env")
		for _, e := range c.Env {
			b.WriteString(" " + shellQuote(e))
		}
		b.WriteString(" ")
	}
	b.WriteString(shellQuote(c.Path))
	for _, a := range c.Args {
		b.WriteString(" ")
		b.WriteString(shellQuote(a))
	}
}

// stageFile is one file of the initramfs: its guest path and host source
// (or, with Data set, its contents).
type stageFile struct {
	guest string
	host  string
	data  []byte
	mode  os.FileMode
}

// buildInitramfs writes an uncompressed newc cpio archive of files to out,
// staged under stage, which it removes once the archive is written.
// It is not compressed: QEMU loads it straight into guest memory, and
// gunzip under TCG emulation would cost seconds for our test binaries.
func buildInitramfs(ctx context.Context, stage, out string, files []stageFile) error {
	dirs := map[string]bool{}
	var names []string
	for _, f := range files {
		rel := strings.TrimPrefix(path.Clean("/"+f.guest), "/")
		if rel == "" || rel == "." {
			return fmt.Errorf("kvmhost: bad guest path %q", f.guest)
		}
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
		dst := filepath.Join(stage, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		var err error
		if f.data != nil {
			err = os.WriteFile(dst, f.data, f.mode)
		} else {
			err = linkOrCopy(f.host, dst, f.mode)
		}
		if err != nil {
			return fmt.Errorf("kvmhost: staging %s: %w", f.guest, err)
		}
		names = append(names, rel)
	}
	for d := range dirs {
		names = append(names, d)
	}
	hostOf := map[string]string{}
	for _, f := range files {
		if f.host != "" {
			hostOf[strings.TrimPrefix(path.Clean("/"+f.guest), "/")] = f.host
		}
	}
	orderLikeHost(names, hostOf)
	o, err := os.Create(out)
	if err != nil {
		return err
	}
	defer o.Close()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "cpio", "-o", "-H", "newc", "--quiet")
	cmd.Dir = stage
	cmd.Stdin = strings.NewReader(strings.Join(names, "\n") + "\n")
	cmd.Stdout = o
	cmd.Stderr = &stderr
	err = cmd.Run()
	// The archive holds the bytes now: the staged hard links go at once,
	// not at the run's end, so that the host's files show their own link
	// counts (a stat or tar on the host while the guest runs, as a
	// native run beside this one, saw 2).
	if rerr := os.RemoveAll(stage); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("kvmhost: cpio: %w: %s", err, stderr.String())
	}
	return o.Close()
}

// orderLikeHost sorts the archive's names (relative guest paths) so that
// the guest lists each directory in the order the host does: the guest's
// rootfs lists a directory's entries in the order they were made, and
// cpio makes them in archive order. hostOf maps a name to its host file;
// the directory holding a file whose name is its host file's takes the
// host file's directory as its own, and so on up while the names match. Among siblings a name's place is its host file's
// place in its host directory's listing (getdents order, not sorted);
// names the host does not list come after, by name. A parent comes
// before its children.
func orderLikeHost(names []string, hostOf map[string]string) {
	hostOf = maps.Clone(hostOf)
	for rel, h := range maps.Clone(hostOf) {
		// Up from the file while the guest's names are the host's.
		for path.Base(rel) == filepath.Base(h) {
			d, hd := path.Dir(rel), filepath.Dir(h)
			if _, ok := hostOf[d]; ok || d == "." {
				break
			}
			hostOf[d] = hd
			rel, h = d, hd
		}
	}
	listings := map[string]map[string]int{}
	place := func(rel string) int {
		hd, ok := hostOf[path.Dir(rel)]
		if !ok {
			return math.MaxInt
		}
		l, ok := listings[hd]
		if !ok {
			l = map[string]int{}
			if d, err := os.Open(hd); err == nil {
				ns, _ := d.Readdirnames(-1)
				d.Close()
				for i, n := range ns {
					l[n] = i
				}
			}
			listings[hd] = l
		}
		if i, ok := l[path.Base(rel)]; ok {
			return i
		}
		return math.MaxInt
	}
	sort.SliceStable(names, func(i, j int) bool {
		a, b := strings.Split(names[i], "/"), strings.Split(names[j], "/")
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] == b[k] {
				continue
			}
			pa, pb := place(strings.Join(a[:k+1], "/")), place(strings.Join(b[:k+1], "/"))
			if pa != pb {
				return pa < pb
			}
			return a[k] < b[k]
		}
		return len(a) < len(b)
	})
}
