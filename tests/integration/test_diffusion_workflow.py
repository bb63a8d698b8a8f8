"""diffusion_keyframes.json run end to end as shipped on a real ComfyUI (March 2024), with an SD 1.5 checkpoint.

No diffusion weights can be downloaded here: tools/random_sd15.py writes a checkpoint with every key and shape of
SD 1.5 and random weights (about 2 GB, made once in about a minute, and kept in
.cache/random-sd15/ under the file name the workflow asks for). ComfyUI's own Load Checkpoint loads it as SD 1.5;
the rest of the graph runs unedited: text encode, img2img, decode, Make Keyframes, Train, Stylize, Save. Its
pictures are noise-like (random weights): the test checks what a user would, that every output is there at its
size, and the hand-off between the diffusion model and training: before training, the pack asks ComfyUI's model
management to free the memory training needs, while the diffusion model is still loaded. Its own server (two
torch threads: nothing else runs beside it) so that its log and its peak memory are this workflow's alone.
"""
import io
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from comfy_host import THREADS_ENV, ComfyServer, output_files, setup_host, ui_to_api
from patch_training.model.checkpoint import read_metadata
from test_workflows import load, nodes_of, only, sample_frames, webp_frames

REPO = setup_host.REPO
CACHE = REPO / ".cache" / "random-sd15"
MEMORY_LIMIT_GB = 16  # of the CI machine's 24 GB, leaving room for pytest and the rest of the machine
FREE_LINE = re.compile(r"patch-toon: asked ComfyUI to free (\d+) MB on cpu before training; "
                       r"its loaded models: (\d+) before, (\d+) after")


def checkpoint_name(workflow) -> str:
    return only([node["widgets_values"][0] for node in workflow["nodes"] if node["type"] == "CheckpointLoaderSimple"])


@pytest.fixture(scope="module")
def random_sd15():
    """The random SD 1.5 checkpoint under the name the workflow names: made only if missing."""
    setup_host.ensure()  # the generator reads SD 1.5's layout from the host's ComfyUI, in the host's Python
    path = CACHE / checkpoint_name(load("diffusion_keyframes.json"))
    made_seconds = 0.0
    if not path.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "tools" / "random_sd15.py"), str(path)], check=True,
                       timeout=900, capture_output=True)
        made_seconds = time.perf_counter() - started
    return path, made_seconds


def peak_rss_gb(pid: int) -> float:
    """The process's peak resident memory (VmHWM, Linux) in GB."""
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 2 ** 20


@pytest.fixture(scope="module")
def diffusion_run(random_sd15):
    path, made_seconds = random_sd15
    with ComfyServer(threads=int(os.environ.get(THREADS_ENV, 2))) as server:
        (server.root / "models" / "checkpoints" / path.name).symlink_to(path)
        workflow = load("diffusion_keyframes.json")
        prompt = ui_to_api(workflow, server.object_info())  # as shipped: no widget changed
        started = time.perf_counter()
        entry = server.run(prompt, timeout=1800)
        run_seconds = time.perf_counter() - started
        result = {"workflow": workflow, "prompt": prompt, "entry": entry, "log": server.log_text(),
                  "peak_rss_gb": peak_rss_gb(server.process.pid), "run_seconds": run_seconds,
                  "made_seconds": made_seconds,
                  "models": [read_metadata(path) for path in
                             sorted((server.root / "models" / "patch_toon").glob("diffusion_style*.safetensors"))]}
        webps = [f for f in output_files(entry) if f["filename"].endswith(".webp")]
        result["frames"] = webp_frames(server.get_file(**only(webps)))
        preview = only(nodes_of(workflow, "PreviewImage"))
        result["previews"] = [server.get_file(**f) for f in entry["outputs"][preview]["images"]]
    print(f"\ndiffusion_keyframes as shipped: checkpoint made in {made_seconds:.0f} s, run {run_seconds:.0f} s, "
          f"server peak RSS {result['peak_rss_gb']:.2f} GB; "
          + "; ".join(m.group(0) for m in FREE_LINE.finditer(result["log"])), file=sys.stderr)
    return result


def test_the_random_checkpoint_loads_as_sd15_in_comfyuis_own_detection(random_sd15):
    path, _ = random_sd15
    # ComfyUI's own loader (the one Load Checkpoint calls), in the host's Python: the detected model is SD 1.5.
    script = ("import sys\nfrom comfy.cli_args import args\nargs.cpu = True\nimport comfy.sd, torch\n"
              "with torch.inference_mode():\n"
              "    model = comfy.sd.load_checkpoint_guess_config(sys.argv[1], output_vae=False, output_clip=False)[0]\n"
              "print('detected', type(model.model.model_config).__name__, model.model.model_type.name)\n")
    done = subprocess.run([str(setup_host.venv_python()), "-c", script, str(path)], cwd=setup_host.COMFY_DIR,
                          env={"PYTHONPATH": str(setup_host.STUBS_DIR), "OMP_NUM_THREADS": "1",
                               "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "detected SD15 EPS" in done.stdout, done.stdout


def test_the_diffusion_workflow_runs_as_shipped_and_saves_every_output(diffusion_run):
    inputs = sample_frames()
    assert diffusion_run["frames"].shape == inputs.shape == (32, 350, 350, 3)  # one stylized frame per frame
    # The keyframes as diffused: three, at the VAE's size (ComfyUI's VAE Encode crops to multiples of 8).
    sizes = [Image.open(io.BytesIO(data)).size for data in diffusion_run["previews"]]
    assert sizes == [(344, 344)] * 3, sizes
    # Save Patch Model wrote a model trained on those keyframes, resized back to the frames' size.
    (metadata,) = diffusion_run["models"]
    summary = metadata["summary"]
    assert summary["keyframe_indices"] == [0, 14, 31] and summary["frame_size"] == [350, 350]
    assert summary["steps"] > 0
    assert np.isfinite(diffusion_run["frames"]).all()


def test_training_asks_comfyui_to_free_memory_while_the_diffusion_model_is_loaded(diffusion_run):
    log = diffusion_run["log"]
    loads = [m.start() for m in re.finditer(r"Requested to load BaseModel", log)]
    frees = list(FREE_LINE.finditer(log))
    assert loads and len(frees) == 1, log[-3000:]
    free = frees[0]
    assert free.start() > loads[-1]  # asked after the diffusion model was loaded for sampling ...
    assert int(free.group(1)) > 0 and int(free.group(2)) >= 1  # ... and while ComfyUI still held it
    # The run fit in the CI machine's memory with room to spare.
    assert diffusion_run["peak_rss_gb"] < MEMORY_LIMIT_GB, diffusion_run["peak_rss_gb"]
