package kvmhost

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// EnvError reports a host that cannot run the QEMU guest, with what to do.
type EnvError struct {
	What string // what is missing or broken
	Fix  string // what the user should do
	Err  error  // the underlying failure, if any
}

func (e *EnvError) Error() string {
	s := "kvmhost: " + e.What
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s + "; " + e.Fix
}

func (e *EnvError) Unwrap() error { return e.Err }

// Host tools and the Debian packages that provide them.
const (
	qemuBinary  = "qemu-system-x86_64"
	qemuPackage = "qemu-system-x86"
	bbPackage   = "busybox-static"
	cpioPackage = "cpio"
	// kernelMeta is the Debian package that depends on the current cloud
	// kernel; its dependency is what we download.
	kernelMeta = "linux-image-cloud-amd64"
)

// busyboxPaths are where Debian's busybox-static puts its binary.
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// kvmModules are the kernel modules to load in the guest, in order, as
// paths below lib/modules/VERSION/kernel.
var kvmModules = []string{"virt/lib/irqbypass.ko", "arch/x86/kvm/kvm.ko", "arch/x86/kvm/kvm-amd.ko"}

// staticBusybox returns the path of a statically linked busybox, or "".
func staticBusybox() string {
	for _, p := range busyboxPaths {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p
		}
	}
	return ""
}

// missingPackages lists the Debian packages whose tools are absent.
func missingPackages() []string {
	var pkgs []string
	if _, err := exec.LookPath(qemuBinary); err != nil {
		pkgs = append(pkgs, qemuPackage)
	}
	if staticBusybox() == "" {
		pkgs = append(pkgs, bbPackage)
	}
	if _, err := exec.LookPath("cpio"); err != nil {
		pkgs = append(pkgs, cpioPackage)
	}
	return pkgs
}

// ensureTools installs the missing host tools with apt-get, when we can.
func ensureTools(ctx context.Context, log io.Writer) error {
	pkgs := missingPackages()
	if len(pkgs) == 0 {
		return nil
	}
	_, aptErr := exec.LookPath("apt-get")
	if err := cannotInstall(pkgs, os.Geteuid() == 0, aptErr == nil); err != nil {
		return err
	}
	fix := installFix(pkgs)
	fmt.Fprintf(log, "kvmhost: installing %s\n", strings.Join(pkgs, " "))
	install := func() error {
		return runLogged(ctx, log, "", "apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)...)
	}
	if err := install(); err != nil {
		// A fresh machine may have no package lists yet.
		if err := runLogged(ctx, log, "", "apt-get", "update", "-qq"); err != nil {
			return &EnvError{What: "apt-get update failed", Fix: fix, Err: err}
		}
		if err := install(); err != nil {
			return &EnvError{What: "apt-get install failed", Fix: fix, Err: err}
		}
	}
	if still := missingPackages(); len(still) > 0 {
		return &EnvError{What: "still missing after apt-get: " + strings.Join(still, ", "), Fix: fix}
	}
	return nil
}

func installFix(pkgs []string) string {
	return "install them: apt-get install -y " + strings.Join(pkgs, " ") + " (as root)"
}

// cannotInstall says why missing packages cannot be installed here, or nil.
func cannotInstall(pkgs []string, root, haveApt bool) error {
	switch {
	case !root:
		return &EnvError{What: "missing " + strings.Join(pkgs, ", ") + " and not root", Fix: installFix(pkgs)}
	case !haveApt:
		return &EnvError{What: "missing " + strings.Join(pkgs, ", ") + " and no apt-get", Fix: installFix(pkgs)}
	}
	return nil
}

// runLogged runs a command, sending its output to log only when it fails.
func runLogged(ctx context.Context, log io.Writer, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		log.Write(out)
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// Kernel is an unpacked guest kernel and the modules /init loads.
type Kernel struct {
	Version string
	Vmlinuz string
	// Modules are host paths of kvmModules, uncompressed, in load order.
	Modules []string
}

// cachedKernel returns the newest complete kernel in cacheDir, if any.
func cachedKernel(cacheDir string) (*Kernel, bool) {
	dirs, _ := filepath.Glob(filepath.Join(cacheDir, "kernel-*"))
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		k := kernelIn(d, strings.TrimPrefix(filepath.Base(d), "kernel-"))
		if k.complete() {
			return k, true
		}
	}
	return nil, false
}

func kernelIn(dir, version string) *Kernel {
	k := &Kernel{Version: version, Vmlinuz: filepath.Join(dir, "vmlinuz")}
	for _, m := range kvmModules {
		k.Modules = append(k.Modules, filepath.Join(dir, filepath.Base(m)))
	}
	return k
}

func (k *Kernel) complete() bool {
	for _, p := range append([]string{k.Vmlinuz}, k.Modules...) {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			return false
		}
	}
	return true
}

