/*
 * See qmap_upstream_load.h.  Built against the kernel source's own libbpf,
 * renamed (kernel-libbpf.sh: Debian's 1.4.6 cannot load an object of more
 * than 16 maps reliably, and 7.3's scx_qmap has 17).  Mirrors
 * tools/sched_ext/scx_qmap.c's
 * SCX_OPS_OPEN / SCX_OPS_LOAD / SCX_OPS_ATTACH (scx/compat.h) step for step,
 * returning errors instead of SCX_BUG()'s exit(), so the harness can report
 * and detach.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <scx/common.h>
#include <scx/compat.h>

#include "scx_qmap.h"
#include "aq_audit_layout.h"
#include "upstream/qmap_upstream_audit.h"
/*
 * Compiled once per build of the object: AQU_SKEL names its skeleton,
 * AQU_SKEL_HEADER its header, AQU_API_GETTER the table this file exports.
 */
#ifndef AQU_SKEL
#define AQU_SKEL scx_qmap_audited
#define AQU_SKEL_HEADER "scx_qmap_audited.skel.h"
#define AQU_API_GETTER aqu_api_mainline
#endif
#include AQU_SKEL_HEADER

#include "sched/qmap_upstream_load.h"

#define AQU_CAT_(a, b) a##b
#define AQU_CAT(a, b) AQU_CAT_(a, b)
#define SKEL(fn) AQU_CAT(AQU_SKEL, fn)

struct aqu_sched {
	struct AQU_SKEL *skel;
	struct bpf_link *link;
};

/*
 * The open its own scx_qmap.c does: 7.3's opens struct sched_ext_ops_cid
 * with SCX_OPS_CID_OPEN, 7.2's has only SCX_OPS_OPEN (which also drops the
 * optional ops the kernel lacks).  Both end in SCX_BUG(), an exit(), where
 * the kernel has no ops.dump() or the object does not open: checked first,
 * so those cases are errors returned here.
 */
#ifdef SCX_OPS_CID_OPEN
#define AQU_OPS_STRUCT "sched_ext_ops_cid"
#define AQU_OPS_OPEN_(skel) SCX_OPS_CID_OPEN(qmap_ops, skel)
#else
#define AQU_OPS_STRUCT "sched_ext_ops"
#define AQU_OPS_OPEN_(skel) SCX_OPS_OPEN(qmap_ops, skel)
#endif
#define AQU_OPS_OPEN__(skel) AQU_OPS_OPEN_(skel)	/* expands AQU_SKEL first */
#define AQU_OPS_OPEN() AQU_OPS_OPEN__(AQU_SKEL)

