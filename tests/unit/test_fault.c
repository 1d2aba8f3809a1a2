/*
 * Unit tests for core/fault: the POSTERN_FAULT syntax (steps, @N, errno
 * names, kill), what malformed specs are refused, and that a kill step
 * really kills (in a forked child).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fault.h"

static void
test_none(void **state)
{
	(void)state;
	assert_int_equal(fault_configure(NULL), 0);
	assert_int_equal(fault_check("queue-flush"), 0);
	assert_int_equal(fault_configure(""), 0);
	assert_int_equal(fault_check("queue-flush"), 0);
}

static void
test_every_time_and_nth(void **state)
{
	(void)state;
	assert_int_equal(fault_configure("a=EIO,b@3=ENOSPC,c@1=EDQUOT"), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(fault_check("a"), EIO);
	assert_int_equal(fault_check("b"), 0);
	assert_int_equal(fault_check("b"), 0);
	assert_int_equal(fault_check("b"), ENOSPC);
	assert_int_equal(fault_check("b"), 0);
	assert_int_equal(fault_check("c"), EDQUOT);
	assert_int_equal(fault_check("c"), 0);
	assert_int_equal(fault_check("other"), 0);
	/* A new spec starts its counts afresh. */
	assert_int_equal(fault_configure("b@1=EIO"), 0);
	assert_int_equal(fault_check("b"), EIO);
	assert_int_equal(fault_check("a"), 0);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
	        "a",
	        "=EIO",
	        "a=",
	        "a=EFOO",
	        "a@0=EIO",
	        "a@=EIO",
	        "a@x=EIO",
	        "a@1x=EIO",
	        "a=EIO,,b=EIO",
	        "a=EIO,b",
	        "a=kil",
	        "a-step-name-that-is-far-too-long-to-keep=EIO",
	        "a=EIO,b=EIO,c=EIO,d=EIO,e=EIO,f=EIO,g=EIO,h=EIO,i=EIO",
	};

	(void)state;
	assert_int_equal(fault_configure("keep=EIO"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(fault_configure(bad[i]), -1);
	/* Nothing was replaced by the refused specs. */
	assert_int_equal(fault_check("keep"), EIO);
}

static void
test_kill(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (fault_configure("step@2=kill") != 0 ||
		    fault_check("step") != 0)
			_exit(2);
		fault_check("step");
		_exit(3); /* not reached */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_none),
	        cmocka_unit_test(test_every_time_and_nth),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_kill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
