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

  /** After `err`: undoes everything, and names in err's message what could not be undone. */
  async undoAfter(err: unknown): Promise<void> {
    const left = await this.run();
    if (left.length && err instanceof Error) err.message += `; could not undo: ${left.join("; ")}`;
  }
}
