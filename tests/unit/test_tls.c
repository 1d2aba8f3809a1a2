/*
 * Unit tests for tls: self-signed certificates on disk, server contexts,
 * and the memory-BIO engine driven against an OpenSSL client in memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"

#define HOST "mail.example.test"

struct fixture {
	char dir[64];
	char cert[PATH_MAX];
	char key[PATH_MAX];
	SSL_CTX *server;
};

/* Formats a path, failing the test rather than truncating. */
static void
path_fmt(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *error = NULL;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/postern-test-tls-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	path_fmt(f->cert, sizeof(f->cert), f->dir, "cert.pem");
	path_fmt(f->key, sizeof(f->key), f->dir, "key.pem");
	assert_int_equal(tls_make_self_signed(f->cert, f->key, HOST, &error),
	                 0);
	f->server = tls_server_ctx_new(f->cert, f->key, &error);
	if (f->server == NULL)
		fail_msg("tls_server_ctx_new: %s", error);
	*state = f;
	return 0;
}

/* Removes `path` and everything under it (the test's own files). */
static void
remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char sub[PATH_MAX];

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		path_fmt(sub, sizeof(sub), path, de->d_name);
		remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	tls_ctx_free(&f->server);
	remove_tree(f->dir);
	free(f);
	return 0;
}

static X509 *
read_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x;

	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

static SSL_CTX *
client_ctx(int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	if (max_version != 0) {
		assert_int_equal(
		        SSL_CTX_set_max_proto_version(ctx, max_version), 1);
		if (max_version < TLS1_2_VERSION) {
			/* Let the old protocol out of the client at all. */
			SSL_CTX_set_security_level(ctx, 0);
			SSL_CTX_set_min_proto_version(ctx, max_version);
			SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
		}
	}
	return ctx;
}

/* Runs both handshakes over tls_pump until both finish or one fails. */
static int
handshake_pair(struct tls *srv, struct tls *cli)
{
	for (int i = 0; i < 50; i++) {
		enum tls_result rs = tls_handshake(srv);
		enum tls_result rc = tls_handshake(cli);

		if (rs == TLS_ERROR || rc == TLS_ERROR)
			return -1;
		if (tls_pump(srv, cli) == 0 && rs == TLS_OK && rc == TLS_OK)
			return 0;
	}
	return -1;
}

static void
test_self_signed_files(void **state)
{
	struct fixture *f = *state;
	char cert[PATH_MAX], key[PATH_MAX], sub[PATH_MAX];
	const char *error = NULL;
	struct stat st;
	X509 *x;
	EVP_PKEY *pub;
	DIR *d;
	struct dirent *de;
	int nfiles = 0;

	/* Two missing directory levels get created, 0700. */
	path_fmt(sub, sizeof(sub), f->dir, "a/b");
	path_fmt(cert, sizeof(cert), sub, "cert.pem");
	path_fmt(key, sizeof(key), sub, "key.pem");
	assert_int_equal(tls_make_self_signed(cert, key, HOST, &error), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(cert, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	/* No temporary files are left behind. */
	d = opendir(sub);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			nfiles++;
	closedir(d);
	assert_int_equal(nfiles, 2);

	x = read_cert(cert);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_check_host(x, HOST, 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "other.example.test", 0, 0, NULL),
	                 0);
	/* Valid now and for more than a year. */
	assert_true(X509_cmp_time(X509_get0_notBefore(x), NULL) < 0);
	{
		time_t later = time(NULL) + 400L * 24 * 3600;

		assert_true(X509_cmp_time(X509_get0_notAfter(x), &later) > 0);
	}
	pub = X509_get0_pubkey(x);
	assert_non_null(pub);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	assert_int_equal(X509_verify(x, pub), 1);
	X509_free(x);
}

static void
test_self_signed_serials_differ(void **state)
{
	struct fixture *f = *state;
	char cert2[PATH_MAX], key2[PATH_MAX];
	const char *error = NULL;
	X509 *a, *b;

	path_fmt(cert2, sizeof(cert2), f->dir, "cert2.pem");
	path_fmt(key2, sizeof(key2), f->dir, "key2.pem");
	assert_int_equal(tls_make_self_signed(cert2, key2, HOST, &error), 0);
	a = read_cert(f->cert);
	b = read_cert(cert2);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a),
	                                      X509_get0_serialNumber(b)),
	                     0);
	X509_free(a);
	X509_free(b);
}

static void
test_self_signed_ip(void **state)
{
	struct fixture *f = *state;
	char cert[PATH_MAX], key[PATH_MAX];
	const char *error = NULL;
	X509 *x;

	path_fmt(cert, sizeof(cert), f->dir, "ip-cert.pem");
	path_fmt(key, sizeof(key), f->dir, "ip-key.pem");
	assert_int_equal(tls_make_self_signed(cert, key, "127.0.0.1", &error),
	                 0);
	x = read_cert(cert);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	X509_free(x);
}

