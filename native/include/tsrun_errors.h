/*
 * tsrun_errors.h — the stable error codes: what the host library
 * (native/host/) fails with, what lib/errors.ts's TsrunError carries, what
 * API users, the CLI's JSON log and tests match on. Codes, once assigned,
 * never change. This list is the only one: the build generates TypeScript's
 * ErrorCode from it (native/host/constants.c), and C names a code with
 * TSRUN_CODE(name), which does not compile for a name not listed here.
 */
#ifndef TSRUN_ERRORS_H
#define TSRUN_ERRORS_H

/* X(code, meaning) */
#define TSRUN_ERROR_CODES(X)                                           \
  X(EBUNDLE, "bundle or config.json unreadable")                       \
  X(ECONFIG, "config.json fails shape or semantic validation")         \
  X(EID, "invalid container id")                                       \
  X(EEXIST, "container id already in use")                             \
  X(ENOTFOUND, "container does not exist")                             \
  X(ESTATE, "operation not allowed in the container's status")         \
  X(ECHILD, "a step of the container's init failed")                   \
  X(EUNSUPPORTED, "valid request this runtime does not support (yet)") \
  X(EUSAGE, "bad command line")                                        \
  X(ESYSTEM, "a host syscall failed")                                  \
  X(EIMAGE, "an image unreadable, malformed, or refused as hostile")

enum tsrun_error_code {
#define X(code, meaning) TSRUN_CODE_##code,
  TSRUN_ERROR_CODES(X)
#undef X
};

/* A code as struct tsrun_err carries it: TSRUN_CODE(ESTATE) is "ESTATE".
 * The enum constant makes a code that is not in the list a compile error
 * (EINVAL is an errno, not one of ours); neither operand is macro-expanded. */
#define TSRUN_CODE(name) ((void)TSRUN_CODE_##name, #name)

#endif
