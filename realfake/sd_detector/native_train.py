"""Training and the leave-one-generator-out evaluation of the native-resolution detector (`native_npr`).

    python -m realfake.sd_detector.native_train            # choose, LOGO, final model -> results/sd_native_metrics.json

Data: data/multigen (3 generators, 2 photo sources, native resolution) and data/sd_vs_real (SD v1 512x512 renders and
ImageNet photos). Photos are split once by a hash of their file name: 30 % are held out and never trained on except by
the final model.

Training reads random crops at native resolution (even offsets), balanced per batch between real and generated and,
inside each, between sources. Augmentation (CNNDetection-style, on both classes alike): a crop resized by 0.5-2x,
Gaussian blur, JPEG at a random quality, horizontal flip. Nothing resizes a whole image.

A recipe may re-encode every image as JPEG at one quality before anything else (model spec `recode_quality`): the
training crops come from the re-encoded images and the detector re-encodes what it scores the same way.

Stages:
    choose  variants (NPR or RGB input, crop size, augmentation, re-encoding) trained without SD v1 and scored on
            sd_vs_real (SD v1 512x512 renders against its photos) as stored and with both classes re-encoded JPEG q90:
            the recipe is the variant whose worse reading of the two is best, so one that leans on the codec loses.
            A variant already scored in the results file with the same settings and training code is not trained again.
    logo    for each generator: train the recipe without it (and without the held-out photos), score its images
            against the held-out photos, as stored and with both classes re-encoded JPEG q90 at native size.
    final   the recipe trained on everything, longer, stored in model_best/sd_detector/native_npr.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from sklearn.metrics import average_precision_score, roc_auc_score

from realfake.datalink import how_to_link
from realfake.loop import TrainState, fit, progress_bar, seed_everything
from realfake.models import build_model, count_parameters
from realfake.sd_detector import codec, native
from realfake.state import atomic_write_text, code_version

GENERATORS = ("ldm_256", "sd_v1_384", "sd_2.1_faces")
PHOTO_TEST_FRACTION = 0.3
RECODE_QUALITY = 90


@dataclass
class Item:
    path: Path
    label: int          # 1 generated, 0 photo
    group: str          # generator or photo source
    dataset: str        # multigen or sd_vs_real
    held_out: bool      # a photo of the held-out split (fakes: False)


def _held_out(name: str) -> bool:
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 16 ** 8 < PHOTO_TEST_FRACTION


def dataset_items(root: Path | str) -> list[Item]:
    """Every image of data/multigen (from its metadata.csv) and data/sd_vs_real, with its group and photo split."""
    root = Path(root)
    items = []
    multigen = root / "data" / "multigen"
    if not (multigen / "metadata.csv").exists():
        raise FileNotFoundError(f"{multigen}/metadata.csv: not found ({how_to_link('multigen')})")
    with open(multigen / "metadata.csv", newline="") as file:
        for row in csv.DictReader(file):
            label = int(row["label"] == "fake")
            group = row["generator"] if label else row["file"].split("/")[1]
            items.append(Item(multigen / row["file"], label, group, "multigen", not label and _held_out(row["file"])))
    sd = root / "data" / "sd_vs_real"
    for sub, label, group in (("real", 0, "sd_vs_real_photos"), ("fake", 1, "sd_v1_512")):
        for path in sorted((sd / sub).iterdir()) if (sd / sub).is_dir() else []:
            if path.is_file() and not path.name.startswith("."):
                items.append(Item(path, label, group, "sd_vs_real", False))
            else:
                print(f"skipped {path}: {'a hidden file' if path.name.startswith('.') else 'not a file'}")
    return items


def load_arrays(items: list[Item], progress: bool = True) -> list[np.ndarray]:
    """H x W x 3 uint8 pixels of every item, decoded once at native size."""
    return [np.asarray(codec.open_rgb(item.path.read_bytes(), str(item.path)))
            for item in progress_bar(items, desc="decoding", disable=not progress)]


def training_arrays(arrays: list[np.ndarray], config: dict, cache: dict) -> list[np.ndarray]:
    """What a recipe trains on: the decoded images, or for a model that reads re-encoded images (recode_quality),
    the images re-encoded once at that quality, so training crops come from what the detector will read."""
    quality = config["model"].get("recode_quality")
    if not quality:
        return arrays
    if quality not in cache:
        cache[quality] = [native.recode(a, quality) for a in arrays]
    return cache[quality]


# ---------------------------------------------------------------- recipe

def recipe(profile: str = "cpu", **changes) -> dict:
    """The training settings for a profile; `changes` override them (the variants of the choose stage)."""
    base = {"model": {"name": "native_npr", "width": 32, "blocks": 2, "npr": True}, "crop": 64, "batch_size": 64,
            "epochs": 15, "steps_per_epoch": 60, "lr": 2e-3, "weight_decay": 1e-4, "seed": 0,
            "augment": {"p_resize": 0.25, "scale": [0.5, 2.0], "p_blur": 0.15, "sigma": [0.2, 2.0], "p_jpeg": 0.5,
                        "quality": [60, 100]}}
    if profile == "smoke":
        base["crop"] = 32
    for key, value in changes.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    if profile == "smoke":      # tiny whatever a variant asks for: two steps of a narrow network
        base.update(batch_size=8, epochs=1, steps_per_epoch=2)
        base["model"] = {**base["model"], "width": 8}
    return base


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def augment_crop(array: np.ndarray, crop: int, augment: dict, generator: torch.Generator) -> np.ndarray:
    """One random crop x crop of an image at native resolution, augmented (the same for both classes)."""
    height, width = array.shape[:2]
    side = crop
    if augment and float(torch.rand((), generator=generator)) < augment["p_resize"]:
        scale = math.exp(_uniform(generator, *np.log(augment["scale"])))
        side = max(8, min(height, width, int(round(crop * scale))))
    top = int(torch.randint(0, (height - side) // 2 + 1, (), generator=generator)) * 2
    left = int(torch.randint(0, (width - side) // 2 + 1, (), generator=generator)) * 2
    region = array[top:top + side, left:left + side]
    if not augment:
        return region
    image = Image.fromarray(region)
    if side != crop:
        image = image.resize((crop, crop), Image.BILINEAR if side > crop else Image.BICUBIC)
    if float(torch.rand((), generator=generator)) < augment["p_blur"]:
        image = image.filter(ImageFilter.GaussianBlur(_uniform(generator, *augment["sigma"])))
    if float(torch.rand((), generator=generator)) < augment["p_jpeg"]:
        low, high = augment["quality"]
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=int(torch.randint(low, high + 1, (), generator=generator)))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out = np.asarray(image)
    return out[:, ::-1] if float(torch.rand((), generator=generator)) < 0.5 else out


def crop_batch(arrays: list[np.ndarray], items: list[Item], config: dict, generator: torch.Generator):
    """A balanced batch: half generated, half photos; inside each half, sources equally likely."""
    by_label = {}
    for index, item in enumerate(items):
        by_label.setdefault(item.label, {}).setdefault(item.group, []).append(index)
    half = config["batch_size"] // 2
    crops, labels = [], []
    for label in (0, 1):
        groups = list(by_label[label].values())
        for _ in range(half):
            group = groups[int(torch.randint(len(groups), (), generator=generator))]
            index = group[int(torch.randint(len(group), (), generator=generator))]
            crops.append(augment_crop(arrays[index], config["crop"], config["augment"], generator))
            labels.append(label)
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255)
    return x, torch.tensor(labels, dtype=torch.float32)


def fingerprint(items: list[Item]) -> str:
    digest = hashlib.sha1()
    for item in items:
        digest.update(f"{item.path.name}|{item.group}|{item.label}\n".encode())
    return digest.hexdigest()[:16]


def recipe_version() -> str:
    import sys
    return code_version(sys.modules[__name__].augment_crop, crop_batch, train)


def train(arrays: list[np.ndarray], items: list[Item], config: dict, checkpoint: Path | str | None = None,
          progress: bool = True, desc: str = "native epochs"):
    """Train config["model"] from random initialisation on crops of `items`; return (model in eval mode, history)."""
    seed_everything(config["seed"])
    model = build_model(config["model"])
    total = config["epochs"] * config["steps_per_epoch"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config["lr"], total_steps=max(total, 2),
                                                    pct_start=0.15)
    generator = torch.Generator().manual_seed(config["seed"])
    state = TrainState(modules={"model": model}, optimizers={"opt": optimizer}, schedulers={"sched": scheduler},
                       generator=generator)
    timer = {}

    def batches(epoch):
        timer["start"] = time.perf_counter()
        return (crop_batch(arrays, items, config, generator) for _ in range(config["steps_per_epoch"]))

    def step(batch):
        x, y = batch
        logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        return {"loss": loss.item(), "train_accuracy": ((logits > 0).float() == y).float().mean().item(), "n": len(y)}

    def evaluate(epoch):
        seconds = time.perf_counter() - timer["start"]
        return {"crops_per_s": config["steps_per_epoch"] * config["batch_size"] / seconds}

    history = fit(state, epochs=config["epochs"], batches=batches, step=step, config=config, checkpoint=checkpoint,
                  fingerprint=fingerprint(items), code=recipe_version(), evaluate=evaluate, progress=progress,
                  desc=desc)
    return model.eval(), history


# ---------------------------------------------------------------- evaluation

def score_arrays(model, arrays: list[np.ndarray], tile: int, max_tiles: int = native.MAX_TILES,
                 progress: bool = False) -> np.ndarray:
    """P(generated) per image, read as the detector reads it (tiles at native size, mean logit)."""
    return np.array([native.score_pixels(model, a, tile, max_tiles)[0]
                     for a in progress_bar(arrays, desc="scoring", disable=not progress)])


def metrics_with_ci(labels, probs, n_boot: int = 1000, seed: int = 0) -> dict:
    """ROC AUC, AP and balanced accuracy at 0.5, each with a 95 % bootstrap interval (resampling within each class)."""
    y, p = np.asarray(labels).astype(int), np.asarray(probs, dtype=float)

    def values(index):
        yy, pp = y[index], p[index]
        predicted = pp >= 0.5
        return (roc_auc_score(yy, pp), average_precision_score(yy, pp),
                (predicted[yy == 1].mean() + (~predicted[yy == 0]).mean()) / 2)

    point = values(np.arange(len(y)))
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    boot = np.array([values(np.concatenate([rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))]))
                     for _ in range(n_boot)])
    low, high = np.quantile(boot, 0.025, axis=0), np.quantile(boot, 0.975, axis=0)
    out = {"n_generated": int(len(positives)), "n_photos": int(len(negatives))}
    for i, name in enumerate(("roc_auc", "average_precision", "balanced_accuracy")):
        out[name], out[f"{name}_ci"] = float(point[i]), [float(low[i]), float(high[i])]
    return out


def evaluate_both(model, arrays, labels, tile: int, max_tiles: int, n_boot: int) -> dict:
    """Metrics as stored and with both classes re-encoded JPEG q90 (the codec control), and the scores."""
    probs = score_arrays(model, arrays, tile, max_tiles)
    recoded = score_arrays(model, [native.recode(a, RECODE_QUALITY) for a in arrays], tile, max_tiles)
    return {"as_stored": metrics_with_ci(labels, probs, n_boot), "jpeg_q90_both": metrics_with_ci(labels, recoded, n_boot),
            "scores": {"as_stored": probs.round(5).tolist(), "jpeg_q90_both": recoded.round(5).tolist()}}


def logo_fold(held_out: str, items: list[Item]) -> tuple[list[int], list[int]]:
    """(train, test) indices of multigen items for one held-out generator: train = the other generators and the photos
    not held out; test = the held-out generator's images and the held-out photos."""
    train_index = [i for i, it in enumerate(items) if it.dataset == "multigen" and
                   ((it.label == 1 and it.group != held_out) or (it.label == 0 and not it.held_out))]
    test_index = [i for i, it in enumerate(items) if it.dataset == "multigen" and
                  ((it.label == 1 and it.group == held_out) or (it.label == 0 and it.held_out))]
    return train_index, test_index


