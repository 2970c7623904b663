"""Experiment (session 11): does the rast phase keep T(c, c) if the identity terms pull as hard as the style terms?
Arm A: the official rast_wacv weights (identity pixel 50, feature 1). Arm B: identity x4 (200, 4).
Both from the committed checkpoint, same seed (same batches), 60 warm-up steps then 240 generator steps."""
import sys
import torch
from rastlib.train.checkpoint import DEMO_CHECKPOINT
from rastlib.data import demo_eval_content_dir, demo_eval_style_dir
from rastlib.eval.metrics import load_eval_set
from rastlib.app.recipe import PHASES, WORKING_GATE, Phase, phase_config, run_phase

arm = sys.argv[1]
torch.set_num_threads(1)
rast = [p for p in PHASES if p.name == "rast"][0]
weights = {"A": {}, "B": {"identity_pixel": 200.0, "identity_feature": 4.0}}[arm]
phase = Phase("rast", {**rast.overrides, "weights": weights, "batch_size": 4, "warmup_steps": 60},
              max_steps=300, eval_every=100, gate=WORKING_GATE)
cfg = phase_config(phase, f"runs/ident/{arm}", "demo", init_from=str(DEMO_CHECKPOINT))
print(cfg, flush=True)
photos = load_eval_set(demo_eval_content_dir(), 256)
paintings = load_eval_set(demo_eval_style_dir(), 256)
print(run_phase(phase, cfg, photos, paintings, progress=False), flush=True)
