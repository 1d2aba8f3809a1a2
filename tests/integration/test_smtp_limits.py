"""Limits, hostile input and extension edge cases, on raw sockets."""

import socket
import ssl

from conftest import Dialogue


def session(server):
    d = Dialogue.greeted(server.ports["smtp"], "limits.example", timeout=30)
    return d


def test_one_megabyte_command_line(server):
    d = session(server)
    d.send(b"MAIL FROM:<" + b"a" * (1 << 20) + b"@example.org>\r\n")
    assert d.reply()[1][0].startswith("500 5.5.2")
    assert d.cmd("NOOP")[0] == 250


def test_one_megabyte_line_in_data_is_kept_whole(server):
    d = session(server)
    d.cmd("MAIL FROM:<a@example.org>")
    d.cmd("RCPT TO:<demo@example.test>")
    assert d.cmd("DATA")[0] == 354
    line = b"x" * (1 << 20)
    d.send(b"Subject: long\r\n\r\n" + line + b"\r\n.\r\n")
    assert d.reply()[0] == 250
    msg = server.wait_messages("demo@example.test", 1)[0]
    assert msg.endswith(b"\n\n" + line + b"\n")


def test_nul_bytes(server):
    d = session(server)
    d.send(b"NOOP\x00\r\n")
    assert d.reply()[1][0].startswith("500 5.5.2")
    d.cmd("MAIL FROM:<a@example.org>")
    d.cmd("RCPT TO:<demo@example.test>")
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: nul\r\n\r\na\x00b\r\n.\r\n")
    code, lines = d.reply()
    assert code == 550 and "NUL" in lines[0]
    assert server.messages("demo@example.test") == []


def test_size_declared_and_actual(make_server):
    s = make_server(extra_config="max_message_size 2K\n")
    s.add_user("demo@example.test")
    s.start()
    d = session(s)
    code, lines = d.cmd("MAIL FROM:<a@example.org> SIZE=999999")
    assert code == 552 and "5.3.4" in lines[0]
    assert d.cmd("MAIL FROM:<a@example.org> SIZE=100")[0] == 250
    d.cmd("RCPT TO:<demo@example.test>")
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: big\r\n\r\n" + b"y" * 5000 + b"\r\n.\r\n")
    code, lines = d.reply()
    assert code == 552 and "5.3.4" in lines[0]
    assert d.cmd("NOOP")[0] == 250
    assert s.messages("demo@example.test") == []


def test_smtputf8(server):
    d = session(server)
    code, lines = d.cmd("EHLO utf8.example")
    assert "250-SMTPUTF8" in lines
    code, lines = d.cmd("MAIL FROM:<jörg@example.org>")
    assert code == 553 and "5.6.7" in lines[0]
    assert d.cmd("MAIL FROM:<jörg@example.org> SMTPUTF8")[0] == 250
    assert d.cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert d.cmd("DATA")[0] == 354
    d.send("Subject: grüße\r\n\r\nbody\r\n.\r\n".encode())
    assert d.reply()[0] == 250
    msg = server.wait_messages("demo@example.test", 1)[0]
    assert msg.startswith("Return-Path: <jörg@example.org>\n".encode())
    assert "Subject: grüße".encode() in msg


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_starttls_discards_pipelined_input_and_refuses_a_second(server):
    raw = socket.create_connection(("127.0.0.1", server.ports["smtp"]), timeout=10)
    f = raw.makefile("rb")
    assert f.readline().startswith(b"220")
    raw.sendall(b"EHLO tls.example\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    # A command smuggled after STARTTLS must not run inside TLS.
    raw.sendall(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
    assert f.readline().startswith(b"220 2.0.0")
    tls = tls_context().wrap_socket(raw, server_hostname="mx.example.test")
    tf = tls.makefile("rb")
    tls.sendall(b"NOOP\r\n")
    # The first reply inside TLS answers NOOP, not the smuggled MAIL.
    assert tf.readline().startswith(b"250 2.0.0")
    # State was reset: EHLO is needed again, and STARTTLS is not offered.
    tls.sendall(b"MAIL FROM:<a@example.org>\r\n")
    assert tf.readline().startswith(b"503 5.5.1")
    tls.sendall(b"EHLO tls.example\r\n")
    lines = []
    while True:
        line = tf.readline()
        lines.append(line)
        if line[3:4] == b" ":
            break
    assert not any(b"STARTTLS" in l for l in lines)
    tls.sendall(b"STARTTLS\r\n")
    assert tf.readline().startswith(b"503 5.5.1")
    tls.close()


def test_idle_client_times_out(make_server):
    s = make_server(extra_config="smtp_command_timeout 1s\nsmtp_data_timeout 1s\n")
    s.add_user("demo@example.test")
    s.start()
    d = session(s)
    # RFC 5321 4.5.3.2: the server may close an idle session, with 421.
    code, lines = d.reply()
    assert code == 421 and "4.4.2" in lines[0]
    assert d.closed()
    # The same in the middle of DATA: nothing is delivered.
    d = session(s)
    d.cmd("MAIL FROM:<a@example.org>")
    d.cmd("RCPT TO:<demo@example.test>")
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: slow\r\n\r\nhalf")
    assert d.reply()[0] == 421
    assert s.messages("demo@example.test") == []
