/*
 * tocsin/event.h - the event model and the wire constants of protocol v1.
 *
 * An event is what an adapter reports about one asset at one moment (design
 * §3.1). This header is shared by the server, the adapter SDK and the tools,
 * so that the limits a sender respects are the limits the server enforces.
 */
#ifndef TOCSIN_EVENT_H
#define TOCSIN_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wire limits (design §3.1, §7). */
#define TN_WIRE_MAX_FRAME (1024 * 1024) /* bytes per ZeroMQ frame */
#define TN_WIRE_MAX_BATCH 1000          /* events per batch frame */
#define TN_WIRE_MAX_DEPTH 4             /* nesting: batch > event > attrs/geo > value */
#define TN_WIRE_MAX_ID 128
#define TN_WIRE_MAX_SOURCE 256
#define TN_WIRE_MAX_ASSET 64
#define TN_WIRE_MAX_SUMMARY 512
#define TN_WIRE_MAX_ATTRS 32
#define TN_WIRE_MAX_ATTR_KEY 64
#define TN_WIRE_MAX_ATTR_STR 1024

/* Default endpoints; loopback only. */
#define TN_DEFAULT_INGEST "tcp://127.0.0.1:7450"
#define TN_DEFAULT_ALERTS "tcp://127.0.0.1:7451"
#define TN_DEFAULT_CONTROL "tcp://127.0.0.1:7452"
#define TN_DEFAULT_ALERTS_OFFICIAL "tcp://127.0.0.1:7453" /* the official clearance's stream */
#define TN_DEFAULT_ALERTS_PUBLIC "tcp://127.0.0.1:7454"   /* the public clearance's */

/* X(enum, wire name) */
#define TN_EVENT_TYPES(X)                                                    \
	X(TN_EV_DOWN, "asset.down")                                           \
	X(TN_EV_DEGRADED, "asset.degraded")                                   \
	X(TN_EV_UP, "asset.up")                                               \
	X(TN_EV_ALARM, "asset.alarm")                                         \
	X(TN_EV_HEARTBEAT, "heartbeat")

enum tn_event_type {
#define TN__X(e, s) e,
	TN_EVENT_TYPES(TN__X)
#undef TN__X
	TN_EV__COUNT
};

/* The UK's 13 national infrastructure sectors plus data infrastructure. */
#define TN_SECTORS(X)                                                        \
	X(TN_SECTOR_CHEMICALS, "chemicals")                                   \
	X(TN_SECTOR_CIVIL_NUCLEAR, "civil-nuclear")                           \
	X(TN_SECTOR_COMMUNICATIONS, "communications")                         \
	X(TN_SECTOR_DEFENCE, "defence")                                       \
	X(TN_SECTOR_EMERGENCY_SERVICES, "emergency-services")                 \
	X(TN_SECTOR_ENERGY, "energy")                                         \
	X(TN_SECTOR_FINANCE, "finance")                                       \
	X(TN_SECTOR_FOOD, "food")                                             \
	X(TN_SECTOR_GOVERNMENT, "government")                                 \
	X(TN_SECTOR_HEALTH, "health")                                         \
	X(TN_SECTOR_SPACE, "space")                                           \
	X(TN_SECTOR_TRANSPORT, "transport")                                   \
	X(TN_SECTOR_WATER, "water")                                           \
	X(TN_SECTOR_DATA, "data")

enum tn_sector {
	TN_SECTOR_NONE = -1, /* heartbeats carry no sector */
#define TN__X(e, s) e,
	TN_SECTORS(TN__X)
#undef TN__X
	TN_SECTOR__COUNT
};

enum tn_attr_kind { TN_ATTR_STR, TN_ATTR_INT, TN_ATTR_FLOAT, TN_ATTR_BOOL };

struct tn_attr {
	const char *key; /* NUL-terminated UTF-8 */
	enum tn_attr_kind kind;
	union {
		const char *s; /* NUL-terminated UTF-8 */
		int64_t i;
		double f;
		bool b;
	} v;
};

/*
 * One event. All strings are NUL-terminated UTF-8 without embedded NULs and
 * are borrowed: whoever fills the struct owns them (the server's decoder
 * points them into a per-frame arena; an SDK user points them at its own
 * buffers). NULL means "absent" for the optional fields.
 */
struct tn_event {
	const char *id;     /* required, 1..TN_WIRE_MAX_ID bytes */
	const char *source; /* required, 1..TN_WIRE_MAX_SOURCE bytes */
	enum tn_event_type type;
	int64_t time_us;     /* event time, microseconds since the Unix epoch, UTC */
	enum tn_sector sector; /* TN_SECTOR_NONE only for heartbeats */
	const char *asset;   /* NULL only for heartbeats */
	int severity;        /* 1 (most severe) .. 5; 0 = absent, default from type */
	const char *summary; /* optional, <= TN_WIRE_MAX_SUMMARY bytes */
	bool has_geo;
	double lat, lon; /* WGS 84 degrees, when has_geo */
	const struct tn_attr *attrs;
	size_t n_attrs; /* <= TN_WIRE_MAX_ATTRS */
};

/*
 * tn_event_type_name / tn_sector_name - wire names; NULL when out of range.
 * tn_event_type_parse / tn_sector_parse - the reverse, from a string of `len`
 * bytes (not necessarily NUL-terminated); return the enum value or -1.
 * tn_event_default_severity - the severity an event of `type` gets when it
 * carries none (down 2, degraded 3, alarm 3, up 5, heartbeat 5).
 * All pure; any thread.
 */
const char *tn_event_type_name(enum tn_event_type type);
const char *tn_sector_name(enum tn_sector sector);
int tn_event_type_parse(const char *s, size_t len);
int tn_sector_parse(const char *s, size_t len);
int tn_event_default_severity(enum tn_event_type type);

#endif
