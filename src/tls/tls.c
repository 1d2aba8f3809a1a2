/*
 * tls — OpenSSL server contexts, self-signed certificates for first
 * start, and the memory-BIO engine that core/conn.c drives.
 *
 * Runs in the parent (contexts and keys are loaded before privileges are
 * dropped) and in every role that speaks TLS (the engines). The engine
 * never sees a socket: ciphertext moves through its two memory BIOs, so
 * readiness on the socket says nothing about what OpenSSL holds; the
 * owner asks tls_has_buffered_input() instead (STYLE.md 6).
 */
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/fileio.h"
#include "core/xalloc.h"
#include "log/log.h"

/* Forward-secret AEAD suites first, then forward-secret CBC for old
 * senders: on port 25 a weak cipher still beats the plaintext that a
 * failed handshake falls back to. TLS 1.3 suites are OpenSSL's defaults. */
#define TLS_CIPHERS                                                            \
	"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:"                 \
	"ECDHE+AES:DHE+AES:!aNULL:!eNULL:!MD5:!DSS:!PSK:!SRP:!kRSA"

#define TLS_CERT_DAYS      825
#define TLS_HOSTNAME_MAX   253
#define TLS_CN_MAX         64
#define TLS_PUMP_CHUNK     16384
#define TLS_SESSION_ID_CTX "postern"

struct tls {
	SSL *ssl;
	BIO *rbio; /* ciphertext from the peer; owned by ssl */
	BIO *wbio; /* ciphertext for the peer; owned by ssl */
	bool failed;
	char error[160];
};

static char tls_errbuf[256];

/* Formats the static error message, appending OpenSSL's earliest queued
 * reason if there is one, and clears OpenSSL's error queue. */
static const char *tls_static_error(const char *fmt, ...)
        __attribute__((format(printf, 1, 2)));

static const char *
tls_static_error(const char *fmt, ...)
{
	unsigned long e = ERR_get_error();
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(tls_errbuf, sizeof(tls_errbuf), fmt, ap);
	va_end(ap);
	n = strlen(tls_errbuf);
	if (e != 0 && n < sizeof(tls_errbuf)) {
		const char *reason = ERR_reason_error_string(e);

		if (reason != NULL)
			snprintf(tls_errbuf + n, sizeof(tls_errbuf) - n, ": %s",
			         reason);
		else
			snprintf(tls_errbuf + n, sizeof(tls_errbuf) - n,
			         ": error %lx", e);
	}
	ERR_clear_error();
	return tls_errbuf;
}

/* --- contexts ----------------------------------------------------------- */

static int
tls_ctx_configure(SSL_CTX *ctx, const char **error_r)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		*error_r = tls_static_error("cannot set TLS 1.2 minimum");
		return -1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	                                 SSL_OP_NO_COMPRESSION |
	                                 SSL_OP_NO_RENEGOTIATION);
	/* Idle IMAP connections are many: give their buffers back. The
	 * engine never retries a write from a moved buffer, but allowing it
	 * costs nothing. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS) != 1) {
		*error_r = tls_static_error("cannot set the cipher list");
		return -1;
	}
	SSL_CTX_set_dh_auto(ctx, 1);
	if (SSL_CTX_set_session_id_context(
	            ctx, (const unsigned char *)TLS_SESSION_ID_CTX,
	            sizeof(TLS_SESSION_ID_CTX) - 1) != 1) {
		*error_r = tls_static_error("cannot set the session context");
		return -1;
	}
	return 0;
}

SSL_CTX *
tls_server_ctx_new(const char *cert_path, const char *key_path,
                   const char **error_r)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*error_r = tls_static_error("cannot create a TLS context");
		return NULL;
	}
	if (tls_ctx_configure(ctx, error_r) < 0)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		*error_r = tls_static_error("%s", cert_path);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
		*error_r = tls_static_error("%s", key_path);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = tls_static_error("%s: key does not match %s",
		                            key_path, cert_path);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_ctx_free(SSL_CTX **ctxp)
{
	SSL_CTX_free(*ctxp);
	*ctxp = NULL;
}

/* --- self-signed certificate --------------------------------------------- */

/* A DNS name made of letters, digits, hyphens and dots. */
static bool
tls_is_dns_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > TLS_HOSTNAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

/* Adds subjectAltName: iPAddress for an address literal, else dNSName. */
static int
tls_cert_add_san(X509 *x, const char *hostname)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(hostname);
	int ret = -1;

	if (names == NULL || gn == NULL)
		goto out;
	if (ip != NULL) {
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
	} else {
		ASN1_IA5STRING *dns = ASN1_IA5STRING_new();

		if (dns == NULL || ASN1_STRING_set(dns, hostname, -1) != 1) {
			ASN1_IA5STRING_free(dns);
			goto out;
		}
		GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
	}
	ip = NULL;
	if (sk_GENERAL_NAME_push(names, gn) <= 0)
		goto out;
	gn = NULL;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0,
	                      X509V3_ADD_DEFAULT) == 1)
		ret = 0;
out:
	ASN1_OCTET_STRING_free(ip);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	return ret;
}

static int
tls_cert_add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* A positive random serial of 128 bits (RFC 5280 section 4.1.2.2 allows
 * up to 20 octets). */
static int
tls_cert_set_serial(X509 *x)
{
	unsigned char rnd[16];
	BIGNUM *bn;
	int ret = -1;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	rnd[0] = (unsigned char)((rnd[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		ret = 0;
	BN_free(bn);
	return ret;
}

static int
tls_cert_set_names(X509 *x, const char *hostname)
{
	X509_NAME *name = X509_get_subject_name(x);
	/* commonName is limited to 64 characters (RFC 5280 appendix A);
	 * clients match the subjectAltName anyway. */
	const char *cn = strlen(hostname) <= TLS_CN_MAX ? hostname : "postern";

	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                               (const unsigned char *)cn, -1, -1,
	                               0) != 1)
		return -1;
	return X509_set_issuer_name(x, name) == 1 ? 0 : -1;
}

static X509 *
tls_cert_build(EVP_PKEY *key, const char *hostname)
{
	X509 *x = X509_new();

	if (x == NULL)
		return NULL;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    tls_cert_set_serial(x) < 0 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x),
	                    (long)TLS_CERT_DAYS * 24 * 3600) == NULL ||
	    tls_cert_set_names(x, hostname) < 0 ||
	    X509_set_pubkey(x, key) != 1 ||
	    tls_cert_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") <
	            0 ||
	    tls_cert_add_ext(x, NID_key_usage, "critical,digitalSignature") <
	            0 ||
	    tls_cert_add_ext(x, NID_ext_key_usage, "serverAuth") < 0 ||
	    tls_cert_add_ext(x, NID_subject_key_identifier, "hash") < 0 ||
	    tls_cert_add_san(x, hostname) < 0 ||
	    X509_sign(x, key, EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Creates the missing directories above `path` with mode 0700. */
static int
tls_mkdir_parents(const char *path, const char **error_r)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int ret = 0;

	if (slash == NULL || slash == dir)
		goto out;
	*slash = '\0';
	for (char *p = dir + 1; ret == 0; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			*error_r = tls_static_error("mkdir %s: %s", dir,
			                            strerror(errno));
			ret = -1;
		}
		if (last)
			break;
		*p = '/';
	}
out:
	free(dir);
	return ret;
}

/* Writes the contents of `mem` to `path` with `mode`, whole and durably
 * (fileio_replace, STYLE.md 9). */
static int
tls_write_file(const char *path, mode_t mode, BIO *mem, const char **error_r)
{
	char *data;
	long len = BIO_get_mem_data(mem, &data);

	if (len < 0 || fileio_replace(AT_FDCWD, path, data, (size_t)len, mode,
	                              FILEIO_OWNER_KEEP, 0, true) < 0) {
		*error_r = tls_static_error("%s: %s", path,
		                            strerror(len < 0 ? EIO : errno));
		return -1;
	}
	return 0;
}

static int
tls_save_pair(EVP_PKEY *key, X509 *x, const char *cert_path,
              const char *key_path, const char **error_r)
{
	/* A secure-memory BIO wipes the key's PEM when freed. */
	BIO *kmem = BIO_new(BIO_s_secmem());
	BIO *cmem = BIO_new(BIO_s_mem());
	int ret = -1;

	if (kmem == NULL || cmem == NULL ||
	    PEM_write_bio_PrivateKey(kmem, key, NULL, NULL, 0, NULL, NULL) !=
	            1 ||
	    PEM_write_bio_X509(cmem, x) != 1) {
		*error_r = tls_static_error("cannot encode the key pair");
		goto out;
	}
	if (tls_write_file(key_path, 0600, kmem, error_r) < 0 ||
	    tls_write_file(cert_path, 0644, cmem, error_r) < 0)
		goto out;
	ret = 0;
out:
	BIO_free(kmem);
	BIO_free(cmem);
	return ret;
}

int
tls_make_self_signed(const char *cert_path, const char *key_path,
                     const char *hostname, const char **error_r)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(hostname);
	bool is_ip = ip != NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int ret = -1;

	ASN1_OCTET_STRING_free(ip);
	ERR_clear_error();
	if (!is_ip && !tls_is_dns_name(hostname)) {
		*error_r = tls_static_error("invalid host name for a "
		                            "certificate");
		return -1;
	}
	if (tls_mkdir_parents(key_path, error_r) < 0 ||
	    tls_mkdir_parents(cert_path, error_r) < 0)
		return -1;
	key = EVP_EC_gen("P-256");
	if (key == NULL) {
		*error_r = tls_static_error("cannot generate a P-256 key");
		goto out;
	}
	x = tls_cert_build(key, hostname);
	if (x == NULL) {
		*error_r = tls_static_error("cannot build a certificate");
		goto out;
	}
	ret = tls_save_pair(key, x, cert_path, key_path, error_r);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

/* --- the engine ------------------------------------------------------- */

struct tls *
tls_new(SSL_CTX *ctx, enum tls_role role, const char **error_r)
{
	struct tls *t = xmalloc(sizeof(*t));

	ERR_clear_error();
	t->ssl = SSL_new(ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
		*error_r = tls_static_error("cannot create a TLS session");
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		free(t);
		return NULL;
	}
	/* An empty memory BIO reports "retry", which OpenSSL turns into
	 * SSL_ERROR_WANT_READ: exactly "feed me more". */
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	if (role == TLS_ROLE_SERVER)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	return t;
}

void
tls_free(struct tls **tp)
{
	struct tls *t = *tp;

	if (t == NULL)
		return;
	SSL_free(t->ssl); /* frees both BIOs */
	free(t);
	*tp = NULL;
}

void
tls_feed(struct tls *t, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;
		int w = BIO_write(t->rbio, p, n);

		if (w <= 0)
			fatal("out of memory feeding %d bytes to TLS", n);
		p += w;
		len -= (size_t)w;
	}
}

size_t
tls_input_pending(const struct tls *t)
{
	return BIO_ctrl_pending(t->rbio);
}

bool
tls_has_buffered_input(const struct tls *t)
{
	return SSL_has_pending(t->ssl) || BIO_ctrl_pending(t->rbio) > 0;
}

/* Records why the engine failed, from OpenSSL's error queue. */
static void
tls_set_error(struct tls *t, const char *what, int ssl_err)
{
	unsigned long e = ERR_get_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (reason != NULL)
		snprintf(t->error, sizeof(t->error), "%s: %s", what, reason);
	else if (e != 0)
		snprintf(t->error, sizeof(t->error), "%s: error %lx", what, e);
	else
		snprintf(t->error, sizeof(t->error), "%s: failed (%d)", what,
		         ssl_err);
	ERR_clear_error();
	t->failed = true;
}

static enum tls_result
tls_result_of(struct tls *t, int ret, const char *what)
{
	int err = SSL_get_error(t->ssl, ret);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_INPUT;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_OUTPUT;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_CLOSED;
	default:
		tls_set_error(t, what, err);
		return TLS_ERROR;
	}
}

enum tls_result
tls_handshake(struct tls *t)
{
	int ret;

	if (t->failed)
		return TLS_ERROR;
	ERR_clear_error();
	ret = SSL_do_handshake(t->ssl);
	if (ret == 1)
		return TLS_OK;
	return tls_result_of(t, ret, "TLS handshake");
}

bool
tls_is_handshake_done(const struct tls *t)
{
	return SSL_is_init_finished(t->ssl);
}

enum tls_result
tls_read(struct tls *t, void *dst, size_t cap, size_t *len_r)
{
	*len_r = 0;
	if (t->failed)
		return TLS_ERROR;
	ERR_clear_error();
	if (SSL_read_ex(t->ssl, dst, cap, len_r) == 1)
		return TLS_OK;
	*len_r = 0;
	return tls_result_of(
	        t, 0, tls_is_handshake_done(t) ? "TLS read" : "TLS handshake");
}

enum tls_result
tls_write(struct tls *t, const void *src, size_t len, size_t *len_r)
{
	*len_r = 0;
	if (t->failed)
		return TLS_ERROR;
	ERR_clear_error();
	if (SSL_write_ex(t->ssl, src, len, len_r) == 1)
		return TLS_OK;
	*len_r = 0;
	return tls_result_of(t, 0, "TLS write");
}

void
tls_shutdown(struct tls *t)
{
	if (t->failed || !tls_is_handshake_done(t))
		return;
	/* Returns 0 having queued close_notify; we do not wait for the
	 * peer's (RFC 8446 section 6.1 allows closing without it). */
	ERR_clear_error();
	(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
}

size_t
tls_output_pending(const struct tls *t)
{
	return BIO_ctrl_pending(t->wbio);
}

size_t
tls_take_output(struct tls *t, void *dst, size_t cap)
{
	int n = BIO_read(t->wbio, dst, cap > INT_MAX ? INT_MAX : (int)cap);

	return n > 0 ? (size_t)n : 0;
}

static size_t
tls_move(struct tls *from, struct tls *to)
{
	char chunk[TLS_PUMP_CHUNK];
	size_t total = 0;
	size_t n;

	while ((n = tls_take_output(from, chunk, sizeof(chunk))) > 0) {
		tls_feed(to, chunk, n);
		total += n;
	}
	return total;
}

size_t
tls_pump(struct tls *a, struct tls *b)
{
	size_t moved = tls_move(a, b);

	return moved + tls_move(b, a);
}

const char *
tls_version(const struct tls *t)
{
	if (!tls_is_handshake_done(t))
		return NULL;
	return SSL_get_version(t->ssl);
}

const char *
tls_cipher(const struct tls *t)
{
	if (!tls_is_handshake_done(t))
		return NULL;
	return SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl));
}

const char *
tls_error(const struct tls *t)
{
	return t->error;
}
