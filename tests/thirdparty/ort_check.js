// ort_check.js: runs an exported .onnx in ONNX Runtime (onnxruntime-node, CPU execution
// provider, one thread) on the images edgefed_reference wrote, and writes its outputs for
// compare.py.
//
//   node ort_check.js [--level disabled|all] MODEL.onnx REFERENCE_DIR N OUT
//
// --level is ORT's graphOptimizationLevel (default all). 'disabled' runs the QDQ
// graph as written: every DequantizeLinear / QuantizeLinear in float, i.e. a float simulation
// of the int8 arithmetic. 'all' lets ORT fuse QDQ groups into its int8 kernels (QLinearConv,
// QLinearMatMul...), which is how it would be deployed. As armnn_check: the model's input
// type picks images.f32 or images.i8, OUT receives N outputs of the model's output type back
// to back, stdout gets one JSON line. Exit codes: 0 done, 1 ORT refused the model or a run
// failed (its message on stderr), 2 bad usage or files.
'use strict';
const fs = require('fs');
const path = require('path');

const TYPES = { float32: { bytes: 4, file: 'images.f32', Array: Float32Array },
                int8: { bytes: 1, file: 'images.i8', Array: Int8Array } };

function usage(message) {
  process.stderr.write(`ort_check: ${message}\n`);
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
  const args = process.argv.slice(2);
  const level = args[0] === '--level' ? args.splice(0, 2)[1] : 'all';
  const [model, refDir, nArg, out] = args;
  if (!out || args.length !== 4) usage('usage: node ort_check.js [--level disabled|all] MODEL.onnx REFERENCE_DIR N OUT');
  const n = Number(nArg);
  if (!Number.isInteger(n) || n <= 0) usage(`N must be a positive integer, got '${nArg}'`);
  if (level !== 'disabled' && level !== 'all') usage(`optimization level must be disabled or all, got '${level}'`);
  let ort;
  try {
    ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    usage(`onnxruntime-node missing: run npm ci --ignore-scripts in ${__dirname} (${e.message})`);
  }
  const meta = JSON.parse(readOrUsage(path.join(refDir, 'meta.json')));
  const bytes = readOrUsage(model);

  const t0 = process.hrtime.bigint();
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, {
      graphOptimizationLevel: level, intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
    });
  } catch (e) {
    process.stderr.write(`ort_check: ONNX Runtime refused ${model}: ${e.message}\n`);
    process.exit(1);
  }
  const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (session.inputNames.length !== 1 || session.outputNames.length !== 1) usage('expected one input and one output');
  const inName = session.inputNames[0], outName = session.outputNames[0];
  const inMeta = session.inputMetadata[0];
  const inType = TYPES[inMeta.type];
  if (!inType) usage(`input type ${inMeta.type} (only float32 and int8 are checked)`);
  // The exported input keeps the graph's [1, H, W, C]; use the model's own dims when they are fixed.
  const dims = inMeta.shape.every(Number.isInteger) ? inMeta.shape : meta.input_shape;
  const inCount = dims.reduce((a, b) => a * b, 1);
  const images = readOrUsage(path.join(refDir, inType.file));
  if (images.length < n * inCount * inType.bytes) usage(`fewer than N images in ${refDir}`);
  const all = new inType.Array(images.buffer, images.byteOffset, n * inCount);

  let result = null, outType = null;
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < n; ++i) {
    const x = new ort.Tensor(inMeta.type, all.subarray(i * inCount, (i + 1) * inCount), dims);
    let y;
    try {
      y = (await session.run({ [inName]: x }))[outName];
    } catch (e) {
      process.stderr.write(`ort_check: run failed on image ${i}: ${e.message}\n`);
      process.exit(1);
    }
    if (!result) {
      outType = TYPES[y.type];
      if (!outType) usage(`output type ${y.type} (only float32 and int8 are checked)`);
      result = new outType.Array(n * y.size);
    }
    result.set(y.data, i * y.size);
  }
  const runSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
  fs.writeFileSync(out, Buffer.from(result.buffer));
  console.log(JSON.stringify({
    runtime: `onnxruntime-${level}`, n, input_type: inMeta.type, output_type: outType === TYPES.int8 ? 'int8' : 'float32',
    load_seconds: loadSeconds, seconds_per_inference: runSeconds / n,
  }));
}

main().catch((e) => {
  process.stderr.write(`ort_check: ${e.stack || e}\n`);
  process.exit(1);
});
