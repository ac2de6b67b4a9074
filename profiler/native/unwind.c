/* unwind.c - DWARF unwinding of a copied stack with libunwind through a custom address space. */
#include "config.h"

#include <libunwind.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "profiler/native/native.h"

/* Exported by libunwind but not declared: the .eh_frame_hdr binary search. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip,
					       unw_dyn_info_t *di, unw_proc_info_t *pi,
					       int need_unwind_info, void *arg);

#define LIVE_PAGES 16
#define PREFETCH_MAX 128
#define RULE_SLOTS 4096		/* direct-mapped cache of unwind rules by address */

struct rule_slot {
	uint64_t addr;
	struct prof_cfi_rule r;
};

struct prof_unwinder {
	unw_addr_space_t as;
	struct prof_space *space;
	/* the sample being unwound */
	const struct prof_regs *regs;
	const uint8_t *stack;
	size_t stack_len;
	uint64_t sp;
	int past_copy;		/* a read just beyond the copy failed */
	int guessed;		/* the last frame libunwind looked up had no entry */
	/* Pages of the live stack beyond the copy, read on demand. */
	struct {
		uint64_t addr;
		uint8_t data[4096];
	} page[LIVE_PAGES];
	int npage, next_page;
	uint64_t live_reads;
	/* The live words the last unwind read, fetched again in one system
	 * call before the next: a deep stack of the same thread needs the
	 * same ones, and the rest are read page by page as before. */
	struct {
		uint64_t addr, val;
	} pre[PREFETCH_MAX];
	size_t npre, precur;
	uint64_t want[PREFETCH_MAX];
	size_t nwant;
	unsigned flushes;	/* unw_flush_cache calls: the space's cache generation */
	struct rule_slot *rules;
	uint64_t rules_gen;	/* the space's generation the rules belong to */
	uint64_t fast, slow;	/* stacks unwound by the rules, by libunwind */
	int libunwind_only;	/* SONDA_UNWIND=libunwind: to check the rules against it */
	uint64_t deepest;	/* bytes above SP the last unwind read */
	uint64_t dense;		/* of which read with no gap over 512 bytes from SP */
	/* The rules of the last stack, by depth: the next sample of a
	 * thread mostly has the same addresses at the same depths, and this
	 * array stays in the cache where the rule table would not. */
	struct rule_slot last[64];
	uint64_t last_gen;
	/* Outer frames of deep stacks (see reuse_outer) */
	struct prof_watch_ops ops;	/* arm == NULL: none */
	struct outer *outer;		/* OUTER_SLOTS, by thread */
	struct outer *cur;		/* the thread being unwound */
	int judged;			/* its first frame beyond the copy was met */
	struct kept *fill;		/* the callers of that frame F being read */
	size_t fill_at;			/* where in ips they start */
	pid_t tid;
	int64_t when;			/* the sample's time */
	uint64_t outer_used, outer_armed, outer_changed;
};

/*
 * The outer frames of a deep stack.
 *
 * A sample carries a copy of the top of its stack; the frames beyond it
 * are read from the live thread when the sample is unwound, at the next
 * drain of its ring, up to 200 ms later.  By then the thread may have
 * returned past them and built other frames in their place, so a live
 * word is only taken when a hardware watchpoint proves it is the
 * sample's.
 *
 * The proof: a frame's callers only change after the frame ends, and a
 * frame F ends by returning, which reads its return address slot at
 * CFA(F) - 8 (an exception's unwinder reads it too); a frame built at the
 * same CFA later writes it.  A watchpoint on the slot reports both, so a
 * slot neither read nor written since the sample means F still stands,
 * called from the same place, and every frame beyond it is the same
 * instance, whose return addresses and saved registers do not change
 * while it lives.  Watching writes alone is not enough: a thread that
 * returned past F and is building its next stack (held up by a page
 * fault, or preempted) has new words beyond F before it writes F's slot.
 * Not seen: a longjmp past F, until a frame is built at its CFA.
 *
 * So the first frame F of a sample whose return address lies beyond the
 * copy decides: its slot watched since before the sample and not touched
 * since (PROF_WATCH_CLEAN) - the words beyond are read now and are the
 * sample's; touched since (PROF_WATCH_WRITTEN) - they are another
 * stack's; not watched then - unknown.  The last two end the sample in a
 * marker: a wrong stack is worse than a short one.  The watchpoint's
 * records carry times and land in the thread's ring in order with its
 * samples (watch.c), which is how "since the sample" is told.  Reading
 * the words and an access racing with it: the watchpoint's count when
 * the slot was judged clean is the same after they were read, or the
 * sample ends in a marker (a sampler preempted between the two would otherwise
 * take the next stack's words).
 *
 * Reuse: reading 30 frames of 9 KB costs some 10 us a sample, a page
 * pinned per frame, and the outer part of a deep stack rarely changes
 * between samples.  So F's callers, once read, are kept, and a later
 * sample whose unwind reaches a frame at CFA(F) gets them without
 * reading anything, as long as no access to the slot was reported in
 * the ring before it (an access drops them) and the sample came after they
 * were read.  What is spliced is F's callers only: F's own address comes
 * from the sample.
 *
 * A thread's stack has several depths (a loop waiting at one, handlers
 * going deeper, copies of varying length): up to PROF_WATCH_MAX frames F
 * are watched and kept per thread, the least recently needed replaced.
 * A thread id reused by a new thread has other (or no) watchpoints, and
 * entries are checked against the one they were read under.
 *
 * Cost to the target: a trap per call and return at a watched depth,
 * and the kernel disables a watchpoint after WATCH_SHOTS (watch.c); one
 * used up within a second is put back after fewer and fewer samples.  Without
 * watchpoints (not permitted, or the debug registers taken) every sample
 * reads the live stack as it is at the drain, and may be wrong beyond
 * its copy.
 */
#define OUTER_SLOTS 64

struct kept {
	uint64_t cfa;		/* CFA of F, whose return address slot is watched; 0: free */
	uint64_t watch;		/* the watchpoint its frames were read under */
	int valid;
	const char *reason;	/* how the unwind beyond F ended */
	uint32_t served;	/* samples that reused it */
	uint32_t skip, backoff;	/* arming backs off after frames that served none */
	int64_t count;		/* accesses the watchpoint had seen when judged clean */
	int64_t from;		/* for samples taken from then on */
	uint64_t spent;		/* the watchpoint whose shots ran out */
	int64_t armed;		/* when the current one was (a sample's time) */
	int64_t used;		/* the last sample that reached it */
	size_t n;
	uint64_t drop;		/* the replaced entry's watched slot, for the next arm */
	uint64_t ips[PROF_NATIVE_MAX_FRAMES];	/* F's callers, innermost first */
};

struct outer {
	pid_t tid;
	uint32_t live, backoff;	/* samples left to read live (no watchpoint to be had) */
	struct kept k[PROF_WATCH_MAX];
};

static struct outer *outer_of(struct prof_unwinder *u, pid_t tid, int make)
{
	struct outer *o;

	if (!u->ops.arm)
		return NULL;
	if (!u->outer && !(u->outer = calloc(OUTER_SLOTS, sizeof(*u->outer))))
		return NULL;
	o = &u->outer[(uint32_t)tid % OUTER_SLOTS];
	if (o->tid != tid) {
		if (!make)
			return NULL;
		o->tid = tid;
		o->live = o->backoff = 0;
		for (int i = 0; i < PROF_WATCH_MAX; i++)
			memset(&o->k[i], 0, offsetof(struct kept, ips));
	}
	return o;
}

static struct kept *kept_at(struct outer *o, uint64_t cfa)
{
	for (int i = 0; i < PROF_WATCH_MAX; i++)
		if (o->k[i].cfa == cfa)
			return &o->k[i];
	return NULL;
}

static uint32_t back_off(uint32_t b)
{
	return b ? (b < 512 ? 2 * b : 1024) : 1;
}

void prof_unwind_watch(struct prof_unwinder *u, const struct prof_watch_ops *ops)
{
	u->ops = *ops;
}

void prof_unwind_thread(struct prof_unwinder *u, pid_t tid, int64_t when)
{
	u->tid = tid;
	u->when = when;
}

