package faultbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/ring0"
)

// Where the machine measurements put things in the program's address
// space.
const (
	codeAddr  = 0x40_0000
	tableAddr = 0x80_0000     // the random touch's offsets
	dataAddr  = 0x1_0000_0000 // 4 GiB: 1 GiB-aligned, far from the rest
	stackTop  = 0x7ff0_0000_0000
	stackSize = 64 << 10
)

// vmSetup is one Machine ready to run a program: user ports open, code
// mapped at codeAddr, a stack, the user context at the code.
func newVM(faultAround, data uint64, code []byte) (*machine.Machine, error) {
	mem, _ := arch.Addr(data + 64<<20).HugeRoundUp()
	m, err := machine.New(machine.Config{Memory: uint64(mem), FaultAround: faultAround, UserPorts: true})
	if err != nil {
		return nil, err
	}
	if err := mapBytes(m, codeAddr, code, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		m.Close()
		return nil, err
	}
	if _, err := m.MM.MMap(stackTop-stackSize, stackSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		m.Close()
		return nil, fmt.Errorf("faultbench: mapping the stack: %w", err)
	}
	if err := m.SetUserContext(codeAddr, stackTop); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// mapBytes maps data at addr, private anonymous with prot, and writes it
// there (as a loader does, ignoring prot).
func mapBytes(m *machine.Machine, addr uint64, data []byte, prot uint64) error {
	length, _ := arch.PageRoundUp(uint64(max(len(data), 1)))
	if _, err := m.MM.MMap(addr, length, prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		return fmt.Errorf("faultbench: mmap at %#x: %w", addr, err)
	}
	if _, err := m.MM.CopyOut(arch.Addr(addr), data, mm.IOOpts{IgnorePermissions: true}); err != nil {
		return fmt.Errorf("faultbench: writing %d bytes at %#x: %w", len(data), addr, err)
	}
	return nil
}

func mapData(m *machine.Machine, size uint64) error {
	if _, err := m.MM.MMap(dataAddr, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
		return fmt.Errorf("faultbench: mapping %d bytes of data: %w", size, err)
	}
	return nil
}

// runToExit runs m until the program's final user-port exit.
func runToExit(ctx context.Context, m *machine.Machine, what string) error {
	stop, err := m.Run(ctx)
	if err != nil {
		return fmt.Errorf("faultbench: %s: %w", what, err)
	}
	if stop.Kind != machine.StopUserPort || stop.Port != ring0.PortUserFirst {
		return fmt.Errorf("faultbench: %s: stopped with %v (%s)", what, stop.Kind, stop.Reason)
	}
	return nil
}

// warmCode maps the code page into the page tables before anything is
// timed (MADV_POPULATE_READ through mm), so that the timed faults are the
// data's alone.
func warmCode(m *machine.Machine) error {
	if err := m.MM.Madvise(codeAddr, arch.PageSize, unix.MADV_POPULATE_READ); err != nil {
		return fmt.Errorf("faultbench: pre-faulting the code: %w", err)
	}
	return nil
}

// mallocs returns the Go heap allocations so far.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// FaultRun is n single-page faults (fault-around off) served by the
// machine under one FastPath, with the breakdown.
type FaultRun struct {
	Name     string           `json:"name"`
	FastPath machine.FastPath `json:"fast_path"`
	// Faults is the number of faults; NsPerFault the wall time of the
	// whole touch loop per fault.
	Faults     int     `json:"faults"`
	NsPerFault float64 `json:"ns_per_fault"`
	// Cycle is the per-fault distribution (exit to next exit); the
	// breakdown's parts follow.
	Cycle     Measure   `json:"cycle"`
	Breakdown Breakdown `json:"breakdown"`
	// AllocsPerFault is Go heap allocations per fault over the run.
	AllocsPerFault float64 `json:"allocs_per_fault"`
}

// Breakdown is where a fault's time goes (machine.FaultTrace).
type Breakdown struct {
	KVMRun   Measure `json:"kvm_run"`
	Decode   Measure `json:"decode"`
	Handle   Measure `json:"handle_user_fault"`
	Populate Measure `json:"populate"`
	Resume   Measure `json:"resume"`
	Host     Measure `json:"host"`
}

func breakdownOf(tr *machine.FaultTrace) Breakdown {
	s := func(h *Histogram) Measure {
		m := measureOf(h, int(h.Count()), 0)
		m.NsPerOp = float64(h.Mean().Nanoseconds())
		m.Buckets = nil
		return m
	}
	return Breakdown{KVMRun: s(&tr.Run), Decode: s(&tr.Decode), Handle: s(&tr.Handle), Populate: s(&tr.Populate), Resume: s(&tr.Resume), Host: s(&tr.Host)}
}

// SingleFaults touches n fresh pages with fault-around off, each a fault
// served in Go under fp, and records the breakdown.
func SingleFaults(name string, n int, fp machine.FastPath) (FaultRun, error) {
	size, _ := arch.Addr(uint64(n) * arch.PageSize).HugeRoundUp()
	m, err := newVM(arch.PageSize, uint64(size), touchProgram(dataAddr, uint64(n)))
	if err != nil {
		return FaultRun{}, err
	}
	defer m.Close()
	if err := mapData(m, uint64(size)); err != nil {
		return FaultRun{}, err
	}
	if err := warmCode(m); err != nil {
		return FaultRun{}, err
	}
	var tr machine.FaultTrace
	m.SetFastPath(fp)
	m.SetFaultTrace(&tr)
	ctx := context.Background()
	before := m.Stats().Faults
	allocs := mallocs()
	start := time.Now()
	if err := runToExit(ctx, m, name); err != nil {
		return FaultRun{}, err
	}
	d := time.Since(start)
	allocs = mallocs() - allocs
	faults := int(m.Stats().Faults - before)
	if faults < n {
		return FaultRun{}, fmt.Errorf("faultbench: %s: %d faults for %d fresh pages with fault-around off", name, faults, n)
	}
	r := FaultRun{
		Name: name, FastPath: fp, Faults: faults,
		NsPerFault:     float64(d.Nanoseconds()) / float64(faults),
		Cycle:          measureOf(&tr.Cycle, int(tr.Cycle.Count()), 0),
		Breakdown:      breakdownOf(&tr),
		AllocsPerFault: float64(allocs) / float64(faults),
	}
	// The cycle's mean is the whole loop's wall time per fault.
	r.Cycle.NsPerOp = r.NsPerFault
	return r, nil
}

// SequentialTouch touches every page of size bytes of fresh anonymous
// memory once, in order, with the given fault-around unit and fast path.
func SequentialTouch(name string, size, faultAround uint64, fp machine.FastPath) (Touch, error) {
	m, err := newVM(faultAround, size, touchProgram(dataAddr, size/arch.PageSize))
	if err != nil {
		return Touch{}, err
	}
	defer m.Close()
	if err := mapData(m, size); err != nil {
		return Touch{}, err
	}
	if err := warmCode(m); err != nil {
		return Touch{}, err
	}
	return timeTouch(m, name, size, faultAround, fp)
}

func timeTouch(m *machine.Machine, name string, size, faultAround uint64, fp machine.FastPath) (Touch, error) {
	m.SetFastPath(fp)
	ctx := context.Background()
	before := m.Stats().Faults
	allocs := mallocs()
	start := time.Now()
	if err := runToExit(ctx, m, name); err != nil {
		return Touch{}, err
	}
	d := time.Since(start)
	allocs = mallocs() - allocs
	t := newTouch(size, d, m.Stats().Faults-before)
	t.Name, t.FaultAround, t.DirectResume, t.Populate = name, faultAround, fp.DirectResume, fp.Populate
	t.Leaves4K, t.Leaves2M, _ = m.LeafCounts(arch.AddrRange{Start: dataAddr, End: dataAddr + arch.Addr(size)})
	if t.Faults > 0 {
		t.AllocsPerFault = float64(allocs) / float64(t.Faults)
	}
	return t, nil
}

// RandomTouch touches every page of size bytes once in a random order
// (fixed seed), each offset read from a table in guest memory.
func RandomTouch(name string, size, faultAround uint64, fp machine.FastPath) (Touch, error) {
	pages := size / arch.PageSize
	m, err := newVM(faultAround, size+pages*8, randomTouchProgram(dataAddr, tableAddr, pages))
	if err != nil {
		return Touch{}, err
	}
	defer m.Close()
	table := make([]byte, pages*8)
	r := rand.New(rand.NewPCG(7, 11))
	for i, p := range r.Perm(int(pages)) {
		putLE64(table[i*8:], uint64(p)*arch.PageSize)
	}
	if err := mapBytes(m, tableAddr, table, unix.PROT_READ); err != nil {
		return Touch{}, err
	}
	// Map the table now, so that the timed faults are the data's alone.
	if err := m.MM.Madvise(tableAddr, uint64(len(table)), unix.MADV_POPULATE_READ); err != nil {
		return Touch{}, fmt.Errorf("faultbench: pre-faulting the offsets: %w", err)
	}
	if err := mapData(m, size); err != nil {
		return Touch{}, err
	}
	if err := warmCode(m); err != nil {
		return Touch{}, err
	}
	return timeTouch(m, name, size, faultAround, fp)
}

func putLE64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

// Cycles is the guest mapping, touching and unmapping a region again and
// again (mmap, one write per page, munmap).
type Cycles struct {
	Cycles      uint64  `json:"cycles"`
	Bytes       uint64  `json:"bytes_per_cycle"`
	FaultAround uint64  `json:"fault_around_bytes"`
	NsPerCycle  float64 `json:"ns_per_cycle"`
	NsPerPage   float64 `json:"ns_per_page"`
	Faults      uint64  `json:"faults"`
	Syscalls    uint64  `json:"syscalls"`
}

func MMapCycles(cycles, length, faultAround uint64, fp machine.FastPath) (Cycles, error) {
	m, err := newVM(faultAround, 2*length, mmapCycleProgram(cycles, length))
	if err != nil {
		return Cycles{}, err
	}
	defer m.Close()
	if err := warmCode(m); err != nil {
		return Cycles{}, err
	}
	m.SetFastPath(fp)
	ctx := context.Background()
	st0 := m.Stats()
	start := time.Now()
	if err := runToExit(ctx, m, "mmap/touch/munmap cycles"); err != nil {
		return Cycles{}, err
	}
	d := time.Since(start)
	st := m.Stats()
	c := Cycles{Cycles: cycles, Bytes: length, FaultAround: faultAround, Faults: st.Faults - st0.Faults,
		Syscalls: st.Exits["syscall"] - st0.Exits["syscall"]}
	c.NsPerCycle = float64(d.Nanoseconds()) / float64(cycles)
	c.NsPerPage = c.NsPerCycle / float64(length/arch.PageSize)
	if c.Syscalls != 2*cycles {
		return c, fmt.Errorf("faultbench: mmap cycles: %d system calls for %d cycles, want %d", c.Syscalls, cycles, 2*cycles)
	}
	return c, nil
}

// MachineUserExit measures n raw user exits through Machine.Run: each Run
// returns at the program's `out`, so this is the floor plus Run's own
// per-call cost.
func MachineUserExit(n int) (Measure, error) {
	m, err := newVM(arch.HugePageSize, 0, exitForever)
	if err != nil {
		return Measure{}, err
	}
	defer m.Close()
	ctx := context.Background()
	if err := runToExit(ctx, m, "user exit"); err != nil { // fetch fault
		return Measure{}, err
	}
	var h Histogram
	start := time.Now()
	for range n {
		t := time.Now()
		if err := runToExit(ctx, m, "user exit"); err != nil {
			return Measure{}, err
		}
		h.Record(time.Since(t))
	}
	return measureOf(&h, n, time.Since(start)), nil
}

// MachineSyscalls measures n getpid system calls served by the machine.
func MachineSyscalls(n int, fp machine.FastPath) (Measure, error) {
	m, err := newVM(arch.HugePageSize, 0, syscallCountProgram(39, uint64(n)))
	if err != nil {
		return Measure{}, err
	}
	defer m.Close()
	if err := warmCode(m); err != nil {
		return Measure{}, err
	}
	var h Histogram
	start := time.Now()
	m.SetFastPath(fp)
	if err := runToExit(context.Background(), m, "syscalls"); err != nil {
		return Measure{}, err
	}
	return measureOf(&h, n, time.Since(start)), nil
}

// platformOf builds a Machine and returns what it decided about this KVM.
func platformOf() (string, error) {
	m, err := newVM(arch.PageSize, arch.HugePageSize, exitForever)
	if err != nil {
		return "", err
	}
	defer m.Close()
	return m.Platform().String(), nil
}
