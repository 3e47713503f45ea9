/**
 * The program the inference child process runs (`node -e`), kept as source text so that it runs
 * the same from `src/` under vitest and from `dist/` after `tsc`, with no file to copy or loader
 * to register. It receives one request over IPC, loads the native package named by absolute path,
 * runs, sends `{type:'result'}` (or `{type:'error'}`) and exits. Native code that calls `exit()`
 * or crashes takes only this process down, never the worker.
 *
 * Requests:
 * - `whisper-cpp`: `{modulePath, model, audio, useGpu, variant, options}` → `{language, segments:[{text,t0,t1}]}` (ms)
 * - `sherpa-stt`: `{modulePath, config, audio, chunkSeconds}` → `{language, chunks:[{start,end,text,logProbs}]}`
 * - `sherpa-tts`: `{modulePath, modelPath, config, text, sid, speed, out}` → `{sampleRate, samples, numSpeakers}`
 */
export const CHILD_SOURCE = String.raw`
'use strict';
const send = (msg) => new Promise((resolve) => process.send(msg, () => resolve()));
const fail = async (message) => { await send({ type: 'error', message }); process.exit(1); };

async function whisperCpp(req) {
  const whisper = require(req.modulePath);
  let context;
  try {
    context = await whisper.initWhisper({ filePath: req.model, useGpu: req.useGpu }, req.variant);
  } catch (e) {
    return fail('whisper.cpp could not load the model ' + req.model + ' (' + e.message + ')');
  }
  const { promise } = context.transcribeFile(req.audio, {
    ...req.options,
    onProgress: (p) => { process.send({ type: 'progress', fraction: p / 100 }); },
  });
  // No release(): the process exits right after, and release() can hang in this binding.
  const out = await promise;
  return { language: out.language || undefined, segments: out.segments };
}

async function sherpaStt(req) {
  const sherpa = require(req.modulePath);
  let recognizer;
  try {
    recognizer = await sherpa.OfflineRecognizer.createAsync(req.config);
  } catch (e) {
    return fail('sherpa-onnx could not load the whisper model ' + req.config.modelConfig.whisper.encoder + ' (' + e.message + ')');
  }
  const wave = sherpa.readWave(req.audio);
  const step = Math.round(req.chunkSeconds * wave.sampleRate);
  const chunks = [];
  for (let from = 0; from < wave.samples.length; from += step) {
    const samples = wave.samples.subarray(from, Math.min(from + step, wave.samples.length));
    const stream = recognizer.createStream();
    stream.acceptWaveform({ samples, sampleRate: wave.sampleRate });
    const r = await recognizer.decodeAsync(stream);
    chunks.push({
      start: from / wave.sampleRate,
      end: (from + samples.length) / wave.sampleRate,
      text: r.text || '',
      language: r.lang || undefined,
      logProbs: Array.isArray(r.ys_log_probs) ? r.ys_log_probs : [],
    });
    process.send({ type: 'progress', fraction: Math.min(1, (from + step) / wave.samples.length) });
  }
  return { language: chunks.find((c) => c.language)?.language, chunks };
}

async function sherpaTts(req) {
  const sherpa = require(req.modulePath);
  let tts;
  try {
    tts = await sherpa.OfflineTts.createAsync(req.config);
  } catch (e) {
    return fail('sherpa-onnx could not load the voice model ' + req.modelPath + ' (' + e.message + ')');
  }
  if (req.sid >= tts.numSpeakers) {
    return fail('voice ' + req.sid + ' does not exist: this model has ' + tts.numSpeakers + ' speaker(s), 0..' + (tts.numSpeakers - 1));
  }
  const audio = await tts.generateAsync({
    text: req.text,
    sid: req.sid,
    speed: req.speed,
    onProgress: (info) => { process.send({ type: 'progress', fraction: info.progress }); return 1; },
  });
  if (!sherpa.writeWave(req.out, { samples: audio.samples, sampleRate: audio.sampleRate })) {
    return fail('could not write ' + req.out);
  }
  return { sampleRate: audio.sampleRate, samples: audio.samples.length, numSpeakers: tts.numSpeakers };
}

const ops = { 'whisper-cpp': whisperCpp, 'sherpa-stt': sherpaStt, 'sherpa-tts': sherpaTts };
process.once('message', (req) => {
  // whisper.node never settles its promise when a transcription fails inside whisper.cpp; with the
  // channel unreferenced the process then exits (code 0, no result) instead of hanging forever.
  process.channel.unref();
  const op = ops[req.op];
  if (!op) return void fail('unknown request ' + req.op);
  op(req).then(
    async (value) => { await send({ type: 'result', value }); process.exit(0); },
    (e) => fail(e && e.message ? e.message : String(e)),
  );
});
`;
