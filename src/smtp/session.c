/*
 * session — one SMTP session in the smtp role.
 *
 * The session reads one command at a time from the connection's bounded
 * input buffer and dispatches it through smtp_commands[]. While it waits
 * for another role (auth for a recipient, queue for a spool file or a
 * commit) it stops reading, so pipelined commands (RFC 2920) are answered
 * in order and the buffer bound holds. Connection state lives in struct
 * smtp_session; transaction state (MAIL to end of DATA) in struct smtp_tx,
 * created at MAIL and destroyed at RSET, HELO/EHLO or end of DATA.
 *
 * The message is written straight into a spool file that the queue role
 * created and passed to us; the 250 after DATA is sent only when the queue
 * reports the commit durable (DESIGN.md, "Group commit").
 */
#include "smtp/session.h"
#include "smtp/session_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "auth/resolve.h"
#include "core/conn.h"
#include "core/msg.h"
#include "core/str.h"
#include "core/xalloc.h"
#include "log/log.h"
#include "smtp/addr.h"
#include "smtp/cmd_parse.h"
#include "smtp/data.h"
#include "smtp/limits.h"
#include "queue/envelope.h"

/* Input bound: pipelined commands, or a DATA chunk in flight. */
#define SMTP_INPUT_MAX (64 * 1024)
/* Spool writes are batched through this much memory. */
#define SMTP_SPOOL_BUF (64 * 1024)

static const char *const smtp_state_names[] = {
        "init", "ready", "mail", "rcpt", "data", "bdat", "closing",
};

static struct smtp_session *sessions;
static uint64_t next_id;

static void smtp_session_close(struct smtp_session *s);
static void smtp_rcpt_truncate(struct smtp_tx *tx, size_t keep);
static bool smtp_quota_check(struct smtp_session *s);

/* --- replies and state ---------------------------------------------------- */

/* Queues one reply line (CRLF added). Every reply goes through here. */
void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		panic("smtp reply format");
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	conn_write(s->conn, line, (size_t)n);
	if (line[0] == '5' || line[0] == '4')
		log_debug("session=%016llx reply=\"%.*s\"",
		          (unsigned long long)s->id, n - 2, line);
}

void
smtp_set_state(struct smtp_session *s, enum smtp_state next)
{
	static const unsigned allowed[] = {
	        /* from INIT: ready after HELO, closing */
	        [SMTP_S_INIT] = 1u << SMTP_S_READY | 1u << SMTP_S_CLOSING |
	                        1u << SMTP_S_INIT,
	        [SMTP_S_READY] = 1u << SMTP_S_READY | 1u << SMTP_S_MAIL |
	                         1u << SMTP_S_CLOSING | 1u << SMTP_S_INIT,
	        [SMTP_S_MAIL] = 1u << SMTP_S_READY | 1u << SMTP_S_RCPT |
	                        1u << SMTP_S_CLOSING | 1u << SMTP_S_INIT,
	        [SMTP_S_RCPT] = 1u << SMTP_S_READY | 1u << SMTP_S_RCPT |
	                        1u << SMTP_S_DATA | 1u << SMTP_S_BDAT |
	                        1u << SMTP_S_CLOSING | 1u << SMTP_S_INIT,
	        [SMTP_S_DATA] = 1u << SMTP_S_READY | 1u << SMTP_S_CLOSING,
	        [SMTP_S_BDAT] = 1u << SMTP_S_READY | 1u << SMTP_S_RCPT |
	                        1u << SMTP_S_CLOSING,
	        [SMTP_S_CLOSING] = 1u << SMTP_S_CLOSING,
	};

	if ((allowed[s->state] & (1u << next)) == 0)
		panic("smtp: illegal transition %s -> %s",
		      smtp_state_names[s->state], smtp_state_names[next]);
	if (s->state != next)
		log_debug("session=%016llx state %s -> %s",
		          (unsigned long long)s->id, smtp_state_names[s->state],
		          smtp_state_names[next]);
	s->state = next;
}

/* Ends the session after the replies already queued have been sent. */
void
smtp_session_end(struct smtp_session *s)
{
	/* A reply still coming from another role is dropped on arrival
	 * (smtp_session_reply); the connection must not stay paused for
	 * it. */
	if (s->wait != SMTP_WAIT_NONE)
		smtp_resume(s);
	smtp_tx_free(s);
	smtp_set_state(s, SMTP_S_CLOSING);
	conn_close_after_flush(s->conn);
}

/* Counts a client error; past the configured bound the session ends
 * (RFC 5321 4.3.2 allows 421 whenever the server must close). */
bool
smtp_error_limit(struct smtp_session *s)
{
	if (++s->errors < s->srv->cfg->smtp_max_errors)
		return false;
	smtp_reply(s, "421 4.7.0 %s Too many errors, closing connection",
	           s->srv->cfg->hostname);
	log_info("session=%016llx event=disconnect reason=errors count=%u",
	         (unsigned long long)s->id, s->errors);
	smtp_session_end(s);
	return true;
}

/* --- transactions ----------------------------------------------------------
 */

void
smtp_tx_free(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;

	if (tx == NULL)
		return;
	if (tx->fd >= 0) {
		close(tx->fd);
		if (s->srv->queue != NULL && tx->qid[0] != '\0') {
			struct ipc_out o;

			ipc_out_init(&o);
			ipc_put_str(&o, tx->qid);
			ipc_send_out(s->srv->queue, MSG_QUEUE_ABORT, s->id, -1,
			             &o);
			ipc_out_deinit(&o);
		}
	}
	smtp_rcpt_truncate(tx, 0);
	strmap_deinit(&tx->seen);
	free(tx->rcpts);
	buf_deinit(&tx->out);
	free(tx);
	s->tx = NULL;
}

