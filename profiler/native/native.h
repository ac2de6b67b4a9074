/* native.h - what the files of profiler/native/ share: ELF objects, a process's address space, the unwinder.
 *
 * An ELF object (prof_elf) is loaded once per build-id and shared by every
 * process that maps it; it answers symbol and line questions in its own
 * virtual addresses.  A space (prof_space) is one process's view: which
 * object is mapped where, with which load bias.  The unwinder reads a copy
 * of a thread's registers and stack, and everything else (.eh_frame, code)
 * from the objects' files, so it never touches the target.
 */
#ifndef SONDA_PROFILER_NATIVE_H
#define SONDA_PROFILER_NATIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "profiler/backend.h"

#define PROF_NATIVE_MAX_FRAMES 256
/* The user stack a perf sample carries at most (cut to what the unwinds
 * read, perf.c): perf's own default is 8 KB.
 * Frames beyond it are read from the live stack (an outer frame stays put
 * while its callees run); a small copy keeps the rings from filling
 * between two drains and the target's cost per sample low. */
#define PROF_NATIVE_STACK_MAX 16384
/* The user stack a switch-out sample carries (wall mode on perf events):
 * the kernel copies it at every switch, whether or not it is used, so a
 * target that switches often pays for each byte (16 KB cost a thread
 * ping-ponging on a pipe about 3 us per switch on the machines measured,
 * 64 bytes 1 us).  Frames beyond it are read live, as in cpu mode. */
#define PROF_NATIVE_SWITCH_STACK 8192

/* One PT_LOAD segment. */
struct prof_elf_seg {
	uint64_t vaddr, memsz, offset, filesz;
};

struct prof_elf_sym {
	uint64_t addr, size;
	const char *name;
};

/* One resolved frame of an address; several when functions were inlined. */
struct prof_elf_frame {
	const char *function;	/* never NULL: "module+0xOFFSET" when unnamed */
	const char *file;	/* NULL when unknown */
	int line;
};

struct prof_elf_addr;	/* cached resolution of one address */

struct prof_elf {
	uint32_t id;		/* unique, for frame keys */
	int refs;
	char *path;		/* as mapped by the process */
	char *name;		/* basename, the store's module */
	uint8_t build_id[64];
	size_t build_id_len;
	const uint8_t *data;	/* the whole file (or the vDSO image) */
	size_t size;
	int data_mmapped;
	int type;		/* ET_EXEC, ET_DYN */
	struct prof_elf_seg seg[16];
	int nseg;
	uint64_t eh_hdr_vaddr, eh_hdr_size;	/* PT_GNU_EH_FRAME, 0 when absent */
	int syms_loaded;	/* syms: loaded at the first resolve (symbols.c) */
	struct prof_elf_sym *syms;	/* sorted by addr, one per address */
	size_t nsyms;
	char *strs;		/* names of syms */
	char *debug_path;	/* separate debug file, NULL when none */
	int dw_state;		/* 0 untried, 1 open, -1 none */
	void *dw;		/* Dwarf * */
	void *dw_elf;		/* Elf * of the debug info */
	int dw_fd;
	void *aranges;		/* address ranges of the CUs, sorted (lines.c) */
	size_t naranges;
	struct prof_elf_addr **cache;	/* open addressing by vaddr */
	size_t cache_cap, cache_n;
	/* FDEs no .eh_frame_hdr table finds: those of .debug_frame, and of
	 * .eh_frame itself when there is no header (static binaries). */
	int fde_state;		/* 0 untried, 1 indexed, -1 none */
	const uint8_t *dframe_sec, *eframe_sec;
	size_t dframe_size, eframe_size;
	uint64_t eframe_vaddr;
	void *fdes;		/* sorted FDE starts (cfi.c) */
	size_t nfdes;
	uint64_t fdes_used;	/* rules found there */
	struct prof_elf *next;
};

/* elf.c: the object cache.  fd is consumed.  image != NULL: an in-memory
 * copy (the vDSO), taken over by the object. */
struct prof_elf *prof_elf_get(int fd, const char *path, uint8_t *image, size_t imagelen,
			      char *err, size_t errlen);
void prof_elf_put(struct prof_elf *o);
/* The file's bytes at the object's virtual address vaddr, *avail of
 * them in the same segment; NULL when no segment holds them. */
