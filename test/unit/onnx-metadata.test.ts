import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { LinesightError } from '../../src/errors.js';
import { parseImgsz, parseUltralyticsNames, readOnnxMetadata } from '../../src/infer/onnx-metadata.js';

const models = fileURLToPath(new URL('../fixtures/models/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'linesight-onnx-meta-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a file into the test's temp dir and returns its path. */
function write(name: string, data: Uint8Array | string): string {
  const path = join(tmp, name);
  writeFileSync(path, data);
  return path;
}

const fixtureMetadata = {
  names: "{0: 'red', 1: 'green', 2: 'blue'}",
  imgsz: '[320, 320]',
  stride: '32',
  task: 'detect',
  version: 'fixture-1',
  description: 'linesight test fixture: coloured squares',
  author: 'linesight',
};

/** Runs fn and returns what it threw, so a test can assert code and message together. */
function thrown(fn: () => unknown): LinesightError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LinesightError);
    return err as LinesightError;
  }
  throw new Error('expected a LinesightError, nothing was thrown');
}

describe('readOnnxMetadata on the fixture models', () => {
  it('reads header, opset, shapes with the batch dim_param, and Ultralytics metadata (squares-v8)', () => {
    expect(readOnnxMetadata(join(models, 'squares-v8.onnx'))).toEqual({
      irVersion: 8,
      producerName: 'linesight-fixtures',
      producerVersion: '1',
      opset: 17,
      graphName: 'squares',
      inputs: [{ name: 'images', elemType: 'float32', shape: ['batch', 3, 320, 320] }],
      outputs: [{ name: 'output0', elemType: 'float32', shape: ['batch', 7, 3] }],
      metadata: fixtureMetadata,
    });
  });

  it('gives class names and input size through the parsers', () => {
    const meta = readOnnxMetadata(join(models, 'squares-v8.onnx'));
    expect(parseUltralyticsNames(meta.metadata.names)).toEqual(['red', 'green', 'blue']);
    expect(parseImgsz(meta.metadata.imgsz)).toEqual({ width: 320, height: 320 });
  });

  it.each([
    ['squares-v5.onnx', ['batch', 3, 320, 320], ['batch', 3, 8]],
    ['squares-static.onnx', [1, 3, 320, 320], [1, 7, 3]],
    ['squares-v8-nometa.onnx', ['batch', 3, 320, 320], ['batch', 7, 3]],
    ['bad-rank.onnx', [3, 320, 320], [1, 7, 3]],
    ['bad-layout.onnx', ['batch', 3, 320, 320], ['batch', 6, 6, 3]],
  ])('%s declares input %j and output %j', (file, input, output) => {
    const meta = readOnnxMetadata(join(models, file));
    expect(meta.inputs).toEqual([{ name: 'images', elemType: 'float32', shape: input }]);
    expect(meta.outputs).toEqual([{ name: 'output0', elemType: 'float32', shape: output }]);
    expect(meta.opset).toBe(17);
  });

  it('has no metadata at all in squares-v8-nometa', () => {
    expect(readOnnxMetadata(join(models, 'squares-v8-nometa.onnx')).metadata).toEqual({});
  });
});

