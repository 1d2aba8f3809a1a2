/*
 * transfer — the message part of an SMTP session in the smtp role: DATA
 * (RFC 5321 4.1.1.4) and BDAT (RFC 3030) stream the client's octets
 * through the DATA automaton (data.c) into the spool file the queue role
 * handed over, with Return-Path and Received: first; at the end the
 * message is refused or committed, and the 250 goes out only when the
 * queue reports it durable (DESIGN.md, "Group commit").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/msg.h"
#include "core/str.h"
#include "core/xalloc.h"
#include "log/log.h"
#include "queue/envelope.h"
#include "smtp/session_priv.h"

static void smtp_data_start(struct smtp_session *s);

void
smtp_cmd_data(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	if (s->tx == NULL) {
		smtp_reply(s, "503 5.5.1 Need MAIL command");
		smtp_error_limit(s);
		return;
	}
	if (s->tx->nrcpts == 0) {
		smtp_reply(s, "503 5.5.1 Need RCPT (no valid recipients)");
		smtp_error_limit(s);
		return;
	}
	if (s->tx->chunking) {
		/* RFC 3030 3: DATA and BDAT do not mix in one message. */
		smtp_reply(s, "503 5.5.1 DATA not allowed after BDAT");
		smtp_error_limit(s);
		return;
	}
	if (s->tx->fd >= 0) {
		smtp_data_start(s);
		return;
	}
	if (s->open_ahead) {
		/* The file asked for at the first RCPT is on its way. The 354
		 * need not wait for it: the connection stays paused until it
		 * comes, so no octet of the message is read before, while the
		 * client's first octets and the queue's answer travel at the
		 * same time. */
		smtp_reply(s, SMTP_REPLY_354);
		s->tx->sent_354 = true;
		smtp_wait(s, SMTP_WAIT_OPEN);
		return;
	}
	if (s->srv->queue == NULL) {
		smtp_reply(s, "451 4.3.0 Queue unavailable, try again later");
		return;
	}
	ipc_send(s->srv->queue, MSG_QUEUE_OPEN, s->id, -1, NULL, 0);
	smtp_wait(s, SMTP_WAIT_OPEN);
}

/*
 * BDAT size [LAST] (RFC 3030 2). The chunk's octets follow the command
 * at once, so they are read (or skipped) whatever the answer: a server
 * that answered without reading them would take message text for
 * commands.
 */
void
smtp_cmd_bdat(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	uint64_t size;
	bool last;
	const char *refusal = NULL;

	if (smtp_bdat_parse(cmd->arg, cmd->arg_len, &size, &last) !=
	    SMTP_CMD_OK) {
		/* Without a size the chunk cannot be skipped. */
		smtp_reply(s, "%s",
		           smtp_cmd_error_reply(SMTP_CMD_ERR_BDAT_SYNTAX));
		smtp_session_end(s);
		return;
	}
	if (s->tx == NULL)
		refusal = "503 5.5.1 Need MAIL command";
	else if (s->tx->nrcpts == 0)
		refusal = "503 5.5.1 Need RCPT (no valid recipients)";
	else if (s->srv->queue == NULL && s->tx->fd < 0)
		refusal = "451 4.3.0 Queue unavailable, try again later";
	if (refusal != NULL) {
		smtp_reply(s, "%s", refusal);
		s->discard_left = size;
		if (refusal[0] == '5')
			smtp_error_limit(s);
		return;
	}
	s->chunk_left = size;
	s->chunk_last = last;
	if (s->tx->chunking) {
		smtp_set_state(s, SMTP_S_BDAT);
		return;
	}
	/* First chunk: the spool file comes first. */
	s->tx->chunking = true;
	if (s->tx->fd >= 0) {
		smtp_data_start(s);
		return;
	}
	if (!s->open_ahead)
		ipc_send(s->srv->queue, MSG_QUEUE_OPEN, s->id, -1, NULL, 0);
	smtp_wait(s, SMTP_WAIT_OPEN);
}

/* --- DATA
 * ------------------------------------------------------------------------ */