void prof_unwind_watch_hit(struct prof_unwinder *u, pid_t tid, uint64_t addr)
{
	struct outer *o = outer_of(u, tid, 0);
	struct kept *k = o ? kept_at(o, addr + 8) : NULL;


	if (k && k->valid) {
		k->valid = 0;
		if (k->served < 2) {
			k->backoff = back_off(k->backoff);
			k->skip = k->backoff;
		} else {
			k->backoff = 0;
		}
	}
}

/* The unwinder used last by this thread.  A per-thread cache needs no
 * lock (the global one blocks every signal around each step: two system
 * calls per frame), but it is keyed by address alone and shared by every
 * address space of the thread: it is flushed when another process's
 * space is used, by giving the new space a generation the cache has not
 * seen. */
static _Thread_local struct prof_unwinder *last_user;
static _Thread_local unsigned last_gen;

static void claim_cache(struct prof_unwinder *u)
{
	if (last_user == u)
		return;
	do {
		unw_flush_cache(u->as, 0, 0);
		u->flushes++;
	} while (u->flushes == last_gen);
	last_user = u;
	last_gen = u->flushes;
}

enum {
	EH_PE_udata4 = 0x03,
	EH_PE_sdata4 = 0x0b,
	EH_PE_pcrel = 0x10,
	EH_PE_datarel = 0x30,
};

static int read_u32(struct prof_space *s, uint64_t addr, uint32_t *v)
{
	return prof_space_read(s, addr, v, sizeof(*v));
}

/* Only the layout every linker writes: pcrel|sdata4 pointer, udata4
 * count, a datarel|sdata4 sorted table. */
static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			  int need_unwind_info, void *arg)
{
	struct prof_unwinder *u = arg;
	const struct prof_mod *m = prof_space_find(u->space, ip);
	unsigned char hdr[4];
	uint32_t count;
	uint64_t hdr_addr;
	unw_dyn_info_t di;
	int rc;

	u->guessed = 1;		/* until an entry is found */
	if (!m || !m->obj->eh_hdr_vaddr)
		return -UNW_ENOINFO;
	hdr_addr = m->obj->eh_hdr_vaddr + m->bias;
	if (prof_space_read(u->space, hdr_addr, hdr, sizeof(hdr)) != 0 || hdr[0] != 1 ||
	    hdr[1] != (EH_PE_pcrel | EH_PE_sdata4) || hdr[2] != EH_PE_udata4 ||
	    hdr[3] != (EH_PE_datarel | EH_PE_sdata4) || read_u32(u->space, hdr_addr + 8, &count) != 0)
		return -UNW_ENOINFO;
	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = m->start;
	di.end_ip = m->end;
	di.u.rti.segbase = hdr_addr;
	di.u.rti.table_data = hdr_addr + 12;
	di.u.rti.table_len = (unw_word_t)count * 8 / sizeof(unw_word_t);
	rc = UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
	u->guessed = rc == -UNW_ENOINFO;
	return rc;
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	free(pi->unwind_info);
	pi->unwind_info = NULL;
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
	return -UNW_ENOINFO;
}

/* The outer frames of a deep stack lie beyond the copy.  They are read
 * from the live thread: a caller's frame stays put while its callees run,
 * so this is what the copy would have held unless the thread has
 * returned past it since the sample. */
static void prefetch(struct prof_unwinder *u)
{
	struct iovec local[PREFETCH_MAX], remote[PREFETCH_MAX];
	size_t n = 0;
	ssize_t got;

	u->npre = u->precur = 0;
	for (size_t i = 0; i < u->nwant; i++) {
		uint64_t a = u->want[i];

		if (a < u->sp + u->stack_len || a - u->sp >= (8u << 20))
			continue;	/* another thread's stack, or in the copy now */
		u->pre[n].addr = a;
		local[n].iov_base = &u->pre[n].val;
		local[n].iov_len = 8;
		remote[n].iov_base = (void *)(uintptr_t)a;
		remote[n].iov_len = 8;
		n++;
	}
	u->nwant = 0;
	if (!n)
		return;
	got = process_vm_readv(u->space->pid, local, (unsigned long)n, remote, (unsigned long)n, 0);
	u->npre = got > 0 ? (size_t)got / 8 : 0;
	u->live_reads++;
}

