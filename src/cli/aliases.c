/*
 * aliases — `postern aliases check [FILE]`, `postern aliases resolve
 * ADDRESS...` and `newaliases`: validate the aliases file (format in
 * auth/aliases.h, guide in docs/aliases.md) and show what an address
 * delivers to.
 *
 * check parses the file and its includes and prints "FILE: N aliases",
 * or every error as FILE:LINE: reason on stderr. When the configuration
 * loads it also expands every entry in every domain it applies to,
 * against the users file, so a member that names no account, a loop or
 * an entry that grew too large is found before mail to it is refused;
 * keys in domains that are not local are warned about (they are never
 * used). `newaliases` is check on the configured file: postern reads the
 * aliases file itself, so there is no database to rebuild.
 *
 * resolve prints the targets of each ADDRESS as the server would find
 * them. Runs in the administration tool as the invoking user, who needs
 * read access to the files; nothing is written.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/aliases.h"
#include "auth/passdb.h"
#include "auth/resolve.h"
#include "cli/cli.h"
#include "config/config.h"

#define ALIASES_EXIT_OK    0
#define ALIASES_EXIT_ERROR 1
#define ALIASES_EXIT_USAGE 2

/* Problems reported in full by check before the rest are counted. */
#define ALIASES_CHECK_SHOWN 100

static int
aliases_usage(void)
{
	fputs("usage: postern [--config FILE] aliases check [FILE]\n"
	      "       postern [--config FILE] aliases resolve [--file FILE] "
	      "ADDRESS...\n"
	      "       newaliases\n"
	      "FILE defaults to the configuration's aliases file.\n",
	      stderr);
	return ALIASES_EXIT_USAGE;
}

/* The account callback over a loaded users file. */
static enum resolve_account
aliases_passdb_lookup(void *arg, const char *address, uint64_t *quota_r)
{
	const struct passdb_user *u = passdb_lookup(arg, address);

	if (u == NULL)
		return RESOLVE_ACCOUNT_NONE;
	*quota_r = u->quota;
	return RESOLVE_ACCOUNT_FOUND;
}

/* Fills a resolution context from the configuration. */
static void
aliases_ctx_init(struct resolve_ctx *ctx, const struct config *cfg,
                 const struct aliases *al, struct passdb *db)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->aliases = al;
	ctx->domains = (const char *const *)cfg->domains;
	ctx->ndomains = cfg->ndomains;
	ctx->delimiter = config_recipient_delimiter(cfg);
	ctx->account_lookup = aliases_passdb_lookup;
	ctx->account_arg = db;
}

/* Loads the configuration; prints its errors unless `quiet`. */
static struct config *
aliases_config_load(const char *config_path, bool quiet)
{
	struct config *cfg;
	char *err = NULL;

	if (config_path == NULL)
		return NULL;
	cfg = config_load(config_path, &err);
	if (cfg == NULL && !quiet)
		fprintf(stderr, "%s\n", err ? err : "configuration error");
	free(err);
	return cfg;
}

/* Loads the aliases file at `path`; prints its errors. */
static struct aliases *
aliases_file_load(const char *path)
{
	char *err = NULL;
	struct aliases *al = aliases_load(path, &err);

	if (al == NULL)
		fprintf(stderr, "%s\n", err ? err : "aliases error");
	free(err);
	return al;
}

/* --- check ---------------------------------------------------------- */

/* What check found beyond syntax. */
struct aliases_report {
	unsigned errors;
	unsigned shown;
};