static int aqu_open_load(const struct aqu_options *o, struct aqu_sched **out, char *err, size_t errlen)
{
	struct bpf_program *prog;
	struct aqu_sched *s;
	int ret;

	*out = NULL;
	if (!__COMPAT_struct_has_field(AQU_OPS_STRUCT, "dump")) {
		snprintf(err, errlen, AQU_OPS_STRUCT ".dump() missing: the kernel is too old for mainline's scx_qmap");
		return -EOPNOTSUPP;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->skel = SKEL(__open)();
	if (!s->skel) {
		ret = -errno;
		snprintf(err, errlen, "opening mainline's scx_qmap failed: %s", strerror(errno));
		free(s);
		return ret;
	}
	SKEL(__destroy)(s->skel);
	s->skel = AQU_OPS_OPEN();

	s->skel->rodata->slice_ns = o->slice_ns ? o->slice_ns :
		__COMPAT_ENUM_OR_ZERO("scx_public_consts", "SCX_SLICE_DFL");
	s->skel->rodata->max_tasks = o->max_tasks ? o->max_tasks : 16384;
	s->skel->rodata->dsp_batch = o->dsp_batch;
	s->skel->rodata->highpri_boosting = o->highpri_boosting;
	s->skel->rodata->stall_user_nth = o->stall_user_nth;
	s->skel->rodata->stall_kernel_nth = o->stall_kernel_nth;
	s->skel->rodata->aqu_stuck_after_ms = o->stuck_after_ms;

	UEI_SET_SIZE(s->skel, qmap_ops, uei);
	ret = SKEL(__load)(s->skel);
	if (ret) {
		snprintf(err, errlen, "loading mainline's scx_qmap failed: %s (see libbpf output above)", strerror(-ret));
		SKEL(__destroy)(s->skel);
		free(s);
		return ret;
	}
	/* As SCX_OPS_LOAD: the other programs (aqcheck's audits) belong to qmap_ops. */
	bpf_object__for_each_program(prog, s->skel->obj) {
		if (bpf_program__type(prog) != BPF_PROG_TYPE_STRUCT_OPS)
			__scx_ops_assoc_prog(prog, s->skel->maps.qmap_ops, "qmap_ops");
	}
	*out = s;
	return 0;
}

static int aqu_attach(struct aqu_sched *s, char *err, size_t errlen)
{
	s->link = bpf_map__attach_struct_ops(s->skel->maps.qmap_ops);
	if (!s->link) {
		int ret = -errno;

		snprintf(err, errlen, "attaching mainline's scx_qmap failed: %s", strerror(errno));
		return ret;
	}
	return 0;
}

static void aqu_detach(struct aqu_sched *s)
{
	if (s && s->link) {
		bpf_link__destroy(s->link);
		s->link = NULL;
	}
}

static void aqu_destroy(struct aqu_sched *s)
{
	if (!s)
		return;
	aqu_detach(s);
	SKEL(__destroy)(s->skel);
	free(s);
}

static int aqu_run(struct aqu_sched *s, enum aqu_prog which)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	struct bpf_program *prog = which == AQU_AUDIT ? s->skel->progs.aqu_audit :
				   which == AQU_AUDIT_WAITS ? s->skel->progs.aqu_audit_waits :
				   s->skel->progs.aqu_count_free;

	return bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) ? -errno : 0;
}

static const struct aq_audit *aqu_audit_result(const struct aqu_sched *s) { return &s->skel->bss->aqu_au; }
static const struct aq_wait_audit *aqu_wait_result(const struct aqu_sched *s) { return &s->skel->bss->aqu_waits; }
static const struct aqu_facts *aqu_facts_result(const struct aqu_sched *s) { return &s->skel->bss->aqu_facts; }

static void aqu_read_counters(const struct aqu_sched *s, struct aqu_counters *c)
{
	const struct qmap_arena *qa = &s->skel->arena->qa;

#define AQU_READ(f) c->f = __atomic_load_n(&qa->f, __ATOMIC_RELAXED)
	AQU_READ(nr_enqueued);
	AQU_READ(nr_dispatched);
	AQU_READ(nr_reenqueued);
	AQU_READ(nr_dequeued);
	AQU_READ(nr_ddsp_from_enq);
	AQU_READ(nr_core_sched_execed);
	AQU_READ(nr_expedited_local);
	AQU_READ(nr_expedited_remote);
	AQU_READ(nr_expedited_lost);
	AQU_READ(nr_highpri_queued);
#undef AQU_READ
}

static bool aqu_exit_info(const struct aqu_sched *s, int64_t *kind, int64_t *code, const char **reason, const char **msg)
{
	const struct user_exit_info *uei = &s->skel->data->uei;
	int k = __atomic_load_n(&uei->kind, __ATOMIC_ACQUIRE);

	if (!k)
		return false;
	*kind = k;
	*code = uei->exit_code;
	*reason = uei->reason;
	*msg = uei->msg;
	return true;
}

const struct aqu_api *AQU_API_GETTER(void)
{
	static const struct aqu_api api = {
		.open_load = aqu_open_load,
		.attach = aqu_attach,
		.detach = aqu_detach,
		.destroy = aqu_destroy,
		.run = aqu_run,
		.audit = aqu_audit_result,
		.waits = aqu_wait_result,
		.facts = aqu_facts_result,
		.counters = aqu_read_counters,
		.exit_info = aqu_exit_info,
	};

	return &api;
}
