/*
 * Unit tests for queue/envelope: the golden file is the exact bytes the
 * serializer must produce (tests/data/envelope/), the parser reads it back,
 * and every malformed variant is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue/envelope.h"
#include "smtp/addr.h"

#define GOLDEN "tests/data/envelope/v1-two-rcpts.env"

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *data = malloc(65536);
	size_t n;

	assert_non_null(f);
	n = fread(data, 1, 65536, f);
	fclose(f);
	*len_r = n;
	return data;
}

static struct envelope *
golden_envelope(void)
{
	struct envelope *env = envelope_new();
	struct envelope_rcpt *r;

	strcpy(env->id, "0123456789ABCDEF");
	env->created = 1795441035;
	free(env->sender);
	env->sender = strdup("alice@example.org");
	env->size = 4242;
	env->body_offset = 29;
	env->ret = ENVELOPE_RET_HDRS;
	free(env->envid);
	env->envid = strdup("env+2B01");
	env->eightbit = true;
	r = envelope_add_rcpt(env, "bob@remote.example");
	r->notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE;
	free(r->orcpt);
	r->orcpt = strdup("rfc822;bob@remote.example");
	r = envelope_add_rcpt(env, "\"a b\"@other.example");
	r->state = ENVELOPE_FAILED;
	r->attempts = 3;
	r->next_attempt = 1795449999;
	free(r->error);
	r->error = strdup("550 5.1.1 no such user (remote said)");
	return env;
}

static void
test_serialize_matches_golden(void **state)
{
	struct envelope *env = golden_envelope();
	size_t len, glen;
	char *out = envelope_serialize(env, &len);
	char *golden = slurp(GOLDEN, &glen);

	(void)state;
	assert_int_equal(len, glen);
	assert_memory_equal(out, golden, len);
	free(out);
	free(golden);
	envelope_free(&env);
	assert_null(env);
}

static void
test_parse_golden(void **state)
{
	size_t len;
	char *golden = slurp(GOLDEN, &len);
	const char *err = NULL;
	struct envelope *env = envelope_parse(golden, len, &err);

	(void)state;
	assert_non_null(env);
	assert_string_equal(env->id, "0123456789ABCDEF");
	assert_int_equal(env->created, 1795441035);
	assert_string_equal(env->sender, "alice@example.org");
	assert_int_equal(env->size, 4242);
	assert_int_equal(env->body_offset, 29);
	assert_int_equal(env->ret, ENVELOPE_RET_HDRS);
	assert_string_equal(env->envid, "env+2B01");
	assert_true(env->eightbit);
	assert_false(env->smtputf8);
	assert_int_equal(env->nrcpts, 2);
	assert_string_equal(env->rcpts[0].address, "bob@remote.example");
	assert_int_equal(env->rcpts[0].notify,
	                 SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE);
	assert_string_equal(env->rcpts[0].orcpt, "rfc822;bob@remote.example");
	assert_int_equal(env->rcpts[0].state, ENVELOPE_PENDING);
	assert_string_equal(env->rcpts[1].address, "\"a b\"@other.example");
	assert_int_equal(env->rcpts[1].state, ENVELOPE_FAILED);
	assert_int_equal(env->rcpts[1].attempts, 3);
	assert_int_equal(env->rcpts[1].next_attempt, 1795449999);
	assert_string_equal(env->rcpts[1].error,
	                    "550 5.1.1 no such user (remote said)");
	envelope_free(&env);
	free(golden);
}

static void
test_malformed_refused(void **state)
{
	static const char *const bad[] = {
	        "",
	        "POSTERN-ENVELOPE 2\nid 1:A\nrcpt 1:x\nend 0:\n",
	        /* no end record */
	        "POSTERN-ENVELOPE 1\nid 1:A\nrcpt 1:x\n",
	        /* data after the end */
	        "POSTERN-ENVELOPE 1\nid 1:A\nrcpt 1:x\nend 0:\nid 1:B\n",
	        /* length past the end of the file */
	        "POSTERN-ENVELOPE 1\nid 1:A\nrcpt 50:x\nend 0:\n",
	        /* value not followed by LF */
	        "POSTERN-ENVELOPE 1\nid 2:A\nrcpt 1:x\nend 0:\n",
	        /* unknown tag */
	        "POSTERN-ENVELOPE 1\nid 1:A\ncolour 3:red\nrcpt 1:x\nend 0:\n",
	        /* no recipients */
	        "POSTERN-ENVELOPE 1\nid 1:A\nend 0:\n",
	        /* id not hex */
	        "POSTERN-ENVELOPE 1\nid 3:../\nrcpt 1:x\nend 0:\n",
	        /* bad state, bad number */
	        "POSTERN-ENVELOPE 1\nid 1:A\nrcpt 1:x\nstate 4:gone\nend 0:\n",
	        "POSTERN-ENVELOPE 1\nid 1:A\nrcpt 1:x\nattempts 2:-1\nend 0:\n",
	        /* a line end inside an address */
	        "POSTERN-ENVELOPE 1\nid 1:A\nrcpt 3:a\nb\nend 0:\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		const char *err = NULL;
		struct envelope *env =
		        envelope_parse(bad[i], strlen(bad[i]), &err);

		if (env != NULL)
			fail_msg("case %zu parsed", i);
		assert_non_null(err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_serialize_matches_golden),
	        cmocka_unit_test(test_parse_golden),
	        cmocka_unit_test(test_malformed_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
