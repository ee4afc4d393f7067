/* event_names.c - names of event types and sectors (tocsin/event.h). */
#include "tocsin/event.h"

#include <string.h>

static const char *const type_names[] = {
#define TN__X(e, s) s,
	TN_EVENT_TYPES(TN__X)
#undef TN__X
};

static const char *const sector_names[] = {
#define TN__X(e, s) s,
	TN_SECTORS(TN__X)
#undef TN__X
};

const char *tn_event_type_name(enum tn_event_type type)
{
	if ((int)type < 0 || type >= TN_EV__COUNT)
		return NULL;
	return type_names[type];
}

const char *tn_sector_name(enum tn_sector sector)
{
	if ((int)sector < 0 || sector >= TN_SECTOR__COUNT)
		return NULL;
	return sector_names[sector];
}

static int lookup(const char *const *names, int n, const char *s, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return i;
	return -1;
}

int tn_event_type_parse(const char *s, size_t len)
{
	return lookup(type_names, TN_EV__COUNT, s, len);
}

int tn_sector_parse(const char *s, size_t len)
{
	return lookup(sector_names, TN_SECTOR__COUNT, s, len);
}

int tn_event_default_severity(enum tn_event_type type)
{
	switch (type) {
	case TN_EV_DOWN:
		return 2;
	case TN_EV_DEGRADED:
	case TN_EV_ALARM:
		return 3;
	default:
		return 5;
	}
}
