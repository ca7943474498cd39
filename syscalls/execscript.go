package syscalls

import (
	"bytes"

	"golang.org/x/sys/unix"
)

// A file that starts with "#!" runs as Linux's binfmt_script runs it: the
// interpreter its first line names runs instead, with argv[0] replaced by
// the interpreter's name, its one optional argument, and the script's
// name (fs/binfmt_script.c). The interpreter may be a script itself, up to
// exec_binprm's depth.

const (
	// binprmBufSize is BINPRM_BUF_SIZE: how much of a file's start the
	// kernel reads to tell its format; the "#!" line must end in it.
	binprmBufSize = 256
	// maxInterpDepth is how many scripts one execve goes through before
	// ELOOP (exec_binprm's depth > 5).
	maxInterpDepth = 5
)

// loadScripts replaces img's file by its interpreter while the file is a
// script, as Linux's exec_binprm loops over search_binary_handler: the
// argv img holds changes as load_script changes it (argv[0] removed, the
// name the script was found by put in front, then the optional argument,
// then the interpreter's name: each taken from room, E2BIG where it has
// none), and the interpreter is looked up as open_exec does, from the
// working directory, links followed. img keeps the script's filename
// (AT_EXECFN) and task name; /proc/self/exe becomes the interpreter. A
// script reached through /dev/fd/N of a close-on-exec fd is ENOENT (the
// interpreter could not open it).
func (t *Task) loadScripts(img *execImage, room *uint64) unix.Errno {
	interp := img.filename // bprm->interp
	for depth := 0; ; depth++ {
		if depth > maxInterpDepth {
			return unix.ELOOP
		}
		head, e := img.header()
		if e != 0 {
			return e
		}
		if !bytes.HasPrefix(head, []byte("#!")) {
			return 0
		}
		name, arg, hasArg, e := scriptInterpreter(head)
		if e != 0 {
			return e
		}
		if img.pathInaccessible {
			return unix.ENOENT
		}
		front := []string{name}
		if hasArg {
			front = append(front, arg)
		}
		front = append(front, interp)
		// copy_string_kernel's order: the script's name, the
		// argument, the interpreter's name.
		for i := len(front) - 1; i >= 0; i-- {
			if e := takeArgRoom(room, len(front[i])); e != 0 {
				return e
			}
		}
		if name == "" {
			// "#!" and a NUL: open_exec's kernel name may be empty,
			// which finds the working directory, no regular file.
			return unix.EACCES
		}
		next, e := t.findExecPath(atFDCWD, name, true)
		if e != 0 {
			return e
		}
		img.release()
		img.guestPath, img.hostPath, img.shared = next.guestPath, next.hostPath, next.shared
		img.argv = append(front, img.argv[1:]...)
		interp = name
	}
}

// header is the start of the file img runs, at most binprmBufSize bytes.
func (img *execImage) header() ([]byte, unix.Errno) {
	buf := make([]byte, binprmBufSize)
	if img.shared != nil {
		n, err := img.shared.ReadAt(buf, 0)
		if err != nil && n == 0 && img.shared.Size() > 0 {
			return nil, unix.EIO
		}
		return buf[:n], 0
	}
	fd, err := unix.Open(img.hostPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, toErrno(err)
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		k, err := unix.Pread(fd, buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, toErrno(err)
		}
		if k == 0 {
			break
		}
		n += k
	}
	return buf[:n], 0
}

// scriptInterpreter parses a script's "#!" line from head, its first
// bytes, as load_script does: the line ends at the first newline, or, with
// none in the first binprmBufSize bytes, at the buffer's end provided the
// interpreter's name ends before it (else ENOEXEC: the name may be cut
// off); trailing blanks go; the name follows the blanks after "#!" up to
// a blank or NUL (ENOEXEC if there is none), and anything after the blanks
// that follow it, up to the line's end or a NUL, is the one argument.
func scriptInterpreter(head []byte) (name, arg string, hasArg bool, e unix.Errno) {
	buf := make([]byte, binprmBufSize) // zero past the file's end, as prepare_binprm's
	copy(buf, head)
	blank := func(c byte) bool { return c == ' ' || c == '\t' }
	// nonBlank and terminator are next_non_spacetab and next_terminator:
	// the first index in [i, last] that is not a blank, or is a blank or
	// NUL; -1 where there is none.
	nonBlank := func(i, last int) int {
		for ; i <= last; i++ {
			if !blank(buf[i]) {
				return i
			}
		}
		return -1
	}
	terminator := func(i, last int) int {
		for ; i <= last; i++ {
			if blank(buf[i]) || buf[i] == 0 {
				return i
			}
		}
		return -1
	}
	bufEnd := len(buf) - 1
	line := buf // strnchr's search for the newline stops at a NUL
	if nul := bytes.IndexByte(buf, 0); nul >= 0 {
		line = buf[:nul]
	}
	end := bytes.IndexByte(line, '\n')
	if end < 0 {
		first := nonBlank(2, bufEnd)
		if first < 0 || terminator(first, bufEnd) < 0 {
			return "", "", false, unix.ENOEXEC
		}
		end = bufEnd
	}
	for blank(buf[end-1]) {
		end--
	}
	buf[end] = 0
	start := nonBlank(2, end)
	if start < 0 || start == end {
		return "", "", false, unix.ENOEXEC
	}
	sep := terminator(start, end)
	name = string(buf[start:sep])
	if buf[sep] != 0 {
		a := nonBlank(sep, end)
		arg, hasArg = string(buf[a:a+bytes.IndexByte(buf[a:], 0)]), true
	}
	return name, arg, hasArg, 0
}