def subset_items(items: list[Item], per_group: int) -> list[Item]:
    """The first `per_group` images of every group and split (the smoke profile's tiny data)."""
    counts, out = {}, []
    for item in items:
        key = (item.group, item.held_out)
        if counts.get(key, 0) < per_group:
            counts[key] = counts.get(key, 0) + 1
            out.append(item)
    return out


VARIANTS = {"npr_crop64_aug": {}, "rgb_crop64_aug": {"model": {"npr": False}},
            "npr_crop32_aug": {"crop": 32, "batch_size": 128},
            "npr_crop64_jpeg_all": {"augment": {"p_jpeg": 1.0}},
            "luma_npr_crop64_aug": {"model": {"luma": True}},
            "npr_crop64_noaug": {"augment": None},
            "npr_crop64_aug_recode90": {"model": {"recode_quality": RECODE_QUALITY}},
            # four times the crops (30 epochs of 120 steps): did the 15 x 60 recipes stop too early?
            "npr_crop64_jpeg_all_4x": {"augment": {"p_jpeg": 1.0}, "epochs": 30, "steps_per_epoch": 120},
            "npr_crop64_aug_recode90_4x": {"model": {"recode_quality": RECODE_QUALITY}, "epochs": 30,
                                           "steps_per_epoch": 120}}
