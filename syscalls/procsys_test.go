package syscalls

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/sys/unix"
)

// hostProcFixture is a host /proc of four CPUs, in Linux 6.18's formats.
var hostProcFixture = fstest.MapFS{
	"cpuinfo": {Data: []byte("processor\t: 0\nvendor_id\t: X\ncore id\t\t: 0\n\nprocessor\t: 1\nvendor_id\t: X\ncore id\t\t: 1\n\n" +
		"processor\t: 2\nvendor_id\t: X\ncore id\t\t: 2\n\nprocessor\t: 3\nvendor_id\t: X\ncore id\t\t: 3\n\n")},
	"stat": {Data: []byte("cpu  10 0 20 300 0 0 1 0 0 0\ncpu0 1 0 2 30 0 0 0 0 0 0\ncpu1 2 0 4 60 0 0 1 0 0 0\n" +
		"cpu2 3 0 6 90 0 0 0 0 0 0\ncpu3 4 0 8 120 0 0 0 0 0 0\nintr 5 1 2\nctxt 99\nbtime 1700000000\nprocesses 7\nprocs_running 1\nprocs_blocked 0\nsoftirq 3 1 1 1 0 0 0 0 0 0 0\n")},
	"uptime":                    {Data: []byte("12345.67 40000.01\n")},
	"loadavg":                   {Data: []byte("0.52 0.58 0.59 3/465 9999\n")},
	"version":                   {Data: []byte("Linux version 6.18.0-host (b@h) (gcc 14) #7 SMP PREEMPT_DYNAMIC\n")},
	"sys/kernel/random/boot_id": {Data: []byte("0f2c9a4e-1b7d-4e3a-9c55-7d1e2f3a4b5c\n")},
}

func procText(t *testing.T, p *Process, mem *flatMemory, name string) string {
	t.Helper()
	fd := openPath(p, mem, name, unix.O_RDONLY)
	if fd < 0 {
		t.Fatalf("open %s = %d", name, fd)
	}
	defer sc(p, unix.SYS_CLOSE, uint64(fd))
	return readAll(t, p, mem, fd)
}