describe('readOnnxMetadata on hand-encoded ModelProtos', () => {
  // Tiny protobuf writers for what the fixtures do not cover; field numbers from onnx.proto.
  const bytesOf = (build: (w: protobuf.Writer) => void) => {
    const w = protobuf.Writer.create();
    build(w);
    return w.finish();
  };
  const message = (w: protobuf.Writer, field: number, body: Uint8Array) => w.uint32((field << 3) | 2).bytes(body);
  const text = (w: protobuf.Writer, field: number, value: string) => w.uint32((field << 3) | 2).string(value);
  const varint = (w: protobuf.Writer, field: number, value: number) => w.uint32(field << 3).int64(value);
  const valueInfo = (name: string, elemType: number, dims: Array<number | string | null>) =>
    bytesOf((w) => {
      text(w, 1, name);
      const shape = bytesOf((s) => {
        for (const d of dims) {
          message(s, 1, bytesOf((dim) => {
            if (typeof d === 'number') varint(dim, 1, d);
            else if (typeof d === 'string') text(dim, 2, d);
          }));
        }
      });
      message(w, 2, bytesOf((type) => message(type, 1, bytesOf((tensor) => {
        varint(tensor, 1, elemType);
        message(tensor, 2, shape);
      }))));
    });

  it('leaves out inputs that are initializers, names element types, and marks empty dims "?"', () => {
    const graph = bytesOf((g) => {
      message(g, 1, bytesOf((node) => text(node, 4, 'Conv'))); // a node: skipped
      text(g, 2, 'legacy');
      // initializer conv.weight with float_data and raw_data, both skipped
      message(g, 5, bytesOf((t) => {
        text(t, 8, 'conv.weight');
        t.uint32((9 << 3) | 2).bytes(new Uint8Array(4096).fill(7));
      }));
      message(g, 11, valueInfo('data', 10, [null, 3, '', 'h']));
      message(g, 11, valueInfo('conv.weight', 1, [16, 3, 3, 3]));
      message(g, 12, valueInfo('out', 99, [1, 0]));
    });
    const model = bytesOf((m) => {
      varint(m, 1, 6);
      message(m, 8, bytesOf((o) => { text(o, 1, 'ai.onnx.ml'); varint(o, 2, 2); }));
      message(m, 8, bytesOf((o) => varint(o, 2, 11)));
      message(m, 7, graph);
      message(m, 14, bytesOf((p) => { text(p, 1, '__proto__'); text(p, 2, 'plain key'); }));
    });
    const meta = readOnnxMetadata(write('legacy.onnx', model));
    expect(meta.irVersion).toBe(6);
    expect(meta.opset).toBe(11);
    expect(meta.producerName).toBe('');
    expect(meta.graphName).toBe('legacy');
    expect(meta.inputs).toEqual([{ name: 'data', elemType: 'float16', shape: ['?', 3, '?', 'h'] }]);
    expect(meta.outputs).toEqual([{ name: 'out', elemType: 'unknown(99)', shape: [1, 0] }]);
    expect(Object.keys(meta.metadata)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(meta.metadata)).toBe(Object.prototype);
  });

  it('rejects a protobuf without a graph', () => {
    const path = write('nograph.onnx', bytesOf((m) => varint(m, 1, 8)));
    const err = thrown(() => readOnnxMetadata(path));
    expect(err.code).toBe('E_MODEL_LOAD');
    expect(err.message).toContain('(no graph)');
  });
});

describe('readOnnxMetadata on files that are not ONNX models', () => {
  it('throws E_MODEL_NOT_FOUND for a missing file', () => {
    const path = join(tmp, 'missing.onnx');
    const err = thrown(() => readOnnxMetadata(path));
    expect(err.code).toBe('E_MODEL_NOT_FOUND');
    expect(err.message).toBe(`expected an ONNX model file at ${path}, found no such file`);
  });

  it('throws E_MODEL_LOAD for a text file, quoting its start', () => {
    const path = write('model.onnx.txt', 'model: yolov8n\nimgsz: 640\n');
    const err = thrown(() => readOnnxMetadata(path));
    expect(err.code).toBe('E_MODEL_LOAD');
    // The tail is protobufjs's own reason, which may change between its versions.
    const expected = `expected an ONNX model (protobuf ModelProto), found 26 bytes of text starting with "model: yolov8n\\nimgsz: 64" in ${path} (not protobuf: `;
    expect(err.message.slice(0, expected.length)).toBe(expected);
  });

  it.each([
    ['an empty file', 'empty.onnx', new Uint8Array(0), 'found an empty file'],
    ['a JSON file', 'model.json', '{"names": ["a"]}', 'found 16 bytes of text starting with "{\\"names\\": [\\"a\\"]}"'],
    ['a PNG', 'image.png', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), 'found 12 bytes starting with 0x89504e470d0a1a0a'],
  ])('throws E_MODEL_LOAD for %s', (_what, name, data, found) => {
    const err = thrown(() => readOnnxMetadata(write(name, data)));
    expect(err.code).toBe('E_MODEL_LOAD');
    expect(err.message).toContain(found);
  });

  it('throws E_MODEL_LOAD for a directory', () => {
    const err = thrown(() => readOnnxMetadata(tmp));
    expect(err.code).toBe('E_MODEL_LOAD');
    expect(err.message).toBe(`expected an ONNX model file at ${tmp}, found a directory`);
  });
});

