import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  applyChange,
  captureChanges,
  watchChanges,
  type Resource,
  type StoreChange,
  type StoredAccount,
} from './embedded-cosmos-changes.js';

/**
 * Makes the embedded store honest about what it acknowledged: every change is appended to a journal and
 * `fdatasync`ed before the server answers the request that made it (group commit: one sync covers every
 * change made while the previous sync ran). When the journal grows past a bound it is compacted into a
 * snapshot. Start = snapshot + the journal segments written after it, replayed in order.
 *
 * Files in the data folder: `cosmos-snapshot.json` (JSON lines: a header naming the first journal segment it
 * does not hold, then one put per resource) and `cosmos-journal-<n>.log` (JSON lines, one change each).
 */
export interface DurableStoreOptions {
  dataDir: string;
  /** Journal bytes after which the store is compacted into a new snapshot. */
  compactAfterBytes: number;
  log: (message: string) => void;
}

export interface DurableStore {
  /** Resolves once every change made so far is on disk; rejects if the journal cannot be written. */
  durable(): Promise<void>;
  /** Writes a snapshot of everything and drops the journal it covers; a no-op when nothing changed. */
  compact(): Promise<void>;
  /** Stops journaling, compacts if anything changed, closes the files. */
  close(): Promise<void>;
}

const SNAPSHOT_FILE = 'cosmos-snapshot.json';
const SNAPSHOT_FORMAT = 'switchyard-embedded-cosmos';
const SNAPSHOT_VERSION = 2;
const SEGMENT_PATTERN = /^cosmos-journal-(\d+)\.log$/;
const WRITE_CHUNK_CHARS = 1 << 20;

interface SnapshotHeader {
  format: string;
  version: number;
  takenAt?: string;
  /** The first journal segment whose changes this snapshot does not hold. */
  journalFrom?: number;
}

const segmentName = (n: number) => `cosmos-journal-${String(n).padStart(8, '0')}.log`;

/** Restores `dataDir` into the account, then journals every change made to it from now on. */
export async function openDurableStore(account: StoredAccount, options: DurableStoreOptions): Promise<DurableStore> {
  const { dataDir, log } = options;
  await mkdir(dataDir, { recursive: true });
  const startedAt = performance.now();
  const snapshot = await restoreSnapshot(account, join(dataDir, SNAPSHOT_FILE));
  const segments = await listSegments(dataDir);
  // Segments older than the snapshot are left over from a compaction cut short: the snapshot holds them.
  for (const n of segments.filter((n) => n < snapshot.journalFrom)) await unlink(join(dataDir, segmentName(n)));
  const live = segments.filter((n) => n >= snapshot.journalFrom);
  let replayed = 0;
  for (const [index, n] of live.entries())
    replayed += await replaySegment(account, join(dataDir, segmentName(n)), index === live.length - 1, log);
  if (snapshot.items + replayed > 0) {
    log(
      `embedded Cosmos restored ${snapshot.items} snapshot entries and ${replayed} journal entries in ${Math.round(performance.now() - startedAt)} ms`,
    );
  }

  const first = Math.max(snapshot.journalFrom, ...live.map((n) => n + 1));
  const journal = new Journal(await openSegment(dataDir, first), first, await sizeOf(dataDir, live));
  let changedSinceSnapshot = replayed > 0;
  const unwatch = watchChanges(account, (change) => {
    journal.append(`${JSON.stringify(change)}\n`);
    changedSinceSnapshot = true;
  });

  let compacting: Promise<void> | undefined;
  const compact = (): Promise<void> => {
    compacting ??= (async () => {
      if (!changedSinceSnapshot) return;
      const next = journal.segment + 1;
      const nextFile = await openSegment(dataDir, next);
      // One synchronous step: the capture holds exactly the changes journaled before the new segment.
      const captured = captureChanges(account);
      changedSinceSnapshot = false;
      const oldSegmentWritten = journal.rotate(nextFile, next);
      await oldSegmentWritten;
      await writeSnapshot(join(dataDir, SNAPSHOT_FILE), captured, next);
      for (const n of await listSegments(dataDir)) if (n < next) await unlink(join(dataDir, segmentName(n)));
      log(`embedded Cosmos snapshot: ${captured.length} entries, journal from segment ${next}`);
    })().finally(() => {
      compacting = undefined;
    });
    return compacting;
  };

  return {
    async durable() {
      await journal.durable();
      if (journal.bytes > options.compactAfterBytes && compacting === undefined) {
        compact().catch((error: unknown) => log(`embedded Cosmos compaction failed: ${describe(error)}`));
      }
    },
    compact,
    async close() {
      unwatch();
      await compacting?.catch(() => undefined);
      await journal.durable();
      await compact();
      await journal.close();
    },
  };
}

