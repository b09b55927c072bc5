// tflite_check.js: runs an exported .tflite in TensorFlow Lite's own interpreter (the
// emscripten build inside @tensorflow/tfjs-tflite, one thread, no browser) on the images
// edgefed_reference wrote, and writes its outputs for compare.py.
//
//   node tflite_check.js MODEL.tflite REFERENCE_DIR N OUT
//
// As armnn_check: the model's input type picks images.f32 or images.i8, OUT receives N
// outputs of the model's output type back to back, stdout gets one JSON line. Exit codes:
// 0 done, 1 the interpreter refused the model (its message on stderr), 2 bad usage or files.
'use strict';
const fs = require('fs');
const path = require('path');

const WASM_DIR = path.join(__dirname, 'node_modules', '@tensorflow', 'tfjs-tflite', 'wasm');
const TYPES = { float32: { bytes: 4, file: 'images.f32' }, int8: { bytes: 1, file: 'images.i8' } };

function usage(message) {
  process.stderr.write(`tflite_check: ${message}\n`);
  process.exit(2);
}

function readOrUsage(file) {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    return usage(`cannot read ${file}: ${e.message}`);
  }
}

async function main() {
  const [model, refDir, nArg, out] = process.argv.slice(2);
  if (!out) usage('usage: node tflite_check.js MODEL.tflite REFERENCE_DIR N OUT');
  const n = Number(nArg);
  if (!Number.isInteger(n) || n <= 0) usage(`N must be a positive integer, got '${nArg}'`);
  if (!fs.existsSync(WASM_DIR)) usage(`${WASM_DIR} missing: run npm ci --ignore-scripts in ${__dirname}`);

  const t0 = process.hrtime.bigint();
  // The SIMD build (Node 20 has wasm SIMD): ~8× faster than the plain one here, same outputs.
  const factory = require(path.join(WASM_DIR, 'tflite_web_api_cc_simd.js'));
  // wasmBinary given directly: the loader would otherwise try to fetch() a URL.
  const M = await factory({ wasmBinary: fs.readFileSync(path.join(WASM_DIR, 'tflite_web_api_cc_simd.wasm')) });
  const bytes = readOrUsage(model);
  const ptr = M._malloc(bytes.length);
  M.HEAPU8.set(bytes, ptr);
  const created = M.TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, bytes.length, {
    numThreads: 1, enableProfiling: false, maxProfilingBufferEntries: 1024,
  });
  if (!created.ok()) {
    process.stderr.write(`tflite_check: TFLite refused ${model}: ${created.errorMessage()}\n`);
    process.exit(1);
  }
  const runner = created.value();
  const inputs = runner.GetInputs(), outputs = runner.GetOutputs();
  if (inputs.size() !== 1 || outputs.size() !== 1) usage('expected one input and one output');
  const input = inputs.get(0), output = outputs.get(0);
  const inType = TYPES[input.dataType], outType = TYPES[output.dataType];
  if (!inType || !outType) usage(`types ${input.dataType} -> ${output.dataType} (only float32 and int8 are checked)`);
  const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const inCount = input.data().length, outCount = output.data().length;
  const images = readOrUsage(path.join(refDir, inType.file));
  if (images.length < n * inCount * inType.bytes) usage(`fewer than N images in ${refDir}`);
  const Typed = (t) => (t === TYPES.int8 ? Int8Array : Float32Array);
  const all = new (Typed(inType))(images.buffer, images.byteOffset, n * inCount);
  const result = new (Typed(outType))(n * outCount);

  const t1 = process.hrtime.bigint();
  for (let i = 0; i < n; ++i) {
    input.data().set(all.subarray(i * inCount, (i + 1) * inCount));  // data() views the wasm heap
    if (!runner.Infer()) {
      process.stderr.write(`tflite_check: Infer failed on image ${i}\n`);
      process.exit(1);
    }
    result.set(output.data(), i * outCount);
  }
  const runSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
  fs.writeFileSync(out, Buffer.from(result.buffer));
  console.log(JSON.stringify({
    runtime: 'tflite-wasm', n, input_type: input.dataType, output_type: output.dataType,
    load_seconds: loadSeconds, seconds_per_inference: runSeconds / n,
  }));
}

main().catch((e) => {
  process.stderr.write(`tflite_check: ${e.stack || e}\n`);
  process.exit(1);
});
