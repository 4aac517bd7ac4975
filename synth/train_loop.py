"""What every time-budgeted training loop here shares: the clock, the learning-rate
schedule, smoothed losses, logging, progress and periodic checkpoints.

A loop reads:

    loop = TrainLoop(minutes, elapsed, step, log, progress, save_state, checkpoint_every_s)
    while loop.going(max_steps):
        loop.set_lr(opt, base_lr)
        ... one step ...
        loop.step_done(parts, lr=opt.param_groups[0]["lr"])
    summary = loop.finish()

`save_state(step, elapsed_s)` writes the resumable state; the loop calls it every
`checkpoint_every_s` and once at the end.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable


class TrainLoop:
    def __init__(self, minutes: float, elapsed: float, step: int, log: Callable[[dict], None],
                 progress: Callable[[float], None] | None, save_state: Callable[[int, float], None],
                 checkpoint_every_s: float, log_every: int = 50, smoothing: float = 0.98) -> None:
        self.budget = minutes * 60.0
        self.t0 = time.time() - elapsed
        self.step = step
        self.log = log
        self.progress = progress
        self.save_state = save_state
        self.checkpoint_every_s = checkpoint_every_s
        self.log_every = log_every
        self.smoothing = smoothing
        self.running: dict[str, float] = {}
        self._t_ckpt = time.time()

    @property
    def elapsed(self) -> float:
        return time.time() - self.t0

    @property
    def fraction(self) -> float:
        return self.elapsed / self.budget

    def going(self, max_steps: int | None = None) -> bool:
        return self.elapsed < self.budget and (max_steps is None or self.step < max_steps)

    def set_lr(self, opt, base_lr: float) -> None:
        """Cosine from base_lr down to a tenth of it over the time budget."""
        for g in opt.param_groups:
            g["lr"] = base_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, self.fraction))))

    def step_done(self, parts: dict[str, float], **extra: float) -> None:
        self.step += 1
        a = self.smoothing
        for k, v in parts.items():
            self.running[k] = a * self.running.get(k, v) + (1 - a) * v
        if self.step % self.log_every == 0:
            self.log({"step": self.step, "elapsed_s": round(self.elapsed, 1), **extra,
                      **{k: round(v, 4) for k, v in self.running.items()}})
        if self.progress:
            self.progress(min(1.0, self.fraction))
        if time.time() - self._t_ckpt > self.checkpoint_every_s:
            self.save_state(self.step, self.elapsed)
            self._t_ckpt = time.time()

    def finish(self) -> dict[str, float]:
        """Save the final state; returns the smoothed losses, rounded."""
        self.save_state(self.step, self.elapsed)
        return {k: round(v, 4) for k, v in self.running.items()}