void
smtp_tx_reset(struct smtp_session *s)
{
	smtp_tx_free(s);
	if (s->state == SMTP_S_MAIL || s->state == SMTP_S_RCPT ||
	    s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT)
		smtp_set_state(s, SMTP_S_READY);
}

/* --- waiting for other roles -----------------------------------------------
 */

void
smtp_wait(struct smtp_session *s, enum smtp_wait what)
{
	s->wait = what;
	conn_pause(s->conn, true);
}

void
smtp_resume(struct smtp_session *s)
{
	s->wait = SMTP_WAIT_NONE;
	conn_pause(s->conn, false);
}

/* --- commands
 * ----------------------------------------------------------------- */

static void
smtp_cmd_helo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_helo helo;
	const struct config *cfg = s->srv->cfg;

	if (smtp_helo_parse(cmd->arg, cmd->arg_len, &helo) != SMTP_CMD_OK) {
		smtp_reply(s, "%s",
		           smtp_cmd_error_reply(SMTP_CMD_ERR_HELO_SYNTAX));
		smtp_error_limit(s);
		return;
	}
	/* RFC 5321 4.1.4: HELO/EHLO also resets any transaction. */
	smtp_tx_reset(s);
	str_copy(s->helo, sizeof(s->helo), helo.name);
	s->esmtp = cmd->verb == SMTP_VERB_EHLO;
	smtp_set_state(s, SMTP_S_READY);
	if (!s->esmtp) {
		smtp_reply(s, "250 %s", cfg->hostname);
		return;
	}
	smtp_reply(s, "250-%s Hello %s [%s]", cfg->hostname, s->helo, s->addr);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %llu",
	           (unsigned long long)cfg->max_message_size);
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250-CHUNKING");
	if (s->srv->tls != NULL && !conn_is_tls(s->conn))
		smtp_reply(s, "250-STARTTLS");
	smtp_reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
smtp_cmd_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_tx *tx;
	enum smtp_addr_error err;
	const struct config *cfg = s->srv->cfg;

	if (s->state == SMTP_S_INIT) {
		smtp_reply(s, "503 5.5.1 Send HELO or EHLO first");
		smtp_error_limit(s);
		return;
	}
	if (s->tx != NULL) {
		smtp_reply(s, "503 5.5.1 Sender already specified");
		smtp_error_limit(s);
		return;
	}
	tx = xmalloc(sizeof(*tx));
	tx->fd = -1;
	strmap_init(&tx->seen, STRMAP_KEYS_COPIED);
	buf_init(&tx->out, SMTP_SPOOL_BUF);
	if (smtp_parse_mail(cmd->arg, cmd->arg_len, &tx->mail, &err) < 0) {
		free(tx);
		smtp_reply(s, "%s", smtp_addr_error_reply(err));
		smtp_error_limit(s);
		return;
	}
	if (tx->mail.body == SMTP_BODY_BINARYMIME) {
		/* Not offered: the store keeps lines, not binary. */
		free(tx);
		smtp_reply(s, "504 5.5.4 BODY=BINARYMIME not supported");
		return;
	}
	/* RFC 1870 6: refuse at MAIL what could never be accepted. */
	if (tx->mail.has_size && tx->mail.size > cfg->max_message_size) {
		free(tx);
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum "
		              "message size");
		return;
	}
	if (smtp_path_format(&tx->mail.path, tx->sender, sizeof(tx->sender)) <
	    0) {
		free(tx);
		smtp_reply(s, "501 5.1.7 Bad sender address syntax");
		smtp_error_limit(s);
		return;
	}
	s->tx = tx;
	smtp_set_state(s, SMTP_S_MAIL);
	smtp_reply(s, "250 2.1.0 Ok");
}

/* Asks the auth role where mail to `address` goes; the answer comes to
 * smtp_lookup_result(). */
static void
smtp_lookup(struct smtp_session *s, enum smtp_verb verb, const char *address)
{
	struct ipc_out o;

	if (s->srv->auth == NULL) {
		smtp_reply(s, "451 4.3.0 Temporary lookup failure, try again "
		              "later");
		return;
	}
	s->lookup_for = verb;
	str_copy(s->lookup, sizeof(s->lookup), address);
	ipc_out_init(&o);
	ipc_put_str(&o, address);
	ipc_send_out(s->srv->auth, MSG_AUTH_LOOKUP, s->id, -1, &o);
	ipc_out_deinit(&o);
	smtp_wait(s, SMTP_WAIT_AUTH);
}

/* Adds one target unless the transaction already delivers there. Takes
 * ownership of `mailbox`. */
/* The dedupe key of a target: a local account's mailbox, or a remote
 * address. Returns owned memory. */
static char *
smtp_rcpt_key(const char *address, const char *mailbox)
{
	return mailbox != NULL ? xasprintf("L%s", mailbox)
	                       : xasprintf("R%s", address);
}

/* Adds one target unless the transaction already delivers there (a set,
 * so that a transaction of many alias targets stays linear). Takes
 * ownership of `mailbox`. */
