/**
 * The protobuf wire format, just enough for the CRI client (tests/helpers/cri.ts):
 * varints, length-delimited strings, bytes, nested messages and maps. No
 * schema: the caller names each field by its number, as api.proto does.
 *
 * Proto3 leaves a field at its default value (0, false, "", empty) off the
 * wire, so the writer skips them and the reader answers the default for a
 * missing field.
 */

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Builds one message; nested messages are built by a callback on a writer of their own. */
export class ProtoWriter {
  private readonly parts: Buffer[] = [];

  private tag(field: number, wire: number) {
    this.varint(BigInt((field << 3) | wire));
  }

  private varint(v: bigint) {
    const out: number[] = [];
    // negative int32/int64 values go as their 64-bit two's complement (10 bytes)
    let u = BigInt.asUintN(64, v);
    do {
      let b = Number(u & 0x7fn);
      u >>= 7n;
      if (u) b |= 0x80;
      out.push(b);
    } while (u);
    this.parts.push(Buffer.from(out));
  }

  private len(field: number, b: Buffer) {
    this.tag(field, WIRE_LEN);
    this.varint(BigInt(b.length));
    this.parts.push(b);
  }

  /** int32, int64, uint32, uint64 and enum fields. */
  int(field: number, v: number | bigint | undefined): this {
    if (v === undefined || BigInt(v) === 0n) return this;
    this.tag(field, WIRE_VARINT);
    this.varint(BigInt(v));
    return this;
  }

  bool(field: number, v: boolean | undefined): this {
    return this.int(field, v ? 1 : 0);
  }

  string(field: number, v: string | undefined): this {
    if (v) this.len(field, Buffer.from(v, 'utf8'));
    return this;
  }

  bytes(field: number, v: Buffer | undefined): this {
    if (v?.length) this.len(field, v);
    return this;
  }

  /** A repeated string field: one entry per element. */
  strings(field: number, vs: readonly string[] | undefined): this {
    // an empty string element is still an element, so it goes on the wire
    for (const v of vs ?? []) this.len(field, Buffer.from(v, 'utf8'));
    return this;
  }

  /** A message field; written even when empty, since presence can matter (an empty config is not no config). */
  message(field: number, build: ((w: ProtoWriter) => void) | undefined): this {
    if (!build) return this;
    const w = new ProtoWriter();
    build(w);
    this.len(field, w.finish());
    return this;
  }

  /** map<string, string>: on the wire, a repeated message of key = 1, value = 2. */
  map(field: number, m: Readonly<Record<string, string>> | undefined): this {
    for (const [k, v] of Object.entries(m ?? {})) this.message(field, (e) => e.string(1, k).string(2, v));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

type Raw = bigint | Buffer;

/** Reads one message: every field's values by number, read out with the accessor of its type. */
export class ProtoReader {
  private readonly fields = new Map<number, Raw[]>();

  constructor(buf: Buffer) {
    let pos = 0;
    const varint = (): bigint => {
      let v = 0n;
      for (let shift = 0n; ; shift += 7n) {
        if (pos >= buf.length) throw new Error('protobuf: truncated varint');
        const b = buf[pos++]!;
        v |= BigInt(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
        if (shift > 63n) throw new Error('protobuf: varint longer than 64 bits');
      }
    };
    const take = (n: number): Buffer => {
      if (pos + n > buf.length) throw new Error(`protobuf: field of ${n} bytes overruns the message`);
      const b = buf.subarray(pos, pos + n);
      pos += n;
      return b;
    };
    while (pos < buf.length) {
      const key = varint();
      const field = Number(key >> 3n);
      const wire = Number(key & 7n);
      let value: Raw;
      if (wire === WIRE_VARINT) value = varint();
      else if (wire === WIRE_LEN) value = take(Number(varint()));
      else if (wire === WIRE_I64) value = take(8);
      else if (wire === WIRE_I32) value = take(4);
      else throw new Error(`protobuf: wire type ${wire} (field ${field}) is not supported`);
      const list = this.fields.get(field);
      if (list) list.push(value);
      else this.fields.set(field, [value]);
    }
  }

  private last(field: number): Raw | undefined {
    const l = this.fields.get(field);
    return l?.[l.length - 1];
  }

  private lenValues(field: number): Buffer[] {
    return (this.fields.get(field) ?? []).map((v) => {
      if (typeof v === 'bigint') throw new Error(`protobuf: field ${field} is a varint, expected length-delimited`);
      return v;
    });
  }

  /** An int32 or enum field (sign restored from the 64-bit varint). */
  int32(field: number): number {
    const v = this.last(field);
    if (v === undefined) return 0;
    if (typeof v !== 'bigint') throw new Error(`protobuf: field ${field} is length-delimited, expected a varint`);
    return Number(BigInt.asIntN(32, v));
  }

  /** An int64 field, as a bigint: CRI's nanosecond timestamps do not fit a double exactly. */
  int64(field: number): bigint {
    const v = this.last(field);
    if (v === undefined) return 0n;
    if (typeof v !== 'bigint') throw new Error(`protobuf: field ${field} is length-delimited, expected a varint`);
    return BigInt.asIntN(64, v);
  }

  bool(field: number): boolean {
    return this.int64(field) !== 0n;
  }

  bytes(field: number): Buffer {
    return this.lenValues(field).at(-1) ?? Buffer.alloc(0);
  }

  string(field: number): string {
    return this.bytes(field).toString('utf8');
  }

  strings(field: number): string[] {
    return this.lenValues(field).map((b) => b.toString('utf8'));
  }

  /** A message field, or undefined when absent. */
  message(field: number): ProtoReader | undefined {
    const b = this.lenValues(field).at(-1);
    return b && new ProtoReader(b);
  }

  messages(field: number): ProtoReader[] {
    return this.lenValues(field).map((b) => new ProtoReader(b));
  }

  map(field: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.messages(field)) out[e.string(1)] = e.string(2);
    return out;
  }
}
