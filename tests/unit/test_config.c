/*
 * test_config — postern.conf parsing, validation, defaults, the canonical
 * dump and the lookups the roles make (local domain, relay client), plus
 * `postern check`. Every error case checks the exact "FILE:LINE: message"
 * text an administrator would read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"

#define BASE "/etc/postern"
#define DOM  "domain example.test\n"
#define HOST "hostname mail.example.test\n"

static const char full_text[] = "# every setting, none left at its default\n"
                                "hostname mail.example.com\n"
                                "domain example.com Example.ORG\n"
                                "domain example.net\n"
                                "data_dir /srv/mail/\n"
                                "users_file \"/etc/postern/my users\"\n"
                                "tls_cert certs/cert.pem\n"
                                "tls_key certs/key.pem\n"
                                "tls_self_signed no\n"
                                "run_user mail\n"
                                "smtp_workers 4\n"
                                "shutdown_timeout 10s\n"
                                "log stderr\n"
                                "log_level debug\n"
                                "listen smtp 0.0.0.0:25\n"
                                "listen submission [::]:587\n"
                                "listen submissions [2001:DB8:0::1]:465\n"
                                "listen imap 127.0.0.1:143\n"
                                "listen imaps 127.0.0.1:993\n"
                                "listen pop3 127.0.0.1:110\n"
                                "listen pop3s 127.0.0.1:995\n"
                                "plaintext_auth always\n"
                                "relay_network 192.0.2.0/24 2001:db8::/32\n"
                                "relay_network 10.1.2.3\n"
                                "max_message_size 50M\n"
                                "smtp_max_recipients 500\n"
                                "smtp_max_errors 5\n"
                                "smtp_max_sessions 200\n"
                                "smtp_max_sessions_per_ip 5\n"
                                "smtp_max_hops 30\n"
                                "smtp_command_timeout 2m\n"
                                "smtp_data_timeout 3m\n"
                                "queue_retry_min 1m\n"
                                "queue_retry_max 2h\n"
                                "queue_warn_after 1d\n"
                                "queue_lifetime 3d\n"
                                "aliases_file aliases\n"
                                "recipient_delimiter -\n"
                                "smtp_vrfy_expn no\n"
                                "smtp_verb yes\n"
                                "smtp_received_auth yes\n"
                                "smtp_greeting_delay 2s\n";

static struct config *
parse_ok(const char *text)
{
	char *err = NULL;
	struct config *cfg =
	        config_parse_string(text, strlen(text), "t.conf", BASE, &err);

	if (cfg == NULL)
		fail_msg("unexpected errors:\n%s", err);
	assert_null(err);
	return cfg;
}

static void
expect_errors_len(const char *text, size_t len, const char *want)
{
	char *err = NULL;
	struct config *cfg =
	        config_parse_string(text, len, "t.conf", BASE, &err);

	assert_null(cfg);
	assert_non_null(err);
	assert_string_equal(err, want);
	free(err);
}

static void
expect_errors(const char *text, const char *want)
{
	expect_errors_len(text, strlen(text), want);
}

static void
test_valid_file(void **state)
{
	struct config *cfg = parse_ok(full_text);

	(void)state;
	assert_string_equal(cfg->path, "t.conf");
	assert_string_equal(cfg->hostname, "mail.example.com");
	assert_int_equal(cfg->ndomains, 3);
	assert_string_equal(cfg->domains[0], "example.com");
	assert_string_equal(cfg->domains[1], "example.org");
	assert_string_equal(cfg->domains[2], "example.net");
	assert_string_equal(cfg->data_dir, "/srv/mail");
	assert_string_equal(cfg->users_file, "/etc/postern/my users");
	assert_string_equal(cfg->tls_cert, BASE "/certs/cert.pem");
	assert_string_equal(cfg->tls_key, BASE "/certs/key.pem");
	assert_false(cfg->tls_self_signed);
	assert_string_equal(cfg->run_user, "mail");
	assert_int_equal(cfg->smtp_workers, 4);
	assert_int_equal(cfg->shutdown_timeout_ms, 10000);
	assert_false(cfg->log_syslog);
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg->nlistens, 7);
	assert_int_equal(cfg->listens[0].proto, CONFIG_PROTO_SMTP);
	assert_string_equal(cfg->listens[0].addr, "0.0.0.0");
	assert_int_equal(cfg->listens[0].port, 25);
	assert_int_equal(cfg->listens[1].proto, CONFIG_PROTO_SUBMISSION);
	assert_string_equal(cfg->listens[1].addr, "::");
	assert_int_equal(cfg->listens[1].port, 587);
	assert_int_equal(cfg->listens[2].proto, CONFIG_PROTO_SUBMISSIONS);
	assert_string_equal(cfg->listens[2].addr, "2001:db8::1");
	assert_int_equal(cfg->listens[6].proto, CONFIG_PROTO_POP3S);
	assert_int_equal(cfg->listens[6].port, 995);
	assert_int_equal(cfg->plaintext_auth, CONFIG_PLAINTEXT_ALWAYS);
	assert_int_equal(cfg->nrelay_networks, 3);
	assert_int_equal(cfg->relay_networks[0].family, AF_INET);
	assert_int_equal(cfg->relay_networks[0].prefix, 24);
	assert_int_equal(cfg->relay_networks[1].family, AF_INET6);
	assert_int_equal(cfg->relay_networks[1].prefix, 32);
	assert_int_equal(cfg->relay_networks[2].prefix, 32);
	assert_int_equal(cfg->max_message_size, 50 * 1024 * 1024);
	assert_int_equal(cfg->smtp_max_recipients, 500);
	assert_int_equal(cfg->smtp_max_errors, 5);
	assert_int_equal(cfg->smtp_max_sessions, 200);
	assert_int_equal(cfg->smtp_max_sessions_per_ip, 5);
	assert_int_equal(cfg->smtp_max_hops, 30);
	assert_int_equal(cfg->smtp_command_timeout_ms, 120000);
	assert_int_equal(cfg->smtp_data_timeout_ms, 180000);
	assert_int_equal(cfg->queue_retry_min_ms, 60000);
	assert_int_equal(cfg->queue_retry_max_ms, 7200000);
	assert_int_equal(cfg->queue_warn_after_ms, 86400000);
	assert_int_equal(cfg->queue_lifetime_ms, 3 * 86400000ULL);
	config_free(&cfg);
	assert_null(cfg);
}

static void
test_defaults(void **state)
{
	struct config *cfg = parse_ok(DOM HOST);

	(void)state;
	assert_string_equal(cfg->hostname, "mail.example.test");
	assert_int_equal(cfg->ndomains, 1);
	assert_string_equal(cfg->data_dir, "/var/lib/postern");
	assert_string_equal(cfg->users_file, BASE "/users");
	assert_string_equal(cfg->tls_cert, "/var/lib/postern/tls/cert.pem");
	assert_string_equal(cfg->tls_key, "/var/lib/postern/tls/key.pem");
	assert_false(cfg->tls_self_signed);
	assert_string_equal(cfg->run_user, "postern");
	assert_int_equal(cfg->smtp_workers, 0);
	assert_int_equal(cfg->shutdown_timeout_ms, 30000);
	assert_true(cfg->log_syslog);
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->nlistens, 0);
	assert_null(cfg->listens);
	assert_int_equal(cfg->plaintext_auth, CONFIG_PLAINTEXT_NEVER);
	assert_int_equal(cfg->nrelay_networks, 0);
	assert_int_equal(cfg->max_message_size, 25 * 1024 * 1024);
	assert_int_equal(cfg->smtp_max_recipients, 100);
	assert_int_equal(cfg->smtp_max_errors, 10);
	assert_int_equal(cfg->smtp_max_sessions, 1000);
	assert_int_equal(cfg->smtp_max_sessions_per_ip, 20);
	assert_int_equal(cfg->smtp_max_hops, 50);
	assert_int_equal(cfg->smtp_command_timeout_ms, 5 * 60000);
	assert_int_equal(cfg->smtp_data_timeout_ms, 10 * 60000);
	assert_int_equal(cfg->queue_retry_min_ms, 5 * 60000);
	assert_int_equal(cfg->queue_retry_max_ms, 3600000);
	assert_int_equal(cfg->queue_warn_after_ms, 4 * 3600000);
	assert_int_equal(cfg->queue_lifetime_ms, 5 * 86400000ULL);
	config_free(&cfg);
}

static void
test_default_hostname(void **state)
{
	char name[256] = "";
	struct config *cfg;

	(void)state;
	assert_int_equal(gethostname(name, sizeof(name) - 1), 0);
	cfg = parse_ok(DOM);
	assert_string_equal(cfg->hostname, name);
	config_free(&cfg);
}

static void
test_tls_defaults_follow_data_dir(void **state)
{
	/* data_dir comes after the lines that would use it: the defaults
	 * under it are computed once the whole file is read */
	struct config *cfg = parse_ok(DOM HOST "tls_self_signed yes\n"
	                                       "data_dir spool/.//x/\n");

	(void)state;
	assert_string_equal(cfg->data_dir, BASE "/spool/x");
	assert_string_equal(cfg->tls_cert, BASE "/spool/x/tls/cert.pem");
	assert_string_equal(cfg->tls_key, BASE "/spool/x/tls/key.pem");
	config_free(&cfg);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static void
