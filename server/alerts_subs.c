/*
 * alerts_subs.c - who is subscribed to each alerts stream, so that a console
 * whose key has ended can be cut off (alerts_int.h, tn__subs_*).
 *
 * A PUB socket sends to whoever passed the handshake and never looks again:
 * a console revoked, expired or rotated out would go on receiving alerts
 * until it reconnected. The streams are therefore XPUB sockets with
 * ZMQ_XPUB_VERBOSE, which hand the alerts thread every subscription message
 * together with the key (ZAP's User-Id) and the file descriptor of the
 * connection it came on (ZMQ_SRCFD). This table remembers them; a sweep
 * asks, for every connection, whether its key may still read that stream,
 * and shuts down the TCP connection of one that may not. libzmq then sees
 * the connection end, the console's SUB reconnects, and ZAP refuses the new
 * handshake, as for any ended key.
 *
 * File descriptors are reused: a connection that ended may have left its
 * number to another. So each entry also keeps the peer's address and port
 * as getpeername gave them when the subscription arrived; a sweep that finds
 * another peer (or none) behind the number drops the entry and touches
 * nothing. A new connection reusing the number of one still listed
 * replaces the entry at its first subscription.
 *
 * Bounded: at most `max` connections are tracked. One that does not fit is
 * shut down at once (fail closed: a reader we could never cut off is not
 * admitted) and counted; the table is swept of ended connections first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "alerts_int.h"
#include "tocsin/error.h"

struct sub {
	int fd;            /* -1: free */
	int clearance;     /* the stream's (enum tn_sensitivity) */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char key[TN__SUBS_KEY_MAX + 1];
	char name[TN__SUBS_NAME_MAX + 1]; /* the console's, for the audit after a revocation */
};

struct tn__subs {
	size_t n, max;
	struct sub *s;
	tn__subs_keep_fn keep;
	tn__subs_cut_fn on_cut;
	void *ud;
};

int tn__subs_new(size_t max, tn__subs_keep_fn keep, tn__subs_cut_fn on_cut, void *ud,
		 struct tn__subs **out)
{
	*out = NULL;
	if (max == 0)
		return TN_EINVAL;
	struct tn__subs *t = calloc(1, sizeof *t);
	if (!t || !(t->s = calloc(max, sizeof *t->s))) {
		free(t);
		return TN_ENOMEM;
	}
	t->max = max;
	t->keep = keep;
	t->on_cut = on_cut;
	t->ud = ud;
	*out = t;
	return 0;
}

void tn__subs_free(struct tn__subs *t)
{
	if (!t)
		return;
	free(t->s);
	free(t);
}

size_t tn__subs_count(const struct tn__subs *t)
{
	return t ? t->n : 0;
}

/* The peer now behind fd is the one we saw subscribe. */
static bool same_peer(const struct sub *e)
{
	struct sockaddr_storage now;
	socklen_t len = sizeof now;
	if (getpeername(e->fd, (struct sockaddr *)&now, &len) != 0)
		return false;
	return len == e->peer_len && memcmp(&now, &e->peer, len) == 0;
}

static void drop(struct tn__subs *t, size_t i)
{
	t->s[i] = t->s[--t->n];
}

int tn__subs_note(struct tn__subs *t, int fd, int clearance, const char *key, const char *name)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof peer;
	if (fd < 0 || !key || strlen(key) > TN__SUBS_KEY_MAX)
		return TN_EINVAL;
	if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
		return TN_ENOTFOUND; /* already gone: nothing to cut later */
	for (size_t i = 0; i < t->n; i++) {
		struct sub *e = &t->s[i];
		if (e->fd != fd)
			continue;
		if (e->peer_len == len && memcmp(&e->peer, &peer, len) == 0 &&
		    e->clearance == clearance && strcmp(e->key, key) == 0)
			return 0; /* one more topic of a connection we know */
		drop(t, i);       /* the number was reused */
		break;
	}
	if (t->n == t->max)
		(void)tn__subs_sweep(t);
	if (t->n == t->max) {
		shutdown(fd, SHUT_RDWR);
		return TN_EFULL;
	}
	struct sub *e = &t->s[t->n++];
	e->fd = fd;
	e->clearance = clearance;
	e->peer = peer;
	e->peer_len = len;
	snprintf(e->key, sizeof e->key, "%s", key);
	snprintf(e->name, sizeof e->name, "%s", name ? name : "");
	return 0;
}

size_t tn__subs_sweep(struct tn__subs *t)
{
	size_t cut = 0;
	for (size_t i = 0; i < t->n;) {
		struct sub *e = &t->s[i];
		if (!same_peer(e)) {
			drop(t, i);
			continue;
		}
		if (t->keep(t->ud, e->key, e->clearance)) {
			i++;
			continue;
		}
		if (t->on_cut)
			t->on_cut(t->ud, e->key, e->name, e->clearance,
				  (const struct sockaddr *)&e->peer, e->peer_len);
		shutdown(e->fd, SHUT_RDWR);
		cut++;
		drop(t, i);
	}
	return cut;
}
