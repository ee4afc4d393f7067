/*
 * cap.h - one incident revision as an OASIS CAP 1.2 <alert> (design §3.2,
 * docs/control-rooms.md "CAP 1.2").
 *
 * Input is the revision's JSON body as the engine emits it and the store
 * keeps it (tocsin/correlator.h, struct tn_change: `{"incident":...,"rev":
 * ...}`, with or without a leading "seq"); output is an XML document built
 * with libxml2's xmlTextWriter, never by pasting strings. Everything in it is
 * derived from the body and the options, so the same revision always gives
 * the same bytes: an identifier printed today is the one a receiver saw when
 * the revision was first sent, and `references` can name earlier messages
 * without storing anything about them.
 *
 * The body carries no coordinates (asset ids only). The area's circle or
 * polygon therefore comes from a lookup the caller gives: over a struct
 * tn_graph (tn__cap_locate_graph), over rows read from the `assets` table
 * (tools/cmd_cap.c), or none (then the area has its description only).
 *
 * Pure apart from memory: no I/O, no clock; any thread, with its own
 * arguments (libxml2 must have been initialised by the process, which
 * xmlTextWriter does on first use; call xmlInitParser once from the main
 * thread before using this from several threads).
 */
#ifndef TN_CAP_H
#define TN_CAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TN_CAP_NS "urn:oasis:names:tc:emergency:cap:1.2"
#define TN_CAP_SENDER_MAX 255	  /* bytes of a sender */
#define TN_CAP_TIME_LEN 25	  /* "2026-11-26T16:52:00-00:00", without the NUL */
#define TN_CAP_LIST_MAX 50	  /* assets named in a description before "and N more" */
#define TN_CAP_POLYGON_MAX 100	  /* hull vertices; beyond, the area is a circle */
#define TN_CAP_MARGIN_KM 0.25	  /* distance kept between an asset and the area's edge */

/*
 * An earlier message of the same incident: its revision number and the
 * `updated` time of that revision's body (its CAP `sent`). The identifier
 * is derived from them and the options, exactly as for the message itself.
 */
struct tn__cap_ref {
	uint32_t rev;
	int64_t updated_us;
};

/*
 * tn__cap_locate_fn - the WGS 84 position of an asset by id: true and
 * *lat, *lon set, or false when unknown (unregistered, or a source name).
 * `asset` is borrowed for the call. Called on the converter's thread.
 */
typedef bool (*tn__cap_locate_fn)(void *ctx, const char *asset, double *lat, double *lon);

struct tn__cap_opts {
	const char *sender;	 /* required: 1..TN_CAP_SENDER_MAX bytes of printable ASCII
				    without space, comma, '<' or '&' ("tocsin@example.org") */
	const char *stream;	 /* the revision's stream; NULL or "live" for real incidents.
				    Other streams (drills) are named in the identifier, so that
				    a drill replaying live events never reuses a live id */
	const char *sender_name; /* senderName; NULL gives "Tocsin" */
	bool public_scope;	 /* scope Public; default Restricted, with a restriction */
	tn__cap_locate_fn locate; /* NULL: no geometry */
	void *locate_ctx;
	/* The earlier messages of this incident (caller's, borrowed), revisions
	   in increasing order, all below the body's rev. Required (at least one)
	   for a revision after the first: Update and Cancel reference them. */
	const struct tn__cap_ref *refs;
	size_t nrefs;
};

/*
 * tn__cap_alert - the CAP 1.2 document of the revision in the `len` bytes
 * at `body` (borrowed). Sets *xml to a NUL-terminated UTF-8 document (the
 * caller owns it: free()) and *xml_len to its length. Returns 0, TN_EINVAL
 * (the body is not a revision: missing or mistyped key, bad time; or a bad
 * sender or stream; or refs missing, unordered or not below rev), TN_ERANGE
 * (a time outside years 1000..9999) or TN_ENOMEM. Any thread (see above).
 */
int tn__cap_alert(const char *body, size_t len, const struct tn__cap_opts *o, char **xml,
		  size_t *xml_len);

/*
 * tn__cap_ref_of - the rev and `updated` of a revision body (`len` bytes,
 * borrowed), for the refs of a later one. Returns 0 or TN_EINVAL. Pure.
 */
int tn__cap_ref_of(const char *body, size_t len, struct tn__cap_ref *out);

/*
 * tn__cap_identifier - "<sender>/<incident>/<rev>", or for a stream other
 * than live "<sender>/<stream>/<incident>/<rev>" with the stream's bytes
 * outside [A-Za-z0-9._:@-] written %XX, into buf (cap bytes, NUL-terminated).
 * Returns 0, TN_EINVAL (a bad sender, an empty stream, or an incident that is
 * no valid sender either) or TN_ERANGE (buf too small). Pure.
 */
int tn__cap_identifier(const char *sender, const char *stream, const char *incident,
		       uint32_t rev, char *buf, size_t cap);

/* tn__cap_sender_ok - whether s (borrowed) is a valid sender (see
 * struct tn__cap_opts). Pure. */
bool tn__cap_sender_ok(const char *s);

/*
 * tn__cap_time - `us` (microseconds since 1970, UTC) as CAP wants it: whole
 * seconds (truncated), offset -00:00, into buf (at least TN_CAP_TIME_LEN + 1
 * bytes). Returns 0 or TN_ERANGE (outside years 1000..9999). Pure.
 */
int tn__cap_time(int64_t us, char *buf);

/*
 * tn__cap_parse_time - an RFC 3339 UTC time as the engine writes it
 * ("2026-11-26T16:52:00.123Z"; fraction optional) into microseconds.
 * Returns 0 or TN_EINVAL. Pure.
 */
int tn__cap_parse_time(const char *s, int64_t *us);

/*
 * tn__cap_locate_graph - a tn__cap_locate_fn over a struct tn_graph (ctx:
 * const struct tn_graph *, borrowed; read-only, so any thread).
 */
bool tn__cap_locate_graph(void *ctx, const char *asset, double *lat, double *lon);

#endif