static void
smtp_rcpt_add(struct smtp_tx *tx, const char *address, char *mailbox,
              const char *delivered_to, uint64_t quota)
{
	struct smtp_rcpt *r;
	char *key = smtp_rcpt_key(address, mailbox);
	int dup = strmap_put(&tx->seen, key, tx->nrcpts, NULL);

	free(key);
	if (dup < 0) {
		free(mailbox);
		return;
	}
	if (tx->nrcpts == tx->rcpt_cap) {
		tx->rcpt_cap = tx->rcpt_cap ? tx->rcpt_cap * 2 : 8;
		tx->rcpts =
		        xrealloc(tx->rcpts, tx->rcpt_cap * sizeof(*tx->rcpts));
	}
	r = &tx->rcpts[tx->nrcpts++];
	r->address = xstrdup(address);
	r->mailbox = mailbox;
	r->delivered_to = delivered_to != NULL && delivered_to[0] != '\0'
	                          ? xstrdup(delivered_to)
	                          : NULL;
	r->quota = quota;
	r->notify = tx->pending.notify;
	/* kind, four strings with their lengths, notify, quota */
	tx->commit_bytes +=
	        1 + 4 * 4 + strlen(address) +
	        (mailbox != NULL ? strlen(mailbox) : 0) +
	        (delivered_to != NULL ? strlen(delivered_to) : 0) +
	        (tx->pending.has_orcpt ? strlen(tx->pending.orcpt) : 0) + 4 + 8;
	r->orcpt = xstrdup(tx->pending.has_orcpt ? tx->pending.orcpt : "");
}

/* Drops the targets added after the first `keep`. */
/* Drops the targets added after the first `keep` (a refused RCPT); the
 * dedupe set, which cannot forget, is rebuilt from those that stay. */
static void
smtp_rcpt_truncate(struct smtp_tx *tx, size_t keep)
{
	if (tx->nrcpts <= keep)
		return;
	while (tx->nrcpts > keep) {
		struct smtp_rcpt *r = &tx->rcpts[--tx->nrcpts];

		free(r->address);
		free(r->mailbox);
		free(r->delivered_to);
		free(r->orcpt);
	}
	strmap_deinit(&tx->seen);
	strmap_init(&tx->seen, STRMAP_KEYS_COPIED);
	for (size_t i = 0; i < tx->nrcpts; i++) {
		char *key = smtp_rcpt_key(tx->rcpts[i].address,
		                          tx->rcpts[i].mailbox);

		(void)strmap_put(&tx->seen, key, i, NULL);
		free(key);
	}
}

/* The RCPT was accepted with its targets added. */
static void
smtp_rcpt_accepted(struct smtp_session *s, const char *address)
{
	struct smtp_tx *tx = s->tx;

	if (tx->naccepted++ == 0)
		str_copy(tx->first_rcpt, sizeof(tx->first_rcpt), address);
	smtp_set_state(s, SMTP_S_RCPT);
	smtp_reply(s, "250 2.1.5 Ok");
	smtp_data_open_ahead(s);
}

