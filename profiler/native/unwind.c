/* unwind.c - DWARF unwinding of a copied stack with libunwind through a custom address space. */
#include "config.h"

#include <libunwind.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "profiler/native/native.h"

/* Exported by libunwind but not declared: the .eh_frame_hdr binary search. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip,
					       unw_dyn_info_t *di, unw_proc_info_t *pi,
					       int need_unwind_info, void *arg);

#define LIVE_PAGES 16

struct prof_unwinder {
	unw_addr_space_t as;
	struct prof_space *space;
	/* the sample being unwound */
	const struct prof_regs *regs;
	const uint8_t *stack;
	size_t stack_len;
	uint64_t sp;
	int past_copy;		/* a read just beyond the copy failed */
	/* Pages of the live stack beyond the copy, read on demand. */
	struct {
		uint64_t addr;
		uint8_t data[4096];
	} page[LIVE_PAGES];
	int npage, next_page;
	uint64_t live_reads;
};

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
	return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
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
static int read_live(struct prof_unwinder *u, uint64_t addr, unw_word_t *val)
{
	uint64_t pa = addr & ~4095ull;
	struct iovec local, remote;
	int i;

	if ((addr & 7) || addr - u->sp >= (8u << 20))
		return -1;
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

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	struct prof_unwinder *u = arg;

	if (write)
		return -UNW_EINVAL;
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
	return -UNW_EINVAL;
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
	u->as = unw_create_addr_space(&accessors, 0);
	if (!u->as) {
		free(u);
		return NULL;
	}
	unw_set_caching_policy(u->as, UNW_CACHE_GLOBAL);
	return u;
}

void prof_unwinder_free(struct prof_unwinder *u)
{
	if (!u)
		return;
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

size_t prof_unwind(struct prof_unwinder *u, const struct prof_regs *regs, const uint8_t *stack,
		   size_t len, uint64_t *ips, size_t max, const char **reason)
{
	unw_cursor_t c;
	size_t n = 0;
	int rc;

	u->regs = regs;
	u->stack = stack;
	u->stack_len = len;
	u->sp = regs->r[PROF_REG_SP];
	u->past_copy = 0;
	u->npage = 0;
	*reason = NULL;
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
		rc = unw_step(&c);
		if (rc == 0)
			break;
		if (rc < 0) {
			*reason = step_reason(u, rc);
			break;
		}
	}
	return n;
}
