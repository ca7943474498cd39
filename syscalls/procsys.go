package syscalls

import (
	"bytes"
	"fmt"
	iofs "io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The machine-wide files of the guest's /proc and /sys: what a program
// reads to learn its machine's CPUs, load, uptime, kernel and mounts. The
// guest's machine is the host as far as the program can tell (uname is
// the host's), with Config.CPUs CPUs: the load, uptime, boot time and
// kernel counters are the host's, read from the host's /proc
// (Config.HostProc) when the file is read; the CPUs are the first
// Config.CPUs of those mmvm may run on, numbered from 0; the threads and
// the mounts are the guest's own.

// hostProc is the host's /proc the machine-wide files are drawn from.
func (p *Process) hostProc() iofs.FS {
	if p.cfg.HostProc != nil {
		return p.cfg.HostProc
	}
	return os.DirFS("/proc")
}

// cpus is how many CPUs the guest has (cpuMask's).
func (p *Process) cpus() int { return min(max(p.cfg.CPUs, 1), 64) }

// cpuListText is the CPU list of CPUs 0 to n-1 as Linux's %*pbl prints
// it (/sys/devices/system/cpu/online, Cpus_allowed_list): "0" or "0-N".
func cpuListText(n int) string {
	if n <= 1 {
		return "0"
	}
	return fmt.Sprintf("0-%d", n-1)
}

// cpuMaskHex is mask as Linux's %*pb prints a mask of n bits: hex digits
// for the n bits, grouped by 32 bits with commas (Cpus_allowed).
func cpuMaskHex(mask uint64, n int) string {
	digits := (n + 3) / 4
	s := fmt.Sprintf("%0*x", digits, mask)
	s = s[len(s)-digits:]
	var groups []string
	for len(s) > 8 {
		groups = append([]string{s[len(s)-8:]}, groups...)
		s = s[:len(s)-8]
	}
	return strings.Join(append([]string{s}, groups...), ",")
}

// hostCPUs are the host CPUs the guest's CPUs 0 to n-1 are: the first n
// of those mmvm may run on (its affinity mask when it started), or 0 to
// n-1 where that cannot be read.
func hostCPUs(n int) []int {
	out := make([]int, 0, n)
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		for c := 0; c < len(set)*64 && len(out) < n; c++ {
			if set.IsSet(c) {
				out = append(out, c)
			}
		}
	}
	for c := 0; len(out) < n; c++ {
		out = append(out, c)
	}
	return out
}

// cpuinfoText is /proc/cpuinfo: the host's paragraph of each of the
// guest's CPUs, its processor line numbered as the guest numbers it.
func (p *Process) cpuinfoText() []byte {
	host, err := iofs.ReadFile(p.hostProc(), "cpuinfo")
	if err != nil {
		return nil
	}
	byCPU := map[int]string{}
	for _, para := range strings.SplitAfter(string(host), "\n\n") {
		var n int
		if _, err := fmt.Sscanf(para, "processor\t: %d\n", &n); err == nil {
			byCPU[n] = para
		}
	}
	var b strings.Builder
	for i, c := range hostCPUs(p.cpus()) {
		para, ok := byCPU[c]
		if !ok {
			continue
		}
		_, rest, _ := strings.Cut(para, "\n")
		fmt.Fprintf(&b, "processor\t: %d\n%s", i, rest)
	}
	return []byte(b.String())
}

// statText is /proc/stat: the "cpu" line summed over the guest's CPUs and
// each one's line (the host's figures of the host CPU it is), then the
// host's other lines (interrupts, context switches, boot time, forks,
// runnable and blocked tasks, softirqs).
func (p *Process) procStatText() []byte {
	host, err := iofs.ReadFile(p.hostProc(), "stat")
	if err != nil {
		return nil
	}
	byCPU := map[int][]uint64{}
	var rest []string
	for _, line := range strings.SplitAfter(string(host), "\n") {
		name, fields, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(name, "cpu") {
			if line != "" {
				rest = append(rest, line)
			}
			continue
		}
		n, err := strconv.Atoi(name[3:])
		if err != nil {
			continue // the host's total: the guest's is summed below
		}
		for _, f := range strings.Fields(fields) {
			v, _ := strconv.ParseUint(f, 10, 64)
			byCPU[n] = append(byCPU[n], v)
		}
	}
	var total []uint64
	var lines []string
	for i, c := range hostCPUs(p.cpus()) {
		v := byCPU[c]
		if v == nil {
			continue
		}
		total = append(total, make([]uint64, max(0, len(v)-len(total)))...)
		for j, x := range v {
			total[j] += x
		}
		lines = append(lines, fmt.Sprintf("cpu%d %s\n", i, joinUints(v, " ")))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cpu  %s\n", joinUints(total, " "))
	b.WriteString(strings.Join(lines, ""))
	b.WriteString(strings.Join(rest, ""))
	return []byte(b.String())
}

func joinUints(v []uint64, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatUint(x, 10)
	}
	return strings.Join(s, sep)
}