static void
test_self_signed_bad_host(void **state)
{
	struct fixture *f = *state;
	char cert[PATH_MAX], key[PATH_MAX];
	const char *error = NULL;

	path_fmt(cert, sizeof(cert), f->dir, "bad-cert.pem");
	path_fmt(key, sizeof(key), f->dir, "bad-key.pem");
	assert_int_equal(
	        tls_make_self_signed(cert, key, "a,IP:1.2.3.4", &error), -1);
	assert_non_null(error);
	assert_int_equal(tls_make_self_signed(cert, key, "", &error), -1);
	assert_int_equal(access(cert, F_OK), -1);
	assert_int_equal(access(key, F_OK), -1);
}

static void
test_ctx_errors(void **state)
{
	struct fixture *f = *state;
	char cert2[PATH_MAX], key2[PATH_MAX], missing[PATH_MAX];
	const char *error = NULL;

	path_fmt(missing, sizeof(missing), f->dir, "missing.pem");
	assert_null(tls_server_ctx_new(missing, f->key, &error));
	assert_non_null(strstr(error, missing));

	/* A certificate with someone else's key is refused. */
	path_fmt(cert2, sizeof(cert2), f->dir, "other-cert.pem");
	path_fmt(key2, sizeof(key2), f->dir, "other-key.pem");
	assert_int_equal(tls_make_self_signed(cert2, key2, HOST, &error), 0);
	error = NULL;
	assert_null(tls_server_ctx_new(f->cert, key2, &error));
	assert_non_null(error);
	tls_ctx_free(&f->server);
	f->server = tls_server_ctx_new(f->cert, f->key, &error);
	assert_non_null(f->server);
}

/* The generated certificate verifies as a trust anchor for HOST. */
static void
test_verified_client(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *cctx = client_ctx(0);
	const char *error = NULL;
	struct tls *srv, *cli;

	assert_int_equal(SSL_CTX_load_verify_locations(cctx, f->cert, NULL), 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	assert_int_equal(
	        X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(cctx), HOST, 0),
	        1);
	srv = tls_new(f->server, TLS_ROLE_SERVER, &error);
	cli = tls_new(cctx, TLS_ROLE_CLIENT, &error);
	assert_non_null(srv);
	assert_non_null(cli);
	assert_int_equal(handshake_pair(srv, cli), 0);
	tls_free(&srv);
	tls_free(&cli);
	assert_null(srv);

	/* And fails for another name. */
	assert_int_equal(X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(cctx),
	                                             "wrong.example.test", 0),
	                 1);
	srv = tls_new(f->server, TLS_ROLE_SERVER, &error);
	cli = tls_new(cctx, TLS_ROLE_CLIENT, &error);
	assert_int_equal(handshake_pair(srv, cli), -1);
	assert_non_null(strstr(tls_error(cli), "certificate verify failed"));
	tls_free(&srv);
	tls_free(&cli);
	SSL_CTX_free(cctx);
}

static void
exchange(struct tls *from, struct tls *to, const char *msg)
{
	char got[256];
	size_t n;

	assert_int_equal(tls_write(from, msg, strlen(msg), &n), TLS_OK);
	assert_int_equal(n, strlen(msg));
	assert_true(tls_output_pending(from) > strlen(msg));
	tls_pump(from, to);
	assert_true(tls_has_buffered_input(to));
	assert_int_equal(tls_read(to, got, sizeof(got), &n), TLS_OK);
	assert_int_equal(n, strlen(msg));
	assert_memory_equal(got, msg, n);
	assert_int_equal(tls_read(to, got, sizeof(got), &n), TLS_WANT_INPUT);
	assert_int_equal(n, 0);
}

static void
run_pair(struct fixture *f, int max_version, const char *version)
{
	SSL_CTX *cctx = client_ctx(max_version);
	const char *error = NULL;
	struct tls *srv = tls_new(f->server, TLS_ROLE_SERVER, &error);
	struct tls *cli = tls_new(cctx, TLS_ROLE_CLIENT, &error);
	char got[16];
	size_t n;

	assert_null(tls_version(srv));
	assert_null(tls_cipher(srv));
	assert_false(tls_is_handshake_done(srv));
	assert_int_equal(handshake_pair(srv, cli), 0);
	assert_true(tls_is_handshake_done(srv));
	assert_string_equal(tls_version(srv), version);
	assert_string_equal(tls_version(cli), version);
	assert_non_null(tls_cipher(srv));
	assert_string_equal(tls_cipher(srv), tls_cipher(cli));
	exchange(cli, srv, "EHLO client.example\r\n");
	exchange(srv, cli, "250 hello\r\n");

	/* close_notify reads as TLS_CLOSED. */
	tls_shutdown(cli);
	tls_pump(cli, srv);
	assert_int_equal(tls_read(srv, got, sizeof(got), &n), TLS_CLOSED);
	assert_string_equal(tls_error(srv), "");
	tls_free(&srv);
	tls_free(&cli);
	SSL_CTX_free(cctx);
}

