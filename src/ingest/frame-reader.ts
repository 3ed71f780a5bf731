import { performance } from 'node:perf_hooks';
import type { ModelInput } from '../types.js';
import { FrameAssembler } from './frame-assembler.js';
import type { ReadSink } from './frame-channel.js';

/** What the reader hands on: whole model inputs (with the arrival of their first byte) and whole full-size pictures. */
export interface ReaderHandlers {
  input(input: ModelInput, firstByteAt: number): void;
  picture(rgb: Buffer): void;
}

/** Where the frames' buffers come from, once their size is known: a model input is filled in a lease's buffer. */
export interface FrameBuffers {
  input(): ModelInput;
  picture(): Buffer;
}

/**
 * The bytes of one ffmpeg run's two channels cut into frames: the model
 * inputs on fd 1 (`out`), the full-size pictures on fd 3 (`pictures`). The
 * input size is the model's, known from the start; the pictures' size only
 * once ffmpeg says the decoded size on stderr, which may come after its first
 * bytes. Until then (`sized`) the bytes of both channels are copied aside,
 * then cut; from then on each read lands in the frame it belongs to.
 */
export class FrameReader {
  readonly out: ReadSink;
  readonly pictures: ReadSink;
  private inputs: FrameAssembler | null = null;
  private fullSize: FrameAssembler | null = null;
  /** The lease whose buffer the input being assembled fills. */
  private filling: ModelInput | null = null;
  private closed = false;
  /** Bytes that came before `sized`, per channel. */
  private early: { out: Buffer[]; pictures: Buffer[] } = { out: [], pictures: [] };

  /** `now` reads the monotonic clock: when each input's first byte came. */
  constructor(private readonly inputBytes: number, private readonly handlers: ReaderHandlers, private readonly now: () => number = () => performance.now()) {
    this.out = this.sink('out');
    this.pictures = this.sink('pictures');
  }

  /** The decoded size is known: pictures are `pictureBytes` long. Frames are cut from the bytes read so far, then as they come. */
  sized(pictureBytes: number, buffers: FrameBuffers): void {
    this.inputs = new FrameAssembler(this.inputBytes, (rgb, at) => this.inputDone(rgb, at), this.now, () => this.nextInput(buffers));
    this.fullSize = new FrameAssembler(pictureBytes, (rgb) => this.handlers.picture(rgb), this.now, () => buffers.picture());
    const { out, pictures } = this.early;
    this.early = { out: [], pictures: [] };
    for (const chunk of out) this.inputs.push(chunk);
    for (const chunk of pictures) this.fullSize.push(chunk);
  }

  /** Bytes of a model input cut short (a run that ends mid-frame lost it). */
  get pendingBytes(): number {
    return this.inputs?.pendingBytes ?? 0;
  }

  /** The run is over: bytes that still come are dropped, and the input being filled, if any, goes back unfinished. */
  close(): void {
    this.closed = true;
    this.filling?.release();
    this.filling = null;
    this.inputs?.reset();
  }

  private nextInput(buffers: FrameBuffers): Buffer {
    this.filling = buffers.input();
    return this.filling.rgb;
  }

  private inputDone(_rgb: Buffer, firstByteAt: number): void {
    // The assembler fills one buffer at a time, the one `nextInput` lent.
    const input = this.filling as ModelInput;
    this.filling = null;
    this.handlers.input(input, firstByteAt);
  }

  private sink(channel: 'out' | 'pictures'): ReadSink {
    const assembler = () => (channel === 'out' ? this.inputs : this.fullSize);
    return {
      target: () => (this.closed ? null : assembler()?.readTarget() ?? null),
      received: (n, buf) => {
        if (this.closed) return;
        const a = assembler();
        if (a) a.received(n, buf);
        else this.early[channel].push(Buffer.from(buf.subarray(0, n))); // a copy: the channel's scratch buffer is reused
      },
    };
  }
}
