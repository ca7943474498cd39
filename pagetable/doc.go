// Package pagetable builds and edits x86-64 4-level page tables whose table
// pages live in guest-physical memory: the host writes them through its own
// view of that memory (an Allocator), and the guest's MMU walks them from
// Root (CR3). Map, Unmap and Protect take any page-aligned range, choose
// 1 GiB, 2 MiB or 4 KiB leaves by alignment, split huge leaves that a range
// cuts, free intermediate tables the moment they empty, and report in a Flush
// which virtual ranges the guest's TLB must drop before it runs again.
//
// Entries follow the Intel SDM (Vol. 3A, section 4.5): intermediate entries
// are permissive (present, writable, user) so that the leaf alone decides the
// access rights; leaves carry P, RW, US, A, D, PS, G and XD (bit 63), so the
// guest must run with EFER.NXE set. Each entry that references a table also
// stores, in bits 61:52 which the processor ignores in such entries, how many
// present entries that table holds; bit 62 records that a global leaf may lie
// below. Keeping the count beside the pointer the walk already reads makes
// freeing an emptied table O(1) with no side structure to look up.
//
// A PageTables is not safe for concurrent use; its owner (the VM) serialises
// calls and keeps vCPUs out of user mode while tables change.
package pagetable
