/*
 * fuzz_config — postern.conf parsing. Any input must give either a config
 * or an error text, never a crash, a hang or a leak; and a config that
 * parses must survive the trip the parent makes it take to every role:
 * config_dump() and back through config_parse_string() gives an equal
 * config and the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_roundtrip(const struct config *cfg)
{
	struct sockaddr_in6 sin6;
	char *dump = config_dump(cfg);
	char *err = NULL;
	struct config *again =
	        config_parse_string(dump, strlen(dump), "dump", "/", &err);
	char *dump2;

	if (again == NULL || !config_equal(cfg, again))
		abort();
	dump2 = config_dump(again);
	if (strcmp(dump, dump2) != 0)
		abort();
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr.s6_addr[15] = 1;
	(void)config_is_relay_client(again, (const struct sockaddr *)&sin6);
	(void)config_is_local_domain(again, "example.test");
	free(dump);
	free(dump2);
	config_free(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
	struct config *cfg = config_parse_string((const char *)data, size,
	                                         "fuzz.conf", "/fuzz", &err);

	if (cfg == NULL) {
		/* every refusal says why */
		if (err == NULL || err[0] == '\0')
			abort();
		free(err);
		return 0;
	}
	fuzz_roundtrip(cfg);
	config_free(&cfg);
	return 0;
}