/**
 * An append-only file of changes with group commit. `durable()` waits until every line appended before
 * the call is synced; while one sync runs, new lines gather and the next sync takes them all.
 */
class Journal {
  private pending: string[] = [];
  private appended = 0;
  private synced = 0;
  private flushing: Promise<void> | undefined;
  private broken: Error | undefined;

  constructor(
    private file: FileHandle,
    public segment: number,
    /** Bytes in the segments no snapshot covers yet. */
    public bytes: number,
  ) {}

  append(line: string): void {
    this.pending.push(line);
    this.appended += 1;
  }

  async durable(): Promise<void> {
    const target = this.appended;
    while (this.synced < target) {
      // The changes are applied in memory but not on disk: refuse to acknowledge anything from now on.
      if (this.broken) throw this.broken;
      await (this.flushing ??
        this.startWrite(async () => {
          this.bytes += await this.write(this.file, this.takePending());
        }));
    }
  }

  /**
   * Starts a new segment in one synchronous step: every line appended before the call goes to the old
   * segment (written and synced after any write in progress), every line after it to the new one.
   */
  rotate(nextFile: FileHandle, next: number): Promise<void> {
    const oldFile = this.file;
    const batch = this.takePending();
    const previous = this.flushing;
    this.file = nextFile;
    this.segment = next;
    this.bytes = 0;
    return this.startWrite(async () => {
      await previous;
      try {
        await this.write(oldFile, batch);
      } finally {
        await oldFile.close();
      }
    });
  }

  async close(): Promise<void> {
    await this.flushing;
    await this.file.close();
  }

  private takePending(): { text: string; upTo: number } {
    const batch = { text: this.pending.join(''), upTo: this.appended };
    this.pending = [];
    return batch;
  }

  /** Writes and syncs a batch; returns its size in bytes. */
  private async write(file: FileHandle, batch: { text: string; upTo: number }): Promise<number> {
    if (batch.text.length > 0) {
      await file.write(batch.text);
      await file.datasync();
    }
    this.synced = Math.max(this.synced, batch.upTo);
    return Buffer.byteLength(batch.text);
  }

  /** Runs one write at a time; whoever waits on `flushing` waits for the latest. */
  private startWrite(work: () => Promise<void>): Promise<void> {
    const run = work().catch((error: unknown) => {
      this.broken ??= error instanceof Error ? error : new Error(String(error));
    });
    this.flushing = run;
    void run.finally(() => {
      if (this.flushing === run) this.flushing = undefined;
    });
    return run;
  }
}

async function openSegment(dataDir: string, n: number): Promise<FileHandle> {
  const file = await open(join(dataDir, segmentName(n)), 'a');
  await syncDirectory(dataDir);
  return file;
}