describe('parseUltralyticsNames', () => {
  it.each([
    ["{0: 'scratch', 1: 'dent'}", ['scratch', 'dent']],
    ['{"0": "scratch", "1": "dent"}', ['scratch', 'dent']],
    ['["scratch", "dent"]', ['scratch', 'dent']],
    ["['scratch', 'dent']", ['scratch', 'dent']],
    ["{1: 'dent', 0: 'scratch'}", ['scratch', 'dent']],
    ["{0: 'solo'}", ['solo']],
    ["  {\n  0: 'a',\n  1: 'b',\n}  ", ['a', 'b']],
    ["{0: 'hole, small', 1: 'label: missing', 2: \"operator's mark\", 3: 'a}b', 4: '{0: x}'}", ['hole, small', 'label: missing', "operator's mark", 'a}b', '{0: x}']],
    ["{0: 'it\\'s \"x\"', 1: 'back\\\\slash', 2: 'tab\\there'}", ['it\'s "x"', 'back\\slash', 'tab\there']],
    ["{0: 'Kratzer ä', 1: '\\xe4', 2: '\\u00e4', 3: '\\U0001f600'}", ['Kratzer ä', 'ä', 'ä', '😀']],
    ['["\\ud83d\\ude00", "a\\/b"]', ['😀', 'a/b']],
    ["{0: ''}", ['']],
  ])('parses %j', (value, expected) => {
    expect(parseUltralyticsNames(value)).toEqual(expected);
  });

  it('parses the 80 COCO-style entries Ultralytics writes', () => {
    const names = Array.from({ length: 80 }, (_, i) => `class ${i}`);
    const value = `{${names.map((n, i) => `${i}: '${n}'`).join(', ')}}`;
    expect(parseUltralyticsNames(value)).toEqual(names);
  });

  it.each([
    ['', 'expected "{" or "["'],
    ['scratch, dent', 'expected "{" or "["'],
    ["{0: 'a', 2: 'b'}", 'indices 0..1 once each, found index 2'],
    ["{0: 'a', 0: 'b'}", 'index 0 appears twice'],
    ["{-1: 'a'}", 'expected a class index'],
    ["{0: 'a'", 'expected "," or "}"'],
    ["{0: 'a", 'unterminated string'],
    ['{0: None}', 'expected a quoted class name'],
    ["{0: 'a'} extra", 'expected the end of the value'],
    ["{0 'a'}", 'expected ":"'],
    ["{0: 'a\\qb'}", 'unsupported escape'],
    ['{}', 'to name at least one class'],
    ['[]', 'to name at least one class'],
  ])('rejects %j with E_MODEL_LOAD naming the value', (value, reason) => {
    const err = thrown(() => parseUltralyticsNames(value));
    expect(err.code).toBe('E_MODEL_LOAD');
    expect(err.message).toContain(JSON.stringify(value));
    expect(err.message).toContain(reason);
  });
});

describe('parseImgsz', () => {
  it.each([
    ['[640, 640]', { width: 640, height: 640 }],
    ['[480, 640]', { width: 640, height: 480 }],
    ['640', { width: 640, height: 640 }],
    [' [320] ', { width: 320, height: 320 }],
    ['(384, 640)', { width: 640, height: 384 }],
    ['(640,)', { width: 640, height: 640 }],
  ])('parses %j', (value, expected) => {
    expect(parseImgsz(value)).toEqual(expected);
  });

  it.each(['', 'abc', '[0, 640]', '[640, 480, 3]', '[640', '640]', '-640', '640.5', '[640, 640', '[,]', '640,'])(
    'returns undefined for %j',
    (value) => {
      expect(parseImgsz(value)).toBeUndefined();
    },
  );
});