const uint8_t *prof_elf_at(const struct prof_elf *o, uint64_t vaddr, size_t *avail);
/* Copies len bytes at the object's virtual address vaddr; 0 or -1. */
int prof_elf_read(const struct prof_elf *o, uint64_t vaddr, void *buf, size_t len);
/* The load bias of the object mapped at map_start from file offset
 * map_offset; 0, or -1 when no segment holds that offset. */
int prof_elf_bias(const struct prof_elf *o, uint64_t map_start, uint64_t map_offset,
		  uint64_t *bias);
/* elf.c helpers shared with symbols.c */
int prof_elf_load_symbols(struct prof_elf *o, void *elf);
void prof_elf_find_debug(struct prof_elf *o, void *elf);

/* symbols.c: the frames at vaddr (innermost first); returns how many (>= 1).
 * Cached; pointers live as long as the object. */
size_t prof_elf_resolve(struct prof_elf *o, uint64_t vaddr, const struct prof_elf_frame **frames);
const struct prof_elf_sym *prof_elf_symbol(const struct prof_elf *o, uint64_t vaddr);
char *prof_demangle(const char *name);	/* malloc'd, NULL when not mangled */
/* Sorts n keys by key, then tie (its low 8 bits), then their order in k,
 * using tmp (n more); returns whichever of k and tmp holds the result. */
struct prof_sort_key {
	uint64_t key;
	uint32_t tie, idx;
};
struct prof_sort_key *prof_sort_keys(struct prof_sort_key *k, struct prof_sort_key *tmp, size_t n);
void prof_elf_cache_free(struct prof_elf *o);

/* lines.c: libdw.  Fills up to max frames (innermost first) for vaddr
 * with strings owned by the Dwarf handle or by the object; 0 when no
 * debug info covers it. */
size_t prof_dw_frames(struct prof_elf *o, uint64_t vaddr, struct prof_elf_frame *f, size_t max);
void prof_dw_close(struct prof_elf *o);
/* $XDG_CACHE_HOME/sonda/SUB (or ~/.cache/sonda/SUB) into buf, made when
 * missing; 0, or -1 when there is none. */
int prof_cache_dir(char *buf, size_t len, const char *sub);

/* cfi.c: the unwind rule of an address when it is one of the forms
 * compilers write for x86-64 code (CFA = SP or BP + offset, the return
 * address and BP saved at offsets from it), from .eh_frame or, when that
 * has no entry, .debug_frame.  Anything else is PROF_CFI_SLOW: libunwind's. */
enum { PROF_CFI_SLOW, PROF_CFI_OK, PROF_CFI_END };
struct prof_cfi_rule {
	uint8_t kind;		/* PROF_CFI_END: the outermost frame (no return address) */
	uint8_t cfa_reg;	/* PROF_REG_SP or PROF_REG_BP */
	uint8_t bp_saved;	/* BP at CFA + bp_off, else unchanged */
	int32_t cfa_off, ra_off, bp_off;
};
int prof_cfi_find(struct prof_elf *o, uint64_t vaddr, struct prof_cfi_rule *r);
void prof_cfi_free(struct prof_elf *o);

/* space.c: one process's modules */
struct prof_mod {
	uint64_t start, end, bias;
	struct prof_elf *obj;
};

struct prof_space {
	pid_t pid;
	struct prof_mod *mods;
	size_t nmods;
	int64_t refreshed_ns;
	uint64_t gen;		/* bumped whenever the modules are rebuilt */
	uint64_t unknown;	/* lookups that found no module */
	uint64_t missed[64];	/* pages of recent misses */
	size_t nmissed;
};

int prof_space_init(struct prof_space *s, pid_t pid, char *err, size_t errlen);
void prof_space_free(struct prof_space *s);
/* Rereads /proc/PID/maps (at most every 200 ms unless force). */
int prof_space_refresh(struct prof_space *s, int force);
const struct prof_mod *prof_space_find(struct prof_space *s, uint64_t addr);
/* Reads target memory from the mapped files' contents; 0 or -1. */
int prof_space_read(struct prof_space *s, uint64_t addr, void *buf, size_t len);

