/*
 * replay_server.h - a drill run by a running tocsind (`tocsin replay FILE
 * --server ENDPOINT --drill NAME`; design §6, docs/drills.md).
 */
#ifndef TN_REPLAY_SERVER_H
#define TN_REPLAY_SERVER_H

#include <stdbool.h>

#include "scenario.h"

struct tn__replay_server_opts {
	const char *server;     /* the control endpoint */
	const char *drill;      /* the drill's name: its stream on the server */
	const char *key;        /* the planner's secret key file */
	const char *server_key; /* the server's public key file */
	bool insecure;          /* no CURVE (a server with ingest.insecure) */
	double speed;           /* 0: as fast as the server takes them */
	bool json;              /* print every revision as a JSON line on stdout */
};

/*
 * tn__replay_server - run `sc` (borrowed) as drill o->drill on the server:
 * start it, send its events (paced at o->speed, with ticks in event time),
 * stop it with the input's last time, wait until it has ended, and read its
 * revisions back (`since` on its stream). Progress on stderr when a
 * terminal; every error said there. Returns 0, TN_EKEY, TN_EZMQ,
 * TN_ETIMEDOUT, TN_EUNAVAILABLE (the server refused: it said why),
 * TN_ECORRUPT, TN_ENOMEM. One thread.
 */
int tn__replay_server(const struct tn__replay_server_opts *o, const struct tn__scenario *sc);

#endif