// TestMachineFilesFormats checks /proc's machine-wide files and /sys's CPU
// lists, drawn from a host /proc of four CPUs for a guest of two: the
// guest's CPUs are the first two mmvm may run on, numbered from 0.
func TestMachineFilesFormats(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.cfg.HostProc = hostProcFixture
	p.cfg.CPUs = 2
	p.cfg.Uname = Uname{"Linux", "box", "6.18.0-guest", "#9 SMP", "x86_64", "(none)"}
	first := hostCPUs(2)
	cpuLine := func(c int) string {
		return map[int]string{0: "1 0 2 30 0 0 0 0 0 0", 1: "2 0 4 60 0 0 1 0 0 0", 2: "3 0 6 90 0 0 0 0 0 0", 3: "4 0 8 120 0 0 0 0 0 0"}[c]
	}
	if first[0] != 0 || first[1] != 1 {
		t.Skipf("mmvm may run on CPUs %v here: the fixture's figures assume 0 and 1", first)
	}
	for _, c := range []struct{ path, want string }{
		{"/proc/uptime", "12345.67 40000.01\n"},
		{"/proc/loadavg", "0.52 0.58 0.59 1/1 42\n"},
		{"/proc/stat", "cpu  3 0 6 90 0 0 1 0 0 0\ncpu0 " + cpuLine(0) + "\ncpu1 " + cpuLine(1) +
			"\nintr 5 1 2\nctxt 99\nbtime 1700000000\nprocesses 7\nprocs_running 1\nprocs_blocked 0\nsoftirq 3 1 1 1 0 0 0 0 0 0 0\n"},
		{"/proc/cpuinfo", "processor\t: 0\nvendor_id\t: X\ncore id\t\t: 0\n\nprocessor\t: 1\nvendor_id\t: X\ncore id\t\t: 1\n\n"},
		{"/proc/version", "Linux version 6.18.0-guest (b@h) (gcc 14) #9 SMP\n"},
		{"/proc/sys/kernel/ostype", "Linux\n"},
		{"/proc/sys/kernel/osrelease", "6.18.0-guest\n"},
		{"/proc/sys/kernel/hostname", "box\n"},
		{"/proc/sys/kernel/pid_max", "4194304\n"},
		{"/proc/sys/kernel/random/boot_id", "0f2c9a4e-1b7d-4e3a-9c55-7d1e2f3a4b5c\n"},
		// newTestProcess's random source gives 0xab bytes.
		{"/proc/sys/kernel/random/uuid", "abababab-abab-4bab-abab-abababababab\n"},
		{"/sys/devices/system/cpu/online", "0-1\n"},
		{"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "2097152\n"},
		{"/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n"},
		{"/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "0\n"},
		{"/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n"},
		{"/sys/devices/system/cpu/possible", "0-1\n"},
		{"/sys/devices/system/cpu/present", "0-1\n"},
		{"/proc/mounts", "none / tmpfs ro,relatime 0 0\nnone /dev tmpfs ro,relatime 0 0\n" +
			"proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\nsysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n" +
			"tmpfs /dev/shm tmpfs rw,relatime 0 0\ntmpfs /tmp tmpfs rw,relatime 0 0\n"},
		{"/proc/self/mountinfo", "21 20 0:32 / / ro,relatime - tmpfs none ro\n22 21 0:34 / /dev ro,relatime - tmpfs none ro\n" +
			"23 21 0:33 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n24 21 0:47 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n" +
			"25 22 0:35 / /dev/shm rw,relatime - tmpfs tmpfs rw\n26 21 0:36 / /tmp rw,relatime - tmpfs tmpfs rw\n"},
	} {
		if got := procText(t, p, mem, c.path); got != c.want {
			t.Errorf("%s:\n%q\nwant\n%q", c.path, got, c.want)
		}
	}
	// statfs of /sys is sysfs's, as its mount line says.
	if r := sc(p, unix.SYS_STATFS, putStr(mem, 0x8000, "/sys/devices"), base+0x200); r != 0 {
		t.Fatalf("statfs /sys/devices = %d", r)
	}
	if typ := leUint64(mem.mem[0x200:]); typ != unix.SYSFS_MAGIC {
		t.Errorf("statfs /sys/devices: type %#x, want sysfs's", typ)
	}
}

// TestMountFormatting checks the mount tables' escapes and options.
func TestMountFormatting(t *testing.T) {
	if got := escapeMountField("/a b\\c\td\n"); got != `/a\040b\134c\011d\012` {
		t.Errorf("escapeMountField = %q", got)
	}
	if got := unescapeMountField(`/a\040b\134c`); got != "/a b\\c" {
		t.Errorf("unescapeMountField = %q", got)
	}
	if got := mountOptions(unix.ST_RDONLY | unix.ST_NOSUID | unix.ST_NODEV | unix.ST_RELATIME); got != "ro,nosuid,nodev,relatime" {
		t.Errorf("mountOptions = %q", got)
	}
	for _, c := range []struct {
		mask uint64
		n    int
		want string
	}{{1, 1, "1"}, {3, 2, "3"}, {0xff, 8, "ff"}, {0x3ff, 10, "3ff"}, {^uint64(0), 64, "ffffffff,ffffffff"}, {1<<36 - 1, 36, "f,ffffffff"}} {
		if got := cpuMaskHex(c.mask, c.n); got != c.want {
			t.Errorf("cpuMaskHex(%#x, %d) = %q, want %q", c.mask, c.n, got, c.want)
		}
	}
}

// TestProcessFilesFormats checks /proc/self/stat's 52 fields, statm and
// environ against the process's recorded state, and /proc/self/task.
func TestProcessFilesFormats(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.SetCommandLine([]string{"prog", "a"})
	p.SetEnvironment([]string{"A=1", "B="})
	p.SetImageLayout(ImageLayout{StartCode: 0x401000, EndCode: 0x402345, StartData: 0x404000, EndData: 0x404100,
		StartBrk: 0x405000, StartStack: 0x7ffffffde000, ArgStart: 0x7ffffffdf000, ArgEnd: 0x7ffffffdf007, EnvStart: 0x7ffffffdf007, EnvEnd: 0x7ffffffdf00e})
	copy(p.main.comm[:], "prog")
	if got := procText(t, p, mem, "/proc/self/environ"); got != "A=1\x00B=\x00" {
		t.Errorf("environ = %q", got)
	}
	stat := procText(t, p, mem, "/proc/self/stat")
	f := strings.Fields(stat)
	if len(f) != 52 || !strings.HasSuffix(stat, " 0\n") {
		t.Fatalf("stat has %d fields: %q", len(f), stat)
	}
	for i, want := range map[int]string{1: "42", 2: "(prog)", 3: "R", 4: "0", 5: "42", 7: "0", 8: "-1", 18: "20", 19: "0", 20: "1",
		21: "0", 25: "18446744073709551615", 26: "4198400", 27: "4203333", 28: "140737488216064", 38: "17",
		45: "4210688", 46: "4210944", 47: "4214784", 48: "140737488220160", 49: "140737488220167", 50: "140737488220167", 51: "140737488220174", 52: "0"} {
		if f[i-1] != want {
			t.Errorf("stat field %d = %s, want %s", i, f[i-1], want)
		}
	}
	// statm's text is the code's pages: 0x401000 to 0x403000.
	if got := strings.Fields(procText(t, p, mem, "/proc/self/statm")); len(got) != 7 || got[3] != "2" || got[4] != "0" || got[6] != "0" {
		t.Errorf("statm = %v", got)
	}
	fd := openPath(p, mem, "/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY)
	if names := getdentsNames(t, p, mem, uint64(fd)); strings.Join(names, " ") != ". .. 42" {
		t.Errorf("/proc/self/task lists %v", names)
	}
	if got := procText(t, p, mem, "/proc/self/task/42/comm"); got != "prog\n" {
		t.Errorf("task comm = %q", got)
	}
	if got := procText(t, p, mem, "/proc/self/task/42/status"); !strings.Contains(got, "\nState:\tR (running)\nTgid:\t42\nNgid:\t0\nPid:\t42\n") ||
		!strings.Contains(got, "\nVmExe:\t       8 kB\n") {
		t.Errorf("task status:\n%s", got)
	}
	if got := procText(t, p, mem, "/proc/self/task/42/stat"); got != stat {
		t.Errorf("the main thread's task stat %q is not the process's %q", got, stat)
	}
	if r := openPath(p, mem, "/proc/self/task/43/stat", unix.O_RDONLY); r != -int64(unix.ENOENT) {
		t.Errorf("open of a thread that is none = %d", r)
	}
}

// TestThreadNames checks that PR_SET_NAME names the calling thread alone,
// as /proc/self/task shows it, and that the process is named by its main
// thread's.
func TestThreadNames(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	copy(p.main.comm[:], "prog")
	t2 := p.newTask(43)
	t2.comm = p.main.comm
	p.tasks[43] = t2
	if r := t2.Syscall(unix.SYS_PRCTL, [6]uint64{unix.PR_SET_NAME, putStr(mem, 0x8000, "worker")}); r != 0 {
		t.Fatalf("PR_SET_NAME = %d", int64(r))
	}
	for _, c := range []struct{ path, want string }{
		{"/proc/self/comm", "prog\n"},
		{"/proc/self/task/42/comm", "prog\n"},
		{"/proc/self/task/43/comm", "worker\n"},
	} {
		if got := procText(t, p, mem, c.path); got != c.want {
			t.Errorf("%s = %q, want %q", c.path, got, c.want)
		}
	}
	if got := procText(t, p, mem, "/proc/self/task/43/stat"); !strings.HasPrefix(got, "43 (worker) R 0 42 ") || strings.Fields(got)[37] != "-1" {
		t.Errorf("the second thread's stat: %q", got)
	}
	if got := procText(t, p, mem, "/proc/self/status"); !strings.HasPrefix(got, "Name:\tprog\n") || !strings.Contains(got, "\nThreads:\t2\n") {
		t.Errorf("status:\n%s", got)
	}
	fd := openPath(p, mem, "/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY)
	if names := getdentsNames(t, p, mem, uint64(fd)); strings.Join(names, " ") != ". .. 42 43" {
		t.Errorf("/proc/self/task lists %v", names)
	}
}

// TestLimitsAndLinks checks /proc/self/limits' layout (Linux's column
// widths, "unlimited", no units for the priorities) and the cwd and root
// links.
func TestLimitsAndLinks(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	limits := procText(t, p, mem, "/proc/self/limits")
	for _, want := range []string{
		"Limit                     Soft Limit           Hard Limit           Units     \n",
		"\nMax stack size            8388608              1073741824           bytes     \n",
		"\nMax cpu time              unlimited            unlimited            seconds   \n",
		"\nMax nice priority         unlimited            unlimited            \n",
	} {
		if !strings.Contains(limits, want) {
			t.Errorf("limits lacks %q:\n%s", want, limits)
		}
	}
	if n := strings.Count(limits, "\n"); n != 17 {
		t.Errorf("limits has %d lines", n)
	}
	for _, c := range []struct{ path, want string }{{"/proc/self/cwd", "/"}, {"/proc/self/root", "/"}} {
		n := sc(p, unix.SYS_READLINK, putStr(mem, 0x8000, c.path), base+0x200, 100)
		if got := string(mem.mem[0x200:][:max(n, 0)]); got != c.want {
			t.Errorf("readlink %s = %q, want %q", c.path, got, c.want)
		}
	}
}

// TestOtherProcessFiles checks what a process sees of another process of
// the VM in /proc/<pid>: its stat, status and task directory, as ps and
// top read them, each the other process's.
func TestOtherProcessFiles(t *testing.T) {
	h := newProcHarness(t)
	h.root.SetCommandLine([]string{"parent"})
	copy(h.root.main.comm[:], "parent")
	child := h.fork(t, h.root.main)
	cmem := memOf(child.Process)
	copy(child.comm[:], "child\x00")
	for _, c := range []struct{ path, prefix string }{
		{"/proc/42/stat", "42 (parent) R 0 42 "},
		{"/proc/42/status", "Name:\tparent\n"},
		{"/proc/42/task/42/comm", "parent\n"},
		{"/proc/42/task/42/stat", "42 (parent) R 0 42 "},
		{"/proc/43/stat", "43 (child) R 42 42 "},
	} {
		if got := procText(t, child.Process, cmem, c.path); !strings.HasPrefix(got, c.prefix) {
			t.Errorf("%s = %q, want it to start %q", c.path, got, c.prefix)
		}
	}
	fd := openPath(child.Process, cmem, "/proc/42/task", unix.O_RDONLY|unix.O_DIRECTORY)
	if names := getdentsNames(t, child.Process, cmem, uint64(fd)); strings.Join(names, " ") != ". .. 42" {
		t.Errorf("/proc/42/task lists %v", names)
	}
}

// TestCPUDirectories checks /sys/devices/system/cpu's cpuN directories,
// one per guest CPU, which programs count CPUs by (stress-ng scans for
// them): cpu1 has an online file saying 1, cpu0 has none (x86-64 cannot
// take it offline), and no directory names a CPU the guest lacks.
func TestCPUDirectories(t *testing.T) {
	mem := &flatMemory{base: base, mem: make([]byte, 1<<16)}
	// The host CPU guest cpu1 runs on has a data cache and an L3 cache.
	dir := fmt.Sprintf("devices/system/cpu/cpu%d/cache/", hostCPUs(2)[1])
	sys := fstest.MapFS{
		dir + "index0/level": {Data: []byte("1\n")}, dir + "index0/type": {Data: []byte("Data\n")},
		dir + "index0/size": {Data: []byte("32K\n")}, dir + "index0/shared_cpu_list": {Data: []byte("1,3\n")},
		dir + "index3/level": {Data: []byte("3\n")}, dir + "index3/size": {Data: []byte("16384K\n")},
		dir + "uevent": {Data: []byte("\n")},
	}
	p := NewProcess(Config{Memory: mem, StdioFDs: [3]int{-1, -1, -1}, PID: 42, CPUs: 2, HostSys: sys})
	for _, c := range []struct{ path, want string }{
		{"/sys/devices/system/cpu/cpu1/cache/index0/level", "1\n"},
		{"/sys/devices/system/cpu/cpu1/cache/index0/type", "Data\n"},
		{"/sys/devices/system/cpu/cpu1/cache/index0/size", "32K\n"},
		{"/sys/devices/system/cpu/cpu1/cache/index3/size", "16384K\n"},
	} {
		if got := procText(t, p, mem, c.path); got != c.want {
			t.Errorf("%s = %q, want %q", c.path, got, c.want)
		}
	}
	cfd := openPath(p, mem, "/sys/devices/system/cpu/cpu1/cache", unix.O_RDONLY|unix.O_DIRECTORY)
	if got := strings.Join(getdentsNames(t, p, mem, uint64(cfd)), " "); got != ". .. index0 index3" {
		t.Errorf("cpu1/cache lists %q, want its index directories alone", got)
	}
	for _, path := range []string{"/sys/devices/system/cpu/cpu1/cache/index0/shared_cpu_list", "/sys/devices/system/cpu/cpu0/cache"} {
		if fd := openPath(p, mem, path, unix.O_RDONLY); fd != -int64(unix.ENOENT) {
			t.Errorf("open %s = %d, want ENOENT (host CPU names, or a host CPU without caches)", path, fd)
		}
	}
	for _, c := range []struct {
		path  string
		flags uint64
		want  int64
	}{
		{"/sys/devices/system/cpu/cpu0", unix.O_RDONLY | unix.O_DIRECTORY, 0},
		{"/sys/devices/system/cpu/cpu1", unix.O_RDONLY | unix.O_DIRECTORY, 0},
		{"/sys/devices/system/cpu/cpu2", unix.O_RDONLY | unix.O_DIRECTORY, -int64(unix.ENOENT)},
		{"/sys/devices/system/cpu/cpu0/online", unix.O_RDONLY, -int64(unix.ENOENT)},
	} {
		fd := openPath(p, mem, c.path, c.flags)
		if (fd >= 0) != (c.want == 0) || (fd < 0 && fd != c.want) {
			t.Errorf("open %s = %d, want %d", c.path, fd, c.want)
		}
		if fd >= 0 {
			sc(p, unix.SYS_CLOSE, uint64(fd))
		}
	}
	if got := procText(t, p, mem, "/sys/devices/system/cpu/cpu1/online"); got != "1\n" {
		t.Errorf("cpu1/online = %q, want \"1\\n\"", got)
	}
}

// TestEtcMtab checks /etc/mtab, a link to /proc/self/mounts as on Linux
// systems, which getmntent users (stress-ng's tmpfs stressor) read to find
// the mounts; a view of / shows the host's /etc instead.
func TestEtcMtab(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	n := sc(p, unix.SYS_READLINKAT, atFDCWD, putStr(mem, 0x8000, "/etc/mtab"), base+0x400, 64)
	if got := string(mem.mem[0x400 : 0x400+max(n, 0)]); got != "/proc/self/mounts" {
		t.Errorf("readlink /etc/mtab = %d %q", n, got)
	}
	if got, want := procText(t, p, mem, "/etc/mtab"), procText(t, p, mem, "/proc/self/mounts"); got != want || !strings.Contains(got, " /tmp tmpfs ") {
		t.Errorf("/etc/mtab:\n%s\nwant /proc/self/mounts:\n%s", got, want)
	}
	root := NewProcess(Config{Memory: mem, StdioFDs: [3]int{-1, -1, -1}, PID: 43, Views: []View{{Host: t.TempDir(), Guest: "/"}}})
	if fd := openPath(root, mem, "/etc/mtab", unix.O_RDONLY); fd != -int64(unix.ENOENT) {
		t.Errorf("open /etc/mtab under a view of an empty / = %d, want ENOENT", fd)
	}
}
