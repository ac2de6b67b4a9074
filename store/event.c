/* event.c - the optional tracer timeline: one row per finished task or span. */
#include "config.h"

#include "store/internal.h"

void store_event_add(struct store_profile *p, const struct store_event *e)
{
	struct store_event *n = store_vec_push(&p->events);

	if (n)
		*n = *e;
}

uint32_t store_nevents(const struct store_profile *p)
{
	return p->events.n;
}

const struct store_event *store_event_get(const struct store_profile *p, uint32_t i)
{
	if (i >= p->events.n)
		return NULL;
	return &VEC_AT(p->events, struct store_event, i);
}