test_relative_paths(void **state)
{
	char tmpl[] = "/tmp/postern-test-config-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char path[PATH_MAX], want[PATH_MAX + 64], cwd[PATH_MAX];
	char *err = NULL;
	struct config *cfg;

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/postern.conf", dir);
	write_file(path, DOM HOST "data_dir ./data\n"
	                          "tls_cert ../certs/c.pem\n"
	                          "tls_key /abs/k.pem\n");
	cfg = config_load(path, &err);
	assert_non_null(cfg);
	assert_null(err);
	assert_string_equal(cfg->path, path);
	snprintf(want, sizeof(want), "%s/data", dir);
	assert_string_equal(cfg->data_dir, want);
	snprintf(want, sizeof(want), "%s/users", dir);
	assert_string_equal(cfg->users_file, want);
	snprintf(want, sizeof(want), "%s/../certs/c.pem", dir);
	assert_string_equal(cfg->tls_cert, want);
	assert_string_equal(cfg->tls_key, "/abs/k.pem");
	config_free(&cfg);

	/* a relative file name: its directory is made absolute too */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	cfg = config_load("postern.conf", &err);
	assert_int_equal(chdir(cwd), 0);
	assert_non_null(cfg);
	assert_string_equal(cfg->path, path);
	snprintf(want, sizeof(want), "%s/data", dir);
	assert_string_equal(cfg->data_dir, want);
	config_free(&cfg);

	/* config_parse_string resolves against base_dir */
	cfg = parse_ok(DOM HOST "users_file u\n");
	assert_string_equal(cfg->users_file, BASE "/u");
	config_free(&cfg);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_error_unknown_option(void **state)
{
	(void)state;
	expect_errors(DOM "bogus 1\n", "t.conf:2: unknown option 'bogus'\n");
	/* names are exact: no case folding */
	expect_errors(DOM "\nHostname x.test\n",
	              "t.conf:3: unknown option 'Hostname'\n");
}

static void
test_error_missing_value(void **state)
{
	(void)state;
	expect_errors(DOM "hostname\n",
	              "t.conf:2: missing value for 'hostname'\n");
	expect_errors(DOM "listen # nothing\n",
	              "t.conf:2: missing value for 'listen'\n");
	expect_errors("domain\n", "t.conf:1: missing value for 'domain'\n");
}

static void
test_error_bad_value(void **state)
{
	(void)state;
	expect_errors(DOM "hostname a b\n",
	              "t.conf:2: 'hostname' takes one value\n");
	expect_errors(DOM "smtp_workers many\n",
	              "t.conf:2: bad value 'many' for 'smtp_workers': "
	              "expected a whole number\n");
	expect_errors(DOM "smtp_workers -1\n",
	              "t.conf:2: bad value '-1' for 'smtp_workers': "
	              "expected a whole number\n");
	expect_errors(DOM "tls_self_signed maybe\n",
	              "t.conf:2: bad value 'maybe' for 'tls_self_signed': "
	              "expected yes or no\n");
	expect_errors(DOM "log_level loud\n",
	              "t.conf:2: bad value 'loud' for 'log_level': expected "
	              "one of debug, info, warn, error\n");
	expect_errors(DOM "log file\n",
	              "t.conf:2: bad value 'file' for 'log': expected one "
	              "of syslog, stderr\n");
	expect_errors(DOM "plaintext_auth sometimes\n",
	              "t.conf:2: bad value 'sometimes' for 'plaintext_auth': "
	              "expected one of never, loopback, always\n");
	expect_errors(DOM "max_message_size 10X\n",
	              "t.conf:2: bad value '10X' for 'max_message_size': "
	              "expected a size such as 512K, 25M or 1G\n");
	expect_errors(DOM "smtp_data_timeout 5w\n",
	              "t.conf:2: bad value '5w' for 'smtp_data_timeout': "
	              "expected a duration such as 500ms, 30s, 5m, 4h or "
	              "5d\n");
	expect_errors(DOM "hostname bad_name\n",
	              "t.conf:2: bad value 'bad_name' for 'hostname': "
	              "expected a host name such as mail.example.com\n");
	expect_errors(DOM "run_user \"a b\"\n",
	              "t.conf:2: bad value 'a b' for 'run_user': expected a "
	              "user name of letters, digits, '.', '_' and '-'\n");
	expect_errors(DOM "data_dir \"\"\n",
	              "t.conf:2: bad value '' for 'data_dir': expected a "
	              "path\n");
	expect_errors("domain -bad.test a..b ok.test\n",
	              "t.conf:1: bad value '-bad.test' for 'domain': "
	              "expected a domain name\n"
	              "t.conf:1: bad value 'a..b' for 'domain': expected a "
	              "domain name\n");
	expect_errors(DOM "relay_network 10.0.0.0/33\n",
	              "t.conf:2: bad value '10.0.0.0/33' for 'relay_network': "
	              "expected a network such as 192.0.2.0/24 or "
	              "2001:db8::/32\n");
	expect_errors(DOM "relay_network mynet\n",
	              "t.conf:2: bad value 'mynet' for 'relay_network': "
	              "expected a network such as 192.0.2.0/24 or "
	              "2001:db8::/32\n");
	expect_errors(DOM "relay_network 10.0.0.1/8\n",
	              "t.conf:2: relay_network '10.0.0.1/8' has bits set "
	              "after the prefix length\n");
	/* peer bytes are escaped in messages */
	expect_errors(DOM "smtp_workers \"\xff\\\\\"\n",
	              "t.conf:2: bad value '\\xff\\x5c' for 'smtp_workers': "
	              "expected a whole number\n");
}

static void
test_error_out_of_range(void **state)
{
	(void)state;
	expect_errors(DOM "smtp_max_hops 501\n",
	              "t.conf:2: smtp_max_hops 501 is out of range (1 to "
	              "500)\n");
	expect_errors(DOM "smtp_max_recipients 0\n",
	              "t.conf:2: smtp_max_recipients 0 is out of range (1 to "
	              "100000)\n");
	expect_errors(DOM "smtp_workers 65\n",
	              "t.conf:2: smtp_workers 65 is out of range (0 to 64)\n");
	expect_errors(DOM "max_message_size 3G\n",
	              "t.conf:2: max_message_size 3G is out of range (1K to "
	              "2G)\n");
	expect_errors(DOM "max_message_size 1023\n",
	              "t.conf:2: max_message_size 1023 is out of range (1K "
	              "to 2G)\n");
	expect_errors(DOM "smtp_command_timeout 2h\n",
	              "t.conf:2: smtp_command_timeout 2h is out of range (1s "
	              "to 1h)\n");
	expect_errors(DOM "smtp_data_timeout 999ms\n",
	              "t.conf:2: smtp_data_timeout 999ms is out of range (1s "
	              "to 1h)\n");
}

static void
test_error_duplicate_option(void **state)
{
	(void)state;
	expect_errors(DOM "hostname a.test\n# again\nhostname b.test\n",
	              "t.conf:4: duplicate option 'hostname' (first set on "
	              "line 2)\n");
	expect_errors(DOM "tls_self_signed yes\ntls_self_signed yes\n",
	              "t.conf:3: duplicate option 'tls_self_signed' (first "
	              "set on line 2)\n");
	/* repeatable ones are not duplicates, but repeated values are */
	expect_errors(DOM "domain other.test Example.Test\n",
	              "t.conf:2: duplicate domain 'Example.Test' (first on "
	              "line 1)\n");
	expect_errors(DOM "relay_network 10.0.0.0/8\n"
	                  "relay_network 10.0.0.0/8\n",
	              "t.conf:3: duplicate relay_network 10.0.0.0/8 (first "
	              "on line 2)\n");
}

static void
test_error_lexer(void **state)
{
	(void)state;
	expect_errors(DOM "hostname \"abc\n", "t.conf:2: unterminated quote\n");
	expect_errors(DOM "hostname \"abc\\\"\n",
	              "t.conf:2: unterminated quote\n");
	expect_errors(DOM "hostname \"a\\nb\"\n",
	              "t.conf:2: invalid escape in quoted value (only \\\" "
	              "and \\\\ are allowed)\n");
	expect_errors(DOM "hostname \"a\"b\n",
	              "t.conf:2: missing space after closing quote\n");
	expect_errors(DOM "hostname a\"b\"\n",
	              "t.conf:2: unexpected quote inside a value (quote the "
	              "whole value)\n");
	expect_errors(DOM "hostname a\x01\n",
	              "t.conf:2: control character 0x01 in line\n");
	expect_errors(DOM "hostname a\rb\n",
	              "t.conf:2: control character 0x0d in line\n");
	expect_errors_len(DOM "hostname a\0b\n",
	                  sizeof(DOM "hostname a\0b\n") - 1,
	                  "t.conf:2: NUL byte in line\n");
}

static void
test_error_line_too_long(void **state)
{
	size_t n = strlen(DOM) + 4097 + 1;
	char *text = malloc(n + 1);
	struct config *cfg;
	char *err = NULL;

	(void)state;
	assert_non_null(text);
	strcpy(text, DOM);
	memset(text + strlen(DOM), '#', 4097);
	text[n - 1] = '\n';
	text[n] = '\0';
	expect_errors(text, "t.conf:2: line too long (more than 4096 bytes)\n");
	/* exactly 4096 bytes (CR not counted) is fine */
	text[n - 2] = '\r';
	cfg = config_parse_string(text, n, "t.conf", BASE, &err);
	assert_non_null(cfg);
	config_free(&cfg);
	free(text);
}

static void
test_error_too_many_words(void **state)
{
	char text[1024] = DOM "relay_network";

	(void)state;
	for (int i = 0; i < 128; i++)
		strcat(text, " ::1");
	strcat(text, "\n");
	expect_errors(text,
	              "t.conf:2: too many values on one line (at most 128)\n");
}

static void
test_error_unreadable(void **state)
{
	char tmpl[] = "/tmp/postern-test-config-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char want[256];
	char *err = NULL;

	(void)state;
	assert_null(config_load("/nonexistent/postern.conf", &err));
	assert_string_equal(err, "/nonexistent/postern.conf: cannot read: No "
	                         "such file or directory\n");
	free(err);
	assert_non_null(dir);
	assert_null(config_load(dir, &err));
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory\n", dir);
	assert_string_equal(err, want);
	free(err);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_error_file_too_large(void **state)
{
	size_t n = (1 << 20) + 1;
	char *text = malloc(n);

	(void)state;
	assert_non_null(text);
	memset(text, '\n', n);
	expect_errors_len(text, n,
	                  "t.conf: file too large (more than 1048576 bytes)\n");
	free(text);
}

static void
test_all_errors_reported(void **state)
{
	(void)state;
	expect_errors("# several mistakes\n"
	              "hostnam x.test\n"
	              "smtp_workers 100\n"
	              "listen smtp 127.0.0.1:25\n"
	              "listen imap 127.0.0.1:25\n"
	              "log_level\n"
	              "tls_cert c.pem\n"
	              "listen pop3s [::1]:995\n"
	              "queue_retry_min 2h\n",
	              "t.conf:2: unknown option 'hostnam'\n"
	              "t.conf:3: smtp_workers 100 is out of range (0 to 64)\n"
	              "t.conf:5: duplicate listen address 127.0.0.1:25 (first "
	              "on line 4)\n"
	              "t.conf:6: missing value for 'log_level'\n"
	              "t.conf: no domain configured: at least one 'domain' "
	              "line is required\n"
	              "t.conf:7: tls_cert is set but tls_key is not: set both "
	              "or neither\n"
	              "t.conf:9: queue_retry_min must not be longer than "
	              "queue_retry_max\n");
}

static void
test_error_bound(void **state)
{
	char *text = calloc(100, 16);
	char *err = NULL;
	unsigned lines = 0;

	(void)state;
	assert_non_null(text);
	for (int i = 0; i < 100; i++)
		strcat(text, "nonsense 1\n");
	assert_null(
	        config_parse_string(text, strlen(text), "t.conf", BASE, &err));
	for (const char *s = err; *s != '\0'; s++)
		lines += *s == '\n';
	assert_int_equal(lines, 51);
	assert_non_null(strstr(err, "t.conf:50: unknown option 'nonsense'\n"
	                            "t.conf: too many errors (50), giving "
	                            "up\n"));
	free(err);
	free(text);
}

static void
test_listen(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok(DOM HOST "listen smtp [::1]:2525\n"
	                        "listen\tsmtp\t127.0.0.1:2525\n"
	                        "listen imap [::ffff:127.0.0.1]:143\n");
	assert_int_equal(cfg->nlistens, 3);
	assert_string_equal(cfg->listens[0].addr, "::1");
	assert_int_equal(cfg->listens[0].port, 2525);
	assert_string_equal(cfg->listens[1].addr, "127.0.0.1");
	assert_string_equal(cfg->listens[2].addr, "::ffff:127.0.0.1");
	config_free(&cfg);

	/* the same address spelled two ways is still a duplicate */
	expect_errors(DOM "listen smtp [::1]:25\nlisten imap [0:0::1]:25\n",
	              "t.conf:3: duplicate listen address [::1]:25 (first on "
	              "line 2)\n");
	expect_errors(DOM "listen smtp 127.0.0.1:25\n"
	                  "listen imap 127.0.0.1:25\n",
	              "t.conf:3: duplicate listen address 127.0.0.1:25 "
	              "(first on line 2)\n");
	expect_errors(DOM "listen smtp\n",
	              "t.conf:2: 'listen' takes a protocol and an "
	              "ADDRESS:PORT\n");
	expect_errors(DOM "listen smtp 127.0.0.1:25 extra\n",
	              "t.conf:2: 'listen' takes a protocol and an "
	              "ADDRESS:PORT\n");
	expect_errors(DOM "listen lmtp 127.0.0.1:24\n",
	              "t.conf:2: unknown protocol 'lmtp' for 'listen': "
	              "expected one of smtp, submission, submissions, imap, "
	              "imaps, pop3, pop3s\n");
	expect_errors(DOM "listen smtp localhost:25\n"
	                  "listen smtp ::1:25\n"
	                  "listen smtp 127.0.0.1\n"
	                  "listen smtp [::1]25\n"
	                  "listen smtp []:25\n",
	              "t.conf:2: bad listen address 'localhost:25': expected "
	              "a numeric IP address and a port, such as 127.0.0.1:25 "
	              "or [::1]:25\n"
	              "t.conf:3: bad listen address '::1:25': expected a "
	              "numeric IP address and a port, such as 127.0.0.1:25 "
	              "or [::1]:25\n"
	              "t.conf:4: bad listen address '127.0.0.1': expected a "
	              "numeric IP address and a port, such as 127.0.0.1:25 "
	              "or [::1]:25\n"
	              "t.conf:5: bad listen address '[::1]25': expected a "
	              "numeric IP address and a port, such as 127.0.0.1:25 "
	              "or [::1]:25\n"
	              "t.conf:6: bad listen address '[]:25': expected a "
	              "numeric IP address and a port, such as 127.0.0.1:25 "
	              "or [::1]:25\n");
	expect_errors(DOM "listen smtp 127.0.0.1:0\n"
	                  "listen smtp 127.0.0.1:65536\n"
	                  "listen smtp [::1]:\n"
	                  "listen smtp 127.0.0.1:http\n",
	              "t.conf:2: bad port in listen address '127.0.0.1:0': "
	              "expected 1 to 65535\n"
	              "t.conf:3: bad port in listen address "
	              "'127.0.0.1:65536': expected 1 to 65535\n"
	              "t.conf:4: bad port in listen address '[::1]:': "
	              "expected 1 to 65535\n"
	              "t.conf:5: bad port in listen address "
	              "'127.0.0.1:http': expected 1 to 65535\n");
	cfg = parse_ok(DOM HOST "listen pop3 127.0.0.1:65535\n");
	assert_int_equal(cfg->listens[0].port, 65535);
	config_free(&cfg);
}

static void
test_tls_rules(void **state)
{
	struct config *cfg;

	(void)state;
	expect_errors(DOM "tls_key k.pem\n",
	              "t.conf:2: tls_key is set but tls_cert is not: set both "
	              "or neither\n");
	expect_errors(DOM "listen smtp 127.0.0.1:25\n"
	                  "listen imaps 127.0.0.1:993\n"
	                  "listen pop3s 127.0.0.1:995\n",
	              "t.conf:3: listen imaps needs a certificate: set "
	              "tls_cert and tls_key, or tls_self_signed yes\n");
	/* STARTTLS listeners alone need nothing */
	cfg = parse_ok(DOM HOST "listen smtp 127.0.0.1:25\n"
	                        "listen imap 127.0.0.1:143\n");
	config_free(&cfg);
	cfg = parse_ok(DOM HOST "listen imaps 127.0.0.1:993\n"
	                        "tls_cert /c.pem\ntls_key /k.pem\n");
	config_free(&cfg);
	cfg = parse_ok(DOM HOST "listen imaps 127.0.0.1:993\n"
	                        "tls_self_signed on\n");
	config_free(&cfg);
}

static void
test_queue_rules(void **state)
{
	(void)state;
	expect_errors(DOM HOST "queue_warn_after 5d\n",
	              "t.conf:3: queue_warn_after must be shorter than "
	              "queue_lifetime\n");
	expect_errors(DOM HOST "queue_retry_max 1m\n",
	              "t.conf:3: queue_retry_min must not be longer than "
	              "queue_retry_max\n");
}

static void
test_no_domain(void **state)
{
	(void)state;
	expect_errors("", "t.conf: no domain configured: at least one "
	                  "'domain' line is required\n");
	expect_errors("# only a comment\n\n   \t\n",
	              "t.conf: no domain configured: at least one 'domain' "
	              "line is required\n");
}

static uint64_t
parse_field(const char *line, size_t offset)
{
	char text[256];
	struct config *cfg;
	uint64_t v;

	snprintf(text, sizeof(text), DOM HOST "%s\n", line);
	cfg = parse_ok(text);
	memcpy(&v, (const char *)cfg + offset, sizeof(v));
	config_free(&cfg);
	return v;
}

static void
test_size_suffixes(void **state)
{
	size_t off = offsetof(struct config, max_message_size);

	(void)state;
	assert_int_equal(parse_field("max_message_size 1K", off), 1024);
	assert_int_equal(parse_field("max_message_size 1k", off), 1024);
	assert_int_equal(parse_field("max_message_size 1025", off), 1025);
	assert_int_equal(parse_field("max_message_size 1536K", off),
	                 1536 * 1024);
	assert_int_equal(parse_field("max_message_size 25m", off),
	                 25 * 1024 * 1024);
	assert_int_equal(parse_field("max_message_size 2G", off),
	                 2048ULL * 1024 * 1024);
	assert_int_equal(parse_field("max_message_size 2048M", off),
	                 2048ULL * 1024 * 1024);
	/* overflow in the digits and in the multiplication */
	expect_errors(DOM "max_message_size 99999999999999999999\n",
	              "t.conf:2: max_message_size 99999999999999999999 is out "
	              "of range (1K to 2G)\n");
	expect_errors(DOM "max_message_size 17179869184G\n",
	              "t.conf:2: max_message_size 17179869184G is out of "
	              "range (1K to 2G)\n");
	expect_errors(DOM "max_message_size K\n",
	              "t.conf:2: bad value 'K' for 'max_message_size': "
	              "expected a size such as 512K, 25M or 1G\n");
	expect_errors(DOM "max_message_size 1.5M\n",
	              "t.conf:2: bad value '1.5M' for 'max_message_size': "
	              "expected a size such as 512K, 25M or 1G\n");
	expect_errors(DOM "max_message_size 1KB\n",
	              "t.conf:2: bad value '1KB' for 'max_message_size': "
	              "expected a size such as 512K, 25M or 1G\n");
}

static void
test_duration_suffixes(void **state)
{
	size_t sd = offsetof(struct config, shutdown_timeout_ms);
	size_t ql = offsetof(struct config, queue_lifetime_ms);

	(void)state;
	assert_int_equal(parse_field("shutdown_timeout 500ms", sd), 500);
	assert_int_equal(parse_field("shutdown_timeout 90", sd), 90000);
	assert_int_equal(parse_field("shutdown_timeout 0", sd), 0);
	assert_int_equal(parse_field("shutdown_timeout 45s", sd), 45000);
	assert_int_equal(parse_field("shutdown_timeout 2m", sd), 120000);
	assert_int_equal(parse_field("shutdown_timeout 1h", sd), 3600000);
	assert_int_equal(parse_field("queue_lifetime 2d", ql), 2 * 86400000ULL);
	assert_int_equal(parse_field("queue_lifetime 36h", ql),
	                 36 * 3600000ULL);
	expect_errors(DOM "queue_lifetime 999999999999999999d\n",
	              "t.conf:2: queue_lifetime 999999999999999999d is out of "
	              "range (1h to 60d)\n");
	expect_errors(DOM "queue_lifetime 99999999999999999999\n",
	              "t.conf:2: queue_lifetime 99999999999999999999 is out "
	              "of range (1h to 60d)\n");
	expect_errors(DOM "shutdown_timeout ms\n",
	              "t.conf:2: bad value 'ms' for 'shutdown_timeout': "
	              "expected a duration such as 500ms, 30s, 5m, 4h or "
	              "5d\n");
	expect_errors(DOM "shutdown_timeout 1.5h\n",
	              "t.conf:2: bad value '1.5h' for 'shutdown_timeout': "
	              "expected a duration such as 500ms, 30s, 5m, 4h or "
	              "5d\n");
	expect_errors(DOM "shutdown_timeout 5 m\n",
	              "t.conf:2: 'shutdown_timeout' takes one value\n");
	expect_errors(DOM "shutdown_timeout 5M\n",
	              "t.conf:2: bad value '5M' for 'shutdown_timeout': "
	              "expected a duration such as 500ms, 30s, 5m, 4h or "
	              "5d\n");
}

static void
test_bool_and_enum_words(void **state)
{
	static const char *const yes[] = {"yes", "true", "on", "YES", "On"};
	static const char *const no[] = {"no", "false", "off", "No"};
	char text[128];
	struct config *cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		snprintf(text, sizeof(text), DOM HOST "tls_self_signed %s\n",
		         yes[i]);
		cfg = parse_ok(text);
		assert_true(cfg->tls_self_signed);
		config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++) {
		snprintf(text, sizeof(text), DOM HOST "tls_self_signed %s\n",
		         no[i]);
		cfg = parse_ok(text);
		assert_false(cfg->tls_self_signed);
		config_free(&cfg);
	}
	cfg = parse_ok(DOM HOST "log_level warn\nlog syslog\n"
	                        "plaintext_auth loopback\n");
	assert_int_equal(cfg->log_level, LOG_LEVEL_WARN);
	assert_true(cfg->log_syslog);
	assert_int_equal(cfg->plaintext_auth, CONFIG_PLAINTEXT_LOOPBACK);
	config_free(&cfg);
	cfg = parse_ok(DOM HOST "log_level error\n");
	assert_int_equal(cfg->log_level, LOG_LEVEL_ERR);
	config_free(&cfg);
}

static void
test_quotes_and_comments(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("  domain a.test\tb.test # two at once\r\n"
	               "hostname \"mail.a.test\"# right after the quote\r\n"
	               "run_user us#er\n"
	               "users_file \"/x y/# not a comment \\\"q\\\" \\\\\"\n"
	               "data_dir \"/d\"");
	assert_int_equal(cfg->ndomains, 2);
	assert_string_equal(cfg->domains[1], "b.test");
	assert_string_equal(cfg->hostname, "mail.a.test");
	assert_string_equal(cfg->run_user, "us");
	assert_string_equal(cfg->users_file, "/x y/# not a comment \"q\" \\");
	assert_string_equal(cfg->data_dir, "/d");
	config_free(&cfg);
}

static void
test_relay_networks(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok(DOM HOST "relay_network 0.0.0.0/0 ::/0 fe80::/10\n"
	                        "relay_network 198.51.100.128/25 ::1\n");
	assert_int_equal(cfg->nrelay_networks, 5);
	assert_int_equal(cfg->relay_networks[0].prefix, 0);
	assert_int_equal(cfg->relay_networks[2].prefix, 10);
	assert_int_equal(cfg->relay_networks[3].prefix, 25);
	assert_int_equal(cfg->relay_networks[4].family, AF_INET6);
	assert_int_equal(cfg->relay_networks[4].prefix, 128);
	config_free(&cfg);
	expect_errors(DOM "relay_network fe80::1/10\n",
	              "t.conf:2: relay_network 'fe80::1/10' has bits set "
	              "after the prefix length\n");
}

static void
roundtrip(const char *text)
{
	struct config *a = parse_ok(text);
	char *dump = config_dump(a);
	char *err = NULL;
	struct config *b;
	char *dump2;

	/* another base directory: the dump holds absolute paths only */
	b = config_parse_string(dump, strlen(dump), "dump", "/elsewhere", &err);
	if (b == NULL)
		fail_msg("dump does not parse:\n%s\n%s", err, dump);
	assert_true(config_equal(a, b));
	dump2 = config_dump(b);
	assert_string_equal(dump, dump2);
	free(dump);
	free(dump2);
	config_free(&a);
	config_free(&b);
}

static void
test_dump_round_trip(void **state)
{
	(void)state;
	roundtrip(full_text);
	roundtrip(DOM);
	roundtrip(config_default_text());
	roundtrip(DOM HOST "data_dir \"/odd \\\"dir\\\" #x \\\\ y\"\n"
	                   "max_message_size 1025\nshutdown_timeout 1500ms\n"
	                   "queue_retry_min 90\nrelay_network ::ffff:0:0/96\n"
	                   "run_user a.b_c-d\n");
}

static void
test_smtp_policy(void **state)
{
	struct config *cfg = parse_ok(DOM);

	(void)state;
	/* No aliases unless configured; plus-addressing on by default. */
	assert_null(cfg->aliases_file);
	assert_string_equal(cfg->recipient_delimiter, "+");
	assert_true(cfg->smtp_vrfy_expn);
	assert_false(cfg->smtp_verb);
	assert_int_equal(cfg->smtp_greeting_delay_ms, 0);
	config_free(&cfg);
	cfg = parse_ok(DOM "aliases_file aliases\nrecipient_delimiter none\n"
	                   "smtp_greeting_delay 1500ms\n");
	assert_string_equal(cfg->aliases_file, BASE "/aliases");
	assert_string_equal(cfg->recipient_delimiter, "none");
	assert_int_equal(cfg->smtp_greeting_delay_ms, 1500);
	config_free(&cfg);
	expect_errors(DOM "recipient_delimiter ++\n",
	              "t.conf:2: bad value '++' for 'recipient_delimiter': "
	              "expected one of + - _ = ~ # or none\n");
	roundtrip(DOM "aliases_file /etc/aliases\n");
}

static void
test_dump_text(void **state)
{
	struct config *cfg = parse_ok(full_text);
	char *dump = config_dump(cfg);

	(void)state;
	assert_non_null(strstr(dump, "\nhostname mail.example.com\n"));
	assert_non_null(strstr(dump, "\ndomain example.org\n"));
	assert_non_null(strstr(dump, "\nusers_file \"/etc/postern/my "
	                             "users\"\n"));
	assert_non_null(strstr(dump, "\ntls_cert /etc/postern/certs/"
	                             "cert.pem\n"));
	assert_non_null(strstr(dump, "\nlog stderr\n"));
	assert_non_null(strstr(dump, "\nlisten submissions "
	                             "[2001:db8::1]:465\n"));
	assert_non_null(strstr(dump, "\nrelay_network 10.1.2.3/32\n"));
	assert_non_null(strstr(dump, "\nrelay_network 2001:db8::/32\n"));
	assert_non_null(strstr(dump, "\nmax_message_size 50M\n"));
	assert_non_null(strstr(dump, "\nqueue_warn_after 1d\n"));
	assert_non_null(strstr(dump, "\nsmtp_workers 4\n"));
	free(dump);
	config_free(&cfg);
}

static void
test_default_text(void **state)
{
	const char *text = config_default_text();
	char *err = NULL;
	struct config *cfg = config_parse_string(
	        text, strlen(text), "<default>", "/srv/x/var", &err);

	(void)state;
	if (cfg == NULL)
		fail_msg("default text does not parse:\n%s", err);
	assert_string_equal(cfg->path, "<default>");
	assert_string_equal(cfg->hostname, "localhost");
	assert_int_equal(cfg->ndomains, 1);
	assert_string_equal(cfg->domains[0], "example.test");
	assert_string_equal(cfg->data_dir, "/srv/x/var");
	assert_string_equal(cfg->users_file, "/srv/x/var/users");
	assert_string_equal(cfg->tls_cert, "/srv/x/var/tls/cert.pem");
	assert_string_equal(cfg->tls_key, "/srv/x/var/tls/key.pem");
	assert_true(cfg->tls_self_signed);
	assert_false(cfg->log_syslog);
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->plaintext_auth, CONFIG_PLAINTEXT_LOOPBACK);
	assert_int_equal(cfg->nrelay_networks, 2);
	assert_int_equal(cfg->relay_networks[0].family, AF_INET);
	assert_int_equal(cfg->relay_networks[0].prefix, 8);
	assert_int_equal(cfg->relay_networks[1].family, AF_INET6);
	assert_int_equal(cfg->relay_networks[1].prefix, 128);
	assert_int_equal(cfg->nlistens, 7);
	for (size_t i = 0; i < cfg->nlistens; i++)
		assert_string_equal(cfg->listens[i].addr, "127.0.0.1");
	assert_int_equal(cfg->listens[0].proto, CONFIG_PROTO_SMTP);
	assert_int_equal(cfg->listens[0].port, 2525);
	assert_int_equal(cfg->listens[1].port, 2587);
	assert_int_equal(cfg->listens[2].port, 2465);
	assert_int_equal(cfg->listens[3].port, 2143);
	assert_int_equal(cfg->listens[4].port, 2993);
	assert_int_equal(cfg->listens[5].port, 2110);
	assert_int_equal(cfg->listens[6].proto, CONFIG_PROTO_POP3S);
	assert_int_equal(cfg->listens[6].port, 2995);
	/* it explains itself to a new user */
	assert_true(text[0] == '#');
	config_free(&cfg);
}

