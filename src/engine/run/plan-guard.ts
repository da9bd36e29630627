/**
 * Lets pushes to several spokes run at once without acting on a stale plan.
 *
 * A push plans from the hub as it was when it read it, and almost nothing another push does can
 * make that plan wrong: creates and updates sent from an older state are superseded by the next
 * run, which sees the newer version. The exception is a delete: another push may, while recording
 * a refused conditional write, merge the spoke's edit into the contact and so bring it back (an
 * edit beats a concurrent delete, sync-design.md §B5). A delete therefore re-checks the contact and
 * is sent under a shared hold, and a push that changes hub contacts does so under an exclusive one,
 * so "checked, still deleted" stays true until the delete has been sent.
 */
export class PlanGuard {
  private readers = 0;
  private writing = false;
  private readonly waiting: { exclusive: boolean; wake: () => void }[] = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    // Queued behind a waiting writer, so a stream of deletes cannot starve it.
    if (this.writing || this.waiting.length > 0) await this.wait(false);
    else this.readers += 1;
    try {
      return await fn();
    } finally {
      this.readers -= 1;
      this.dispatch();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writing || this.readers > 0 || this.waiting.length > 0) await this.wait(true);
    else this.writing = true;
    try {
      return await fn();
    } finally {
      this.writing = false;
      this.dispatch();
    }
  }

  private wait(exclusive: boolean): Promise<void> {
    return new Promise((wake) => this.waiting.push({ exclusive, wake }));
  }

  /** Hands the guard to the next waiter(s), taking the hold on their behalf. */
  private dispatch(): void {
    while (!this.writing) {
      const next = this.waiting[0];
      if (!next) return;
      if (next.exclusive) {
        if (this.readers > 0) return;
        this.waiting.shift();
        this.writing = true;
        next.wake();
        return;
      }
      this.waiting.shift();
      this.readers += 1;
      next.wake();
    }
  }
}
