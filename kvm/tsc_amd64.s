#include "textflag.h"

// func HostTSC() uint64
TEXT ·HostTSC(SB), NOSPLIT, $0-8
	LFENCE
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET
