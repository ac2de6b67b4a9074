/* cfi.c - the unwind rule of one address from .eh_frame (or .debug_frame) when it is one of the common x86-64 forms. */
#include "config.h"

#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/native/native.h"

/* DWARF register numbers (the same as libunwind's for x86-64). */
enum { DW_BP = 6, DW_SP = 7, DW_RA = 16 };

enum { RULE_SAME, RULE_UNDEF, RULE_OFFSET, RULE_OTHER };

struct reg_rule {
	uint8_t how;
	int64_t off;
};

/* What the CFA program says at one address, for the registers the fast
 * path follows; anything else in the program only matters if it touches them. */
struct cfa_state {
	int reg;		/* -1: an expression */
	int64_t off;
	struct reg_rule bp, ra;
};

struct cie {
	uint64_t code_align;
	int64_t data_align;
	uint64_t ra_reg;
	uint8_t fde_enc;
	int signal, has_z;
	const uint8_t *insns, *end;
};

/* A bounded reader over the object's bytes; vaddr is the position's
 * virtual address, for pc-relative pointers. */
struct rd {
	const uint8_t *p, *end;
	uint64_t vaddr;
	int bad;
};

static uint64_t rd_uleb(struct rd *r)
{
	uint64_t v = 0;
	int shift = 0;

	while (r->p < r->end) {
		uint8_t b = *r->p++;

		r->vaddr++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

static int64_t rd_sleb(struct rd *r)
{
	int64_t v = 0;
	int shift = 0;
	uint8_t b = 0;

	while (r->p < r->end) {
		b = *r->p++;
		r->vaddr++;
		if (shift < 64)
			v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
		shift += 7;
		if (!(b & 0x80)) {
			if (shift < 64 && (b & 0x40))
				v |= -((int64_t)1 << shift);
			return v;
		}
	}
	r->bad = 1;
	return 0;
}

static uint64_t rd_fixed(struct rd *r, size_t n)
{
	uint64_t v = 0;

	if ((size_t)(r->end - r->p) < n) {
		r->bad = 1;
		r->p = r->end;
		return 0;
	}
	memcpy(&v, r->p, n);	/* little-endian */
	r->p += n;
	r->vaddr += n;
	return v;
}

static void rd_skip(struct rd *r, uint64_t n)
{
	if ((uint64_t)(r->end - r->p) < n) {
		r->bad = 1;
		r->p = r->end;
		return;
	}
	r->p += n;
	r->vaddr += n;
}

/* A DW_EH_PE-encoded pointer; indirect ones are refused (bad). */
static uint64_t rd_ptr(struct rd *r, uint8_t enc)
{
	uint64_t at = r->vaddr, v;

	if (enc == 0xff)
		return 0;
	switch (enc & 0x0f) {
	case 0x00: v = rd_fixed(r, 8); break;
	case 0x01: v = rd_uleb(r); break;
	case 0x02: v = rd_fixed(r, 2); break;
	case 0x03: v = rd_fixed(r, 4); break;
	case 0x04: v = rd_fixed(r, 8); break;
	case 0x09: v = (uint64_t)rd_sleb(r); break;
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_fixed(r, 2); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_fixed(r, 4); break;
	case 0x0c: v = rd_fixed(r, 8); break;
	default: r->bad = 1; return 0;
	}
	if ((enc & 0x70) == 0x10)
		v += at;
	else if ((enc & 0x70) != 0)
		r->bad = 1;
	if (enc & 0x80)
		r->bad = 1;
	return v;
}

/* An entry's length field; its contents then run from r->p to *end. */
static int rd_length(struct rd *r, const uint8_t **end, int *is64)
{
	uint64_t len = rd_fixed(r, 4);

	*is64 = 0;
	if (len == 0xffffffffu) {
		len = rd_fixed(r, 8);
		*is64 = 1;
	}
	if (r->bad || len == 0 || len > (uint64_t)(r->end - r->p))
		return -1;
	*end = r->p + len;
	return 0;
}

/* eh: .eh_frame (CIE id 0, version 1, augmentation) or .debug_frame. */
static int parse_cie(struct rd r, int eh, struct cie *c)
{
	const uint8_t *end;
	const char *aug;
	uint64_t id;
	int is64, version;

	memset(c, 0, sizeof(*c));
	if (rd_length(&r, &end, &is64) < 0)
		return -1;
	r.end = end;
	id = rd_fixed(&r, is64 ? 8 : 4);
	if (eh ? id != 0 : id != (is64 ? ~0ull : 0xffffffffu))
		return -1;
	version = (int)rd_fixed(&r, 1);
	if (version != 1 && version != 3 && version != 4)
		return -1;
	aug = (const char *)r.p;
	while (r.p < r.end && *r.p)
		rd_skip(&r, 1);
	rd_skip(&r, 1);
	if (version == 4) {
		if (rd_fixed(&r, 1) != 8 || rd_fixed(&r, 1) != 0)
			return -1;
	}
	c->code_align = rd_uleb(&r);
	c->data_align = rd_sleb(&r);
	c->ra_reg = version == 1 ? rd_fixed(&r, 1) : rd_uleb(&r);
	if (aug[0] == 'z') {
		uint64_t alen = rd_uleb(&r);
		const uint8_t *aend = r.p + alen;

		c->has_z = 1;
		if (alen > (uint64_t)(r.end - r.p))
			return -1;
		for (const char *a = aug + 1; *a && !r.bad; a++) {
			if (*a == 'R')
				c->fde_enc = (uint8_t)rd_fixed(&r, 1);
			else if (*a == 'L')
				rd_fixed(&r, 1);
			else if (*a == 'P')
				rd_ptr(&r, (uint8_t)(rd_fixed(&r, 1) & 0x7f));
			else if (*a == 'S')
				c->signal = 1;
			else
				break;	/* unknown: the length says where the data ends */
		}
		r.vaddr += (uint64_t)(aend - r.p);
		r.p = aend;
	} else if (aug[0]) {
		return -1;
	}
	if (r.bad || c->code_align == 0)
		return -1;
	c->insns = r.p;
	c->end = r.end;
	return 0;
}

static struct reg_rule *tracked(struct cfa_state *s, const struct cie *c, uint64_t reg)
{
	if (reg == c->ra_reg)
		return &s->ra;
	if (reg == DW_BP)
		return &s->bp;
	return NULL;
}

/* Runs CFA instructions up to the row of target; -1 on anything the fast path does not follow. */
static int run_insns(const struct cie *c, struct rd r, uint64_t loc, uint64_t target,
		     struct cfa_state *s, const struct cfa_state *init, uint8_t fde_enc)
{
	struct cfa_state stack[8];
	int depth = 0;

	while (r.p < r.end && !r.bad) {
		uint8_t op = *r.p++;
		uint64_t reg, delta = 0;
		struct reg_rule *t;

		r.vaddr++;
		switch (op & 0xc0) {
		case 0x40:
			delta = (op & 0x3f) * c->code_align;
			goto advance;
		case 0x80:
			t = tracked(s, c, op & 0x3f);
			if (t) {
				t->how = RULE_OFFSET;
				t->off = (int64_t)rd_uleb(&r) * c->data_align;
			} else {
				rd_uleb(&r);
			}
			continue;
		case 0xc0:
			t = tracked(s, c, op & 0x3f);
			if (t)
				*t = *tracked((struct cfa_state *)init, c, op & 0x3f);
			continue;
		}
		switch (op) {
		case 0x00:
			break;
		case 0x01:
			loc = rd_ptr(&r, fde_enc);
			if (loc > target)
				return 0;
			break;
		case 0x02: delta = rd_fixed(&r, 1) * c->code_align; goto advance;
		case 0x03: delta = rd_fixed(&r, 2) * c->code_align; goto advance;
		case 0x04: delta = rd_fixed(&r, 4) * c->code_align; goto advance;
		case 0x05:
		case 0x11:
		case 0x2f:
			reg = rd_uleb(&r);
			t = tracked(s, c, reg);
			{
				int64_t off = op == 0x05 ? (int64_t)rd_uleb(&r) * c->data_align :
					      op == 0x11 ? rd_sleb(&r) * c->data_align :
							   -(int64_t)rd_uleb(&r) * c->data_align;

				if (t) {
					t->how = RULE_OFFSET;
					t->off = off;
				}
			}
			break;
		case 0x06:
			reg = rd_uleb(&r);
			t = tracked(s, c, reg);
			if (t)
				*t = *tracked((struct cfa_state *)init, c, reg);
			break;
		case 0x07:
		case 0x08:
			t = tracked(s, c, rd_uleb(&r));
			if (t) {
				t->how = op == 0x07 ? RULE_UNDEF : RULE_SAME;
				t->off = 0;
			}
			break;
		case 0x09:
		case 0x14:
		case 0x15:
			t = tracked(s, c, rd_uleb(&r));
			if (op == 0x15)
				rd_sleb(&r);
			else
				rd_uleb(&r);
			if (t)
				t->how = RULE_OTHER;
			break;
		case 0x0a:
			if (depth == 8)
				return -1;
			stack[depth++] = *s;
			break;
		case 0x0b:
			if (depth == 0)
				return -1;
			/* The whole row, CFA too: GCC's epilogues rely on it, as do
			 * libunwind and gdb. */
			*s = stack[--depth];
			break;
		case 0x0c:
			s->reg = (int)rd_uleb(&r);
			s->off = (int64_t)rd_uleb(&r);
			break;
		case 0x0d:
			s->reg = (int)rd_uleb(&r);
			break;
		case 0x0e:
			s->off = (int64_t)rd_uleb(&r);
			break;
		case 0x0f:
			rd_skip(&r, rd_uleb(&r));
			s->reg = -1;
			break;
		case 0x10:
		case 0x16:
			t = tracked(s, c, rd_uleb(&r));
			rd_skip(&r, rd_uleb(&r));
			if (t)
				t->how = RULE_OTHER;
			break;
		case 0x12:
			s->reg = (int)rd_uleb(&r);
			s->off = rd_sleb(&r) * c->data_align;
			break;
		case 0x13:
			s->off = rd_sleb(&r) * c->data_align;
			break;
		case 0x2e:
			rd_uleb(&r);
			break;
		default:
			return -1;
		}
		continue;
advance:
		loc += delta;
		if (loc > target)
			return 0;
	}
	return r.bad ? -1 : 0;
}

/* The CIE and address range of the FDE at fde (in a section whose entries
 * start at sec, for .debug_frame's CIE offsets); r is left at the FDE's
 * augmentation data.  A CIE is refused. */
static int read_fde(const uint8_t *fde, const uint8_t *sec_end, uint64_t fde_vaddr,
		    const uint8_t *sec, int eh, struct rd *r, struct cie *c,
		    uint64_t *pc_begin, uint64_t *pc_range)
{
	const uint8_t *end, *cie_at;
	uint64_t cie_ptr;
	struct rd cr;
	int is64;

	*r = (struct rd){fde, sec_end, fde_vaddr, 0};
	if (rd_length(r, &end, &is64) < 0)
		return -1;
	r->end = end;
	cie_at = r->p;
	cie_ptr = rd_fixed(r, is64 ? 8 : 4);
	if (eh) {
		if (cie_ptr == 0 || cie_ptr > (uint64_t)(cie_at - sec))
			return -1;
		cie_at -= cie_ptr;
	} else {
		if (cie_ptr >= (uint64_t)(sec_end - sec))
			return -1;
		cie_at = sec + cie_ptr;
	}
	cr = (struct rd){cie_at, sec_end, fde_vaddr - (uint64_t)(fde - cie_at), 0};
	if (parse_cie(cr, eh, c) < 0)
		return -1;
	*pc_begin = rd_ptr(r, c->fde_enc);
	*pc_range = rd_ptr(r, c->fde_enc & 0x0f);
	return r->bad ? -1 : 0;
}

/* The rule for target from the FDE at fde. */
static int rule_from_fde(const struct prof_elf *o, const uint8_t *fde, const uint8_t *sec_end,
			 uint64_t fde_vaddr, const uint8_t *sec, int eh, uint64_t target,
			 struct prof_cfi_rule *out)
{
	struct rd r;
	uint64_t pc_begin, pc_range;
	struct cie c;
	struct cfa_state init, s;

	if (read_fde(fde, sec_end, fde_vaddr, sec, eh, &r, &c, &pc_begin, &pc_range) < 0 ||
	    target < pc_begin || target - pc_begin >= pc_range)
		return -1;
	if (c.has_z)
		rd_skip(&r, rd_uleb(&r));
	if (r.bad)
		return -1;
	memset(&init, 0, sizeof(init));
	init.reg = -1;
	init.bp.how = RULE_SAME;
	init.ra.how = RULE_SAME;
	if (run_insns(&c, (struct rd){c.insns, c.end, 0, 0}, 0, 0, &init, &init, c.fde_enc) < 0)
		return -1;
	/* The CIE's own program runs to its end: target 0 stops it at the
	 * first advance, which a CIE does not have. */
	s = init;
	if (run_insns(&c, r, pc_begin, target, &s, &init, c.fde_enc) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	if (c.signal || (s.reg != DW_SP && s.reg != DW_BP) || s.ra.how == RULE_OTHER ||
	    s.bp.how == RULE_OTHER || (s.ra.how != RULE_OFFSET && s.ra.how != RULE_UNDEF)) {
		out->kind = PROF_CFI_SLOW;
		return 0;
	}
	out->kind = s.ra.how == RULE_UNDEF ? PROF_CFI_END : PROF_CFI_OK;
	out->cfa_reg = s.reg == DW_SP ? PROF_REG_SP : PROF_REG_BP;
	out->cfa_off = (int32_t)s.off;
	out->ra_off = (int32_t)s.ra.off;
	out->bp_saved = s.bp.how == RULE_OFFSET;
	out->bp_off = (int32_t)s.bp.off;
	return 0;
}

/* Binary search of .eh_frame_hdr's sorted table (pcrel|sdata4 pointer,
 * udata4 count, datarel|sdata4 pairs: what every linker writes). */
static int from_eh_frame(const struct prof_elf *o, uint64_t vaddr, struct prof_cfi_rule *out)
{
	size_t avail, favail;
	const uint8_t *h = o->eh_hdr_vaddr ? prof_elf_at(o, o->eh_hdr_vaddr, &avail) : NULL;
	uint32_t count;
	int32_t ehf, loc, fde;
	size_t lo, hi;
	const uint8_t *f;
	uint64_t fde_vaddr, eh_vaddr;

	if (!h || avail < 12 || h[0] != 1 || h[1] != 0x1b || h[2] != 0x03 || h[3] != 0x3b)
		return -1;
	memcpy(&ehf, h + 4, 4);
	memcpy(&count, h + 8, 4);
	eh_vaddr = o->eh_hdr_vaddr + 4 + (uint64_t)(int64_t)ehf;
	if (count == 0 || (avail - 12) / 8 < count)
		return -1;
	lo = 0;
	hi = count;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		memcpy(&loc, h + 12 + 8 * mid, 4);
		if (o->eh_hdr_vaddr + (uint64_t)(int64_t)loc <= vaddr)
			lo = mid;
		else
			hi = mid;
	}
	memcpy(&loc, h + 12 + 8 * lo, 4);
	memcpy(&fde, h + 12 + 8 * lo + 4, 4);
	if (o->eh_hdr_vaddr + (uint64_t)(int64_t)loc > vaddr)
		return -1;
	fde_vaddr = o->eh_hdr_vaddr + (uint64_t)(int64_t)fde;
	/* The whole .eh_frame section: CIEs precede their FDEs. */
	f = prof_elf_at(o, eh_vaddr, &favail);
	if (!f || fde_vaddr < eh_vaddr || fde_vaddr - eh_vaddr >= favail)
		return -1;
	return rule_from_fde(o, f + (fde_vaddr - eh_vaddr), f + favail, fde_vaddr, f, 1, vaddr,
			     out);
}

struct fde_entry {
	uint64_t start, len;
	uint32_t off;		/* in its section */
	uint32_t eh;		/* .eh_frame, else .debug_frame */
};

static int cmp_fde(const void *a, const void *b)
{
	const struct fde_entry *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static pthread_mutex_t fde_lock = PTHREAD_MUTEX_INITIALIZER;

struct fde_list {
	struct fde_entry *v;
	size_t n, cap;
};

/* Appends the FDEs of one section (CIEs and broken entries skipped). */
static void index_section(struct fde_list *l, const uint8_t *sec, size_t size, uint64_t vaddr,
			  int eh)
{
	for (size_t off = 0; off + 4 <= size;) {
		struct rd r = {sec + off, sec + size, 0, 0}, fr;
		const uint8_t *end;
		uint64_t start, len;
		struct cie c;
		int is64;

		if (rd_length(&r, &end, &is64) < 0 || off > UINT32_MAX)
			break;
		if (read_fde(sec + off, sec + size, vaddr + off, sec, eh, &fr, &c, &start,
			     &len) == 0 && len) {
			if (l->n == l->cap) {
				size_t nc = l->cap ? 2 * l->cap : 64;
				struct fde_entry *nv = realloc(l->v, nc * sizeof(*nv));

				if (!nv)
					return;
				l->v = nv;
				l->cap = nc;
			}
			l->v[l->n++] = (struct fde_entry){start, len, (uint32_t)off, (uint32_t)eh};
		}
		off = (size_t)(end - sec);
	}
}

/* Finds .debug_frame, and .eh_frame when no header indexes it. */
static void find_sections(struct prof_elf *o)
{
	Elf *elf = elf_memory((char *)o->data, o->size);
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (!elf)
		return;
	if (elf_getshdrstrndx(elf, &shstrndx) == 0) {
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *name;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS ||
			    sh.sh_offset >= o->size || sh.sh_size > o->size - sh.sh_offset ||
			    (sh.sh_flags & SHF_COMPRESSED) ||
			    !(name = elf_strptr(elf, shstrndx, sh.sh_name)))
				continue;
			if (!strcmp(name, ".debug_frame")) {
				o->dframe_sec = o->data + sh.sh_offset;
				o->dframe_size = sh.sh_size;
			} else if (!strcmp(name, ".eh_frame") && !o->eh_hdr_vaddr) {
				o->eframe_sec = o->data + sh.sh_offset;
				o->eframe_size = sh.sh_size;
				o->eframe_vaddr = sh.sh_addr;
			}
		}
	}
	elf_end(elf);
}

/* Indexes the FDEs no .eh_frame_hdr finds, once: by start address. */
static void index_fdes(struct prof_elf *o)
{
	struct fde_list l = {0};

	o->fde_state = -1;
	find_sections(o);
	if (o->eframe_sec)
		index_section(&l, o->eframe_sec, o->eframe_size, o->eframe_vaddr, 1);
	if (o->dframe_sec)
		index_section(&l, o->dframe_sec, o->dframe_size, 0, 0);
	if (!l.n) {
		free(l.v);
		return;
	}
	qsort(l.v, l.n, sizeof(*l.v), cmp_fde);
	o->fdes = l.v;
	o->nfdes = l.n;
	o->fde_state = 1;
}

static int from_index(struct prof_elf *o, uint64_t vaddr, struct prof_cfi_rule *out)
{
	const struct fde_entry *v, *e;
	size_t lo = 0, hi;

	pthread_mutex_lock(&fde_lock);
	if (o->fde_state == 0)
		index_fdes(o);
	pthread_mutex_unlock(&fde_lock);
	if (o->fde_state < 0)
		return -1;
	v = o->fdes;
	hi = o->nfdes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || vaddr - v[lo - 1].start >= v[lo - 1].len)
		return -1;
	e = &v[lo - 1];
	if (e->eh)
		return rule_from_fde(o, o->eframe_sec + e->off, o->eframe_sec + o->eframe_size,
				     o->eframe_vaddr + e->off, o->eframe_sec, 1, vaddr, out);
	return rule_from_fde(o, o->dframe_sec + e->off, o->dframe_sec + o->dframe_size, 0,
			     o->dframe_sec, 0, vaddr, out);
}

int prof_cfi_find(struct prof_elf *o, uint64_t vaddr, struct prof_cfi_rule *out)
{
	if (from_eh_frame(o, vaddr, out) == 0)
		return 0;
	if (from_index(o, vaddr, out) == 0) {
		o->fdes_used++;
		return 0;
	}
	out->kind = PROF_CFI_SLOW;
	return -1;
}

void prof_cfi_free(struct prof_elf *o)
{
	free(o->fdes);
	o->fdes = NULL;
	o->nfdes = 0;
	o->fde_state = 0;
}
