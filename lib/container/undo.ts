/**
 * What a create has made on the host so far, as the steps that take it away
 * again: pushed as each thing is made, run last-first when the create fails.
 * A step that fails only warns: the rest still run, so one stuck cgroup
 * cannot keep the state dir, or the fds, from going.
 */
export class Undo {
  private readonly steps: { what: string; run: () => unknown }[] = [];

  /** `run` takes away what was just made (`what` names it in a warning). */
  push(what: string, run: () => unknown): void {
    this.steps.push({ what, run });
  }

  /** Names of what is still to undo, latest first (tests look at it). */
  pending(): string[] {
    return this.steps.map((s) => s.what).reverse();
  }

  async run(warn: (message: string) => void): Promise<void> {
    while (this.steps.length) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (e) {
        warn(`cleanup: ${step.what}: ${(e as Error).message}`);
      }
    }
  }
}
