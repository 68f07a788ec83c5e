/**
 * Buffered, asynchronous JSONL appends.
 *
 * - Lines are serialized off the caller's path (on the next turn of the event loop), grouped
 *   per file, and each batch of whole lines goes out in ONE `write()` on an `O_APPEND` file
 *   descriptor, so several processes may append to the same file without tearing lines.
 * - At most `maxOpenFiles` descriptors are open at once (least recently used are closed), so
 *   thousands of concurrent runs never hit EMFILE.
 * - Memory is bounded: past `maxBufferedBytes` of unwritten data new lines are dropped and
 *   counted.
 * - If the process ends through `process.exit()` before a flush, the `exit` hook writes what
 *   is buffered synchronously.
 * - A file that does not end in a newline when it is opened (a line torn by a crash) first
 *   gets one, so the torn text stays a line of its own and the new lines stay readable.
 * - A descriptor kept open across batches is checked against its path before each batch (one
 *   `stat`): when another process renamed a new file over it (a pruning rewrite) or removed it,
 *   the path is opened again, so the lines go to the file readers see, not an unlinked one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeDirectory } from './make-dir.js';

/** Buffered bytes written without waiting for the write delay. */
const WRITE_NOW_BYTES = 64 * 1024;

/** Options of {@link JsonlWriter}. */
export interface JsonlWriterOptions {
  /** Most file descriptors open at once. @defaultValue `64` */
  maxOpenFiles?: number;
  /** Unwritten bytes held in memory before new lines are dropped. @defaultValue `67108864` */
  maxBufferedBytes?: number;
  /** Lines held unserialized before they are serialized at once. @defaultValue `8192` */
  maxPendingLines?: number;
  /** Largest single write, in bytes (whole lines; a longer line goes alone). @defaultValue `4194304` */
  maxWriteBytes?: number;
  /** Called when a write fails, with the error and the number of lines lost. */
  onError?: (error: unknown, lines: number, file: string) => void;
  /** Size-based rotation of some files (the steps files); see {@link RotationPolicy}. */
  rotation?: RotationPolicy;
  /**
   * How long lines wait for more before they are written, so an agent stepping every
   * millisecond costs a few `write()`s a second, not one per step. `flush()`, `close()` and
   * the process's `exit` write at once. @defaultValue `100`
   */
  writeDelayMs?: number;
}

/**
 * Rotation: before a batch would take a file past `maxFileBytes`, the lines that still fit are
 * written, the file is renamed to `partPath(file, n)` (n = 1, 2, … the first free number) and
 * writing goes on in a fresh file. Batches are cut only between whole lines; a single line
 * longer than `maxFileBytes` gets a part of its own. The size is taken with `fstat` when a
 * file is opened and then counted, so another process appending to the same file at the same
 * time can make a part somewhat bigger (never a torn line).
 */
export interface RotationPolicy {
  maxFileBytes: number;
  /** Whether `file` rotates. */
  applies(file: string): boolean;
  /** The path part `part` of `file` is renamed to. */
  partPath(file: string, part: number): string;
}

/** Counters of a {@link JsonlWriter}. */
export interface JsonlWriterStats {
  linesWritten: number;
  bytesWritten: number;
  writes: number;
  linesDropped: number;
  linesFailed: number;
  openFiles: number;
  /** Files renamed to a part by rotation. */
  rotations: number;
  /** Descriptors reopened because another process replaced or removed their file. */
  reopens: number;
}

/**
 * Formats a queued record as one JSON line (without the newline), passing the line's text to
 * `write` in one or more parts. Writing a big flat part (a `JSON.stringify` result) on its
 * own avoids flattening a concatenated string.
 */
export type LineFormatter = (
  runId: string,
  payload: unknown,
  time: number,
  write: (part: string) => void,
) => void;

interface FileState {
  file: string;
  /** Bytes of whole lines waiting for the disk; sealed buffers first, then the open one. */
  sealed: Batch[];
  buffer: Buffer | undefined;
  used: number;
  lines: number;
  fd: number | undefined;
  writing: boolean;
  /** The size of this file's last batch, to size the next buffer. */
  hint: number;
  /** Where the line being written began in `buffer` (everything before is whole lines). */
  lineStart: number;
  /** The file rotates by size (see {@link RotationPolicy}). */
  rotates: boolean;
  /** Its size on disk while a descriptor is open (rotating files only). */
  size: number | undefined;
  /**
   * The identity (`dev`, `ino`) of the file the open descriptor writes to, to notice when
   * another process renamed a new file over the path or deleted it (see {@link JsonlWriter}).
   * `undefined` when it could not be taken (then the descriptor is used as it is).
   */
  dev: number | undefined;
  ino: number | undefined;
}

