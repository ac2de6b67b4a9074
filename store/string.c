/* string.c - interned strings: every name is stored once and known by its id. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

static int string_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct store_profile *p = ctx;

	return !strcmp(VEC_AT(p->strings, char *, id), key);
}

uint32_t store_string_intern(struct store_profile *p, const char *s)
{
	size_t len;
	uint32_t h, id;
	int64_t found;
	char *copy, **slot;

	if (!s)
		s = "";
	len = strlen(s);
	h = store_hash_bytes(s, len, 0);
	found = store_hash_find(&p->string_hash, h, string_eq, p, s);
	if (found >= 0)
		return (uint32_t)found;
	copy = malloc(len + 1);
	if (!copy)
		return 0;
	memcpy(copy, s, len + 1);
	id = p->strings.n;
	slot = store_vec_push(&p->strings);
	if (!slot) {
		free(copy);
		return 0;
	}
	*slot = copy;
	if (store_hash_insert(&p->string_hash, h, id) < 0) {
		/* Unfindable but valid: a later intern of s just adds a twin. */
	}
	return id;
}

const char *store_string(const struct store_profile *p, uint32_t id)
{
	if (id >= p->strings.n)
		return "";
	return VEC_AT(p->strings, char *, id);
}

uint32_t store_nstrings(const struct store_profile *p)
{
	return p->strings.n;
}

void store_strings_free(struct store_profile *p)
{
	for (uint32_t i = 0; i < p->strings.n; i++)
		free(VEC_AT(p->strings, char *, i));
}
