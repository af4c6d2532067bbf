/**
 * Z85 (ZeroMQ RFC 32), the text form of CURVE keys: 4 bytes become 5 characters. zeromq.js
 * makes keys in this form but has no codec, and a ZAP request carries the raw 32 bytes.
 */
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
const VALUES = new Map([...ALPHABET].map((char, value) => [char, value]));

/** The Z85 text of `bytes`; their length must be a multiple of 4. */
export function z85Encode(bytes: Uint8Array): string {
  let text = "";
  for (let at = 0; at < bytes.length; at += 4) {
    let value = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
    let chunk = "";
    for (let i = 0; i < 5; i++) {
      chunk = ALPHABET[value % 85]! + chunk;
      value = Math.floor(value / 85);
    }
    text += chunk;
  }
  return text;
}

/** The bytes of Z85 `text`, or undefined when it is not Z85 (a length not a multiple of 5, a foreign character, a value over 32 bits). */
export function z85Decode(text: string): Uint8Array | undefined {
  if (text.length % 5 !== 0) return undefined;
  const bytes = new Uint8Array((text.length / 5) * 4);
  for (let at = 0; at < text.length; at += 5) {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const digit = VALUES.get(text[at + i]!);
      if (digit === undefined) return undefined;
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) return undefined;
    new DataView(bytes.buffer).setUint32((at / 5) * 4, value);
  }
  return bytes;
}
