// Package syscalls serves a guest's Linux x86-64 system calls on the host,
// with Linux's numbers and errno conventions, for every process of one VM.
// A Process holds the state a process's threads share — its Memory, the
// fd table (stdio, in-memory pipes and the files of a read-only file
// system: views of host directories, /dev's null, zero and urandom, a
// /proc drawn from mm; view.go), the terminals behind stdio with their
// sessions and foreground groups (terminal.go), signal actions, process-directed pending
// signals, resource limits, its place in the process tree — and counts
// every call by name so that `mmvm run --stats` can report them. A Task
// is one thread (thread.go): its TID, FS base, signal mask, own pending
// signals, alternate signal stack, clear_child_tid and robust list. clone
// with CLONE_THREAD makes a Task and asks the machine to run it on a vCPU
// of its own (Config.StartThread); exit ends one thread, exit_group every
// thread. fork, vfork and clone without CLONE_THREAD make a child Process
// whose memory the machine makes (Config.Fork, fork.go); the processes
// form a tree (tree.go) with Linux's parents, process groups, sessions,
// zombies and reparenting to the first process, and wait4 and waitid reap
// children (wait.go). Signals the program sends (to a process or a group
// with kill, to a thread with tkill and tgkill), a child's SIGCHLD, or its
// faults raise run their handlers on Linux's signal frames, or take the
// default actions (signal_default.go, signal_deliver.go, signal_frame.go);
// the program's timers (alarm, setitimer, timer_create) send theirs from
// host timers (timers.go).
// Guest pointers are never trusted: every byte crosses through the guest
// Memory (mm's CopyIn and CopyOut), which faults pages in and checks
// permissions as a user access would. A call mmvm does not implement
// returns ENOSYS and is counted as such.
//
// # Threads and locks
//
// Each thread's calls (Task.HandleSyscall), faults (HandleFault) and
// interrupt exits (TakeSignals) run on that thread's own goroutine, all
// threads of every process at once. The locks, in the order they are
// taken:
//
//  1. processTree.mu, the tree lock (Process.mu of every Process of the
//     VM points to it, so the rest of the package calls it the Process
//     lock; Linux's tasklist_lock and siglock in one). A thread
//     holds it while it serves a call, a fault or its signals. It guards
//     everything of every Process that is not listed under another lock
//     below (fd table, file system, signal actions and process-directed
//     pending signals, process information, the live threads and TIDs,
//     the exit status, the process table, parents, process groups,
//     sessions and zombies, the pipes' and children's change channels,
//     the timers) and the fields of every Task that another thread reads
//     or writes: its signal mask and own pending signals. One lock for
//     all, so that what crosses processes (kill, a child's exit telling
//     its parent and waking its wait4, a pipe between two processes)
//     takes no second lock and cannot deadlock. A Task's other fields (FS
//     base, regs, sigaltstack, saved mask, trap) are its own thread's,
//     read and written under the lock too, except FSBase, which only that
//     thread's goroutine calls. A thread releases the lock while it waits
//     (Task.block: futex, nanosleep, clock_nanosleep, poll, pipe reads and
//     writes, rt_sigsuspend, pause, wait4, waitid, a stop; waitHostFD:
//     stdio that may wait; waitVforkDone: vfork's caller), while mm serves
//     a memory call (mmap of anonymous memory, munmap, mremap, mprotect,
//     brk, madvise, mlock*, msync, mincore's steps: they may populate
//     GiBs) and while the machine starts a thread or makes a process's
//     memory (StartThread, Fork); it takes it again before it touches
//     shared state, so a blocked thread never holds up another's calls. A
//     timer's host timer takes the lock, on its own goroutine, to send
//     its signal.
//  2. futexTable.mu: the futex queues, one table for the tree (a private
//     futex is keyed by its address space and address, a shared one by
//     what backs it); held from a futex word's read to the queue change
//     (futex.go).
//  3. mm's own locks, taken inside Memory and MemoryCalls. mm never calls
//     back into syscalls but for Process.Stopping, which takes no lock.
//
// Apart from these, Process.statsMu (taken under the tree lock),
// callCounts.mu and cloneRefusals.mu guard the figures Stats,
// SignalStats and CloneRefusals read from any goroutine; threadCPU.mu, a
// leaf taken with or without the tree lock, guards a thread's CPU clock,
// which the machine starts and stops on the thread's vCPU (cputime.go);
// the run's context, Process.ended and Task.exitedThread are atomic, read
// without a lock (Stopping, Exited). Config.Interrupt is called with the tree lock
// held and must not call into any Process of the VM.
//
// A thread waiting in Task.block watches its wake channel: a signal sent
// to it that it does not block (or a process-directed one it was picked
// for, as Linux's complete_signal picks), or the end of the process, sends
// a token there and kicks the thread's vCPU (Config.Interrupt) so that a
// thread running guest code calls TakeSignals. The wait then ends with
// EINTR or the call's restart code (ERESTARTSYS and the like, which
// returnToUser turns into EINTR or a restart by SA_RESTART, as Linux
// does). The end of the run's context (SetContext) interrupts every wait
// and long call within milliseconds, as a fatal signal would on Linux.
package syscalls
