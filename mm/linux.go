package mm

import "golang.org/x/sys/unix"

// Linux ABI numbers mm interprets. Most come from golang.org/x/sys/unix;
// the few it lacks are spelled out with the header they come from.
const (
	// protSem is PROT_SEM (asm-generic/mman-common.h): accepted by
	// mprotect's argument check on x86-64 and otherwise ignored.
	protSem = 0x8

	// mapUninitialized is MAP_UNINITIALIZED (asm-generic/mman-common.h),
	// honoured only by no-MMU kernels; part of LEGACY_MAP_MASK.
	mapUninitialized = 0x4000000

	// mapHugeMask covers the MAP_HUGE_SHIFT size field of mmap's flags.
	mapHugeMask = 0x3f << unix.MAP_HUGE_SHIFT

	// segvMapErr, segvAccErr and busAdrErr are si_code values
	// (asm-generic/siginfo.h).
	segvMapErr = 1
	segvAccErr = 2
	busAdrErr  = 2

	// mpolMax is one past the largest policy mode (MPOL_WEIGHTED_INTERLEAVE).
	mpolMax = unix.MPOL_WEIGHTED_INTERLEAVE + 1
	// mpolModeFlags are the optional mode flags mbind accepts.
	mpolModeFlags = unix.MPOL_F_STATIC_NODES | unix.MPOL_F_RELATIVE_NODES | unix.MPOL_F_NUMA_BALANCING
	// mpolMFValid are mbind's valid flags.
	mpolMFValid = unix.MPOL_MF_STRICT | unix.MPOL_MF_MOVE | unix.MPOL_MF_MOVE_ALL
)

// legacyMapMask is the set of mmap flags that MAP_SHARED_VALIDATE accepts
// (Linux's LEGACY_MAP_MASK): every flag older than the validating type.
// Plain MAP_SHARED and MAP_PRIVATE ignore flags outside it.
const legacyMapMask = unix.MAP_SHARED | unix.MAP_PRIVATE | unix.MAP_FIXED |
	unix.MAP_ANONYMOUS | unix.MAP_DENYWRITE | unix.MAP_EXECUTABLE |
	mapUninitialized | unix.MAP_GROWSDOWN | unix.MAP_LOCKED |
	unix.MAP_NORESERVE | unix.MAP_POPULATE | unix.MAP_NONBLOCK |
	unix.MAP_STACK | unix.MAP_HUGETLB | unix.MAP_32BIT | unix.MAP_ABOVE4G |
	unix.MAP_HUGE_2MB | unix.MAP_HUGE_1GB

// Linux's default limits, used where Options leave them unset.
const (
	// DefaultMaxMapCount is vm.max_map_count's default (DEFAULT_MAX_MAP_COUNT).
	DefaultMaxMapCount = 65530
	// DefaultMLockLimit is RLIMIT_MEMLOCK's default soft limit (8 MiB).
	DefaultMLockLimit = 8 << 20
	// DefaultStackLimit is RLIMIT_STACK's default soft limit (8 MiB).
	DefaultStackLimit = 8 << 20
	// Unlimited is RLIM_INFINITY.
	Unlimited = ^uint64(0)
	// StackGuardGap is Linux's stack_guard_gap: 256 pages kept free below
	// a grows-down mapping, so that a growing stack never runs into the
	// mapping below it.
	StackGuardGap = 256 << 12
)
