/**
 * The figures each chaos test leaves behind, one JSON file per test in
 * $LINESIGHT_CHAOS_OUT (default: <tmpdir>/linesight-chaos), and the markdown
 * table `npm run chaos` prints from them at the end.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Sample {
  /** V8 heap in use after a forced full GC, bytes. */
  heapUsed: number;
  rss: number;
  /** Entries in /proc/<pid>/fd. */
  fds: number;
}

export interface ChaosResult {
  /** File name and sort key. */
  name: string;
  scale: string;
  fault: string;
  injection: string;
  /** How long the fault lasted, ms. */
  durationMs: number;
  /** Alerts accepted by the store (their commit returned). */
  offered: number;
  /** Distinct alerts the subscriber received, or (no broker in the test) accepted alerts found intact. */
  delivered: number;
  lost: number;
  /** Extra copies beyond the first; null where no broker is involved. */
  duplicated: number | null;
  /** From the end of the fault to an empty outbox (or to a verified reopen), ms. */
  recoveryMs: number;
  memory?: { start: Sample; end: Sample };
  notes?: string;
}

export function resultsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LINESIGHT_CHAOS_OUT ?? join(tmpdir(), 'linesight-chaos');
}

export function writeResult(result: ChaosResult): string {
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${result.name}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

export function clearResults(): void {
  rmSync(resultsDir(), { recursive: true, force: true });
}

export function readResults(dir = resultsDir()): ChaosResult[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ChaosResult);
}

const mb = (bytes: number) => (bytes / 1048576).toFixed(1);
const seconds = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

function memoryCells(r: ChaosResult): [string, string, string] {
  if (!r.memory) return ['–', '–', '–'];
  const { start, end } = r.memory;
  return [`${mb(start.heapUsed)} → ${mb(end.heapUsed)}`, `${mb(start.rss)} → ${mb(end.rss)}`, `${start.fds} → ${end.fds}`];
}

/** One row per result, in the column order docs/reliability.md uses. */
export function markdownTable(results: ChaosResult[]): string {
  const head = ['Fault', 'Injection', 'Duration', 'Alerts offered', 'Delivered', 'Lost', 'Duplicated', 'Recovery', 'Heap MB (after GC)', 'RSS MB', 'FDs', 'Notes'];
  const rows = results.map((r) => [
    r.fault, r.injection, seconds(r.durationMs), String(r.offered), String(r.delivered), String(r.lost),
    r.duplicated === null ? '–' : String(r.duplicated), seconds(r.recoveryMs), ...memoryCells(r), r.notes ?? '',
  ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}
