import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
const MODEL = 'models/linesight-defects-v1.onnx';
if (!isMainThread) {
  const { threads, batch, seconds, spin } = workerData;
  const s = await ort.InferenceSession.create(MODEL, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads,
    ...(spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }) });
  const data = new Float32Array(batch * 3 * 320 * 320).fill(0.45);
  const t = new ort.Tensor('float32', data, [batch, 3, 320, 320]);
  for (let i = 0; i < 3; i++) await s.run({ [s.inputNames[0]]: t });
  parentPort.postMessage('ready');
  await new Promise((r) => parentPort.once('message', r));
  const end = performance.now() + seconds * 1000; let n = 0; const ms = [];
  while (performance.now() < end) { const a = performance.now(); await s.run({ [s.inputNames[0]]: t }); ms.push(performance.now() - a); n += batch; }
  ms.sort((a, b) => a - b);
  parentPort.postMessage({ n, p50: ms[Math.floor(ms.length / 2)] });
} else {
  for (const [k, threads, batch, spin] of [[1, 2, 1, 1], [1, 2, 4, 1], [2, 1, 1, 1], [2, 1, 2, 1], [2, 1, 4, 1], [2, 1, 1, 0], [2,1,2,0]]) {
    const ws = Array.from({ length: k }, () => new Worker(new URL(import.meta.url), { workerData: { threads, batch, seconds: 5, spin } }));
    await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
    const cpu0 = process.cpuUsage(); const t0 = performance.now();
    ws.forEach((w) => w.postMessage('go'));
    const res = await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
    const wall = (performance.now() - t0) / 1000; const cpu = process.cpuUsage(cpu0);
    const n = res.reduce((a, r) => a + r.n, 0);
    console.log(`${k} session(s) x ${threads} thread(s), batch ${batch}, spin ${spin}: ${(n / wall).toFixed(1)} frames/s, call p50 ${res[0].p50.toFixed(1)} ms, ${((cpu.user + cpu.system) / 1000 / n).toFixed(1)} core-ms/frame`);
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
