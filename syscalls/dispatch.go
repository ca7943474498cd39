package syscalls

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// handler serves one system call; it returns the value for RAX: the result,
// or -errno as Linux encodes it.
type handler func(t *Task, a *[6]uint64) uint64

type entry struct {
	name string
	fn   handler
}

// table maps x86-64 syscall numbers to their handlers. Numbers come from
// golang.org/x/sys/unix so they are Linux's by construction.
var table = map[uint64]entry{
	unix.SYS_READ:            {"read", sysReadFile},
	unix.SYS_SOCKET:          {"socket", sysSocket},
	unix.SYS_SOCKETPAIR:      {"socketpair", sysSocketpair},
	unix.SYS_BIND:            {"bind", sysBind},
	unix.SYS_LISTEN:          {"listen", sysListen},
	unix.SYS_CONNECT:         {"connect", sysConnect},
	unix.SYS_ACCEPT:          {"accept", sysAccept},
	unix.SYS_ACCEPT4:         {"accept4", sysAccept4},
	unix.SYS_GETSOCKNAME:     {"getsockname", sysGetsockname},
	unix.SYS_GETPEERNAME:     {"getpeername", sysGetpeername},
	unix.SYS_SENDTO:          {"sendto", sysSendto},
	unix.SYS_RECVFROM:        {"recvfrom", sysRecvfrom},
	unix.SYS_SENDMSG:         {"sendmsg", sysSendmsg},
	unix.SYS_RECVMSG:         {"recvmsg", sysRecvmsg},
	unix.SYS_SENDMMSG:        {"sendmmsg", sysSendmmsg},
	unix.SYS_RECVMMSG:        {"recvmmsg", sysRecvmmsg},
	unix.SYS_SHUTDOWN:        {"shutdown", sysShutdown},
	unix.SYS_GETSOCKOPT:      {"getsockopt", sysGetsockopt},
	unix.SYS_SETSOCKOPT:      {"setsockopt", sysSetsockopt},
	unix.SYS_WRITE:           {"write", sysWriteFile},
	unix.SYS_WRITEV:          {"writev", sysWritevFile},
	unix.SYS_FSTAT:           {"fstat", sysFstatFile},
	unix.SYS_NEWFSTATAT:      {"newfstatat", sysNewfstatatFile},
	unix.SYS_IOCTL:           {"ioctl", sysIoctlFile},
	unix.SYS_POLL:            {"poll", sysPoll},
	unix.SYS_EXIT:            {"exit", sysExit},
	unix.SYS_EXIT_GROUP:      {"exit_group", sysExitGroup},
	unix.SYS_ARCH_PRCTL:      {"arch_prctl", sysArchPrctl},
	unix.SYS_SET_TID_ADDRESS: {"set_tid_address", sysSetTIDAddress},
	unix.SYS_SET_ROBUST_LIST: {"set_robust_list", sysSetRobustList},
	unix.SYS_GET_ROBUST_LIST: {"get_robust_list", sysGetRobustList},
	unix.SYS_RSEQ:            {"rseq", sysENOSYS},
	unix.SYS_GETPID:          {"getpid", sysGetpid},
	unix.SYS_GETTID:          {"gettid", sysGettid},
	unix.SYS_GETPPID:         {"getppid", sysGetppid},
	unix.SYS_GETUID:          {"getuid", sysGetuid},
	unix.SYS_GETEUID:         {"geteuid", sysGeteuid},
	unix.SYS_GETGID:          {"getgid", sysGetgid},
	unix.SYS_GETEGID:         {"getegid", sysGetegid},
	unix.SYS_GETGROUPS:       {"getgroups", sysGetgroups},
	unix.SYS_GETPRIORITY:     {"getpriority", sysGetpriority},
	unix.SYS_SETPRIORITY:     {"setpriority", sysSetpriority},
	unix.SYS_UNAME:           {"uname", sysUname},
	unix.SYS_CLOCK_GETTIME:   {"clock_gettime", sysClockGettime},
	unix.SYS_CLOCK_GETRES:    {"clock_getres", sysClockGetres},
	unix.SYS_GETTIMEOFDAY:    {"gettimeofday", sysGettimeofday},
	unix.SYS_TIME:            {"time", sysTime},
	unix.SYS_GETRANDOM:       {"getrandom", sysGetrandom},
	unix.SYS_RT_SIGACTION:    {"rt_sigaction", sysRtSigactionFlush},
	unix.SYS_RT_SIGPROCMASK:  {"rt_sigprocmask", sysRtSigprocmask},
	unix.SYS_PRLIMIT64:       {"prlimit64", sysPrlimit64},
	unix.SYS_GETRLIMIT:       {"getrlimit", sysGetrlimit},
	unix.SYS_SETRLIMIT:       {"setrlimit", sysSetrlimit},
	unix.SYS_SCHED_YIELD:     {"sched_yield", sysZero},
	unix.SYS_NANOSLEEP:       {"nanosleep", sysNanosleep},
	unix.SYS_CLOCK_NANOSLEEP: {"clock_nanosleep", sysClockNanosleep},

	// timers.go
	unix.SYS_ALARM:            {"alarm", sysAlarm},
	unix.SYS_GETITIMER:        {"getitimer", sysGetitimer},
	unix.SYS_SETITIMER:        {"setitimer", sysSetitimer},
	unix.SYS_TIMER_CREATE:     {"timer_create", sysTimerCreate},
	unix.SYS_TIMER_SETTIME:    {"timer_settime", sysTimerSettime},
	unix.SYS_TIMER_GETTIME:    {"timer_gettime", sysTimerGettime},
	unix.SYS_TIMER_GETOVERRUN: {"timer_getoverrun", sysTimerGetoverrun},
	unix.SYS_TIMER_DELETE:     {"timer_delete", sysTimerDelete},

	unix.SYS_FUTEX:  {"futex", sysFutex},
	unix.SYS_CLONE:  {"clone", sysClone},
	unix.SYS_CLONE3: {"clone3", sysClone3},
	unix.SYS_FORK:   {"fork", sysFork},
	unix.SYS_VFORK:  {"vfork", sysVfork},

	// wait.go, tree.go, family.go
	unix.SYS_WAIT4:   {"wait4", sysWait4},
	unix.SYS_WAITID:  {"waitid", sysWaitid},
	unix.SYS_GETPGID: {"getpgid", sysGetpgid},
	unix.SYS_GETPGRP: {"getpgrp", sysGetpgrp},
	unix.SYS_SETPGID: {"setpgid", sysSetpgid},
	unix.SYS_GETSID:  {"getsid", sysGetsid},
	unix.SYS_SETSID:  {"setsid", sysSetsid},

	// fd.go, pipe.go
	unix.SYS_CLOSE: {"close", sysClose},
	unix.SYS_DUP:   {"dup", sysDup},
	unix.SYS_DUP2:  {"dup2", sysDup2},
	unix.SYS_DUP3:  {"dup3", sysDup3},
	unix.SYS_FCNTL: {"fcntl", sysFcntl},
	unix.SYS_PIPE:  {"pipe", sysPipe},
	unix.SYS_PIPE2: {"pipe2", sysPipe2},
	// eventfd.go, epoll.go, ppoll.go
	unix.SYS_EVENTFD:           {"eventfd", sysEventfd},
	unix.SYS_EVENTFD2:          {"eventfd2", sysEventfd2},
	unix.SYS_PROCESS_VM_READV:  {"process_vm_readv", sysProcessVMReadv},
	unix.SYS_PROCESS_VM_WRITEV: {"process_vm_writev", sysProcessVMWritev},
	unix.SYS_MEMBARRIER:        {"membarrier", sysMembarrier},
	unix.SYS_KCMP:              {"kcmp", sysKcmp},
	unix.SYS_TIMERFD_CREATE:    {"timerfd_create", sysTimerfdCreate},
	unix.SYS_TIMERFD_SETTIME:   {"timerfd_settime", sysTimerfdSettime},
	unix.SYS_TIMERFD_GETTIME:   {"timerfd_gettime", sysTimerfdGettime},
	unix.SYS_EPOLL_CREATE:      {"epoll_create", sysEpollCreate},
	unix.SYS_EPOLL_CREATE1:     {"epoll_create1", sysEpollCreate1},
	unix.SYS_EPOLL_CTL:         {"epoll_ctl", sysEpollCtl},
	unix.SYS_EPOLL_WAIT:        {"epoll_wait", sysEpollWait},
	unix.SYS_EPOLL_PWAIT:       {"epoll_pwait", sysEpollPwait},
	unix.SYS_EPOLL_PWAIT2:      {"epoll_pwait2", sysEpollPwait2},
	unix.SYS_PPOLL:             {"ppoll", sysPpoll},
	// select.go
	unix.SYS_SELECT:   {"select", sysSelect},
	unix.SYS_PSELECT6: {"pselect6", sysPselect6},
	// memfd.go
	unix.SYS_MEMFD_CREATE: {"memfd_create", sysMemfdCreate},
	unix.SYS_MEMFD_SECRET: {"memfd_secret", sysMemfdSecret},
	unix.SYS_USERFAULTFD:  {"userfaultfd", sysUserfaultfd},
	unix.SYS_FTRUNCATE:    {"ftruncate", sysFtruncate},
	unix.SYS_FALLOCATE:    {"fallocate", sysFallocate},
	unix.SYS_PWRITE64:     {"pwrite64", sysPwrite64},
	// pwritev.go
	unix.SYS_PWRITEV:  {"pwritev", sysPwritev},
	unix.SYS_PWRITEV2: {"pwritev2", sysPwritev2},
	// signal_default.go
	unix.SYS_KILL:          {"kill", sysKill},
	unix.SYS_TKILL:         {"tkill", sysTkill},
	unix.SYS_TGKILL:        {"tgkill", sysTgkill},
	unix.SYS_RT_SIGPENDING: {"rt_sigpending", sysRtSigpending},
	unix.SYS_SIGALTSTACK:   {"sigaltstack", sysSigaltstack},
	// signal_deliver.go
	unix.SYS_RT_SIGRETURN:  {"rt_sigreturn", sysRtSigreturn},
	unix.SYS_RT_SIGSUSPEND: {"rt_sigsuspend", sysRtSigsuspend},
	unix.SYS_PAUSE:         {"pause", sysPause},
	// exec.go
	unix.SYS_EXECVE:   {"execve", sysExecve},
	unix.SYS_EXECVEAT: {"execveat", sysExecveat},
	// sleep.go
	// procinfo.go
	unix.SYS_SCHED_GETAFFINITY: {"sched_getaffinity", sysSchedGetaffinity},
	unix.SYS_SCHED_SETAFFINITY: {"sched_setaffinity", sysSchedSetaffinity},
	unix.SYS_GETCPU:            {"getcpu", sysGetcpu},
	unix.SYS_GETCWD:            {"getcwd", sysGetcwd},
	unix.SYS_UMASK:             {"umask", sysUmask},
	unix.SYS_SYSINFO:           {"sysinfo", sysSysinfo},
	unix.SYS_GETRUSAGE:         {"getrusage", sysGetrusage},
	unix.SYS_TIMES:             {"times", sysTimes},
	unix.SYS_PRCTL:             {"prctl", sysPrctl},
	unix.SYS_READLINK:          {"readlink", sysReadlink},
	unix.SYS_READLINKAT:        {"readlinkat", sysReadlinkat},
	// files.go
	unix.SYS_PREAD64:    {"pread64", sysPread64},
	unix.SYS_READV:      {"readv", sysReadv},
	unix.SYS_PREADV:     {"preadv", sysPreadv},
	unix.SYS_PREADV2:    {"preadv2", sysPreadv2},
	unix.SYS_STAT:       {"stat", sysStat},
	unix.SYS_LSTAT:      {"lstat", sysLstat},
	unix.SYS_LSEEK:      {"lseek", sysLseek},
	unix.SYS_STATX:      {"statx", sysStatx},
	unix.SYS_GETDENTS64: {"getdents64", sysGetdents64},
	unix.SYS_GETDENTS:   {"getdents", sysGetdents},
	unix.SYS_CHDIR:      {"chdir", sysChdir},
	unix.SYS_FCHDIR:     {"fchdir", sysFchdir},
	unix.SYS_OPEN:       {"open", sysOpen},
	unix.SYS_OPENAT:     {"openat", sysOpenat},
	unix.SYS_ACCESS:     {"access", sysAccess},
	unix.SYS_FACCESSAT:  {"faccessat", sysFaccessat},
	unix.SYS_FACCESSAT2: {"faccessat2", sysFaccessat2},
	// statfs.go
	unix.SYS_STATFS:  {"statfs", sysStatfs},
	unix.SYS_FSTATFS: {"fstatfs", sysFstatfs},
	// fsnames.go
	unix.SYS_MKDIR:     {"mkdir", sysMkdir},
	unix.SYS_MKDIRAT:   {"mkdirat", sysMkdirat},
	unix.SYS_MKNOD:     {"mknod", sysMknod},
	unix.SYS_MKNODAT:   {"mknodat", sysMknodat},
	unix.SYS_SYMLINK:   {"symlink", sysSymlink},
	unix.SYS_SYMLINKAT: {"symlinkat", sysSymlinkat},
	unix.SYS_LINK:      {"link", sysLink},
	unix.SYS_LINKAT:    {"linkat", sysLinkat},
	unix.SYS_UNLINK:    {"unlink", sysUnlink},
	unix.SYS_UNLINKAT:  {"unlinkat", sysUnlinkat},
	unix.SYS_RMDIR:     {"rmdir", sysRmdir},
	unix.SYS_RENAME:    {"rename", sysRename},
	unix.SYS_RENAMEAT:  {"renameat", sysRenameat},
	unix.SYS_RENAMEAT2: {"renameat2", sysRenameat2},
	unix.SYS_CHMOD:     {"chmod", sysChmod},
	unix.SYS_FCHMOD:    {"fchmod", sysFchmod},
	unix.SYS_FCHMODAT:  {"fchmodat", sysFchmodat},
	unix.SYS_FCHMODAT2: {"fchmodat2", sysFchmodat2},
	unix.SYS_CHOWN:     {"chown", sysChown},
	unix.SYS_LCHOWN:    {"lchown", sysLchown},
	unix.SYS_FCHOWN:    {"fchown", sysFchown},
	unix.SYS_FCHOWNAT:  {"fchownat", sysFchownat},
	unix.SYS_TRUNCATE:  {"truncate", sysTruncate},
	unix.SYS_UTIME:     {"utime", sysUtime},
	unix.SYS_UTIMES:    {"utimes", sysUtimes},
	unix.SYS_FUTIMESAT: {"futimesat", sysFutimesat},
	unix.SYS_UTIMENSAT: {"utimensat", sysUtimensat},
	unix.SYS_CREAT:     {"creat", sysCreat},
	unix.SYS_FSYNC:     {"fsync", sysFsync},
	unix.SYS_FDATASYNC: {"fdatasync", sysFsync},
	unix.SYS_SYNC:      {"sync", sysZero},
	unix.SYS_SYNCFS:    {"syncfs", sysSyncfs},

	unix.SYS_MMAP:                    {"mmap", sysMmap},
	unix.SYS_MUNMAP:                  {"munmap", sysMunmap},
	unix.SYS_MREMAP:                  {"mremap", sysMremap},
	unix.SYS_MPROTECT:                {"mprotect", sysMprotect},
	unix.SYS_BRK:                     {"brk", sysBrk},
	unix.SYS_MADVISE:                 {"madvise", sysMadvise},
	unix.SYS_MLOCK:                   {"mlock", sysMlock},
	unix.SYS_MLOCK2:                  {"mlock2", sysMlock2},
	unix.SYS_MUNLOCK:                 {"munlock", sysMunlock},
	unix.SYS_MLOCKALL:                {"mlockall", sysMlockall},
	unix.SYS_MUNLOCKALL:              {"munlockall", sysMunlockall},
	unix.SYS_MSEAL:                   {"mseal", sysMseal},
	unix.SYS_MSYNC:                   {"msync", sysMsync},
	unix.SYS_MINCORE:                 {"mincore", sysMincore},
	unix.SYS_MBIND:                   {"mbind", sysMbind},
	unix.SYS_GET_MEMPOLICY:           {"get_mempolicy", sysGetMempolicy},
	unix.SYS_SET_MEMPOLICY:           {"set_mempolicy", sysSetMempolicy},
	unix.SYS_SET_MEMPOLICY_HOME_NODE: {"set_mempolicy_home_node", sysSetMempolicyHomeNode},
	unix.SYS_MIGRATE_PAGES:           {"migrate_pages", sysMigratePages},
	unix.SYS_MOVE_PAGES:              {"move_pages", sysMovePages},
	unix.SYS_SHMGET:                  {"shmget", sysShmget},
	unix.SYS_SHMAT:                   {"shmat", sysShmat},
	unix.SYS_SHMDT:                   {"shmdt", sysShmdt},
	unix.SYS_SHMCTL:                  {"shmctl", sysShmctl},
	unix.SYS_MSGGET:                  {"msgget", sysMsgget},
	unix.SYS_MSGSND:                  {"msgsnd", sysMsgsnd},
	unix.SYS_MSGRCV:                  {"msgrcv", sysMsgrcv},
	unix.SYS_MSGCTL:                  {"msgctl", sysMsgctl},
	unix.SYS_SEMGET:                  {"semget", sysSemget},
	unix.SYS_SEMOP:                   {"semop", sysSemop},
	unix.SYS_SEMTIMEDOP:              {"semtimedop", sysSemtimedop},
	unix.SYS_SEMCTL:                  {"semctl", sysSemctl},
	unix.SYS_MQ_OPEN:                 {"mq_open", sysMqOpen},
	unix.SYS_MQ_UNLINK:               {"mq_unlink", sysMqUnlink},
	unix.SYS_MQ_TIMEDSEND:            {"mq_timedsend", sysMqTimedsend},
	unix.SYS_MQ_TIMEDRECEIVE:         {"mq_timedreceive", sysMqTimedreceive},
	unix.SYS_MQ_NOTIFY:               {"mq_notify", sysMqNotify},
	unix.SYS_MQ_GETSETATTR:           {"mq_getsetattr", sysMqGetsetattr},
	unix.SYS_CLOSE_RANGE:             {"close_range", sysCloseRange},
	unix.SYS_FLOCK:                   {"flock", sysFlock},
	unix.SYS_SCHED_GET_PRIORITY_MAX:  {"sched_get_priority_max", sysSchedGetPriorityMax},
	unix.SYS_SCHED_GET_PRIORITY_MIN:  {"sched_get_priority_min", sysSchedGetPriorityMin},
	unix.SYS_SCHED_GETSCHEDULER:      {"sched_getscheduler", sysSchedGetscheduler},
	unix.SYS_SCHED_SETSCHEDULER:      {"sched_setscheduler", sysSchedSetscheduler},
	unix.SYS_SCHED_GETPARAM:          {"sched_getparam", sysSchedGetparam},
	unix.SYS_SCHED_SETPARAM:          {"sched_setparam", sysSchedSetparam},
	unix.SYS_SCHED_RR_GET_INTERVAL:   {"sched_rr_get_interval", sysSchedRRGetInterval},
	unix.SYS_SCHED_GETATTR:           {"sched_getattr", sysSchedGetattr},
	unix.SYS_SCHED_SETATTR:           {"sched_setattr", sysSchedSetattr},
	unix.SYS_FADVISE64:               {"fadvise64", sysFadvise64},
	unix.SYS_READAHEAD:               {"readahead", sysReadahead},
	unix.SYS_SYNC_FILE_RANGE:         {"sync_file_range", sysSyncFileRange},

	// creds.go
	unix.SYS_GETRESUID: {"getresuid", sysGetresuid},
	unix.SYS_GETRESGID: {"getresgid", sysGetresgid},
	unix.SYS_SETUID:    {"setuid", sysSetuid},
	unix.SYS_SETGID:    {"setgid", sysSetgid},
	unix.SYS_SETREUID:  {"setreuid", sysSetreuid},
	unix.SYS_SETREGID:  {"setregid", sysSetregid},
	unix.SYS_SETRESUID: {"setresuid", sysSetresuid},
	unix.SYS_SETRESGID: {"setresgid", sysSetresgid},
	unix.SYS_SETFSUID:  {"setfsuid", sysSetfsuid},
	unix.SYS_SETFSGID:  {"setfsgid", sysSetfsgid},
	unix.SYS_CAPGET:    {"capget", sysCapget},
	unix.SYS_CAPSET:    {"capset", sysCapset},
	unix.SYS_SETGROUPS: {"setgroups", sysSetgroups},
	// pidfd.go
	unix.SYS_PIDFD_OPEN:        {"pidfd_open", sysPidfdOpen},
	unix.SYS_PIDFD_SEND_SIGNAL: {"pidfd_send_signal", sysPidfdSendSignal},
	unix.SYS_PIDFD_GETFD:       {"pidfd_getfd", sysPidfdGetfd},
	unix.SYS_PROCESS_MADVISE:   {"process_madvise", sysProcessMadvise},
	unix.SYS_PROCESS_MRELEASE:  {"process_mrelease", sysProcessMrelease},
	// pkeys.go
	unix.SYS_PKEY_ALLOC:       {"pkey_alloc", sysPkeyAlloc},
	unix.SYS_PKEY_FREE:        {"pkey_free", sysPkeyFree},
	unix.SYS_PKEY_MPROTECT:    {"pkey_mprotect", sysPkeyMprotect},
	unix.SYS_REMAP_FILE_PAGES: {"remap_file_pages", sysRemapFilePages},
	// splice.go
	unix.SYS_SENDFILE:        {"sendfile", sysSendfile},
	unix.SYS_SPLICE:          {"splice", sysSplice},
	unix.SYS_TEE:             {"tee", sysTee},
	unix.SYS_VMSPLICE:        {"vmsplice", sysVmsplice},
	unix.SYS_COPY_FILE_RANGE: {"copy_file_range", sysCopyFileRange},
	// personality.go, uts.go, ioprio.go, syslog.go
	unix.SYS_PERSONALITY:   {"personality", sysPersonality},
	unix.SYS_SETHOSTNAME:   {"sethostname", sysSethostname},
	unix.SYS_SETDOMAINNAME: {"setdomainname", sysSetdomainname},
	unix.SYS_IOPRIO_GET:    {"ioprio_get", sysIoprioGet},
	unix.SYS_IOPRIO_SET:    {"ioprio_set", sysIoprioSet},
	unix.SYS_SYSLOG:        {"syslog", sysSyslog},
	// xattr.go
	unix.SYS_SETXATTR:      {"setxattr", sysSetxattr},
	unix.SYS_LSETXATTR:     {"lsetxattr", sysLsetxattr},
	unix.SYS_FSETXATTR:     {"fsetxattr", sysFsetxattr},
	unix.SYS_SETXATTRAT:    {"setxattrat", sysSetxattrat},
	unix.SYS_GETXATTR:      {"getxattr", sysGetxattr},
	unix.SYS_LGETXATTR:     {"lgetxattr", sysLgetxattr},
	unix.SYS_FGETXATTR:     {"fgetxattr", sysFgetxattr},
	unix.SYS_GETXATTRAT:    {"getxattrat", sysGetxattrat},
	unix.SYS_LISTXATTR:     {"listxattr", sysListxattr},
	unix.SYS_LLISTXATTR:    {"llistxattr", sysLlistxattr},
	unix.SYS_FLISTXATTR:    {"flistxattr", sysFlistxattr},
	unix.SYS_LISTXATTRAT:   {"listxattrat", sysListxattrat},
	unix.SYS_REMOVEXATTR:   {"removexattr", sysRemovexattr},
	unix.SYS_LREMOVEXATTR:  {"lremovexattr", sysLremovexattr},
	unix.SYS_FREMOVEXATTR:  {"fremovexattr", sysFremovexattr},
	unix.SYS_REMOVEXATTRAT: {"removexattrat", sysRemovexattrat},
	// signal_wait.go
	unix.SYS_RT_SIGTIMEDWAIT:   {"rt_sigtimedwait", sysRtSigtimedwait},
	unix.SYS_RT_SIGQUEUEINFO:   {"rt_sigqueueinfo", sysRtSigqueueinfo},
	unix.SYS_RT_TGSIGQUEUEINFO: {"rt_tgsigqueueinfo", sysRtTgsigqueueinfo},
	unix.SYS_SIGNALFD:          {"signalfd", sysSignalfd},
	unix.SYS_SIGNALFD4:         {"signalfd4", sysSignalfd4},
}

