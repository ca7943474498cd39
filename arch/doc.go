// Package arch holds the x86-64 address primitives every other mmvm package
// speaks in: page sizes, a guest-virtual address type whose rounding and
// length arithmetic report overflow instead of wrapping, half-open address
// ranges, and memory access types (read, write, execute) with the set
// operations that permission checks need. It has no dependencies and no
// state; it is deliberately small.
package arch
