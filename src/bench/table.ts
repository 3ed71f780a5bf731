/** The human-readable side of a bench report: aligned plain-text tables. */
import type { BenchReport, Percentiles, PipelineResult } from './report.js';

function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  // Figures ("12.3", "109/133/143", "92.6 / 2", "12 (cpu)", "-") right-aligned; text, even text that starts with a figure, left-aligned.
  const numeric = header.map((_, i) => cells.slice(1).every((r) => /^(-|[-\d./ ]*[\d.]( \(.*\))?)$/.test(r[i] ?? '')));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

const ms = (p: Percentiles) => (p.n === 0 ? '-' : `${p.p50}/${p.p95}/${p.p99}`);

function pipelineRow(p: PipelineResult): Array<string | number> {
  const drops = `${p.dropped.superseded}/${p.dropped.bad_frame}/${p.dropped.inference_error}/${p.dropped.shutdown}`;
  return [p.label, p.cameras, p.cameraFps, p.fps, `${p.bound.fps} (${p.bound.limitedBy})`, p.ratio, `${p.bound.availableFps} / ${p.bound.availableCores}`, p.ratioAvailable, p.meanBatch,
    ms(p.arrivalDelayMs), ms(p.inferLatencyMs), ms(p.waitMs), ms(p.callMs), `${ms(p.pubackLatencyMs)} (${p.alerts})`, drops, p.cpuPct, p.otherBusyPct, p.peakRss.totalMb];
}

/** Formats a report as the table `linesight bench` prints. */
export function formatBenchTable(r: BenchReport): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`linesight bench — ${m.cores} cores (${m.cpuModel}), ${m.memTotalMb} MiB, load ${m.loadAverageAtStart} at start; node ${m.node}, ffmpeg ${m.ffmpeg}, onnxruntime ${m.onnxruntime}`);
  out.push(`clip ${r.clip.path} (${r.clip.codec} ${r.clip.width}×${r.clip.height} @ ${r.clip.fps} fps); model ${r.model.name} ${r.model.inputWidth}×${r.model.inputHeight} ${r.model.inputType} on ${r.model.provider}, pipeline batch ${r.model.pipelineBatch}, threads ${r.model.threads || 'default'}, ${r.model.sessions} session(s) on worker threads; broker ${r.broker.kind}`);
  out.push('');
  out.push(`(1) decode only, letterboxed by ffmpeg: ${r.decode.fps} fps, ${r.decode.cpuMsPerFrame} core-ms/frame, ${r.decode.cpuPct} % CPU; decoders ${r.decode.threads || 'ffmpeg\'s choice of'} thread(s), scheduling ${r.decode.scheduling}`);
  if (r.health) {
    const h = r.health;
    out.push(`(1b) health checks: ${h.msPerSample} ms per sample of a ${h.inputWidth}×${h.inputHeight} model input, ${h.corePctPerCamera} % of one core per camera at ${h.sampleFps} samples/s${h.judged ? '' : ' (the clip taught no baseline: blurred and moved not judged)'}`);
  }
  if (r.shadow) {
    const s = r.shadow;
    out.push(`(1c) shadow run of a candidate model (this one): ${s.cpuMsPerFrame} core-ms per frame on ${s.provider} (${s.threads} thread, ${s.msPerFrame} ms wall), ${s.corePctPerCamera} % of one core per camera at share ${s.share} of ${s.cameraFps} fps`);
  }
  out.push('(2) session (tensor fill included):');
  out.push(table(['batch', 'sessions', 'threads', 'frames/s', 'call ms p50/p95/p99', 'core-ms/frame', 'CPU %'],
    r.session.map((s) => [s.batch, s.sessions, s.threads || 'default', s.fps, ms(s.callMs), s.cpuMsPerFrame, s.cpuPct])));
  out.push('');
  out.push('(3) pipeline (latency ms p50/p95/p99, arrival delay: how much later than the quickest of its camera an RTSP frame came; capture→inferred = waited for a session + the call of its batch; drops superseded/bad/inference error/shutdown; CPU % of one core):');
  const runs = [...r.pipeline, ...(r.overload ? [r.overload] : [])];
  out.push(table(['run', 'cams', 'cam fps', 'frames/s', 'bound', 'ratio', 'bound on free cores', 'ratio', 'batch', 'arrival delay', 'capture→inferred', '= waited', '+ call', 'capture→PUBACK (n)', 'drops', 'CPU %', 'other %', 'peak RSS MiB'],
    runs.map(pipelineRow)));
  if (r.soak) {
    const s = r.soak;
    out.push('');
    out.push(`soak ${Math.round(s.durationS)} s, ${s.cameras} ${s.source} cameras at ${s.cameraFps} fps: RSS growth ${s.rssGrowthPct} % (with ffmpeg ${s.totalRssGrowthPct} %), heap ${s.heapGrowthPct} %, capture→inferred p99 ${s.inferLatencyP99First} → ${s.inferLatencyP99Last} ms`);
  }
  if (r.peer) {
    out.push('');
    out.push(r.peer.ok
      ? `peer (OpenCV ${r.peer.opencv} DNN, one frame at a time): ${r.peer.fps} fps, ${r.peer.cpuPct} % CPU; linesight 1 camera = ${r.peer.ratio} ×, best N = ${r.peer.ratioBest} ×`
      : `peer failed: ${r.peer.error}`);
  }
  out.push('');
  out.push(`targets (latency budget = decode core-ms/frame + one session call = ${r.latencyBudgetMs} ms):`);
  out.push(table(['target', 'goal', 'measured', 'met'], r.targets.map((t) => [t.name, t.target, t.measured, t.met === null ? '-' : t.met ? 'yes' : 'NO'])));
  for (const n of r.notes) out.push(`note: ${n}`);
  return out.join('\n');
}