static void
smtp_rfc5322_date(char *out, size_t outsz)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	/* RFC 5322 3.3; the C locale gives English names. */
	strftime(out, outsz, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* Writes buffered message bytes to the spool file. A failure is kept and
 * reported at the end of DATA; the rest of the message is still read. */
static void
smtp_spool_flush(struct smtp_tx *tx)
{
	const char *p = buf_data(&tx->out);
	size_t left = buf_len(&tx->out);

	while (left > 0 && !tx->write_failed) {
		ssize_t n = write(tx->fd, p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			tx->write_failed = true;
			tx->write_errno = errno;
			break;
		}
		p += n;
		left -= (size_t)n;
		tx->written += (uint64_t)n;
	}
	buf_clear(&tx->out);
}

/* Return-Path (RFC 5321 4.4: added at final delivery) and our Received:
 * trace header (RFC 5321 4.4, RFC 3848 protocol names). */
static void
smtp_trace_headers(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	const struct config *cfg = s->srv->cfg;
	bool tls = conn_is_tls(s->conn);
	char date[64];
	int rc;

	smtp_rfc5322_date(date, sizeof(date));
	rc = buf_printf(&tx->out, "Return-Path: <%s>\n", tx->sender);
	tx->body_offset = buf_len(&tx->out);
	rc |= buf_printf(&tx->out,
	                 "Received: from %s ([%s])\n\tby %s "
	                 "(postern) with %s%s",
	                 s->helo[0] != '\0' ? s->helo : "unknown", s->addr,
	                 cfg->hostname, s->esmtp ? "ESMTP" : "SMTP",
	                 tls && s->esmtp ? "S" : "");
	if (tls)
		rc |= buf_printf(&tx->out, "\n\t(%s cipher %s)",
		                 conn_tls_version(s->conn),
		                 conn_tls_cipher(s->conn));
	rc |= buf_printf(&tx->out, " id %s", tx->qid);
	if (tx->naccepted == 1)
		rc |= buf_printf(&tx->out, "\n\tfor <%s>", tx->first_rcpt);
	rc |= buf_printf(&tx->out, ";\n\t%s\n", date);
	if (rc != 0)
		panic("trace headers exceed the spool buffer");
}

/* Takes the spool file of a MSG_QUEUE_OPEN_R into the transaction;
 * false (nothing taken, the descriptor closed) if the queue had none. */
static bool
smtp_data_take_file(struct smtp_tx *tx, const struct ipc_msg *msg)
{
	struct ipc_in in;
	char *qid;
	bool ok;

	ipc_in_init(&in, msg);
	qid = ipc_get_str(&in);
	ipc_in_end(&in);
	ok = msg->fd >= 0 && qid[0] != '\0';
	if (ok) {
		str_copy(tx->qid, sizeof(tx->qid), qid);
		tx->fd = msg->fd;
	} else if (msg->fd >= 0) {
		close(msg->fd);
	}
	free(qid);
	return ok;
}

/* The spool file is there: the message text may come. */
static void
smtp_data_start(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;

	conn_set_timeout(s->conn, s->srv->cfg->smtp_data_timeout_ms);
	if (tx->chunking) {
		smtp_data_init_chunked(&tx->data, s->srv->cfg->max_message_size,
		                       s->srv->cfg->smtp_max_hops);
		smtp_trace_headers(s);
		smtp_set_state(s, SMTP_S_BDAT);
		return;
	}
	smtp_data_init(&tx->data, s->srv->cfg->max_message_size,
	               s->srv->cfg->smtp_max_hops);
	smtp_trace_headers(s);
	smtp_set_state(s, SMTP_S_DATA);
	if (!tx->sent_354)
		smtp_reply(s, SMTP_REPLY_354);
}

void
smtp_data_without_file(struct smtp_session *s)
{
	s->tx->write_failed = true;
	s->tx->write_errno = EIO;
	smtp_data_start(s);
}

void
smtp_data_opened(struct smtp_session *s, const struct ipc_msg *msg)
{
	struct smtp_tx *tx = s->tx;

	s->open_ahead = false;
	if (!smtp_data_take_file(tx, msg)) {
		if (tx->sent_354 && !tx->chunking) {
			smtp_data_without_file(s);
			return;
		}
		smtp_reply(s, "451 4.3.0 Local error: cannot queue the "
		              "message now");
		if (tx->chunking) {
			s->discard_left = s->chunk_left;
			smtp_tx_reset(s);
		}
		return;
	}
	smtp_data_start(s);
}

void
smtp_data_open_ahead(struct smtp_session *s)
{
	if (s->open_ahead || s->srv->queue == NULL || s->tx == NULL ||
	    s->tx->fd >= 0)
		return;
	ipc_send(s->srv->queue, MSG_QUEUE_OPEN, s->id, -1, NULL, 0);
	s->open_ahead = true;
}

void
smtp_data_opened_ahead(struct smtp_session *s, const struct ipc_msg *msg)
{
	s->open_ahead = false;
	/* The transaction it was asked for may be gone (RSET), and a new
	 * one may have begun: any open transaction can use it. A failure
	 * shows only if DATA asks again. */
	if (s->tx != NULL && s->tx->fd < 0)
		(void)smtp_data_take_file(s->tx, msg);
	else
		smtp_drop_reply(s->srv, msg);
}

/*
 * RFC 5321 6.3: a message that already went through one of the aliases
 * it is now being delivered through carries that alias's Delivered-To:
 * header (the queue adds one per alias delivery) and is looping. Reads
 * the header section back from the spool file (bounded; it is in the page
 * cache) only when some target came from an alias.
 */
static bool
smtp_alias_loop(const struct smtp_tx *tx)
{
	char head[64 * 1024];
	ssize_t n;
	const char *p, *end;
	bool any = false;

	for (size_t i = 0; i < tx->nrcpts; i++)
		any |= tx->rcpts[i].delivered_to != NULL;
	if (!any || tx->fd < 0)
		return false;
	n = pread(tx->fd, head, sizeof(head), (off_t)tx->body_offset);
	if (n <= 0)
		return false;
	end = head + n;
	for (p = head; p < end && *p != '\n';) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len =
		        eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);
		const char *v = p + 13;

		if (len > 13 && str_has_prefix_ci(p, len, "Delivered-To:")) {
			size_t vlen = len - 13;

			while (vlen > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				vlen--;
			}
			while (vlen > 0 &&
			       (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			for (size_t i = 0; i < tx->nrcpts; i++) {
				const char *d = tx->rcpts[i].delivered_to;

				if (d != NULL && str_eq_ci(v, vlen, d))
					return true;
			}
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	return false;
}

/* Decides the fate of a complete message: refuse it, or commit it. */
static void
smtp_data_end(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	const char *refusal = NULL;
	struct ipc_out o;

	conn_set_timeout(s->conn, s->srv->cfg->smtp_command_timeout_ms);
	smtp_spool_flush(tx);
	/* Bare CR/LF, size, hop count (data.h), then postern's own rules. */
	refusal = smtp_data_reply(&tx->data);
	if (refusal != NULL)
		goto refuse;
	if (tx->data.has_nul)
		refusal = "550 5.6.0 Message contains NUL characters";
	else if (smtp_alias_loop(tx))
		refusal = "554 5.4.6 Mail loop: this message has been "
		          "delivered through these aliases before";
	else if (tx->write_failed)
		refusal = tx->write_errno == ENOSPC || tx->write_errno == EDQUOT
		                  ? "452 4.3.1 Insufficient system storage"
		                  : "451 4.3.0 Local error in processing";
	else if (s->srv->queue == NULL)
		refusal = "451 4.3.0 Queue unavailable, try again later";
	if (refusal != NULL) {
refuse:
		smtp_reply(s, "%s", refusal);
		log_info("session=%016llx msg=%s event=refused reply=\"%.9s\"",
		         (unsigned long long)s->id, tx->qid, refusal);
		smtp_tx_reset(s);
		return;
	}
	ipc_out_init(&o);
	ipc_put_str(&o, tx->qid);
	ipc_put_u64(&o, tx->written);
	ipc_put_u64(&o, tx->body_offset);
	ipc_put_str(&o, tx->sender);
	ipc_put_u8(&o, tx->mail.ret == SMTP_RET_FULL   ? ENVELOPE_RET_FULL
	               : tx->mail.ret == SMTP_RET_HDRS ? ENVELOPE_RET_HDRS
	                                               : ENVELOPE_RET_DEFAULT);
	ipc_put_str(&o, tx->mail.has_envid ? tx->mail.envid : "");
	ipc_put_u8(&o, (tx->mail.smtputf8 ? QUEUE_F_SMTPUTF8 : 0) |
	                       (tx->mail.body == SMTP_BODY_8BITMIME ||
	                                        tx->data.has_8bit
	                                ? QUEUE_F_8BIT
	                                : 0));
	ipc_put_u32(&o, (uint32_t)tx->nrcpts);
	for (size_t i = 0; i < tx->nrcpts; i++) {
		const struct smtp_rcpt *r = &tx->rcpts[i];

		ipc_put_u8(&o, r->mailbox != NULL ? QUEUE_RCPT_LOCAL
		                                  : QUEUE_RCPT_REMOTE);
		ipc_put_str(&o, r->address);
		ipc_put_str(&o, r->mailbox);
		ipc_put_u32(&o, r->notify);
		ipc_put_str(&o, r->orcpt);
		ipc_put_str(&o, r->delivered_to);
		ipc_put_u64(&o, r->quota);
	}
	ipc_send_out(s->srv->queue, MSG_QUEUE_COMMIT, s->id, -1, &o);
	ipc_out_deinit(&o);
	smtp_wait(s, SMTP_WAIT_COMMIT);
}

void
smtp_data_committed(struct smtp_session *s, const struct ipc_msg *msg)
{
	struct smtp_tx *tx = s->tx;
	struct ipc_in in;
	uint8_t status;
	char *text;

	ipc_in_init(&in, msg);
	status = ipc_get_u8(&in);
	text = ipc_get_str(&in);
	ipc_in_end(&in);
	/* The queue owns the file now, whatever the outcome. */
	close(tx->fd);
	tx->fd = -1;
	if (status == QUEUE_STATUS_OK) {
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", tx->qid);
		log_info("session=%016llx msg=%s event=accepted from=<%s> "
		         "nrcpt=%zu size=%llu",
		         (unsigned long long)s->id, tx->qid, tx->sender,
		         tx->nrcpts, (unsigned long long)tx->written);
		s->transactions++;
	} else {
		smtp_reply(s, "%s",
		           text[0] != '\0' ? text : "451 4.3.0 Local error");
	}
	free(text);
	smtp_tx_reset(s);
	if (s->srv->stopping) {
		smtp_reply(s, "421 4.3.2 %s Service shutting down",
		           s->srv->cfg->hostname);
		smtp_session_end(s);
	}
}

/* Feeds DATA bytes from the input buffer. Returns true when the end of
 * data was reached. */
bool
smtp_data_input(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct buf *in = conn_input(s->conn);

	while (buf_len(in) > 0) {
		size_t used = 0;
		enum smtp_data_result r = smtp_data_feed(
		        &tx->data, buf_data(in), buf_len(in), &used, &tx->out);

		buf_consume(in, used);
		if (buf_room(&tx->out) == 0 || r == SMTP_DATA_DONE)
			smtp_spool_flush(tx);
		if (r == SMTP_DATA_DONE) {
			smtp_data_end(s);
			return true;
		}
	}
	return false;
}

/* Feeds the current BDAT chunk's octets. Returns true when the chunk is
 * complete (answered, or the message committed after LAST). */
bool
smtp_chunk_input(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct buf *in = conn_input(s->conn);

	while (s->chunk_left > 0 && buf_len(in) > 0) {
		size_t n = buf_len(in), used = 0;

		if (n > s->chunk_left)
			n = (size_t)s->chunk_left;
		if (smtp_data_feed(&tx->data, buf_data(in), n, &used,
		                   &tx->out) == SMTP_DATA_DONE)
			panic("smtp: chunked data reported an end marker");
		buf_consume(in, used);
		s->chunk_left -= used;
		if (buf_room(&tx->out) < 2)
			smtp_spool_flush(tx);
	}
	if (s->chunk_left > 0)
		return false;
	if (s->chunk_last) {
		smtp_data_finish(&tx->data);
		smtp_data_end(s);
		return true;
	}
	smtp_set_state(s, SMTP_S_RCPT);
	smtp_reply(s, "250 2.0.0 Chunk accepted, %llu octets so far",
	           (unsigned long long)tx->data.size);
	return true;
}
