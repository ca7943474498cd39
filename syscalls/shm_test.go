package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/mm"
)

// TestShmIDs checks the ids segments get, as Linux's ipc_idr_alloc gives
// them: indexes from 0 onward, the next after the last given even when a
// lower one is free, wrapping at 64 while few are in use, and the
// sequence number (the id's upper part) advancing at each wrap; ENOSPC
// at SHMMNI segments.
func TestShmIDs(t *testing.T) {
	var r shmRegistry
	r.segs = make(map[int]*shmSegment)
	take := func() int {
		idx, seq, e := r.allocLocked()
		if e != 0 {
			t.Fatalf("alloc: %v", e)
		}
		r.segs[idx] = &shmSegment{id: seq*ipcMNI + idx, seq: seq}
		return seq*ipcMNI + idx
	}
	for want := range 3 {
		if id := take(); id != want {
			t.Errorf("id %d, want %d", id, want)
		}
	}
	delete(r.segs, 0)
	if id := take(); id != 3 {
		t.Errorf("after freeing index 0: id %d, want 3 (the search goes on)", id)
	}
	// With few in use, the search wraps at 64.
	clear(r.segs)
	for i := 4; i < ipcMinScan; i++ {
		delete(r.segs, take()%ipcMNI)
	}
	if id := take(); id != ipcMNI {
		t.Errorf("after index 63: id %d, want %d (index 0 again, sequence 1)", id, ipcMNI)
	}
	// With many in use, it goes on past 64.
	for len(r.segs) < 64 {
		take()
	}
	if id := take(); id != ipcMNI+64 {
		t.Errorf("with 64 in use: id %d, want %d", id, ipcMNI+64)
	}
	for len(r.segs) < shmMNI {
		take()
	}
	if _, _, e := r.allocLocked(); e != unix.ENOSPC {
		t.Errorf("past SHMMNI: %v, want ENOSPC", e)
	}
}

// TestShmRemoveFreesPages checks a segment's life: IPC_RMID of a segment
// still mapped keeps it (and its pages) until the last vma's reference
// goes, then frees its pages; one not mapped goes at once.
func TestShmRemoveFreesPages(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	mf, err := memfile.New(memfile.Options{Limit: 16 << 20, Name: "shm-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	p.cfg.NewSharedFile = func(name string, seals uint32) SharedFile { return mm.NewMemfd(mf, name, seals) }
	id := p.Syscall(unix.SYS_SHMGET, [6]uint64{unix.IPC_PRIVATE, 10000, 0o600})
	if int64(id) < 0 {
		t.Fatalf("shmget: %d", int64(id))
	}
	s := p.tree.shm.segs[int(id)]
	s.IncRef() // a vma maps it
	if _, err := s.file.WriteAt(make([]byte, 10000), 0); err != nil {
		t.Fatal(err)
	}
	if r := p.Syscall(unix.SYS_SHMCTL, [6]uint64{id, ipcRmid, 0}); r != 0 {
		t.Fatalf("IPC_RMID: %d", int64(r))
	}
	if r := p.Syscall(unix.SYS_SHMCTL, [6]uint64{id, ipcStat, base}); r != 0 {
		t.Fatalf("IPC_STAT of the removed, mapped segment: %d", int64(r))
	}
	if mode := binary.LittleEndian.Uint32(mem.mem[20:]); mode != shmDest|0o600 {
		t.Errorf("mode %o, want %o", mode, shmDest|0o600)
	}
	if a := mf.Stats().Allocated; a == 0 {
		t.Error("the removed segment's pages went while mapped")
	}
	s.DecRef() // its vma goes
	if a := mf.Stats().Allocated; a != 0 {
		t.Errorf("%d bytes allocated after the last detach", a)
	}
	if r := p.Syscall(unix.SYS_SHMCTL, [6]uint64{id, ipcStat, base}); r != neg(unix.EINVAL) {
		t.Errorf("IPC_STAT after the last detach: %d, want EINVAL", int64(r))
	}
	id = p.Syscall(unix.SYS_SHMGET, [6]uint64{unix.IPC_PRIVATE, 4096, 0o600})
	s = p.tree.shm.segs[int(id)%ipcMNI]
	if _, err := s.file.WriteAt([]byte{1}, 0); err != nil {
		t.Fatal(err)
	}
	if r := p.Syscall(unix.SYS_SHMCTL, [6]uint64{id, ipcRmid, 0}); r != 0 {
		t.Fatalf("IPC_RMID: %d", int64(r))
	}
	if a := mf.Stats().Allocated; a != 0 {
		t.Errorf("%d bytes allocated after removing an unmapped segment", a)
	}
}