/** Whole lines ready for one write; `base` is the pooled buffer to release once written. */
interface Batch {
  buffer: Buffer;
  lines: number;
  base: Buffer | undefined;
}

/** Small first buffers: thousands of concurrent runs each hold one. */
const INITIAL_BUFFER = 4 * 1024;
/**
 * Written buffers are kept for reuse, at most POOL_SIZE of them: a slow agent's batch of a
 * few lines would otherwise allocate (and later collect) a fresh one per write.
 */
const POOLED_MIN = INITIAL_BUFFER;
const POOL_SIZE = 4;

const live = new Set<JsonlWriter>();
let exitHookInstalled = false;

function onExit(): void {
  for (const writer of live) writer.flushSync();
}

/** @internal */
export class JsonlWriter {
  readonly stats: JsonlWriterStats = {
    linesWritten: 0,
    bytesWritten: 0,
    writes: 0,
    linesDropped: 0,
    linesFailed: 0,
    openFiles: 0,
    rotations: 0,
    reopens: 0,
  };
  readonly #maxOpen: number;
  readonly #rotation: RotationPolicy | undefined;
  /** The last part number used per rotated file (bounded), to find the next one quickly. */
  readonly #parts = new Map<string, number>();
  /** Files under {@link exclusive}: their lines wait in memory, nothing is written to them. */
  readonly #held = new Map<string, number>();
  /** Called after every completed write (see {@link exclusive}). */
  #progress: Array<() => void> = [];
  readonly #maxBuffered: number;
  readonly #maxPending: number;
  readonly #maxWrite: number;
  readonly #onError: JsonlWriterOptions['onError'];
  // Three parallel arrays instead of an object per line: no allocation on the hot path.
  #pendingFiles: string[] = [];
  #pendingFormats: LineFormatter[] = [];
  #pendingRunIds: string[] = [];
  #pendingPayloads: unknown[] = [];
  #pendingTimes: number[] = [];
  readonly #files = new Map<string, FileState>();
  /** Files with descriptors, least recently used first. */
  readonly #open = new Map<string, FileState>();
  #buffered = 0;
  #inFlight = 0;
  /** Descriptors being opened right now (they count against maxOpenFiles too). */
  #opening = 0;
  #scheduled = false;
  readonly #writeDelayMs: number;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #waiters: Array<() => void> = [];
  readonly #madeDirs = new Set<string>();
  readonly #pool: Buffer[] = [];

