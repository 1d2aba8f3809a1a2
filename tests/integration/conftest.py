"""Harness for postern's integration tests.

Each test gets a fresh postern: a temporary directory with its own
configuration, users file and data directory, listeners on free ports of
127.0.0.1, started in the foreground and stopped by its PID. Nothing here
talks to anything but loopback.
"""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("POSTERN_BUILD", os.path.join(ROOT, "build", "release"))
POSTERND = os.path.join(BUILD, "posternd")
# For the ASan build: every sanitizer report fails a test (check_log_clean).
# LeakSanitizer needs /proc, which the roles' chroot hides when postern
# starts as root; started by another user, postern keeps its uid and skips
# the chroot, and leaks are checked too.
ASAN_OPTIONS = "abort_on_error=0:detect_leaks=%d" % (os.geteuid() != 0)
POSTERN = os.path.join(BUILD, "postern")

# Sanitizer reports in a server log fail the test that produced them.
SANITIZER_RE = re.compile(
    r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)")


def free_ports(n):
    """n distinct free ports: all are held open until all are chosen."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def proc_stats():
    """(pid, fields after the command name) of every process."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                out.append((int(pid), f.read().rsplit(")", 1)[1].split()))
        except OSError:
            continue
    return out


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


class Server:
    """One postern instance in its own directory."""

    def __init__(self, extra_config="", domains=("example.test",)):
        self.dir = tempfile.mkdtemp(prefix="postern-test-")
        names = ("smtp", "submission", "submissions")
        self.ports = dict(zip(names, free_ports(len(names))))
        self.conf = os.path.join(self.dir, "postern.conf")
        self.data = os.path.join(self.dir, "var")
        self.log_path = os.path.join(self.dir, "posternd.log")
        self.proc = None
        self.log_offset = 0
        self.domains = domains
        self.extra_config = extra_config
        self.write_config()

    # -- configuration and accounts ---------------------------------------

    def config_text(self, extra=""):
        lines = [
            "hostname mx.example.test",
            "domain " + " ".join(self.domains),
            "data_dir var",
            "users_file users",
            "tls_self_signed yes",
            "log stderr",
            "log_level debug",
            "smtp_workers 2",
            "shutdown_timeout 5s",
            "plaintext_auth loopback",
        ]
        if os.geteuid() == 0:
            lines.append("run_user nobody")
        for proto, port in self.ports.items():
            lines.append("listen %s 127.0.0.1:%d" % (proto, port))
        return "\n".join(lines) + "\n" + self.extra_config + extra

    def write_config(self, text=None):
        with open(self.conf, "w") as f:
            f.write(self.config_text() if text is None else text)

    def postern(self, *args, stdin=None, check=True):
        return subprocess.run([POSTERN, "--config", self.conf, *args],
                              input=stdin, capture_output=True, text=True,
                              check=check, timeout=60)

    def add_user(self, address, password="secret-pw-1", quota=None):
        args = ["user", "add", address, "--password-stdin"]
        if quota is not None:
            args += ["--quota", quota]
        self.postern(*args, stdin=password + "\n")

    # -- process control ---------------------------------------------------

    def start(self, wait=True, env=None):
        """Starts posternd; `env` adds variables (POSTERN_FAULT, say)."""
        env = dict(os.environ, **(env or {}))
        env.setdefault("ASAN_OPTIONS", ASAN_OPTIONS)
        self.log = open(self.log_path, "ab")
        self._log_start = self.log.tell()
        self.proc = subprocess.Popen(
            [POSTERND, "--config", self.conf, "--foreground"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            env=env, start_new_session=True)
        self._sid = self.proc.pid
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("posternd exited with %s:\n%s" % (
                    self.proc.returncode, self.read_log()))
            try:
                with socket.create_connection(
                        ("127.0.0.1", self.ports["smtp"]), timeout=2) as s:
                    return s.recv(512).startswith(b"220")
            except OSError:
                return False
        wait_for(ready, timeout, "the SMTP greeting")
        # The greeting may come before the queue role has made its
        # directories and recovered the spool (docs/queue.md): tests look
        # at both.
        wait_for(lambda: "event=recover queued=" in
                 self.read_log_bytes()[self._log_start:].decode("utf-8", "replace"),
                 timeout, "the queue role's recovery")

    def children(self):
        """PIDs of the role processes (direct children of the parent)."""
        return [pid for pid, st in proc_stats() if int(st[1]) == self.proc.pid]

    def role_pids(self, role):
        pids = []
        for pid in self.children():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"--role" in argv and argv[argv.index(b"--role") + 1] == role.encode():
                pids.append(pid)
        return pids

    def kill(self):
        """SIGKILL the parent (the roles die with it) and wait."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(timeout=10)
        wait_for(lambda: not self._any_left(), 10, "roles to exit")
        self.proc = None
        self.log.close()

    def _any_left(self):
        # Roles are in the parent's session (start_new_session).
        return any(int(st[3]) == self.sid and st[0] != "Z"
                   for _, st in proc_stats())

    @property
    def sid(self):
        return self._sid

    def stop(self, timeout=20.0):
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("posternd did not stop on SIGTERM")
        self.proc = None
        self.log.close()
        return rc

    def read_log_bytes(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def read_log(self):
        return self.read_log_bytes().decode("utf-8", "replace")

    def check_log_clean(self):
        m = SANITIZER_RE.search(self.read_log())
        assert m is None, "sanitizer report in the server log:\n" + self.read_log()

    # -- mailboxes ---------------------------------------------------------

    def index_rows(self, address):
        """(uid, base) of every INBOX message in the account's index."""
        path = os.path.join(self.maildir(address), "postern-index.sqlite")
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            return sorted(db.execute(
                "SELECT uid, base FROM message JOIN mailbox ON mailbox.id ="
                " message.mailbox WHERE mailbox.name = 'INBOX'").fetchall())
        finally:
            db.close()

    def spool_tmp(self):
        """The files in spool/tmp: messages being written or committed."""
        return os.listdir(os.path.join(self.data, "spool", "tmp"))

    def maildir(self, address):
        local, domain = address.lower().split("@")
        return os.path.join(self.data, "mail", domain, local)

    def messages(self, address, sub="new"):
        d = os.path.join(self.maildir(address), sub)
        if not os.path.isdir(d):
            return []
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
        return out

    def wait_messages(self, address, n, timeout=10.0):
        return wait_for(lambda: len(self.messages(address)) >= n and
                        self.messages(address), timeout,
                        "%d message(s) for %s" % (n, address))


@pytest.fixture
def make_server():
    servers = []

    def make(**kw):
        s = Server(**kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        if s.proc is not None:
            try:
                s.stop()
            except AssertionError:
                pass
        s.check_log_clean()


@pytest.fixture
def server(make_server):
    """A running postern with the account demo@example.test."""
    s = make_server()
    s.add_user("demo@example.test")
    s.start()
    return s


class Dialogue:
    """A raw SMTP client for tests where the bytes matter."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    @classmethod
    def greeted(cls, port, helo="raw.example", **kw):
        """A dialogue past the greeting and EHLO `helo` (`kw`: the
        constructor's)."""
        d = cls(port, **kw)
        d.reply()
        assert d.cmd("EHLO " + helo)[0] == 250
        return d

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One whole (possibly multi-line) reply as (code, [lines])."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return int(lines[-1][:3]), lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def transaction_reply(self, subject, rcpt="demo@example.test"):
        """MAIL, RCPT, DATA and a small message; the final reply as
        (code, [lines])."""
        assert self.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert self.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
        assert self.cmd("DATA")[0] == 354
        self.send("Subject: %s\r\n\r\nwhole\r\n.\r\n" % subject)
        return self.reply()

    def transaction(self, subject, rcpt="demo@example.test"):
        """transaction_reply's code."""
        return self.transaction_reply(subject, rcpt)[0]

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True

    def close(self):
        self.sock.close()
