import { readFileSync } from 'node:fs';

/** linesight's version (semantic versioning), from package.json: printed by `linesight --version`, sent on the node status topic and with every upload. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
