package machine

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/mm"
)

// TestKVMForkMemory checks the memory Fork gives a child process: a fork's
// is a copy-on-write duplicate (the child reads the parent's bytes, and a
// write on either side stays on that side), a vfork's is the parent's own;
// the child's page tables share the kernel half and not the user half;
// release returns every page (Close's leak check).
func TestKVMForkMemory(t *testing.T) {
	m := newKVMTestMachine(t, Config{}, []byte{0xF4})
	const at, size = 0x1000_0000, 4 * arch.HugePageSize
	if _, err := m.MM.MMap(at, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	parentBytes := bytes.Repeat([]byte("parent"), size/6)
	if _, err := m.MM.CopyOut(at, parentBytes, mm.IOOpts{}); err != nil {
		t.Fatal(err)
	}
	read := func(mem interface {
		CopyIn(arch.Addr, []byte) (int, error)
	}) []byte {
		b := make([]byte, len(parentBytes))
		if _, err := mem.CopyIn(at, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := m.mf.Stats().Allocated

	cfg, release, err := m.fork(m.Process.MainTask(), false)
	if err != nil {
		t.Fatal(err)
	}
	child := cfg.Owner.(*process)
	if !bytes.Equal(read(cfg.Memory), parentBytes) {
		t.Fatal("the fork's child does not read the parent's bytes")
	}
	childBytes := bytes.Repeat([]byte("child!"), size/6)
	if _, err := cfg.Memory.CopyOut(at+arch.PageSize, childBytes[:arch.HugePageSize]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(memoryCalls{m.first}), parentBytes) {
		t.Fatal("a write by the fork's child shows in the parent")
	}
	if _, err := m.MM.CopyOut(at, []byte("PARENT"), mm.IOOpts{}); err != nil {
		t.Fatal(err)
	}
	if got := read(cfg.Memory)[:6]; string(got) != "parent" {
		t.Fatalf("the parent's write after the fork shows in the child: %q", got)
	}
	cpt, kpt := child.mem.Load().pt, m.pt
	for _, va := range []arch.Addr{kernelVirtOf(0), physmapVirt} {
		kp, _, _, kok := kpt.Lookup(va)
		cp, _, _, cok := cpt.Lookup(va)
		if va == physmapVirt && !kok {
			continue // no physmap where the tables are not replayed
		}
		if !kok || !cok || kp != cp {
			t.Errorf("kernel address %v: kernel tables %#x %v, child's %#x %v; want the same translation", va, kp, kok, cp, cok)
		}
	}
	if _, _, _, ok := kpt.Lookup(at); ok {
		t.Error("the kernel tables map a user page of a process")
	}
	release()
	// Under replay, freed table pages wait for the next replay to drop
	// KVM's shadows of them.
	var pending uint64
	if m.journal != nil {
		pending = uint64(len(m.journal.freed)) * arch.PageSize
	}
	if got := m.mf.Stats().Allocated - pending; got > before {
		t.Errorf("after releasing the fork's child: %d bytes allocated (and %d of freed tables awaiting replay), %d before the fork", got, pending, before)
	}

	cfg, release, err = m.fork(m.Process.MainTask(), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Memory.CopyOut(at, []byte("vfork!")); err != nil {
		t.Fatal(err)
	}
	if got := read(memoryCalls{m.first})[:6]; string(got) != "vfork!" {
		t.Fatalf("a vfork child's write is not the parent's: the parent reads %q", got)
	}
	release()
	if got := read(memoryCalls{m.first})[:6]; string(got) != "vfork!" {
		t.Fatalf("releasing a vfork child released its parent's memory: %q", got)
	}
}
