package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The IP, IPv6, TCP and UDP level options of inet sockets: the int
// options programs set, kept and reported as Linux reports them (the
// ones that tune a real network change nothing on lo). An option of a
// level the socket does not have, or one mmvm does not know, is
// ENOPROTOOPT, as ip_setsockopt answers an unknown level.

// inetOptKey is an option: its level and name.
type inetOptKey struct {
	level, name int32
}

// inetOpt is what mmvm knows of one option.
type inetOpt struct {
	// def is the value a new socket reports.
	def int32
	// boolean options report 0 or 1, whatever was set.
	boolean bool
	// lo and hi bound a value set (EINVAL outside) where hi > lo;
	// reset is the value set in place of -1 (the default's "use the
	// system's"), when nonzero.
	lo, hi, reset int32
	// onlyGet options are read-only (setsockopt ENOPROTOOPT).
	onlyGet bool
}

// TCP options x/sys names under other names or not at all.
const (
	tcpNotsentLowat = 25
	ipv6Dontfrag    = 62
)

// inetOpts are the options mmvm keeps, per level.
var inetOpts = map[inetOptKey]inetOpt{
	{unix.SOL_IP, unix.IP_TOS}:                  {},
	{unix.SOL_IP, unix.IP_TTL}:                  {def: 64, lo: 1, hi: 255, reset: 64},
	{unix.SOL_IP, unix.IP_PKTINFO}:              {boolean: true},
	{unix.SOL_IP, unix.IP_RECVTTL}:              {boolean: true},
	{unix.SOL_IP, unix.IP_RECVTOS}:              {boolean: true},
	{unix.SOL_IP, unix.IP_RECVERR}:              {boolean: true},
	{unix.SOL_IP, unix.IP_RECVOPTS}:             {boolean: true},
	{unix.SOL_IP, unix.IP_RETOPTS}:              {boolean: true},
	{unix.SOL_IP, unix.IP_MTU_DISCOVER}:         {def: unix.IP_PMTUDISC_WANT, lo: 0, hi: unix.IP_PMTUDISC_OMIT},
	{unix.SOL_IP, unix.IP_FREEBIND}:             {boolean: true},
	{unix.SOL_IP, unix.IP_TRANSPARENT}:          {boolean: true},
	{unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT}: {boolean: true},
	{unix.SOL_IP, unix.IP_MULTICAST_TTL}:        {def: 1, lo: 0, hi: 255, reset: 1},
	{unix.SOL_IP, unix.IP_MULTICAST_LOOP}:       {def: 1, boolean: true},
	{unix.SOL_IP, unix.IP_RECVORIGDSTADDR}:      {boolean: true},

	{unix.SOL_IPV6, unix.IPV6_V6ONLY}:          {boolean: true},
	{unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS}:    {def: 64, lo: 0, hi: 255, reset: 64},
	{unix.SOL_IPV6, unix.IPV6_MULTICAST_HOPS}:  {def: 1, lo: 0, hi: 255, reset: 1},
	{unix.SOL_IPV6, unix.IPV6_MULTICAST_LOOP}:  {def: 1, boolean: true},
	{unix.SOL_IPV6, unix.IPV6_RECVPKTINFO}:     {boolean: true},
	{unix.SOL_IPV6, unix.IPV6_RECVHOPLIMIT}:    {boolean: true},
	{unix.SOL_IPV6, unix.IPV6_RECVTCLASS}:      {boolean: true},
	{unix.SOL_IPV6, unix.IPV6_RECVERR}:         {boolean: true},
	{unix.SOL_IPV6, unix.IPV6_TCLASS}:          {lo: 0, hi: 255},
	{unix.SOL_IPV6, unix.IPV6_MTU_DISCOVER}:    {def: unix.IPV6_PMTUDISC_WANT, lo: 0, hi: unix.IPV6_PMTUDISC_OMIT},
	{unix.SOL_IPV6, ipv6Dontfrag}:              {boolean: true},
	{unix.SOL_IPV6, unix.IPV6_RECVORIGDSTADDR}: {boolean: true},

	{unix.SOL_TCP, unix.TCP_NODELAY}:          {boolean: true},
	{unix.SOL_TCP, unix.TCP_CORK}:             {boolean: true},
	{unix.SOL_TCP, unix.TCP_KEEPIDLE}:         {def: 7200, lo: 1, hi: 32767},
	{unix.SOL_TCP, unix.TCP_KEEPINTVL}:        {def: 75, lo: 1, hi: 32767},
	{unix.SOL_TCP, unix.TCP_KEEPCNT}:          {def: 9, lo: 1, hi: 127},
	{unix.SOL_TCP, unix.TCP_SYNCNT}:           {def: 6, lo: 1, hi: 255},
	{unix.SOL_TCP, unix.TCP_LINGER2}:          {def: 60},
	{unix.SOL_TCP, unix.TCP_DEFER_ACCEPT}:     {},
	{unix.SOL_TCP, unix.TCP_WINDOW_CLAMP}:     {},
	{unix.SOL_TCP, unix.TCP_QUICKACK}:         {def: 1, boolean: true},
	{unix.SOL_TCP, unix.TCP_USER_TIMEOUT}:     {lo: 0, hi: 1<<31 - 1},
	{unix.SOL_TCP, unix.TCP_FASTOPEN}:         {},
	{unix.SOL_TCP, tcpNotsentLowat}:           {},
	{unix.SOL_TCP, unix.TCP_FASTOPEN_CONNECT}: {boolean: true},

	{unix.SOL_UDP, unix.UDP_CORK}: {boolean: true},
}