static void note_want(struct prof_unwinder *u, uint64_t addr)
{
	if (u->nwant < PREFETCH_MAX)
		u->want[u->nwant++] = addr;
}

static int read_live(struct prof_unwinder *u, uint64_t addr, unw_word_t *val)
{
	uint64_t pa = addr & ~4095ull;
	struct iovec local, remote;
	int i;

	if ((addr & 7) || addr - u->sp >= (8u << 20))
		return -1;
	/* Words are read outwards, so the next one is usually next in line. */
	for (size_t k = 0; k < u->npre; k++) {
		size_t j = (u->precur + k) % u->npre;

		if (u->pre[j].addr == addr) {
			*val = u->pre[j].val;
			u->precur = j + 1;
			note_want(u, addr);
			return 0;
		}
	}
	note_want(u, addr);
	for (i = 0; i < u->npage; i++)
		if (u->page[i].addr == pa)
			goto found;
	i = u->next_page;
	u->next_page = (u->next_page + 1) % LIVE_PAGES;
	if (u->npage < LIVE_PAGES)
		u->npage++;
	u->page[i].addr = 1;	/* invalid until read */
	local.iov_base = u->page[i].data;
	local.iov_len = 4096;
	remote.iov_base = (void *)(uintptr_t)pa;
	remote.iov_len = 4096;
	if (process_vm_readv(u->space->pid, &local, 1, &remote, 1, 0) != 4096)
		return -1;
	u->page[i].addr = pa;
	u->live_reads++;
found:
	memcpy(val, u->page[i].data + (addr - pa), sizeof(*val));
	return 0;
}

/* A word of the sample: the stack copy, the mapped files, the live stack. */
static int read_word(struct prof_unwinder *u, uint64_t addr, unw_word_t *val)
{
	if (addr >= u->sp && addr - u->sp < (8u << 20) && addr - u->sp + 8 > u->deepest)
		u->deepest = addr - u->sp + 8;
	if (addr >= u->sp && addr - u->sp < u->dense + 512 && addr - u->sp + 8 > u->dense)
		u->dense = addr - u->sp + 8;
	if (addr >= u->sp && addr - u->sp + sizeof(*val) <= u->stack_len) {
		memcpy(val, u->stack + (addr - u->sp), sizeof(*val));
		return 0;
	}
	if (prof_space_read(u->space, addr, val, sizeof(*val)) == 0)
		return 0;
	if (addr >= u->sp && read_live(u, addr, val) == 0)
		return 0;
	if (addr >= u->sp && addr - u->sp < (1u << 24))
		u->past_copy = 1;
	return -1;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	struct prof_unwinder *u = arg;

	if (write)
		return -UNW_EINVAL;
	return read_word(u, addr, val) == 0 ? 0 : -UNW_EINVAL;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
	struct prof_unwinder *u = arg;

	if (write || reg < 0 || reg >= PROF_NREGS)
		return -UNW_EBADREG;
	*val = u->regs->r[reg];
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			 unw_word_t *off, void *arg)
{
	return -UNW_ENOINFO;
}

static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = put_unwind_info,
	.get_dyn_info_list_addr = get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
	.resume = resume,
	.get_proc_name = get_proc_name,
};

struct prof_unwinder *prof_unwinder_new(struct prof_space *s)
{
	struct prof_unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->space = s;
	u->libunwind_only = getenv("SONDA_UNWIND") && !strcmp(getenv("SONDA_UNWIND"), "libunwind");
	u->as = unw_create_addr_space(&accessors, 0);
	if (!u->as) {
		free(u);
		return NULL;
	}
	unw_set_caching_policy(u->as, UNW_CACHE_PER_THREAD);
	u->rules = calloc(RULE_SLOTS, sizeof(*u->rules));
	if (!u->rules) {
		unw_destroy_addr_space(u->as);
		free(u);
		return NULL;
	}
	return u;
}

