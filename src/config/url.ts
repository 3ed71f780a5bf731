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

/** Query parameters that carry credentials in the URLs cameras, brokers and endpoints are given by. */
const SECRET_PARAM = /^(token|access_token|api_?key|key|password|pass|pwd|secret|auth|sig|signature)$/i;

/**
 * `url` fit for a log line, a status message or the CLI's output: user info
 * (`user:password@`) becomes `***@` and the values of credential-looking query
 * parameters (`token`, `key`, `password`…) become `***`; everything else stays,
 * so an operator still sees which camera, broker or endpoint is meant.
 *
 * @example
 * redactUrl('rtsp://admin:secret@10.0.0.5:554/s1?channel=1&token=abc') // 'rtsp://***@10.0.0.5:554/s1?channel=1&token=***'
 */
export function redactUrl(url: string): string {
  const noUser = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@?#]*)@/i, (_, scheme: string) => `${scheme}***@`);
  return noUser.replace(/([?&])([^=&#]+)=([^&#]*)/g, (whole, sep: string, name: string) => (SECRET_PARAM.test(name) ? `${sep}${name}=***` : whole));
}
