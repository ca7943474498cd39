package mm

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// A populate stops between steps once Options.Interrupted says so, having
// backed only the steps before; mlock and MADV_POPULATE_WRITE report
// EINTR, MAP_POPULATE still maps (its populate's errors are ignored), and
// without an interruption each backs the whole range.
func TestPopulateInterrupted(t *testing.T) {
	const size = 8 * populateStep // 128 MiB: eight steps
	const base = 0x1000_0000
	steps := 0
	stopAfter := -1 // never
	interrupted := func() bool {
		steps++
		return stopAfter >= 0 && steps > stopAfter
	}
	m, _, _ := testMM(t, func(o *Options) {
		o.Interrupted = interrupted
		o.Limits = &Limits{AS: Unlimited, Data: Unlimited, MemLock: Unlimited, Stack: DefaultStackLimit, MaxMapCount: DefaultMaxMapCount}
	})
	rw := uint64(unix.PROT_READ | unix.PROT_WRITE)
	anon := uint64(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED)
	for _, tc := range []struct {
		name string
		run  func() error
		want error // interrupted
	}{
		{"mlock", func() error { return m.MLock(base, size) }, unix.EINTR},
		{"MADV_POPULATE_WRITE", func() error { return m.Madvise(base, size, unix.MADV_POPULATE_WRITE) }, unix.EINTR},
		{"MAP_POPULATE", func() error {
			_, err := m.MMap(base, size, rw, anon|unix.MAP_POPULATE, nil, 0)
			return err
		}, nil},
	} {
		for _, stop := range []int{2, -1} {
			if _, err := m.MMap(base, size, rw, anon, nil, 0); err != nil {
				t.Fatal(err)
			}
			steps, stopAfter = 0, stop
			err := tc.run()
			rss := m.Stats().RSS
			want := tc.want
			wantRSS := uint64(size)
			if stop < 0 {
				want = nil
			} else {
				wantRSS = uint64(stop) * populateStep
			}
			if !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Errorf("%s, stop after %d steps: err %v, want %v", tc.name, stop, err, want)
			}
			if rss != wantRSS {
				t.Errorf("%s, stop after %d steps: RSS %d MiB, want %d MiB", tc.name, stop, rss>>20, wantRSS>>20)
			}
			if err := m.MUnmap(base, size); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A fork's child asks its own Interrupted, not its parent's: a populate in
// the child stops when the child's check says so, and one in the parent
// goes on.
func TestForkChildPopulateInterrupted(t *testing.T) {
	const size = 4 * populateStep
	const base = 0x1000_0000
	parentAsked := 0
	m, _, _ := testMM(t, func(o *Options) {
		o.Interrupted = func() bool { parentAsked++; return false }
		o.Limits = &Limits{AS: Unlimited, Data: Unlimited, MemLock: Unlimited, Stack: DefaultStackLimit, MaxMapCount: DefaultMaxMapCount}
	})
	child, err := m.Fork(NewFakeAddressSpace(), func() bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer child.Release()
	rw := uint64(unix.PROT_READ | unix.PROT_WRITE)
	anon := uint64(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED)
	if _, err := child.MMap(base, size, rw, anon, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := child.Madvise(base, size, unix.MADV_POPULATE_WRITE); !errors.Is(err, unix.EINTR) {
		t.Errorf("child's MADV_POPULATE_WRITE: %v, want EINTR (its own check says stop)", err)
	}
	if parentAsked != 0 {
		t.Errorf("the child's populate asked the parent's check %d times", parentAsked)
	}
	if _, err := m.MMap(base, size, rw, anon, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Madvise(base, size, unix.MADV_POPULATE_WRITE); err != nil {
		t.Errorf("parent's MADV_POPULATE_WRITE: %v, want it whole", err)
	}
	if rss := m.Stats().RSS; rss != size {
		t.Errorf("parent's RSS %d MiB, want %d MiB", rss>>20, size>>20)
	}
}