  constructor(options: JsonlWriterOptions = {}) {
    this.#maxOpen = Math.max(1, options.maxOpenFiles ?? 64);
    this.#maxBuffered = Math.max(1024, options.maxBufferedBytes ?? 64 * 1024 * 1024);
    this.#maxPending = Math.max(1, options.maxPendingLines ?? 8192);
    this.#maxWrite = Math.max(1024, options.maxWriteBytes ?? 4 * 1024 * 1024);
    this.#writeDelayMs = Math.max(0, options.writeDelayMs ?? 100);
    this.#onError = options.onError;
    const rotation = options.rotation;
    this.#rotation =
      rotation && Number.isFinite(rotation.maxFileBytes) && rotation.maxFileBytes > 0
        ? rotation
        : undefined;
    live.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', onExit);
    }
  }

  /** Lines accepted but not yet on disk. */
  get backlog(): number {
    let lines = this.#pendingFiles.length;
    for (const state of this.#files.values()) lines += state.lines + sealedLines(state);
    return lines;
  }

  /**
   * Queues one line. `format(runId, payload, time, write)` runs later, off the caller's path,
   * and writes the line's JSON text (without the newline).
   */
  append(file: string, format: LineFormatter, runId: string, payload: unknown, time: number): void {
    if (this.#closed) {
      this.stats.linesDropped++;
      return;
    }
    if (this.#buffered > this.#maxBuffered) {
      this.stats.linesDropped++;
      return;
    }
    this.#pendingFiles.push(file);
    this.#pendingFormats.push(format);
    this.#pendingRunIds.push(runId);
    this.#pendingPayloads.push(payload);
    this.#pendingTimes.push(time);
    if (this.#pendingFiles.length >= this.#maxPending) this.#serialize();
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#tick);
    }
  }

  /** Resolves when everything accepted so far is on disk (or failed). */
  flush(): Promise<void> {
    this.#serialize();
    this.#pump();
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Flushes, closes every descriptor and refuses later lines. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    for (const state of this.#open.values()) this.#closeFd(state);
    this.#open.clear();
    live.delete(this);
  }

  /**
   * Runs `fn` while nothing is written to `files` (their new lines wait in memory and go out
   * afterwards, into whatever file then has the name) and none of them has an open descriptor:
   * for atomic rewrites and deletions. First waits until the lines already accepted for the
   * `drain` files are on disk (a finished run's last steps, before its file is deleted).
   */
  async exclusive<T>(
    files: readonly string[],
    fn: () => Promise<T>,
    drain: readonly string[] = [],
  ): Promise<T> {
    this.#serialize();
    this.#pump();
    const drainSet = new Set(drain);
    await this.#waitFor(() => {
      for (const file of drainSet) {
        const state = this.#files.get(file);
        if (state && (state.writing || state.used > 0 || state.sealed.length > 0)) return false;
      }
      return true;
    });
    const all = [...new Set([...files, ...drain])];
    for (const file of all) this.#held.set(file, (this.#held.get(file) ?? 0) + 1);
    try {
      await this.#waitFor(() => all.every((file) => !this.#files.get(file)?.writing));
      for (const file of all) {
        const state = this.#files.get(file);
        if (state?.fd !== undefined) {
          this.#open.delete(file);
          this.#closeFd(state);
        }
      }
      return await fn();
    } finally {
      for (const file of all) {
        const count = (this.#held.get(file) ?? 1) - 1;
        if (count <= 0) this.#held.delete(file);
        else this.#held.set(file, count);
      }
      this.#pump();
    }
  }

  async #waitFor(condition: () => boolean): Promise<void> {
    while (!condition()) {
      await new Promise<void>((resolve) => {
        this.#progress.push(resolve);
        // Nothing in flight means nothing will report progress: look again on the next turn.
        if (this.#inFlight === 0 && this.#opening === 0)
          setImmediate(() => {
            this.#pump();
            this.#notify();
          });
      });
    }
  }

  #notify(): void {
    if (this.#progress.length === 0) return;
    const waiting = this.#progress;
    this.#progress = [];
    for (const resolve of waiting) resolve();
  }

  /** Writes everything buffered synchronously (process `exit`). */
  flushSync(): void {
    try {
      this.#serialize();
      for (const state of this.#files.values()) {
        this.#seal(state);
        const batches = state.sealed;
        state.sealed = [];
        if (batches.length === 0) continue;
        let fd: number | undefined;
        let openError: unknown;
        try {
          this.#ensureDir(state.file);
          fd = openForAppendSync(state.file);
          endTornLineSync(fd);
        } catch (error) {
          openError = error;
        }
        for (const batch of batches) {
          try {
            if (fd === undefined) throw openError;
            fs.writeFileSync(fd, batch.buffer);
            this.stats.linesWritten += batch.lines;
            this.stats.bytesWritten += batch.buffer.length;
            this.stats.writes++;
          } catch (error) {
            this.stats.linesFailed += batch.lines;
            this.#onError?.(error, batch.lines, state.file);
          }
          this.#buffered -= batch.buffer.length;
        }
        if (fd !== undefined) {
          try {
            fs.closeSync(fd);
          } catch {
            // already closed
          }
        }
      }
    } catch {
      // exit hooks must never throw
    }
  }

  // Lines are serialized on the next turn (the payloads die young: no garbage held for the
  // delay), and the bytes wait up to `writeDelayMs` for more before one write.
  readonly #tick = (): void => {
    this.#scheduled = false;
    this.#serialize();
    this.#pumpLater();
  };

  /**
   * Writes after `writeDelayMs` — at once when someone waits (a flush) or a write's worth is
   * buffered (a fast producer writes every turn, as without the delay).
   */
  #pumpLater(): void {
    if (
      this.#writeDelayMs === 0 ||
      this.#waiters.length > 0 ||
      this.#progress.length > 0 ||
      this.#closed ||
      this.#buffered >= WRITE_NOW_BYTES
    ) {
      this.#pump();
      return;
    }
    this.#pumpTimer ??= setTimeout(() => {
      this.#pumpTimer = undefined;
      this.#pump();
    }, this.#writeDelayMs);
  }

  #serialize(): void {
    const files = this.#pendingFiles;
    const n = files.length;
    if (n === 0) return;
    const formats = this.#pendingFormats;
    const runIds = this.#pendingRunIds;
    const payloads = this.#pendingPayloads;
    const times = this.#pendingTimes;
    this.#pendingFiles = [];
    this.#pendingFormats = [];
    this.#pendingRunIds = [];
    this.#pendingPayloads = [];
    this.#pendingTimes = [];
    let last: FileState | undefined;
    for (let i = 0; i < n; i++) {
      const file = files[i]!;
      let state = last !== undefined && last.file === file ? last : this.#files.get(file);
      if (state === undefined) {
        state = {
          file,
          sealed: [],
          buffer: undefined,
          used: 0,
          lines: 0,
          fd: undefined,
          writing: false,
          hint: 0,
          lineStart: 0,
          rotates: this.#rotation?.applies(file) ?? false,
          size: undefined,
          dev: undefined,
          ino: undefined,
        };
        this.#files.set(file, state);
      }
      last = state;
      this.#current = state;
      try {
        formats[i]!(runIds[i]!, payloads[i], times[i]!, this.#writePart);
        this.#endLine(state);
      } catch (error) {
        // Drop the partial line: roll back to where it began.
        this.#buffered -= state.used - state.lineStart;
        state.used = state.lineStart;
        this.stats.linesFailed++;
        this.#onError?.(error, 1, file);
      }
    }
    this.#current = undefined;
  }

  #current: FileState | undefined;
  readonly #writePart = (part: string): void => {
    this.#appendPart(this.#current!, part);
  };

  /** Encodes part of a line straight into the file's buffer (no join, no extra copies). */
  #appendPart(state: FileState, text: string): void {
    // One ASCII character (a line's closing brace): a byte store, not a call into C++.
    if (text.length === 1 && state.buffer !== undefined && state.used < state.buffer.length) {
      const code = text.charCodeAt(0);
      if (code < 0x80) {
        state.buffer[state.used++] = code;
        this.#buffered += 1;
        return;
      }
    }
    // UTF-8 needs at most 3 bytes per UTF-16 code unit; +1 for the newline.
    const worst = text.length * 3 + 1;
    let buffer = state.buffer;
    if (buffer === undefined || state.used + worst > buffer.length) {
      const lineStart = state.lineStart;
      // Seal the whole lines before this one when the batch would pass maxWrite.
      if (buffer !== undefined && lineStart > 0 && state.used + worst > this.#maxWrite) {
        const partial = buffer.subarray(lineStart, state.used);
        state.sealed.push({
          buffer: buffer.subarray(0, lineStart),
          lines: state.lines,
          base: buffer,
        });
        state.hint = Math.min(this.#maxWrite, lineStart + (lineStart >> 2));
        state.lines = 0;
        const fresh = this.#allocate(Math.max(INITIAL_BUFFER, partial.length + worst, state.hint));
        partial.copy(fresh, 0);
        state.buffer = fresh;
        state.used = partial.length;
        state.lineStart = 0;
        buffer = fresh;
      } else {
        // Size a new buffer from the last batch of this file, so steady streams don't regrow.
        const need = state.used + worst;
        const hint = buffer ? Math.min(buffer.length * 2, this.#maxWrite * 2) : state.hint;
        const grown = this.#allocate(Math.max(INITIAL_BUFFER, need, hint));
        if (buffer !== undefined) {
          if (state.used > 0) buffer.copy(grown, 0, 0, state.used);
          this.#release(buffer);
        }
        state.buffer = grown;
        buffer = grown;
      }
    }
    const written = writeUtf8(buffer, text, state.used);
    state.used += written;
    this.#buffered += written;
  }

  /**
   * Big buffers are reused once written: fresh memory costs page faults on first touch,
   * which profiles showed as a third of the cost of encoding a line.
   */
  #allocate(size: number): Buffer {
    // The smallest kept buffer that fits.
    let best = -1;
    for (let i = 0; i < this.#pool.length; i++) {
      const length = this.#pool[i]!.length;
      if (length >= size && (best < 0 || length < this.#pool[best]!.length)) best = i;
    }
    if (best >= 0) return this.#pool.splice(best, 1)[0]!;
    return Buffer.allocUnsafe(size);
  }

  /** Keeps the biggest written buffers (the small first ones of a run must not crowd them out). */
  #release(buffer: Buffer): void {
    if (buffer.length < POOLED_MIN) return;
    if (this.#pool.length < POOL_SIZE) {
      this.#pool.push(buffer);
      return;
    }
    let smallest = 0;
    for (let i = 1; i < this.#pool.length; i++)
      if (this.#pool[i]!.length < this.#pool[smallest]!.length) smallest = i;
    if (this.#pool[smallest]!.length < buffer.length) this.#pool[smallest] = buffer;
  }

  #endLine(state: FileState): void {
    if (state.buffer === undefined || state.buffer.length <= state.used)
      this.#appendPart(state, '');
    state.buffer![state.used++] = 10;
    state.lines++;
    state.lineStart = state.used;
    this.#buffered += 1;
  }

  /** Closes the open buffer into a batch of whole lines ready for one write. */
  #seal(state: FileState): void {
    if (state.buffer === undefined || state.used === 0) return;
    state.sealed.push({
      buffer: state.buffer.subarray(0, state.used),
      lines: state.lines,
      base: state.buffer,
    });
    state.hint = Math.min(this.#maxWrite, state.used + (state.used >> 2));
    state.buffer = undefined;
    state.used = 0;
    state.lines = 0;
    state.lineStart = 0;
  }

  #pump(): void {
    for (const state of this.#files.values()) {
      if (state.writing || (state.used === 0 && state.sealed.length === 0)) continue;
      if (this.#held.size > 0 && this.#held.has(state.file)) continue;
      if (
        state.fd === undefined &&
        this.#open.size + this.#opening >= this.#maxOpen &&
        !this.#evictIdle()
      ) {
        // Every descriptor is busy writing; this file waits for the next completion.
        continue;
      }
      this.#write(state);
    }
    if (this.#idle()) this.#resolveWaiters();
  }

  #evictIdle(): boolean {
    for (const [file, state] of this.#open) {
      if (!state.writing) {
        this.#open.delete(file);
        this.#closeFd(state);
        if (state.used === 0 && state.sealed.length === 0) this.#files.delete(file);
        return true;
      }
    }
    return false;
  }

  #closeFd(state: FileState): void {
    if (state.fd === undefined) return;
    const fd = state.fd;
    state.fd = undefined;
    state.size = undefined;
    state.dev = undefined;
    state.ino = undefined;
    this.stats.openFiles--;
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
  }

  #write(state: FileState): void {
    this.#seal(state);
    const batch = state.sealed.shift();
    if (batch === undefined) return;
    state.writing = true;
    this.#inFlight++;
    const done = (written: Batch, error: unknown): void => {
      state.writing = false;
      this.#inFlight--;
      this.#buffered -= written.buffer.length;
      if (written.base !== undefined) this.#release(written.base);
      if (error) {
        this.stats.linesFailed += written.lines;
        this.#onError?.(error, written.lines, state.file);
        if (state.fd !== undefined) {
          this.#open.delete(state.file);
          this.#closeFd(state);
        }
      } else {
        this.stats.linesWritten += written.lines;
        this.stats.bytesWritten += written.buffer.length;
        this.stats.writes++;
        if (state.size !== undefined) state.size += written.buffer.length;
      }
      if (state.used === 0 && state.sealed.length === 0 && state.fd === undefined) {
        this.#files.delete(state.file);
      }
      const waiting = this.#progress.length > 0;
      this.#notify();
      // A completed write does not write the lines that came meanwhile at once (that was a
      // write per line for an agent stepping slowly) — unless someone waits for them.
      if (waiting) this.#pump();
      else this.#pumpLater();
    };
    const go = (rotated: boolean): void => {
      this.#withFd(state, (error, fd) => {
        if (error || fd === undefined) {
          done(batch, error ?? new Error('no file descriptor'));
          return;
        }
        let out = batch;
        if (state.rotates && state.size !== undefined) {
          const max = this.#rotation!.maxFileBytes;
          if (state.size + batch.buffer.length > max) {
            // The whole lines that still fit, else (a non-empty file) a new part first.
            const room = max - state.size;
            let cut = room > 0 ? batch.buffer.lastIndexOf(10, room - 1) + 1 : 0;
            if (cut === 0 && state.size > 0 && !rotated) {
              this.#rotate(state, (rotateError) => {
                if (rotateError) {
                  // Could not rename: keep appending to the current file rather than lose lines.
                  this.#onError?.(rotateError, 0, state.file);
                  state.rotates = false;
                }
                go(true);
              });
              return;
            }
            if (cut === 0) cut = batch.buffer.indexOf(10) + 1; // one long line, a part of its own
            if (cut > 0 && cut < batch.buffer.length) {
              const head = batch.buffer.subarray(0, cut);
              const lines = countLines(head);
              out = { buffer: head, lines, base: undefined };
              state.sealed.unshift({
                buffer: batch.buffer.subarray(cut),
                lines: batch.lines - lines,
                base: batch.base,
              });
            }
          }
        }
        writeAll(fd, out.buffer, 0, (writeError) => done(out, writeError));
      });
    };
    go(false);
  }

  /** Closes the file and renames it to its next free part number. */
  #rotate(state: FileState, callback: (error: unknown) => void): void {
    const policy = this.#rotation!;
    if (state.fd !== undefined) {
      this.#open.delete(state.file);
      this.#closeFd(state);
    }
    const file = state.file;
    const tryPart = (part: number): void => {
      const target = policy.partPath(file, part);
      fs.access(target, (missing) => {
        if (!missing) {
          tryPart(part + 1);
          return;
        }
        fs.rename(file, target, (error) => {
          if (error) {
            callback(error);
            return;
          }
          this.stats.rotations++;
          if (this.#parts.size >= 10_000 && !this.#parts.has(file)) {
            const oldest = this.#parts.keys().next().value;
            if (oldest !== undefined) this.#parts.delete(oldest);
          }
          this.#parts.delete(file);
          this.#parts.set(file, part);
          callback(null);
        });
      });
    };
    tryPart((this.#parts.get(file) ?? 0) + 1);
  }

  /**
   * The descriptor to write `state`'s next batch to. A descriptor opened for an earlier batch
   * is first checked against the path (one `stat`, compared with the `fstat` taken at open):
   * when another process renamed a new file over the path (a pruning rewrite) or removed it,
   * the old descriptor would append to a file no one can read any more — it is closed and the
   * path opened again (created when missing).
   */
  #withFd(state: FileState, callback: (error: unknown, fd?: number) => void): void {
    if (state.fd !== undefined) {
      // Mark as most recently used.
      this.#open.delete(state.file);
      this.#open.set(state.file, state);
      if (state.ino === undefined) {
        callback(null, state.fd);
        return;
      }
      // Synchronous: one metadata lookup (~2 µs) per batch. Waiting for an asynchronous one
      // would hold every batch back a round trip to the thread pool, and the batches that
      // grew meanwhile cost more than the lookup (fewer, bigger buffers to fill).
      let replaced: boolean;
      try {
        const stats = fs.statSync(state.file, { throwIfNoEntry: false });
        replaced = stats === undefined || stats.ino !== state.ino || stats.dev !== state.dev;
      } catch {
        // Not stat-able but not missing (a permission): keep writing where we did.
        replaced = false;
      }
      if (!replaced) {
        callback(null, state.fd);
        return;
      }
      this.#open.delete(state.file);
      this.#closeFd(state);
      this.stats.reopens++;
    }
    // 'a+' (O_APPEND, readable): the last byte is read once, to end a torn line (below). A
    // file we may write but not read is opened with 'a' (and then not checked).
    const open = (retry: boolean, flags = 'a+'): void => {
      this.#opening++;
      fs.open(state.file, flags, 0o644, (error, fd) => {
        this.#opening--;
        if (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (flags === 'a+' && (code === 'EACCES' || code === 'EPERM')) {
            open(retry, 'a');
            return;
          }
          if (retry && code === 'ENOENT') {
            this.#madeDirs.delete(path.dirname(state.file));
            try {
              this.#ensureDir(state.file);
            } catch (mkdirError) {
              callback(mkdirError);
              return;
            }
            open(false, flags);
            return;
          }
          callback(error);
          return;
        }
        state.fd = fd;
        this.stats.openFiles++;
        this.#open.set(state.file, state);
        endTornLine(fd, (size, stats) => {
          if (state.rotates) state.size = size;
          if (stats !== undefined && state.fd === fd) {
            state.dev = stats.dev;
            state.ino = stats.ino;
          }
          callback(null, fd);
        });
      });
    };
    open(true);
  }

  #ensureDir(file: string): void {
    const dir = path.dirname(file);
    if (this.#madeDirs.has(dir)) return;
    makeDirectory(dir);
    this.#madeDirs.add(dir);
  }

  #idle(): boolean {
    if (this.#pendingFiles.length > 0 || this.#inFlight > 0) return false;
    for (const state of this.#files.values()) {
      if (state.used > 0 || state.sealed.length > 0) return false;
    }
    return true;
  }

  #resolveWaiters(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * `buf.utf8Write(text, offset, length)` skips the argument parsing of `buf.write` (a tenth of
 * the writer's time in profiles); it has been on Buffer.prototype since Node 0.x. Fall back
 * to the documented API if it ever goes.
 */
