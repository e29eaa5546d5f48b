"""The one training loop of the suite: seeding, epochs of steps, history, checkpoint and resume.

Every task trains through `fit`: the hand classifier, the CIFAKE detector, the DCGAN. The task
passes in what differs (its batches and its per-step update) and the loop does what is the same:

    seed_everything(config["seed"])                      # before the models are built
    state = TrainState(modules={"model": net}, optimizers={"opt": AdamW(...)}, generator=gen)
    history = fit(state, epochs=20, batches=lambda epoch: ..., step=lambda batch: {"loss": ...},
                  config=config, checkpoint="results/checkpoints/cpu/x.pt", fingerprint=..., code=...)

After each epoch the whole state (weights, optimisers, schedulers, random generators, the task's
extras, the history) is written atomically to `checkpoint`. A later call resumes from it only when
the config, the data fingerprint and the code version are all the same; otherwise it says why and
starts fresh. A resumed run gives the same weights as an uninterrupted one.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from tqdm.std import tqdm

from .paths import shown
from .state import atomic_torch_save, load_torch_state


def seed_everything(seed: int) -> None:
    """Same seed, same run: Python, NumPy and torch generators, deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def precision(device, enabled: bool = True) -> torch.dtype:
    """What `autocast` computes in on `device`: bfloat16 on a GPU that supports it natively, else float32.

    A CPU or GPU without native bfloat16 (a CPU without AMX or AVX512-BF16, a T4) emulates it, many times slower
    than float32 (`benchmarks/cifake_speed.py` times both on a CPU), and results would depend on which chip ran
    them; float32 is the same everywhere.
    """
    device = torch.device(device)
    native = device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if enabled and native else torch.float32


def autocast(device, enabled: bool = True):
    """bfloat16 autocast where `precision` says so; otherwise a context that changes nothing (float32)."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision(device, enabled) == torch.bfloat16)


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """A plain-text progress bar (never a widget), redrawn at most every few seconds.

    Text renders everywhere: in Jupyter, on GitHub, in CI logs. `run_notebooks` keeps only its
    last state in committed notebooks.
    """
    kwargs.setdefault("mininterval", 3.0)
    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("dynamic_ncols", False)
    kwargs.setdefault("ncols", 100)
    return tqdm(iterable, **kwargs)


@dataclass
class TrainState:
    """Everything a run changes, so it can be checkpointed and restored.

    extras  the task's own state (tensors or plain values), e.g. the best generator so far
    """
    modules: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any] = field(default_factory=dict)
    generator: torch.Generator | None = None
    extras: dict = field(default_factory=dict)

    def state_dict(self) -> dict:
        return {"modules": {k: m.state_dict() for k, m in self.modules.items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
                "generator": self.generator.get_state() if self.generator is not None else None,
                "extras": self.extras}

    def load_state_dict(self, state: dict) -> None:
        for kind in ("modules", "optimizers", "schedulers"):
            for name, obj in getattr(self, kind).items():
                obj.load_state_dict(state[kind][name])
        if self.generator is not None and state["generator"] is not None:
            self.generator.set_state(state["generator"])
        self.extras.clear()
        self.extras.update(state["extras"])


def _same(a, b) -> bool:
    """Equality of configs as JSON (tuples and lists compare equal, as they do after a reload)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _rng_states(device_types: set[str]) -> dict:
    numpy_state = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
            "cuda": torch.cuda.get_rng_state_all() if "cuda" in device_types else None}


def _restore_rng(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in states["python"]))
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), *rest))
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def resume_point(checkpoint: Path | None, config: dict, fingerprint: str | None, code: str,
                 retrain: bool) -> tuple[dict | None, str]:
    """The checkpoint to resume from (or None), and a sentence saying what was decided and why."""
    if checkpoint is None:
        return None, "no checkpoint file given: training from the start"
    if retrain:
        return None, "retraining was asked for: the checkpoint is ignored"
    saved = load_torch_state(checkpoint, "checkpoint", rebuildable=True)
    if saved is None:
        return None, f"no usable checkpoint at {shown(checkpoint)}: training from the start"
    for key, value in (("config", config), ("fingerprint", fingerprint), ("code", code)):
        if not _same(saved.get(key), value):
            return None, f"checkpoint {shown(checkpoint)} was made with another {key}: training from the start"
    return saved, f"resuming from {shown(checkpoint)} after epoch {saved['epoch']}"


def fit(state: TrainState, *, epochs: int, batches: Callable[[int], Iterable], step: Callable[[Any], dict],
        config: dict, checkpoint: Path | str | None = None, fingerprint: str | None = None, code: str = "",
        evaluate: Callable[[int], dict] | None = None,
        on_epoch_end: Callable[[int, dict], bool | None] | None = None,
        progress: bool = True, desc: str = "epochs", retrain: bool = False, verbose: bool = True) -> list[dict]:
    """Run `epochs` epochs of `step` over `batches(epoch)`; return the history (one dict per epoch).

    step(batch)          one update; returns numbers to average over the epoch (key "n": the
                         batch's weight in that average, default 1)
    evaluate(epoch)      numbers measured after the epoch's steps (e.g. validation accuracy)
    on_epoch_end(e, r)   called with the 1-based epoch and its record; may raise (Optuna
                         pruning) or return True to stop early, which the checkpoint remembers
    """
    checkpoint = Path(checkpoint) if checkpoint else None
    saved, decision = resume_point(checkpoint, config, fingerprint, code, retrain)
    if verbose and checkpoint is not None:
        print(decision)
    history: list[dict] = []
    start, stopped = 0, False
    if saved is not None:
        state.load_state_dict(saved["state"])
        _restore_rng(saved["rng"])
        history, start, stopped = saved["history"], saved["epoch"], saved.get("stopped", False)
    device_types = {p.device.type for m in state.modules.values() for p in m.parameters()}

    bar = progress_bar(range(start, epochs), desc=desc, disable=not progress or stopped, initial=start, total=epochs)
    for epoch in bar:
        if stopped:
            break
        started = time.perf_counter()
        for module in state.modules.values():
            module.train()
        sums: dict[str, float] = {}
        weight = 0.0
        for batch in batches(epoch):
            numbers = dict(step(batch))
            n = float(numbers.pop("n", 1.0))
            weight += n
            for key, value in numbers.items():
                sums[key] = sums.get(key, 0.0) + float(value) * n
        record = {"epoch": epoch + 1, **{key: total / max(weight, 1e-12) for key, total in sums.items()}}
        for name, scheduler in state.schedulers.items():
            record[f"lr_{name}" if len(state.schedulers) > 1 else "lr"] = scheduler.get_last_lr()[0]
        if evaluate is not None:
            record.update(evaluate(epoch))
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        bar.set_postfix({k: round(v, 3) for k, v in record.items() if isinstance(v, float) and k != "seconds"}, refresh=False)

        def save(stopped: bool) -> None:
            if checkpoint is not None:
                atomic_torch_save({"config": json.loads(json.dumps(config, default=str)), "fingerprint": fingerprint,
                                   "code": code, "epoch": epoch + 1, "stopped": stopped, "history": history,
                                   "state": state.state_dict(), "rng": _rng_states(device_types)}, checkpoint)
        save(False)  # before the callback, which may raise (a pruned trial) or stop the run
        stopped = bool(on_epoch_end(epoch + 1, record)) if on_epoch_end else False
        if stopped:
            save(True)
    bar.close()
    for module in state.modules.values():
        module.eval()
    return history