void prof_unwinder_free(struct prof_unwinder *u)
{
	if (!u)
		return;
	if (last_user == u)
		last_user = NULL;
	if (getenv("SONDA_NATIVE_DEBUG"))
		fprintf(stderr, "unwind: %llu stacks by the rules, %llu by libunwind; outer frames "
			"reused %llu times, %llu watchpoints armed, %llu changed since the sample\n",
			(unsigned long long)u->fast, (unsigned long long)u->slow,
			(unsigned long long)u->outer_used, (unsigned long long)u->outer_armed,
			(unsigned long long)u->outer_changed);
	free(u->outer);
	free(u->rules);
	unw_destroy_addr_space(u->as);
	free(u);
}

static const char *step_reason(struct prof_unwinder *u, int rc)
{
	if (u->past_copy)
		return "stack copy too small";
	switch (-rc) {
	case UNW_ENOINFO:
		return "no unwind info";
	case UNW_EBADFRAME:
		return "bad frame";
	case UNW_EINVALIDIP:
		return "invalid address";
	case UNW_EBADREG:
		return "register not available";
	case UNW_ESTOPUNWIND:
		return "stopped";
	default:
		return "unreadable memory";
	}
}

/* The rule of an address, cached until the process's modules change. */
static int get_rule(struct prof_unwinder *u, uint64_t addr, struct prof_cfi_rule *r)
{
	struct rule_slot *slot;
	const struct prof_mod *m;

	if (u->rules_gen != u->space->gen) {
		memset(u->rules, 0, RULE_SLOTS * sizeof(*u->rules));
		u->rules_gen = u->space->gen;
	}
	slot = &u->rules[((addr * 0x9E3779B97F4A7C15ull) >> 40) & (RULE_SLOTS - 1)];
	if (slot->addr == addr && addr) {
		*r = slot->r;
		return 0;
	}
	m = prof_space_find(u->space, addr);
	if (!m)
		return -1;	/* not cached: a refresh may find it later */
	prof_cfi_find(m->obj, addr - m->bias, r);
	if (u->rules_gen != u->space->gen) {
		memset(u->rules, 0, RULE_SLOTS * sizeof(*u->rules));
		u->rules_gen = u->space->gen;
	}
	slot->addr = addr;
	slot->r = *r;
	return 0;
}

/* The rule of addr at depth i of the stack: from the last stack's, else the table. */
static int rule_at(struct prof_unwinder *u, size_t i, uint64_t addr, struct prof_cfi_rule *r)
{
	struct rule_slot *m;

	if (u->last_gen != u->space->gen) {
		memset(u->last, 0, sizeof(u->last));
		u->last_gen = u->space->gen;
	}
	if (i >= sizeof(u->last) / sizeof(u->last[0]))
		return get_rule(u, addr, r) == 0;
	m = &u->last[i];
	if (m->addr == addr && addr) {
		*r = m->r;
		return 1;
	}
	if (get_rule(u, addr, r) != 0)
		return 0;
	if (u->last_gen == u->space->gen) {
		m->addr = addr;
		m->r = *r;
	}
	return 1;
}

/* The fast path: every frame by its cached rule, a table lookup and a
 * read or two per frame.  0 when some frame needs libunwind (a signal
 * frame, a PLT stub, an expression, no unwind entry): the whole stack is
 * then unwound again by libunwind. */
/* The entry for F at cfa: a free one, else the least recently needed,
 * whose watchpoint the next arm replaces. */
static struct kept *take_kept(struct outer *o, uint64_t cfa)
{
	struct kept *k = &o->k[0];

	for (int i = 0; i < PROF_WATCH_MAX && k->cfa; i++)
		if (!o->k[i].cfa || o->k[i].used < k->used)
			k = &o->k[i];
	k->drop = k->cfa ? k->cfa - 8 : 0;
	memset(k, 0, offsetof(struct kept, drop));
	k->cfa = cfa;
	return k;
}

/* F, the sample's first frame whose return address lies beyond its copy,
 * at cfa: 0 when the live words beyond it may be read (u->fill then says
 * where its callers start in ips, to be checked and kept), 1 when the
 * unwind ends at it with a marker (*reason). */
