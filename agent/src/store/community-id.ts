/**
 * How the store keeps Community IDs: as the 20-byte SHA-1 digest in three integer columns
 * (`community_id_d0` = bytes 0-7, `_d1` = bytes 8-15, both big-endian UBIGINT, `_d2` = bytes
 * 16-19 as UINTEGER) with the text column `community_id` NULL. Every flow has a different
 * Community ID, and a 30-character random VARCHAR per row was the most expensive column to
 * append and to compress (measured: ~1.3 µs of CPU per record of 5, and ~20 of 83 bytes per
 * record on disk). Only the canonical v1 form `1:` + base64 of 20 bytes (28 characters, one
 * `=`, zero trailing bits) is encoded so; anything else (an empty string, another version, a
 * non-canonical spelling) is kept verbatim in `community_id` with the digest columns 0.
 * Reading: `COMMUNITY_ID_SQL` rebuilds the text exactly (base64 is canonical, so decoding then
 * encoding returns the same string).
 */

/** The record's Community ID as text, for SELECT and GROUP BY (exact for both encodings). */
export const COMMUNITY_ID_SQL =
  `coalesce("community_id", '1:' || to_base64(unhex(printf('%016x%016x%08x', "community_id_d0", "community_id_d1", "community_id_d2"))))`;

const CANONICAL_LENGTH = 30; // '1:' + 27 base64 characters + '='
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) BASE64_VALUE[BASE64.charCodeAt(i)] = i;

/** The 6-bit value of text[i] in base64, or -1. */
function sextet(text: string, i: number): number {
  const code = text.charCodeAt(i);
  return code < 128 ? BASE64_VALUE[code] : -1;
}

/**
 * Decodes a canonical Community ID v1 into five big-endian 32-bit words (digest bytes 0-3,
 * 4-7, ..., 16-19) in `out`; false (out undefined) for any other text. No allocation: it is
 * called per record on the write path.
 */
export function communityIdWords(text: string, out: Uint32Array): boolean {
  if (text.length !== CANONICAL_LENGTH || text.charCodeAt(0) !== 49 /* 1 */ || text.charCodeAt(1) !== 58 /* : */ ||
      text.charCodeAt(29) !== 61 /* = */) return false;
  // 27 characters carry 162 bits: the 160 of the digest and two that must be zero.
  let word = 0;
  let bits = 0; // bits of the current word filled so far
  let index = 0;
  for (let i = 2; i < 29; i++) {
    const value = sextet(text, i);
    if (value < 0) return false;
    const room = 32 - bits;
    if (room >= 6) {
      word = word * 64 + value;
      bits += 6;
      if (bits === 32) {
        out[index++] = word;
        word = 0;
        bits = 0;
      }
    } else {
      const spill = 6 - room;
      out[index++] = word * (1 << room) + (value >>> spill); // room < 6: a small shift, no Math.pow
      word = value & ((1 << spill) - 1);
      bits = spill;
    }
  }
  return bits === 2 && word === 0;
}

/** The digest columns' values of a canonical Community ID, or null when it would be stored as text. */
export function communityIdDigest(text: string): { d0: bigint; d1: bigint; d2: number } | null {
  const words = new Uint32Array(5);
  if (!communityIdWords(text, words)) return null;
  return {
    d0: (BigInt(words[0]) << 32n) | BigInt(words[1]),
    d1: (BigInt(words[2]) << 32n) | BigInt(words[3]),
    d2: words[4],
  };
}