/* unwind.c: registers in libunwind's x86-64 numbering (RAX..R15, RIP). */
#define PROF_NREGS 17
struct prof_regs {
	uint64_t r[PROF_NREGS];
};
enum { PROF_REG_BP = 6, PROF_REG_SP = 7, PROF_REG_IP = 16 };

struct prof_unwinder;
struct prof_unwinder *prof_unwinder_new(struct prof_space *s);
void prof_unwinder_free(struct prof_unwinder *u);
/* Unwinds a copy: stack holds len bytes read at regs->r[SP].  Fills ips
 * (leaf first), returns how many; *reason is NULL when the walk reached
 * the outermost frame, else why it stopped. */
size_t prof_unwind(struct prof_unwinder *u, const struct prof_regs *regs, const uint8_t *stack,
		   size_t len, uint64_t *ips, size_t max, const char **reason);
/* How far above SP the last unwind read (bytes). */
size_t prof_unwind_depth(const struct prof_unwinder *u);
/* Bytes of the copy above SP the last unwind read without a gap (what
 * is worth fetching early). */
size_t prof_unwind_copy_depth(const struct prof_unwinder *u);
/* The outer frames of deep stacks kept between samples, guarded by up
 * to PROF_WATCH_MAX watchpoints per thread (unwind.c explains): arm puts
 * one on the 8 bytes at addr, in place of the one on drop (0: none), and
 * returns its id (0: cannot); armed is the id of the one on addr (0:
 * none). */
#define PROF_WATCH_MAX 3	/* of x86's 4 debug registers: one left for a debugger */
struct prof_watch_ops {
	uint64_t (*arm)(void *ctx, pid_t tid, uint64_t addr, uint64_t drop);
	uint64_t (*armed)(void *ctx, pid_t tid, uint64_t addr);
	/* accesses the one on addr has seen since armed, -1: none */
	int64_t (*count)(void *ctx, pid_t tid, uint64_t addr);
	/* PROF_WATCH_*: whether addr was read or written after when (ns);
	 * *count the accesses it had seen when it judged */
	int (*state)(void *ctx, pid_t tid, uint64_t addr, int64_t when, int64_t *count);
	void *ctx;
};
void prof_unwind_watch(struct prof_unwinder *u, const struct prof_watch_ops *ops);
/* The thread whose stack the next prof_unwind unwinds, and when the
 * sample was taken (CLOCK_MONOTONIC ns). */
void prof_unwind_thread(struct prof_unwinder *u, pid_t tid, int64_t when);
/* tid's watchpoint on addr fired: the frames kept under it are gone. */
void prof_unwind_watch_hit(struct prof_unwinder *u, pid_t tid, uint64_t addr);

/* perf.c: on-CPU samples.  inherit: one event on pid that follows the
 * threads (and children) it creates; else one event per thread, new
 * threads found by rescanning /proc/PID/task at each read. */
#define PROF_KERNEL_MAX_FRAMES 64
struct prof_perf_sample {
	pid_t pid, tid;
	uint64_t time;
	uint64_t kips[PROF_KERNEL_MAX_FRAMES];	/* kernel frames, leaf first */
	size_t nkips;
	struct prof_regs regs;
	const uint8_t *stack;	/* a copy of the user stack from regs SP */
	size_t stack_len;
	int watch_hit;		/* not a sample: tid's watchpoint on watch_addr fired (the rest unset) */
	uint64_t watch_addr;
	int kind;		/* PROF_PERF_*: CPU unless prof_perf_open_switches */
	int preempt;		/* SWITCH_OUT: still runnable (preempted), not blocked */
	uint64_t period;	/* CPU, prof_perf_open_switches: its clock's period in ns of CPU time */
};
/* What a record is.  CPU and OFF carry registers and a stack; the others
 * only tid and time (DRAINED: the time the ring was read up to; LOST:
 * records of tid's ring were lost here, no time). */
enum { PROF_PERF_CPU, PROF_PERF_OFF, PROF_PERF_SWITCH_OUT, PROF_PERF_SWITCH_IN, PROF_PERF_EXIT,
       PROF_PERF_DRAINED, PROF_PERF_LOST };
