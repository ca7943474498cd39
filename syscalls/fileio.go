package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// Reading the guest's files: read, pread64, readv and its kin, lseek, and
// the writes the devices take.

// fsFileOf returns fd's fsFile: EBADF for an fd not open or opened
// O_PATH; nil (with 0) for stdio and pipe ends.
func (p *Process) fsFileOf(fd uint64) (*fsFile, unix.Errno) {
	f, e := p.file(fd)
	if e != 0 {
		return nil, e
	}
	if f.fs != nil && f.fs.pathOnly {
		return nil, unix.EBADF
	}
	return f.fs, 0
}

// readableFileOf is fsFileOf for a read: EBADF also for a file opened
// O_WRONLY, as vfs_read answers without FMODE_READ.
func (p *Process) readableFileOf(fd uint64) (*fsFile, unix.Errno) {
	f, e := p.file(fd)
	if e != 0 {
		return nil, e
	}
	if f.fs != nil && (f.fs.pathOnly || f.flags&unix.O_ACCMODE == unix.O_WRONLY) {
		return nil, unix.EBADF
	}
	return f.fs, 0
}

// readAt reads up to len(b) bytes of f at off: the host file, a /proc
// file's text, or a device. A directory is EISDIR.
func (p *Process) readAt(f *fsFile, b []byte, off int64) (int, unix.Errno) {
	if f.isDir() {
		return 0, unix.EISDIR
	}
	if f.huge != nil {
		n := int(max(min(int64(len(b)), f.huge.size-off), 0))
		clear(b[:n])
		return n, 0
	}
	if f.shm != nil {
		if n, err := f.shm.ReadAt(b, uint64(off)); err != nil && n == 0 {
			return 0, unix.EIO
		} else {
			return n, 0
		}
	}
	if f.host != nil {
		for {
			n, err := unix.Pread(int(f.host.Fd()), b, off)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, unix.EIO
			}
			return n, 0
		}
	}
	switch f.node.kind {
	case nodeProc:
		if f.node.readAt != nil {
			return f.node.readAt(p, b, off)
		}
		if !f.textMade {
			f.text, f.textMade = f.node.gen(p), true
		}
		if off >= int64(len(f.text)) {
			return 0, 0
		}
		return copy(b, f.text[off:]), 0
	case nodeDevice:
		switch f.node.device {
		case devNull:
			return 0, 0
		case devZero, devFull:
			clear(b)
			return len(b), 0
		case devURandom, devRandom:
			p.cfg.Random(b)
			return len(b), 0
		}
	}
	return 0, unix.EINVAL
}

// readTo reads up to length bytes of f at off into guest memory at addr, a
// chunk at a time: the bytes read, or EFAULT if the first chunk could not
// be stored.
func (p *Process) readTo(f *fsFile, addr arch.Addr, length uint64, off int64) (uint64, unix.Errno) {
	length = min(length, maxIO)
	buf := make([]byte, min(length, ioChunk))
	var done uint64
	for done < length {
		want := min(length-done, ioChunk)
		n, e := p.readAt(f, buf[:want], off+int64(done))
		if e != 0 {
			if done == 0 {
				return 0, e
			}
			return done, 0
		}
		if n == 0 {
			break
		}
		wrote, err := p.cfg.Memory.CopyOut(addr+arch.Addr(done), buf[:n])
		done += uint64(wrote)
		if err != nil {
			if done == 0 {
				return 0, unix.EFAULT
			}
			break
		}
		if uint64(n) < want {
			break // a short read: the end of the file
		}
		if p.interrupted() {
			break
		}
	}
	return done, 0
}

// seekable says whether reads of f move a position (devices have none).
func (f *fsFile) seekable() bool {
	return f.node == nil || f.node.kind != nodeDevice
}

// fsRead serves read(2) on an fsFile.
func (p *Process) fsRead(f *fsFile, addr arch.Addr, length uint64) uint64 {
	n, e := p.readTo(f, addr, length, f.pos)
	if e != 0 {
		return errno(e)
	}
	if f.seekable() {
		f.pos += int64(n)
	}
	return n
}

func sysPread64(t *Task, a *[6]uint64) uint64 {
	f, e := t.readableFileOf(a[0])
	if e != 0 {
		return errno(e)
	}
	if f == nil {
		return errno(unix.ESPIPE)
	}
	if int64(a[3]) < 0 {
		return errno(unix.EINVAL)
	}
	if f.node != nil && f.node.kind == nodeDevice {
		return t.fsRead(f, arch.Addr(a[1]), a[2])
	}
	n, e := t.readTo(f, arch.Addr(a[1]), a[2], int64(a[3]))
	return result(n, errOrNil(e))
}

