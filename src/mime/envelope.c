/*
 * envelope — the IMAP ENVELOPE of a message (RFC 3501 7.4.2, grammar in
 * section 9): date, subject, from, sender, reply-to, to, cc, bcc,
 * in-reply-to and message-id, from the first field of each name in the
 * message header. Unstructured fields go out as their raw text with
 * folding removed (encoded words are the client's to decode); address
 * fields as lists of (name adl mailbox host). Absent fields are NIL, and
 * so are address fields that hold no address.
 */
#include <stdlib.h>

#include "mime/mime_priv.h"

/* An unstructured field: nstring. */
static void
envelope_text(struct buf *out, const struct mime_part *msg, const char *name)
{
	struct mime_field f;
	struct buf v;

	if (!mime_header_find(msg, name, &f)) {
		mime_out_str(out, "NIL");
		return;
	}
	mime_out_init(&v);
	mime_unfold_append(&v, f.value, f.value_len);
	mime_imap_string(out, mime_out_data(&v), buf_len(&v));
	buf_deinit(&v);
}

/* An address field: "(" 1*address ")". Returns false, writing nothing,
 * if the field is absent or holds no address. */
static bool
envelope_addresses(struct buf *out, const struct mime_part *msg,
                   const char *name)
{
	struct mime_field f;
	struct mime_address *list;

	if (!mime_header_find(msg, name, &f))
		return false;
	list = mime_address_parse(f.value, f.value_len);
	if (list == NULL)
		return false;
	mime_out_c(out, '(');
	for (const struct mime_address *a = list; a != NULL; a = a->next) {
		mime_out_c(out, '(');
		mime_imap_nstring(out, a->name);
		mime_out_c(out, ' ');
		mime_imap_nstring(out, a->adl);
		mime_out_c(out, ' ');
		mime_imap_nstring(out, a->mailbox);
		mime_out_c(out, ' ');
		mime_imap_nstring(out, a->host);
		mime_out_c(out, ')');
	}
	mime_out_c(out, ')');
	mime_address_free(&list);
	return true;
}

static void
envelope_naddresses(struct buf *out, const struct mime_part *msg,
                    const char *name, const char *fallback)
{
	if (envelope_addresses(out, msg, name))
		return;
	/* RFC 3501 7.4.2: an absent or empty Sender or Reply-To takes the
	 * value of From. */
	if (fallback != NULL && envelope_addresses(out, msg, fallback))
		return;
	mime_out_str(out, "NIL");
}

void
mime_envelope_append(struct buf *out, const struct mime_part *msg)
{
	mime_out_c(out, '(');
	envelope_text(out, msg, "Date");
	mime_out_c(out, ' ');
	envelope_text(out, msg, "Subject");
	mime_out_c(out, ' ');
	envelope_naddresses(out, msg, "From", NULL);
	mime_out_c(out, ' ');
	envelope_naddresses(out, msg, "Sender", "From");
	mime_out_c(out, ' ');
	envelope_naddresses(out, msg, "Reply-To", "From");
	mime_out_c(out, ' ');
	envelope_naddresses(out, msg, "To", NULL);
	mime_out_c(out, ' ');
	envelope_naddresses(out, msg, "Cc", NULL);
	mime_out_c(out, ' ');
	envelope_naddresses(out, msg, "Bcc", NULL);
	mime_out_c(out, ' ');
	envelope_text(out, msg, "In-Reply-To");
	mime_out_c(out, ' ');
	envelope_text(out, msg, "Message-ID");
	mime_out_c(out, ')');
}

char *
mime_envelope(const struct mime_part *msg)
{
	struct buf out;

	mime_out_init(&out);
	mime_envelope_append(&out, msg);
	return mime_out_finish(&out);
}
