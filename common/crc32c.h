/*
 * crc32c.h - CRC-32C (Castagnoli), as used by iSCSI, ext4 and the journal.
 * tn__crc32c(0, buf, len) is the CRC of buf; pass a previous result as `crc`
 * to continue over further bytes. Pure; any thread.
 */
#ifndef TN_CRC32C_H
#define TN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t tn__crc32c(uint32_t crc, const void *buf, size_t len);

#endif
