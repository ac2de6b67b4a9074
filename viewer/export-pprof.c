/* export-pprof.c - pprof's profile.proto, encoded by hand and gzip'd: CPU (samples) and heap (allocation sites) profiles. */
#include "config.h"

#include "viewer/hash.h"
#include "viewer/viewer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/*
 * profile.proto field numbers used here (github.com/google/pprof, proto/profile.proto):
 *   Profile: 1 sample_type, 2 sample, 3 mapping, 4 location, 5 function,
 *            6 string_table, 9 time_nanos, 10 duration_nanos, 11 period_type,
 *            12 period, 14 default_sample_type
 *   ValueType: 1 type, 2 unit (string indices)
 *   Sample: 1 location_id (packed, leaf first), 2 value (packed), 3 label
 *   Label: 1 key, 2 str, 3 num
 *   Mapping: 1 id, 5 filename, 7-9 has_functions/filenames/line_numbers
 *   Location: 1 id, 2 mapping_id, 4 line;  Line: 1 function_id, 2 line
 *   Function: 1 id, 2 name, 3 system_name, 4 filename
 * String 0 is "" and every id is non-zero, as the format requires.
 */

struct pb {
	uint8_t *b;
	size_t n, cap;
	int failed;
};

static void pb_bytes(struct pb *p, const void *data, size_t n)
{
	if (p->failed)
		return;
	if (p->n + n > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		uint8_t *q;

		while (cap < p->n + n)
			cap *= 2;
		q = realloc(p->b, cap);
		if (!q) {
			p->failed = 1;
			return;
		}
		p->b = q;
		p->cap = cap;
	}
	memcpy(p->b + p->n, data, n);
	p->n += n;
}