static void
test_is_local_domain(void **state)
{
	struct config *cfg = parse_ok(HOST "domain Example.Test other.test\n");

	(void)state;
	assert_true(config_is_local_domain(cfg, "example.test"));
	assert_true(config_is_local_domain(cfg, "EXAMPLE.test"));
	assert_true(config_is_local_domain(cfg, "example.test."));
	assert_true(config_is_local_domain(cfg, "Other.Test"));
	assert_false(config_is_local_domain(cfg, "sub.example.test"));
	assert_false(config_is_local_domain(cfg, "example.tes"));
	assert_false(config_is_local_domain(cfg, "example.test.."));
	assert_false(config_is_local_domain(cfg, ""));
	assert_false(config_is_local_domain(cfg, NULL));
	assert_false(config_is_local_domain(NULL, "example.test"));
	config_free(&cfg);
}

static bool
relay_v4(const struct config *cfg, const char *addr)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	return config_is_relay_client(cfg, (const struct sockaddr *)&sin);
}

static bool
relay_v6(const struct config *cfg, const char *addr)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, addr, &sin6.sin6_addr), 1);
	return config_is_relay_client(cfg, (const struct sockaddr *)&sin6);
}

static void
test_is_relay_client(void **state)
{
	struct config *cfg = parse_ok(
	        DOM HOST "relay_network 192.0.2.0/24 198.51.100.128/25\n"
	                 "relay_network 2001:db8::/32 ::1\n");
	struct config *none = parse_ok(DOM HOST);
	struct config *all = parse_ok(DOM HOST "relay_network 0.0.0.0/0\n");
	struct sockaddr_un sun;

	(void)state;
	/* IPv4 */
	assert_true(relay_v4(cfg, "192.0.2.0"));
	assert_true(relay_v4(cfg, "192.0.2.255"));
	assert_false(relay_v4(cfg, "192.0.3.1"));
	assert_true(relay_v4(cfg, "198.51.100.200"));
	assert_false(relay_v4(cfg, "198.51.100.127"));
	assert_false(relay_v4(cfg, "127.0.0.1"));
	/* IPv6 */
	assert_true(relay_v6(cfg, "2001:db8:ffff::5"));
	assert_false(relay_v6(cfg, "2001:db9::5"));
	assert_true(relay_v6(cfg, "::1"));
	assert_false(relay_v6(cfg, "::2"));
	/* IPv4-mapped IPv6, as a dual-stack socket reports IPv4 clients */
	assert_true(relay_v6(cfg, "::ffff:192.0.2.7"));
	assert_true(relay_v6(cfg, "::ffff:198.51.100.129"));
	assert_false(relay_v6(cfg, "::ffff:198.51.100.1"));
	assert_false(relay_v6(cfg, "::192.0.2.7"));
	assert_true(relay_v6(all, "::ffff:10.9.8.7"));
	assert_false(relay_v6(all, "2001:db8::1"));
	/* nothing configured, other families, NULL */
	assert_false(relay_v4(none, "127.0.0.1"));
	assert_false(relay_v6(none, "::1"));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_false(config_is_relay_client(cfg, (struct sockaddr *)&sun));
	assert_false(config_is_relay_client(cfg, NULL));
	assert_false(config_is_relay_client(NULL, NULL));
	config_free(&cfg);
	config_free(&none);
	config_free(&all);
}