typedef void (*prof_perf_cb)(void *ctx, const struct prof_perf_sample *s);
struct prof_perf;
struct prof_perf *prof_perf_open(pid_t pid, int inherit, double hz, char *err, size_t errlen);
/* Wall mode: cpu-clock and a context-switch event per thread (perf.c says more). */
struct prof_perf *prof_perf_open_switches(pid_t pid, double hz, char *err, size_t errlen);
/* Threads whose events were opened since the last call. */
size_t prof_perf_fresh(struct prof_perf *p, pid_t *tids, size_t max);
/* With prof_perf_open_switches: tid's cpu-clock period from now on. */
int prof_perf_clock(struct prof_perf *p, pid_t tid, uint64_t period);
/* How often the rings must be drained so that none fills, in ns. */
int64_t prof_perf_drain_ns(const struct prof_perf *p);
/* Calls cb for every sample since the last read; returns how many, or
 * -ESRCH once the process is gone and every sample was read. */
int prof_perf_read(struct prof_perf *p, prof_perf_cb cb, void *ctx);
int prof_perf_scan(struct prof_perf *p);
const char *prof_perf_event(const struct prof_perf *p);
uint64_t prof_perf_lost(const struct prof_perf *p);
int prof_perf_short(struct prof_perf *p, char *err, size_t errlen);
int prof_perf_kernel(const struct prof_perf *p);	/* kernel frames sampled */
void prof_perf_hint(struct prof_perf *p, size_t depth);
void prof_perf_reach(struct prof_perf *p, size_t depth);
uint64_t prof_perf_watch(struct prof_perf *p, pid_t tid, uint64_t addr, uint64_t drop);
uint64_t prof_perf_watch_id(struct prof_perf *p, pid_t tid, uint64_t addr);
int64_t prof_perf_watch_count(struct prof_perf *p, pid_t tid, uint64_t addr);
enum { PROF_WATCH_NONE, PROF_WATCH_CLEAN, PROF_WATCH_WRITTEN, PROF_WATCH_LATER, PROF_WATCH_SPENT };
int prof_perf_watch_state(struct prof_perf *p, pid_t tid, uint64_t addr, int64_t when,
			  int64_t *count);
void prof_perf_watch_outer(struct prof_perf *p, struct prof_unwinder *u);
void prof_perf_close(struct prof_perf *p);

/* kallsyms.c: the kernel function at addr, NULL when unknown. */
const char *prof_kernel_symbol(uint64_t addr);

/* symbolize.c: turns ips into prof_frames and emits one stack. */
struct prof_symbolizer;
struct prof_symbolizer *prof_symbolizer_new(struct prof_space *s);
void prof_symbolizer_free(struct prof_symbolizer *z);
/* Frames for ips (leaf first); reason non-NULL adds the error marker at the root. */
size_t prof_symbolize(struct prof_symbolizer *z, const uint64_t *kips, size_t nk,
		      const uint64_t *ips, size_t n, const char *reason,
		      const struct prof_frame **frames);

/* engine.c: what the cpu, wall and mixed backends share. */
struct prof_nat {
	pid_t pid;
	struct prof_space space;
	struct prof_unwinder *unw;
	struct prof_symbolizer *sym;
	uint64_t stacks, unwind_errors;
	int64_t mono_ns;	/* when the next emitted stack was taken, 0: now */
	uint32_t weight;	/* ticks the next emitted stack stands for, 0: one */
	int64_t stack_ns;	/* when its stack was copied, if not at mono_ns (0) */
	uint64_t ips[PROF_NATIVE_MAX_FRAMES];
};
int prof_nat_init(struct prof_nat *n, pid_t pid, char *err, size_t errlen);
void prof_nat_fini(struct prof_nat *n);
/* Unwinds one copied stack and emits it as one sample of tid, below
 * nk kernel frames (leaf first) when the sample has some. */
void prof_nat_emit(struct prof_nat *n, pid_t tid, uint32_t state, const struct prof_regs *regs,
		   const uint8_t *stack, size_t len, const uint64_t *kips, size_t nk,
		   prof_emit_fn emit, void *ctx);
/* Whether the process still exists (not a zombie). */
int prof_nat_alive(pid_t pid);

/* grab.c: every paused thread's registers and the top of its stack
 * (deeper frames are read from the live stack during the unwind). */
