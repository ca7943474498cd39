package machine

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/ring0"
)

// TestReloadedCR3DiffersFromTheLoadedOne checks the CR3 a flush writes: it
// differs from what KVM has loaded however many flushes come between two
// entries, and names the same tables.
func TestReloadedCR3DiffersFromTheLoadedOne(t *testing.T) {
	const root, other = 0x40_3e3000, 0x40_3d8000
	for _, loaded := range []uint64{root, root | cr3PWT, other, other | cr3PWT} {
		for flushes := 1; flushes <= 3; flushes++ {
			var cr3 uint64
			for range flushes {
				cr3 = reloadedCR3(root, loaded)
			}
			if cr3 == loaded || cr3&^cr3PWT != root {
				t.Errorf("loaded %#x, %d flushes: CR3 %#x; want root %#x, different from the loaded value", loaded, flushes, cr3, uint64(root))
			}
		}
	}
}

// TestKVMSecondShootdownStillFlushes checks that a page unmapped while the
// vCPU was out of guest mode is gone when it next runs user code, when a
// second shootdown came after the vCPU's first flush: the vCPU flushes
// twice before it enters, and the second flush must not undo the first.
// The page's neighbour stays mapped, so that the unmapping rewrites an
// entry of a table KVM shadows rather than freeing the table. Where the
// replay's store alone drops KVM's shadow of the entry (QEMU's SVM with
// npt=off does), this passes whatever the CR3 load does; the busybox
// shell test's pipeline-rounds covers the case where only the load
// resyncs the shadow.
func TestKVMSecondShootdownStillFlushes(t *testing.T) {
	const page = 0x1000_0000
	code := cat8([]byte{0x48, 0xC7, 0xC7}, le32(page), // mov rdi, page
		[]byte{0xC6, 0x87}, le32(arch.PageSize), []byte{0x01}, // mov byte [rdi+4096], 1
		[]byte{0xC6, 0x07, 0x01},              // mov byte [rdi], 1
		[]byte{0xE6, ring0.PortUserFirst},     // out: the page is mapped and written
		[]byte{0xC6, 0x07, 0x02},              // mov byte [rdi], 2: must fault
		[]byte{0xE6, ring0.PortUserFirst + 1}) // out: the unmapped page was written
	m := newKVMTestMachine(t, Config{}, code)
	if _, err := m.MM.MMap(page, 2*arch.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop, err := m.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Kind != StopUserPort || stop.Port != ring0.PortUserFirst {
		t.Fatalf("first stop: %v port %#x (%s), want the first user port", stop.Kind, stop.Port, stop.Reason)
	}
	if err := m.MM.MUnmap(page, arch.PageSize); err != nil {
		t.Fatal(err)
	}
	// The vCPU's first flush, as its next entry would make it; then a
	// second shootdown (another process's change) before it enters.
	c := m.boot
	gen := m.flushGen.Load()
	c.vcpu.BindThread()
	flushed, err := c.flushTLB()
	c.vcpu.UnbindThread()
	if err != nil || !flushed {
		t.Fatalf("flushTLB: %v %v", flushed, err)
	}
	c.flushedGen = gen
	m.tablesMu.Lock()
	m.shootdown()
	m.tablesMu.Unlock()

	stop, err = m.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Kind != StopSignal || stop.Signal != unix.SIGSEGV {
		t.Errorf("writing the unmapped page: %v %v port %#x (%s), want SIGSEGV", stop.Kind, stop.Signal, stop.Port, stop.Reason)
	}
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
