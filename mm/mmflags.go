package mm

import "golang.org/x/sys/unix"

// Process-wide memory settings that prctl(2) changes (Linux's mm->flags):
// memory-deny-write-execute and the THP opt-out.

const (
	// THPDisableExceptAdvised is PR_THP_DISABLE_EXCEPT_ADVISED (6.18): with
	// PR_SET_THP_DISABLE, huge pages stay allowed where MADV_HUGEPAGE or
	// MADV_COLLAPSE asks for them.
	THPDisableExceptAdvised = 1 << 1
)

// mmFlags are the prctl settings of an address space. Guarded by
// mappingMu.
type mmFlags struct {
	// mdwe: PR_MDWE_REFUSE_EXEC_GAIN (MMF_HAS_MDWE); mdweNoInherit:
	// PR_MDWE_NO_INHERIT, which keeps a child from inheriting either.
	mdwe, mdweNoInherit bool
	// thpDisable: PR_SET_THP_DISABLE; thpExceptAdvised: with
	// THPDisableExceptAdvised.
	thpDisable, thpExceptAdvised bool
}

// inherited returns the settings a child address space starts with
// (mmf_init_flags): all of them, but memory-deny-write-execute not where
// PR_MDWE_NO_INHERIT was set.
func (f mmFlags) inherited() mmFlags {
	if f.mdweNoInherit {
		f.mdwe, f.mdweNoInherit = false, false
	}
	return f
}

// InheritFlags gives mm, the address space of a program from being
// executed, the prctl settings of the one it replaces, as execve keeps
// them (mm_init's mmf_init_flags).
func (mm *MemoryManager) InheritFlags(from *MemoryManager) {
	from.mappingMu.RLock()
	f := from.flags.inherited()
	from.mappingMu.RUnlock()
	mm.mappingMu.Lock()
	mm.flags = f
	mm.mappingMu.Unlock()
}

// SetMDWE implements PR_SET_MDWE (prctl_set_mdwe): bits is arg2; rest
// are arg3 to arg5. Once set, the bits can only be set again as they are
// (EPERM for any other).
func (mm *MemoryManager) SetMDWE(bits uint64, rest [3]uint64) error {
	if rest != [3]uint64{} {
		return unix.EINVAL
	}
	if bits&^(unix.PR_MDWE_REFUSE_EXEC_GAIN|unix.PR_MDWE_NO_INHERIT) != 0 {
		return unix.EINVAL
	}
	if bits&unix.PR_MDWE_NO_INHERIT != 0 && bits&unix.PR_MDWE_REFUSE_EXEC_GAIN == 0 {
		return unix.EINVAL
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if cur := mm.mdweBitsLocked(); cur != 0 && cur != bits {
		return unix.EPERM
	}
	if bits&unix.PR_MDWE_REFUSE_EXEC_GAIN != 0 {
		mm.flags.mdwe = true
	}
	if bits&unix.PR_MDWE_NO_INHERIT != 0 {
		mm.flags.mdweNoInherit = true
	}
	return nil
}

// MDWE implements PR_GET_MDWE: the bits set, or EINVAL if any of arg2 to
// arg5 is not 0.
func (mm *MemoryManager) MDWE(args [4]uint64) (uint64, error) {
	if args != [4]uint64{} {
		return 0, unix.EINVAL
	}
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	return mm.mdweBitsLocked(), nil
}

func (mm *MemoryManager) mdweBitsLocked() uint64 {
	var bits uint64
	if mm.flags.mdwe {
		bits |= unix.PR_MDWE_REFUSE_EXEC_GAIN
	}
	if mm.flags.mdweNoInherit {
		bits |= unix.PR_MDWE_NO_INHERIT
	}
	return bits
}

// denyWriteExecLocked reports whether memory-deny-write-execute refuses a
// vma going from old to new permissions (map_deny_write_exec): writable
// and executable at once, or executable where it was not. mmap asks with
// old == new.
//
// Preconditions: mm.mappingMu is locked.
func (mm *MemoryManager) denyWriteExecLocked(oldExec, newWrite, newExec bool) bool {
	if !mm.flags.mdwe {
		return false
	}
	return newExec && (newWrite || !oldExec)
}

// SetTHPDisable implements PR_SET_THP_DISABLE: disable is arg2, flags
// arg3, rest arg4 and arg5. mm never maps huge pages, so the setting only
// changes what PR_GET_THP_DISABLE answers.
func (mm *MemoryManager) SetTHPDisable(disable, flags uint64, rest [2]uint64) error {
	if rest != [2]uint64{} {
		return unix.EINVAL
	}
	if disable == 0 && flags != 0 || flags&^THPDisableExceptAdvised != 0 {
		return unix.EINVAL
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	mm.flags.thpDisable = disable != 0
	mm.flags.thpExceptAdvised = disable != 0 && flags != 0
	return nil
}

// THPDisable implements PR_GET_THP_DISABLE: 0, 1, or 1 with
// THPDisableExceptAdvised; EINVAL if any of arg2 to arg5 is not 0.
func (mm *MemoryManager) THPDisable(args [4]uint64) (uint64, error) {
	if args != [4]uint64{} {
		return 0, unix.EINVAL
	}
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	switch {
	case mm.flags.thpExceptAdvised:
		return 1 | THPDisableExceptAdvised, nil
	case mm.flags.thpDisable:
		return 1, nil
	}
	return 0, nil
}
