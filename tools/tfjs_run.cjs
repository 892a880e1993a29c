// Runs a TF.js graph model with TF.js itself (pure-JS CPU backend, no native binaries) on one
// float32 input and writes one named output: the source graph's own numbers, against which
// tools/convert_detector.py checks the converted ONNX model.
//
//   node tools/tfjs_run.cjs MODEL.json INPUT.f32 SHAPE(1,512,512,3) OUTPUT_NAME OUTPUT.f32
//
// Needs `npm install @tensorflow/tfjs@4` in a folder on NODE_PATH (CommonJS, so NODE_PATH is honoured).
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const path = require('path');

async function main() {
  const [modelJson, inputFile, shapeText, outputName, outputFile] = process.argv.slice(2);
  const model = JSON.parse(fs.readFileSync(modelJson));
  const folder = path.dirname(modelJson);
  const weightSpecs = model.weightsManifest.flatMap((group) => group.weights);
  const weightBytes = Buffer.concat(model.weightsManifest.flatMap(
    (group) => group.paths.map((file) => fs.readFileSync(path.join(folder, file)))));
  const handler = tf.io.fromMemory({
    modelTopology: model.modelTopology,
    weightSpecs,
    weightData: weightBytes.buffer.slice(weightBytes.byteOffset, weightBytes.byteOffset + weightBytes.byteLength),
  });
  await tf.setBackend('cpu');
  const graph = await tf.loadGraphModel(handler);
  const raw = fs.readFileSync(inputFile);
  const input = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4),
    shapeText.split(',').map(Number));
  const output = await graph.executeAsync(input, outputName);
  fs.writeFileSync(outputFile, Buffer.from((await output.data()).buffer));
}

main();
