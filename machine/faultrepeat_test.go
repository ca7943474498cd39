package machine

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/ring0"
)

// TestFaultRepeat counts identical faults in a row: the third ends the
// program, a different fault or a reset starts the count again.
func TestFaultRepeat(t *testing.T) {
	var f faultRepeat
	a := ring0.Event{Vector: ring0.PageFault, FaultAddr: 0x7000, ErrorCode: 0x7, Context: ring0.UserContext{RIP: 0x401000}}
	b := a
	b.ErrorCode = 0x6
	for i, tc := range []struct {
		ev    ring0.Event
		reset bool
		want  bool
	}{
		{ev: a}, {ev: a}, {ev: a, want: true},
		{ev: b}, {ev: a}, {ev: a},
		{ev: a, reset: true}, {ev: a}, {ev: a, want: true},
	} {
		if tc.reset {
			f.reset()
		}
		if got := f.observe(&tc.ev); got != tc.want {
			t.Errorf("step %d: observe = %v, want %v", i, got, tc.want)
		}
	}
	sf := repeatedFault(&a)
	if sf.Signal != unix.SIGSEGV || sf.Code != segvAccErr || sf.Addr != a.FaultAddr || !strings.Contains(sf.Why, "repeated") || !strings.Contains(sf.Why, "0x7000") {
		t.Errorf("fault %+v", sf)
	}
}