static void
test_proto_names(void **state)
{
	enum config_proto p;

	(void)state;
	for (int i = CONFIG_PROTO_SMTP; i <= CONFIG_PROTO_POP3S; i++) {
		const char *name = config_proto_name((enum config_proto)i);

		assert_int_equal(config_proto_parse(name, &p), 0);
		assert_int_equal(p, i);
	}
	assert_string_equal(config_proto_name(CONFIG_PROTO_SUBMISSIONS),
	                    "submissions");
	assert_string_equal(config_proto_name((enum config_proto)99),
	                    "unknown");
	assert_int_equal(config_proto_parse("SMTP", &p), -1);
	assert_int_equal(config_proto_parse("lmtp", &p), -1);
	assert_int_equal(config_proto_parse(NULL, &p), -1);
	assert_true(config_proto_is_implicit_tls(CONFIG_PROTO_IMAPS));
	assert_true(config_proto_is_implicit_tls(CONFIG_PROTO_POP3S));
	assert_true(config_proto_is_implicit_tls(CONFIG_PROTO_SUBMISSIONS));
	assert_false(config_proto_is_implicit_tls(CONFIG_PROTO_SUBMISSION));
	assert_false(config_proto_is_implicit_tls(CONFIG_PROTO_SMTP));
}

static void
test_free_null(void **state)
{
	struct config *cfg = NULL;

	(void)state;
	config_free(NULL);
	config_free(&cfg);
	assert_null(cfg);
}

