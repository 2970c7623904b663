"""An exponential moving average (EMA) of the generator's weights, kept beside training.

At a constant learning rate the weights swing from step to step around where the losses would settle, and the
measures swing with them (results/demo_checkpoint/averaged/: averages of points of one course beat every point
in them). The EMA is that average taken every step: ema ← decay · ema + (1 − decay) · weights after each applied
generator step, over the last ~1 / (1 − decay) steps. Training steps the raw weights; the EMA is what a
checkpoint stands for (`checkpoint.generator_weights`: exports, `load_model`, diagnoses, starts of other runs).
"""
import contextlib

import torch


class GeneratorEMA:
    """The EMA of a `RAST`'s trained parts (`model.generator_state()`: {part: state_dict}), in fp32 on the model's
    device. Starts as a copy of the weights it is given (a run from an exported checkpoint starts the average at
    its start, not at zero: no bias correction needed)."""

    def __init__(self, model, decay):
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay!r}")
        self.model, self.decay = model, decay
        self.state = {part: {k: v.detach().float().clone() for k, v in sd.items()}
                      for part, sd in model.generator_state().items()}

    @torch.no_grad()
    def update(self):
        """One step of the average towards the model's present weights (call after each applied step)."""
        for part, sd in self.model.generator_state().items():
            for k, v in sd.items():
                avg = self.state[part][k]
                if avg.is_floating_point():
                    avg.lerp_(v.detach().float(), 1 - self.decay)
                else:
                    avg.copy_(v)

    def load(self, state):
        """Take the average from a checkpoint's "ema" field."""
        self.state = {part: {k: v.to(self.state[part][k].device, torch.float32) for k, v in sd.items()}
                      for part, sd in state.items()}

    @contextlib.contextmanager
    def swapped_in(self):
        """The model holds the EMA weights inside the block and its own again after it (diagnoses measure the
        average without a second model)."""
        raw = {part: {k: v.detach().clone() for k, v in sd.items()}
               for part, sd in self.model.generator_state().items()}
        self.model.load_generator_state(self.state)
        try:
            yield self.model
        finally:
            self.model.load_generator_state(raw)
