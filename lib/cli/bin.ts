/** The CLI's entry point (dist/tsrun.mjs, dist/tsrun-cli): main() with our argv, its status as the exit status. */
import { ENGINE_STARTED } from './t0.js';
import { main } from './main.js';

void main(process.argv.slice(2), { engine: ENGINE_STARTED, modules: performance.now() }).then((code) => process.exit(code));