type FastBuffer = Buffer & { utf8Write?(text: string, offset: number, length: number): number };
const hasFastUtf8Write = typeof (Buffer.prototype as FastBuffer).utf8Write === 'function';
function writeUtf8(buffer: Buffer, text: string, offset: number): number {
  return hasFastUtf8Write
    ? (buffer as FastBuffer).utf8Write!(text, offset, buffer.length - offset)
    : buffer.write(text, offset, 'utf8');
}

const NEWLINE = Buffer.from('\n');

/**
 * Once per file open: when a file does not end in a newline (a line torn by a crash, or a
 * writer that died mid-line), writes one, so this writer's lines start on a line of their own
 * — else the first would be glued onto the torn text and both would be unreadable. The torn
 * text stays one unparsable line, which readers skip. Costs an `fstat` and a one-byte
 * positioned read. Reports the file's size afterwards (0 when it could not be taken).
 */
function endTornLine(fd: number, done: (size: number, stats?: fs.Stats) => void): void {
  fs.fstat(fd, (statError, stats) => {
    if (statError) {
      done(0);
      return;
    }
    if (stats.size === 0) {
      done(0, stats);
      return;
    }
    const last = Buffer.alloc(1);
    fs.read(fd, last, 0, 1, stats.size - 1, (readError, bytes) => {
      if (readError || bytes !== 1 || last[0] === 10) {
        done(stats.size, stats);
        return;
      }
      // O_APPEND: the newline goes to the end, wherever that is by now.
      fs.write(fd, NEWLINE, 0, 1, null, (writeError) => {
        done(stats.size + (writeError ? 0 : 1), stats);
      });
    });
  });
}