// uptimeText is /proc/uptime: the host's (its uptime, and the idle time
// of all its CPUs), which the start times in /proc/self/stat count from.
func (p *Process) uptimeText() []byte {
	b, _ := iofs.ReadFile(p.hostProc(), "uptime")
	return b
}

// loadavgText is /proc/loadavg: the host's three load averages, then the
// guest's runnable threads over all its threads, and the last id it gave
// (Linux's figures for the pid namespace; mmvm's VM is its own).
func (p *Process) loadavgText() []byte {
	host, _ := iofs.ReadFile(p.hostProc(), "loadavg")
	f := strings.Fields(string(host))
	if len(f) < 3 {
		f = []string{"0.00", "0.00", "0.00"}
	}
	running := 0
	for _, o := range p.tree.procs {
		if o.ended.Load() {
			continue
		}
		for _, t := range o.tasks {
			if !t.sleeping {
				running++
			}
		}
	}
	return fmt.Appendf(nil, "%s %s %s %d/%d %d\n", f[0], f[1], f[2], running, p.tree.threads(), p.tree.lastID)
}

// uname is what uname reports (Config.Uname, else the host's).
func (p *Process) uname() Uname {
	if p.tree.uts != nil {
		return *p.tree.uts
	}
	if p.cfg.Uname == (Uname{}) {
		return HostUname()
	}
	return p.cfg.Uname
}

// versionText is /proc/version, "Linux version RELEASE (BUILDER) VERSION":
// the host's, with the release and version uname reports where those are
// not the host's own (the outer host's, inside QEMU).
func (p *Process) versionText() []byte {
	u := p.uname()
	host, err := iofs.ReadFile(p.hostProc(), "version")
	builder := "(unknown)"
	if err == nil {
		s := strings.TrimSuffix(string(host), "\n")
		if u == HostUname() {
			return append([]byte(s), '\n')
		}
		// The builder lies between the release (one word after "Linux
		// version") and the version, which starts with '#'.
		f := strings.SplitN(s, " ", 4)
		if end := strings.LastIndex(s, " #"); len(f) == 4 && end > len(f[0])+len(f[1])+len(f[2])+2 {
			builder = s[len(f[0])+len(f[1])+len(f[2])+3 : end]
		}
	}
	return fmt.Appendf(nil, "%s version %s %s %s\n", u[0], u[2], builder, u[3])
}