static int judge_outer(struct prof_unwinder *u, uint64_t cfa, size_t n, const char **reason)
{
	struct outer *o = u->cur;
	struct kept *k;
	int64_t seen;
	uint64_t id;
	int st;

	u->judged = 1;
	if (o->live) {
		o->live--;	/* no watchpoint to be had lately: read live */
		return 0;
	}
	if (!(k = kept_at(o, cfa)))
		k = take_kept(o, cfa);
	k->used = u->when;
	switch ((st = u->ops.state(u->ops.ctx, u->tid, cfa - 8, u->when, &seen))) {
	case PROF_WATCH_WRITTEN:
		*reason = "stack changed since the sample";
		u->outer_changed++;
		return 1;
	case PROF_WATCH_LATER:
		*reason = "stack not watched at the sample";
		u->outer_changed++;
		return 1;
	case PROF_WATCH_CLEAN:
		k->watch = u->ops.armed(u->ops.ctx, u->tid, cfa - 8);
		k->from = u->when;
		k->count = seen;
		k->served = 0;
		u->fill = k;
		u->fill_at = n;
		return 0;
	}
	/* A word used more often than a watchpoint's shots is watched
	 * again later, less and less often. */
	if (st == PROF_WATCH_SPENT && k->spent != k->watch) {
		k->spent = k->watch;
		k->backoff = u->when - k->armed < 1000000000 ? back_off(k->backoff) : 0;
		k->skip = k->backoff;
	}
	if (k->skip) {
		k->skip--;
	} else if ((id = u->ops.arm(u->ops.ctx, u->tid, cfa - 8, k->drop))) {
		k->watch = id;
		k->armed = u->when;
		k->drop = 0;
		o->backoff = 0;
		u->outer_armed++;
	} else if (st == PROF_WATCH_NONE) {
		/* None to be had (debug registers taken, or none allowed):
		 * read live, as they are now. */
		o->backoff = back_off(o->backoff);
		o->live = o->backoff;
		return 0;
	}
	k->valid = 0;
	/* Samples taken before it cannot know what the live words were
	 * then: the next sample reads them (PROF_WATCH_CLEAN). */
	*reason = "stack not watched at the sample";
	u->outer_changed++;
	return 1;
}

/* At a frame of CFA cfa (beyond: its return address lies beyond the
 * copy): 1 when the unwind ends here, with the callers kept for it
 * appended to ips or with a marker, else 0 to read on. */
static int reuse_outer(struct prof_unwinder *u, uint64_t cfa, int beyond, uint64_t *ips,
		       size_t *np, size_t max, const char **reason)
{
	struct kept *k = kept_at(u->cur, cfa);

	if (k && k->valid && u->when >= k->from &&
	    k->watch == u->ops.armed(u->ops.ctx, u->tid, cfa - 8)) {
		size_t m = k->n < max - *np ? k->n : max - *np;

		memcpy(ips + *np, k->ips, m * sizeof(*ips));
		*np += m;
		*reason = m < k->n ? "too deep" : k->reason;
		k->served++;
		k->used = u->when;
		u->outer_used++;
		return 1;
	}
	/* Frames after F stand or fall with it. */
	if (!beyond || u->judged)
		return 0;
	return judge_outer(u, cfa, *np, reason);
}

/* The words beyond F were read: kept if no access came while they were,
 * else the unwind ends at F. */
static void keep_outer(struct prof_unwinder *u, const uint64_t *ips, size_t *np,
		       const char **reason)
{
	struct kept *k = u->fill;

	if (!k)
		return;
	u->fill = NULL;
	if (k->count < 0 || u->ops.count(u->ops.ctx, u->tid, k->cfa - 8) != k->count) {
		*np = u->fill_at;
		*reason = "stack changed since the sample";
		u->outer_changed++;
		return;
	}
	k->n = *np - u->fill_at;
	memcpy(k->ips, ips + u->fill_at, k->n * sizeof(*ips));
	k->reason = *reason;
	k->valid = 1;
}