/** {@link endTornLine}, synchronously (the `exit` hook); never throws. */
function endTornLineSync(fd: number): void {
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return;
    const last = Buffer.alloc(1);
    if (fs.readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 10)
      fs.writeSync(fd, NEWLINE, 0, 1, null);
  } catch {
    // not readable ('a'): written as it is
  }
}

/** Opens for appending, readable where allowed (see {@link endTornLine}). */
function openForAppendSync(file: string): number {
  try {
    return fs.openSync(file, 'a+', 0o644);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') return fs.openSync(file, 'a', 0o644);
    throw error;
  }
}

function countLines(buffer: Buffer): number {
  let lines = 0;
  for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) lines++;
  return lines;
}

function sealedLines(state: FileState): number {
  let lines = 0;
  for (const batch of state.sealed) lines += batch.lines;
  return lines;
}

/** Writes a whole buffer, continuing after a partial write (rare on regular files). */
function writeAll(
  fd: number,
  buffer: Buffer,
  offset: number,
  done: (error: unknown) => void,
): void {
  fs.write(fd, buffer, offset, buffer.length - offset, null, (error, written) => {
    if (error) {
      done(error);
      return;
    }
    if (offset + written < buffer.length) {
      writeAll(fd, buffer, offset + written, done);
      return;
    }
    done(null);
  });
}
