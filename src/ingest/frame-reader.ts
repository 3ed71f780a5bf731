import { FrameAssembler } from './frame-assembler.js';
import type { ReadSink } from './frame-channel.js';

/** What the reader hands on: whole model inputs (with the arrival of their first byte) and whole full-size views. */
export interface ReaderHandlers {
  input(rgb: Buffer, firstByteAt: number): void;
  view(rgb: Buffer): void;
}

/** Where the frames' buffers come from, once their size is known. */
export interface FrameBuffers {
  input(): Buffer;
  view(): Buffer;
}

/**
 * The bytes of one ffmpeg run's two channels cut into frames: the model
 * inputs on fd 1 (`out`), the full-size views on fd 3 (`view`). The input
 * size is the model's, known from the start; the views' size only once
 * ffmpeg says the decoded size on stderr, which may come after its first
 * bytes. Until then (`sized`) the bytes of both channels are copied aside,
 * then cut; from then on each read lands in the frame it belongs to.
 */
export class FrameReader {
  readonly out: ReadSink;
  readonly view: ReadSink;
  private inputs: FrameAssembler | null = null;
  private views: FrameAssembler | null = null;
  /** Bytes that came before `sized`, per channel. */
  private early: { out: Buffer[]; view: Buffer[] } = { out: [], view: [] };

  constructor(private readonly inputBytes: number, private readonly handlers: ReaderHandlers) {
    this.out = this.sink('out');
    this.view = this.sink('view');
  }

  /** The decoded size is known: views are `viewBytes` long. Frames are cut from the bytes read so far, then as they come. */
  sized(viewBytes: number, buffers: FrameBuffers): void {
    this.inputs = new FrameAssembler(this.inputBytes, (rgb, at) => this.handlers.input(rgb, at), Date.now, () => buffers.input());
    this.views = new FrameAssembler(viewBytes, (rgb) => this.handlers.view(rgb), Date.now, () => buffers.view());
    const { out, view } = this.early;
    this.early = { out: [], view: [] };
    for (const chunk of out) this.inputs.push(chunk);
    for (const chunk of view) this.views.push(chunk);
  }

  /** Bytes of a model input cut short (a run that ends mid-frame lost it). */
  get pendingBytes(): number {
    return this.inputs?.pendingBytes ?? 0;
  }

  private sink(channel: 'out' | 'view'): ReadSink {
    const assembler = () => (channel === 'out' ? this.inputs : this.views);
    return {
      target: () => assembler()?.readTarget() ?? null,
      received: (n, buf) => {
        const a = assembler();
        if (a) a.received(n, buf);
        else this.early[channel].push(Buffer.from(buf.subarray(0, n))); // a copy: the channel's scratch buffer is reused
      },
    };
  }
}