// uuidText is /proc/sys/kernel/random/uuid: a new random (version 4,
// RFC 4122 variant) UUID at each open, from the guest's random source.
func (p *Process) uuidText() []byte {
	var u [16]byte
	p.cfg.Random(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Appendf(nil, "%x-%x-%x-%x-%x\n", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// kernelFiles are /proc/sys/kernel's files: uname's names, and the
// highest pid the guest's allocator gives plus one.
var kernelFiles = []struct {
	name string
	gen  func(p *Process) []byte
}{
	{"hostname", func(p *Process) []byte { return utsText(p.uname()[1]) }},
	{"domainname", func(p *Process) []byte { return utsText(p.uname()[5]) }},
	{"ostype", func(p *Process) []byte { return []byte(p.uname()[0] + "\n") }},
	{"osrelease", func(p *Process) []byte { return []byte(p.uname()[2] + "\n") }},
	{"version", func(p *Process) []byte { return []byte(p.uname()[3] + "\n") }},
	{"pid_max", func(p *Process) []byte { return fmt.Appendf(nil, "%d\n", pidMax) }},
	{"shmmax", func(p *Process) []byte { return fmt.Appendf(nil, "%d\n", uint64(shmMax)) }},
	{"shmall", func(p *Process) []byte { return fmt.Appendf(nil, "%d\n", uint64(shmMax)) }},
	{"shmmni", func(p *Process) []byte { return fmt.Appendf(nil, "%d\n", shmMNI) }},
	{"shm_rmid_forced", func(p *Process) []byte { return []byte("0\n") }},
}

// ipcSysctl is one tunable file: its name and values, each value's
// bounds (proc_ipc_dointvec_minmax: a value outside them is EINVAL, and
// nothing changes), and a check of the values once written (sem's
// semmni: outside 0..IPCMNI it is put back, ERANGE, the others kept).
type ipcSysctl struct {
	name   string
	get    func(l *ipcLimits) []*int
	lo, hi int
	check  func(l *ipcLimits, old []int) unix.Errno
}

// ipcSysctls are /proc/sys/kernel's files of the IPC namespace's
// tunables, which root may write.
var ipcSysctls = []ipcSysctl{
	{"msgmax", func(l *ipcLimits) []*int { return []*int{&l.msgMax} }, 0, math.MaxInt32, nil},
	{"msgmnb", func(l *ipcLimits) []*int { return []*int{&l.msgMnb} }, 0, math.MaxInt32, nil},
	{"msgmni", func(l *ipcLimits) []*int { return []*int{&l.msgMni} }, 0, ipcMNI, nil},
	{"sem", func(l *ipcLimits) []*int { return []*int{&l.semMsl, &l.semMns, &l.semOpm, &l.semMni} },
		math.MinInt32, math.MaxInt32, func(l *ipcLimits, old []int) unix.Errno {
			if l.semMni < 0 || l.semMni > ipcMNI {
				l.semMni = old[3]
				return unix.ERANGE
			}
			return 0
		}},
}

// ipcSysctlText is a tunable file's text: its values tab-separated.
func ipcSysctlText(v []*int) []byte {
	var b []byte
	for i, x := range v {
		if i > 0 {
			b = append(b, '\t')
		}
		b = strconv.AppendInt(b, int64(*x), 10)
	}
	return append(b, '\n')
}

// ipcSysctlWrite sets the tunables of f from the decimal ints in b, as
// proc_dointvec: as many as b has (past those, b is ignored), the rest
// unchanged. A write past the start changes nothing
// (sysctl_writes_strict); EINVAL for text that is not ints or a value
// out of bounds.
func ipcSysctlWrite(l *ipcLimits, f ipcSysctl, b []byte, off int64) (int, unix.Errno) {
	if off != 0 {
		return len(b), 0
	}
	dst := f.get(l)
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, unix.EINVAL
	}
	fields = fields[:min(len(fields), len(dst))]
	vals := make([]int, len(fields))
	for i, x := range fields {
		v, err := strconv.ParseInt(x, 10, 32)
		if err != nil || int(v) < f.lo || int(v) > f.hi {
			return 0, unix.EINVAL
		}
		vals[i] = int(v)
	}
	old := make([]int, len(dst))
	for i, p := range dst {
		old[i] = *p
	}
	for i, v := range vals {
		*dst[i] = v
	}
	if f.check != nil {
		if e := f.check(l, old); e != 0 {
			return 0, e
		}
	}
	return len(b), 0
}

// numberSysctlWrite serves a write of a one-number sysctl file as
// Linux's proc_do*vec_minmax: set takes the first field, and a field that
// is missing, not a number or outside [lo, hi] is EINVAL; a write past
// offset 0 is taken whole and changes nothing.
func numberSysctlWrite(b []byte, off int64, lo, hi int64, set func(int64)) (int, unix.Errno) {
	if off != 0 {
		return len(b), 0
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, unix.EINVAL
	}
	v, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, unix.EINVAL
	}
	set(v)
	return len(b), 0
}

// addMachineFiles adds /proc's machine-wide files, /sys's CPU lists
// (glibc's get_nprocs and sysconf read /sys/devices/system/cpu/online and
// possible) and CPU directories, and the transparent huge page size to
// fs. The guest's CPU count (Config.CPUs) is fixed when fs is built.
func (p *Process) addMachineFiles(fs *fileSystem, text func(gen func(p *Process) []byte) *node) {
	proc := fs.mkdirAll("/proc")
	for _, f := range []struct {
		name string
		gen  func(p *Process) []byte
	}{
		{"cpuinfo", (*Process).cpuinfoText},
		{"loadavg", (*Process).loadavgText},
		{"mounts", (*Process).mountsText},
		{"stat", (*Process).procStatText},
		{"uptime", (*Process).uptimeText},
		{"version", (*Process).versionText},
	} {
		proc.children[f.name] = text(f.gen)
	}
	sysvipc := fs.mkdirAll("/proc/sysvipc")
	sysvipc.children["shm"] = text((*Process).sysvipcShmText)
	sysvipc.children["msg"] = text((*Process).sysvipcMsgText)
	sysvipc.children["sem"] = text((*Process).sysvipcSemText)
	kernel := fs.mkdirAll("/proc/sys/kernel")
	for _, f := range kernelFiles {
		kernel.children[f.name] = text(f.gen)
	}
	for _, f := range ipcSysctls {
		n := text(func(p *Process) []byte { return ipcSysctlText(f.get(p.tree.ipcLimits())) })
		n.writeAt = func(p *Process, b []byte, off int64) (int, unix.Errno) {
			return ipcSysctlWrite(p.tree.ipcLimits(), f, b, off)
		}
		kernel.children[f.name] = n
	}
	mq := fs.mkdirAll("/proc/sys/fs/mqueue")
	for _, f := range mqSysctls {
		n := text(func(p *Process) []byte { return fmt.Appendf(nil, "%d\n", *f.get(p.tree.mqueues.limits())) })
		n.writeAt = func(p *Process, b []byte, off int64) (int, unix.Errno) {
			return numberSysctlWrite(b, off, int64(f.lo), int64(f.hi), func(v int64) { *f.get(p.tree.mqueues.limits()) = int(v) })
		}
		mq.children[f.name] = n
	}
	// fs.epoll.max_user_watches (epoll.go), which root may change.
	watches := text(func(p *Process) []byte { return fmt.Appendf(nil, "%d\n", p.epollMaxWatches()) })
	watches.writeAt = func(p *Process, b []byte, off int64) (int, unix.Errno) {
		return numberSysctlWrite(b, off, 0, math.MaxInt64, func(v int64) { p.tree.epollWatches.max, p.tree.epollWatches.maxSet = v, true })
	}
	fs.mkdirAll("/proc/sys/fs/epoll").children["max_user_watches"] = watches
	random := fs.mkdirAll("/proc/sys/kernel/random")
	random.children["boot_id"] = text(func(p *Process) []byte {
		b, _ := iofs.ReadFile(p.hostProc(), "sys/kernel/random/boot_id")
		return b
	})
	random.children["uuid"] = text((*Process).uuidText)
	for _, name := range []string{"entropy_avail", "poolsize"} {
		random.children[name] = text(func(*Process) []byte { return []byte("256\n") })
	}
	// The VM network's limits (socket.go, socketinet.go): Go's net
	// reads somaxconn for its listen backlog.
	for dir, files := range map[string]map[string]string{
		"/proc/sys/net/core": {"somaxconn": fmt.Sprintf("%d\n", sockSomaxconn),
			"wmem_default": fmt.Sprintf("%d\n", sockWmemDefault), "wmem_max": fmt.Sprintf("%d\n", sockWmemMax),
			"rmem_default": fmt.Sprintf("%d\n", sockWmemDefault), "rmem_max": fmt.Sprintf("%d\n", sockWmemMax)},
		"/proc/sys/net/ipv4": {"ip_local_port_range": fmt.Sprintf("%d\t%d\n", ephemeralLow, ephemeralHigh),
			"ip_unprivileged_port_start": fmt.Sprintf("%d\n", protSock)},
		"/proc/sys/net/unix": {"max_dgram_qlen": fmt.Sprintf("%d\n", sockMaxDgramQlen)},
	} {
		d := fs.mkdirAll(dir)
		for name, v := range files {
			d.children[name] = text(func(*Process) []byte { return []byte(v) })
		}
	}
	cpu := fs.mkdirAll("/sys/devices/system/cpu")
	for _, name := range []string{"online", "possible", "present"} {
		cpu.children[name] = text(func(p *Process) []byte { return []byte(cpuListText(p.cpus()) + "\n") })
	}
	// A directory per CPU, as programs count CPUs by listing cpuN
	// entries (stress-ng reports an error when it finds none). Each
	// but cpu0, which x86-64 cannot take offline, has its online file,
	// and each its cache directories (addCPUCaches).
	for i, host := range hostCPUs(p.cpus()) {
		d := fs.mkdirAll(fmt.Sprintf("/sys/devices/system/cpu/cpu%d", i))
		if i > 0 {
			d.children["online"] = text(func(*Process) []byte { return []byte("1\n") })
		}
		p.addCPUCaches(fs, d, host, text)
	}
	// The PMD size, x86-64's 2 MiB, which Go's runtime reads at start
	// and the mm selftests read to size their huge-page cases.
	thp := fs.mkdirAll("/sys/kernel/mm/transparent_hugepage")
	thp.children["hpage_pmd_size"] = text(func(*Process) []byte { return []byte("2097152\n") })
	// The mode mm's residency follows: anonymous memory is resident a
	// page at a time as touched, except where a fault-around unit is a
	// whole 2 MiB leaf (mm/README.md). The mm selftests read it to know
	// whether THP is there (thp_is_enabled).
	thp.children["enabled"] = text(func(*Process) []byte { return []byte("always [madvise] never\n") })
	// The 2 MiB hugetlb pool, empty as /proc/meminfo says (hugetlb.go):
	// the mm selftests (thuge-gen, the hugetlb tests) find the sizes
	// there and skip what needs pages.
	pool := fs.mkdirAll("/sys/kernel/mm/hugepages/hugepages-2048kB")
	for _, name := range []string{"free_hugepages", "nr_hugepages", "nr_hugepages_mempolicy", "nr_overcommit_hugepages", "resv_hugepages", "surplus_hugepages"} {
		pool.children[name] = text(func(*Process) []byte { return []byte("0\n") })
	}
}

// cpuCacheFiles are the files of a cache's sysfs directory
// (cpuN/cache/indexM) that describe the cache itself; shared_cpu_list and
// shared_cpu_map name host CPUs, and are left out.
var cpuCacheFiles = []string{"coherency_line_size", "id", "level", "number_of_sets",
	"physical_line_partition", "size", "type", "ways_of_associativity"}

// addCPUCaches gives the guest CPU directory d the cache directories of
// host CPU host, as Linux's cacheinfo shows them (programs size their
// buffers by them: stress-ng's cache and prefetch stressors): the
// caches the guest's CPUID reports too. Each file reads the host's when
// read; the host's directories are listed now (Config.HostSys), and a
// host without them gives none.
func (p *Process) addCPUCaches(fs *fileSystem, d *node, host int, text func(gen func(p *Process) []byte) *node) {
	sys := p.cfg.HostSys
	if sys == nil {
		sys = os.DirFS("/sys")
	}
	dir := fmt.Sprintf("devices/system/cpu/cpu%d/cache", host)
	entries, err := iofs.ReadDir(sys, dir)
	if err != nil {
		return
	}
	cache := fs.newNode(nodeDir)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "index") {
			continue
		}
		index := fs.newNode(nodeDir)
		for _, name := range cpuCacheFiles {
			file := path.Join(dir, e.Name(), name)
			if _, err := iofs.Stat(sys, file); err != nil {
				continue
			}
			index.children[name] = text(func(*Process) []byte {
				b, _ := iofs.ReadFile(sys, file)
				return b
			})
		}
		cache.children[e.Name()] = index
	}
	d.children["cache"] = cache
}

