import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The page's files: `web/` at the package root (from src/overlay and from dist/overlay alike). */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  /** index.html revalidates on every load (a new server may bring a new page); the rest may be reused briefly. */
  cacheControl: string;
}

/**
 * Reads the page's files once, into a map keyed by URL path. Serving only the
 * keys of that map rules out path traversal by construction: `/../x`,
 * `/%2e%2e/x` or an encoded `..%2f` never name a key, whatever they decode to.
 */
export async function loadStaticFiles(root = WEB_ROOT): Promise<Map<string, StaticFile>> {
  const files = new Map<string, StaticFile>();
  for (const full of await walk(root)) {
    const type = TYPES[extname(full).toLowerCase()];
    if (!type) continue; // only known types: no editor backups or stray files
    const body = await readFile(full);
    const key = '/' + relative(root, full).split(sep).join('/');
    files.set(key, {
      body,
      type,
      etag: `"${createHash('sha1').update(body).digest('base64url')}"`,
      cacheControl: key === '/index.html' ? 'no-cache' : 'public, max-age=300',
    });
  }
  return files;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** The map key a request path names, or null when it cannot name one. */
export function staticKey(pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null; // malformed %-escape: names nothing
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  if (decoded.split('/').some((seg) => seg === '..' || seg === '.')) return null;
  return decoded === '/' ? '/index.html' : decoded;
}
