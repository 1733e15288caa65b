// The kfuncs and helpers scx_aqmap calls, natively, against the simulated
// core.  Each one that reads or writes state another CPU can change is a
// yield point (Kernel::step); helpers that read only the caller's own state
// (the clock, its task storage, a cpumask) yield in fine mode only.  The
// kernel functions they stand for are ext.c's of the same name.
#include "kernel.h"

#include <fmt/format.h>

#include <cstring>
#include <deque>
#include <string>

using aqops::kernel;

namespace {

// Formats scx_bpf_error()'s bstr arguments: %d %u %llu %lld %s %x, enough
// for the scheduler's messages.
std::string format_bstr(const char *fmt, const unsigned long long *data, unsigned n)
{
	std::string out;
	unsigned a = 0;
	for (const char *c = fmt; *c; c++) {
		if (*c != '%') {
			out += *c;
			continue;
		}
		c++;
		while (*c == 'l' || *c == 'h')
			c++;
		unsigned long long v = a < n ? data[a++] : 0;
		switch (*c) {
		case 'd': case 'i': out += std::to_string((long long)(int)v); break;
		case 'u': out += std::to_string(v); break;
		case 'x': out += fmt::format("{:x}", v); break;
		case 's': out += v ? (const char *)v : "(null)"; break;
		case '%': out += '%'; a--; break;
		default: out += '?'; break;
		}
		if (!*c)
			break;
	}
	return out;
}

// Arena pages: ordinary memory, kept for the process (the scheduler's slab
// is allocated again at every schedule's aqmap_init()).
std::deque<std::vector<char>> g_arena_pages;

}  // namespace

extern "C" {

s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64, bool *is_idle)
{
	auto &k = kernel();
	k.step("scx_bpf_select_cpu_dfl");
	aqops::Task *t = k.task_of(p);
	auto ok = [&](int c) { return c >= 0 && c < k.nr_cpus() && (t->mask.bits[0] & (1ul << c)); };
	*is_idle = false;
	if (ok(prev_cpu) && k.cpu_idle(prev_cpu)) {
		*is_idle = true;
		return prev_cpu;
	}
	for (int c = 0; c < k.nr_cpus(); c++)
		if (ok(c) && k.cpu_idle(c)) {
			*is_idle = true;
			return c;
		}
	return ok(prev_cpu) ? prev_cpu : __builtin_ctzl(t->mask.bits[0]);
}

void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags)
{
	auto &k = kernel();
	k.step("scx_bpf_dsq_insert");
	k.dsq_insert(k.task_of(p), dsq_id, slice, enq_flags);
}

bool scx_bpf_dsq_move_to_local(u64 dsq_id)
{
	auto &k = kernel();
	k.step("scx_bpf_dsq_move_to_local");
	return k.move_to_local(dsq_id);
}

void scx_bpf_dsq_reenq(u64, u64)
{
	// Not modelled: the kernel re-enqueues a user DSQ asynchronously, from
	// another CPU's balance (reenq_user()), and only scx_aqmap's
	// --reenq-shared asks for it, which no script sets (ops/README.md, "Not
	// yet done").
	kernel().helper_step("scx_bpf_dsq_reenq");
}

void scx_bpf_kick_cpu(s32 cpu, u64)
{
	// Kicks end idleness sooner; the script and the drain schedule every
	// CPU anyway, so a kick changes nothing a check looks at.
	kernel().helper_step("scx_bpf_kick_cpu");
	(void)cpu;
}

s32 scx_bpf_task_cpu(const struct task_struct *p)
{
	kernel().helper_step("scx_bpf_task_cpu");
	return s32(p->thread_info.cpu);
}

s32 scx_bpf_pick_idle_cpu(const struct cpumask *cpus_allowed, u64)
{
	auto &k = kernel();
	k.step("scx_bpf_pick_idle_cpu");
	for (int c = 0; c < k.nr_cpus(); c++)
		if ((cpus_allowed->bits[0] & (1ul << c)) && k.cpu_idle(c))
			return c;
	return -16;	/* -EBUSY */
}