// mount is one entry of the guest's mount table.
type mount struct {
	// point is where it is mounted, root the part of its file system
	// shown there.
	point, root string
	// source and fsType are what mounts' first and third fields say.
	source, fsType string
	// sfs is what statfs reports of it: its flags give the mount
	// options.
	sfs unix.Statfs_t
	// dev is the device stat shows for its files.
	dev uint64
}

// mounts is the guest's mount table, in mount order: its root, /dev,
// /proc and /sys, each tmpfs, then each view, outermost first, over the
// directories it shadows. Each entry is what stat and statfs show of its mount point.
func (p *Process) mounts() []mount {
	fsys := p.fs()
	synthetic := func(point, source, fsType string, dev uint64) mount {
		st := unix.Stat_t{Dev: dev}
		return mount{point: point, root: "/", source: source, fsType: fsType, sfs: statStatfs(&st), dev: dev}
	}
	out := []mount{
		synthetic("/", "none", "tmpfs", rootDev),
		synthetic("/dev", "none", "tmpfs", devDev),
		synthetic("/proc", "proc", "proc", procDev),
		synthetic("/sys", "sysfs", "sysfs", sysDev),
	}
	for _, t := range fsys.tmpfs {
		out = append(out, mount{point: t.mount, root: "/", source: "tmpfs", fsType: "tmpfs", sfs: p.tmpStatfs(t), dev: t.dev})
	}
	for _, v := range fsys.views {
		fd, e := openBeneath(v, ".", unix.O_PATH|unix.O_DIRECTORY, true)
		if e != 0 {
			continue
		}
		var st unix.Stat_t
		sfs, e := p.hostStatfs(fd, true)
		if e != 0 || unix.Fstat(fd, &st) != nil {
			unix.Close(fd)
			continue
		}
		unix.Close(fd)
		source, fsType, root := hostMountOf(st.Dev, v.Host)
		dev, _ := fsys.hostIno(&st)
		out = append(out, mount{point: v.Guest, root: root, source: source, fsType: fsType, sfs: sfs, dev: dev})
	}
	return out
}

