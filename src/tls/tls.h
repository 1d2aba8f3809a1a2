/*
 * tls — OpenSSL contexts and a socket-free TLS engine (STYLE.md 6).
 *
 * A struct tls is one SSL object speaking through two memory BIOs: the
 * owner feeds it the ciphertext that arrived from the peer (tls_feed) and
 * takes the ciphertext to send (tls_take_output); plaintext goes in and out
 * through tls_write and tls_read. Nothing here touches a socket, so
 * core/conn.c does the I/O and tests or fuzzers can drive two engines
 * against each other in memory (tls_pump).
 *
 * After every call that may produce records (handshake, read, write,
 * shutdown) the owner drains tls_output_pending() bytes: OpenSSL writes
 * alerts, session tickets and key updates even while reading.
 *
 * Error strings from the context functions point into a static buffer
 * valid until the next call into this module; tls_error() is per engine.
 */
#ifndef POSTERN_TLS_TLS_H
#define POSTERN_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* OpenSSL's type, kept opaque here. */
typedef struct ssl_ctx_st SSL_CTX;

struct tls;

enum tls_role {
	TLS_ROLE_SERVER,
	TLS_ROLE_CLIENT,
};

enum tls_result {
	TLS_OK,          /* progress: handshake done, bytes read or written */
	TLS_WANT_INPUT,  /* needs more ciphertext from the peer (tls_feed) */
	TLS_WANT_OUTPUT, /* drain tls_take_output(), then call again */
	TLS_CLOSED,      /* the peer sent close_notify: no more plaintext */
	TLS_ERROR,       /* fatal; tls_error() says why */
};

/*
 * Returns an owned server context for the PEM certificate chain at
 * `cert_path` and the PEM private key at `key_path`: TLS 1.2 minimum,
 * server cipher preference with forward-secret AEAD suites first, no
 * compression, no renegotiation, session tickets on. On failure returns
 * NULL and sets *error_r (static, see above) to "PATH: reason".
 */
SSL_CTX *tls_server_ctx_new(const char *cert_path, const char *key_path,
                            const char **error_r);
/* Frees a context made here and clears *ctxp; accepts NULL. Engines made
 * from it hold their own reference. */
void tls_ctx_free(SSL_CTX **ctxp);

/*
 * Creates a self-signed certificate for `hostname` (a DNS name, or an IP
 * address literal which then goes into an iPAddress subjectAltName): EC
 * P-256 key, X.509 v3, subjectAltName, random 128-bit serial, valid from
 * an hour ago for 825 days. Writes the key (mode 0600) and the certificate
 * (mode 0644) through temporary files created with O_EXCL, fsynced and
 * renamed into place, key first, so an existing certificate file means
 * the pair is complete. Missing parent directories are created with mode
 * 0700. Existing files are replaced. Returns 0, or -1 and sets *error_r
 * (static).
 */
int tls_make_self_signed(const char *cert_path, const char *key_path,
                         const char *hostname, const char **error_r)
        __attribute__((warn_unused_result));

/*
 * Returns an owned engine for `ctx` (borrowed; OpenSSL keeps a reference)
 * in the given role, or NULL and sets *error_r (static) if OpenSSL cannot
 * allocate one.
 */
struct tls *tls_new(SSL_CTX *ctx, enum tls_role role, const char **error_r);
/* Frees the engine and clears *tp; accepts NULL. Sends nothing: call
 * tls_shutdown() and drain first for a clean close. */
void tls_free(struct tls **tp);

/* Hands `len` bytes of ciphertext received from the peer to the engine.
 * The memory BIO grows to hold them: the caller bounds how much it feeds
 * ahead with tls_input_pending(). */
void tls_feed(struct tls *t, const void *data, size_t len);
/* Ciphertext fed and not yet processed by OpenSSL. */
size_t tls_input_pending(const struct tls *t);
/* True if a tls_read() may return plaintext without more input: a
 * decrypted record is partly unread or fed ciphertext is unprocessed. */
bool tls_has_buffered_input(const struct tls *t);

/* Advances the handshake: TLS_OK once complete, TLS_WANT_INPUT,
 * TLS_WANT_OUTPUT or TLS_ERROR. */
enum tls_result tls_handshake(struct tls *t);
bool tls_is_handshake_done(const struct tls *t);

/*
 * Reads up to `cap` (> 0) plaintext bytes into `dst`. TLS_OK sets *len_r
 * (> 0); otherwise *len_r is 0 and the result says why. Completes the
 * handshake first if needed.
 */
enum tls_result tls_read(struct tls *t, void *dst, size_t cap, size_t *len_r);
/*
 * Encrypts up to `len` (> 0) plaintext bytes. TLS_OK sets *len_r to the
 * bytes taken (all of them unless the engine must first read: then
 * TLS_WANT_INPUT and 0, retry with the same bytes).
 */
enum tls_result tls_write(struct tls *t, const void *src, size_t len,
                          size_t *len_r);
/* Queues a close_notify alert once the handshake is done; a no-op
 * before it or after an error. */
void tls_shutdown(struct tls *t);

/* Ciphertext waiting to be sent to the peer. */
size_t tls_output_pending(const struct tls *t);
/* Moves up to `cap` bytes of pending ciphertext into `dst`; returns how
 * many. */
size_t tls_take_output(struct tls *t, void *dst, size_t cap);

/*
 * Moves all pending ciphertext from `a` to `b` and from `b` to `a` once,
 * as a network between two engines would. Returns the number of bytes
 * moved (0: both sides are waiting). For tests and fuzzing.
 */
size_t tls_pump(struct tls *a, struct tls *b);

/* Negotiated protocol ("TLSv1.3") and cipher suite names, or NULL before
 * the handshake completes. Valid until the engine is freed. */
const char *tls_version(const struct tls *t);
const char *tls_cipher(const struct tls *t);
/* The last error, for logs ("" if none). Valid until the next call on
 * the engine. */
const char *tls_error(const struct tls *t);

#endif
