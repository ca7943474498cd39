# The vDSO's code, in GNU as syntax (Intel). `go generate` assembles it
# into code.go (see gen_test.go); nothing assembles it at build time.
#
# The image is laid out as [vvar: data page, 3 more][vvar_vclock: 2
# pages][ELF page][code page] (image.go): this code starts at image offset
# 0x7000, so the vvar data page lies 0x7000 bytes below text_start. Every reference to it is RIP-relative to a label in this
# section, resolved by the assembler: the code is position-independent and
# carries no relocations.
#
# The vvar page (vvar.go is the other half of this contract):
#   0   u32 seq      even while the fields are stable; the host makes it
#                    odd, writes, and makes it even again
#   8   u64 tsc_base the guest TSC at which the clock bases hold
#   64  clock[id] for id 0..11, 32 bytes each:
#         +0  u64 base   the clock's value, in ns, at tsc_base
#         +8  u64 mult   ns per TSC cycle << 32; 0: not served here
#         +16 u64 res    the clock's resolution in ns; the value read is
#                        rounded down to a multiple of it
	.intel_syntax noprefix
	.text

	.set VVAR, text_start - 0x7000
	.set SEQ, 0
	.set TSC_BASE, 8
	.set CLOCKS, 64
	.set NCLOCKS, 12
	.set CLOCK_SHIFT, 5
	.set BASE, 0
	.set MULT, 8
	.set RES, 16

	.set SYS_gettimeofday, 96
	.set SYS_time, 201
	.set SYS_clock_gettime, 228
	.set SYS_clock_getres, 229
	.set SYS_getcpu, 309

text_start:

# clock_ns: the value of clock edi in ns, in rax, with CF clear; CF set
# when the clock is not served here. Clobbers rcx, rdx, r8, r9, r10.
clock_ns:
	cmp	edi, NCLOCKS
	jae	1f
	mov	r9d, edi
	shl	r9, CLOCK_SHIFT
	lea	r10, [rip + VVAR]
	add	r9, r10
	cmp	qword ptr [r9 + CLOCKS + MULT], 0
	je	1f
2:	mov	r8d, dword ptr [r10 + SEQ]
	test	r8d, 1
	jnz	3f
	lfence
	rdtsc
	shl	rdx, 32
	or	rax, rdx
	sub	rax, qword ptr [r10 + TSC_BASE]
	jae	4f
	xor	eax, eax		# a TSC below the base reads as the base
4:	mul	qword ptr [r9 + CLOCKS + MULT]
	shrd	rax, rdx, 32
	add	rax, qword ptr [r9 + CLOCKS + BASE]
	mov	rcx, qword ptr [r9 + CLOCKS + RES]
	cmp	rcx, 1
	jbe	5f
	mov	r10, rax
	xor	edx, edx
	div	rcx
	mov	rax, r10
	sub	rax, rdx
	lea	r10, [rip + VVAR]
5:	cmp	r8d, dword ptr [r10 + SEQ]
	jne	2b
	clc
	ret
3:	pause
	jmp	2b
1:	stc
	ret

# split_ns: rax ns -> rax seconds, rdx nanoseconds. Clobbers rcx.
split_ns:
	xor	edx, edx
	mov	ecx, 1000000000
	div	rcx
	ret

# int clock_gettime(clockid_t clock, struct timespec *ts)
	.globl	__vdso_clock_gettime
	.type	__vdso_clock_gettime, @function
__vdso_clock_gettime:
	call	clock_ns
	jc	1f
	call	split_ns
	mov	qword ptr [rsi], rax
	mov	qword ptr [rsi + 8], rdx
	xor	eax, eax
	ret
1:	mov	eax, SYS_clock_gettime
	syscall
	ret
	.size	__vdso_clock_gettime, . - __vdso_clock_gettime

# int gettimeofday(struct timeval *tv, struct timezone *tz)
	.globl	__vdso_gettimeofday
	.type	__vdso_gettimeofday, @function
__vdso_gettimeofday:
	test	rdi, rdi
	jz	2f
	mov	r11, rdi
	xor	edi, edi		# CLOCK_REALTIME
	call	clock_ns
	mov	rdi, r11
	jc	1f
	call	split_ns
	mov	qword ptr [rdi], rax
	mov	rax, rdx
	xor	edx, edx
	mov	ecx, 1000
	div	rcx
	mov	qword ptr [rdi + 8], rax
2:	test	rsi, rsi
	jz	3f
	mov	qword ptr [rsi], 0	# UTC: tz_minuteswest 0, tz_dsttime 0
3:	xor	eax, eax
	ret
1:	mov	eax, SYS_gettimeofday
	syscall
	ret
	.size	__vdso_gettimeofday, . - __vdso_gettimeofday

# time_t time(time_t *t)
	.globl	__vdso_time
	.type	__vdso_time, @function
__vdso_time:
	mov	r11, rdi
	xor	edi, edi		# CLOCK_REALTIME
	call	clock_ns
	mov	rdi, r11
	jc	1f
	call	split_ns
	test	rdi, rdi
	jz	2f
	mov	qword ptr [rdi], rax
2:	ret
1:	mov	eax, SYS_time
	syscall
	ret
	.size	__vdso_time, . - __vdso_time

# int clock_getres(clockid_t clock, struct timespec *res)
	.globl	__vdso_clock_getres
	.type	__vdso_clock_getres, @function
__vdso_clock_getres:
	cmp	edi, NCLOCKS
	jae	1f
	mov	r9d, edi
	shl	r9, CLOCK_SHIFT
	lea	r10, [rip + VVAR]
	add	r9, r10
	cmp	qword ptr [r9 + CLOCKS + MULT], 0
	je	1f
	test	rsi, rsi
	jz	2f
	mov	rax, qword ptr [r9 + CLOCKS + RES]
	call	split_ns
	mov	qword ptr [rsi], rax
	mov	qword ptr [rsi + 8], rdx
2:	xor	eax, eax
	ret
1:	mov	eax, SYS_clock_getres
	syscall
	ret
	.size	__vdso_clock_getres, . - __vdso_clock_getres

# int getcpu(unsigned *cpu, unsigned *node, void *cache): one CPU, one node.
	.globl	__vdso_getcpu
	.type	__vdso_getcpu, @function
__vdso_getcpu:
	test	rdi, rdi
	jz	1f
	mov	dword ptr [rdi], 0
1:	test	rsi, rsi
	jz	2f
	mov	dword ptr [rsi], 0
2:	xor	eax, eax
	ret
	.size	__vdso_getcpu, . - __vdso_getcpu