// hostMountOf is the source and file system type of the host's mount
// of device dev that holds the host directory dir (the one with the
// longest mount point, the last listed of those), from the host's
// /proc/self/mountinfo, and the path of dir within that file system;
// "none" and dir where none is found.
func hostMountOf(dev uint64, dir string) (source, fsType, root string) {
	source, fsType, root = "none", "none", dir
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return source, fsType, root
	}
	want := fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
	best := -1
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) || f[2] != want {
			continue
		}
		point := unescapeMountField(f[4])
		if !pathWithin(dir, point) || len(point) < best {
			continue
		}
		best = len(point)
		fsType, source = f[sep+1], unescapeMountField(f[sep+2])
		root = path.Join(unescapeMountField(f[3]), strings.TrimPrefix(dir, strings.TrimSuffix(point, "/")))
	}
	return source, fsType, root
}

// mountOptions are the per-mount options Linux's show_mnt_opts and
// show_vfsmnt print for statfs flags: rw or ro, then nosuid, nodev,
// noexec, and the access-time mode.
func mountOptions(flags int64) string {
	opts := []string{"rw"}
	if flags&unix.ST_RDONLY != 0 {
		opts[0] = "ro"
	}
	for _, o := range []struct {
		bit  int64
		name string
	}{
		{unix.ST_NOSUID, "nosuid"}, {unix.ST_NODEV, "nodev"}, {unix.ST_NOEXEC, "noexec"},
		{unix.ST_NOATIME, "noatime"}, {unix.ST_NODIRATIME, "nodiratime"}, {unix.ST_RELATIME, "relatime"},
	} {
		if flags&o.bit != 0 {
			opts = append(opts, o.name)
		}
	}
	return strings.Join(opts, ",")
}

