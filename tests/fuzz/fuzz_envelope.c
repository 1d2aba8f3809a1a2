/*
 * Fuzz target for the queue envelope parser: any input either fails to
 * parse or round-trips through the serializer to the same bytes it came
 * from, once re-serialized (the canonical form is a fixed point).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *err = NULL;
	struct envelope *env = envelope_parse((const char *)data, size, &err);
	struct envelope *again;
	char *out, *out2;
	size_t len, len2;

	if (env == NULL)
		return 0;
	out = envelope_serialize(env, &len);
	again = envelope_parse(out, len, &err);
	if (again == NULL)
		abort();
	out2 = envelope_serialize(again, &len2);
	if (len != len2 || memcmp(out, out2, len) != 0)
		abort();
	free(out);
	free(out2);
	envelope_free(&env);
	envelope_free(&again);
	return 0;
}
