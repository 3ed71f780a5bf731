/**
 * The scheme of `url` as `new URL` reads it (`'mqtts:'`, `'https:'`…), or
 * undefined when it is not a URL at all. The config schema and the upload
 * both judge URLs by this one reading.
 */
export function urlScheme(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}