static void
test_equal_sees_changes(void **state)
{
	struct config *a = parse_ok(full_text);
	struct config *b = parse_ok(full_text);
	struct config *c = parse_ok(DOM HOST);

	(void)state;
	assert_true(config_equal(a, b));
	assert_false(config_equal(a, c));
	b->listens[3].port++;
	assert_false(config_equal(a, b));
	b->listens[3].port--;
	b->relay_networks[0].prefix = 25;
	assert_false(config_equal(a, b));
	config_free(&a);
	config_free(&b);
	config_free(&c);
}

/* Every option the dump of a full config names is in the manual page. */
static void
test_docs_cover_every_option(void **state)
{
	static const char *const paths[] = {"docs/postern.conf.5",
	                                    "../docs/postern.conf.5"};
	struct config *cfg = parse_ok(full_text);
	char *dump = config_dump(cfg);
	char *doc = NULL;
	size_t n = 0;
	FILE *f = NULL;

	(void)state;
	for (size_t i = 0; i < 2 && f == NULL; i++)
		f = fopen(paths[i], "r");
	if (f == NULL) {
		free(dump);
		config_free(&cfg);
		skip();
	}
	doc = calloc(1, 1 << 20);
	assert_non_null(doc);
	n = fread(doc, 1, (1 << 20) - 1, f);
	fclose(f);
	assert_true(n > 0);
	for (char *line = strtok(dump, "\n"); line != NULL;
	     line = strtok(NULL, "\n")) {
		char want[128];

		if (line[0] == '#')
			continue;
		snprintf(want, sizeof(want), ".B %.*s\n",
		         (int)strcspn(line, " "), line);
		if (strstr(doc, want) == NULL)
			fail_msg("docs/postern.conf.5 lacks \"%s\"", want);
	}
	free(doc);
	free(dump);
	config_free(&cfg);
}