func sysReadv(t *Task, a *[6]uint64) uint64 { return t.readv(a[0], a[1], a[2], -1) }

// sysPreadv reads at pos_l: on x86-64 pos_h adds nothing (Linux's
// pos_from_hilo shifts it out of a 64-bit loff_t).
func sysPreadv(t *Task, a *[6]uint64) uint64 {
	if int64(a[3]) < 0 {
		return errno(unix.EINVAL)
	}
	return t.readv(a[0], a[1], a[2], int64(a[3]))
}

// readv reads into the iovcnt buffers at iovAddr, at the file position
// (pos < 0) or at pos, which it does not move (ESPIPE for stdio and pipes).
func (t *Task) readv(fd, iovAddr, iovcnt uint64, pos int64) uint64 {
	fsf, e := t.readableFileOf(fd)
	if e != 0 {
		return errno(e)
	}
	if fsf == nil && pos >= 0 {
		return errno(unix.ESPIPE)
	}
	iov, total, e := t.readIOVec(arch.Addr(iovAddr), iovcnt)
	if e != 0 {
		return errno(e)
	}
	if f, _ := t.file(fd); f.anon != nil {
		return f.anon.readv(t, f, iov, iovcnt, total)
	}
	return eachIOVec(iov, iovcnt, func(base, length, done uint64) uint64 {
		switch {
		case fsf == nil:
			b := [6]uint64{fd, base, length}
			return sysReadFile(t, &b)
		case pos >= 0 && fsf.seekable():
			n, e := t.readTo(fsf, arch.Addr(base), length, pos+int64(done))
			return result(n, errOrNil(e))
		}
		return t.fsRead(fsf, arch.Addr(base), length)
	})
}

// eachIOVec moves the buffers of a vectored read or write in turn, as
// Linux's do_loop_readv_writev: move(base, length, done) transfers one
// (done bytes have moved before it) and returns its result. It stops at an
// error (returned when nothing has moved yet), at a short transfer, or at
// maxIO bytes, and returns the bytes moved. Empty buffers are skipped.
func eachIOVec(iov []byte, iovcnt uint64, move func(base, length, done uint64) uint64) uint64 {
	var done uint64
	for i := uint64(0); i < iovcnt && done < maxIO; i++ {
		base := binary.LittleEndian.Uint64(iov[16*i:])
		length := min(binary.LittleEndian.Uint64(iov[16*i+8:]), maxIO-done)
		if length == 0 {
			continue
		}
		r := move(base, length, done)
		if int64(r) < 0 {
			if done == 0 {
				return r
			}
			return done
		}
		done += r
		if r < length {
			break
		}
	}
	return done
}

// sysLseek moves an fsFile's position: SEEK_SET, SEEK_CUR, SEEK_END (a
// /proc file, whose size is unknown, refuses SEEK_END as Linux's seq_file
// does), SEEK_DATA and SEEK_HOLE on a host file (asked of the host) or a
// memfd (mm's answer); a device stays at 0. Stdio and pipes are ESPIPE.
func sysLseek(t *Task, a *[6]uint64) uint64 {
	f, e := t.fsFileOf(a[0])
	if e != 0 {
		return errno(e)
	}
	if f == nil {
		// An anon file's position stays 0 whatever is asked, as Linux's
		// noop_llseek leaves it.
		if of, _ := t.file(a[0]); of.anon != nil {
			switch x := of.anon.(type) {
			case *socket:
				return errno(unix.ESPIPE) // sockets have no_llseek
			case *mqFile:
				return x.seek(int64(a[1]), uint32(a[2]))
			}
			return 0
		}
		return errno(unix.ESPIPE)
	}
	off, whence := int64(a[1]), uint32(a[2])
	if !f.seekable() {
		if whence > unix.SEEK_END {
			return errno(unix.EINVAL)
		}
		return 0
	}
	var pos int64
	switch whence {
	case unix.SEEK_SET:
		pos = off
	case unix.SEEK_CUR:
		pos = f.pos + off
	case unix.SEEK_END:
		if f.node != nil && f.node.kind == nodeProc || f.isDir() {
			return errno(unix.EINVAL)
		}
		pos = f.st.Size + off
		if f.huge != nil {
			pos = f.huge.size + off
		}
		if f.shm != nil {
			pos = int64(f.shm.Size()) + off
		}
		if f.host != nil {
			var st unix.Stat_t
			if unix.Fstat(int(f.host.Fd()), &st) == nil {
				pos = st.Size + off
			}
		}
	case unix.SEEK_DATA, unix.SEEK_HOLE:
		if f.shm != nil {
			if off < 0 {
				return errno(unix.ENXIO)
			}
			n, err := f.shm.SeekData(uint64(off), whence == unix.SEEK_HOLE)
			if err != nil {
				return errno(toErrno(err))
			}
			pos = int64(n)
			break
		}
		if f.host == nil || f.isDir() {
			return errno(unix.EINVAL)
		}
		n, err := unix.Seek(int(f.host.Fd()), off, int(whence))
		if err != nil {
			return errno(toErrno(err))
		}
		pos = n
	default:
		return errno(unix.EINVAL)
	}
	if pos < 0 {
		return errno(unix.EINVAL)
	}
	if pos == 0 && f.isDir() {
		f.dentsMade = false // rewinddir lists the directory again, as Linux does
	}
	f.pos = pos
	return uint64(pos)
}