static void pb_varint(struct pb *p, uint64_t v)
{
	uint8_t buf[10];
	size_t n = 0;

	do {
		buf[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			buf[n] |= 0x80;
		n++;
	} while (v);
	pb_bytes(p, buf, n);
}

static void pb_tag(struct pb *p, uint32_t field, uint32_t wire)
{
	pb_varint(p, (uint64_t)field << 3 | wire);
}

/* A varint field; zero is the default and is left out. */
static void pb_uint(struct pb *p, uint32_t field, uint64_t v)
{
	if (!v)
		return;
	pb_tag(p, field, 0);
	pb_varint(p, v);
}

static void pb_int(struct pb *p, uint32_t field, int64_t v)
{
	pb_uint(p, field, (uint64_t)v);	/* int64: two's complement varint */
}

static void pb_len(struct pb *p, uint32_t field, const void *data, size_t n)
{
	pb_tag(p, field, 2);
	pb_varint(p, n);
	pb_bytes(p, data, n);
}

/* Appends sub as a length-delimited field and empties it for reuse. */
static void pb_msg(struct pb *p, uint32_t field, struct pb *sub)
{
	p->failed |= sub->failed;
	pb_len(p, field, sub->b, sub->n);
	sub->n = 0;
}

/* Open addressing from a key to an id: strings by content, functions by
 * (name, file) string ids. */
struct map {
	const char **skeys;	/* string keys, or NULL when keyed by ukeys */
	uint64_t *ukeys;	/* key + 1; 0 = empty */
	uint32_t *vals;
	uint32_t nslots, used;
};

struct pprof {
	const struct store_profile *p;
	struct pb out, msg, sub, packed;
	struct map strs, fns_map;
	uint32_t nstrings;	/* in the string table so far */
	struct pb strtab;	/* field 6 entries, appended at the end */
	uint32_t *loc_of_frame;	/* frame id -> location id */
	uint32_t nlocs, nfns;
	struct pb locs, fns;
	int failed;
};

static int map_grow(struct map *m, int strings)
{
	uint32_t n = m->nslots ? m->nslots * 2 : 1024;
	const char **sk = strings ? calloc(n, sizeof(*sk)) : NULL;
	uint64_t *uk = strings ? NULL : calloc(n, sizeof(*uk));
	uint32_t *v = calloc(n, sizeof(*v));

	if ((strings ? !sk : !uk) || !v) {
		free(sk);
		free(uk);
		free(v);
		return -1;
	}
	for (uint32_t i = 0; i < m->nslots; i++) {
		uint32_t h;

		if (strings ? !m->skeys[i] : !m->ukeys[i])
			continue;
		h = (uint32_t)(strings ? view_hash_str(m->skeys[i]) : view_hash_u64(m->ukeys[i])) & (n - 1);
		while (strings ? sk[h] != NULL : uk[h] != 0)
			h = (h + 1) & (n - 1);
		if (strings)
			sk[h] = m->skeys[i];
		else
			uk[h] = m->ukeys[i];
		v[h] = m->vals[i];
	}
	free(m->skeys);
	free(m->ukeys);
	free(m->vals);
	m->skeys = sk;
	m->ukeys = uk;
	m->vals = v;
	m->nslots = n;
	return 0;
}

/* The slot of a key: its value is there, or the slot is empty. */
static uint32_t map_slot(struct map *m, const char *skey, uint64_t ukey)
{
	uint32_t h = (uint32_t)(skey ? view_hash_str(skey) : view_hash_u64(ukey)) & (m->nslots - 1);

	while (skey ? m->skeys[h] && strcmp(m->skeys[h], skey) : m->ukeys[h] && m->ukeys[h] != ukey)
		h = (h + 1) & (m->nslots - 1);
	return h;
}

static void map_free(struct map *m)
{
	free(m->skeys);
	free(m->ukeys);
	free(m->vals);
}

/* The string table index of s (which must outlive the export). */
static uint32_t str_id(struct pprof *x, const char *s)
{
	uint32_t h;

	if (!s || !*s)
		return 0;
	if ((x->strs.used + 1) * 2 > x->strs.nslots && map_grow(&x->strs, 1) < 0) {
		x->failed = 1;
		return 0;
	}
	h = map_slot(&x->strs, s, 0);
	if (!x->strs.skeys[h]) {
		x->strs.skeys[h] = s;
		x->strs.vals[h] = x->nstrings++;
		x->strs.used++;
		pb_len(&x->strtab, 6, s, strlen(s));
	}
	return x->strs.vals[h];
}

/* Functions are per (name, file): two frames of one function on different
 * lines share it, as pprof expects. */
static uint32_t function_id(struct pprof *x, uint32_t frame)
{
	const struct store_frame *fr = store_frame_get(x->p, frame);
	uint64_t key = ((uint64_t)fr->function << 32 | fr->file) + 1;
	uint32_t h, name;

	if ((x->fns_map.used + 1) * 2 > x->fns_map.nslots && map_grow(&x->fns_map, 0) < 0) {
		x->failed = 1;
		return 0;
	}
	h = map_slot(&x->fns_map, NULL, key);
	if (x->fns_map.ukeys[h])
		return x->fns_map.vals[h];
	x->fns_map.ukeys[h] = key;
	x->fns_map.vals[h] = ++x->nfns;
	x->fns_map.used++;
	name = str_id(x, fr->function ? store_string(x->p, fr->function) : "[unknown]");
	pb_uint(&x->sub, 1, x->nfns);
	pb_uint(&x->sub, 2, name);
	pb_uint(&x->sub, 3, name);
	pb_uint(&x->sub, 4, str_id(x, store_string(x->p, fr->file)));
	pb_msg(&x->fns, 5, &x->sub);
	return x->nfns;
}

static uint32_t location_id(struct pprof *x, uint32_t frame)
{
	struct pb line = { 0 };

	if (frame >= store_nframes(x->p))
		frame = 0;
	if (x->loc_of_frame[frame])
		return x->loc_of_frame[frame];
	x->loc_of_frame[frame] = ++x->nlocs;
	pb_uint(&line, 1, function_id(x, frame));
	pb_int(&line, 2, store_frame_get(x->p, frame)->line);
	pb_uint(&x->sub, 1, x->nlocs);
	pb_uint(&x->sub, 2, 1);
	pb_msg(&x->sub, 4, &line);
	free(line.b);
	pb_msg(&x->locs, 4, &x->sub);
	return x->nlocs;
}

static void value_type(struct pprof *x, uint32_t field, const char *type, const char *unit)
{
	struct pb vt = { 0 };

	pb_uint(&vt, 1, str_id(x, type));
	pb_uint(&vt, 2, str_id(x, unit));
	pb_msg(&x->out, field, &vt);
	free(vt.b);
}

/* One Sample: the call site's locations leaf first, then values. */
static void put_sample(struct pprof *x, uint32_t callsite, const int64_t *values, int nvalues,
		       const struct store_thread *th)
{
	uint32_t c = callsite, guard = 0;

	x->packed.n = 0;
	while (c && c < store_ncallsites(x->p) && guard++ < 100000) {
		const struct store_callsite *cs = store_callsite_get(x->p, c);

		pb_varint(&x->packed, location_id(x, cs->frame));
		c = cs->parent < c ? cs->parent : 0;
	}
	pb_len(&x->msg, 1, x->packed.b, x->packed.n);
	x->packed.n = 0;
	for (int i = 0; i < nvalues; i++)
		pb_varint(&x->packed, (uint64_t)values[i]);
	pb_len(&x->msg, 2, x->packed.b, x->packed.n);
	if (th) {
		pb_uint(&x->sub, 1, str_id(x, "thread"));
		pb_uint(&x->sub, 2, str_id(x, th->name));
		pb_msg(&x->msg, 3, &x->sub);
		pb_uint(&x->sub, 1, str_id(x, "tid"));
		pb_int(&x->sub, 3, th->tid);
		pb_msg(&x->msg, 3, &x->sub);
	}
	pb_msg(&x->out, 2, &x->msg);
}

struct cpu_ctx {
	struct pprof *x;
	int with_time;
};

static void cpu_sample(void *ctx, uint32_t session, uint32_t thread, uint32_t callsite,
		       uint32_t state, uint64_t weight)
{
	struct cpu_ctx *c = ctx;
	const struct store_session *s = store_session_get((struct store_profile *)c->x->p, session);
	int64_t v[2] = { (int64_t)weight, 0 };

	if (c->with_time)
		v[1] = s->rate_hz > 0 ? (int64_t)((double)weight * 1e9 / s->rate_hz) : 0;
	put_sample(c->x, callsite, v, c->with_time ? 2 : 1, store_thread_get(c->x->p, thread));
}

static int gzip_out(FILE *f, const uint8_t *data, size_t n)
{
	z_stream z = { 0 };
	uint8_t buf[65536];
	int rc;

	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (uint8_t *)data;
	z.avail_in = (uInt)n;	/* profiles stay far below 4 GiB */
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		rc = deflate(&z, Z_FINISH);
		if (rc == Z_STREAM_ERROR)
			break;
		if (fwrite(buf, 1, sizeof(buf) - z.avail_out, f) != sizeof(buf) - z.avail_out) {
			rc = Z_ERRNO;
			break;
		}
	} while (rc != Z_STREAM_END);
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

int view_export_pprof(FILE *f, const struct store_profile *p, const struct view_export_opts *o,
		      char *err, size_t errlen)
{
	enum view_weight w = o ? o->weight : VIEW_WEIGHT_SAMPLES;
	struct pprof x = { .p = p };
	const struct store_session *s1 = store_nsessions(p) > 1 ?
		store_session_get((struct store_profile *)p, 1) : NULL;
	double rate = s1 ? s1->rate_hz : 0;
	struct pb mapping = { 0 };
	char *program = NULL;
	int rc = -1;

	x.loc_of_frame = calloc(store_nframes(p) + 1, sizeof(*x.loc_of_frame));
	if (!x.loc_of_frame)
		goto out;
	pb_len(&x.strtab, 6, "", 0);
	x.nstrings = 1;
	if (w == VIEW_WEIGHT_SAMPLES) {
		struct cpu_ctx c = { &x, rate > 0 };

		value_type(&x, 1, "samples", "count");
		if (rate > 0)
			value_type(&x, 1, "cpu", "nanoseconds");
		view_visit(p, o ? o->filter : NULL, cpu_sample, &c);
		if (rate > 0) {
			value_type(&x, 11, "cpu", "nanoseconds");
			pb_int(&x.out, 12, (int64_t)(1e9 / rate));
		}
	} else {
		value_type(&x, 1, "alloc_objects", "count");
		value_type(&x, 1, "alloc_space", "bytes");
		value_type(&x, 1, "inuse_objects", "count");
		value_type(&x, 1, "inuse_space", "bytes");
		for (uint32_t i = 0; i < store_nallocs(p); i++) {
			const struct store_alloc *a = store_alloc_get(p, i);
			int64_t v[4] = { (int64_t)a->allocs, (int64_t)a->bytes,
					 (int64_t)a->live_count, (int64_t)a->live_bytes };

			if (a->allocs || a->live_bytes)
				put_sample(&x, a->callsite, v, 4, NULL);
		}
		value_type(&x, 11, "space", "bytes");
		pb_int(&x.out, 14, str_id(&x, w == VIEW_WEIGHT_LIVE_BYTES ? "inuse_space" :
					  "alloc_space"));
	}
	pb_uint(&mapping, 1, 1);
	/* pprof titles a profile with its main mapping's file name: the
	 * program, the command line's first word. */
	if (s1 && s1->command && *s1->command) {
		program = strndup(s1->command, strcspn(s1->command, " "));
		if (!program)
			goto out;
	}
	pb_uint(&mapping, 5, str_id(&x, program ? program : "sonda"));
	pb_uint(&mapping, 7, 1);
	pb_uint(&mapping, 8, 1);
	pb_uint(&mapping, 9, 1);
	pb_msg(&x.out, 3, &mapping);
	if (s1) {
		pb_int(&x.out, 9, s1->start_ns);
		if (s1->end_ns > s1->start_ns)
			pb_int(&x.out, 10, s1->end_ns - s1->start_ns);
	}
	pb_bytes(&x.out, x.locs.b, x.locs.n);
	pb_bytes(&x.out, x.fns.b, x.fns.n);
	pb_bytes(&x.out, x.strtab.b, x.strtab.n);
	if (x.failed || x.out.failed || x.msg.failed || x.sub.failed || x.packed.failed || x.locs.failed ||
	    x.fns.failed || x.strtab.failed)
		goto out;
	if (gzip_out(f, x.out.b, x.out.n) < 0 || fflush(f) != 0 || ferror(f)) {
		snprintf(err, errlen, "write error: %s", strerror(errno));
		rc = -2;
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		snprintf(err, errlen, "out of memory");
	free(mapping.b);
	free(program);
	free(x.out.b);
	free(x.msg.b);
	free(x.sub.b);
	free(x.packed.b);
	free(x.locs.b);
	free(x.fns.b);
	free(x.strtab.b);
	map_free(&x.strs);
	map_free(&x.fns_map);
	free(x.loc_of_frame);
	return rc < 0 ? -1 : 0;
}
