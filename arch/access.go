package arch

// AccessType is a set of memory access kinds: a permission when it describes
// what a mapping allows, an access when it describes what a fault wanted.
type AccessType struct {
	Read    bool
	Write   bool
	Execute bool
}

// Common access types.
var (
	NoAccess  = AccessType{}
	Read      = AccessType{Read: true}
	Write     = AccessType{Write: true}
	Execute   = AccessType{Execute: true}
	ReadWrite = AccessType{Read: true, Write: true}
	AnyAccess = AccessType{Read: true, Write: true, Execute: true}
)

// Linux PROT_* bits, as AccessType converts to and from them.
const (
	ProtRead  = 0x1
	ProtWrite = 0x2
	ProtExec  = 0x4
)

// AccessFromProt converts PROT_READ/WRITE/EXEC bits; other bits are ignored
// (callers validate flags themselves).
func AccessFromProt(prot int) AccessType {
	return AccessType{Read: prot&ProtRead != 0, Write: prot&ProtWrite != 0, Execute: prot&ProtExec != 0}
}

// Prot returns the PROT_* bits of a.
func (a AccessType) Prot() int {
	p := 0
	if a.Read {
		p |= ProtRead
	}
	if a.Write {
		p |= ProtWrite
	}
	if a.Execute {
		p |= ProtExec
	}
	return p
}

// Any reports whether a allows any access.
func (a AccessType) Any() bool { return a.Read || a.Write || a.Execute }

// Effective returns the accesses x86-64 hardware actually permits for a
// mapping with permissions a: a present page is always readable, so write or
// execute imply read.
func (a AccessType) Effective() AccessType {
	if a.Write || a.Execute {
		a.Read = true
	}
	return a
}

// SupersetOf reports whether a allows every access in o.
func (a AccessType) SupersetOf(o AccessType) bool {
	return (a.Read || !o.Read) && (a.Write || !o.Write) && (a.Execute || !o.Execute)
}

// Intersect returns the accesses in both a and o.
func (a AccessType) Intersect(o AccessType) AccessType {
	return AccessType{Read: a.Read && o.Read, Write: a.Write && o.Write, Execute: a.Execute && o.Execute}
}

// Union returns the accesses in a or o.
func (a AccessType) Union(o AccessType) AccessType {
	return AccessType{Read: a.Read || o.Read, Write: a.Write || o.Write, Execute: a.Execute || o.Execute}
}

// String formats a as in /proc/pid/maps: "rwx" with '-' for absent bits.
func (a AccessType) String() string {
	b := []byte("---")
	if a.Read {
		b[0] = 'r'
	}
	if a.Write {
		b[1] = 'w'
	}
	if a.Execute {
		b[2] = 'x'
	}
	return string(b)
}