// fsWrite serves write and writev on an fsFile: EBADF unless it was opened
// for writing, which only the devices allow; /dev/null and /dev/zero take
// every byte unread, /dev/urandom reads them first (EFAULT if it cannot),
// /dev/full takes none (ENOSPC), as Linux's write_null, write_zero,
// random_write_iter and write_full do.
func (p *Process) fsWrite(f *openFile, addr arch.Addr, length uint64) uint64 {
	if !fsWritable(f) {
		return errno(unix.EBADF)
	}
	if f.fs.shm != nil {
		return p.memfdFileWrite(f, addr, length)
	}
	if f.fs.huge != nil {
		return errno(unix.EINVAL)
	}
	if f.fs.node.writeAt != nil {
		n, e := p.writeAtFrom(f.fs, addr, length, f.fs.pos)
		if e != 0 {
			return errno(e)
		}
		f.fs.pos += int64(n)
		return n
	}
	if f.fs.node.device == devFull {
		return errno(unix.ENOSPC)
	}
	if f.fs.node.device == devUserfaultfd {
		return errno(unix.EINVAL)
	}
	length = min(length, maxIO)
	if f.fs.node.device == devURandom || f.fs.node.device == devRandom {
		buf := make([]byte, min(length, ioChunk))
		var done uint64
		for done < length {
			n, err := p.cfg.Memory.CopyIn(addr+arch.Addr(done), buf[:min(length-done, ioChunk)])
			done += uint64(n)
			if err != nil {
				if done == 0 {
					return errno(unix.EFAULT)
				}
				break
			}
		}
		return done
	}
	return length
}

// fsWritable says whether f takes writes: a memfd or a device opened for
// writing.
func fsWritable(f *openFile) bool {
	if f.flags&unix.O_ACCMODE == unix.O_RDONLY || f.fs.pathOnly {
		return false
	}
	return f.fs.shm != nil || f.fs.huge != nil || f.fs.node != nil && (f.fs.node.kind == nodeDevice || f.fs.node.writeAt != nil)
}

// writeAtFrom writes length bytes from the guest at addr into a /proc
// file that takes writes (node.writeAt) at off, a chunk at a time: the
// bytes written, EFAULT if the guest's bytes could not be read (as
// Linux's mem_rw, even after some were written), or the first chunk's
// error.
func (p *Process) writeAtFrom(f *fsFile, addr arch.Addr, length uint64, off int64) (uint64, unix.Errno) {
	length = min(length, maxIO)
	buf := make([]byte, min(length, ioChunk))
	var done uint64
	for done < length {
		want := min(length-done, ioChunk)
		if _, err := p.cfg.Memory.CopyIn(addr+arch.Addr(done), buf[:want]); err != nil {
			return 0, unix.EFAULT
		}
		n, e := f.node.writeAt(p, buf[:want], off+int64(done))
		done += uint64(n)
		if e != 0 {
			if done == 0 {
				return 0, e
			}
			break
		}
		if uint64(n) < want {
			break
		}
	}
	return done, 0
}

// fsWritev is writev on an fsFile: each buffer in turn, as fsWrite.
func (p *Process) fsWritev(f *openFile, iovAddr arch.Addr, iovcnt uint64) uint64 {
	if !fsWritable(f) {
		return errno(unix.EBADF)
	}
	iov, _, e := p.readIOVec(iovAddr, iovcnt)
	if e != 0 {
		return errno(e)
	}
	return eachIOVec(iov, iovcnt, func(base, length, _ uint64) uint64 {
		return p.fsWrite(f, arch.Addr(base), length)
	})
}
