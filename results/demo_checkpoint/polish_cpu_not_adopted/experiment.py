"""Experiment (session 11): the decoder alone, identity-only losses (the inverter phase's weights), from the
committed checkpoint with its trained transform. Does T(c, c) / restoration rise without losing the style measures?"""
import torch
from rastlib.train.checkpoint import DEMO_CHECKPOINT
from rastlib.data import demo_eval_content_dir, demo_eval_style_dir
from rastlib.eval.metrics import load_eval_set
from rastlib.app.recipe import INVERTER_GATE, INVERTER_WEIGHTS, Phase, phase_config, run_phase

torch.set_num_threads(2)
phase = Phase("polish", dict(loss_preset="sanet", weights=INVERTER_WEIGHTS, freeze=("transform",), batch_size=8,
                             lr=1e-4), max_steps=4000, eval_every=150, gate=INVERTER_GATE, stylise=True)
cfg = phase_config(phase, "runs/polish", "demo", init_from=str(DEMO_CHECKPOINT))
print(cfg)
photos = load_eval_set(demo_eval_content_dir(), 256)
paintings = load_eval_set(demo_eval_style_dir(), 256)
print(run_phase(phase, cfg, photos, paintings, progress=False, seconds=7000))
