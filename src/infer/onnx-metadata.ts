import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { LinesightError, errorMessage } from '../errors.js';

/*
 * onnxruntime-node does not expose a model's `metadata_props` (where Ultralytics
 * stores class names and image size), so we decode the ONNX protobuf ourselves.
 * The schema below is the subset of ModelProto we read; field numbers follow
 * onnx/onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto).
 * Everything else — nodes, weights, attributes — is skipped by the decoder
 * without being turned into objects: an unknown length-delimited field is a jump.
 */
const ONNX_SUBSET = `
syntax = "proto2";
package linesight.onnx;

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}
message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}
message GraphProto {
  optional string name = 2;
  repeated TensorName initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}
// TensorProto, only its name (field 8); raw_data and the typed data fields are skipped.
message TensorName {
  optional string name = 8;
}
message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}
message TypeProto {
  oneof value {
    TensorType tensor_type = 1;
  }
}
message TensorType {
  optional int32 elem_type = 1;
  optional TensorShapeProto shape = 2;
}
message TensorShapeProto {
  repeated Dimension dim = 1;
}
message Dimension {
  oneof value {
    int64 dim_value = 1;
    string dim_param = 2;
  }
}
`;

const modelType = protobuf.parse(ONNX_SUBSET).root.lookupType('linesight.onnx.ModelProto');

/** The decoded subset as plain objects (`toObject` with absent fields left out). */
interface RawDimension { dimValue?: number; dimParam?: string }
interface RawValueInfo { name?: string; type?: { tensorType?: { elemType?: number; shape?: { dim: RawDimension[] } } } }
interface RawModel {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  graph?: { name?: string; initializer: Array<{ name?: string }>; input: RawValueInfo[]; output: RawValueInfo[] };
  opsetImport: Array<{ domain?: string; version?: number }>;
  metadataProps: Array<{ key?: string; value?: string }>;
}

/** TensorProto.DataType values, named as onnxruntime names tensor types where it has a name. */
const ELEM_TYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128',
  16: 'bfloat16', 17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2', 20: 'float8e5m2fnuz',
  21: 'uint4', 22: 'int4', 23: 'float4e2m1',
};

export interface TensorInfo {
  name: string;
  /** `'float32'`, `'uint8'`, `'float16'`, …; `''` when the value is not a tensor or its type is unset. */
  elemType: string;
  /** `dim_value` as a number, `dim_param` as a string, `'?'` for a dimension with neither. `[]` for a scalar or an unknown rank. */
  shape: Array<number | string>;
}

export interface OnnxModelMetadata {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  /** Opset of the default (`ai.onnx`) domain; 0 when the model does not import it. */
  opset: number;
  graphName: string;
  /** Graph inputs that are fed at run time: inputs that are also initializers (older exports list weights as inputs) are left out. */
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** `metadata_props`; Ultralytics exports put `names`, `imgsz`, `stride`, `task`, … here. */
  metadata: Record<string, string>;
}

/**
 * Reads the header of an ONNX model without onnxruntime: producer, opset, graph
 * inputs and outputs with their declared shapes, and `metadata_props`.
 *
 * @example
 * const meta = readOnnxMetadata('models/yolov8n.onnx');
 * meta.inputs[0];              // { name: 'images', elemType: 'float32', shape: [1, 3, 640, 640] }
 * meta.metadata.names;         // "{0: 'person', 1: 'bicycle', …}"
 * @throws LinesightError `E_MODEL_NOT_FOUND` when the file does not exist, `E_MODEL_LOAD` when it cannot be read or is not an ONNX model.
 */
export function readOnnxMetadata(path: string): OnnxModelMetadata {
  const bytes = readModelFile(path);
  const raw = decodeModel(path, bytes);
  const graph = raw.graph;
  const initializers = new Set(graph.initializer.map((t) => t.name ?? ''));
  const defaultOpset = raw.opsetImport.find((o) => o.domain === undefined || o.domain === '' || o.domain === 'ai.onnx');
  return {
    irVersion: raw.irVersion ?? 0,
    producerName: raw.producerName ?? '',
    producerVersion: raw.producerVersion ?? '',
    opset: defaultOpset?.version ?? 0,
    graphName: graph.name ?? '',
    inputs: graph.input.filter((v) => !initializers.has(v.name ?? '')).map(toTensorInfo),
    outputs: graph.output.map(toTensorInfo),
    // fromEntries defines own properties, so a key like "__proto__" stays a plain key.
    metadata: Object.fromEntries(raw.metadataProps.map((p) => [p.key ?? '', p.value ?? ''])),
  };
}

function readModelFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new LinesightError('E_MODEL_NOT_FOUND', `expected an ONNX model file at ${path}, found no such file`, { cause: err });
    }
    if (code === 'EISDIR') {
      throw new LinesightError('E_MODEL_LOAD', `expected an ONNX model file at ${path}, found a directory`, { cause: err });
    }
    throw new LinesightError('E_MODEL_LOAD', `expected a readable ONNX model file at ${path}, found: ${errorMessage(err)}`, { cause: err });
  }
}

type RawModelWithGraph = RawModel & { graph: NonNullable<RawModel['graph']> };

function decodeModel(path: string, bytes: Buffer): RawModelWithGraph {
  const notOnnx = (why: string, cause?: unknown) =>
    new LinesightError('E_MODEL_LOAD', `expected an ONNX model (protobuf ModelProto), found ${describeBytes(bytes)} in ${path} (${why})`, {
      cause,
    });
  let raw: RawModel;
  try {
    raw = modelType.toObject(modelType.decode(bytes), { longs: Number, arrays: true }) as RawModel;
  } catch (err) {
    throw notOnnx(`not protobuf: ${errorMessage(err)}`, err);
  }
  // Every ModelProto has both (onnx.proto: "ir_version ... must be set", graph is the model);
  // arbitrary bytes that happen to decode as protobuf almost never do.
  if (!raw.irVersion || raw.irVersion < 1) throw notOnnx('no ir_version');
  if (raw.graph === undefined) throw notOnnx('no graph');
  return raw as RawModelWithGraph;
}

/** `an empty file`, `120 bytes of text starting with "model: yolo"`, `4096 bytes starting with 0x89504e47…`. */
function describeBytes(bytes: Buffer): string {
  if (bytes.length === 0) return 'an empty file';
  // A cut multi-byte character at the end of the head decodes as one U+FFFD; drop it.
  const text = bytes.subarray(0, 24).toString('utf8').replace(/\ufffd$/, '');
  // eslint-disable-next-line no-control-regex -- looking for control characters is the point
  if (!/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/.test(text)) {
    return `${bytes.length} bytes of text starting with ${JSON.stringify(text)}`;
  }
  return `${bytes.length} bytes starting with 0x${bytes.subarray(0, 8).toString('hex')}`;
}

function toTensorInfo(value: RawValueInfo): TensorInfo {
  const tensor = value.type?.tensorType;
  return {
    name: value.name ?? '',
    elemType: !tensor?.elemType ? '' : (ELEM_TYPES[tensor.elemType] ?? `unknown(${tensor.elemType})`),
    shape: (tensor?.shape?.dim ?? []).map((d) => d.dimValue ?? (d.dimParam || '?')),
  };
}

/**
 * Class names from an Ultralytics `names` metadata value. Ultralytics writes
 * `str(dict)`, a Python dict literal; JSON objects and lists (Python or JSON
 * quoting) are accepted too. Keys must be the indices 0..n-1, in any order.
 *
 * @example
 * parseUltralyticsNames("{0: 'scratch', 1: 'dent'}");   // ['scratch', 'dent']
 * parseUltralyticsNames('["scratch", "dent"]');         // ['scratch', 'dent']
 * parseUltralyticsNames("{0: \"operator's mark\"}");    // ["operator's mark"]
 * @throws LinesightError `E_MODEL_LOAD` naming the value when it is not such a literal or has no names.
 */
export function parseUltralyticsNames(value: string): string[] {
  let parsed: ParsedNames;
  try {
    parsed = new NamesParser(value).parse();
  } catch (err) {
    throw new LinesightError(
      'E_MODEL_LOAD',
      `expected the model's "names" metadata to be a dict like {0: 'scratch', 1: 'dent'} or a list of strings, found ${JSON.stringify(value)}: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) throw emptyNames(value);
    return parsed;
  }
  const names: string[] = [];
  // The parser rejects repeated keys, so n distinct keys all below n are exactly 0..n-1.
  for (const [index, name] of parsed) {
    if (index >= parsed.size) {
      throw new LinesightError(
        'E_MODEL_LOAD',
        `expected the model's "names" metadata to have the class indices 0..${parsed.size - 1} once each, found index ${index} in ${JSON.stringify(value)}`,
      );
    }
    names[index] = name;
  }
  if (names.length === 0) throw emptyNames(value);
  return names;
}

function emptyNames(value: string): LinesightError {
  return new LinesightError('E_MODEL_LOAD', `expected the model's "names" metadata to name at least one class, found ${JSON.stringify(value)}`);
}

type ParsedNames = string[] | Map<number, string>;

