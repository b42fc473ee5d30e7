/**
 * Calls into native/host/ (the plain-C host library the front binary links
 * too): its errors become TsrunErrors with their stable code, its warnings
 * go to the caller's warn.
 */
import { TsrunError, isErrorCode } from '../errors.js';
import type { HostOp, HostResult, NativeBinding } from './binding.js';
import type { Timeline } from '../timeline.js';

type Warn = ((message: string) => void) | undefined;

/**
 * A native/host error (it carries `hostCode`) as the TsrunError it stands
 * for; others unchanged. C names only codes of the one list (TSRUN_CODE
 * does not compile otherwise), so a code we do not know means an addon
 * built from other sources: ESYSTEM, saying which code it was.
 */
export function fromHost(e: unknown, warn?: Warn): unknown {
  const x = e as Error & { hostCode?: string; warnings?: string[] };
  if (typeof x?.hostCode !== 'string') return e;
  for (const w of x.warnings ?? []) warn?.(w);
  if (isErrorCode(x.hostCode)) return new TsrunError(x.hostCode, x.message);
  return new TsrunError('ESYSTEM', `${x.message} (unknown error code ${JSON.stringify(x.hostCode)} from the native addon)`, { cause: e });
}

export function hostCall(native: NativeBinding, op: HostOp, root: string, id?: string, signal = 0, flag = false, warn?: Warn): HostResult {
  let r: HostResult;
  try {
    r = native.host(op, root, id, signal, flag);
  } catch (e) {
    throw fromHost(e, warn);
  }
  for (const w of r.warnings) warn?.(w);
  return r;
}

/** The same on the threadpool; its steps go to `timeline` as `<op>.<step>`. */
export async function hostCallAsync(
  native: NativeBinding,
  op: HostOp,
  root: string,
  id?: string,
  signal = 0,
  flag = false,
  warn?: Warn,
  timeline?: Timeline,
): Promise<HostResult> {
  const since = performance.now();
  let r: HostResult;
  try {
    r = await native.hostAsync(op, root, id, signal, flag);
  } catch (e) {
    throw fromHost(e, warn);
  }
  for (const w of r.warnings) warn?.(w);
  timeline?.markNative(op, since, r.marks);
  timeline?.mark(op);
  return r;
}
