/*
 * replay_csv.c - an example adapter: send the events of a CSV file to
 * tocsind with the C SDK (tocsin/adapter.h) and print each result.
 *
 *   replay_csv [--endpoint E] --server-key server.pub --key adapter [--insecure]
 *              [--timeout-ms T] FILE.csv
 *
 * --key adapter reads adapter.key (the secret key, mode 0600) and adapter.pub,
 * as written by `tocsin keygen adapter`. The CSV starts with this header:
 *
 *   id,source,type,time,sector,asset,severity,summary
 *
 * `time` is integer milliseconds since the epoch or ISO 8601 UTC
 * (2026-11-26T16:52:00Z); empty severity or summary fields are left out. A
 * field containing a comma is quoted ("a, b"; "" for a quote inside).
 *
 * Output, one line per event: "ok ID", "dup ID" or "err ID CODE message".
 * Exit status: 0 when every event got a result (even a refusal), 1 when
 * some did not within the timeout or the file has bad lines, 2 on a usage
 * error.
 *
 * The SDK does the protocol work: batching, matching replies to events,
 * resending after a timeout or a "retry later" (E_RATE, E_UNAVAILABLE).
 * All this program does is turn rows into struct tn_event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/adapter.h"

#define HEADER  "id,source,type,time,sector,asset,severity,summary"
#define NFIELDS 8

/* Called by the SDK, from inside tn_adapter_poll/flush, once per event. */
static void on_result(void *ud, const char *id, int status, const char *code, const char *msg)
{
	int *refused = ud;

	if (status == TN_ADAPTER_OK) {
		printf("ok %s\n", id);
	} else if (status == TN_ADAPTER_DUP) {
		printf("dup %s\n", id); /* sent before (a resend, or a second run): harmless */
	} else {
		/* permanent: the event itself is wrong; resending will not help */
		printf("err %s %s %s\n", id, code, msg);
		(*refused)++;
	}
	fflush(stdout);
}

/* Split a CSV line in place into exactly n fields; returns 0 or -1. */
static int split(char *s, char **field, int n)
{
	int k = 0;

	for (;;) {
		char *out = s;

		if (k == n)
			return -1;
		field[k++] = out;
		if (*s == '"') { /* quoted: "" is a quote, commas are text */
			for (s++; *s && !(*s == '"' && s[1] != '"'); s++) {
				if (*s == '"')
					s++;
				*out++ = *s;
			}
			if (*s++ != '"' || (*s != ',' && *s != '\0'))
				return -1;
		} else {
			while (*s && *s != ',')
				*out++ = *s++;
		}
		if (*s == '\0') {
			*out = '\0';
			return k == n ? 0 : -1;
		}
		*out = '\0';
		s++;
	}
}

/* Fill ev from the fields of one row; the strings stay in the line buffer. */
static const char *to_event(char **f, struct tn_event *ev)
{
	int type = tn_event_type_parse(f[2], strlen(f[2]));
	int sector = tn_sector_parse(f[4], strlen(f[4]));

	memset(ev, 0, sizeof *ev);
	ev->id = f[0];
	ev->source = f[1];
	if (type < 0)
		return "type: expected asset.down, asset.degraded, asset.up, asset.alarm or "
		       "heartbeat";
	ev->type = (enum tn_event_type)type;
	if (tn_adapter_parse_time(f[3], &ev->time_us) != 0)
		return "time: expected integer milliseconds or ISO 8601 UTC (2026-11-26T16:52:00Z)";
	if (f[4][0] && sector < 0)
		return "sector: expected a sector code such as energy, water, transport, health";
	ev->sector = f[4][0] ? (enum tn_sector)sector : TN_SECTOR_NONE;
	ev->asset = f[5][0] ? f[5] : NULL;
	if (f[6][0]) {
		if (f[6][1] || f[6][0] < '1' || f[6][0] > '5')
			return "severity: expected an integer 1..5";
		ev->severity = f[6][0] - '0';
	}
	ev->summary = f[7][0] ? f[7] : NULL;
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: replay_csv [--endpoint E] --server-key server.pub --key adapter "
			"[--insecure] [--timeout-ms T] FILE.csv\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct tn_adapter_options o;
	struct tn_adapter *a;
	const char *server_pub = NULL, *key = NULL, *path = NULL;
	int timeout_ms = 30000, refused = 0, bad = 0, rc;
	char err[512], *line = NULL, *field[NFIELDS];
	size_t cap = 0;
	unsigned long lineno = 0;
	FILE *f;

	tn_adapter_options_init(&o);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc)
			o.endpoint = argv[++i];
		else if (strcmp(argv[i], "--server-key") == 0 && i + 1 < argc)
			server_pub = argv[++i];
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (strcmp(argv[i], "--insecure") == 0)
			o.insecure = true;
		else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			return usage();
	}
	if (!path || timeout_ms <= 0 || (!o.insecure && (!server_pub || !key)))
		return usage();

	/* 1. Keys and connection. The SDK copies what it needs from `o`. */
	if (!o.insecure && tn_adapter_options_keys(&o, server_pub, key, err, sizeof err) != 0) {
		fprintf(stderr, "replay_csv: %s\n", err);
		return 1;
	}
	o.on_result = on_result;
	o.ud = &refused;
	rc = tn_adapter_open(&o, &a, err, sizeof err);
	memset(o.secret_key, 0, sizeof o.secret_key);
	if (rc != 0) {
		fprintf(stderr, "replay_csv: %s\n", err);
		return 1;
	}

	/* 2. Rows to events. tn_adapter_send copies each event into the outbox. */
	f = fopen(path, "r");
	if (!f) {
		perror(path);
		tn_adapter_close(a);
		return 1;
	}
	while (getline(&line, &cap, f) >= 0) {
		struct tn_event ev;
		const char *why;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (lineno == 1) {
			if (strcmp(line, HEADER) != 0) {
				fprintf(stderr, "replay_csv: %s:1: expected the header %s\n", path,
					HEADER);
				bad++;
				break;
			}
			continue;
		}
		if (line[0] == '\0')
			continue;
		if (split(line, field, NFIELDS) != 0)
			why = "expected 8 comma-separated fields";
		else
			why = to_event(field, &ev);
		if (why) {
			fprintf(stderr, "replay_csv: %s:%lu: %s\n", path, lineno, why);
			bad++;
			continue;
		}
		/* A full outbox is backpressure: let the SDK work, then try again. */
		while ((rc = tn_adapter_send(a, &ev)) == TN_EFULL)
			tn_adapter_poll(a, 100);
		if (rc != 0) { /* refused before sending: a missing field, say */
			fprintf(stderr, "replay_csv: %s:%lu: %s\n", path, lineno,
				tn_adapter_last_error(a));
			bad++;
		}
		tn_adapter_poll(a, 0); /* send as we go */
	}
	free(line);
	fclose(f);

	/* 3. Wait for every result. */
	rc = tn_adapter_flush(a, timeout_ms);
	if (rc != 0)
		fprintf(stderr, "replay_csv: %s\n", tn_adapter_last_error(a));
	tn_adapter_close(a);
	return rc != 0 || bad ? 1 : 0;
}
