#include "textflag.h"

// func Call3(fn, a0, a1, a2 uintptr) uintptr
TEXT ·Call3(SB), NOSPLIT, $0-40
	MOVQ	fn+0(FP), AX
	MOVQ	a0+8(FP), DI
	MOVQ	a1+16(FP), SI
	MOVQ	a2+24(FP), DX
	CALL	AX
	MOVQ	AX, ret+32(FP)
	RET

// func RDTSC() uint64
TEXT ·RDTSC(SB), NOSPLIT, $0-8
	LFENCE
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET
