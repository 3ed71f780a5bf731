/**
 * What the repository says to its users: every text file in it (tracked, or new
 * and not ignored by git) is free of
 * words that only make sense inside the team's own process (numbered work
 * sessions, issue numbers, references to a plan) and of paths to files outside the
 * repository; every relative Markdown link points at a file or directory that
 * exists, and a link to a heading of another Markdown file names a heading that
 * is there.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SELF = relative(ROOT, import.meta.filename);

/**
 * Tracked files as git lists them, plus new files not yet added that git does not
 * ignore (so a document is checked before its first commit), minus those deleted
 * from the working tree.
 */
function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    .split('\0')
    .filter((f, i, all) => f !== '' && all.indexOf(f) === i && existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).isFile());
}

/** Text, or null for a binary file (a NUL byte in its first 8 KiB, as git decides). */
function readText(file: string): string | null {
  const bytes = readFileSync(join(ROOT, file));
  if (bytes.subarray(0, 8192).includes(0)) return null;
  return bytes.toString('utf8');
}

const SKIPPED = new Set(['package-lock.json', SELF]);

// Built from pieces so that this file could never match itself.
const word = (...parts: string[]) => parts.join('');
const PROCESS_WORDS: Array<{ what: string; re: RegExp }> = [
  // The word, a space or hyphen, a number; but not a figure such as a session's "134.5 frames/s".
  { what: 'numbered work session', re: new RegExp(word('\\bses', 'sion[ -]?\\d+\\b(?![.,]\\d)'), 'i') },
  { what: 'issue number', re: new RegExp(word('\\biss', 'ue #?\\d+\\b'), 'i') },
  { what: 'reference to a plan', re: new RegExp(word('\\bthe pl', 'an\\b'), 'i') },
  { what: 'path outside the repository', re: new RegExp(word('\\.\\./sha', 'red\\b')) },
  { what: 'path outside the repository', re: new RegExp(word('/wo', 'rk/')) },
  { what: 'private design note', re: new RegExp(word('\\b(DES', 'IGN|STY', 'LE|JET', 'SON)\\.md\\b')) },
];

describe('tracked text files', () => {
  const files = trackedFiles().filter((f) => !SKIPPED.has(f));

  it('are listed by git', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it('mention no work sessions, issue numbers, plans or paths outside the repository', () => {
    const hits: string[] = [];
    for (const file of files) {
      const text = readText(file);
      if (text === null) continue;
      text.split('\n').forEach((line, i) => {
        for (const { what, re } of PROCESS_WORDS) {
          const m = re.exec(line);
          if (m) hits.push(`${file}:${i + 1}: ${what}: "${m[0]}"`);
        }
      });
    }
    expect(hits, `process words or outside paths:\n${hits.join('\n')}`).toEqual([]);
  });
});

/** Markdown lines with fenced code blocks blanked out. */
function outsideFences(markdown: string): string[] {
  let fence: string | null = null;
  return markdown.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence !== null) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = null;
      return '';
    }
    if (marker) {
      fence = marker;
      return '';
    }
    return line;
  });
}

/** Markdown without code: fenced blocks and inline code spans blanked out (their brackets are not links). */
function proseOf(markdown: string): string[] {
  return outsideFences(markdown).map((line) => line.replace(/(`+)[^`]*?\1/g, (span) => ' '.repeat(span.length)));
}

/** `[text](target)` and `![alt](target)`, with an optional title; angle brackets allowed around the target. */
const LINK = /!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;

/** GitHub's heading anchors: lower case, punctuation and symbols dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of outsideFences(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '').replace(/`/g, '');
    const base = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

describe('Markdown links', () => {
  const markdown = trackedFiles().filter((f) => f.endsWith('.md'));

  it('are there to check', () => {
    expect(markdown).toContain('README.md');
  });

  it('every relative link resolves to a file or directory in the repository, and every anchor to a heading', () => {
    const broken: string[] = [];
    for (const file of markdown) {
      const lines = proseOf(readFileSync(join(ROOT, file), 'utf8'));
      lines.forEach((line, i) => {
        for (const [, target] of line.matchAll(LINK)) {
          if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue; // http(s):, mailto:, in-page anchors
          const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
          const path = decodeURIComponent(pathPart.split('?')[0]);
          const abs = path.startsWith('/') ? join(ROOT, path) : resolve(ROOT, dirname(file), path);
          const where = `${file}:${i + 1}: ${target}`;
          if (relative(ROOT, abs).startsWith('..')) {
            broken.push(`${where}: points outside the repository`);
          } else if (!existsSync(abs)) {
            broken.push(`${where}: no such file or directory`);
          } else if (anchor && abs.endsWith('.md') && !anchorsOf(readFileSync(abs, 'utf8')).has(anchor)) {
            broken.push(`${where}: no heading with anchor #${anchor} in ${relative(ROOT, abs)}`);
          }
        }
      });
    }
    expect(broken, `broken links:\n${broken.join('\n')}`).toEqual([]);
  });

  it('in-page anchors name a heading of the same file', () => {
    const broken: string[] = [];
    for (const file of markdown) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const anchors = anchorsOf(text);
      proseOf(text).forEach((line, i) => {
        for (const [, target] of line.matchAll(LINK)) {
          if (target.startsWith('#') && !anchors.has(target.slice(1))) broken.push(`${file}:${i + 1}: ${target}`);
        }
      });
    }
    expect(broken, `anchors without a heading:\n${broken.join('\n')}`).toEqual([]);
  });
});
