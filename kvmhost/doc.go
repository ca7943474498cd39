// Package kvmhost runs programs on a Linux that has /dev/kvm, even on a
// machine that has none: it boots a small QEMU guest (TCG, `-cpu max`,
// which emulates AMD SVM) with Debian's cloud kernel, loads kvm_amd there,
// and runs the given commands inside it. `make test-kvm` runs the KVM test
// binaries this way, and `mmvm run` can run a guest program this way.
//
// What the guest runs and what comes back:
//
//   - an initramfs holds busybox (the shell and /init), the kernel's
//     irqbypass, kvm and kvm-amd modules, and the Spec's files;
//   - /init mounts proc, sys, devtmpfs, devpts on /dev/pts (so that
//     /dev/ptmx makes terminals) and a tmpfs on /tmp, makes the links
//     udev would (/dev/fd, /dev/stdin, /dev/stdout, /dev/stderr), loads the
//     modules, waits for /dev/kvm, then runs each Command in turn;
//   - a command's stdout goes to the second serial port (ttyS1, raw) and
//     comes back on Spec.Stdout byte for byte; its stderr goes to the
//     console (ttyS0), which also carries /init's markers: a line part
//     starting with "@@kvmhost@@" is a marker (init, kvm, start N, exit N
//     STATUS, fail REASON, done), anything else is the command's stderr
//     (Spec.Stderr) while a command runs, and diagnostics (Spec.Log)
//     otherwise;
//   - Spec.Stdin reaches a command that opens the stdin channel
//     (OpenStdin): framed on the third serial port (ttyS2), fed from
//     QEMU's stdin, once the command has announced with a marker that the
//     port is open (a UART drops what comes before);
//   - /init drains both ports before `poweroff -f`, and QEMU exits.
//
// Host prerequisites (qemu-system-x86, busybox-static, cpio) are installed
// with apt-get when missing and the runner is root; the kernel package is
// fetched with `apt-get download` and unpacked with dpkg-deb, never
// installed. Pieces are cached under Spec.CacheDir between runs.
package kvmhost
