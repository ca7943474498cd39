package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/internal/faultbench"
	"github.com/mmvm/mmvm/kvm/kvmtest"
	"github.com/mmvm/mmvm/machine"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/x86enc"
)

// TestBenchInvariants runs a small `mmvm bench` and checks what must hold
// on any machine, however fast: every measurement produced samples, fault
// counts follow from the fault-around unit, 2 MiB fault-around installs 2
// MiB leaves only and takes at most 512 faults per GiB, the fault path does
// not allocate, and the JSON and SVG outputs carry everything.
func TestBenchInvariants(t *testing.T) {
	kvmtest.Open(t)
	const size, faults = 16 << 20, 300
	var steps int
	rep, err := faultbench.Run(faultbench.Config{Size: size, Faults: faults, Machine: "test",
		Progress: func(i, n int, what string) { steps = n; t.Logf("[%d/%d] %s", i, n, what) }})
	if err != nil {
		t.Fatal(err)
	}
	if steps == 0 {
		t.Error("no progress reported")
	}
	var out bytes.Buffer
	rep.WriteTable(&out)
	t.Logf("\n%s", out.String())

	measures := map[string]faultbench.Measure{
		"user exit": rep.Floor.UserExit, "ring-0 exit stub": rep.Floor.Ring0ExitStub, "ring-0 exit direct": rep.Floor.Ring0ExitDirect,
		"machine user exit": rep.Floor.MachineUserExit, "minimal stub": rep.Minimal.Stub, "minimal direct": rep.Minimal.Direct,
	}
	for _, s := range rep.Single {
		measures["single "+s.Name] = s.Cycle
		b := s.Breakdown
		for part, m := range map[string]faultbench.Measure{"kvm_run": b.KVMRun, "decode": b.Decode, "handle": b.Handle, "host": b.Host} {
			if m.Latency.Count < faults || m.Latency.P50 <= 0 || m.Latency.Max < m.Latency.P99 {
				t.Errorf("single %s: breakdown %s: %+v", s.Name, part, m.Latency)
			}
		}
		if s.Faults < faults {
			t.Errorf("single %s: %d faults, want at least %d", s.Name, s.Faults, faults)
		}
		// A fault allocates nothing in Go (mm, the MemoryFile, the page
		// tables and the run loop); the few allocations of a Run's
		// start are spread over its faults.
		if s.AllocsPerFault > 0.25 {
			t.Errorf("single %s: %.3f Go allocations per fault", s.Name, s.AllocsPerFault)
		}
	}
	for name, m := range measures {
		l := m.Latency
		// Single faults' cycles start at the second fault.
		if m.N < faults-1 || m.NsPerOp <= 0 || l.Count < uint64(faults)-1 || l.P50 <= 0 || l.P90 < l.P50 || l.P99 < l.P90 || l.Max < l.P99 || len(m.Buckets) == 0 {
			t.Errorf("%s: empty or inconsistent summary: n %d, %.0f ns/op, %+v, %d buckets", name, m.N, m.NsPerOp, l, len(m.Buckets))
		}
	}
	for _, m := range []faultbench.Measure{rep.Floor.MachineSyscallStub, rep.Floor.MachineSyscallDirect} {
		if m.N != faults || m.NsPerOp <= 0 {
			t.Errorf("machine syscalls: %+v", m)
		}
	}

	pages := uint64(size / arch.PageSize)
	for _, tc := range rep.Sequential {
		if tc.Pages != pages || tc.NsPerPage <= 0 {
			t.Errorf("%s: %d pages at %.0f ns/page", tc.Name, tc.Pages, tc.NsPerPage)
		}
		switch tc.FaultAround {
		case arch.PageSize:
			if tc.Faults != pages || tc.Leaves4K != pages || tc.Leaves2M != 0 {
				t.Errorf("%s: %d faults, %d 4K / %d 2M leaves; want %d faults and 4K leaves", tc.Name, tc.Faults, tc.Leaves4K, tc.Leaves2M, pages)
			}
		case 64 << 10:
			if tc.Faults != pages/16 {
				t.Errorf("%s: %d faults, want %d", tc.Name, tc.Faults, pages/16)
			}
		case arch.HugePageSize:
			if tc.Faults != size/arch.HugePageSize || tc.FaultsPerGiB > 512 || tc.Leaves4K != 0 || tc.Leaves2M != size/arch.HugePageSize {
				t.Errorf("%s: %d faults (%.0f per GiB), %d 4K / %d 2M leaves; want %d faults, 2M leaves only", tc.Name, tc.Faults, tc.FaultsPerGiB,
					tc.Leaves4K, tc.Leaves2M, size/arch.HugePageSize)
			}
		default:
			t.Errorf("%s: unexpected fault-around %d", tc.Name, tc.FaultAround)
		}
	}
	if rep.Random.Pages != pages || rep.Random.Faults != size/arch.HugePageSize {
		t.Errorf("random touch: %d pages, %d faults", rep.Random.Pages, rep.Random.Faults)
	}
	if c := rep.Cycles; c.Cycles == 0 || c.Syscalls != 2*c.Cycles || c.Faults < c.Cycles || c.NsPerCycle <= 0 {
		t.Errorf("mmap cycles: %+v", c)
	}
	for _, tc := range []faultbench.Touch{rep.Host.Native, rep.Host.NativeTHP, rep.Host.Limit, rep.Host.LimitUnpopulated} {
		if tc.Pages != pages || tc.NsPerPage <= 0 {
			t.Errorf("%s: %d pages at %.0f ns/page", tc.Name, tc.Pages, tc.NsPerPage)
		}
	}
	if rep.Host.Userfaultfd == nil && rep.Host.UserfaultfdNote == "" {
		t.Error("userfaultfd neither measured nor explained")
	}
	if len(rep.Duels) != 2 {
		t.Fatalf("%d duels, want 2", len(rep.Duels))
	}
	for _, d := range rep.Duels {
		spreads := []faultbench.Spread{d.Mean}
		if d.P50 != nil {
			spreads = append(spreads, *d.P50)
		}
		for _, s := range spreads {
			if d.Rounds != 5 || len(s.PerRound) != d.Rounds || s.Min <= 0 || s.Median < s.Min || s.Max < s.Median {
				t.Errorf("duel %q: %d rounds, spread %+v", d.Name, d.Rounds, s)
			}
		}
		if d.PerRound == 0 || d.OursNs <= 0 || d.BaselineNs <= 0 {
			t.Errorf("duel %q: %d per round, ours %.0f ns, baseline %.0f ns", d.Name, d.PerRound, d.OursNs, d.BaselineNs)
		}
	}
	if rep.Duels[0].P50 == nil {
		t.Error("the single-fault duel has no p50 ratio")
	}
	for _, q := range rep.Ratios {
		if q.Value < 0 || (q.Value == 0 && !strings.Contains(q.Name, "leaves") && !strings.Contains(q.Name, "allocations")) {
			t.Errorf("ratio %q = %v", q.Name, q.Value)
		}
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"floor.user_exit.latency.p50_ns", "floor.ring0_exit_stub.ns_per_op", "minimal_fault_path.stub.latency.p99_ns",
		"single_faults.0.breakdown.handle_user_fault.latency.p50_ns", "single_faults.0.allocs_per_fault",
		"sequential_touch.0.faults_per_gib", "random_touch.ns_per_page", "mmap_touch_munmap.ns_per_cycle",
		"host.native_touch.ns_per_page", "host.machine_limit.populate_ns_per_page", "ratios.0.value",
		"duels.0.mean_ratio.median", "duels.0.p50_ratio.per_round", "duels.1.ours_ns",
	} {
		if !hasPath(doc, path) {
			t.Errorf("JSON lacks %s", path)
		}
	}
	var svg bytes.Buffer
	if err := rep.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	if s := svg.String(); !strings.HasPrefix(s, "<svg") || strings.Count(s, "<polyline") < 5 {
		t.Errorf("SVG has %d histograms:\n%.300s", strings.Count(s, "<polyline"), s)
	}
}

