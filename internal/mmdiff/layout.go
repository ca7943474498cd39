package mmdiff

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/mmvm/mmvm/arch"
)

// Mapping is one line of /proc/pid/maps: a vma's range, permissions,
// sharing, offset into its object and the object's inode (shared anonymous
// memory is an unlinked file with an inode of its own).
type Mapping struct {
	Start, End uint64
	Perms      arch.AccessType
	Shared     bool
	Offset     uint64
	Inode      uint64
	Name       string
}

// String formats m as a /proc/pid/maps line.
func (m Mapping) String() string {
	sp := byte('p')
	if m.Shared {
		sp = 's'
	}
	s := fmt.Sprintf("%x-%x %s%c %08x 00:00 %d", m.Start, m.End, m.Perms, sp, m.Offset, m.Inode)
	if m.Name != "" {
		s += strings.Repeat(" ", max(1, 73-len(s))) + m.Name
	}
	return s
}

// ParseMaps parses /proc/pid/maps text and returns the mappings that
// overlap [lo, hi), clipped to it (a vma that spans a window edge is cut
// there, so the window is compared alone).
func ParseMaps(text []byte, lo, hi uint64) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		if outside(line, lo, hi) {
			continue
		}
		m, err := parseMapsLine(line)
		if err != nil {
			return nil, err
		}
		if m.End <= lo || m.Start >= hi {
			continue
		}
		if m.Start < lo {
			if m.Shared {
				m.Offset += lo - m.Start
			}
			m.Start = lo
		}
		m.End = min(m.End, hi)
		out = append(out, m)
	}
	return out, sc.Err()
}

// outside reports, cheaply, whether a well-formed maps line lies wholly
// outside [lo, hi), so that the window's few lines are the only ones
// parsed in full; a malformed line is never outside.
func outside(line string, lo, hi uint64) bool {
	i := strings.IndexByte(line, '-')
	j := strings.IndexByte(line, ' ')
	if i <= 0 || j <= i {
		return false
	}
	start, err1 := strconv.ParseUint(line[:i], 16, 64)
	end, err2 := strconv.ParseUint(line[i+1:j], 16, 64)
	return err1 == nil && err2 == nil && start < end && (end <= lo || start >= hi)
}

func parseMapsLine(line string) (Mapping, error) {
	var m Mapping
	f := strings.Fields(line)
	if len(f) < 5 {
		return m, fmt.Errorf("mmdiff: short maps line %q", line)
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return m, fmt.Errorf("mmdiff: bad range in maps line %q", line)
	}
	var err error
	if m.Start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return m, fmt.Errorf("mmdiff: maps line %q: %w", line, err)
	}
	if m.End, err = strconv.ParseUint(hi, 16, 64); err != nil {
		return m, fmt.Errorf("mmdiff: maps line %q: %w", line, err)
	}
	p := f[1]
	if len(p) != 4 || m.Start >= m.End {
		return m, fmt.Errorf("mmdiff: bad maps line %q", line)
	}
	m.Perms = arch.AccessType{Read: p[0] == 'r', Write: p[1] == 'w', Execute: p[2] == 'x'}
	m.Shared = p[3] == 's'
	if m.Offset, err = strconv.ParseUint(f[2], 16, 64); err != nil {
		return m, fmt.Errorf("mmdiff: maps line %q: %w", line, err)
	}
	if m.Inode, err = strconv.ParseUint(f[4], 10, 64); err != nil {
		return m, fmt.Errorf("mmdiff: maps line %q: %w", line, err)
	}
	if len(f) > 5 {
		m.Name = strings.Join(f[5:], " ")
	}
	return m, nil
}

// Coalesce merges adjacent mappings that nothing visible tells apart: same
// permissions and sharing and, for shared mappings when withObject is set,
// the same object at contiguous offsets. Linux keeps vmas apart for reasons
// invisible here (anon_vma identity, page offsets after mremap, madvise
// flags), so layouts are compared coalesced (see Differences).
func Coalesce(ms []Mapping, withObject bool) []Mapping {
	var out []Mapping
	for _, m := range ms {
		m.Name = ""
		if !m.Shared || !withObject {
			m.Offset, m.Inode = 0, 0
		}
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.End == m.Start && p.Perms == m.Perms && p.Shared == m.Shared &&
				(!m.Shared || !withObject || (p.Inode == m.Inode && p.Offset+(p.End-p.Start) == m.Offset)) {
				p.End = m.End
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

// FormatLayout prints ms one mapping a line, for divergence reports.
func FormatLayout(ms []Mapping) string {
	if len(ms) == 0 {
		return "\t(empty)\n"
	}
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "\t%s\n", m)
	}
	return b.String()
}

// find returns the mapping holding a, if any.
func find(ms []Mapping, a uint64) (Mapping, bool) {
	for _, m := range ms {
		if m.Start <= a && a < m.End {
			return m, true
		}
	}
	return Mapping{}, false
}

// isFree reports whether [a, a+n) overlaps no mapping of ms.
func isFree(ms []Mapping, a, n uint64) bool {
	for _, m := range ms {
		if m.Start < a+n && a < m.End {
			return false
		}
	}
	return true
}

// covered reports whether every page of [a, a+n) lies in a mapping of ms.
func covered(ms []Mapping, a, n uint64) bool {
	end := a + n
	for a < end {
		m, ok := find(ms, a)
		if !ok {
			return false
		}
		a = m.End
	}
	return true
}
