/* SPDX-License-Identifier: GPL-2.0 */
/* Native BPF_PROG: a struct_ops callback is an ordinary function of its arguments. */
#ifndef AQOPS_SHIM_BPF_TRACING_H
#define AQOPS_SHIM_BPF_TRACING_H
#define BPF_PROG(name, args...)	name(args)
#endif
