package syscalls

import (
	"encoding/json"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCountsBounded makes 300,000 calls with distinct numbers, as a hostile
// guest may: every call is counted, but what the counts hold stays bounded
// (each distinct number used to add a map entry and a name, ~117 bytes).
func TestCountsBounded(t *testing.T) {
	p, _, _ := newTestProcess(t)
	const n = 300_000
	for i := uint64(0); i < n; i++ {
		p.Syscall(numberedCalls+i, [6]uint64{})
	}
	p.Syscall(unix.SYS_GETPID, [6]uint64{})
	p.Syscall(333, [6]uint64{}) // below 512, not implemented
	calls, unknown := p.Stats()
	var total uint64
	names := map[string]uint64{}
	for _, c := range calls {
		total += c.Count
		names[c.Name] = c.Count
	}
	if total != n+2 {
		t.Errorf("%d calls counted, want %d", total, n+2)
	}
	if len(calls) > numberedCalls+maxOtherNumbers+1 || len(unknown) > numberedCalls+maxOtherNumbers {
		t.Errorf("%d rows of calls and %d unknown numbers: not bounded", len(calls), len(unknown))
	}
	if names["getpid"] != 1 || names[Name(333)] != 1 || unknown[333] != 1 || names[Name(512)] != 1 || unknown[512] != 1 || unknown[unix.SYS_GETPID] != 0 {
		t.Errorf("getpid %d, %s %d, %s %d, unknown %v", names["getpid"], Name(333), names[Name(333)], Name(512), names[Name(512)], unknown)
	}
	if names[otherCall] != n-maxOtherNumbers {
		t.Errorf("%s = %d, want %d", otherCall, names[otherCall], n-maxOtherNumbers)
	}
	js, err := json.Marshal(struct {
		C []SyscallCount
		U map[uint64]uint64
	}{calls, unknown})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d calls with distinct numbers: %d rows, %d unknown numbers, %d bytes of JSON", n, len(calls), len(unknown), len(js))
	if len(js) > 16<<10 {
		t.Errorf("the statistics take %d bytes of JSON", len(js))
	}
}
