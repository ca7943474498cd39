package syscalls

import (
	"encoding/binary"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Moving bytes between files without the program's buffers: sendfile,
// splice, tee, vmsplice (fs/splice.c) and copy_file_range
// (fs/read_write.c), between the files mmvm has, with Linux's checks in
// Linux's order.
//
// Which files take part is Linux's: a file that can be read into a pipe
// has a splice_read (the page cache's for a regular file of a view, a
// memfd or a tmpfs file; copy_splice_read's for /dev/zero, /dev/full,
// /dev/urandom, /dev/random and the /proc files that are no process's
// own), one that can be written from a pipe a splice_write (a memfd or
// tmpfs file, /dev/null, /dev/zero, /dev/urandom and /dev/random, and
// stdout and stderr, whose host descriptor takes the bytes as write does);
// every other file (/dev/null read, /dev/full written, a directory, a
// process's /proc files, an eventfd, epoll or pidfd) is EINVAL. Stdin is
// never read by these calls (EINVAL), and stdio is never a pipe end for
// splice: mmvm does not know the host descriptor's free room.
//
// A pipe keeps what splice, tee and vmsplice put in it as Linux's buffers:
// a file's bytes one buffer per file page (so 16 free slots take
// 65536-pos%4096 bytes of a regular file, whole pages of a device), none
// of which a later write tops up. vmsplice copies the program's bytes when
// it is called, where Linux's buffers keep referring to the program's
// pages: a change to the memory between the vmsplice and the read is not
// seen. splice into a pipe and sendfile to one put in what fits, waiting
// only for the first free slot; sendfile and copy_file_range between two
// files move the whole count.
//
// An anon file that has a splice_read or splice_write (a socket) takes
// part by implementing anonSplicer.

// splice's flags (include/linux/splice.h).
const (
	spliceFNonblock = 0x2
	spliceFAll      = 0xf // MOVE, NONBLOCK, MORE, GIFT
)

// anonSplicer is implemented by an anon file that Linux can splice from
// (spliceRead: up to len(b) bytes of it) or to (spliceWrite); a kind it
// does not have returns EINVAL. nonblock is SPLICE_F_NONBLOCK or the
// description's O_NONBLOCK, as the call takes them.
type anonSplicer interface {
	spliceRead(t *Task, f *openFile, b []byte, nonblock bool) (int, unix.Errno)
	spliceWrite(t *Task, f *openFile, b []byte, nonblock bool) (int, unix.Errno)
}

// spliceReader is how a file is read by splice (Linux's splice_read).
type spliceReader int

const (
	noSpliceRead   spliceReader = iota
	pageSpliceRead              // the page cache's: a buffer per file page
	copySpliceRead              // copy_splice_read: fresh pages, from offset 0
	anonSpliceRead              // anonSplicer's
)

// spliceWriter is how a file is written by splice (Linux's splice_write).
type spliceWriter int

const (
	noSpliceWrite      spliceWriter = iota
	fileSpliceWrite                 // a memfd or tmpfs file, at a position
	discardSpliceWrite              // /dev/null, /dev/zero, /dev/urandom, /dev/random
	stdioSpliceWrite                // stdout or stderr, as write
	anonSpliceWrite                 // anonSplicer's
)

// fdget returns the description fd names for a call that takes any open
// file: EBADF for an fd not open or opened O_PATH.
func (p *Process) fdget(fd uint64) (*openFile, unix.Errno) {
	f, e := p.file(fd)
	if e == 0 && f.fs != nil && f.fs.pathOnly {
		return nil, unix.EBADF
	}
	return f, e
}

// canRead and canWrite are Linux's FMODE_READ and FMODE_WRITE: the access
// mode the description was opened with.
func (f *openFile) canRead() bool {
	acc := f.flags & unix.O_ACCMODE
	return acc == unix.O_RDONLY || acc == unix.O_RDWR
}

func (f *openFile) canWrite() bool {
	acc := f.flags & unix.O_ACCMODE
	return acc == unix.O_WRONLY || acc == unix.O_RDWR
}

// positioned says f has Linux's FMODE_PREAD and FMODE_PWRITE: a file of
// the file system; pipes, stdio (a terminal or pipe) and anon files are
// streams.
func (f *openFile) positioned() bool { return f.fs != nil }

// position is f's file position; setPosition moves it (a device has none).
func (f *openFile) position() int64 {
	if f.fs != nil {
		return f.fs.pos
	}
	return 0
}

func (f *openFile) setPosition(pos int64) {
	if f.advances() {
		f.fs.pos = pos
	}
}

// advances says a transfer moves the position it starts at: not for a
// device, whose reads and writes leave it (and an offset given for it)
// where it was, as Linux's read_iter_zero and splice_write_null do.
func (f *openFile) advances() bool { return f.fs != nil && f.fs.seekable() }

// spliceReaderOf says how f is read by splice.
func (p *Process) spliceReaderOf(f *openFile) spliceReader {
	if f.anon != nil {
		if _, ok := f.anon.(anonSplicer); ok {
			return anonSpliceRead
		}
		return noSpliceRead
	}
	fs := f.fs
	switch {
	case fs == nil || fs.isDir():
		return noSpliceRead
	case fs.shm != nil || fs.host != nil:
		return pageSpliceRead
	case fs.node == nil:
		return noSpliceRead
	case fs.node.kind == nodeDevice:
		if fs.node.device == devNull {
			return noSpliceRead
		}
		return copySpliceRead
	case fs.node.kind == nodeProc:
		if procPerProcess(fs.path) {
			return noSpliceRead
		}
		return copySpliceRead
	}
	return noSpliceRead
}

// procPerProcess says the /proc file at path is a process's own
// (/proc/<pid>/..., /proc/self/..., /proc/thread-self/...), which Linux
// gives no splice_read.
func procPerProcess(path string) bool {
	rest, ok := strings.CutPrefix(path, "/proc/")
	if !ok {
		return false
	}
	dir, _, _ := strings.Cut(rest, "/")
	if dir == "self" || dir == "thread-self" {
		return true
	}
	return dir != "" && strings.Trim(dir, "0123456789") == ""
}

// spliceWriterOf says how f is written by splice.
func (p *Process) spliceWriterOf(f *openFile) spliceWriter {
	if f.anon != nil {
		if _, ok := f.anon.(anonSplicer); ok {
			return anonSpliceWrite
		}
		return noSpliceWrite
	}
	if f.pipe != nil {
		return noSpliceWrite
	}
	fs := f.fs
	switch {
	case fs == nil:
		if f.stdio == 1 || f.stdio == 2 {
			return stdioSpliceWrite
		}
	case fs.shm != nil:
		return fileSpliceWrite
	case fs.node != nil && fs.node.kind == nodeDevice:
		if fs.node.device != devFull {
			return discardSpliceWrite
		}
	}
	return noSpliceWrite
}

// spliceRead reads up to len(b) bytes of f at pos for a splice: a file of
// the file system until b is full or its end, an anon file once.
func (t *Task) spliceRead(f *openFile, r spliceReader, b []byte, pos int64, nonblock bool) (int, unix.Errno) {
	if r == anonSpliceRead {
		return f.anon.(anonSplicer).spliceRead(t, f, b, nonblock)
	}
	done := 0
	for done < len(b) {
		n, e := t.readAt(f.fs, b[done:], pos+int64(done))
		if e != 0 {
			if done == 0 {
				return 0, e
			}
			break
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, 0
}

// spliceWrite writes b to f at pos for a splice: the bytes taken, or an
// error if none were.
func (t *Task) spliceWrite(f *openFile, w spliceWriter, b []byte, pos int64) (int, unix.Errno) {
	switch w {
	case fileSpliceWrite:
		n, err := f.fs.shm.WriteAt(b, uint64(pos))
		f.fs.modified()
		if err != nil && n == 0 {
			return 0, toErrno(err)
		}
		return n, 0
	case discardSpliceWrite:
		return len(b), 0
	case stdioSpliceWrite:
		o, ok := t.stdout(uint64(f.stdio))
		if !ok {
			return 0, unix.EBADF
		}
		n, e := t.write(o, b)
		if n > 0 {
			return n, 0
		}
		return 0, e
	case anonSpliceWrite:
		return f.anon.(anonSplicer).spliceWrite(t, f, b, false)
	}
	return 0, unix.EINVAL
}

// verifyArea is Linux's rw_verify_area for a transfer of n bytes at pos:
// EINVAL for a count or position that is negative, or whose end is.
func verifyArea(pos int64, n uint64) unix.Errno {
	if int64(n) < 0 || pos < 0 || pos+int64(n) < 0 {
		return unix.EINVAL
	}
	return 0
}

// room is how many of pp's slots are free.
func (pp *pipe) room() int { return pp.slots() - len(pp.bufs) }

// waitForRoom waits until pp has a free slot, as Linux's wait_for_space:
// EPIPE (and SIGPIPE) with no reader, EAGAIN for nonblock, ERESTARTSYS
// for a signal, EINTR at the run's end.
func (t *Task) waitForRoom(pp *pipe, nonblock bool) unix.Errno {
	for {
		if pp.readers == 0 {
			t.sendPipeSignal()
			return unix.EPIPE
		}
		if !pp.full() {
			return 0
		}
		if nonblock {
			return unix.EAGAIN
		}
		if e := t.waitPipe(); e != 0 {
			return e
		}
	}
}

// waitPipe waits for another thread to change a pipe: ERESTARTSYS for a
// signal, EINTR at the run's end.
func (t *Task) waitPipe() unix.Errno {
	switch t.block(t.fdWaitChannel(), nil) {
	case wokeSignal:
		return errRestartSys
	case wokeEnd:
		return unix.EINTR
	}
	return 0
}

// waitForBytes waits until pp holds bytes, as Linux's
// splice_from_pipe_next before it has taken any: eof with no writer left,
// ERESTARTSYS for a signal pending (even with bytes there), EAGAIN for
// nonblock.
func (t *Task) waitForBytes(pp *pipe, nonblock bool) (eof bool, e unix.Errno) {
	switch t.interruption() {
	case wokeSignal:
		return false, errRestartSys
	case wokeEnd:
		return false, unix.EINTR
	}
	for len(pp.bufs) == 0 {
		if pp.writers == 0 {
			return true, 0
		}
		if nonblock {
			return false, unix.EAGAIN
		}
		if e := t.waitPipe(); e != 0 {
			return false, e
		}
	}
	return false, 0
}

// pipeFilled tells pp's readers that buffers came.
func (t *Task) pipeFilled(pp *pipe) {
	pp.rdWait.notify(epollIn | epollRdNorm)
	t.fdWaitersLookAgain()
}

// pipeEmptied tells pp's writers that slots were freed.
func (t *Task) pipeEmptied(pp *pipe) {
	pp.wrWait.notify(epollOut | epollWrNorm)
	t.fdWaitersLookAgain()
}

// spliceToPipe reads up to n bytes of in at *pos into pp, as Linux's
// splice_file_to_pipe: it waits for a free slot, then puts in what the
// free slots take (vfs_splice_read's checks first: the position, then
// whether in can be read so), and moves *pos past it.
func (t *Task) spliceToPipe(in *openFile, pp *pipe, pos *int64, n uint64, nonblock bool) (uint64, unix.Errno) {
	if e := t.waitForRoom(pp, nonblock); e != 0 {
		return 0, e
	}
	if n == 0 {
		return 0, 0
	}
	room := pp.room()
	for room > 0 && !t.roomFor(uint64(room)*arch.PageSize) {
		room--
	}
	if room == 0 {
		return 0, unix.ENOMEM
	}
	n = min(n, uint64(room)*arch.PageSize)
	if e := verifyArea(*pos, n); e != 0 {
		return 0, e
	}
	r := t.spliceReaderOf(in)
	if r == noSpliceRead {
		return 0, unix.EINVAL
	}
	// A page-cache buffer starts where the position is in its page.
	first := 0
	if r == pageSpliceRead {
		first = int(*pos % arch.PageSize)
		n = min(n, uint64(room*arch.PageSize-first))
	}
	b := make([]byte, n)
	got, e := t.spliceRead(in, r, b, *pos, nonblock)
	if e != 0 {
		return 0, e
	}
	for done := 0; done < got; first = 0 {
		k := min(got-done, arch.PageSize-first)
		page := make([]byte, arch.PageSize)
		copy(page[first:], b[done:done+k])
		pp.push(&pipeBuf{page: page, off: first, end: first + k})
		done += k
	}
	if got > 0 {
		if in.advances() {
			*pos += int64(got)
		}
		t.pipeFilled(pp)
	}
	return uint64(got), 0
}

// drainPipe moves up to n bytes out of pp through write, buffer by
// buffer, stopping at a short or failed write: the bytes moved, or the
// first write's error. A write that waits releases the lock: a buffer
// another thread took meanwhile ends the drain.
func (t *Task) drainPipe(pp *pipe, n uint64, write func(b []byte) (int, unix.Errno)) (uint64, unix.Errno) {
	var done uint64
	freed := false
	for done < n && len(pp.bufs) > 0 {
		b := pp.bufs[0]
		k := min(n-done, uint64(b.end-b.off))
		w, e := write(b.page[b.off : b.off+int(k)])
		done += uint64(w)
		if len(pp.bufs) == 0 || pp.bufs[0] != b {
			// Another thread took the buffer while the write waited
			// (stdout's host descriptor), the lock released.
			break
		}
		b.off += w
		if b.off == b.end {
			pp.pop()
			freed = true
		}
		if e != 0 && done == 0 {
			return 0, e
		}
		if e != 0 || uint64(w) < k {
			break
		}
	}
	if freed {
		t.pipeEmptied(pp)
	}
	return done, 0
}

// spliceFromPipe writes up to n bytes of pp to out at *pos, as Linux's
// do_splice_from: EINVAL for a file splice cannot write; it waits for
// bytes unless the pipe has none and no writer (0), then takes what the
// pipe holds, and moves *pos past what was written.
func (t *Task) spliceFromPipe(pp *pipe, out *openFile, pos *int64, n uint64, nonblock bool) (uint64, unix.Errno) {
	w := t.spliceWriterOf(out)
	if w == noSpliceWrite {
		return 0, unix.EINVAL
	}
	if eof, e := t.waitForBytes(pp, nonblock); eof || e != 0 {
		return 0, e
	}
	done, e := t.drainPipe(pp, n, func(b []byte) (int, unix.Errno) {
		k, e := t.spliceWrite(out, w, b, *pos)
		if out.advances() {
			*pos += int64(k)
		}
		return k, e
	})
	return done, e
}

// prepareInput waits until ip holds bytes, as Linux's ipipe_prep: a
// signal first (ERESTARTSYS), then no writer (0, the end), then nonblock
// (EAGAIN).
func (t *Task) prepareInput(ip *pipe, nonblock bool) unix.Errno {
	for len(ip.bufs) == 0 {
		switch t.interruption() {
		case wokeSignal:
			return errRestartSys
		case wokeEnd:
			return unix.EINTR
		}
		if ip.writers == 0 {
			return 0
		}
		if nonblock {
			return unix.EAGAIN
		}
		if e := t.waitPipe(); e != 0 {
			return e
		}
	}
	return 0
}

// prepareOutput waits until op has a free slot, as Linux's opipe_prep:
// EPIPE (and SIGPIPE) with no reader, EAGAIN for nonblock, ERESTARTSYS for
// a signal.
func (t *Task) prepareOutput(op *pipe, nonblock bool) unix.Errno {
	for op.full() {
		if op.readers == 0 {
			t.sendPipeSignal()
			return unix.EPIPE
		}
		if nonblock {
			return unix.EAGAIN
		}
		if e := t.waitPipe(); e != 0 {
			return e
		}
	}
	return 0
}

// splicePipeToPipe moves up to n bytes from ip to op, as Linux's
// splice_pipe_to_pipe: whole buffers move as they are; a buffer longer
// than what is left is split, its first part moved as a buffer no write
// tops up. It waits until there is something to move and room for it,
// then moves what it can.
func (t *Task) splicePipeToPipe(ip, op *pipe, n uint64, nonblock bool) (uint64, unix.Errno) {
	var done uint64
	for {
		if e := t.prepareInput(ip, nonblock); e != 0 {
			return 0, e
		}
		if e := t.prepareOutput(op, nonblock); e != 0 {
			return 0, e
		}
		for n > 0 {
			if op.readers == 0 {
				t.sendPipeSignal()
				if done == 0 {
					return 0, unix.EPIPE
				}
				break
			}
			if len(ip.bufs) == 0 || op.full() {
				break
			}
			b := ip.bufs[0]
			if k := uint64(b.end - b.off); n >= k {
				// The page moves with its charge.
				ip.bufs = ip.bufs[1:]
				op.bufs = append(op.bufs, b)
				n -= k
				done += k
				continue
			}
			if !t.pageRoom() {
				if done == 0 {
					return 0, unix.ENOMEM
				}
				break
			}
			page := make([]byte, arch.PageSize)
			copy(page[b.off:], b.page[b.off:b.off+int(n)])
			op.push(&pipeBuf{page: page, off: b.off, end: b.off + int(n)})
			b.off += int(n)
			done += n
			n = 0
		}
		if done > 0 {
			t.pipeEmptied(ip)
			t.pipeFilled(op)
			return done, 0
		}
		if len(ip.bufs) == 0 && ip.writers == 0 {
			return 0, 0
		}
		if nonblock {
			return 0, unix.EAGAIN
		}
	}
}

// teePipe copies up to n bytes of ip's buffers, leaving them there, to
// op, as Linux's link_pipe: what is there now and fits, no write topping
// up the copies.
func (t *Task) teePipe(ip, op *pipe, n uint64) (uint64, unix.Errno) {
	var done uint64
	for i := 0; n > 0; i++ {
		if op.readers == 0 {
			t.sendPipeSignal()
			if done == 0 {
				return 0, unix.EPIPE
			}
			break
		}
		if i >= len(ip.bufs) || op.full() {
			break
		}
		if !t.pageRoom() {
			if done == 0 {
				return 0, unix.ENOMEM
			}
			break
		}
		b := ip.bufs[i]
		k := min(n, uint64(b.end-b.off))
		page := make([]byte, arch.PageSize)
		copy(page[b.off:], b.page[b.off:b.off+int(k)])
		op.push(&pipeBuf{page: page, off: b.off, end: b.off + int(k)})
		n -= k
		done += k
	}
	if done > 0 {
		t.pipeFilled(op)
	}
	return done, 0
}

// directSplice copies up to n bytes of in at *inPos to out at *outPos,
// between two files neither of which is a pipe, as Linux's
// splice_direct_to_actor: in pieces of a pipe's size until n bytes, the
// end of in, a short write or an error (returned when nothing moved);
// whether out can be written so is asked at the first write. Both
// positions move past what was written.
func (t *Task) directSplice(in *openFile, inPos *int64, out *openFile, outPos *int64, n uint64) (uint64, unix.Errno) {
	if n == 0 {
		return 0, 0
	}
	r := t.spliceReaderOf(in)
	if r == noSpliceRead {
		return 0, unix.EINVAL
	}
	w := t.spliceWriterOf(out)
	buf := make([]byte, min(n, pipeDefaultSize))
	var done uint64
	for done < n {
		got, e := t.spliceRead(in, r, buf[:min(n-done, pipeDefaultSize)], *inPos, false)
		if e != 0 || got == 0 {
			if done == 0 {
				return 0, e
			}
			break
		}
		wrote, e := t.spliceWrite(out, w, buf[:got], *outPos)
		if in.advances() {
			*inPos += int64(wrote)
		}
		if out.advances() {
			*outPos += int64(wrote)
		}
		done += uint64(wrote)
		if e != 0 && done == 0 {
			return 0, e
		}
		if e != 0 || wrote < got || t.interrupted() {
			break
		}
	}
	return done, 0
}

// readOffset reads the loff_t at addr (0: none, nil).
func (p *Process) readOffset(addr arch.Addr) (*int64, unix.Errno) {
	if addr == 0 {
		return nil, 0
	}
	var b [8]byte
	if _, err := p.cfg.Memory.CopyIn(addr, b[:]); err != nil {
		return nil, unix.EFAULT
	}
	off := int64(binary.LittleEndian.Uint64(b[:]))
	return &off, 0
}

// writeOffset writes off back to the loff_t at addr.
func (p *Process) writeOffset(addr arch.Addr, off int64) unix.Errno {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(off))
	if _, err := p.cfg.Memory.CopyOut(addr, b[:]); err != nil {
		return unix.EFAULT
	}
	return 0
}

// sysSendfile is sendfile(out_fd, in_fd, offset, count) (sendfile64 on
// x86-64): the offset is read first and written back whatever the
// outcome, as Linux's.
func sysSendfile(t *Task, a *[6]uint64) uint64 {
	offAddr := arch.Addr(a[2])
	off, e := t.readOffset(offAddr)
	if e != 0 {
		return errno(e)
	}
	r := t.sendfile(a[0], a[1], off, a[3])
	if off != nil {
		if e := t.writeOffset(offAddr, *off); e != 0 {
			return errno(e)
		}
	}
	return r
}

// sendfile checks as Linux's do_sendfile, in its order: in open for
// reading, an offset only where in has positions (ESPIPE), the area, then
// out open for writing. Into a pipe it splices what fits (splice_file_to
// _pipe, nonblocking for an O_NONBLOCK pipe); into anything else it
// copies the whole count (O_APPEND: EINVAL). The offset (or in's position
// without one) and out's position move past what was sent.
func (t *Task) sendfile(outFD, inFD uint64, off *int64, count uint64) uint64 {
	in, e := t.fdget(inFD)
	if e != 0 {
		return errno(e)
	}
	if !in.canRead() {
		return errno(unix.EBADF)
	}
	pos := in.position()
	if off != nil {
		if !in.positioned() {
			return errno(unix.ESPIPE)
		}
		pos = *off
	}
	if e := verifyArea(pos, count); e != 0 {
		return errno(e)
	}
	count = min(count, maxIO)
	out, e := t.fdget(outFD)
	if e != 0 {
		return errno(e)
	}
	if !out.canWrite() {
		return errno(unix.EBADF)
	}
	outPos := out.position()
	var n uint64
	if out.pipe != nil {
		n, e = t.spliceToPipe(in, out.pipe, &pos, count, out.flags&unix.O_NONBLOCK != 0)
	} else {
		if e := verifyArea(outPos, count); e != 0 {
			return errno(e)
		}
		if out.flags&unix.O_APPEND != 0 {
			return errno(unix.EINVAL)
		}
		n, e = t.directSplice(in, &pos, out, &outPos, count)
	}
	if n > 0 {
		out.setPosition(outPos)
		if off != nil {
			*off = pos
		} else {
			in.setPosition(pos)
		}
	}
	return result(n, errOrNil(e))
}

// sysSplice is splice(fd_in, off_in, fd_out, off_out, len, flags), checked
// as Linux's: len 0 (0), the flags, both fds, an offset for a pipe end
// (ESPIPE), the offsets' memory, then do_splice's checks. The offsets are
// written back on success.
func sysSplice(t *Task, a *[6]uint64) uint64 {
	offInAddr, offOutAddr, n, flags := arch.Addr(a[1]), arch.Addr(a[3]), a[4], uint32(a[5])
	if n == 0 {
		return 0
	}
	if flags&^spliceFAll != 0 {
		return errno(unix.EINVAL)
	}
	in, e := t.fdget(a[0])
	if e != 0 {
		return errno(e)
	}
	out, e := t.fdget(a[2])
	if e != 0 {
		return errno(e)
	}
	if in.pipe != nil && offInAddr != 0 || out.pipe != nil && offOutAddr != 0 {
		return errno(unix.ESPIPE)
	}
	offIn, e := t.readOffset(offInAddr)
	if e != 0 {
		return errno(e)
	}
	offOut, e := t.readOffset(offOutAddr)
	if e != 0 {
		return errno(e)
	}
	r, e := t.splice(in, offIn, out, offOut, n, flags&spliceFNonblock != 0)
	if e != 0 {
		return errno(e)
	}
	if offIn != nil {
		if e := t.writeOffset(offInAddr, *offIn); e != 0 {
			return errno(e)
		}
	}
	if offOut != nil {
		if e := t.writeOffset(offOutAddr, *offOut); e != 0 {
			return errno(e)
		}
	}
	return r
}

// splice is Linux's do_splice: in readable and out writable (EBADF), then
// by which ends are pipes: pipe to pipe (not itself: EINVAL), pipe to file
// (an offset only where out has positions, no O_APPEND: EINVAL, the
// area), file to pipe (an offset only where in has positions), or neither
// (EINVAL). A pipe's O_NONBLOCK counts as SPLICE_F_NONBLOCK.
func (t *Task) splice(in *openFile, offIn *int64, out *openFile, offOut *int64, n uint64, nonblock bool) (uint64, unix.Errno) {
	if !in.canRead() || !out.canWrite() {
		return 0, unix.EBADF
	}
	ip, op := in.pipe, out.pipe
	switch {
	case ip != nil && op != nil:
		if ip == op {
			return 0, unix.EINVAL
		}
		nonblock = nonblock || (in.flags|out.flags)&unix.O_NONBLOCK != 0
		return t.splicePipeToPipe(ip, op, n, nonblock)
	case ip != nil:
		pos := out.position()
		if offOut != nil {
			if !out.positioned() {
				return 0, unix.EINVAL
			}
			pos = *offOut
		}
		if out.flags&unix.O_APPEND != 0 {
			return 0, unix.EINVAL
		}
		if e := verifyArea(pos, n); e != 0 {
			return 0, e
		}
		nonblock = nonblock || in.flags&unix.O_NONBLOCK != 0
		r, e := t.spliceFromPipe(ip, out, &pos, n, nonblock)
		if offOut != nil {
			*offOut = pos
		} else {
			out.setPosition(pos)
		}
		return r, e
	case op != nil:
		pos := in.position()
		if offIn != nil {
			if !in.positioned() {
				return 0, unix.EINVAL
			}
			pos = *offIn
		}
		nonblock = nonblock || out.flags&unix.O_NONBLOCK != 0
		r, e := t.spliceToPipe(in, op, &pos, n, nonblock)
		if offIn != nil {
			*offIn = pos
		} else {
			in.setPosition(pos)
		}
		return r, e
	}
	return 0, unix.EINVAL
}

// sysTee is tee(fd_in, fd_out, len, flags), checked as Linux's: the
// flags, len 0 (0), both fds, in readable and out writable (EBADF), two
// different pipes (EINVAL); it waits for bytes in the one and room in the
// other, then copies what is there and fits.
func sysTee(t *Task, a *[6]uint64) uint64 {
	n, flags := a[2], uint32(a[3])
	if flags&^spliceFAll != 0 {
		return errno(unix.EINVAL)
	}
	if n == 0 {
		return 0
	}
	in, e := t.fdget(a[0])
	if e != 0 {
		return errno(e)
	}
	out, e := t.fdget(a[1])
	if e != 0 {
		return errno(e)
	}
	if !in.canRead() || !out.canWrite() {
		return errno(unix.EBADF)
	}
	ip, op := in.pipe, out.pipe
	if ip == nil || op == nil || ip == op {
		return errno(unix.EINVAL)
	}
	nonblock := flags&spliceFNonblock != 0 || (in.flags|out.flags)&unix.O_NONBLOCK != 0
	if e := t.prepareInput(ip, nonblock); e != 0 {
		return errno(e)
	}
	if e := t.prepareOutput(op, nonblock); e != 0 {
		return errno(e)
	}
	r, e := t.teePipe(ip, op, n)
	return result(r, errOrNil(e))
}

// sysVmsplice is vmsplice(fd, iov, nr_segs, flags): the flags, the fd,
// its access (a writable description is written, else a readable one is
// read), the iovec array (readIOVec's checks), then a pipe (EBADF for
// anything else). Writing puts each piece of the buffers, cut at page
// boundaries, in a buffer of its own while slots are free, after waiting
// for one (O_NONBLOCK counts); reading takes what the pipe holds into the
// buffers after waiting for bytes (only SPLICE_F_NONBLOCK counts, as
// Linux's vmsplice_to_user).
func sysVmsplice(t *Task, a *[6]uint64) uint64 {
	iovAddr, nseg, flags := arch.Addr(a[1]), a[2], uint32(a[3])
	if flags&^spliceFAll != 0 {
		return errno(unix.EINVAL)
	}
	f, e := t.fdget(a[0])
	if e != 0 {
		return errno(e)
	}
	if !f.canRead() && !f.canWrite() {
		return errno(unix.EBADF)
	}
	iov, total, e := t.readIOVec(iovAddr, nseg)
	if e != 0 {
		return errno(e)
	}
	total = min(total, maxIO)
	if total == 0 {
		return 0
	}
	pp := f.pipe
	if pp == nil {
		return errno(unix.EBADF)
	}
	segs := iovSegments(iov, nseg, total)
	if f.canWrite() {
		nonblock := flags&spliceFNonblock != 0 || f.flags&unix.O_NONBLOCK != 0
		if e := t.waitForRoom(pp, nonblock); e != 0 {
			return errno(e)
		}
		return result(t.vmspliceIn(pp, segs))
	}
	if eof, e := t.waitForBytes(pp, flags&spliceFNonblock != 0); eof || e != 0 {
		return result(0, errOrNil(e))
	}
	return result(t.vmspliceOut(pp, segs))
}

// iovSeg is one buffer of an iovec array.
type iovSeg struct{ base, length uint64 }

// iovSegments are the non-empty buffers of the array, up to total bytes.
func iovSegments(iov []byte, nseg, total uint64) []iovSeg {
	var segs []iovSeg
	for i := uint64(0); i < nseg && total > 0; i++ {
		base := binary.LittleEndian.Uint64(iov[16*i:])
		length := min(binary.LittleEndian.Uint64(iov[16*i+8:]), total)
		if length > 0 {
			segs = append(segs, iovSeg{base, length})
			total -= length
		}
	}
	return segs
}

// vmspliceIn puts the program's buffers into pp, a buffer per piece of a
// page, while slots are free: the bytes put, or EFAULT if the first piece
// could not be read.
func (t *Task) vmspliceIn(pp *pipe, segs []iovSeg) (uint64, error) {
	var done uint64
	defer func() {
		if done > 0 {
			t.pipeFilled(pp)
		}
	}()
	for _, s := range segs {
		for off := uint64(0); off < s.length; {
			if pp.full() {
				return done, nil
			}
			if !t.pageRoom() {
				if done == 0 {
					return 0, unix.ENOMEM
				}
				return done, nil
			}
			addr := s.base + off
			first := int(addr % arch.PageSize)
			k := min(s.length-off, uint64(arch.PageSize-first))
			page := make([]byte, arch.PageSize)
			if _, err := t.cfg.Memory.CopyIn(arch.Addr(addr), page[first:first+int(k)]); err != nil {
				if done == 0 {
					return 0, unix.EFAULT
				}
				return done, nil
			}
			pp.push(&pipeBuf{page: page, off: first, end: first + int(k)})
			off += k
			done += k
		}
	}
	return done, nil
}

// vmspliceOut takes what pp holds into the program's buffers, a pipe
// buffer at a time: a buffer that cannot be stored whole stays in the pipe
// and ends the call (EFAULT if it was the first).
func (t *Task) vmspliceOut(pp *pipe, segs []iovSeg) (uint64, error) {
	var total uint64
	for _, s := range segs {
		total += s.length
	}
	seg, segOff := 0, uint64(0)
	n, e := t.drainPipe(pp, total, func(b []byte) (int, unix.Errno) {
		si, so := seg, segOff
		for done := 0; done < len(b); {
			s := segs[si]
			k := min(uint64(len(b)-done), s.length-so)
			if _, err := t.cfg.Memory.CopyOut(arch.Addr(s.base+so), b[done:done+int(k)]); err != nil {
				return 0, unix.EFAULT
			}
			done += int(k)
			if so += k; so == s.length {
				si, so = si+1, 0
			}
		}
		seg, segOff = si, so
		return len(b), 0
	})
	return n, errOrNil(e)
}

// sysCopyFileRange is copy_file_range(fd_in, off_in, fd_out, off_out, len,
// flags), checked as Linux's: both fds, the offsets' memory, flags 0, then
// generic_copy_file_checks: directories (EISDIR), anything but regular
// files (EINVAL), in readable and out writable and not O_APPEND (EBADF),
// two file systems (EXDEV: mmvm's files have no copy_file_range of their
// own, so only files of one tmpfs, or two memfds, copy), an offset whose
// end wraps (EOVERFLOW); the count ends at in's end; a range overlapping
// itself in one file is EINVAL. The offsets (or positions) move past what
// was copied.
func sysCopyFileRange(t *Task, a *[6]uint64) uint64 {
	offInAddr, offOutAddr, n := arch.Addr(a[1]), arch.Addr(a[3]), a[4]
	in, e := t.fdget(a[0])
	if e != 0 {
		return errno(e)
	}
	out, e := t.fdget(a[2])
	if e != 0 {
		return errno(e)
	}
	offIn, e := t.readOffset(offInAddr)
	if e != 0 {
		return errno(e)
	}
	offOut, e := t.readOffset(offOutAddr)
	if e != 0 {
		return errno(e)
	}
	if uint32(a[5]) != 0 {
		return errno(unix.EINVAL)
	}
	posIn, posOut := in.position(), out.position()
	if offIn != nil {
		posIn = *offIn
	}
	if offOut != nil {
		posOut = *offOut
	}
	n, e = t.copyFileChecks(in, posIn, out, posOut, n)
	if e != 0 {
		return errno(e)
	}
	if n == 0 {
		return 0
	}
	r, e := t.directSplice(in, &posIn, out, &posOut, min(n, maxIO))
	if e != 0 {
		return errno(e)
	}
	if r > 0 {
		ret := r
		if offIn != nil {
			if e := t.writeOffset(offInAddr, posIn); e != 0 {
				ret = errno(e)
			}
		} else {
			in.setPosition(posIn)
		}
		if offOut != nil {
			if e := t.writeOffset(offOutAddr, posOut); e != 0 {
				ret = errno(e)
			}
		} else {
			out.setPosition(posOut)
		}
		return ret
	}
	return r
}

// copyFileChecks are Linux's generic_copy_file_checks and the
// rw_verify_area of both ranges, in their order: the count to copy.
func (t *Task) copyFileChecks(in *openFile, posIn int64, out *openFile, posOut int64, n uint64) (uint64, unix.Errno) {
	stIn, inReg, inDir := t.spliceFileType(in)
	stOut, outReg, outDir := t.spliceFileType(out)
	switch {
	case inDir || outDir:
		return 0, unix.EISDIR
	case !inReg || !outReg:
		return 0, unix.EINVAL
	case !in.canRead() || !out.canWrite() || out.flags&unix.O_APPEND != 0:
		return 0, unix.EBADF
	case stIn.Dev != stOut.Dev:
		return 0, unix.EXDEV
	case uint64(posIn)+n < uint64(posIn) || uint64(posOut)+n < uint64(posOut):
		return 0, unix.EOVERFLOW
	}
	if posIn >= stIn.Size {
		n = 0
	} else {
		n = min(n, uint64(stIn.Size-posIn))
	}
	if stIn.Ino == stOut.Ino && posOut+int64(n) > posIn && posOut < posIn+int64(n) {
		return 0, unix.EINVAL
	}
	if e := verifyArea(posIn, n); e != 0 {
		return 0, e
	}
	if e := verifyArea(posOut, n); e != 0 {
		return 0, e
	}
	return n, 0
}

// spliceFileType is f's stat (for a file of the file system) and whether
// it is a regular file or a directory.
func (t *Task) spliceFileType(f *openFile) (st unix.Stat_t, reg, dir bool) {
	if f.fs == nil {
		return st, false, false
	}
	st, e := t.fsStat(f.fs)
	if e != 0 {
		return st, false, false
	}
	typ := st.Mode & unix.S_IFMT
	return st, typ == unix.S_IFREG, typ == unix.S_IFDIR
}