static void
smtp_cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_tx *tx = s->tx;
	const struct config *cfg = s->srv->cfg;
	enum smtp_addr_error err;
	char address[SMTP_ADDR_PATH_MAX + 1];
	struct smtp_path *p;

	if (tx == NULL) {
		smtp_reply(s, "503 5.5.1 Need MAIL before RCPT");
		smtp_error_limit(s);
		return;
	}
	if (smtp_parse_rcpt(cmd->arg, cmd->arg_len, tx->mail.smtputf8,
	                    &tx->pending, &err) < 0) {
		smtp_reply(s, "%s", smtp_addr_error_reply(err));
		smtp_error_limit(s);
		return;
	}
	/* RFC 5321 4.5.3.1.8: 452 for too many recipients. */
	if (tx->naccepted >= cfg->smtp_max_recipients) {
		smtp_reply(s, "452 4.5.3 Too many recipients");
		/* A client that keeps going is a flood, not a mailer. */
		smtp_error_limit(s);
		return;
	}
	p = &tx->pending.path;
	if (p->is_postmaster) {
		/* RFC 5321 4.5.1: <Postmaster> is the first local domain's
		 * postmaster. */
		str_copy(p->domain, sizeof(p->domain), cfg->domains[0]);
	}
	if (smtp_path_format(p, address, sizeof(address)) < 0) {
		smtp_reply(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	if (p->is_literal || !config_is_local_domain(cfg, p->domain)) {
		/* No open relay: other destinations only for clients the
		 * configuration trusts (RFC 5321 3.6.2, RFC 6409). */
		if (!s->may_relay) {
			smtp_reply(s, "554 5.7.1 <%s>: Relay access denied",
			           address);
			log_info("session=%016llx event=rcpt-refused "
			         "reason=relay to=<%s>",
			         (unsigned long long)s->id, address);
			return;
		}
		smtp_rcpt_add(tx, address, NULL, NULL, 0);
		smtp_rcpt_accepted(s, address);
		return;
	}
	smtp_lookup(s, SMTP_VERB_RCPT, address);
}

/* One target of a MSG_AUTH_LOOKUP_R. */
struct smtp_target {
	uint8_t kind;
	char *address;
	char *account;
	char *alias;
	uint64_t quota;
};

static void
smtp_target_get(struct ipc_in *in, struct smtp_target *t)
{
	t->kind = ipc_get_u8(in);
	t->address = ipc_get_str(in);
	t->account = ipc_get_str(in);
	t->quota = ipc_get_u64(in);
	t->alias = ipc_get_str(in);
}

static void
smtp_target_free(struct smtp_target *t)
{
	free(t->address);
	free(t->account);
	free(t->alias);
}

/* "domain/local" of an account address (owned), or NULL. */
static char *
smtp_mailbox_of(const char *account)
{
	const char *at = strrchr(account, '@');

	if (at == NULL || at == account || at[1] == '\0')
		return NULL;
	return xasprintf("%s/%.*s", at + 1, (int)(at - account), account);
}

static void
smtp_rcpt_resolved(struct smtp_session *s, enum resolve_result res,
                   struct ipc_in *in, uint32_t n)
{
	struct smtp_tx *tx = s->tx;

	if (res != RESOLVE_OK) {
		/* Refused in the dialogue, so no bounce is ever sent. */
		smtp_reply(s, "%s <%s>", resolve_result_reply(res), s->lookup);
		log_info("session=%016llx event=rcpt-refused reason=%s "
		         "to=<%s>",
		         (unsigned long long)s->id, resolve_result_name(res),
		         s->lookup);
		return;
	}
	size_t before = tx->nrcpts, bytes = tx->commit_bytes;

	for (uint32_t i = 0; i < n; i++) {
		struct smtp_target t;

		smtp_target_get(in, &t);
		if (t.kind == QUEUE_RCPT_LOCAL) {
			char *mailbox = smtp_mailbox_of(t.account);

			if (mailbox == NULL)
				fatal("smtp: bad account from auth: %s",
				      t.account);
			smtp_rcpt_add(tx, t.address, mailbox, t.alias, t.quota);
		} else {
			smtp_rcpt_add(tx, t.address, NULL, t.alias, 0);
		}
		smtp_target_free(&t);
	}
	if (tx->commit_bytes > SMTP_COMMIT_TARGET_BYTES) {
		/* Too many targets for one message: this RCPT is refused as
		 * too many recipients (RFC 5321 4.5.3.1.10), the others
		 * stand. */
		smtp_rcpt_truncate(tx, before);
		tx->commit_bytes = bytes;
		smtp_reply(s, "452 4.5.3 Too many recipients <%s>", s->lookup);
		return;
	}
	tx->rcpt_mark = before;
	if (!smtp_quota_check(s))
		smtp_rcpt_accepted(s, s->lookup);
}

/*
 * A local target that is already over its quota can take no mail: the
 * RCPT is refused now, for this recipient alone (DESIGN.md: refused in
 * the dialogue, never bounced later). Only the queue role can read the
 * store, so the accounts with a quota are asked about there. Returns true
 * if a question was sent (the answer goes to smtp_quota_result).
 */
static bool
smtp_quota_check(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct ipc_out o;
	uint32_t n = 0;

	for (size_t i = tx->rcpt_mark; i < tx->nrcpts; i++)
		n += tx->rcpts[i].mailbox != NULL && tx->rcpts[i].quota > 0;
	if (n == 0 || s->srv->queue == NULL)
		return false;
	ipc_out_init(&o);
	ipc_put_u32(&o, n);
	for (size_t i = tx->rcpt_mark; i < tx->nrcpts; i++) {
		if (tx->rcpts[i].mailbox != NULL && tx->rcpts[i].quota > 0)
			ipc_put_str(&o, tx->rcpts[i].mailbox);
	}
	ipc_send_out(s->srv->queue, MSG_QUEUE_USAGE, s->id, -1, &o);
	ipc_out_deinit(&o);
	smtp_wait(s, SMTP_WAIT_USAGE);
	return true;
}

static void
smtp_quota_result(struct smtp_session *s, const struct ipc_msg *msg)
{
	struct smtp_tx *tx = s->tx;
	struct ipc_in in;
	uint32_t n;
	/* The size declared with MAIL (RFC 1870) when there is one: a
	 * message that cannot fit is refused here rather than after it has
	 * been sent. */
	uint64_t need =
	        tx->mail.has_size && tx->mail.size > 0 ? tx->mail.size : 1;
	bool full = false, never = false;

	ipc_in_init(&in, msg);
	n = ipc_get_u32(&in);
	for (size_t i = tx->rcpt_mark; i < tx->nrcpts; i++) {
		struct smtp_rcpt *r = &tx->rcpts[i];
		uint64_t used;

		if (r->mailbox == NULL || r->quota == 0)
			continue;
		if (n-- == 0)
			fatal("smtp: short usage reply");
		used = ipc_get_u64(&in);
		never |= need > r->quota;
		full |= used > r->quota - need;
	}
	ipc_in_end(&in);
	if (!full && !never) {
		smtp_rcpt_accepted(s, s->lookup);
		return;
	}
	smtp_rcpt_truncate(tx, tx->rcpt_mark);
	/* RFC 3463 X.2.2: mailbox full; permanent only for a message that
	 * is larger than the whole quota. */
	if (never)
		smtp_reply(s,
		           "552 5.2.2 <%s>: Message larger than the "
		           "mailbox's quota",
		           s->lookup);
	else
		smtp_reply(s, "452 4.2.2 <%s>: Mailbox full", s->lookup);
	log_info("session=%016llx event=rcpt-refused reason=over-quota "
	         "to=<%s>",
	         (unsigned long long)s->id, s->lookup);
}

/* VRFY and EXPN for trusted clients (RFC 5321 3.5). */
static void
smtp_verify_resolved(struct smtp_session *s, enum resolve_result res,
                     struct ipc_in *in, uint32_t n)
{
	if (res != RESOLVE_OK) {
		smtp_reply(s, "%s <%s>", resolve_result_reply(res), s->lookup);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct smtp_target t;

		smtp_target_get(in, &t);
		if (s->lookup_for == SMTP_VERB_VRFY)
			smtp_reply(
			        s, "%s 2.1.5 <%s>", i + 1 < n ? "250-" : "250",
			        t.account[0] != '\0' ? t.account : t.address);
		else
			smtp_reply(s, "%s 2.1.5 <%s>",
			           i + 1 < n ? "250-" : "250", t.address);
		smtp_target_free(&t);
	}
}

static void
smtp_lookup_result(struct smtp_session *s, const struct ipc_msg *msg)
{
	struct ipc_in in;
	enum resolve_result res;
	uint32_t n;

	ipc_in_init(&in, msg);
	res = (enum resolve_result)ipc_get_u8(&in);
	n = ipc_get_u32(&in);
	if (n > RESOLVE_TARGETS_DEFAULT || (res == RESOLVE_OK && n == 0))
		fatal("smtp: lookup reply with %u targets", n);
	if (s->lookup_for == SMTP_VERB_RCPT)
		smtp_rcpt_resolved(s, res, &in, n);
	else
		smtp_verify_resolved(s, res, &in, n);
	ipc_in_end(&in);
}

static void
smtp_cmd_rset(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_tx_reset(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_cmd_noop(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_cmd_quit(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "221 2.0.0 %s Bye", s->srv->cfg->hostname);
	smtp_session_end(s);
}

/* HELP text per command (RFC 5321 4.1.1.8: 214 with useful text). */
static const struct {
	const char *verb;
	const char *text;
} smtp_help_topics[] = {
        {"HELO", "HELO <hostname>: identify yourself (plain SMTP)"},
        {"EHLO", "EHLO <hostname>: identify yourself and list extensions"},
        {"MAIL", "MAIL FROM:<sender> [SIZE=n] [BODY=8BITMIME] [SMTPUTF8] "
                 "[RET=FULL|HDRS] [ENVID=id]: start a message"},
        {"RCPT", "RCPT TO:<recipient> [NOTIFY=...] [ORCPT=type;addr]: add "
                 "a recipient"},
        {"DATA", "DATA: send the message, ended by a line with one dot"},
        {"BDAT", "BDAT <size> [LAST]: send the message in chunks "
                 "(CHUNKING)"},
        {"RSET", "RSET: abandon the current message"},
        {"NOOP", "NOOP: do nothing"},
        {"QUIT", "QUIT: end the session"},
        {"VRFY", "VRFY <address>: check a local address (trusted clients)"},
        {"EXPN", "EXPN <alias>: list an alias's members (trusted clients)"},
        {"STARTTLS", "STARTTLS: switch to TLS (RFC 3207)"},
        {"HELP", "HELP [command]: this text"},
};

static void
smtp_cmd_help(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	size_t n = sizeof(smtp_help_topics) / sizeof(*smtp_help_topics);

	if (cmd->arg != NULL) {
		for (size_t i = 0; i < n; i++) {
			if (str_eq_ci(cmd->arg, cmd->arg_len,
			              smtp_help_topics[i].verb)) {
				smtp_reply(s, "214 2.0.0 %s",
				           smtp_help_topics[i].text);
				return;
			}
		}
		smtp_reply(s, "504 5.5.1 HELP: no help for that topic");
		return;
	}
	smtp_reply(s, "214-2.0.0 postern %s; commands:", POSTERN_VERSION);
	smtp_reply(s, "214-2.0.0   HELO EHLO MAIL RCPT DATA BDAT RSET NOOP");
	smtp_reply(s, "214-2.0.0   QUIT VRFY EXPN STARTTLS HELP");
	smtp_reply(s, "214 2.0.0 HELP <command> describes one; see RFC 5321");
}

static void
smtp_cmd_verb(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	/* sendmail's VERB asked for verbose delivery reports; postern has
	 * none to give, so it only acknowledges when configured to. */
	if (s->srv->cfg->smtp_verb)
		smtp_reply(s, "250 2.0.0 Verbose mode (no effect)");
	else
		smtp_reply(s, "502 5.5.1 VERB: Command not implemented");
}

/* The address a VRFY/EXPN argument names: "user", "user@domain" or
 * "<user@domain>"; a bare name is taken in the first local domain.
 * Returns false if it is not one word. */
static bool
smtp_verify_arg(const struct smtp_session *s, const struct smtp_cmd *cmd,
                char *out, size_t outsz)
{
	const char *a = cmd->arg;
	size_t n = cmd->arg_len;

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		a++;
		n -= 2;
	}
	if (n == 0 || n > SMTP_ADDR_PATH_MAX || memchr(a, ' ', n) != NULL)
		return false;
	if (memchr(a, '@', n) != NULL)
		snprintf(out, outsz, "%.*s", (int)n, a);
	else
		snprintf(out, outsz, "%.*s@%s", (int)n, a,
		         s->srv->cfg->domains[0]);
	str_lower(out);
	return true;
}

static void
smtp_cmd_vrfy(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	char address[SMTP_ADDR_PATH_MAX + 64];

	/* RFC 5321 3.5.3: 252 when the server will not verify; 502 for
	 * EXPN. Only trusted clients may probe for local users. */
	if (!s->may_relay || !s->srv->cfg->smtp_vrfy_expn) {
		if (cmd->verb == SMTP_VERB_VRFY)
			smtp_reply(s, "252 2.5.0 Cannot VRFY user, but will "
			              "accept message and attempt delivery");
		else
			smtp_reply(s, "502 5.5.1 EXPN not available");
		return;
	}
	if (!smtp_verify_arg(s, cmd, address, sizeof(address))) {
		smtp_reply(s, "501 5.5.4 Syntax: %s <address>",
		           smtp_verb_name(cmd->verb));
		return;
	}
	smtp_lookup(s, cmd->verb, address);
}

static void
smtp_cmd_not_implemented(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_reply(s, "502 5.5.1 %s: Command not implemented",
	           smtp_verb_name(cmd->verb));
	smtp_error_limit(s);
}

static void
smtp_cmd_starttls(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	if (s->srv->tls == NULL) {
		smtp_reply(s, "454 4.7.0 TLS not available");
		return;
	}
	if (conn_is_tls(s->conn)) {
		smtp_reply(s, "503 5.5.1 TLS already active");
		smtp_error_limit(s);
		return;
	}
	/* RFC 3207 4.2 / STYLE.md 6: anything the client sent after
	 * STARTTLS in the same flight is dropped, never read as commands
	 * inside the TLS session (the command-injection attack). */
	buf_clear(conn_input(s->conn));
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	conn_start_tls(s->conn, s->srv->tls);
}

typedef void smtp_cmd_fn(struct smtp_session *s, const struct smtp_cmd *cmd);

struct smtp_command {
	enum smtp_verb verb;
	smtp_cmd_fn *fn;
};

static const struct smtp_command smtp_commands[] = {
        {SMTP_VERB_HELO, smtp_cmd_helo},
        {SMTP_VERB_EHLO, smtp_cmd_helo},
        {SMTP_VERB_MAIL, smtp_cmd_mail},
        {SMTP_VERB_RCPT, smtp_cmd_rcpt},
        {SMTP_VERB_DATA, smtp_cmd_data},
        {SMTP_VERB_RSET, smtp_cmd_rset},
        {SMTP_VERB_NOOP, smtp_cmd_noop},
        {SMTP_VERB_QUIT, smtp_cmd_quit},
        {SMTP_VERB_HELP, smtp_cmd_help},
        {SMTP_VERB_VRFY, smtp_cmd_vrfy},
        {SMTP_VERB_EXPN, smtp_cmd_vrfy},
        {SMTP_VERB_VERB, smtp_cmd_verb},
        {SMTP_VERB_BDAT, smtp_cmd_bdat},
        {SMTP_VERB_AUTH, smtp_cmd_not_implemented},
        {SMTP_VERB_STARTTLS, smtp_cmd_starttls},
};

/* Ends the session for a client that does not wait for replies where
 * it must. */
static void
smtp_protocol_violation(struct smtp_session *s, const char *what)
{
	smtp_reply(s, "554 5.5.0 Error: SMTP protocol synchronization (%s)",
	           what);
	log_info("session=%016llx event=disconnect reason=%s",
	         (unsigned long long)s->id, what);
	smtp_session_end(s);
}

/*
 * RFC 2920 3.1: EHLO and DATA end a group of pipelined commands, and a
 * client that was not offered PIPELINING (HELO, or before EHLO) sends one
 * command at a time. Input already waiting after such a command was sent
 * before its reply could have been read: the client is not speaking SMTP
 * (or is trying to smuggle message text past DATA), so the session ends.
 * QUIT and STARTTLS are exempt: the first closes anyway, the second drops
 * what follows it (RFC 3207 4.2).
 */
static void
smtp_check_sync(struct smtp_session *s, enum smtp_verb verb)
{
	bool must_be_last = verb == SMTP_VERB_DATA || verb == SMTP_VERB_EHLO ||
	                    verb == SMTP_VERB_HELO || !s->esmtp;

	if (s->conn == NULL || s->state == SMTP_S_CLOSING ||
	    verb == SMTP_VERB_QUIT || verb == SMTP_VERB_STARTTLS ||
	    !must_be_last || buf_len(conn_input(s->conn)) == 0)
		return;
	smtp_protocol_violation(s, "improper pipelining");
}

static void
smtp_command(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;
	enum smtp_cmd_error err = smtp_cmd_parse(line, len, &cmd);

	if (err != SMTP_CMD_OK) {
		smtp_reply(s, "%s", smtp_cmd_error_reply(err));
		smtp_error_limit(s);
		return;
	}
	/* Message text sent with DATA, before the 354: refused before a
	 * spool file is even asked for (RFC 2920 3.1). */
	if (cmd.verb == SMTP_VERB_DATA && buf_len(conn_input(s->conn)) > 0) {
		smtp_protocol_violation(s, "improper pipelining");
		return;
	}
	for (size_t i = 0; i < sizeof(smtp_commands) / sizeof(*smtp_commands);
	     i++) {
		if (smtp_commands[i].verb == cmd.verb) {
			smtp_commands[i].fn(s, &cmd);
			smtp_check_sync(s, cmd.verb);
			return;
		}
	}
	smtp_reply(s, "%s", smtp_cmd_error_reply(SMTP_CMD_ERR_UNKNOWN));
	smtp_error_limit(s);
}

/* --- the input loop
 * ------------------------------------------------------------------ */

void
smtp_session_process(struct smtp_session *s)
{
	struct buf *in = conn_input(s->conn);

	if (!s->greeted && buf_len(in) > 0 && s->state != SMTP_S_CLOSING) {
		/* RFC 5321 4.3.1: the client waits for the greeting. */
		buf_clear(in);
		loop_timer_remove(&s->greet_timer);
		s->greeted = true;
		smtp_protocol_violation(s, "talked before the greeting");
		return;
	}
	while (s->wait == SMTP_WAIT_NONE && s->state != SMTP_S_CLOSING &&
	       s->conn != NULL) {
		const char *line;
		size_t len;
		enum buf_line_result r;

		if (s->discard_left > 0) {
			size_t n = buf_len(in);

			if (n > s->discard_left)
				n = (size_t)s->discard_left;
			buf_consume(in, n);
			s->discard_left -= n;
			if (s->discard_left > 0)
				return;
			continue;
		}
		if (s->state == SMTP_S_DATA) {
			if (!smtp_data_input(s))
				return;
			continue;
		}
		if (s->state == SMTP_S_BDAT) {
			if (!smtp_chunk_input(s))
				return;
			continue;
		}
		if (s->skipping) {
			if (!buf_skip_line(in))
				return;
			s->skipping = false;
			continue;
		}
		r = buf_get_line(in, BUF_EOL_CRLF, SMTP_CMD_LINE_MAX, &line,
		                 &len);
		if (r == BUF_LINE_NEED_MORE)
			return;
		if (r == BUF_LINE_TOO_LONG) {
			/* RFC 5321 4.5.3.1.10 */
			s->skipping = true;
			smtp_reply(s, "500 5.5.2 Line too long");
			if (smtp_error_limit(s))
				return;
			continue;
		}
		if (r == BUF_LINE_BARE_LF) {
			smtp_reply(s, "%s",
			           smtp_cmd_error_reply(SMTP_CMD_ERR_BARE_LF));
			if (smtp_error_limit(s))
				return;
			continue;
		}
		smtp_command(s, line, len);
	}
}

/* --- lifecycle
 * ------------------------------------------------------------------------ */

static void
smtp_session_free(void *arg)
{
	struct smtp_session *s = arg;
	struct smtp_server *srv = s->srv;

	free(s);
	smtp_server_session_ended(srv);
}

/* Ends the session now: output not yet sent is dropped. */
static void
smtp_session_close(struct smtp_session *s)
{
	if (s->conn == NULL)
		return;
	log_info("session=%016llx event=disconnect transactions=%u",
	         (unsigned long long)s->id, s->transactions);
	loop_timer_remove(&s->greet_timer);
	if (s->counted)
		limits_remove(s->bucket);
	smtp_tx_free(s);
	smtp_server_forget(s->srv, s->id);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	if (s->state != SMTP_S_CLOSING)
		s->state = SMTP_S_CLOSING;
	conn_free(&s->conn);
	loop_defer(s->srv->loop, smtp_session_free, s);
}

static void
smtp_session_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct smtp_session *s = arg;

	(void)c;
	switch (ev) {
	case CONN_EV_DATA:
		smtp_session_process(s);
		break;
	case CONN_EV_DRAINED:
		break;
	case CONN_EV_TIMEOUT:
		/* RFC 5321 4.5.3.2 timeouts; 421 4.4.2 as the close. */
		smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		           s->srv->cfg->hostname);
		log_info("session=%016llx event=timeout state=%s",
		         (unsigned long long)s->id, smtp_state_names[s->state]);
		smtp_session_end(s);
		break;
	case CONN_EV_TLS_READY:
		/* RFC 3207 4.2: forget everything learnt before TLS. */
		smtp_tx_free(s);
		s->helo[0] = '\0';
		s->esmtp = false;
		s->state = SMTP_S_INIT;
		log_info("session=%016llx event=tls version=%s cipher=%s",
		         (unsigned long long)s->id, conn_tls_version(s->conn),
		         conn_tls_cipher(s->conn));
		smtp_session_process(s);
		break;
	case CONN_EV_CLOSED:
	case CONN_EV_ERROR:
		if (ev == CONN_EV_ERROR)
			log_info("session=%016llx event=error detail=\"%s\"",
			         (unsigned long long)s->id,
			         conn_error(s->conn));
		smtp_session_close(s);
		break;
	}
}

