/**
 * One time scale for every deadline and wait in the suite. It is 1 on a normal
 * host; on a slow one (e.g. a TCG-emulated VM where one `run` takes seconds) the
 * suite derives it from how long the smoke container took, or `--time-scale`
 * sets it, so that no case fails merely for being slow.
 */
let scale = 1;

export function setTimeScale(s: number): void {
  scale = Number.isFinite(s) && s > 0 ? s : 1;
}

export function timeScale(): number {
  return scale;
}

/** `ms` stretched by the time scale. */
export function scaled(ms: number): number {
  return Math.round(ms * scale);
}

/** The scale implied by the duration of the minimal `run`: 1 up to a second, then one per second. */
export function scaleFromSmoke(smokeMs: number): number {
  return Math.min(30, Math.max(1, Math.ceil(smokeMs / 1000)));
}
