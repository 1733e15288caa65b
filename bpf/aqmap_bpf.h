/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What scx_aqmap needs from the BPF side that the scx tree's common.bpf.h
 * would normally give: struct_ops section macros, arena annotations, a
 * may_goto loop guard and the bstr wrappers of scx_bpf_error()/dump().
 * Kept small on purpose: vmlinux.h of the target kernel declares every kfunc
 * (a kernel built with pahole < 1.26 too: docs/kernel-ci.md "Building a
 * kernel").
 */
#ifndef __AQMAP_BPF_H
#define __AQMAP_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define BPF_STRUCT_OPS(name, args...) \
	SEC("struct_ops/" #name) BPF_PROG(name, ##args)
#define BPF_STRUCT_OPS_SLEEPABLE(name, args...) \
	SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

/* ops/shim (the native build for the ops-level twin) defines these itself. */
#ifndef __arena
#define __arena __attribute__((address_space(1)))
#endif
#define __hidden __attribute__((visibility("hidden")))

#ifndef NUMA_NO_NODE
#define NUMA_NO_NODE	(-1)
#endif
#define SCX_OPSS_STATE_MASK	((1LLU << SCX_OPSS_QSEQ_SHIFT) - 1)

#define READ_ONCE(x)	(*(volatile typeof(x) *)&(x))

/* Loop guard the verifier bounds for us (may_goto); no kfunc, so usable under a lock. */
#ifndef can_loop
#define can_loop					\
	({ __label__ l_break, l_continue;		\
	bool ret = true;				\
	asm volatile goto("may_goto %l[l_break]"	\
		      :::: l_break);			\
	goto l_continue;				\
	l_break: ret = false;				\
	l_continue:;					\
	ret;						\
	})
#endif

/* scx_bpf_error()/scx_bpf_dump() with printf-style arguments (at least one). */
#define scx_bpf_bstr_call(func, fmt, args...)				\
	({								\
		static char ___fmt[] = fmt;				\
		unsigned long long ___param[___bpf_narg(args)];		\
		_Pragma("GCC diagnostic push")				\
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")	\
		___bpf_fill(___param, args);				\
		_Pragma("GCC diagnostic pop")				\
		func(___fmt, ___param, sizeof(___param));		\
	})
#define scx_bpf_error(fmt, args...)	scx_bpf_bstr_call(scx_bpf_error_bstr, fmt, args)
#define scx_bpf_dump(fmt, args...)	scx_bpf_bstr_call(scx_bpf_dump_bstr, fmt, args)

#endif /* __AQMAP_BPF_H */
