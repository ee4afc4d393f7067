/* hs_audit.c - failed handshakes, audited per address per window (hs_audit.h). */
#include "hs_audit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

void tn__hs_addr_format(const struct sockaddr *sa, unsigned len, char *out, size_t outlen)
{
	out[0] = '\0';
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
	else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)outlen);
	else if (sa->sa_family == AF_UNIX)
		snprintf(out, outlen, "ipc");
}

void tn__hs_init(struct tn__hs_table *t, int64_t window)
{
	t->window = window;
	t->n = 0;
	t->others = 0;
}

void tn__hs_tick(struct tn__hs_table *t, int64_t window,
		 void (*emit)(void *ud, const struct tn__hs_row *row), void *ud)
{
	if (window == t->window)
		return;
	for (uint32_t i = 0; i < t->n; i++)
		if (t->e[i].count > 1) {
			struct tn__hs_row row = {.addr = t->e[i].addr,
						 .reason = t->e[i].reason,
						 .count = t->e[i].count - 1,
						 .summary = true};
			emit(ud, &row);
		}
	if (t->others) {
		struct tn__hs_row row = {.count = t->others, .summary = true};
		emit(ud, &row);
	}
	tn__hs_init(t, window);
}

bool tn__hs_note(struct tn__hs_table *t, int64_t window, const char *addr, const char *reason,
		 void (*emit)(void *ud, const struct tn__hs_row *row), void *ud)
{
	char a[TN__HS_ADDR_LEN];

	tn__hs_tick(t, window, emit, ud);
	snprintf(a, sizeof a, "%s", addr && *addr ? addr : "unknown");
	for (uint32_t i = 0; i < t->n; i++)
		if (strcmp(t->e[i].addr, a) == 0 &&
		    strncmp(t->e[i].reason, reason ? reason : "", sizeof t->e[i].reason - 1) == 0) {
			if (t->e[i].count < UINT32_MAX)
				t->e[i].count++;
			return true;
		}
	if (t->n == TN__HS_ADDRS) {
		if (t->others < UINT32_MAX)
			t->others++;
		return false;
	}
	struct tn__hs_entry *e = &t->e[t->n++];
	memcpy(e->addr, a, sizeof a);
	snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
	e->count = 1;
	struct tn__hs_row row = {.addr = e->addr, .reason = e->reason, .count = 1};
	emit(ud, &row);
	return true;
}
