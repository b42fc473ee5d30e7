/** The CLI's entry point (dist/tsrun.mjs, dist/tsrun-cli): main() with our argv, its status as the exit status. */
import { main } from './main.js';

void main(process.argv.slice(2)).then((code) => process.exit(code));
