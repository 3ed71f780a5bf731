import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

interface Closer {
  name: string;
  close: () => unknown;
}

/**
 * Resources opened in order and closed in the reverse order, on a clean stop
 * and on any failure half-way through opening: whatever was opened before the
 * failure is closed, so a start that fails (a bad model, a port in use) leaks
 * no worker thread, SQLite handle or socket, and a reload can try again.
 *
 * @example
 * const closers = new Closers(log);
 * const store = await closers.open('store', () => openStore(path, opts, log), (s) => s.close());
 * const overlay = await closers.open('overlay', () => startOverlay(...), (o) => o.close());
 * // later, or when a later open throws: await closers.closeAll();
 */
export class Closers {
  private readonly stack: Closer[] = [];

  constructor(private readonly log: Logger) {}

  /** Opens a resource and registers its closer; if opening throws, closes everything opened so far and rethrows. */
  async open<T>(name: string, open: () => T | Promise<T>, close: (resource: T) => unknown): Promise<T> {
    let resource: T;
    try {
      resource = await open();
    } catch (err) {
      await this.closeAll();
      throw err;
    }
    this.add(name, () => close(resource));
    return resource;
  }

  /** Registers a closer for something already running (a timer, a listener). */
  add(name: string, close: () => unknown): void {
    this.stack.push({ name, close });
  }

  /**
   * Closes everything, newest first. A closer that fails is logged with its
   * name and the others still run; the first failure is rethrown at the end,
   * so a caller learns the stop was not clean without the rest leaking.
   */
  async closeAll(): Promise<void> {
    let first: unknown;
    for (let closer = this.stack.pop(); closer; closer = this.stack.pop()) {
      try {
        await closer.close();
      } catch (err) {
        this.log.error({ stage: 'app', resource: closer.name, err: errorMessage(err) }, `could not close the ${closer.name} cleanly`);
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }
}
