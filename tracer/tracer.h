/* tracer.h - libsonda's internal interface between its parts (not installed). */
#ifndef SONDA_TRACER_H
#define SONDA_TRACER_H

#include <stdint.h>

#include "tracer/region.h"

/* The region this process writes, NULL when libsonda is inactive. */
const char *sonda__region_path(void);
/* The mapped start of this process's section of that kind (and its table
 * entry in *sec), or NULL.  For other parts of libsonda (allocation
 * tracking) that keep their data in the region. */
void *sonda__section(uint32_t kind, struct sonda_section **sec);

#endif