// inetLevelOK says whether s has options of level: IP always, IPv6 for
// AF_INET6, TCP and UDP for their own sockets.
func (s *socket) inetLevelOK(level int32) bool {
	switch level {
	case unix.SOL_IP:
		return true
	case unix.SOL_IPV6:
		return s.family == unix.AF_INET6
	case unix.SOL_TCP:
		return s.in.proto == unix.IPPROTO_TCP
	case unix.SOL_UDP:
		return s.in.proto == unix.IPPROTO_UDP
	}
	return false
}

// inetOptValue is the option's value as getsockopt reports it:
// ENOPROTOOPT for one s does not have; ENOTCONN for TCP_MAXSEG and
// IP_MTU's of an unconnected socket where Linux has none to give.
func (s *socket) inetOptValue(level, name int32) ([]byte, unix.Errno) {
	if !s.inetLevelOK(level) {
		// ip_getsockopt's answer to a level it has not; setsockopt's,
		// and ipv6_getsockopt's, is ENOPROTOOPT.
		if s.family == unix.AF_INET6 {
			return nil, unix.ENOPROTOOPT
		}
		return nil, unix.EOPNOTSUPP
	}
	i32 := func(x int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(x)) }
	k := inetOptKey{level, name}
	switch k {
	case inetOptKey{unix.SOL_IPV6, unix.IPV6_V6ONLY}:
		return i32(boolInt32(s.in.v6only)), 0
	case inetOptKey{unix.SOL_TCP, unix.TCP_MAXSEG}:
		// Half the largest window lo's MTU (IP_MAX_MTU) allows, as
		// tcp_bound_to_half_wnd cuts it; TCP_MSS_DEFAULT unconnected.
		if s.state != sockEstablished {
			return i32(536), 0
		}
		if s.in.remote.Addr().Unmap().Is4() {
			return i32((65535 - 20 - 20 - 12) / 2), 0
		}
		return i32((65535 - 40 - 20 - 12) / 2), 0
	case inetOptKey{unix.SOL_TCP, unix.TCP_CONGESTION}:
		b := make([]byte, 16)
		copy(b, "cubic")
		return b, 0
	case inetOptKey{unix.SOL_IP, unix.IP_MTU}, inetOptKey{unix.SOL_IPV6, unix.IPV6_MTU}:
		if s.state != sockEstablished {
			return nil, unix.ENOTCONN
		}
		return i32(65535), 0 // lo's 65536 capped at IP_MAX_MTU
	}
	o, ok := inetOpts[k]
	if !ok {
		return nil, unix.ENOPROTOOPT
	}
	if v, set := s.in.opts[k]; set {
		return i32(v), 0
	}
	return i32(o.def), 0
}

// setInetOpt is setsockopt of an IP, IPv6, TCP or UDP level option:
// EINVAL short of an int or out of the option's bounds (IPV6_V6ONLY once
// bound), ENOPROTOOPT for one s does not have.
func (t *Task) setInetOpt(s *socket, level, name int32, val arch.Addr, optlen int32) unix.Errno {
	if !s.inetLevelOK(level) {
		return unix.ENOPROTOOPT
	}
	k := inetOptKey{level, name}
	o, ok := inetOpts[k]
	if !ok || o.onlyGet {
		if k == (inetOptKey{unix.SOL_TCP, unix.TCP_MAXSEG}) || k == (inetOptKey{unix.SOL_TCP, unix.TCP_CONGESTION}) {
			return 0 // accepted, and nothing on lo to tune
		}
		return unix.ENOPROTOOPT
	}
	if optlen < 4 {
		return unix.EINVAL
	}
	var b [4]byte
	if _, err := t.cfg.Memory.CopyIn(val, b[:]); err != nil {
		return unix.EFAULT
	}
	v := int32(binary.LittleEndian.Uint32(b[:]))
	if k == (inetOptKey{unix.SOL_IPV6, unix.IPV6_V6ONLY}) {
		if s.in.local.Port() != 0 {
			return unix.EINVAL
		}
		s.in.v6only = v != 0
		return 0
	}
	switch {
	case v == -1 && o.reset != 0:
		v = o.reset
	case o.boolean:
		v = boolInt32(v != 0)
	case o.hi > o.lo && (v < o.lo || v > o.hi):
		return unix.EINVAL
	}
	if s.in.opts == nil {
		s.in.opts = make(map[inetOptKey]int32)
	}
	s.in.opts[k] = v
	return 0
}