static void aliases_report(struct aliases_report *rep, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
aliases_report(struct aliases_report *rep, const char *fmt, ...)
{
	va_list ap;

	rep->errors++;
	if (rep->shown == ALIASES_CHECK_SHOWN)
		return;
	rep->shown++;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Expands entry `a` in `domain`; reports a failure. */
static void
aliases_check_entry(struct aliases_report *rep, const char *path,
                    const struct resolve_ctx *ctx, const struct alias *a,
                    const char *domain)
{
	struct resolve_targets out;
	const char *why = NULL;
	enum resolve_result r = resolve_alias(ctx, a, domain, &out, &why);

	if (r != RESOLVE_OK)
		aliases_report(rep, "%s:%u: alias '%s' in %s: %s: %s", path,
		               a->line, a->key, domain, resolve_result_name(r),
		               why);
	resolve_targets_deinit(&out);
}

/* Checks every entry against the local domains and the users file. */
static void
aliases_check_semantics(struct aliases_report *rep, const char *path,
                        const struct config *cfg, const struct aliases *al)
{
	struct resolve_ctx ctx;
	struct passdb *db;
	char *err = NULL;

	for (size_t i = 0; i < aliases_count(al); i++) {
		const struct alias *a = aliases_get(al, i);
		const char *at = strchr(a->key, '@');

		if (at != NULL && !config_is_local_domain(cfg, at + 1))
			fprintf(stderr,
			        "%s:%u: warning: alias '%s': %s is not a local "
			        "domain, so the alias is never used\n",
			        path, a->line, a->key, at + 1);
	}
	db = passdb_load(cfg->users_file, &err);
	if (db == NULL) {
		fprintf(stderr,
		        "postern: note: members not checked against the users "
		        "file: %s\n",
		        err ? err : cfg->users_file);
		free(err);
		return;
	}
	aliases_ctx_init(&ctx, cfg, al, db);
	for (size_t i = 0; i < aliases_count(al); i++) {
		const struct alias *a = aliases_get(al, i);
		const char *at = strchr(a->key, '@');

		if (at != NULL) {
			if (config_is_local_domain(cfg, at + 1))
				aliases_check_entry(rep, path, &ctx, a, at + 1);
			continue;
		}
		for (size_t d = 0; d < cfg->ndomains; d++)
			aliases_check_entry(rep, path, &ctx, a,
			                    cfg->domains[d]);
	}
	passdb_free(&db);
}

static int
aliases_check(const char *config_path, const char *file, bool is_newaliases)
{
	struct aliases_report rep = {0};
	struct config *cfg;
	struct aliases *al;
	const char *path = file;

	/* With an explicit FILE the configuration only adds the deeper
	 * checks; without one it is needed to find the file. */
	cfg = aliases_config_load(config_path, file != NULL);
	if (cfg == NULL && file == NULL)
		return ALIASES_EXIT_ERROR;
	if (path == NULL)
		path = cfg->aliases_file;
	if (path == NULL) {
		fprintf(stderr, "postern: %s sets no aliases_file%s\n",
		        cfg->path,
		        is_newaliases ? "; nothing to check"
		                      : "; give the file to check: postern "
		                        "aliases check FILE");
		config_free(&cfg);
		return is_newaliases ? ALIASES_EXIT_OK : ALIASES_EXIT_ERROR;
	}
	al = aliases_file_load(path);
	if (al == NULL) {
		config_free(&cfg);
		return ALIASES_EXIT_ERROR;
	}
	if (cfg != NULL)
		aliases_check_semantics(&rep, path, cfg, al);
	else
		fprintf(stderr,
		        "postern: note: configuration %s not loaded; "
		        "syntax checked only\n",
		        config_path);
	if (rep.errors > rep.shown)
		fprintf(stderr, "%s: %u more errors\n", path,
		        rep.errors - rep.shown);
	if (rep.errors == 0)
		printf("%s: %zu aliases\n", path, aliases_count(al));
	aliases_free(&al);
	config_free(&cfg);
	if (fflush(stdout) != 0)
		return ALIASES_EXIT_ERROR;
	return rep.errors == 0 ? ALIASES_EXIT_OK : ALIASES_EXIT_ERROR;
}

/* --- resolve -------------------------------------------------------- */

static void
aliases_print_targets(const char *address, const struct resolve_targets *out)
{
	printf("%s: ok\n", address);
	for (size_t i = 0; i < out->count; i++) {
		const struct resolve_target *t = &out->items[i];

		if (t->kind == RESOLVE_LOCAL)
			printf("  local %s (account %s", t->address,
			       t->account);
		else
			printf("  remote %s (", t->address);
		if (t->via_alias)
			printf("%svia alias '%s' for %s",
			       t->kind == RESOLVE_LOCAL ? ", " : "",
			       t->alias_key, t->alias_address);
		else if (t->kind == RESOLVE_REMOTE)
			printf("not local");
		printf(")\n");
	}
}

static int
aliases_resolve(const char *config_path, const char *file, int naddr,
                char **addrs)
{
	struct config *cfg = aliases_config_load(config_path, false);
	struct aliases *al = NULL;
	struct passdb *db = NULL;
	struct resolve_ctx ctx;
	const char *path;
	char *err = NULL;
	int rc = ALIASES_EXIT_ERROR;

	if (cfg == NULL)
		return ALIASES_EXIT_ERROR;
	path = file != NULL ? file : cfg->aliases_file;
	if (path != NULL && (al = aliases_file_load(path)) == NULL)
		goto out;
	db = passdb_load(cfg->users_file, &err);
	if (db == NULL) {
		fprintf(stderr, "%s\n", err ? err : cfg->users_file);
		goto out;
	}
	aliases_ctx_init(&ctx, cfg, al, db);
	rc = ALIASES_EXIT_OK;
	for (int i = 0; i < naddr; i++) {
		struct resolve_targets out;
		const char *why = NULL;
		enum resolve_result r =
		        resolve_address(&ctx, addrs[i], &out, &why);

		if (r == RESOLVE_OK) {
			aliases_print_targets(addrs[i], &out);
		} else {
			printf("%s: %s: %s\n", addrs[i], resolve_result_name(r),
			       why);
			rc = ALIASES_EXIT_ERROR;
		}
		resolve_targets_deinit(&out);
	}
	if (fflush(stdout) != 0)
		rc = ALIASES_EXIT_ERROR;
out:
	free(err);
	passdb_free(&db);
	aliases_free(&al);
	config_free(&cfg);
	return rc;
}

/* --- entry point ---------------------------------------------------- */

int
cli_aliases(const char *config_path, int argc, char **argv)
{
	const char *file = NULL;
	int i = 2;

	if (argc >= 1 && strcmp(argv[0], "newaliases") == 0)
		return argc == 1 ? aliases_check(config_path, NULL, true)
		                 : aliases_usage();
	if (argc < 2)
		return aliases_usage();
	if (strcmp(argv[1], "check") == 0) {
		if (argc > 3 || (argc == 3 && argv[2][0] == '-'))
			return aliases_usage();
		return aliases_check(config_path, argc == 3 ? argv[2] : NULL,
		                     false);
	}
	if (strcmp(argv[1], "resolve") != 0)
		return aliases_usage();
	if (i + 1 < argc && strcmp(argv[i], "--file") == 0) {
		file = argv[i + 1];
		i += 2;
	}
	if (i >= argc || argv[i][0] == '-')
		return aliases_usage();
	return aliases_resolve(config_path, file, argc - i, argv + i);
}
