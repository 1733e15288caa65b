/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Native stand-ins for libbpf's bpf_helpers.h, as far as scx_aqmap uses it:
 * map-definition macros (their values are kept only where the simulator
 * reads them, the task-storage value type), sections, and the open-coded
 * loops, which natively are plain bounded loops.
 */
#ifndef AQOPS_SHIM_BPF_HELPERS_H
#define AQOPS_SHIM_BPF_HELPERS_H

#ifndef __always_inline
#define __always_inline	inline __attribute__((always_inline))
#endif

#define SEC(name)		__attribute__((section(name), used))
#define __uint(name, val)	int name
#define __ulong(name, val)	unsigned long name
#define __type(name, val)	__typeof__(val) *name

#ifndef NULL
#define NULL ((void *)0)
#endif

#define bpf_for(i, start, end)	for ((i) = (start); (i) < (end); (i)++)
#define bpf_repeat(n)		for (long ___aq_rep = 0; ___aq_rep < (n); ___aq_rep++)
/* Only bpf_for_each(task, p, NULL, BPF_TASK_ITER_ALL_THREADS) is used. */
#define bpf_for_each(type, cur, args...) \
	for (int ___aq_it = 0; ((cur) = aqsim_task_iter(___aq_it)) != NULL; ___aq_it++)

/* Argument count and array fill of scx_bpf_error()'s varargs (up to 8). */
#define ___aq_nth(_1, _2, _3, _4, _5, _6, _7, _8, N, ...) N
#define ___bpf_narg(args...)	___aq_nth(args, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define ___aq_fill1(a, x0) a[0] = (unsigned long long)(x0)
#define ___aq_fill2(a, x0, x1) a[0] = (unsigned long long)(x0); a[1] = (unsigned long long)(x1)
#define ___aq_fill3(a, x0, x1, x2) a[0] = (unsigned long long)(x0); a[1] = (unsigned long long)(x1); a[2] = (unsigned long long)(x2)
#define ___aq_fill4(a, x0, x1, x2, x3) a[0] = (unsigned long long)(x0); a[1] = (unsigned long long)(x1); a[2] = (unsigned long long)(x2); a[3] = (unsigned long long)(x3)
#define ___aq_fill5(a, x0, x1, x2, x3, x4) a[0] = (unsigned long long)(x0); a[1] = (unsigned long long)(x1); a[2] = (unsigned long long)(x2); a[3] = (unsigned long long)(x3); a[4] = (unsigned long long)(x4)
#define ___aq_fill6(a, x0, x1, x2, x3, x4, x5) a[0] = (unsigned long long)(x0); a[1] = (unsigned long long)(x1); a[2] = (unsigned long long)(x2); a[3] = (unsigned long long)(x3); a[4] = (unsigned long long)(x4); a[5] = (unsigned long long)(x5)
#define ___aq_fill7(a, x0, x1, x2, x3, x4, x5, x6) a[0] = (unsigned long long)(x0); a[1] = (unsigned long long)(x1); a[2] = (unsigned long long)(x2); a[3] = (unsigned long long)(x3); a[4] = (unsigned long long)(x4); a[5] = (unsigned long long)(x5); a[6] = (unsigned long long)(x6)
#define ___aq_fill8(a, x0, x1, x2, x3, x4, x5, x6, x7) a[0] = (unsigned long long)(x0); a[1] = (unsigned long long)(x1); a[2] = (unsigned long long)(x2); a[3] = (unsigned long long)(x3); a[4] = (unsigned long long)(x4); a[5] = (unsigned long long)(x5); a[6] = (unsigned long long)(x6); a[7] = (unsigned long long)(x7)
#define ___aq_cat(a, b)		a##b
#define ___aq_fillN(n)		___aq_cat(___aq_fill, n)
#define ___aq_fill_n(arr, n, args...)	___aq_fillN(n)(arr, args)
#define ___bpf_fill(arr, args...)	___aq_fill_n(arr, ___bpf_narg(args), args)

#endif /* AQOPS_SHIM_BPF_HELPERS_H */