async function listSegments(dataDir: string): Promise<number[]> {
  const names = await readdir(dataDir);
  return names
    .map((name) => SEGMENT_PATTERN.exec(name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

async function sizeOf(dataDir: string, segments: number[]): Promise<number> {
  let total = 0;
  for (const n of segments) {
    const file = await open(join(dataDir, segmentName(n)), 'r');
    total += (await file.stat()).size;
    await file.close();
  }
  return total;
}

/** Replays one segment; a torn last line of the newest segment was never acknowledged and is dropped. */
async function replaySegment(account: StoredAccount, path: string, newest: boolean, log: (message: string) => void): Promise<number> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  let applied = 0;
  for (const [index, line] of lines.entries()) {
    if (line === '') continue;
    let change: StoreChange;
    try {
      change = JSON.parse(line) as StoreChange;
    } catch {
      const last = lines.slice(index + 1).every((rest) => rest === '');
      if (newest && last) {
        log(`embedded Cosmos: dropped a torn last journal line in ${path} (a write cut off before it was acknowledged)`);
        break;
      }
      throw new Error(`${path} line ${index + 1} is corrupt; move the data folder aside to start empty`);
    }
    applyChange(account, change);
    applied += 1;
  }
  return applied;
}

/** Restores a snapshot (this version's JSON lines, or version 1's single JSON document). */
async function restoreSnapshot(account: StoredAccount, path: string): Promise<{ journalFrom: number; items: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { journalFrom: 0, items: 0 };
    throw error;
  }
  const firstLineEnd = text.indexOf('\n');
  const header = parseHeader(firstLineEnd === -1 ? text : text.slice(0, firstLineEnd));
  if (header?.format === SNAPSHOT_FORMAT && header.version === 1) {
    const changes = versionOneChanges(JSON.parse(text) as VersionOneSnapshot);
    for (const change of changes) applyChange(account, change);
    return { journalFrom: 0, items: changes.length };
  }
  if (header?.format !== SNAPSHOT_FORMAT || header.version !== SNAPSHOT_VERSION) {
    throw new Error(`${path} is not an embedded Cosmos snapshot (version 1 or ${SNAPSHOT_VERSION}); move it aside to start empty`);
  }
  let items = 0;
  let start = firstLineEnd + 1;
  while (start > 0 && start < text.length) {
    const end = text.indexOf('\n', start);
    const line = text.slice(start, end === -1 ? text.length : end);
    if (line !== '') {
      applyChange(account, JSON.parse(line) as StoreChange);
      items += 1;
    }
    start = end === -1 ? text.length : end + 1;
  }
  return { journalFrom: header.journalFrom ?? 0, items };
}

function parseHeader(line: string): SnapshotHeader | undefined {
  try {
    const parsed: unknown = JSON.parse(line);
    return parsed && typeof parsed === 'object' ? (parsed as SnapshotHeader) : undefined;
  } catch {
    // Version 1 is one JSON document spread over many lines: its header is the start of the first line.
    const match = /^\{"format":("[^"]*"),"version":(\d+)/.exec(line);
    return match ? { format: JSON.parse(match[1]!) as string, version: Number(match[2]) } : undefined;
  }
}

interface VersionOneSnapshot {
  databases: { id: string; containers: { id: string; definition: Resource; userDefinedFunctions: Resource[]; items: Resource[] }[] }[];
}

function versionOneChanges(snapshot: VersionOneSnapshot): StoreChange[] {
  return snapshot.databases.flatMap((database) => [
    { kind: 'database', op: 'put', data: { id: database.id } } as StoreChange,
    ...database.containers.flatMap((container) => [
      { kind: 'container', db: database.id, op: 'put', data: { ...container.definition, id: container.id } } as StoreChange,
      ...container.userDefinedFunctions.map(
        (data) => ({ kind: 'udf', db: database.id, container: container.id, op: 'put', data }) as StoreChange,
      ),
      ...container.items.map((data) => ({ kind: 'item', db: database.id, container: container.id, op: 'put', data }) as StoreChange),
    ]),
  ]);
}

/** Writes the snapshot beside the old one, syncs it, then renames it into place: a crash leaves one or the other. */
async function writeSnapshot(path: string, changes: StoreChange[], journalFrom: number): Promise<void> {
  const tmpPath = `${path}.${process.pid}.tmp`;
  const file = await open(tmpPath, 'w');
  try {
    const header: SnapshotHeader = { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, takenAt: new Date().toISOString(), journalFrom };
    let chunk = `${JSON.stringify(header)}\n`;
    for (const change of changes) {
      chunk += `${JSON.stringify(change)}\n`;
      if (chunk.length >= WRITE_CHUNK_CHARS) {
        await file.write(chunk);
        chunk = '';
      }
    }
    await file.write(chunk);
    await file.sync();
    await file.close();
    await rename(tmpPath, path);
    await syncDirectory(join(path, '..'));
  } catch (error) {
    await file.close().catch(() => undefined);
    await unlink(tmpPath).catch(() => undefined);
    throw error;
  }
}

async function syncDirectory(directoryPath: string): Promise<void> {
  // fsync on the directory makes a create or rename itself durable; platforms that refuse it lose nothing else.
  const directory = await open(directoryPath, 'r').catch(() => undefined);
  await directory?.sync().catch(() => undefined);
  await directory?.close();
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
