/*
 * tocsin/error.h - the one table of error codes.
 *
 * Every function of the project returns 0 or a negative TN_E* code. The codes
 * that can reach an adapter on the wire carry the wire name of design §3.1
 * ("E_SCHEMA", ...); internal codes carry NULL there and are never sent.
 * Adding a code means adding one line to TN_ERRORS, nothing else.
 */
#ifndef TOCSIN_ERROR_H
#define TOCSIN_ERROR_H

/* X(name, wire code or NULL, message) */
#define TN_ERRORS(X)                                                         \
	X(TN_EDECODE, "E_DECODE", "not valid MessagePack within limits")       \
	X(TN_ESCHEMA, "E_SCHEMA", "event does not match the schema")            \
	X(TN_EFORBIDDEN, "E_FORBIDDEN", "not allowed for this key")             \
	X(TN_ETIME, "E_TIME", "event time out of the accepted range")           \
	X(TN_ERATE, "E_RATE", "over this key's rate; retry later")             \
	X(TN_EUNAVAILABLE, "E_UNAVAILABLE", "unavailable; retry later")         \
	X(TN_ENOMEM, NULL, "out of memory")                                     \
	X(TN_EINVAL, NULL, "invalid argument")                                  \
	X(TN_EIO, NULL, "input/output error")                                   \
	X(TN_ECORRUPT, NULL, "corrupt data")                                    \
	X(TN_ECONFIG, NULL, "bad configuration")                                \
	X(TN_EFULL, NULL, "bounded buffer or queue full")                       \
	X(TN_ENOTFOUND, NULL, "not found")                                      \
	X(TN_EEXIST, "E_EXISTS", "already exists")                              \
	X(TN_EDB, NULL, "database error")                                       \
	X(TN_EZMQ, NULL, "ZeroMQ error")                                        \
	X(TN_ETIMEDOUT, NULL, "timed out")                                      \
	X(TN_ECLOSED, NULL, "closed")                                           \
	X(TN_ERANGE, NULL, "value out of range")                                \
	X(TN_EKEY, NULL, "bad or missing key")                                  \
	X(TN_EUNKNOWN, "E_UNKNOWN", "no such open incident or revision")

/* Position of each code in the table; the code itself is -(position + 1). */
enum tn__error_index {
#define TN__X(name, wire, msg) name##__IDX,
	TN_ERRORS(TN__X)
#undef TN__X
	TN__ERROR_COUNT
};

enum tn_error {
	TN_OK = 0,
#define TN__X(name, wire, msg) name = -(name##__IDX + 1),
	TN_ERRORS(TN__X)
#undef TN__X
};

/*
 * tn_strerror - human message for a code (0 gives "success").
 * Returns a static string; never NULL, also for unknown codes.
 * Any thread.
 */
const char *tn_strerror(int err);

/*
 * tn_wire_code - the wire name ("E_SCHEMA") of a code that may be sent to a
 * peer, or NULL for internal codes. Static string. Any thread.
 */
const char *tn_wire_code(int err);

#endif
