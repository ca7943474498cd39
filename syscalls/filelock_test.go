package syscalls

import (
	"math"
	"slices"
	"testing"
)

// TestSetRange checks how an owner's record locks change, as Linux's
// posix_lock_inode changes them: a lock of the same type merges with the
// ones it overlaps or touches, one of the other type cuts them, an unlock
// splits one in two, and another owner's locks are left alone.
func TestSetRange(t *testing.T) {
	a, b := &Process{}, &Process{}
	w := func(o any, s, e uint64) rangeLock { return rangeLock{owner: o, write: true, start: s, end: e} }
	r := func(o any, s, e uint64) rangeLock { return rangeLock{owner: o, start: s, end: e} }
	type step struct {
		lock   rangeLock
		unlock bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  []rangeLock
	}{
		{"merge touching", []step{{w(a, 0, 10), false}, {w(a, 10, 20), false}}, []rangeLock{w(a, 0, 20)}},
		{"merge overlapping", []step{{r(a, 0, 10), false}, {r(a, 5, 30), false}}, []rangeLock{r(a, 0, 30)}},
		{"unlock splits", []step{{w(a, 0, 100), false}, {r(a, 40, 60), true}}, []rangeLock{w(a, 0, 40), w(a, 60, 100)}},
		{"other type cuts", []step{{w(a, 0, 100), false}, {r(a, 40, 60), false}}, []rangeLock{w(a, 0, 40), w(a, 60, 100), r(a, 40, 60)}},
		{"other type adjacent stays", []step{{w(a, 0, 10), false}, {r(a, 10, 20), false}}, []rangeLock{w(a, 0, 10), r(a, 10, 20)}},
		{"to the end", []step{{w(a, 10, math.MaxUint64), false}, {r(a, 0, 50), true}}, []rangeLock{w(a, 50, math.MaxUint64)}},
		{"other owners apart", []step{{w(a, 0, 10), false}, {w(b, 10, 20), false}, {r(a, 0, 20), true}}, []rangeLock{w(b, 10, 20)}},
	} {
		var got []rangeLock
		for _, s := range tc.steps {
			got = setRange(got, s.lock, s.unlock)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
