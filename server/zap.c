/* zap.c - a ZAP request's wire format (zap.h). */
#include "zap.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

void tn__zap_reply(void *sock, const struct tn__zap_req *r, const char *code, const char *text,
		   const char *user)
{
	zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(sock, zmq_msg_data((zmq_msg_t *)&r->part[1]), zmq_msg_size(&r->part[1]),
		 ZMQ_SNDMORE);
	zmq_send(sock, code, strlen(code), ZMQ_SNDMORE);
	zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
	zmq_send(sock, "", 0, 0);
}

static void copy_part(char *dst, size_t cap, zmq_msg_t *m)
{
	snprintf(dst, cap, "%.*s", (int)zmq_msg_size(m), (const char *)zmq_msg_data(m));
}

bool tn__zap_recv(void *sock, struct tn__zap_req *r)
{
	bool more = true;

	r->n = 0;
	r->domain[0] = r->address[0] = r->mechanism[0] = r->key[0] = 0;
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, sock, r->n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(&m);
			if (r->n == 0)
				return false;
			break;
		}
		more = zmq_msg_more(&m);
		if (r->n < TN__ZAP_PARTS)
			r->part[r->n++] = m;
		else
			zmq_msg_close(&m);
	}
	if (r->n < 6) {
		/* Only libzmq talks to this socket; a short request is a bug. */
		tn_error("malformed zap request", "parts=%d", r->n);
		if (r->n >= 2)
			tn__zap_reply(sock, r, "500", "malformed request", "");
		tn__zap_done(r);
		return true;
	}
	copy_part(r->domain, sizeof r->domain, &r->part[2]);
	copy_part(r->address, sizeof r->address, &r->part[3]);
	copy_part(r->mechanism, sizeof r->mechanism, &r->part[5]);
	if (strcmp(r->mechanism, "CURVE") == 0 && r->n >= 7 && zmq_msg_size(&r->part[6]) == 32)
		zmq_z85_encode(r->key, zmq_msg_data(&r->part[6]), 32);
	return true;
}

void tn__zap_done(struct tn__zap_req *r)
{
	for (int i = 0; i < r->n; i++)
		zmq_msg_close(&r->part[i]);
	r->n = 0;
}
