/*
 * zap.h - one ZAP request (ZeroMQ RFC 27) read from, and answered on, a
 * handler's REP socket. The policy (which keys, which domains) stays with
 * each handler: the ingest thread's admits adapters, the alerts thread's
 * consoles; this is only the wire format both speak.
 *
 * Thread contract: the thread that owns the socket.
 */
#ifndef TN_ZAP_H
#define TN_ZAP_H

#include <stdbool.h>
#include <zmq.h>

#include "keys.h"

#define TN__ZAP_PARTS 8

struct tn__zap_req {
	zmq_msg_t part[TN__ZAP_PARTS]; /* version, id, domain, address, identity, mechanism, ... */
	int n;
	char domain[32], address[64], mechanism[16];
	char key[TN_KEY_Z85_LEN + 1]; /* CURVE client key (Z85), or "" */
};

/*
 * tn__zap_recv - read one request if one is waiting (never blocks for the
 * first part). Returns false when none was; true with *r filled (close it
 * with tn__zap_done). A malformed request (libzmq's bug, never a peer's) is
 * answered 500, logged, and returned with r->n = 0: nothing more to do.
 */
bool tn__zap_recv(void *sock, struct tn__zap_req *r);

/* tn__zap_reply - answer `r` with status `code` ("200", "400"), `text`
 * and the user id `user` ("" when refused). */
void tn__zap_reply(void *sock, const struct tn__zap_req *r, const char *code, const char *text,
		   const char *user);

/* Release the parts of `r`. */
void tn__zap_done(struct tn__zap_req *r);

#endif
