// The page's side of the overlay protocol v1 (the server's is src/overlay/protocol.ts).

export const PROTOCOL_VERSION = 1;
export const BINARY_PREVIEW = 1;

const utf8 = new TextDecoder();

/**
 * Decodes a binary preview message:
 * u8 type | u8 idLength | id (UTF-8) | f64 captureTs | u32 seq | u16 width | u16 height | JPEG…
 * (big-endian). Returns null for anything else.
 * @param {ArrayBuffer} buf
 * @returns {{ camera: string, captureTs: number, seq: number, width: number, height: number, jpeg: Uint8Array } | null}
 */
export function decodePreview(buf) {
  if (buf.byteLength < 18) return null;
  const view = new DataView(buf);
  if (view.getUint8(0) !== BINARY_PREVIEW) return null;
  const n = view.getUint8(1);
  if (buf.byteLength < 18 + n) return null;
  const camera = utf8.decode(new Uint8Array(buf, 2, n));
  const o = 2 + n;
  return {
    camera,
    captureTs: view.getFloat64(o),
    seq: view.getUint32(o + 8),
    width: view.getUint16(o + 12),
    height: view.getUint16(o + 14),
    jpeg: new Uint8Array(buf, o + 16),
  };
}
