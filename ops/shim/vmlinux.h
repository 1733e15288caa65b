/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ops-level twin's vmlinux.h: what bpf/scx_aqmap.bpf.c uses of the 7.2
 * kernel's types, reduced to the fields it touches, so that the scheduler
 * compiles natively, unchanged, against ops/sim (the simulated sched_ext
 * core).  Constants carry the 7.2 kernel's values (its BTF, vmlinux.h).
 *
 * Compiled as C (the scheduler) and as C++ (the simulator, which embeds
 * struct task_struct in its own task record).  Every kfunc and helper below
 * is implemented in ops/sim/kfuncs.cpp, which also makes each one a point
 * where the simulator may switch CPUs.
 */
#ifndef AQOPS_SHIM_VMLINUX_H
#define AQOPS_SHIM_VMLINUX_H

#ifdef __cplusplus
extern "C" {
#else
#include <stdbool.h>
#endif

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
typedef long long s64;

/* Arena pointers are plain pointers natively; so is the verifier's loop bound. */
#define __arena
#define can_loop	1

struct list_head {
	struct list_head *next, *prev;
};

typedef struct {
	long counter;
} atomic_long_t;

struct scx_dispatch_q {
	u64 id;
};

struct sched_ext_entity {
	struct scx_dispatch_q *dsq;
	struct list_head runnable_node;	/* linked (not self) while runnable */
	unsigned long runnable_at;
	atomic_long_t ops_state;
	u32 ops_qseq;			/* the per-task qseq counter (do_enqueue_task()) */
	u32 flags;			/* SCX_TASK_* */
	u32 weight;
};

struct sched_entity {
	u64 sum_exec_runtime;
};

struct thread_info {
	u32 cpu;
};

struct cpumask {
	unsigned long bits[1];
};

struct task_struct {
	struct thread_info thread_info;
	int pid;
	char comm[16];
	struct task_struct *real_parent;
	const struct cpumask *cpus_ptr;
	struct sched_entity se;
	struct sched_ext_entity scx;
};

struct scx_init_task_args {
	bool fork;
};

struct scx_exit_task_args {
	bool cancelled;
};

struct scx_exit_info {
	s64 kind;
	s64 exit_code;
	const char *reason;
	const char *msg;
};

struct scx_dump_ctx {
	int unused;
};

/* The simulator keeps who holds it; single-threaded, so plain fields. */
struct bpf_res_spin_lock {
	int holder;	/* simulated CPU + 1, -1 the audit (kernel.cpp), 0 when free */
	int nr;		/* lock number, for traces (0: not yet seen) */
};

struct sched_ext_ops {
	void *select_cpu, *enqueue, *dequeue, *dispatch, *running, *tick;
	void *init_task, *exit_task, *cpu_online, *cpu_offline, *dump, *init, *exit;
	char name[128];
};

enum {
	BPF_LOCAL_STORAGE_GET_F_CREATE = 1,
	BPF_TASK_ITER_ALL_THREADS = 1,
	BPF_MAX_LOOPS = 8388608,
};

enum scx_opss {
	SCX_OPSS_NONE = 0,
	SCX_OPSS_QUEUEING = 1,
	SCX_OPSS_QUEUED = 2,
	SCX_OPSS_DISPATCHING = 3,
	SCX_OPSS_QSEQ_SHIFT = 2,
};

/* 64-bit enumerators: C23 and C++ both give these an unsigned long long type. */
enum : unsigned long long {
	SCX_DSQ_FLAG_BUILTIN = 9223372036854775808ULL,
	SCX_DSQ_INVALID = 9223372036854775808ULL,
	SCX_DSQ_GLOBAL = 9223372036854775809ULL,
	SCX_DSQ_LOCAL = 9223372036854775810ULL,
	SCX_ENQ_WAKEUP = 1ULL,
	SCX_ENQ_HEAD = 65536ULL,
	SCX_ENQ_PREEMPT = 4294967296ULL,
	SCX_ENQ_REENQ = 1099511627776ULL,
	SCX_ENQ_CLEAR_OPSS = 72057594037927936ULL,
	SCX_DEQ_SLEEP = 1ULL,
	SCX_DEQ_CORE_SCHED_EXEC = 4294967296ULL,
	SCX_DEQ_SCHED_CHANGE = 8589934592ULL,
	SCX_SLICE_DFL = 20000000ULL,
};

enum {
	SCX_TASK_QUEUED = 1,
	SCX_TASK_IN_CUSTODY = 2,
	SCX_KICK_IDLE = 1,
	SCX_WAKE_FORK = 4,
	SCX_WAKE_TTWU = 8,
};

/* kfuncs and helpers (ops/sim/kfuncs.cpp). */
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags, bool *is_idle);
void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags);
bool scx_bpf_dsq_move_to_local(u64 dsq_id);
void scx_bpf_dsq_reenq(u64 dsq_id, u64 reenq_flags);
void scx_bpf_kick_cpu(s32 cpu, u64 flags);
s32 scx_bpf_task_cpu(const struct task_struct *p);
s32 scx_bpf_pick_idle_cpu(const struct cpumask *cpus_allowed, u64 flags);
u32 scx_bpf_dispatch_nr_slots(void);
s32 scx_bpf_create_dsq(u64 dsq_id, s32 node);
s32 scx_bpf_dsq_nr_queued(u64 dsq_id);
struct task_struct *scx_bpf_cpu_curr(s32 cpu);
void scx_bpf_task_set_slice(struct task_struct *p, u64 slice);
void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data_len);
void scx_bpf_dump_bstr(char *fmt, unsigned long long *data, u32 data_len);
bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask);
void *aqsim_task_storage_get(void *map, struct task_struct *p, unsigned long size, u64 flags);
struct task_struct *bpf_task_from_pid(s32 pid);
void bpf_task_release(struct task_struct *p);
u64 bpf_ktime_get_ns(void);
u64 bpf_jiffies64(void);
void *bpf_arena_alloc_pages(void *map, void *addr, u32 page_cnt, int node, u64 flags);
long bpf_probe_read_kernel_str(void *dst, u32 size, const void *src);
void bpf_rcu_read_lock(void);
void bpf_rcu_read_unlock(void);
int bpf_res_spin_lock(struct bpf_res_spin_lock *lock);
void bpf_res_spin_unlock(struct bpf_res_spin_lock *lock);
int aqsim_res_spin_lock_irqsave(struct bpf_res_spin_lock *lock);
void aqsim_res_spin_unlock_irqrestore(struct bpf_res_spin_lock *lock);
struct task_struct *aqsim_task_iter(int i);

/* Task storage knows its value's size from the map definition. */
#define bpf_task_storage_get(map, task, init, flags) \
	aqsim_task_storage_get((map), (task), sizeof(*(map)->value), (flags))
#define bpf_res_spin_lock_irqsave(lock, flagsp) \
	((void)(flagsp), aqsim_res_spin_lock_irqsave(lock))
#define bpf_res_spin_unlock_irqrestore(lock, flagsp) \
	((void)(flagsp), aqsim_res_spin_unlock_irqrestore(lock))

#ifdef __cplusplus
}
#endif

#endif /* AQOPS_SHIM_VMLINUX_H */
