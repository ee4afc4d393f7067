/* error.c - messages and wire names of the TN_E* table (tocsin/error.h). */
#include "tocsin/error.h"

#include <stddef.h>

static const char *const messages[] = {
#define TN__X(name, wire, msg) msg,
	TN_ERRORS(TN__X)
#undef TN__X
};

static const char *const wire_codes[] = {
#define TN__X(name, wire, msg) wire,
	TN_ERRORS(TN__X)
#undef TN__X
};

const char *tn_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err < 0 && -err <= TN__ERROR_COUNT)
		return messages[-err - 1];
	return "unknown error";
}

const char *tn_wire_code(int err)
{
	if (err < 0 && -err <= TN__ERROR_COUNT)
		return wire_codes[-err - 1];
	return NULL;
}