// hasPath reports whether the dotted path (numbers index arrays) leads to a
// value in a decoded JSON document.
func hasPath(v any, path string) bool {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return false
			}
		case []any:
			i := 0
			for _, c := range k {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return false
			}
			v = x[i]
		default:
			return false
		}
	}
	return v != nil
}

// The benchmarks below time one part of the fault path each, as a custom
// metric per operation; compare them within one `go test -bench` run only.

func BenchmarkUserExit(b *testing.B) {
	kvmtest.Open(b)
	m, err := faultbench.UserExitRoundTrip(b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(m.NsPerOp, "ns/exit")
}

func BenchmarkRing0Exit(b *testing.B) {
	kvmtest.Open(b)
	for _, direct := range []bool{false, true} {
		b.Run(map[bool]string{false: "stub", true: "direct"}[direct], func(b *testing.B) {
			m, err := faultbench.Ring0ExitRoundTrip(b.N, direct)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(m.NsPerOp, "ns/exit")
		})
	}
}

// BenchmarkFaultLatency times single faults (fault-around off) through the
// machine under each fast path, next to the minimal fault path and the raw
// user exit measured in the same benchmark, and reports the ratios.
func BenchmarkFaultLatency(b *testing.B) {
	kvmtest.Open(b)
	for _, tc := range []struct {
		name string
		fp   machine.FastPath
	}{
		{"stub", machine.FastPath{}},
		{"direct", machine.FastPath{DirectResume: true}},
		{"stub-raw", machine.FastPath{RawRun: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			n := max(b.N, 64)
			floor, err := faultbench.UserExitRoundTrip(n)
			if err != nil {
				b.Fatal(err)
			}
			minimal, err := faultbench.MinimalFaultPath(n, tc.fp.DirectResume)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			r, err := faultbench.SingleFaults(tc.name, n, tc.fp)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(r.NsPerFault, "ns/fault")
			b.ReportMetric(float64(r.Cycle.Latency.P50.Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(r.Cycle.Latency.P99.Nanoseconds()), "p99-ns")
			b.ReportMetric(r.NsPerFault/minimal.NsPerOp, "x-minimal")
			b.ReportMetric(r.NsPerFault/floor.NsPerOp, "x-user-exit")
			b.ReportMetric(r.AllocsPerFault, "allocs/fault")
		})
	}
}

// BenchmarkSequentialTouch touches fresh memory with each fault-around unit
// and reports ns per page, faults per GiB and the speed ratio to the
// machine's limit (a bare guest over memory populated in bulk, same size).
func BenchmarkSequentialTouch(b *testing.B) {
	kvmtest.Open(b)
	const size = 32 << 20
	for _, tc := range []struct {
		name string
		unit uint64
		fp   machine.FastPath
	}{
		{"4K", arch.PageSize, machine.FastPath{}},
		{"64K", 64 << 10, machine.FastPath{Populate: true}},
		{"2M-plain", arch.HugePageSize, machine.FastPath{}},
		{"2M", arch.HugePageSize, machine.FastPath{Populate: true}},
		{"2M-direct", arch.HugePageSize, machine.FastPath{Populate: true, DirectResume: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var ours, limit float64
			var perGiB float64
			for range b.N {
				t, err := faultbench.SequentialTouch(tc.name, size, tc.unit, tc.fp)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				l, err := faultbench.MachineLimit(size, true)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				ours += t.NsPerPage
				limit += l.NsPerPage
				perGiB = t.FaultsPerGiB
			}
			b.ReportMetric(ours/float64(b.N), "ns/page")
			b.ReportMetric(perGiB, "faults/GiB")
			b.ReportMetric(limit/ours, "x-limit-speed")
		})
	}
}

func BenchmarkHostBaselines(b *testing.B) {
	b.Run("native", func(b *testing.B) {
		var sum float64
		for range b.N {
			t, err := faultbench.NativeTouch(32<<20, false)
			if err != nil {
				b.Fatal(err)
			}
			sum += t.NsPerPage
		}
		b.ReportMetric(sum/float64(b.N), "ns/page")
	})
	b.Run("userfaultfd", func(b *testing.B) {
		m, err := faultbench.UserfaultfdRoundTrip(max(b.N, 16))
		if err != nil {
			b.Skip(err)
		}
		b.ReportMetric(m.NsPerOp, "ns/fault")
	})
}

// BenchmarkNarrowingChange times page-table changes that narrow a
// translation, each as the guest makes it in a loop of system calls,
// against a plain getpid loop in the same benchmark: mprotect of a touched
// page to read-only (and back), and mmap, touch, munmap of a page. Under
// shadow paging (PVM; QEMU with npt=off) each change also pays the ring-0
// replay of its page-table stores; the replays per operation are reported.
func BenchmarkNarrowingChange(b *testing.B) {
	kvmtest.Open(b)
	const x = dataAddr
	n := uint32(max(b.N, 200))
	movR12D := x86enc.MovImm32(x86enc.R12, n).Bytes
	loop := func(body []byte) []byte {
		tail := x86enc.Dec(x86enc.R12).Bytes
		jnz := x86enc.JnzNear(int32(-(len(body) + len(tail) + 6))).Bytes
		return cat(movR12D, body, tail, jnz, outUser0, jmpSelf)
	}
	mmapFixed := cat(movEAX(unix.SYS_MMAP), movRDI(x), movRSI(arch.PageSize), movRDXImm32(unix.PROT_READ|unix.PROT_WRITE),
		movR10D(unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED), x86enc.MovSignExtended(x86enc.R8, -1).Bytes,
		x86enc.Xor32(x86enc.R9, x86enc.R9).Bytes, syscallInsn)
	touch := cat(movRDI(x), storeByteRDI)
	cases := []struct {
		name  string
		code  []byte
		calls float64 // system calls per iteration
	}{
		{"getpid", loop(cat(movEAX(unix.SYS_GETPID), syscallInsn)), 1},
		{"mprotect-ro-rw", loop(cat(syscall3(unix.SYS_MPROTECT, x, arch.PageSize, unix.PROT_READ),
			syscall3(unix.SYS_MPROTECT, x, arch.PageSize, unix.PROT_READ|unix.PROT_WRITE), touch)), 2},
		{"mmap-touch-munmap", loop(cat(mmapFixed, touch, syscall3(unix.SYS_MUNMAP, x, arch.PageSize, 0))), 2},
	}
	var base float64
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			m, err := machine.New(machine.Config{Memory: 64 << 20, FaultAround: arch.PageSize, UserPorts: true})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			for _, mp := range []struct {
				addr uint64
				data []byte
				prot uint64
			}{{codeAddr, tc.code, unix.PROT_READ | unix.PROT_EXEC}, {x, []byte{1}, unix.PROT_READ | unix.PROT_WRITE}} {
				length, _ := arch.PageRoundUp(uint64(len(mp.data)))
				if _, err := m.MM.MMap(mp.addr, length, mp.prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, nil, 0); err != nil {
					b.Fatal(err)
				}
				if _, err := m.MM.CopyOut(arch.Addr(mp.addr), mp.data, mm.IOOpts{IgnorePermissions: true}); err != nil {
					b.Fatal(err)
				}
			}
			if err := m.SetUserContext(codeAddr, stackTop); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			stop, err := m.Run(context.Background())
			elapsed := time.Since(start)
			b.StopTimer()
			if err != nil || stop.Kind != machine.StopUserPort {
				b.Fatalf("stopped with %v (%s): %v", stop.Kind, stop.Reason, err)
			}
			st := m.Stats()
			perIter := float64(elapsed.Nanoseconds()) / float64(n)
			b.ReportMetric(perIter/tc.calls, "ns/syscall")
			b.ReportMetric(float64(st.Replay.Replays)/float64(n), "replays/iter")
			if tc.name == "getpid" {
				base = perIter
			} else if base > 0 {
				b.ReportMetric(perIter/tc.calls/base, "x-getpid")
			}
			b.Logf("%s: %d iterations, %.0f ns each; %v; replays %+v", tc.name, n, perIter, st.Platform, st.Replay)
		})
	}
}
