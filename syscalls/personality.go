package syscalls

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// personality(2): a thread's execution domain and the flags that change
// how Linux serves it (kernel/exec_domain.c and the places that read
// current->personality). Linux stores any 32-bit value (there is no
// EINVAL); 0xffffffff only asks. What the flags change in mmvm:
//
//   - READ_IMPLIES_EXEC: mmap and mprotect of PROT_READ memory add
//     PROT_EXEC; an exec clears it, as x86-64's set_personality_64bit
//     does for every 64-bit program;
//   - UNAME26: uname's release reads 2.6.(60+minor) and the rest of the
//     release (override_release);
//   - PER_LINUX32: uname's machine reads i686 (override_architecture);
//   - ADDR_NO_RANDOMIZE and ADDR_COMPAT_LAYOUT are kept and reported:
//     mmvm randomizes no layout, and lays every program out top-down.
//
// A new thread and a fork's child take their creator's personality; an
// exec keeps it but for PER_CLEAR_ON_SETID where the program gains
// capabilities it did not have (Linux's bprm->per_clear).

// Personality values (include/uapi/linux/personality.h).
const (
	perQuery          = 0xffffffff
	perLinux32        = 0x0008
	perMask           = 0x00ff
	uname26           = 0x0020000
	addrNoRandomize   = 0x0040000
	mmapPageZero      = 0x0100000
	addrCompatLayout  = 0x0200000
	readImpliesExec   = 0x0400000
	perClearOnSetid   = readImpliesExec | addrNoRandomize | addrCompatLayout | mmapPageZero
	compatUtsMachine  = "i686"
	uname26VersionAdd = 60
)

// sysPersonality returns the thread's personality, and sets it to the
// argument (an unsigned int: the upper half of the register is ignored)
// unless that is 0xffffffff.
func sysPersonality(t *Task, a *[6]uint64) uint64 {
	old := t.persona
	if p := uint32(a[0]); p != perQuery {
		t.persona = p
	}
	return uint64(old)
}

// LegacyLayout says whether the program an exec by t starts gets
// Linux's legacy bottom-up mmap layout (the machine's Config.Exec asks,
// before the exec changes the personality: a program that gains
// capabilities has it cleared only after).
func (t *Task) LegacyLayout() bool { return t.persona&addrCompatLayout != 0 }

// readImpliesExec adds PROT_EXEC to a PROT_READ prot under
// READ_IMPLIES_EXEC (do_mmap, do_mprotect_pkey).
func (t *Task) readImpliesExec(prot uint64) uint64 {
	if prot&unix.PROT_READ != 0 && t.persona&readImpliesExec != 0 {
		prot |= unix.PROT_EXEC
	}
	return prot
}

// execPersonality is what an exec leaves of the personality: without
// PER_CLEAR_ON_SETID where the new program's permitted capabilities grew
// (oldPermitted the thread's before), and never READ_IMPLIES_EXEC.
func (t *Task) execPersonality(oldPermitted uint64) {
	if t.cred.capPrm&^oldPermitted != 0 {
		t.persona &^= perClearOnSetid
	}
	t.persona &^= readImpliesExec
}

// personaUname is u as uname shows it to a thread of personality
// persona.
func personaUname(u Uname, persona uint32) Uname {
	if persona&uname26 != 0 {
		u[2] = uname26Release(u[2])
	}
	if persona&perMask == perLinux32 {
		u[4] = compatUtsMachine
	}
	return u
}

// uname26Release is override_release: "2.6." and the release's minor
// number plus 60, then what follows the release's leading digits and dots
// (up to its third dot): "6.18.4-amd64" reads "2.6.78-amd64".
func uname26Release(release string) string {
	minor := 0
	if _, after, ok := strings.Cut(release, "."); ok {
		for _, c := range after {
			if c < '0' || c > '9' {
				break
			}
			minor = minor*10 + int(c-'0')
		}
	}
	rest, dots := "", 0
	for i, c := range release {
		if c == '.' {
			dots++
		}
		if dots >= 3 || (c < '0' || c > '9') && c != '.' {
			rest = release[i:]
			break
		}
	}
	out := fmt.Sprintf("2.6.%d%s", minor+uname26VersionAdd, rest)
	return out[:min(len(out), utsField-1)]
}
