/*
 * keys.c - CURVE key files (keys.h).
 *
 * '#' is a Z85 character, yet a comment line can never be mistaken for a
 * key: Z85 digits are worth 0..84 and '#' is 84, but the first digit of a
 * group of five is at most 82 ('%'), since 84 * 85^4 > 2^32. So no key starts
 * with '#', and readers in any language may simply skip '#' lines.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "tocsin/error.h"

#define KEY_FILE_MAX 4096 /* bytes; a key file is one line and a few comments */

static const char z85_alphabet[] =
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static bool is_z85_char(char c)
{
	return c != '\0' && strchr(z85_alphabet, c) != NULL;
}

/* Whether the `len` bytes at s are 40 Z85 characters that decode to a key. */
static bool valid_z85(const char *s, size_t len)
{
	char buf[TN_KEY_Z85_LEN + 1];
	uint8_t bin[32];

	if (len != TN_KEY_Z85_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_z85_char(s[i]))
			return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* zmq_z85_decode also refuses groups of five that overflow 32 bits */
	bool ok = zmq_z85_decode(bin, buf) != NULL;
	explicit_bzero(bin, sizeof bin);
	explicit_bzero(buf, sizeof buf);
	return ok;
}

int tn_key_valid_z85(const char *s)
{
	return s && valid_z85(s, strnlen(s, TN_KEY_Z85_LEN + 1));
}

int tn_key_public_of(const char secret_z85[TN_KEY_Z85_LEN + 1], char public_z85[TN_KEY_Z85_LEN + 1])
{
	if (!tn_key_valid_z85(secret_z85))
		return TN_EKEY;
	if (zmq_curve_public(public_z85, secret_z85) != 0)
		return TN_EKEY; /* libzmq built without CURVE */
	return 0;
}

/* ---- writing ----------------------------------------------------------- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Create `path` exclusively with `mode` (forced with fchmod: the umask may
 * only narrow what we ask, and a public key should be readable, a secret one
 * never more than 0600) holding `line` and a newline, durably. Sets *created
 * once the file exists, so the caller can remove it on a later failure.
 */
static int write_key_file(const char *path, mode_t mode, const char *line, bool *created, char *err,
			  size_t errlen)
{
	char buf[TN_KEY_Z85_LEN + 2];
	int fd, e;

	*created = false;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		if (errno == EEXIST)
			return fail(err, errlen, TN_EEXIST,
				    "%s: already exists; not overwriting it", path);
		return fail(err, errlen, TN_EIO, "%s: cannot create: %s", path, strerror(errno));
	}
	*created = true;
	memcpy(buf, line, TN_KEY_Z85_LEN);
	buf[TN_KEY_Z85_LEN] = '\n';
	buf[TN_KEY_Z85_LEN + 1] = '\0';
	if (fchmod(fd, mode) != 0 || write_all(fd, buf, TN_KEY_Z85_LEN + 1) != 0 ||
	    fsync(fd) != 0) {
		e = errno;
		explicit_bzero(buf, sizeof buf);
		close(fd);
		return fail(err, errlen, TN_EIO, "%s: cannot write: %s", path, strerror(e));
	}
	explicit_bzero(buf, sizeof buf);
	if (close(fd) != 0)
		return fail(err, errlen, TN_EIO, "%s: cannot write: %s", path, strerror(errno));
	return 0;
}

/* fsync the directory holding `path`, so that the new names are durable. */
static int sync_dir_of(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, TN_EIO, "%s: cannot open directory: %s", dir,
			    strerror(errno));
	if (fsync(fd) != 0)
		rc = fail(err, errlen, TN_EIO, "%s: cannot sync directory: %s", dir,
			  strerror(errno));
	close(fd);
	return rc;
}

int tn_key_generate(const char *base, char *err, size_t errlen)
{
	char kpath[PATH_MAX], ppath[PATH_MAX];
	char pub[TN_KEY_Z85_LEN + 1], sec[TN_KEY_Z85_LEN + 1];
	bool kmade = false, pmade = false;
	int rc;

	if (errlen)
		err[0] = '\0';
	if (!base || !*base)
		return fail(err, errlen, TN_EIO, "empty key name");
	if ((size_t)snprintf(kpath, sizeof kpath, "%s.key", base) >= sizeof kpath ||
	    (size_t)snprintf(ppath, sizeof ppath, "%s.pub", base) >= sizeof ppath)
		return fail(err, errlen, TN_EIO, "%s: name too long", base);

	if (zmq_curve_keypair(pub, sec) != 0)
		return fail(err, errlen, TN_EZMQ, "cannot make a CURVE key pair: %s",
			    zmq_strerror(zmq_errno()));

	rc = write_key_file(kpath, 0600, sec, &kmade, err, errlen);
	if (rc == 0)
		rc = write_key_file(ppath, 0644, pub, &pmade, err, errlen);
	if (rc == 0)
		rc = sync_dir_of(kpath, err, errlen);
	explicit_bzero(sec, sizeof sec);
	if (rc != 0) {
		if (kmade)
			unlink(kpath);
		if (pmade)
			unlink(ppath);
	}
	return rc;
}

/* ---- reading ----------------------------------------------------------- */

int tn_key_read(const char *path, int secret, char z85[TN_KEY_Z85_LEN + 1], char *err,
		size_t errlen)
{
	char buf[KEY_FILE_MAX + 1];
	struct stat st;
	size_t len = 0, keys = 0;
	int fd, rc = 0, lineno = 0;

	if (errlen)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(err, errlen, TN_EIO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = fail(err, errlen, TN_EIO, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail(err, errlen, TN_EKEY, "%s: not a regular file; expected a key file",
			  path);
		goto out;
	}
	if (secret && (st.st_mode & 077)) {
		rc = fail(err, errlen, TN_EKEY,
			  "%s: secret key file has mode %04o: group or others may access it; "
			  "run chmod 600 %s",
			  path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	while (len < sizeof buf) {
		ssize_t n = read(fd, buf + len, sizeof buf - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail(err, errlen, TN_EIO, "%s: cannot read: %s", path,
				  strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > KEY_FILE_MAX) {
		rc = fail(err, errlen, TN_EKEY,
			  "%s: larger than %d bytes; expected one line of %d Z85 characters", path,
			  KEY_FILE_MAX, TN_KEY_Z85_LEN);
		goto out;
	}
	if (len == 0) {
		rc = fail(err, errlen, TN_EKEY, "%s: empty; expected one line of %d Z85 characters",
			  path, TN_KEY_Z85_LEN);
		goto out;
	}

	for (size_t at = 0; at < len;) {
		const char *line = buf + at, *nl = memchr(line, '\n', len - at);
		size_t n = nl ? (size_t)(nl - line) : len - at;

		at += n + 1;
		lineno++;
		/* blanks around the key, and a CR of CRLF files, are not part of it */
		while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		while (n && (*line == ' ' || *line == '\t')) {
			line++;
			n--;
		}
		if (n == 0 || *line == '#')
			continue;
		if (valid_z85(line, n)) {
			if (++keys > 1) {
				rc = fail(err, errlen, TN_EKEY,
					  "%s:%d: a second key; expected exactly one key per file",
					  path, lineno);
				goto out;
			}
			memcpy(z85, line, TN_KEY_Z85_LEN);
			z85[TN_KEY_Z85_LEN] = '\0';
			continue;
		}
		/* Say what is wrong without repeating the line: it may be a secret. */
		size_t col = 0;
		while (col < n && is_z85_char(line[col]))
			col++;
		if (memchr(line, '\0', n))
			rc = fail(err, errlen, TN_EKEY, "%s:%d: expected text, got a NUL byte",
				  path, lineno);
		else if (n != TN_KEY_Z85_LEN)
			rc = fail(err, errlen, TN_EKEY,
				  "%s:%d: expected %d Z85 characters, got %zu characters", path,
				  lineno, TN_KEY_Z85_LEN, n);
		else if (col < n)
			rc = fail(err, errlen, TN_EKEY,
				  "%s:%d: column %zu is not a Z85 character; expected %d of "
				  "0-9 a-z A-Z .-:+=^!/*?&<>()[]{}@%%$#",
				  path, lineno, col + 1, TN_KEY_Z85_LEN);
		else
			rc = fail(err, errlen, TN_EKEY,
				  "%s:%d: not a valid Z85 key (a group of five characters "
				  "overflows 32 bits)",
				  path, lineno);
		goto out;
	}
	if (keys == 0)
		rc = fail(err, errlen, TN_EKEY,
			  "%s: no key found; expected one line of %d Z85 characters", path,
			  TN_KEY_Z85_LEN);
out:
	if (rc != 0)
		explicit_bzero(z85, TN_KEY_Z85_LEN + 1);
	explicit_bzero(buf, sizeof buf);
	close(fd);
	return rc;
}