static void
smtp_session_set_addr(struct smtp_session *s, const struct sockaddr *sa)
{
	if (sa == NULL) {
		str_copy(s->addr, sizeof(s->addr), "local");
		s->is_loopback = true;
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, s->addr, sizeof(s->addr));
		s->is_loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, s->addr, sizeof(s->addr));
		s->is_loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	} else {
		str_copy(s->addr, sizeof(s->addr), "unknown");
	}
}

static void
smtp_session_greet(void *arg)
{
	struct smtp_session *s = arg;

	s->greet_timer = NULL;
	s->greeted = true;
	smtp_reply(s, "220 %s ESMTP postern", s->srv->cfg->hostname);
	/* Anything the client sent while TLS was set up is checked now. */
	if (buf_len(conn_input(s->conn)) > 0)
		smtp_session_process(s);
}

void
smtp_session_new(struct smtp_server *srv, int fd, int out_fd,
                 enum config_proto proto, const struct sockaddr *sa)
{
	struct smtp_session *s = xmalloc(sizeof(*s));
	const struct config *cfg = srv->cfg;

	if (next_id == 0 &&
	    getrandom(&next_id, sizeof(next_id), 0) != sizeof(next_id))
		next_id = (uint64_t)getpid() << 32;
	s->id = ++next_id;
	s->srv = srv;
	s->proto = proto;
	s->state = SMTP_S_INIT;
	smtp_session_set_addr(s, sa);
	s->may_relay = sa != NULL ? config_is_relay_client(cfg, sa)
	                          : true; /* local pipe: the administrator */
	if (out_fd >= 0)
		s->conn = conn_new_pair(srv->loop, fd, out_fd, SMTP_INPUT_MAX,
		                        smtp_session_event, s);
	else
		s->conn = conn_new(srv->loop, fd, SMTP_INPUT_MAX,
		                   smtp_session_event, s);
	conn_set_timeout(s->conn, cfg->smtp_command_timeout_ms);
	s->next = sessions;
	if (sessions != NULL)
		sessions->prev = s;
	sessions = s;
	smtp_server_register(srv, s, s->id);
	log_info("session=%016llx event=connect client=%s proto=%s",
	         (unsigned long long)s->id, s->addr, config_proto_name(proto));
	s->bucket = limits_bucket(sa);
	if (srv->nsessions > cfg->smtp_max_sessions ||
	    limits_count(s->bucket) >= cfg->smtp_max_sessions_per_ip) {
		bool mine = srv->nsessions > cfg->smtp_max_sessions;

		/* RFC 5321 3.1: 421 instead of the greeting. */
		s->greeted = true;
		smtp_reply(s,
		           "421 4.7.0 %s Too many connections%s, try again "
		           "later",
		           cfg->hostname, mine ? "" : " from your address");
		log_info("session=%016llx event=refused reason=%s",
		         (unsigned long long)s->id,
		         mine ? "max-sessions" : "max-sessions-per-ip");
		smtp_session_end(s);
		return;
	}
	limits_add(s->bucket);
	s->counted = true;
	if (proto == CONFIG_PROTO_SUBMISSIONS) {
		if (srv->tls == NULL) {
			log_warn("session=%016llx no TLS for an implicit-TLS "
			         "listener",
			         (unsigned long long)s->id);
			smtp_session_close(s);
			return;
		}
		/* RFC 8314 3: TLS first; the greeting is sent inside it. */
		conn_start_tls(s->conn, srv->tls);
	}
	if (cfg->smtp_greeting_delay_ms > 0) {
		s->greet_timer =
		        loop_timer_add(srv->loop, cfg->smtp_greeting_delay_ms,
		                       smtp_session_greet, s);
		return;
	}
	smtp_session_greet(s);
}

