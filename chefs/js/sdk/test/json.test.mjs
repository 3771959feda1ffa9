// The JSON writer against serde_json's output (the Rust chefs').
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toJson, float, formatFloat, utf8Decode, fromJson, compareKeys } from '../json.js';

test('floats print as serde_json prints an f64', () => {
    // Pairs taken from serde_json 1.0.154 (the Rust chefs' version).
    const cases = [
        [0, '0.0'], [-0, '-0.0'], [1, '1.0'], [5, '5.0'], [-5, '-5.0'], [0.1, '0.1'], [0.5, '0.5'],
        [1e15, '1000000000000000.0'], [1e16, '1e+16'], [1e17, '1e+17'],
        [123456789012345680, '1.2345678901234568e+17'], [1e21, '1e+21'], [1.5e-7, '1.5e-7'],
        [1e-5, '0.00001'], [1e-6, '1e-6'], [1.234e-5, '0.00001234'], [9.999e-6, '9.999e-6'],
        [1591780794.870361, '1591780794.870361'], [1461764814, '1461764814.0'], [1e100, '1e+100'],
        [-1.5e300, '-1.5e+300'], [5e-324, '5e-324'], [1.7976931348623157e308, '1.7976931348623157e+308'],
        [0.1 + 0.2, '0.30000000000000004'], [9999999999999998, '9999999999999998.0'],
        [12345678901234567, '1.2345678901234568e+16'],
    ];
    for (const [x, want] of cases) {
        assert.equal(formatFloat(x), want, `formatFloat(${x})`);
        assert.equal(toJson(float(x)), want);
    }
    assert.equal(toJson(float(NaN)), 'null');
    assert.equal(toJson(Infinity), 'null');
});

test('numbers: integral ones are integers, others floats', () => {
    assert.equal(toJson(5), '5');
    assert.equal(toJson(-3), '-3');
    assert.equal(toJson(2.5), '2.5');
    assert.equal(toJson(2 ** 60), '1152921504606846976');
    assert.equal(toJson(12345678901234567890n), '12345678901234567890');
    assert.equal(toJson(1e20), '1e+20'); // beyond u64: an f64 in serde_json
});

test('objects: keys sorted by UTF-8 bytes, no spaces, undefined left out', () => {
    assert.equal(toJson({ b: 1, a: [true, null, 'x'], c: undefined }), '{"a":[true,null,"x"],"b":1}');
    assert.equal(toJson(new Map([['z', 1], ['Z', 2], ['é', 3]])), '{"Z":2,"z":1,"é":3}');
    // U+FFFD sorts before U+1F600 in UTF-8, after it in UTF-16 code units.
    assert.equal(toJson({ '\u{1F600}': 1, '\uFFFD': 2 }), '{"\uFFFD":2,"\u{1F600}":1}');
    assert.ok(compareKeys('\uFFFD', '\u{1F600}') < 0);
    assert.equal(toJson({ packet_counts: Object.assign(Object.create(null), { TCP: 2, IP: 1 }) }), '{"packet_counts":{"IP":1,"TCP":2}}');
    assert.equal(toJson({}), '{}');
    assert.equal(toJson([]), '[]');
    assert.equal(toJson(Uint8Array.from([1, 2])), '[1,2]');
});

test('strings are escaped as serde_json does', () => {
    assert.equal(toJson('a"b\\c\n\r\t\b\f\u0001\u001f\u007fé€😀/'), '"a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u007fé€😀/"');
});

test('utf8Decode is strict like Rust from_utf8, and keeps a BOM', () => {
    assert.equal(utf8Decode(Uint8Array.from([0x68, 0x69])), 'hi');
    assert.equal(utf8Decode(Uint8Array.from([0xc3, 0xa9])), 'é');
    assert.equal(utf8Decode(Uint8Array.from([0xef, 0xbb, 0xbf, 0x61])), '\ufeffa');
    assert.equal(utf8Decode(Uint8Array.from([0xc0, 0x80])), undefined); // overlong
    assert.equal(utf8Decode(Uint8Array.from([0xed, 0xa0, 0x80])), undefined); // a surrogate
    assert.equal(utf8Decode(Uint8Array.from([0xf4, 0x90, 0x80, 0x80])), undefined); // > U+10FFFF
    assert.equal(utf8Decode(Uint8Array.from([0xe2, 0x82])), undefined); // cut short
    assert.equal(utf8Decode(Uint8Array.from([0x80])), undefined);
    assert.equal(utf8Decode(new Uint8Array(0)), '');
});

test('fromJson reads strings and UTF-8 bytes', () => {
    assert.deepEqual(fromJson('{"a":1}'), { a: 1 });
    assert.deepEqual(fromJson(new TextEncoder().encode('[1,"é"]')), [1, 'é']);
    assert.throws(() => fromJson(Uint8Array.from([0xff])));
    assert.throws(() => fromJson('{'));
});
