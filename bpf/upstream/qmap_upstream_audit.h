/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What aqcheck's audit of mainline's scx_qmap (scx_qmap_audited.bpf.c)
 * writes besides struct aq_audit / aq_wait_audit: the facts its rules need
 * that mainline keeps in its own types, which userspace does not see (its
 * struct task_ctx is private to scx_qmap.bpf.c).
 */
#ifndef __QMAP_UPSTREAM_AUDIT_H
#define __QMAP_UPSTREAM_AUDIT_H

struct aqu_facts {
	u32 fifo_len[AQ_NR_FIFOS];	/* entries walked per FIFO, last audit */
	u32 pad;
	u64 highpri_linked;		/* entries with taskc->highpri set, last audit */
	u64 nr_highpri_queued;		/* qa.nr_highpri_queued read after the walk */
	u64 slab_free;			/* contexts on the free list (aqu_count_free) */
	u64 slab_walks;			/* aqu_count_free runs */
	u64 max_tasks;			/* the slab's size (rodata, as loaded) */
};

#endif /* __QMAP_UPSTREAM_AUDIT_H */
