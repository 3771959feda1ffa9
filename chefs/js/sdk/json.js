// JSON text exactly as the Rust chefs write it (serde_json's `Value`), so a
// JavaScript chef's payloads are byte-identical to a Rust chef's:
//
// - objects (plain objects and Maps) have their keys sorted by UTF-8 bytes,
//   no spaces: `{"a":1,"b":[true,null]}`;
// - an integral number is an integer (`5`); any other finite number, and
//   anything wrapped in `float()`, is a float as serde_json writes an f64
//   (`5.0`, `0.1`, `1e+16`, `1.5e-7`); NaN and infinities are `null`;
// - BigInts are integers; strings are escaped as serde_json does (which is
//   what JSON.stringify does for well-formed strings).

/** A number that is written as a float even when integral: `5.0`, not `5`. */
export class Float {
    constructor(value) {
        this.value = +value;
    }
}

/** Marks `x` as a float for `toJson` (`float(5)` is written `5.0`). */
export function float(x) {
    return new Float(x);
}

/** JSON text that `toJson` writes as it is. */
export class RawJson {
    constructor(text) {
        this.text = String(text);
    }
}

/**
 * Marks `text` as JSON already: `toJson` writes it unchanged. For a chef's
 * hottest payload, written by hand (keys sorted, strings through
 * JSON.stringify, floats through formatFloat) instead of walked by toJson;
 * the caller answers for it being valid JSON.
 */
export function rawJson(text) {
    return new RawJson(text);
}

/**
 * Writes a finite number as serde_json writes an f64: the shortest digits
 * that round-trip (what JavaScript prints too), in plain notation when the
 * decimal exponent is in -5..=15, else `d.ddde+N` / `de-N`.
 */
export function formatFloat(x) {
    // Where JavaScript and serde_json both use plain notation (JavaScript
    // does for 1e-6 <= |x| < 1e21), they print the same digits; only an
    // integral value needs its '.0'.
    const a = x < 0 ? -x : x;
    if (a >= 1e-5 && a < 1e16) return Number.isInteger(x) ? String(x) + '.0' : String(x);
    if (!Number.isFinite(x)) return 'null';
    if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
    const sign = x < 0 ? '-' : '';
    const s = String(Math.abs(x));
    // Shortest round-trip digits and the exponent of the first one.
    let digits;
    let exp;
    const e = s.indexOf('e');
    if (e >= 0) {
        digits = s.slice(0, e).replace('.', '');
        exp = Number(s.slice(e + 1));
    } else {
        const dot = s.indexOf('.');
        const int = dot < 0 ? s : s.slice(0, dot);
        const frac = dot < 0 ? '' : s.slice(dot + 1);
        if (int === '0') {
            let z = 0;
            while (frac.charCodeAt(z) === 48) z++;
            digits = frac.slice(z);
            exp = -z - 1;
        } else {
            digits = int + frac;
            exp = int.length - 1;
        }
        let end = digits.length;
        while (end > 1 && digits.charCodeAt(end - 1) === 48) end--;
        digits = digits.slice(0, end);
    }
    const n = digits.length;
    if (exp >= -5 && exp <= 15) {
        if (n - 1 <= exp) return sign + digits + '0'.repeat(exp + 1 - n) + '.0';
        if (exp >= 0) return sign + digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
        return sign + '0.' + '0'.repeat(-exp - 1) + digits;
    }
    const mantissa = n === 1 ? digits : digits[0] + '.' + digits.slice(1);
    return sign + mantissa + (exp < 0 ? 'e-' + -exp : 'e+' + exp);
}

/** Orders strings by their UTF-8 bytes (= by code point), as Rust's BTreeMap<String, _>. */
export function compareKeys(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
        let x = a.charCodeAt(i);
        let y = b.charCodeAt(i);
        if (x !== y) {
            // Surrogates encode code points above U+FFFF: after U+E000..U+FFFF.
            if (x >= 0xd800 && x <= 0xdfff) x += 0x10000;
            if (y >= 0xd800 && y <= 0xdfff) y += 0x10000;
            return x - y;
        }
    }
    return a.length - b.length;
}

function writeString(s) {
    return JSON.stringify(s);
}

function writeNumber(x) {
    if (Number.isInteger(x)) {
        if (Number.isSafeInteger(x)) return String(x);
        if (Math.abs(x) < 18446744073709551616) return BigInt(x).toString();
    }
    return formatFloat(x);
}

function write(v, out) {
    switch (typeof v) {
        case 'string':
            out.push(writeString(v));
            return;
        case 'number':
            out.push(writeNumber(v));
            return;
        case 'boolean':
            out.push(v ? 'true' : 'false');
            return;
        case 'bigint':
            out.push(v.toString());
            return;
        case 'undefined':
        case 'function':
        case 'symbol':
            out.push('null');
            return;
    }
    if (v === null) {
        out.push('null');
    } else if (v instanceof Float) {
        out.push(formatFloat(v.value));
    } else if (v instanceof RawJson) {
        out.push(v.text);
    } else if (Array.isArray(v) || ArrayBuffer.isView(v)) {
        out.push('[');
        for (let i = 0; i < v.length; i++) {
            if (i > 0) out.push(',');
            write(v[i], out);
        }
        out.push(']');
    } else if (v instanceof Map) {
        const o = Object.create(null);
        v.forEach((x, k) => {
            o[String(k)] = x;
        });
        writeObject(o, out);
    } else {
        writeObject(v, out);
    }
}

/** Code units that make JavaScript's default string order differ from UTF-8 byte order. */
const SURROGATE = /[\ud800-\udfff]/;

function writeObject(o, out) {
    const keys = Object.keys(o);
    if (keys.length > 1) {
        // The default order (UTF-16 code units) is UTF-8 byte order unless a
        // key has a character above U+FFFF; it is also far cheaper than a
        // sort calling a JavaScript comparator.
        if (SURROGATE.test(keys.join(''))) keys.sort(compareKeys);
        else keys.sort();
    }
    out.push('{');
    let first = true;
    for (let i = 0; i < keys.length; i++) {
        const x = o[keys[i]];
        if (x === undefined) continue;
        if (!first) out.push(',');
        first = false;
        out.push(writeString(keys[i]), ':');
        write(x, out);
    }
    out.push('}');
}

/**
 * JSON text of `value`, as serde_json writes the same `Value` (see the top
 * of this file). Object keys whose value is `undefined` are left out.
 */
export function toJson(value) {
    // Fast paths for the common leaves.
    if (typeof value === 'string') return writeString(value);
    if (typeof value === 'number') return writeNumber(value);
    if (value instanceof RawJson) return value.text;
    const out = [];
    write(value, out);
    return out.join('');
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of a string. */
export function utf8Encode(s) {
    return encoder.encode(s);
}

/**
 * The string UTF-8 `bytes` encode, or undefined if they are not valid UTF-8
 * (Rust's `str::from_utf8`: no overlongs, surrogates or lone bytes; a BOM is kept).
 */
export function utf8Decode(bytes) {
    try {
        return strictDecoder.decode(bytes);
    } catch {
        return undefined;
    }
}

/** Parses JSON text given as a string or UTF-8 bytes; throws on bad input. */
export function fromJson(text) {
    if (typeof text !== 'string') {
        const s = utf8Decode(text);
        if (s === undefined) throw new Error('state is not valid UTF-8');
        text = s;
    }
    return JSON.parse(text);
}