u32 scx_bpf_dispatch_nr_slots(void)
{
	auto &k = kernel();
	k.helper_step("scx_bpf_dispatch_nr_slots");
	return 32 - u32(k.this_cpu().buf.size());
}

s32 scx_bpf_create_dsq(u64 dsq_id, s32)
{
	kernel().create_dsq(dsq_id);
	return 0;
}

s32 scx_bpf_dsq_nr_queued(u64 dsq_id)
{
	auto &k = kernel();
	k.step("scx_bpf_dsq_nr_queued");
	if (dsq_id == SCX_DSQ_LOCAL)
		return s32(k.this_cpu().local.list.size());
	aqops::Dsq *d = k.user_dsq(dsq_id);
	return d ? s32(d->list.size()) : -2;
}

struct task_struct *scx_bpf_cpu_curr(s32 cpu)
{
	auto &k = kernel();
	k.step("scx_bpf_cpu_curr");
	if (cpu < 0 || cpu >= k.nr_cpus() || !k.cpu(cpu).curr)
		return nullptr;
	return &k.cpu(cpu).curr->ts;
}

void scx_bpf_task_set_slice(struct task_struct *p, u64 slice)
{
	auto &k = kernel();
	k.step("scx_bpf_task_set_slice");
	k.task_of(p)->slice = slice;
}

void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data_len)
{
	kernel().scx_error(format_bstr(fmt, data, data_len / 8));
}

void scx_bpf_dump_bstr(char *, unsigned long long *, u32) {}

bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask)
{
	kernel().helper_step("bpf_cpumask_test_cpu");
	return cpu < 64 && (cpumask->bits[0] & (1ul << cpu));
}

void *aqsim_task_storage_get(void *, struct task_struct *p, unsigned long size, u64 flags)
{
	auto &k = kernel();
	k.helper_step("bpf_task_storage_get");
	aqops::Task *t = k.task_of(p);
	if (size > sizeof(t->stor))
		k.kernel_bug("task storage value larger than the simulator keeps");
	if (!t->stor_live) {
		if (!(flags & BPF_LOCAL_STORAGE_GET_F_CREATE))
			return nullptr;
		std::memset(t->stor, 0, sizeof(t->stor));
		t->stor_live = true;
	}
	return t->stor;
}

struct task_struct *bpf_task_from_pid(s32 pid)
{
	auto &k = kernel();
	k.step("bpf_task_from_pid");
	aqops::Task *t = k.task_by_pid(pid);
	return t ? &t->ts : nullptr;
}

void bpf_task_release(struct task_struct *) {}

u64 bpf_ktime_get_ns(void)
{
	auto &k = kernel();
	k.helper_step("bpf_ktime_get_ns");
	return k.now();
}

u64 bpf_jiffies64(void) { return kernel().now() / 4000000; }

void *bpf_arena_alloc_pages(void *, void *, u32 page_cnt, int, u64)
{
	static std::vector<char> pages;
	size_t bytes = size_t(page_cnt) * 4096;
	if (pages.size() < bytes)
		pages.resize(bytes);
	return pages.data();
}

long bpf_probe_read_kernel_str(void *dst, u32 size, const void *src)
{
	if (!size)
		return 0;
	snprintf((char *)dst, size, "%s", src ? (const char *)src : "");
	return long(strlen((char *)dst) + 1);
}

void bpf_rcu_read_lock(void) {}
void bpf_rcu_read_unlock(void) {}

int bpf_res_spin_lock(struct bpf_res_spin_lock *lock) { return kernel().res_lock(lock); }
void bpf_res_spin_unlock(struct bpf_res_spin_lock *lock) { kernel().res_unlock(lock); }
int aqsim_res_spin_lock_irqsave(struct bpf_res_spin_lock *lock) { return kernel().res_lock(lock); }
void aqsim_res_spin_unlock_irqrestore(struct bpf_res_spin_lock *lock) { kernel().res_unlock(lock); }

struct task_struct *aqsim_task_iter(int i)
{
	aqops::Task *t = kernel().task_at(i);
	return t ? &t->ts : nullptr;
}

}  // extern "C"
