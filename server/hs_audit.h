/*
 * hs_audit.h - bounding the audit of failed handshakes (docs/security.md,
 * "Hostile peers"): the failures libzmq reports only to a socket monitor
 * (NULL or PLAIN against CURVE, a wrong server key, garbage, a slow loris,
 * a connection dropped mid-handshake), which a peer can bring on as fast as
 * it can connect.
 *
 * Per window (a minute), per peer address and reason (a mechanism
 * mismatch, a wrong server key, garbage, a timeout: a handful of kinds):
 * the first failure is audited at once, the rest counted and summed up in
 * one row when the window ends. At most TN__HS_ADDRS (address, reason)
 * pairs are followed per window; failures beyond are counted together (one
 * row at the window's end) and as dropped.
 * So a flood leaves at most 2 * TN__HS_ADDRS + 1 rows a minute.
 *
 * Pure (no I/O, no clock): the caller says the window and writes the rows.
 * Thread contract: the one thread that owns the table (the ingest thread).
 */
#ifndef TN_HS_AUDIT_H
#define TN_HS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TN__HS_ADDRS 64
#define TN__HS_ADDR_LEN 64

struct tn__hs_entry {
	char addr[TN__HS_ADDR_LEN]; /* the peer's IP address (no port), or "unknown" */
	char reason[96];           /* the first failure's */
	uint32_t count;            /* failures this window, the first included */
};

struct tn__hs_table {
	int64_t window;   /* the caller's window number (e.g. monotonic minutes) */
	uint32_t n;
	struct tn__hs_entry e[TN__HS_ADDRS];
	uint32_t others;  /* failures of addresses beyond TN__HS_ADDRS this window */
};

/* What the caller writes to the audit trail. */
struct tn__hs_row {
	const char *addr;   /* origin: an address, or NULL (the others) */
	const char *reason; /* the first failure's reason (NULL: the others) */
	uint32_t count;     /* 1 for a first failure; else failures after the first */
	bool summary;       /* true: the window's sum; false: a first failure */
};

/* tn__hs_init - an empty table in window `window`. */
struct sockaddr;

/*
 * tn__hs_addr_format - a peer's IP address without its port, as the audit
 * trail records it (inet_ntop; "ipc" for a Unix socket; "" when unknown),
 * into out (at most outlen bytes, NUL-terminated). Pure; any thread.
 */
void tn__hs_addr_format(const struct sockaddr *sa, unsigned len, char *out, size_t outlen);

void tn__hs_init(struct tn__hs_table *t, int64_t window);

/*
 * tn__hs_note - a failure from `addr` (borrowed; cut to TN__HS_ADDR_LEN - 1
 * bytes) at `window`, with `reason` (borrowed). A new window first ends the
 * old one (its summaries through `emit`). Then, when it is this address's
 * first failure of the window, emits its row; otherwise counts it. Returns
 * false when the failure was only counted among the others (not followed:
 * the table was full), which the caller counts as dropped.
 */
bool tn__hs_note(struct tn__hs_table *t, int64_t window, const char *addr, const char *reason,
		 void (*emit)(void *ud, const struct tn__hs_row *row), void *ud);

/*
 * tn__hs_tick - end the window if `window` is past it: a summary row per
 * address that failed more than once, and one for the others (if any);
 * then an empty table in `window`.
 */
void tn__hs_tick(struct tn__hs_table *t, int64_t window,
		 void (*emit)(void *ud, const struct tn__hs_row *row), void *ud);

#endif
