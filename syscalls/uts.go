package syscalls

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The VM's UTS names: sethostname and setdomainname change the node and
// domain names every process of the VM sees (uname, /proc/sys/kernel/
// hostname and domainname), as a UTS namespace of its own; the host's
// are never touched.

// utsNameMax is __NEW_UTS_LEN: the longest name.
const utsNameMax = 64

// setUTSName is sethostname and setdomainname: EPERM without
// CAP_SYS_ADMIN, EINVAL for a length (an int) outside 0 to 64, EFAULT
// where the name cannot be read; the field then holds the length's bytes,
// NULs included, as Linux copies them.
func (t *Task) setUTSName(field int, addr arch.Addr, length uint64) unix.Errno {
	if !t.cred.capable(unix.CAP_SYS_ADMIN) {
		return unix.EPERM
	}
	n := int32(length)
	if n < 0 || n > utsNameMax {
		return unix.EINVAL
	}
	b := make([]byte, n)
	if _, err := t.cfg.Memory.CopyIn(addr, b); err != nil && n > 0 {
		return unix.EFAULT
	}
	if t.tree.uts == nil {
		u := t.uname()
		t.tree.uts = &u
	}
	t.tree.uts[field] = string(b)
	return 0
}

func sysSethostname(t *Task, a *[6]uint64) uint64 {
	return errno0(t.setUTSName(1, arch.Addr(a[0]), a[1]))
}

func sysSetdomainname(t *Task, a *[6]uint64) uint64 {
	return errno0(t.setUTSName(5, arch.Addr(a[0]), a[1]))
}

// utsText is a name as /proc/sys/kernel shows it: up to its first NUL.
func utsText(s string) []byte {
	s, _, _ = strings.Cut(s, "\x00")
	return []byte(s + "\n")
}