// Name returns the x86-64 Linux name of syscall nr, whether mmvm
// implements it or not, or "syscall_<nr>" for a number Linux does not
// define.
func Name(nr uint64) string {
	if nr < uint64(len(names)) && names[nr] != "" {
		return names[nr]
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// Implemented reports whether mmvm serves syscall nr (any other number is
// answered ENOSYS).
func Implemented(nr uint64) bool {
	_, ok := table[nr]
	return ok
}

// Syscall serves system call nr on the main task, as Task.Syscall does
// (tests).
func (p *Process) Syscall(nr uint64, a [6]uint64) uint64 { return p.main.Syscall(nr, a) }

// Syscall serves system call nr with arguments a (RDI, RSI, RDX, R10, R8,
// R9) from a user context holding nothing else, takes the signals due at
// the return to user mode, and returns the value for RAX (tests; the
// machine uses HandleSyscall). After it returns, Exited says whether the
// program ended and FSBase whether the vCPU's FS base must change.
func (t *Task) Syscall(nr uint64, a [6]uint64) uint64 {
	regs := UserRegs{RAX: nr, RDI: a[0], RSI: a[1], RDX: a[2], R10: a[3], R8: a[4], R9: a[5]}
	t.HandleSyscall(&regs)
	return regs.RAX
}

// HandleSyscall serves the system call regs hold (the number in RAX, the
// arguments in RDI, RSI, RDX, R10, R8, R9, RCX and R11 as SYSCALL left
// them) and leaves in regs the context the program returns to: the result
// in RAX, or, when it returns true, a context changed beyond RAX (a
// signal handler's entry, or what rt_sigreturn restored) that the vCPU
// must load whole. Exited and Signaled say whether the program ended
// instead.
func (t *Task) HandleSyscall(regs *UserRegs) bool {
	nr := regs.RAX
	t.calls.add(nr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Exited() {
		return false
	}
	t.tsig.redirected = false
	if t.hostTID == 0 {
		t.hostTID = unix.Gettid() // the vCPU's thread, locked to it
	}
	ret := errno(unix.ENOSYS)
	if e, ok := table[nr]; ok {
		a := [6]uint64{regs.RDI, regs.RSI, regs.RDX, regs.R10, regs.R8, regs.R9}
		t.regs = regs
		ret = e.fn(t, &a)
		t.regs = nil
	}
	regs.RAX = ret
	t.returnToUser(regs, nr, true)
	return t.tsig.redirected
}

// TakeSignals takes the signals due to the thread at an interrupt exit
// (Config.Interrupt kicked its vCPU out of guest mode), as Linux does on
// any return to user mode: each deliverable signal's handler gets its
// frame, or its default action is taken. It returns true when regs now
// hold a changed context (a handler's entry) that the vCPU must load
// whole; Exited and Signaled say whether the program or the thread ended
// instead.
func (t *Task) TakeSignals(regs *UserRegs) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Exited() {
		return false
	}
	t.tsig.redirected = false
	t.returnToUser(regs, 0, false)
	return t.tsig.redirected
}

// errno encodes e as Linux returns it in RAX.
func errno(e unix.Errno) uint64 { return uint64(-int64(e)) }

// result encodes (v, err) for RAX. err should be a unix.Errno or wrap one;
// any other error is a bug in mmvm and becomes EINVAL, never a silent
// success.
func result(v uint64, err error) uint64 {
	if err == nil {
		return v
	}
	return errno(toErrno(err))
}

func toErrno(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EINVAL
}

func sysENOSYS(*Task, *[6]uint64) uint64 { return errno(unix.ENOSYS) }
func sysZero(*Task, *[6]uint64) uint64   { return 0 }