/** A recursive-descent reader for the one-level literals `names` comes in: dict of int → str, or list of str. */
class NamesParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): ParsedNames {
    this.skipSpace();
    const open = this.text[this.pos];
    let result: ParsedNames;
    if (open === '{') result = this.dict();
    else if (open === '[') result = this.list();
    else throw this.fail('"{" or "["');
    this.skipSpace();
    if (this.pos < this.text.length) throw this.fail('the end of the value');
    return result;
  }

  private dict(): Map<number, string> {
    const entries = new Map<number, string>();
    this.pos++; // '{'
    for (;;) {
      this.skipSpace();
      if (this.eat('}')) return entries;
      const key = this.index();
      this.skipSpace();
      if (!this.eat(':')) throw this.fail('":"');
      this.skipSpace();
      const name = this.string();
      if (entries.has(key)) throw new Error(`index ${key} appears twice`);
      entries.set(key, name);
      this.skipSpace();
      if (!this.eat(',')) {
        if (this.eat('}')) return entries;
        throw this.fail('"," or "}"');
      }
    }
  }

  private list(): string[] {
    const items: string[] = [];
    this.pos++; // '['
    for (;;) {
      this.skipSpace();
      if (this.eat(']')) return items;
      items.push(this.string());
      this.skipSpace();
      if (!this.eat(',')) {
        if (this.eat(']')) return items;
        throw this.fail('"," or "]"');
      }
    }
  }

  /** A dict key: `3` (Python) or `"3"` (JSON). */
  private index(): number {
    const quote = this.text[this.pos];
    const digits = quote === '"' || quote === "'" ? this.string() : this.matchDigits();
    if (!/^\d+$/.test(digits)) throw new Error(`expected a class index (integer ≥ 0) at offset ${this.pos}, found ${JSON.stringify(digits)}`);
    return Number(digits);
  }

  private matchDigits(): string {
    const match = /^-?\d+/.exec(this.text.slice(this.pos));
    if (match === null) throw this.fail('a class index');
    this.pos += match[0].length;
    return match[0];
  }

  /** A quoted string, Python or JSON escapes. */
  private string(): string {
    const quote = this.text[this.pos];
    if (quote !== "'" && quote !== '"') throw this.fail('a quoted class name');
    this.pos++;
    let out = '';
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos++];
      if (ch === quote) return out;
      out += ch === '\\' ? this.escape() : ch;
    }
    throw new Error(`unterminated string: expected a closing ${quote}`);
  }

  private escape(): string {
    const ch = this.text[this.pos++];
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '\\': '\\', "'": "'", '"': '"', '/': '/' };
    if (ch !== undefined && ch in simple) return simple[ch];
    const hexLength = ch === 'x' ? 2 : ch === 'u' ? 4 : ch === 'U' ? 8 : 0;
    const hex = this.text.slice(this.pos, this.pos + hexLength);
    if (hexLength === 0 || !new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) {
      throw new Error(`unsupported escape "\\${ch ?? ''}" at offset ${this.pos - 2}`);
    }
    this.pos += hexLength;
    // \uXXXX halves of a JSON surrogate pair recombine when the two code units are concatenated.
    return String.fromCodePoint(parseInt(hex, 16));
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private eat(ch: string): boolean {
    if (this.text[this.pos] !== ch) return false;
    this.pos++;
    return true;
  }

  private fail(expected: string): Error {
    const found = this.pos < this.text.length ? JSON.stringify(this.text.slice(this.pos, this.pos + 10)) : 'the end';
    return new Error(`expected ${expected} at offset ${this.pos}, found ${found}`);
  }
}

/**
 * The input size from Ultralytics `imgsz` metadata: `[h, w]` (Ultralytics order) or a single side.
 * Returns `undefined` when the value is not one or two positive integers.
 *
 * @example
 * parseImgsz('[480, 640]');   // { width: 640, height: 480 }
 * parseImgsz('640');          // { width: 640, height: 640 }
 */
export function parseImgsz(value: string): { width: number; height: number } | undefined {
  const trimmed = value.trim();
  const bracketed = /^\[(.*)\]$/s.exec(trimmed) ?? /^\((.*)\)$/s.exec(trimmed);
  const parts = (bracketed === null ? trimmed : bracketed[1]).split(',').map((part) => part.trim());
  // Python writes a one-element tuple as "(640,)".
  if (bracketed !== null && parts.length === 2 && parts[1] === '') parts.pop();
  if (parts.length > 2 || !parts.every((part) => /^\d+$/.test(part))) return undefined;
  const height = Number(parts[0]);
  const width = parts.length === 2 ? Number(parts[1]) : height;
  if (height < 1 || width < 1 || !Number.isSafeInteger(height) || !Number.isSafeInteger(width)) return undefined;
  return { width, height };
}
