/*
 * registry_csv.h - the registry's CSV files (design §2): a streaming RFC 4180
 * reader, a bounded list of error messages, and the loader of assets.csv and
 * dependencies.csv into a graph.
 *
 * The reader is general (the replay tool reads scenario files with it): rows
 * of fields, quoted fields with doubled quotes, commas and line breaks inside
 * quotes, CRLF or LF line ends, an optional UTF-8 byte order mark, blank
 * lines skipped. It is strict where RFC 4180 is (a quote only in a quoted
 * field, nothing between a closing quote and the next comma), but it keeps
 * reading after such a fault so that one bad row costs one message, not the
 * rest of the file.
 *
 * Messages follow one format, so that an editor can jump to them:
 *   FILE:LINE:COLUMN: <column name>: expected <what>, got "<value>"
 * with LINE the line where the field starts and COLUMN the 1-based field
 * number. Values are shown escaped (\" \\ \xNN) and cut at 80 bytes.
 *
 * This is file I/O, so it lives in common/, not in the pure correlator.
 */
#ifndef TN_REGISTRY_CSV_H
#define TN_REGISTRY_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tocsin/graph.h"

#define TN_CSV_MAX_FIELD  65536  /* bytes of one field */
#define TN_CSV_MAX_FIELDS 64     /* fields of one row */
#define TN_CSV_ERRORS_MAX 100    /* messages kept; the rest are only counted */
#define TN_CSV_PROGRESS   100000 /* rows between two progress calls */

/* ---- the reader ------------------------------------------------------------ */

struct tn_csv_reader;

/* The first syntax fault of a row. */
struct tn_csv_fault {
	size_t field;   /* 1-based field number */
	uint64_t line;  /* where that field starts */
	char what[192]; /* "expected a closing quote, got end of file" */
};

/*
 * A row: n fields, each NUL-terminated (len bytes; a field holding a NUL is
 * a fault), field_line[i] the line where field i starts. Everything points
 * into the reader and lasts until its next tn_csv_next or tn_csv_close.
 * fault is NULL, or the row's first syntax fault: the fields are then what a
 * lenient reading gave and should be reported, not used.
 */
struct tn_csv_row {
	size_t n;
	const char *const *field;
	const size_t *len;
	const uint64_t *field_line;
	uint64_t line;   /* where the row starts */
	bool quoted_any; /* some field was in quotes */
	const struct tn_csv_fault *fault;
};

/*
 * tn_csv_open_file - a reader of `f` (borrowed, left open; read with fread
 * in large blocks). tn_csv_open_buffer - a reader of the len bytes at buf
 * (borrowed: it must outlive the reader). name (copied) is what messages call
 * the file. Return 0 and set *out (caller owns it: tn_csv_close), TN_EINVAL,
 * TN_ENOMEM. A reader belongs to one thread at a time.
 */
int tn_csv_open_file(FILE *f, const char *name, struct tn_csv_reader **out);
int tn_csv_open_buffer(const void *buf, size_t len, const char *name, struct tn_csv_reader **out);
void tn_csv_close(struct tn_csv_reader *r);

/* The name given at open. Lives as long as the reader. */
const char *tn_csv_name(const struct tn_csv_reader *r);

/* The size of the whole input in bytes when known (a buffer, a regular
 * file), else 0: a hint for sizing what the rows will fill. */
uint64_t tn_csv_size(const struct tn_csv_reader *r);

/*
 * tn_csv_next - the next row into *row. Returns 1 (a row, perhaps with a
 * fault), 0 (end of input), TN_EIO (a read error: errno is kept), TN_ENOMEM.
 * Fields longer than TN_CSV_MAX_FIELD and fields past TN_CSV_MAX_FIELDS are
 * faults (bounded memory, whatever the input).
 */
int tn_csv_next(struct tn_csv_reader *r, struct tn_csv_row *row);

/* ---- error messages -------------------------------------------------------- */

struct tn_csv_errors {
	size_t total; /* errors found */
	size_t n;     /* messages kept, <= TN_CSV_ERRORS_MAX */
	char *msg[TN_CSV_ERRORS_MAX];
	bool oom; /* a message was lost for want of memory (it is still counted) */
};

/* Zero it (a zeroed struct is also fine), free what it holds, add one
 * (printf-style; counted even when not kept). Any thread owning e. */
void tn_csv_errors_init(struct tn_csv_errors *e);
void tn_csv_errors_free(struct tn_csv_errors *e);
void tn_csv_errors_add(struct tn_csv_errors *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print each message on a line of its own after `prefix` (may be ""), then
 * "... and N more errors" when some were not kept. */
void tn_csv_errors_print(const struct tn_csv_errors *e, FILE *f, const char *prefix);

/*
 * tn_csv_quote - `len` bytes at s as a message shows a value: in double
 * quotes, escaped, cut at 80 bytes with "...". Writes at most size bytes
 * (size >= 8) to buf and returns buf. Pure.
 */
const char *tn_csv_quote(const char *s, size_t len, char *buf, size_t size);

/* ---- the registry ---------------------------------------------------------- */

/* The header rows, exactly (design §2). */
#define TN_ASSETS_CSV_HEADER                                                                       \
	"id,sector,kind,name,lat,lon,area,criticality,population,backup_s,sensitivity"
#define TN_DEPS_CSV_HEADER "dependent,provider,kind,delay_min_s,delay_max_s"

/*
 * What a loader tells its caller as it goes; every member may be NULL.
 * - asset / dependency: each row as added to the builder, in file order:
 *   the values, and the row as the file wrote it (row->field[4] is the
 *   latitude's text), both borrowed for the call; delays -1 when the file
 *   left them empty. Called only while no error has been found (a file with
 *   errors loads nothing, so there is no point in copying its rows). A
 *   non-zero return stops the load with that code.
 * - progress: every TN_CSV_PROGRESS rows of a file, and once at its end
 *   (done true).
 */
struct tn_registry_csv_sink {
	int (*asset)(void *ctx, const struct tn_asset *a, const struct tn_csv_row *row);
	int (*dependency)(void *ctx, const struct tn_dependency *d, const struct tn_csv_row *row);
	void (*progress)(void *ctx, const char *file, uint64_t rows, bool done);
	void *ctx;
};

/*
 * tn_registry_csv_read - read an assets file and a dependencies file, check
 * every row (all errors, into errs: bad syntax, wrong field count, bad
 * header, a value out of range, an unknown sector, a duplicate id or edge, a
 * dependency on an unknown asset, ...), and build the graph.
 * Returns 0 and sets *out (caller owns it: tn_graph_free) when there was no
 * error at all (out may be NULL: check only, build nothing); TN_EINVAL when
 * the files hold errors (errs says which; *out NULL); TN_EIO (a read error,
 * in errs too); TN_ENOMEM; or what a sink callback returned. The readers are
 * borrowed. sink may be NULL. errs is added to, not reset. A dependency on
 * an asset whose own row was refused is not reported again. Any thread
 * owning the readers.
 */
int tn_registry_csv_read(struct tn_csv_reader *assets, struct tn_csv_reader *deps,
			 const struct tn_registry_csv_sink *sink, struct tn_graph **out,
			 struct tn_csv_errors *errs);

/*
 * tn_registry_csv_load - the same from two paths, without a sink (messages
 * name the files as given). TN_EIO also when a file cannot be opened (in
 * errs).
 */
int tn_registry_csv_load(const char *assets_path, const char *deps_path, struct tn_graph **out,
			 struct tn_csv_errors *errs);

#endif
