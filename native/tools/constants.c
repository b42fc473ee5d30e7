/* constants.c — prints every constant TypeScript shares with the C side as
 * JSON (native/host/constants.c): what the build writes into
 * lib/native/constants.gen.ts (scripts/gen-constants.mjs), and what
 * tests/unit/constants.test.ts compares that module with. */
#include <stdio.h>

#include "host.h"

int main(void) {
  struct tsrun_buf b = {0};
  if (tsrun_constants_json(&b) < 0) {
    fputs("tsrun-constants: out of memory\n", stderr);
    return 1;
  }
  int ok = fwrite(b.data, 1, b.len, stdout) == b.len && fputc('\n', stdout) != EOF && fflush(stdout) == 0;
  tsrun_buf_free(&b);
  return ok ? 0 : 1;
}
