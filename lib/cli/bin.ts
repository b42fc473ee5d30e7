/** The CLI's entry point (dist/tsrun.mjs, dist/tsrun-cli): main() with our argv, its status as the exit status. */
import { ENGINE_STARTED } from './t0.js';
import { main } from './main.js';

// main catches what its commands throw; anything else is still one line, never an engine's stack trace
main(process.argv.slice(2), { engine: ENGINE_STARTED, modules: performance.now() }).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`tsrun: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
    process.exit(1);
  },
);
