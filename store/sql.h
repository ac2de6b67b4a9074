/* sql.h - what the writer and the reader share about the SQLite side (store/ only). */
#ifndef SONDA_STORE_SQL_H
#define SONDA_STORE_SQL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Tables, views, id-0 rows, application_id, user_version and meta, in one transaction. */
int store_schema_create(sqlite3 *db, char *err, size_t errlen);
/* The secondary indexes, built once recording is over. */
int store_schema_index(sqlite3 *db, char *err, size_t errlen);
int store_sql_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* At most STORE_HIST_BUCKETS * 6 bytes. */
#define STORE_HIST_BLOB_MAX (STORE_HIST_BUCKETS * 6)
size_t store_hist_encode(const uint32_t *hist, unsigned char *out);
int store_hist_decode(const unsigned char *in, size_t len, uint32_t *hist);

#endif
