package syscalls

import (
	"sort"
	"sync"
)

// numberedCalls bounds the system-call numbers counted one by one: x86-64's
// are all below 512 (the x32 ABI's carry bit 30, and the guest has no
// x32), so an array of that size counts every real number, implemented
// or not, without allocating.
const numberedCalls = 512

// maxOtherNumbers caps how many distinct numbers of numberedCalls or more
// are remembered with their own counts; calls with further such numbers
// are only counted together, as otherCall. A guest can then make no more
// than a fixed amount of host memory hold its statistics, however many
// distinct numbers it tries.
const maxOtherNumbers = 64

// otherCall is the name Stats gives the calls numbered numberedCalls or more
// beyond the first maxOtherNumbers distinct ones.
const otherCall = "syscall_other"

// callCounts counts a Process's system calls. mu guards every field: every
// thread counts, without the Process lock, while Stats may read from any
// goroutine.
type callCounts struct {
	mu sync.Mutex
	// byNumber counts the calls numbered below numberedCalls.
	byNumber [numberedCalls]uint64
	// otherNumbers counts calls with the first maxOtherNumbers distinct
	// numbers of numberedCalls or more; unlisted counts the rest.
	otherNumbers map[uint64]uint64
	unlisted     uint64
}

func (c *callCounts) add(nr uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if nr < numberedCalls {
		c.byNumber[nr]++
		return
	}
	if _, ok := c.otherNumbers[nr]; ok || len(c.otherNumbers) < maxOtherNumbers {
		if c.otherNumbers == nil {
			c.otherNumbers = make(map[uint64]uint64)
		}
		c.otherNumbers[nr]++
		return
	}
	c.unlisted++
}

// SyscallCount is one row of Stats.
type SyscallCount struct {
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}

// Stats returns the calls made so far by name, most frequent first, and
// the numbers of unimplemented calls (answered ENOSYS) with their counts.
// Numbers of 512 or more are listed one by one only for the first 64
// distinct ones; the calls with the others are one row, "syscall_other",
// and appear in unknown under no number. Both results are bounded in size
// whatever the guest did.
func (p *Process) Stats() (calls []SyscallCount, unknown map[uint64]uint64) {
	c := p.calls
	c.mu.Lock()
	defer c.mu.Unlock()
	unknown = make(map[uint64]uint64)
	for nr, n := range c.byNumber {
		if n == 0 {
			continue
		}
		calls = append(calls, SyscallCount{Name(uint64(nr)), n})
		if _, ok := table[uint64(nr)]; !ok {
			unknown[uint64(nr)] = n
		}
	}
	for nr, n := range c.otherNumbers {
		calls = append(calls, SyscallCount{Name(nr), n})
		unknown[nr] = n
	}
	if c.unlisted > 0 {
		calls = append(calls, SyscallCount{otherCall, c.unlisted})
	}
	sort.Slice(calls, func(i, j int) bool {
		if calls[i].Count != calls[j].Count {
			return calls[i].Count > calls[j].Count
		}
		return calls[i].Name < calls[j].Name
	})
	return calls, unknown
}