#define PROF_GRAB_STACK (32 * 1024)
struct prof_grab_thread {
	pid_t tid;
	uint32_t state;		/* STORE_STATE_IDLE: blocked in a system call */
	uint32_t weight;	/* 1 + the stops it was late for */
	struct prof_regs regs;
	size_t len;
	uint8_t *stack;
	size_t cap;		/* bytes allocated at stack */
	int64_t mono_ns;	/* when taken (CLOCK_MONOTONIC) */
};
struct prof_grab_want {
	pid_t tid;
	uint32_t len;
};
struct prof_grab {
	struct prof_grab_thread *t;
	size_t n, cap;
	struct prof_grab_want *want;	/* per thread: how much stack to copy */
	size_t nwant, capwant;
};
void prof_grab_take(struct prof_grab *g, struct prof_pause *pp, pid_t pid, int keep_idle);
/* The same, appended to g (which keeps what it had), copying as much
 * stack as wants notes, each thread marked taken at mono_ns. */
void prof_grab_add(struct prof_grab *g, const struct prof_grab *wants, struct prof_pause *pp,
		   pid_t pid, int keep_idle, int64_t mono_ns);
/* Stopped thread i of pp alone, appended to g; the read, or NULL when
 * none was kept (gone, or idle without keep_idle). */
const struct prof_grab_thread *prof_grab_one(struct prof_grab *g,
					     const struct prof_grab *wants,
					     struct prof_pause *pp, size_t i, pid_t pid,
					     int keep_idle, int64_t mono_ns);
/* The last unwind of tid read depth bytes above SP: copy about that much
 * (and a margin) next time, so the thread is held no longer than needed. */
void prof_grab_note(struct prof_grab *g, pid_t tid, size_t depth);
void prof_grab_free(struct prof_grab *g);
/* ticker.c: wall mode's stopping thread, at rate_hz on the target's CPU.
 * It fills the batch it was given (first); prof_ticker_swap() hands it
 * another, empty one and returns the full one, with what happened since. */
struct prof_ticker;
struct prof_ticker_news {
	int gone;		/* the target exited: the batch holds its last reads */
	uint64_t errors;	/* failed stops since the last swap */
	char last_error[160];
};
struct prof_ticker *prof_ticker_start(pid_t pid, double rate_hz, int keep_idle,
				      struct prof_grab *first, char *err, size_t errlen);
struct prof_grab *prof_ticker_swap(struct prof_ticker *k, struct prof_grab *empty,
				   struct prof_ticker_news *news);
/* What the unwind of a read of tid needed: see prof_grab_note(). */
void prof_ticker_note(struct prof_ticker *k, pid_t tid, size_t depth);
struct prof_ticker_stats {
	uint64_t taken;		/* ticks taken (every thread read) since the start */
	uint64_t lost;		/* slept through (a loaded machine) or not drained */
	int exit_status;	/* the target's wait status once reaped, else -1 */
};
void prof_ticker_stats(struct prof_ticker *k, struct prof_ticker_stats *st);
/* Joins the thread (every target thread let go); returns the batch it had. */
struct prof_grab *prof_ticker_stop(struct prof_ticker *k);

/* offcpu.c: wall mode from perf events, no thread stopped: on-CPU time
 * from cpu-clock samples, off-CPU time from switch-out samples weighed
 * by how long the thread stayed off.  The calls of a struct prof_backend. */
struct prof_offcpu;
struct prof_offcpu *prof_offcpu_attach(pid_t pid, const struct prof_options *o, char *err,
				       size_t errlen);
const char *prof_offcpu_describe(const struct prof_offcpu *f);
int prof_offcpu_sample(struct prof_offcpu *f, prof_emit_fn emit, void *ctx, char *err,
		       size_t errlen);
int64_t prof_offcpu_drain_ns(struct prof_offcpu *f);
uint64_t prof_offcpu_taken(struct prof_offcpu *f);
uint64_t prof_offcpu_lost(struct prof_offcpu *f);
int prof_offcpu_exit_status(const struct prof_offcpu *f);
double prof_offcpu_switch_hz(const struct prof_offcpu *f, size_t *threads);
void prof_offcpu_detach(struct prof_offcpu *f);

/* wall.c: prof_pause_new, checked once for permission; a long stop
 * timeout for a one-off read (o->rate_hz 0). */
struct prof_pause *prof_nat_pause_new(pid_t pid, const struct prof_options *o, char *err,
				      size_t errlen);

#endif