static int unwind_fast(struct prof_unwinder *u, uint64_t *ips, size_t max, size_t *np,
		       const char **reason)
{
	uint64_t ip = u->regs->r[PROF_REG_IP], sp = u->sp, bp = u->regs->r[PROF_REG_BP];
	size_t n = 0;

	for (;;) {
		struct prof_cfi_rule r;
		unw_word_t ra, nbp;
		uint64_t cfa;

		if (ip == 0)
			break;
		if (n == max) {
			*reason = "too deep";
			break;
		}
		ips[n++] = ip;
		/* A return address points after the call: the call's row. */
		if (!rule_at(u, n - 1, n == 1 ? ip : ip - 1, &r) || r.kind == PROF_CFI_SLOW)
			return 0;
		if (r.kind == PROF_CFI_END)
			break;
		cfa = (r.cfa_reg == PROF_REG_SP ? sp : bp) + (uint64_t)(int64_t)r.cfa_off;
		if (cfa <= sp)
			return 0;
		if (r.ra_off == -8 && u->cur) {
			int beyond = cfa - 8 - u->sp >= u->stack_len;

			if ((beyond || kept_at(u->cur, cfa)) &&
			    reuse_outer(u, cfa, beyond, ips, &n, max, reason)) {
				keep_outer(u, ips, &n, reason);	/* F's, when a kept frame beyond it ends */
				*np = n;
				return 1;
			}
		}
		if (read_word(u, cfa + (uint64_t)(int64_t)r.ra_off, &ra) != 0)
			goto fail;
		if (r.bp_saved) {
			if (read_word(u, cfa + (uint64_t)(int64_t)r.bp_off, &nbp) != 0)
				goto fail;
			bp = nbp;
		}
		sp = cfa;
		ip = ra;
	}
	keep_outer(u, ips, &n, reason);
	*np = n;
	return 1;
fail:
	return 0;
}

size_t prof_unwind(struct prof_unwinder *u, const struct prof_regs *regs, const uint8_t *stack,
		   size_t len, uint64_t *ips, size_t max, const char **reason)
{
	unw_cursor_t c;
	unw_word_t cfa;
	size_t n = 0;
	int rc, signal;

	u->regs = regs;
	u->stack = stack;
	u->stack_len = len;
	u->sp = regs->r[PROF_REG_SP];
	u->past_copy = 0;
	u->npage = 0;
	u->next_page = 0;	/* slots below npage are the only valid ones */
	u->deepest = 0;
	u->dense = 0;
	u->cur = outer_of(u, u->tid, 1);
	u->fill = NULL;
	u->judged = 0;
	*reason = NULL;
	prefetch(u);
	if (!u->libunwind_only && unwind_fast(u, ips, max, &n, reason)) {
		u->fast++;
		return n;
	}
	u->slow++;
	n = 0;
	*reason = NULL;
	u->past_copy = 0;
	u->judged = 0;
	u->fill = NULL;
	claim_cache(u);
	rc = unw_init_remote(&c, u->as, u);
	if (rc < 0) {
		*reason = step_reason(u, rc);
		return 0;
	}
	for (;;) {
		unw_word_t ip = 0;

		if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		if (n == max) {
			*reason = "too deep";
			break;
		}
		ips[n++] = ip;
		u->guessed = 0;
		signal = unw_is_signal_frame(&c) > 0;
		rc = unw_step(&c);
		if (rc == 0) {
			/* Without an unwind entry libunwind guesses, and a guess
			 * that finds nothing reads as the outermost frame. */
			if (u->guessed)
				*reason = "no unwind info";
			break;
		}
		if (rc < 0) {
			*reason = step_reason(u, rc);
			break;
		}
		/* The caller's SP is the CFA of the frame left: F's words were
		 * read by the step, and are the sample's if its slot is clean
		 * now (judged after reading is as good as before). */
		if (u->cur && !u->judged && !signal && unw_get_reg(&c, UNW_REG_SP, &cfa) == 0 &&
		    cfa - 8 - u->sp >= u->stack_len && cfa - 8 - u->sp < (8u << 20) &&
		    judge_outer(u, cfa, n, reason))
			break;
	}
	keep_outer(u, ips, &n, reason);
	return n;
}

size_t prof_unwind_depth(const struct prof_unwinder *u)
{
	return (size_t)u->deepest;
}

size_t prof_unwind_copy_depth(const struct prof_unwinder *u)
{
	return u->dense < u->stack_len ? (size_t)u->dense : u->stack_len;
}