// superOptions is the file system's own options as mountinfo's last field
// shows them: ro or rw, as the mount is (mmvm's views are read-only
// mounts of what the host has).
func superOptions(flags int64) string {
	if flags&unix.ST_RDONLY != 0 {
		return "ro"
	}
	return "rw"
}

// escapeMountField escapes a path as Linux's mangle does for the mount
// tables: space, tab, newline and backslash in octal.
func escapeMountField(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeMountField undoes escapeMountField.
func unescapeMountField(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountsText is /proc/mounts and /proc/self/mounts, as Linux's
// show_vfsmnt: source, mount point, type, options, "0 0".
func (p *Process) mountsText() []byte {
	var b strings.Builder
	for _, m := range p.mounts() {
		fmt.Fprintf(&b, "%s %s %s %s 0 0\n", escapeMountField(m.source), escapeMountField(m.point), m.fsType, mountOptions(m.sfs.Flags))
	}
	return []byte(b.String())
}

// firstMountID is the guest's root mount's id in mountinfo; its parent,
// firstMountID-1, is the namespace's hidden root, as a chroot's parent is
// not shown.
const firstMountID = 21

// mountinfoText is /proc/self/mountinfo, as Linux's show_mountinfo: mount
// id, parent id, major:minor, root, mount point, options, no optional
// fields (no mount is shared), "-", type, source, super options. A mount's
// parent is the latest mount before it whose point holds its own.
func (p *Process) mountinfoText() []byte {
	ms := p.mounts()
	var b strings.Builder
	for i, m := range ms {
		parent := firstMountID - 1
		for j := i - 1; j >= 0; j-- {
			if pathWithin(m.point, ms[j].point) {
				parent = firstMountID + j
				break
			}
		}
		fmt.Fprintf(&b, "%d %d %d:%d %s %s %s - %s %s %s\n", firstMountID+i, parent, unix.Major(m.dev), unix.Minor(m.dev),
			escapeMountField(m.root), escapeMountField(m.point), mountOptions(m.sfs.Flags), m.fsType, escapeMountField(m.source), superOptions(m.sfs.Flags))
	}
	return []byte(b.String())
}

// pathWithin says whether the cleaned absolute path name is dir or lies
// under it.
func pathWithin(name, dir string) bool {
	return dir == "/" || name == dir || strings.HasPrefix(name, dir+"/")
}