// kernelPackage asks apt which package the cloud kernel metapackage
// currently depends on (linux-image-6.1.0-N-cloud-amd64).
func kernelPackage(ctx context.Context, log io.Writer) (string, error) {
	query := func() string {
		out, _ := exec.CommandContext(ctx, "apt-cache", "depends", kernelMeta).Output()
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
				return f[1]
			}
		}
		return ""
	}
	if pkg := query(); pkg != "" {
		return pkg, nil
	}
	if os.Geteuid() == 0 {
		if err := runLogged(ctx, log, "", "apt-get", "update", "-qq"); err == nil {
			if pkg := query(); pkg != "" {
				return pkg, nil
			}
		}
	}
	return "", &EnvError{What: "apt knows no " + kernelMeta,
		Fix: "run apt-get update (as root) on a Debian 12 host, or put a kernel in the cache (kernel-VERSION/vmlinuz and the kvm modules)"}
}

// fetchKernel returns the cached kernel, or downloads and unpacks it.
func fetchKernel(ctx context.Context, cacheDir string, log io.Writer) (*Kernel, error) {
	if k, ok := cachedKernel(cacheDir); ok {
		return k, nil
	}
	pkg, err := kernelPackage(ctx, log)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "kvmhost: fetching %s (apt-get download, unpacked with dpkg-deb, not installed)\n", pkg)
	tmp, err := os.MkdirTemp(cacheDir, "download-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o755) // let apt's sandbox user write there
	if err := runLogged(ctx, log, tmp, "apt-get", "download", pkg); err != nil {
		return nil, &EnvError{What: "cannot download " + pkg, Fix: "check network access to the Debian mirror", Err: err}
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("kvmhost: apt-get download %s left %d .deb files", pkg, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if err := runLogged(ctx, log, "", "dpkg-deb", "-x", debs[0], root); err != nil {
		return nil, err
	}
	return installKernel(ctx, root, cacheDir)
}

// installKernel copies vmlinuz and the KVM modules out of an unpacked
// kernel package into cacheDir/kernel-VERSION.
func installKernel(ctx context.Context, root, cacheDir string) (*Kernel, error) {
	vmlinuzes, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(vmlinuzes) != 1 {
		return nil, fmt.Errorf("kvmhost: kernel package has %d vmlinuz files, want 1", len(vmlinuzes))
	}
	version := strings.TrimPrefix(filepath.Base(vmlinuzes[0]), "vmlinuz-")
	final := filepath.Join(cacheDir, "kernel-"+version)
	stage := final + ".tmp"
	os.RemoveAll(stage)
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, err
	}
	k := kernelIn(stage, version)
	if err := copyFile(vmlinuzes[0], k.Vmlinuz, 0o644); err != nil {
		return nil, err
	}
	for i, m := range kvmModules {
		src := filepath.Join(root, "lib", "modules", version, "kernel", m)
		if err := unpackModule(ctx, src, k.Modules[i]); err != nil {
			return nil, err
		}
	}
	os.RemoveAll(final)
	if err := os.Rename(stage, final); err != nil {
		return nil, err
	}
	return kernelIn(final, version), nil
}

// unpackModule copies src (or src.xz / src.zst, decompressed) to dst.
func unpackModule(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err == nil {
		return copyFile(src, dst, 0o644)
	}
	for _, d := range []struct{ ext, tool, bbApplet string }{{".xz", "xz", "unxz"}, {".zst", "zstd", ""}} {
		if _, err := os.Stat(src + d.ext); err != nil {
			continue
		}
		var cmd *exec.Cmd
		if _, err := exec.LookPath(d.tool); err == nil {
			cmd = exec.CommandContext(ctx, d.tool, "-dc", src+d.ext)
		} else if bb := staticBusybox(); bb != "" && d.bbApplet != "" {
			cmd = exec.CommandContext(ctx, bb, d.bbApplet, "-c", src+d.ext)
		} else {
			return &EnvError{What: "module " + src + d.ext + " is compressed and there is no " + d.tool,
				Fix: "apt-get install " + d.tool}
		}
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("kvmhost: decompressing %s: %w", src+d.ext, err)
		}
		return os.WriteFile(dst, out, 0o644)
	}
	return fmt.Errorf("kvmhost: kernel package has no %s", src)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// linkOrCopy hard-links src to dst (cheap for large test binaries) where
// src already has mode's permissions, else copies it (also when they are
// on different file systems). A link shares src's inode, so a chmod of
// the link would change the host's own file.
func linkOrCopy(src, dst string, mode os.FileMode) error {
	if st, err := os.Stat(src); err == nil && st.Mode().Perm() == mode.Perm() {
		if err := os.Link(src, dst); err == nil {
			return nil
		}
	}
	return copyFile(src, dst, mode)
}

// checkQEMU reports a QEMU that cannot start at all, with its message.
func checkQEMU(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, qemuBinary, "-version").CombinedOutput()
	if err != nil {
		return &EnvError{What: qemuBinary + " does not run", Fix: "reinstall " + qemuPackage,
			Err: errors.New(string(bytes.TrimSpace(out)))}
	}
	return nil
}
