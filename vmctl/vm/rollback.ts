/** Undo steps recorded as a create goes; on failure they run newest first. */
export class Rollback {
  private readonly undos: { what: string; undo: () => Promise<unknown> }[] = [];

  push(what: string, undo: () => Promise<unknown>): void {
    this.undos.push({ what, undo });
  }

  /** Runs every undo even when one fails; returns what could not be undone. */
  async run(): Promise<string[]> {
    const failed: string[] = [];
    for (const { what, undo } of this.undos.reverse()) {
      try {
        await undo();
      } catch (err) {
        failed.push(`${what}: ${(err as Error).message}`);
      }
    }
    this.undos.length = 0;
    return failed;
  }
}
