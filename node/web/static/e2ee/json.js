// json.js — strict JSON for signed bodies and envelope plaintexts.
//
// JSON.parse quietly keeps the last of two members with one name and reads 1.0 or 1e3 as
// integers; package parley/identity refuses both. parseObject reads one JSON object (RFC 8259)
// and checks it against a schema of exactly the members it must have, as Go's strict decoder
// does: an unknown, repeated, missing or null member, a value of the wrong type, a number
// that is not an integer in range, a lone surrogate, and anything after the object are errors.

const MAX_DEPTH = 16;

/** JSONError is a body that is not what its schema says. */
export class JSONError extends Error {
  constructor(message) {
    super(message);
    this.name = 'JSONError';
  }
}

// An integer literal as it appeared, kept as a BigInt so no precision is lost before the
// schema says the range.
class IntLiteral {
  constructor(text) {
    this.text = text;
    this.value = BigInt(text);
  }
}

class Parser {
  constructor(text) {
    this.s = text;
    this.i = 0;
  }

  fail(msg) {
    throw new JSONError(`json: ${msg} at offset ${this.i}`);
  }

  ws() {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.i++;
    }
  }

  value(depth) {
    if (depth > MAX_DEPTH) this.fail('nested too deeply');
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    return this.fail('unexpected character');
  }

  object(depth) {
    this.i++; // {
    const members = [];
    const names = new Set();
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return { members };
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a member name');
      const name = this.string();
      if (names.has(name)) this.fail(`member "${name}" appears twice`);
      names.add(name);
      this.ws();
      if (this.s[this.i] !== ':') this.fail('expected ":"');
      this.i++;
      members.push([name, this.value(depth + 1)]);
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return { members };
      if (c !== ',') this.fail('expected "," or "}"');
    }
  }

  array(depth) {
    this.i++; // [
    const out = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected "," or "]"');
    }
  }

  string() {
    const s = this.s;
    this.i++; // "
    let out = '';
    let start = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail('unterminated string');
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(start, this.i);
        this.i++;
        break;
      }
      if (c < 0x20) this.fail('control character in string');
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += s.slice(start, this.i);
      const e = s[this.i + 1];
      this.i += 2;
      const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[e];
      if (simple !== undefined) {
        out += simple;
      } else if (e === 'u') {
        const h = s.slice(this.i, this.i + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('bad \\u escape');
        out += String.fromCharCode(parseInt(h, 16));
        this.i += 4;
      } else {
        this.fail('bad escape');
      }
      start = this.i;
    }
    if (!out.isWellFormed()) this.fail('lone surrogate in string');
    return out;
  }

  number() {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m || m[0].length === 400) this.fail('bad number');
    this.i += m[0].length;
    if (m[2] !== undefined || m[3] !== undefined) this.fail('number is not an integer');
    return new IntLiteral(m[0]);
  }
}

/** Types of schema members; each checks a parsed value and returns what the caller gets. */
export const T = {
  /** string: any JSON string. */
  string: (v) => {
    if (typeof v !== 'string') throw new JSONError('want a string');
    return v;
  },
  /** int: an integer that JavaScript holds exactly (Go int64 fields: times). */
  int: (v) => intIn(v, -(2n ** 53n) + 1n, 2n ** 53n - 1n),
  /** uint32: an integer in [0, 2^32). */
  uint32: (v) => intIn(v, 0n, 2n ** 32n - 1n),
  /** kid: an integer in [0, 2^48), as every KID is. */
  kid: (v) => intIn(v, 0n, 2n ** 48n - 1n),
  /** strings: an array of strings. */
  strings: (v) => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new JSONError('want an array of strings');
    return v;
  },
};

function intIn(v, lo, hi) {
  if (!(v instanceof IntLiteral)) throw new JSONError('want an integer');
  if (lo >= 0n && v.text.startsWith('-')) throw new JSONError(`want an unsigned integer, not ${v.text}`);
  if (v.value < lo || v.value > hi) throw new JSONError(`integer ${v.value} out of range`);
  return Number(v.value);
}

/**
 * parseObject reads text, one JSON object, whose members must be exactly those of schema
 * (name -> a type of T), and returns a plain object of the checked values.
 */
export function parseObject(text, schema) {
  if (typeof text !== 'string') throw new JSONError('json: not a string');
  if (!text.isWellFormed()) throw new JSONError('json: not valid UTF-16 text');
  const p = new Parser(text);
  p.ws();
  if (p.s[p.i] !== '{') p.fail('not a JSON object');
  const { members } = p.object(0);
  p.ws();
  if (p.i !== p.s.length) p.fail('data after the JSON object');
  const out = {};
  for (const [name, value] of members) {
    const check = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (!check) throw new JSONError(`json: unknown field "${name}"`);
    if (value === null) throw new JSONError(`json: field "${name}" is null`);
    try {
      out[name] = check(value);
    } catch (err) {
      throw new JSONError(`json: field "${name}": ${err.message}`);
    }
  }
  for (const name of Object.keys(schema)) {
    if (!Object.hasOwn(out, name)) throw new JSONError(`json: missing field "${name}"`);
  }
  return out;
}