void
smtp_drop_reply(struct smtp_server *srv, const struct ipc_msg *msg)
{
	if (msg->type == MSG_QUEUE_OPEN_R && srv->queue != NULL) {
		struct ipc_in in;
		char *qid;

		ipc_in_init(&in, msg);
		qid = ipc_get_str(&in);
		ipc_in_end(&in);
		if (qid[0] != '\0') {
			struct ipc_out o;

			ipc_out_init(&o);
			ipc_put_str(&o, qid);
			ipc_send_out(srv->queue, MSG_QUEUE_ABORT, msg->id, -1,
			             &o);
			ipc_out_deinit(&o);
		}
		free(qid);
	}
	if (msg->fd >= 0)
		close(msg->fd);
}

void
smtp_session_reply(struct smtp_session *s, const struct ipc_msg *msg)
{
	enum smtp_wait was = s->wait;

	if (s->conn == NULL || s->state == SMTP_S_CLOSING) {
		smtp_drop_reply(s->srv, msg);
		return;
	}
	if (msg->type == MSG_QUEUE_OPEN_R && s->open_ahead &&
	    was != SMTP_WAIT_OPEN) {
		smtp_data_opened_ahead(s, msg);
		return;
	}
	if (was == SMTP_WAIT_NONE) {
		smtp_drop_reply(s->srv, msg);
		return;
	}
	if ((was == SMTP_WAIT_AUTH && msg->type != MSG_AUTH_LOOKUP_R) ||
	    (was == SMTP_WAIT_OPEN && msg->type != MSG_QUEUE_OPEN_R) ||
	    (was == SMTP_WAIT_COMMIT && msg->type != MSG_QUEUE_COMMIT_R) ||
	    (was == SMTP_WAIT_USAGE && msg->type != MSG_QUEUE_USAGE_R))
		fatal("smtp: reply type %u while waiting for %d", msg->type,
		      was);
	/* The awaited reply has come; a handler may start the next wait
	 * (a RCPT's quota check after its look-up). */
	s->wait = SMTP_WAIT_NONE;
	if (was == SMTP_WAIT_AUTH)
		smtp_lookup_result(s, msg);
	else if (was == SMTP_WAIT_USAGE)
		smtp_quota_result(s, msg);
	else if (was == SMTP_WAIT_OPEN)
		smtp_data_opened(s, msg);
	else
		smtp_data_committed(s, msg);
	if (s->wait != SMTP_WAIT_NONE)
		return;
	smtp_resume(s);
	smtp_session_process(s);
}