/* Runs cli_check with stdout and stderr sent to files; returns its
 * status and what it printed. */
static int
run_check(const char *path, char *out, char *err, size_t size)
{
	char *argv[] = {(char[]){"check"}, (char *)(uintptr_t)path, NULL};
	FILE *fo = tmpfile(), *fe = tmpfile();
	int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
	int rc;
	size_t n;

	assert_non_null(fo);
	assert_non_null(fe);
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(fo), STDOUT_FILENO);
	dup2(fileno(fe), STDERR_FILENO);
	rc = cli_check("/nonexistent/default.conf", path != NULL ? 2 : 1, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, STDOUT_FILENO);
	dup2(se, STDERR_FILENO);
	close(so);
	close(se);
	rewind(fo);
	rewind(fe);
	n = fread(out, 1, size - 1, fo);
	out[n] = '\0';
	n = fread(err, 1, size - 1, fe);
	err[n] = '\0';
	fclose(fo);
	fclose(fe);
	return rc;
}

static void
test_cli_check(void **state)
{
	char tmpl[] = "/tmp/postern-test-config-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char path[128], want[512];
	char out[4096], err[4096];

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/postern.conf", dir);
	/* no listen lines at all is allowed: postern listens nowhere */
	write_file(path, DOM HOST);
	assert_int_equal(run_check(path, out, err, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s: ok\n", path);
	assert_string_equal(out, want);
	assert_string_equal(err, "");

	write_file(path, DOM HOST "smtp_max_hops 0\nwhat 1\n");
	assert_int_equal(run_check(path, out, err, sizeof(out)), 1);
	assert_string_equal(out, "");
	snprintf(want, sizeof(want),
	         "%s:3: smtp_max_hops 0 is out of range (1 to 500)\n"
	         "%s:4: unknown option 'what'\n",
	         path, path);
	assert_string_equal(err, want);

	/* without FILE: the configured path */
	assert_int_equal(run_check(NULL, out, err, sizeof(out)), 1);
	assert_string_equal(err, "/nonexistent/default.conf: cannot read: No "
	                         "such file or directory\n");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_valid_file),
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_default_hostname),
	        cmocka_unit_test(test_tls_defaults_follow_data_dir),
	        cmocka_unit_test(test_relative_paths),
	        cmocka_unit_test(test_error_unknown_option),
	        cmocka_unit_test(test_error_missing_value),
	        cmocka_unit_test(test_error_bad_value),
	        cmocka_unit_test(test_error_out_of_range),
	        cmocka_unit_test(test_error_duplicate_option),
	        cmocka_unit_test(test_error_lexer),
	        cmocka_unit_test(test_error_line_too_long),
	        cmocka_unit_test(test_error_too_many_words),
	        cmocka_unit_test(test_error_unreadable),
	        cmocka_unit_test(test_error_file_too_large),
	        cmocka_unit_test(test_all_errors_reported),
	        cmocka_unit_test(test_error_bound),
	        cmocka_unit_test(test_listen),
	        cmocka_unit_test(test_tls_rules),
	        cmocka_unit_test(test_queue_rules),
	        cmocka_unit_test(test_no_domain),
	        cmocka_unit_test(test_size_suffixes),
	        cmocka_unit_test(test_duration_suffixes),
	        cmocka_unit_test(test_bool_and_enum_words),
	        cmocka_unit_test(test_quotes_and_comments),
	        cmocka_unit_test(test_relay_networks),
	        cmocka_unit_test(test_dump_round_trip),
	        cmocka_unit_test(test_dump_text),
	        cmocka_unit_test(test_smtp_policy),
	        cmocka_unit_test(test_default_text),
	        cmocka_unit_test(test_is_local_domain),
	        cmocka_unit_test(test_is_relay_client),
	        cmocka_unit_test(test_proto_names),
	        cmocka_unit_test(test_free_null),
	        cmocka_unit_test(test_equal_sees_changes),
	        cmocka_unit_test(test_docs_cover_every_option),
	        cmocka_unit_test(test_cli_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
