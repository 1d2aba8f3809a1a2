/*
 * fault — fault injection for tests (STYLE.md 16): the environment
 * variable POSTERN_FAULT makes a named step of the code fail with an
 * errno, or kills the process there, so that tests can stop postern in
 * the exact window they mean to check and see that no mail is lost or
 * delivered twice.
 *
 *     POSTERN_FAULT="STEP[@N]=ACTION[,STEP[@N]=ACTION]..."
 *
 * ACTION is `kill` (SIGKILL, after a log line) or an errno name: EIO,
 * ENOSPC, EDQUOT. With @N only the Nth time the process reaches the step
 * (counting from 1) acts; without, every time. Counts are per process, so
 * a role the parent restarts counts again. Steps (where fault_check is
 * called):
 *
 *     queue-flush     before each flush of the group commit
 *     queue-flushed   after a flush succeeded, before its files are
 *                     answered (an errno: as if the flush had failed)
 *     store-linked    after a delivery's link into new/, before its row
 *
 * Unset, it costs one flag test per step.
 */
#ifndef POSTERN_CORE_FAULT_H
#define POSTERN_CORE_FAULT_H

/* 0 to go on, or the errno the step must fail with; does not return for
 * `kill`. Reads POSTERN_FAULT on first use (a malformed value is fatal). */
int fault_check(const char *step);

/* Replaces the faults with those of `spec` (the POSTERN_FAULT syntax;
 * NULL or "" for none), with fresh counts. 0, or -1 if `spec` is
 * malformed (nothing is replaced then). For tests; POSTERN_FAULT is not
 * read after it. */
int fault_configure(const char *spec);

#endif