void
smtp_session_peer_lost(bool queue)
{
	for (struct smtp_session *s = sessions; s != NULL; s = s->next) {
		bool hit = queue ? (s->wait == SMTP_WAIT_OPEN ||
		                    s->wait == SMTP_WAIT_COMMIT ||
		                    s->wait == SMTP_WAIT_USAGE)
		                 : s->wait == SMTP_WAIT_AUTH;

		if (queue)
			s->open_ahead = false; /* its answer will not come */
		if (queue && !hit && s->tx != NULL && s->tx->fd >= 0 &&
		    s->state != SMTP_S_DATA && !s->tx->chunking) {
			/* Opened ahead of DATA by the queue process that
			 * died: DATA asks its successor for a new one. */
			close(s->tx->fd);
			s->tx->fd = -1;
			s->tx->qid[0] = '\0';
			continue;
		}
		if (queue && !hit && s->state == SMTP_S_DATA && s->tx != NULL &&
		    s->tx->fd >= 0) {
			/* The spool file belonged to the queue process that
			 * died; its successor never issued it. Read the rest
			 * of the message, then answer 451. */
			close(s->tx->fd);
			s->tx->fd = -1;
			s->tx->qid[0] = '\0';
			s->tx->write_failed = true;
			s->tx->write_errno = EIO;
			continue;
		}
		if (!hit)
			continue;
		if (s->wait == SMTP_WAIT_OPEN && s->tx != NULL &&
		    s->tx->sent_354) {
			/* The message is coming after a 354: it is read,
			 * not taken for commands, and answered 451. */
			smtp_data_without_file(s);
			smtp_resume(s);
			continue;
		}
		if (s->wait == SMTP_WAIT_AUTH || s->wait == SMTP_WAIT_USAGE) {
			/* Only the command being looked up fails; a RCPT's
			 * targets added so far are taken back. */
			if (s->wait == SMTP_WAIT_USAGE)
				smtp_rcpt_truncate(s->tx, s->tx->rcpt_mark);
			smtp_reply(s, "451 4.3.0 Temporary lookup failure, "
			              "try again later");
			smtp_resume(s);
			continue;
		}
		/* A commit whose answer is lost may or may not have been
		 * made durable: 451 makes the client retry, so the message
		 * is never lost (at worst delivered twice, RFC 5321 6.1). */
		smtp_reply(s, "451 4.3.0 Local error in processing, try "
		              "again later");
		if (s->tx != NULL && s->tx->fd >= 0) {
			close(s->tx->fd);
			s->tx->fd = -1;
		}
		smtp_tx_reset(s);
		smtp_resume(s);
	}
}

void
smtp_session_shutdown_all(void)
{
	struct smtp_session *s = sessions;

	while (s != NULL) {
		struct smtp_session *next = s->next;

		if (s->tx == NULL && s->wait == SMTP_WAIT_NONE) {
			smtp_reply(s, "421 4.3.2 %s Service shutting down",
			           s->srv->cfg->hostname);
			smtp_session_end(s);
		}
		s = next;
	}
}
