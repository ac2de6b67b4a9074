/* symbols.h - function symbols of one ELF file, for naming hook addresses off the hot path. */
#ifndef SONDA_TRACER_SYMBOLS_H
#define SONDA_TRACER_SYMBOLS_H

#include <stdint.h>

struct symtab;
/* Never NULL unless out of memory: an unreadable file gives an empty table. */
struct symtab *sym_open(const char *path);
/* The function containing off (an address minus the load bias), or NULL. */
const char *sym_find(const struct symtab *t, uint64_t off);
void sym_close(struct symtab *t);

#endif
