/**
 * Error classes and the code registry. Codes, once assigned, never change:
 * API users and tests match on them.
 */
import { ERROR_CODES } from './native/constants.js';

/**
 * A stable error code. The one list is native/include/tsrun_errors.h, which
 * the host library fails with too; ERROR_CODES (lib/native/constants.ts)
 * says what each means.
 */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Whether `code` is one of ours (a native/host error's code, say). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

export class TsrunError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A config field is wrong; `path` is its JSON path, e.g. `process.args[0]`. */
export class ConfigError extends TsrunError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('ECONFIG', clamp(path ? `${path}: ${message}` : message));
    this.path = path;
  }
}

/** The longest value an error message echoes: a 64 KiB string or deep nesting stays readable. */
const SHOWN_MAX = 80;

/** A config value as an error message shows it: JSON, cut short; a missing one says so. */
export function shown(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  let text: string;
  try {
    text = typeof v === 'bigint' ? v.toString() : (JSON.stringify(v) ?? String(v));
  } catch {
    text = Array.isArray(v) ? 'a deeply nested array' : 'a deeply nested value'; // JSON.stringify overflows its stack
  }
  return text.length > SHOWN_MAX ? `${text.slice(0, SHOWN_MAX)}… (${text.length} characters)` : text;
}

/** A backstop for messages built from long paths and values: one readable line. */
function clamp(message: string): string {
  return message.length > 1000 ? `${message.slice(0, 1000)}…` : message;
}

/** A step of the container's init failed (reported over the sync socket). */
export class InitStepError extends TsrunError {
  readonly step: string;
  readonly errno: number;
  readonly syscallCode: string | null;
  readonly detail: string;
  /** `text`: the whole message, worded by native/host/launch.c (tsrun_launch_error), which the front prints too. */
  constructor(step: string, errno: number, syscallCode: string | null, detail: string, text: string) {
    super('ECHILD', text);
    this.step = step;
    this.errno = errno;
    this.syscallCode = syscallCode;
    this.detail = detail;
  }
}
