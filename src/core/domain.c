/*
 * domain — LDH domain name checks shared by the users file and the
 * aliases file parsers. Pure functions.
 */
#include "core/domain.h"

bool
domain_is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

const char *
domain_problem(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0)
		return "empty domain";
	if (len > DOMAIN_MAX)
		return "domain longer than 255 octets";
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0)
				return "empty label in domain";
			if (s[i - 1] == '-')
				return "domain label ends with '-'";
			label = 0;
		} else if (domain_is_ldh(s[i])) {
			if (label == 0 && s[i] == '-')
				return "domain label begins with '-'";
			if (++label > 63)
				return "domain label longer than 63 octets";
		} else {
			return "invalid character in domain";
		}
	}
	return NULL;
}
