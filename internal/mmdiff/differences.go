package mmdiff

// Difference is one place where the comparison with the host is relaxed
// or left out on purpose, and why.
type Difference struct {
	What, Why, Compared string
}

// Differences lists every deliberate relaxation of the comparison. The
// memory manager's documentation keeps the table of its own deliberate
// differences from Linux; this is the harness's side of it.
var Differences = []Difference{
	{
		What:     "placement of mappings without a usable hint (mmap without MAP_FIXED, mremap moving)",
		Why:      "Linux places them top-down from the test process's mmap_base, outside the window; the system places them in the window",
		Compared: "the system's address must be page-aligned, inside the window, over no existing mapping and not the hint Linux refused. mmap: the host maps afresh there with MAP_FIXED_NOREPLACE (the mapping Linux placed is unmapped, since one merged with a neighbour of the test process would carry that neighbour's anon_vma and page offset into the window). mremap that grows with MREMAP_MAYMOVE alone (Linux ignores new_address then) or moves with MREMAP_DONTUNMAP and no hint: the host never places it; whether Linux grows in place is asked with the same call without MREMAP_MAYMOVE (ENOMEM, nothing changed, where it would move; the system must then move too, and grow in place where Linux does), the system runs first, and the host moves to its address with mremap(MREMAP_FIXED), pages and all, so no foreign anon_vma comes along. Other moves Linux places outside the window (a DONTUNMAP hint it cannot use) are moved into it with mremap(MREMAP_FIXED) afterwards. A hint Linux honours must be honoured at the same address",
	},
	{
		What:     "features older host kernels lack",
		Why:      "the system implements Linux 6.18; on an older host an op that needs newer behaviour would diverge for a reason that is not the system's bug",
		Compared: "NewHost probes each feature once with a real call on a scratch mapping in the window (guard regions, 6.13, and on shared mappings, 6.15; mremap moves spanning several vmas, 6.17; MREMAP_DONTUNMAP, 5.7, and on shared mappings, 5.13; MADV_POPULATE_READ/WRITE, 5.14; MADV_DONTNEED_LOCKED, 5.18; MADV_COLD, 5.4); for each one lacking the generator leaves out the ops or op shapes (judged on the host's layout before the op) that need it, the runner refuses them in replays (ErrHostLacks) and Host.Omissions says what was left out. On 6.18 nothing is left out and a seed makes the same ops as before",
	},
	{
		What:     "vma boundaries",
		Why:      "Linux keeps adjacent vmas apart for reasons /proc/pid/maps does not show (anon_vma identity, page offsets after mremap, madvise and lock flags)",
		Compared: "layouts after merging adjacent mappings with equal permissions and sharing (and, for shared ones, the same object at contiguous offsets)",
	},
	{
		What:     "shared anonymous objects",
		Why:      "inode numbers differ between systems",
		Compared: "inodes renumbered in order of appearance, so which mappings share an object is compared, and offsets into it",
	},
	{
		What:     "the zero page",
		Why:      "whether a read of fresh private anonymous memory maps the zero page (no anon_vma) or allocates a page and an anon_vma (a kernel booted with pvm_no_zero_page=1) decides which vmas Linux merges later; and Linux's huge zero page fault, where THP applies, prepares an anon_vma that the small one does not",
		Compared: "NewHost asks the host once (a kernel read of a fresh page, then its Rss in smaps) and the system runs the same way (mm: Options.NoZeroPage); the test process runs with THP off (PR_SET_THP_DISABLE, put back by Close), so the host's read faults take the small zero page's path, which mm follows",
	},
	{
		What:     "mincore residency",
		Why:      "which pages are resident depends on fault-around (mm maps 2 MiB units), the zero page and host reclaim",
		Compared: "the errno, that only bit 0 is ever set, and that a page holding non-zero data is resident",
	},
	{
		What:     "MADV_FREE contents",
		Why:      "Linux drops freed pages only under memory pressure (or MADV_PAGEOUT's reclaim, which is therefore not generated), so their contents are either kept or zero",
		Compared: "with Options.FreeDiscards false (mm), freed pages must keep their contents; with it true, the host drops them at once with MADV_DONTNEED on exactly the vmas MADV_FREE processed and the system must read zeros",
	},
	{
		What:     "locked bytes",
		Why:      "Linux's VmLck counts a locked vma twice after mremap(MREMAP_DONTUNMAP) and never gives the excess back (seen on 6.18)",
		Compared: "the system's locked bytes against the window's vmas with \"lo\" in /proc/self/smaps VmFlags, after calls that lock, every 256 calls and at the end (every call in a short replay)",
	},
	{
		What:     "RLIMIT_MEMLOCK and the window's size",
		Why:      "root is exempt from RLIMIT_MEMLOCK on the host; a system confined to the window could run out of room where Linux would not",
		Compared: "not reached: the generator keeps at most 4 MiB locked and 32 MiB mapped; the system gets the host's limit and CAP_IPC_LOCK. Limit errors belong in mm's unit tests",
	},
	{
		What:     "calls not generated",
		Why:      "brk (the host's heap starts after the test binary), mlockall/munlockall (would lock the whole test process), MAP_32BIT and hints below the window (placed outside it), file mappings, MAP_HUGETLB, MAP_DROPPABLE, MADV_HWPOISON/SOFT_OFFLINE (damage the host), MADV_MERGEABLE (depends on CONFIG_KSM), MADV_COLLAPSE, fork, user page faults (stacks grow only through reads and writes, below)",
		Compared: "nothing; mm's unit tests cover them",
	},
	{
		What:     "hostile ranges",
		Why:      "a range reaching outside the window would change the test process itself",
		Compared: "only hostile ranges Linux rejects before looking at a vma: ends past 2^64, starts at or above TASK_SIZE, or (not for MAP_FIXED) below 64 KiB",
	},
	{
		What:     "reads, writes and clears",
		Why:      "the host copies with its kernel's copies to and from user memory (pread and pwrite between a memfd and the window; pread of the memfd's hole for a clear), the system with CopyIn/CopyOut/ZeroOut; a short count is reported as EFAULT with the count, nothing copied as EFAULT alone",
		Compared: "bytes copied and EFAULT, the bytes, and the layout after a copy that reached outside the host's mappings: the kernel decides where a copy stops (a page it may not access, a guard page of MADV_GUARD_INSTALL, or SIGBUS past the end of a shared object grown by mremap) and grows a grows-down vma whose hole the copy reaches, within RLIMIT_STACK (the system gets the host's) and the default stack guard gap. Contents are compared with plain loads of the pages the host's layout says are readable (any of r, w, x: x86-64 without protection keys), which never change the layout; a load that faults (a guard page, which the layout does not show) reads as EFAULT with the bytes before it, and the system's CopyIn must stop there too",
	},
	{
		What:     "the window's edges",
		Why:      "growing in place or honouring a hint must stop at the window on both sides",
		Compared: "a PROT_NONE shared page guards each end of the window on the host and in the system; neither is part of the compared layout",
	},
}