CRITERION = ("sd_vs_real ROC AUC, the worse of as stored and both classes re-encoded JPEG q90; "
             "trained without SD v1")


def worse_auc(entry: dict) -> float:
    """The choose stage's score of a variant: its lower sd_vs_real AUC of the two readings."""
    return min(entry["sd_vs_real"][kind]["roc_auc"] for kind in ("as_stored", "jpeg_q90_both"))


def run(root: Path | str, profile: str = "cpu", stages=("choose", "logo", "final"), out: Path | str | None = None,
        checkpoints: Path | str | None = None, models: Path | str | None = None, progress: bool = True,
        variants: dict | None = None, n_boot: int | None = None, recipe_name: str | None = None) -> dict:
    """The three stages; returns (and writes to `out`) the metrics record."""
    from realfake.model_store import save_model
    from realfake.results import write_metrics
    root = Path(root)
    checkpoints = Path(checkpoints or root / "results" / "checkpoints" / profile)
    n_boot = n_boot if n_boot is not None else (50 if profile == "smoke" else 1000)
    max_tiles = 4 if profile == "smoke" else native.MAX_TILES
    items = dataset_items(root)
    if profile == "smoke":
        items = subset_items(items, 3)
    arrays = load_arrays(items, progress)
    labels = np.array([it.label for it in items])
    recoded_cache: dict = {}
    previous_choice = ((read_json_quiet(out) or {}) if out is not None else {})
    previous_choice = previous_choice.get("choose", {}).get("variants", {}) if previous_choice.get("profile") == profile else {}
    record = {"profile": profile, "photo_test_fraction": PHOTO_TEST_FRACTION, "recode_quality": RECODE_QUALITY,
              "max_tiles": max_tiles, "n_boot": n_boot,
              "images": {g: int(sum(it.group == g for it in items)) for g in sorted({it.group for it in items})},
              "held_out_photos": int(sum(it.held_out for it in items))}
    variants = variants if variants is not None else VARIANTS

    # choose: variants trained without SD v1, scored on sd_vs_real (SD v1 512 vs its photos), codec-controlled
    train_sd1, _ = logo_fold("sd_v1_384", items)
    choice_test = [i for i, it in enumerate(items) if it.dataset == "sd_vs_real"]
    chosen, table = recipe_name or next(iter(variants)), {}
    if "choose" in stages and len(variants) > 1 and recipe_name is None:
        for name, changes in variants.items():
            config = recipe(profile, **changes)
            cached = read_json_quiet(checkpoints / f"native_{name}.json")
            if cached is not None and cached.get("config") == json.loads(json.dumps(config)) and cached.get("code") == recipe_version():
                table[name] = cached["entry"]
                print(f"{name}: scored before (checkpoints/native_{name}.json)")
                continue
            earlier = previous_choice.get(name, {})
            if earlier.get("changes") == json.loads(json.dumps(changes)) and earlier.get("code") == recipe_version():
                table[name] = earlier
                print(f"{name}: scored before (in {Path(out).name})")
                continue
            started = time.perf_counter()
            model, history = train(training_arrays(arrays, config, recoded_cache), [items[i] for i in train_sd1], config,
                                   checkpoints / f"native_{name}.pt", progress, desc=name)
            scored = evaluate_both(model, [arrays[i] for i in choice_test], labels[choice_test], config["crop"],
                                   max_tiles, n_boot)
            table[name] = {"changes": changes, "code": recipe_version(), "parameters": count_parameters(model),
                           "train_seconds": float(sum(h["seconds"] for h in history)),
                           "wall_seconds": time.perf_counter() - started,
                           "sd_vs_real": {k: scored[k] for k in ("as_stored", "jpeg_q90_both")}}
            atomic_write_text(checkpoints / f"native_{name}.json", json.dumps(
                {"config": config, "code": recipe_version(), "entry": table[name]}, default=str))
            print(f"{name}: sd_vs_real AUC {scored['as_stored']['roc_auc']:.3f}, "
                  f"codec-controlled {scored['jpeg_q90_both']['roc_auc']:.3f}")
        chosen = max(table, key=lambda n: worse_auc(table[n]))
        record["choose"] = {"criterion": CRITERION, "variants": table, "chosen": chosen}
    config = recipe(profile, **variants[chosen])
    record["recipe"] = {"name": chosen, "config": config}

    if "logo" in stages:
        logo = {}
        for held_out in GENERATORS:
            train_index, test_index = logo_fold(held_out, items)
            model, history = train(training_arrays(arrays, config, recoded_cache), [items[i] for i in train_index], config,
                                   checkpoints / f"native_{chosen}.pt" if held_out == "sd_v1_384"
                                   else checkpoints / f"native_logo_{chosen}_{held_out}.pt", progress,
                                   desc=f"without {held_out}")
            scored = evaluate_both(model, [arrays[i] for i in test_index], labels[test_index], config["crop"],
                                   max_tiles, n_boot)
            scored["files"] = [str(items[i].path.relative_to(root / "data")) for i in test_index]
            scored["labels"] = labels[test_index].tolist()
            scored["train_seconds"] = float(sum(h["seconds"] for h in history))
            logo[held_out] = scored
            print(f"without {held_out}: AUC {scored['as_stored']['roc_auc']:.3f}, "
                  f"codec-controlled {scored['jpeg_q90_both']['roc_auc']:.3f}")
        record["logo"] = logo
        for kind in ("as_stored", "jpeg_q90_both"):
            record[f"logo_mean_{kind}"] = {m: float(np.mean([logo[g][kind][m] for g in GENERATORS]))
                                           for m in ("roc_auc", "average_precision", "balanced_accuracy")}
            record[f"logo_range_{kind}"] = {m: [float(min(logo[g][kind][m] for g in GENERATORS)),
                                                float(max(logo[g][kind][m] for g in GENERATORS))]
                                            for m in ("roc_auc", "average_precision", "balanced_accuracy")}

    if "final" in stages:
        final_config = dict(config)   # the recipe the LOGO estimate describes, on all the data
        started = time.perf_counter()
        model, history = train(training_arrays(arrays, final_config, recoded_cache), items, final_config,
                               checkpoints / "native_final.pt", progress, desc="final")
        folder = Path(models or root / "model_best") / "sd_detector" / "native_npr"
        save_model(folder, model, final_config["model"], config=final_config, history=history,
                   fingerprint=fingerprint(items), code=recipe_version(),
                   extra={"profile": profile, "tile": final_config["crop"], "max_tiles": native.MAX_TILES,
                          "trained_on": record["images"], "network_version": 1})
        record["final"] = {"folder": "model_best/sd_detector/native_npr" if models is None else str(folder),
                           "train_seconds": float(sum(h["seconds"] for h in history)),
                           "wall_seconds": time.perf_counter() - started, "epochs": final_config["epochs"],
                           "crops": final_config["epochs"] * final_config["steps_per_epoch"] * final_config["batch_size"],
                           "parameters": count_parameters(model)}
    if out is not None:
        previous = read_json_quiet(out) or {}
        same_run = previous.get("profile") == profile and previous.get("recipe") == json.loads(json.dumps(record["recipe"]))
        record = write_metrics(out, {**(previous if same_run else {}), **record})  # stages run apart are merged
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realfake.sd_detector.native_train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "full"))
    parser.add_argument("--stages", nargs="+", default=["choose", "logo", "final"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="results JSON (default results/sd_native_metrics.json)")
    parser.add_argument("--recipe", default=None, choices=sorted(VARIANTS),
                        help="use this variant without the choose stage (an ablation of the chosen recipe)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from realfake.paths import repo_root, run_paths
    root = repo_root()
    paths = run_paths(args.profile, root)
    out = Path(args.out) if args.out else paths.results / "sd_native_metrics.json"
    run(root, args.profile, tuple(args.stages), out=out,
        models=None if args.profile != "smoke" else paths.models, recipe_name=args.recipe)
    print(f"wrote {out}")
    return 0



def run_or_load(profile: str, paths, progress: bool = False) -> dict:
    """The notebook's entry: the stored results of `python -m realfake.sd_detector.native_train` for this profile
    (they take about 45 CPU-minutes), or a fresh run when there are none (the smoke profile always runs, on tiny
    data, in seconds, and writes under results/smoke/)."""
    from realfake.state import read_json
    out = paths.results / "sd_native_metrics.json"
    if profile != "smoke":
        record = read_json(out, "native detector results")
        if record is not None and record.get("profile") == profile and "logo" in record and "final" in record:
            return record
    return run(paths.root, profile, out=out, checkpoints=paths.checkpoints,
               models=paths.models if profile == "smoke" else None, progress=progress)


def read_json_quiet(path: Path | str) -> dict | None:
    """The JSON object in `path`, or None when it is missing or unreadable (a benchmark's optional input)."""
    import json
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    raise SystemExit(main())