static void
test_pair_tls13(void **state)
{
	run_pair(*state, 0, "TLSv1.3");
}

static void
test_pair_tls12(void **state)
{
	run_pair(*state, TLS1_2_VERSION, "TLSv1.2");
}

static void
test_old_client_refused(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *cctx = client_ctx(TLS1_1_VERSION);
	const char *error = NULL;
	struct tls *srv = tls_new(f->server, TLS_ROLE_SERVER, &error);
	struct tls *cli = tls_new(cctx, TLS_ROLE_CLIENT, &error);

	assert_int_equal(handshake_pair(srv, cli), -1);
	assert_non_null(strstr(tls_error(srv), "TLS handshake"));
	tls_free(&srv);
	tls_free(&cli);
	SSL_CTX_free(cctx);
}

static void
test_garbage(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct tls *srv = tls_new(f->server, TLS_ROLE_SERVER, &error);
	const char *junk = "EHLO plain.example\r\n";
	char got[16];
	size_t n;

	tls_feed(srv, junk, strlen(junk));
	assert_int_equal(tls_input_pending(srv), strlen(junk));
	assert_int_equal(tls_handshake(srv), TLS_ERROR);
	assert_non_null(strstr(tls_error(srv), "TLS handshake: "));
	/* The engine stays failed. */
	assert_int_equal(tls_read(srv, got, sizeof(got), &n), TLS_ERROR);
	assert_int_equal(tls_write(srv, "x", 1, &n), TLS_ERROR);
	tls_shutdown(srv);
	tls_free(&srv);
}

/* The server's handshake advances with the client's bytes arriving one
 * at a time, asking for more in between. */
static void
test_byte_at_a_time(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *cctx = client_ctx(0);
	const char *error = NULL;
	struct tls *srv = tls_new(f->server, TLS_ROLE_SERVER, &error);
	struct tls *cli = tls_new(cctx, TLS_ROLE_CLIENT, &error);
	unsigned char hello[4096];
	size_t len;

	assert_int_equal(tls_handshake(cli), TLS_WANT_INPUT);
	len = tls_take_output(cli, hello, sizeof(hello));
	assert_true(len > 0 && len < sizeof(hello));
	for (size_t i = 0; i + 1 < len; i++) {
		tls_feed(srv, hello + i, 1);
		assert_int_equal(tls_handshake(srv), TLS_WANT_INPUT);
		assert_int_equal(tls_output_pending(srv), 0);
	}
	tls_feed(srv, hello + len - 1, 1);
	assert_int_equal(tls_handshake(srv), TLS_WANT_INPUT);
	assert_true(tls_output_pending(srv) > 0);
	assert_int_equal(handshake_pair(srv, cli), 0);
	tls_free(&srv);
	tls_free(&cli);
	SSL_CTX_free(cctx);
}

/* Random bytes never crash the engine; each run ends waiting or failed. */
static void
test_random_input(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	unsigned seed = 12345;

	for (int round = 0; round < 200; round++) {
		struct tls *srv = tls_new(f->server, TLS_ROLE_SERVER, &error);
		unsigned char junk[512];
		size_t len = 1 + (size_t)(rand_r(&seed) % sizeof(junk));
		enum tls_result r;

		for (size_t i = 0; i < len; i++)
			junk[i] = (unsigned char)rand_r(&seed);
		/* Half the rounds start like a TLS handshake record. */
		if (round % 2 == 0 && len > 3) {
			junk[0] = 0x16;
			junk[1] = 0x03;
			junk[2] = 0x01;
		}
		tls_feed(srv, junk, len);
		r = tls_handshake(srv);
		assert_true(r == TLS_WANT_INPUT || r == TLS_ERROR);
		tls_free(&srv);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_self_signed_files),
	        cmocka_unit_test(test_self_signed_serials_differ),
	        cmocka_unit_test(test_self_signed_ip),
	        cmocka_unit_test(test_self_signed_bad_host),
	        cmocka_unit_test(test_ctx_errors),
	        cmocka_unit_test(test_verified_client),
	        cmocka_unit_test(test_pair_tls13),
	        cmocka_unit_test(test_pair_tls12),
	        cmocka_unit_test(test_old_client_refused),
	        cmocka_unit_test(test_garbage),
	        cmocka_unit_test(test_byte_at_a_time),
	        cmocka_unit_test(test_random_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
