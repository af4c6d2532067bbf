/**
 * Byte-level helpers of the envelope format:
 * `0A len msgName 12 len [ 0A len type_url ( 12 len value ) ]`.
 */

/** Tag of field 1, length-delimited. */
export const TAG_FIELD_1 = 0x0a;
/** Tag of field 2, length-delimited. */
export const TAG_FIELD_2 = 0x12;

export const TYPE_URL_PREFIX = "type.googleapis.com/";

const utf8 = new TextEncoder();

export function encodeUtf8(text: string): Uint8Array {
  return utf8.encode(text);
}

/** Bytes a varint of `value` takes. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Writes `value` as a varint at `offset`; returns the offset after it. */
export function writeVarint(target: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    target[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  target[offset++] = value;
  return offset;
}

/**
 * Reads a varint of up to 32 bits at `offset`: `[value, offset after it]`, or `[-1, offset]`
 * when it runs past the end or is longer than 5 bytes.
 */
export function readVarint(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  for (let shift = 0, at = offset; shift < 35 && at < bytes.length; shift += 7) {
    const byte = bytes[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
  }
  return [-1, offset];
}

/** `tag varint(len(bytes)) bytes`: one length-delimited field. */
export function lengthDelimited(tag: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + varintSize(bytes.length) + bytes.length);
  out[0] = tag;
  out.set(bytes, writeVarint(out, 1, bytes.length));
  return out;
}

/**
 * The subscription topic of a message type: the first bytes of every envelope carrying
 * it, `0A varint(len(name)) name`. The length is part of the prefix, so the topic of
 * `Msg01` never matches an envelope of `Msg01abc`.
 */
export function envelopeTopic(typeName: string): Uint8Array {
  return lengthDelimited(TAG_FIELD_1, encodeUtf8(typeName));
}

