/*
 * keys.h - CURVE key files.
 *
 * `tocsin keygen NAME` writes NAME.key (the secret key, mode 0600) and
 * NAME.pub (the public key). Each file is one line: 40 characters of Z85
 * (ZeroMQ's RFC 32 encoding of the 32-byte key), then a newline. Lines
 * starting with '#' are comments and are skipped when reading.
 *
 * A secret key file readable by group or others is refused (as ssh does):
 * a leaked adapter key lets anyone speak for that sector.
 *
 * Pure file I/O; any thread.
 */
#ifndef TN_KEYS_H
#define TN_KEYS_H

#include <stddef.h>

#define TN_KEY_Z85_LEN 40 /* characters, without the NUL */

/*
 * tn_key_generate - create a key pair and write `<base>.key` (0600, created
 * exclusively: an existing file is never overwritten) and `<base>.pub`
 * (0644). Returns 0, TN_EEXIST (either file exists), TN_EIO, TN_EZMQ. On
 * failure nothing is left behind. `base` is borrowed.
 */
int tn_key_generate(const char *base, char *err, size_t errlen);

/*
 * tn_key_read - read a key file into z85 (TN_KEY_Z85_LEN + 1 bytes, NUL-
 * terminated). With `secret`, refuse a file with any group/other permission
 * bits (TN_EKEY). Returns 0, TN_EIO (cannot read: err says why), TN_EKEY
 * (not exactly one 40-character Z85 key that decodes; or bad mode).
 * err gets "FILE: what was expected" (errlen bytes, NUL-terminated).
 */
int tn_key_read(const char *path, int secret, char z85[TN_KEY_Z85_LEN + 1], char *err,
		size_t errlen);

/*
 * tn_key_public_of - derive the public key (Z85) of a secret key (Z85).
 * Returns 0 or TN_EKEY.
 */
int tn_key_public_of(const char secret_z85[TN_KEY_Z85_LEN + 1],
		     char public_z85[TN_KEY_Z85_LEN + 1]);

/* tn_key_valid_z85 - whether s is exactly 40 Z85 characters that decode. Pure. */
int tn_key_valid_z85(const char *s);

#endif
