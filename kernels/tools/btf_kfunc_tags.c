// SPDX-License-Identifier: GPL-2.0
/*
 * btf_kfunc_tags BTF-FILE KFUNC-LIST: adds the BTF decl tag "bpf_kfunc" to
 * every function of a raw BTF file whose name KFUNC-LIST holds (one per
 * line), in place.  Part of kernels/tools/pahole-kfunc-tags.sh.
 *
 * Why: 7.2's scripts/gen-btf.sh runs pahole, then resolve_btfids, which finds
 * the kfuncs by that tag and rewrites the BTF of each KF_IMPLICIT_ARGS kfunc
 * (most of sched_ext's: scx_bpf_select_cpu_dfl, ...) so that BPF programs see
 * it without its hidden `aux` argument.  pahole writes the tag from 1.26 on
 * (--btf_features=decl_tag_kfuncs); bookworm's is 1.24, and without the tag
 * no scheduler loads: libbpf finds no kfunc of the prototype it was built
 * against ("kfunc 'scx_bpf_select_cpu_dfl' is referenced but wasn't
 * resolved").  docs/kernel-ci.md "Building a kernel" has the whole story.
 */
#include <bpf/btf.h>
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The kfunc names, sorted for bsearch. */
static char **read_names(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	char **names = NULL, line[256];
	size_t cap = 0;

	*n = 0;
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 1024;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				exit(1);
		}
		names[(*n)++] = strdup(line);
	}
	fclose(f);
	qsort(names, *n, sizeof(*names), by_name);
	return names;
}

int main(int argc, char **argv)
{
	size_t nr_names, tagged = 0;
	const void *raw;
	__u32 size, id, nr_types;
	char **names;
	struct btf *btf;
	char tmp[4096];
	FILE *out;

	if (argc != 3) {
		fprintf(stderr, "usage: btf_kfunc_tags BTF-FILE KFUNC-LIST\n");
		return 2;
	}
	names = read_names(argv[2], &nr_names);
	if (!names || !nr_names) {
		fprintf(stderr, "btf_kfunc_tags: no kfunc names in %s\n", argv[2]);
		return 1;
	}
	btf = btf__parse_raw(argv[1]);
	if (!btf) {
		fprintf(stderr, "btf_kfunc_tags: cannot parse %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	nr_types = btf__type_cnt(btf);
	for (id = 1; id < nr_types; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const char *name;

		if (!btf_is_func(t))
			continue;
		name = btf__name_by_offset(btf, t->name_off);
		if (!bsearch(&name, names, nr_names, sizeof(*names), by_name))
			continue;
		if (btf__add_decl_tag(btf, "bpf_kfunc", id, -1) < 0) {
			fprintf(stderr, "btf_kfunc_tags: tagging %s failed\n", name);
			return 1;
		}
		tagged++;
	}
	raw = btf__raw_data(btf, &size);
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	out = fopen(tmp, "w");
	if (!raw || !out || fwrite(raw, 1, size, out) != size || fclose(out) || rename(tmp, argv[1])) {
		fprintf(stderr, "btf_kfunc_tags: cannot write %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fprintf(stderr, "btf_kfunc_tags: tagged %zu of %zu kfuncs in %s\n", tagged, nr_names, argv[1]);
	return 0;
}
