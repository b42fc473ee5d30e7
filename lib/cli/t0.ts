/**
 * Imported first by the CLI's entry (bin.ts), so it is the first module the
 * engine evaluates: the time from the process's start to here is the
 * engine's own start (performance.now() counts from it).
 */
export const ENGINE_STARTED = performance.now();
