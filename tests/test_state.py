"""State that survives crashes, bad folders and stale models (each test reproduces a fault that was seen)."""
from __future__ import annotations

import json

import pytest
import torch

import realfake.images as images
import realfake.hands.train as train
from conftest import jpeg_bytes, random_array
from realfake.hands.dedup import data_fingerprint
from realfake.hands.config import make_config
from realfake.hands.fitting import fit_or_load
from realfake.loop import TrainState, fit
from realfake.model_store import INFO, WEIGHTS, StoredModelError, config_differences, load_model, save_model
from realfake.state import atomic_write_text, load_torch_state, read_json
from realfake.tune import open_study, run_trials, save_best, suggest

TINY = make_config(model={"width": 4, "depth": 2, "dropout": 0.0}, epochs=2, epoch_size=64, batch_size=32)


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (60, 1, 32, 32), dtype=torch.uint8, generator=generator), torch.arange(60) % 3


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def fit_tiny(config, data, **kwargs):
    return train.train_classifier(config, *data, device="cpu", progress=False, **kwargs)


# ---------------------------------------------------------------- fault 3: what was loaded is what is reported

def test_stored_model_with_other_settings_is_reported(data, tmp_path, capsys):
    stored_model, history = fit_tiny(TINY, data)
    save_model(tmp_path, stored_model, TINY["model"], config=TINY, history=history,
               fingerprint=data_fingerprint(*data), extra={"profile": "full"})
    asked = {**TINY, "epochs": 1, "lr": 1e-5, "seed": 3, "flip": False, "shift": 0}
    model, record = fit_or_load(tmp_path, asked, *data, device="cpu")
    assert same_weights(model, stored_model)
    assert record["config"] == TINY                     # the settings that trained the returned weights
    assert record["source"].startswith("loaded")
    assert set(record["differences"]) == {"epochs: stored 2, requested 1", "lr: stored 0.003, requested 1e-05",
                                          "seed: stored 0, requested 3", "flip: stored True, requested False",
                                          "shift: stored 2, requested 0"}
    out = capsys.readouterr().out
    assert "other settings" in out and "epochs: stored 2, requested 1" in out


def test_config_differences_nested():
    assert config_differences({"model": {"width": 4}, "lr": 1}, {"model": {"width": 8}, "lr": 1}) == [
        "model.width: stored 4, requested 8"]
    assert config_differences(TINY, TINY) == []


def test_retrained_model_records_its_own_config(data, tmp_path):
    model, record = fit_or_load(tmp_path, TINY, *data, device="cpu")
    assert record["config"] == TINY and record["differences"] == [] and record["source"].startswith("trained")
    assert json.loads((tmp_path / INFO).read_text())["config"] == TINY


# ---------------------------------------------------------------- fault 4: corrupt state files

CORRUPTIONS = {
    "zeros": b"\0" * 100,
    "text": b"not a checkpoint",
    "truncated zip": None,   # filled in by the test: the first half of a real file
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corrupt_stored_weights_are_reported_and_left_in_place(data, tmp_path, kind):
    model, _ = fit_or_load(tmp_path, TINY, *data, device="cpu")
    weights = tmp_path / WEIGHTS
    good = weights.read_bytes()
    bad = CORRUPTIONS[kind] if CORRUPTIONS[kind] is not None else good[:len(good) // 2]
    weights.write_bytes(bad)
    with pytest.raises(StoredModelError, match=rf"stored model weights .*{WEIGHTS} is unreadable .*left as it is.*"
                                               r"git checkout .*REALFAKE_RETRAIN=1"):
        fit_or_load(tmp_path, TINY, *data, device="cpu")
    assert weights.read_bytes() == bad and not list(tmp_path.glob("*.corrupt"))   # never moved or renamed
    again, record = fit_or_load(tmp_path, TINY, *data, device="cpu", retrain=True)   # what the message says to do
    assert record["source"].startswith("trained now") and same_weights(again, model)   # same seed, same model
    assert load_model(tmp_path, TINY["model"], data_fingerprint(*data))[0] is not None


def test_corrupt_model_record_is_reported_and_left_in_place(data, tmp_path):
    fit_or_load(tmp_path, TINY, *data, device="cpu")
    (tmp_path / INFO).write_text('{"spec": {"name": "hand')       # a JSON file cut short
    with pytest.raises(StoredModelError, match=rf"stored model record .*{INFO} is unreadable \(JSONDecodeError"):
        fit_or_load(tmp_path, TINY, *data, device="cpu")
    assert (tmp_path / INFO).read_text() == '{"spec": {"name": "hand'


@pytest.mark.parametrize("error", [MemoryError(), OSError(24, "Too many open files")])
def test_a_transient_read_error_never_sets_a_file_aside(data, tmp_path, monkeypatch, error):
    fit_or_load(tmp_path, TINY, *data, device="cpu")
    before = sorted(p.name for p in tmp_path.iterdir())
    def fail(*args, **kwargs):
        raise error
    monkeypatch.setattr("realfake.state._read", fail)
    with pytest.raises(type(error)):
        load_model(tmp_path, TINY["model"], data_fingerprint(*data))
    checkpoint = tmp_path / "cache.pt"                       # even a rebuildable file stays where it is
    torch.save({"a": 1}, checkpoint)
    with pytest.raises(type(error)):
        load_torch_state(checkpoint, "checkpoint", rebuildable=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["cache.pt"])


def test_a_kill_inside_save_model_leaves_the_old_pair_or_the_new_pair(data, tmp_path, monkeypatch):
    import realfake.model_store as store
    old_model, history = fit_tiny(TINY, data)
    save_model(tmp_path, old_model, TINY["model"], config=TINY, history=history, extra={"which": "old"})
    new_model, _ = fit_tiny({**TINY, "seed": 1}, data)
    real_rename, real_replace = store.os.rename, store.os.replace

    class Killed(BaseException):
        pass

    def kill_on(name, after):
        calls = {"n": 0}
        def fake(*args):
            calls["n"] += 1
            if calls["n"] > after:
                raise Killed()
            return (real_rename if name == "rename" else real_replace)(*args)
        return fake

    def stored():
        model, info = load_model(tmp_path, TINY["model"])
        return info["which"], model

    # killed before the commit point: the old pair, and the next save cleans up the staging folder
    monkeypatch.setattr(store.os, "rename", kill_on("rename", 0))
    with pytest.raises(Killed):
        save_model(tmp_path, new_model, TINY["model"], config=TINY, history=history, extra={"which": "new"})
    monkeypatch.setattr(store.os, "rename", real_rename)
    which, model = stored()
    assert which == "old" and same_weights(model, old_model)
    # killed after the commit point, between moving the weights and the record: the new pair
    monkeypatch.setattr(store.os, "replace", kill_on("replace", 1))
    with pytest.raises(Killed):
        save_model(tmp_path, new_model, TINY["model"], config=TINY, history=history, extra={"which": "new"})
    monkeypatch.setattr(store.os, "replace", real_replace)
    assert json.loads((tmp_path / INFO).read_text())["which"] == "old"    # the folder's own record is still old...
    which, model = stored()
    assert which == "new" and same_weights(model, new_model)                # ...but a reader sees the new pair
    store.finish_save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [WEIGHTS, INFO] or \
        sorted(p.name for p in tmp_path.iterdir()) == sorted([INFO, WEIGHTS])
    which, model = stored()
    assert which == "new" and same_weights(model, new_model)


def test_stored_models_load_by_network_version_not_source_text(data, tmp_path, monkeypatch):
    import realfake.hands.model as hand_model
    model, history = fit_tiny(TINY, data)
    save_model(tmp_path, model, TINY["model"], config=TINY, history=history)
    record = json.loads((tmp_path / INFO).read_text())
    assert record["network_version"] == hand_model.NETWORK_VERSION and "arch_version" not in record
    del record["network_version"]                          # a record stored before versions: version 1
    (tmp_path / INFO).write_text(json.dumps(record))
    assert load_model(tmp_path, TINY["model"])[0] is not None
    monkeypatch.setattr(hand_model, "NETWORK_VERSION", hand_model.NETWORK_VERSION + 1)
    loaded, reason = load_model(tmp_path, TINY["model"])
    assert loaded is None and "version 1 of network 'handnet'" in reason


def test_weights_that_do_not_fit_the_network_are_reported(data, tmp_path):
    model, history = fit_tiny(TINY, data)
    save_model(tmp_path, model, TINY["model"], config=TINY, history=history)
    weights = torch.load(tmp_path / WEIGHTS, weights_only=True)
    weights.pop(next(iter(weights)))
    torch.save(weights, tmp_path / WEIGHTS)
    with pytest.raises(StoredModelError, match="does not fit network 'handnet'.*raise NETWORK_VERSION"):
        load_model(tmp_path, TINY["model"])


def test_corrupt_checkpoint_is_named_and_training_starts_over(data, tmp_path):
    checkpoint = tmp_path / "run.pt"
    model, history = fit_tiny(TINY, data, checkpoint=checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    with pytest.warns(UserWarning, match=r"checkpoint .*run.pt is unreadable"):
        again, again_history = fit_tiny(TINY, data, checkpoint=checkpoint)
    assert same_weights(model, again) and len(again_history) == 2
    assert load_torch_state(checkpoint, "checkpoint")["epoch"] == 2


def test_corrupt_cache_is_named_and_rebuilt(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpeg").write_bytes(jpeg_bytes(random_array(i)))
    first = images.load_image_folder(folder, cache_dir=tmp_path / "cache", progress=False)
    [cache_file] = (tmp_path / "cache").glob("*.pt")
    cache_file.write_bytes(b"\x16" * 64)                  # errno-22-style garbage
    with pytest.warns(UserWarning, match="image cache .* is unreadable"):
        second = images.load_image_folder(folder, cache_dir=tmp_path / "cache", progress=False)
    assert torch.equal(first.pixels, second.pixels)
    assert load_torch_state(cache_file, "image cache") is not None   # rebuilt


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    atomic_write_text(target, '{"a": 1}')
    monkeypatch.setattr("realfake.state.os.replace", lambda *a: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(OSError):
        atomic_write_text(target, '{"a": 2}')
    assert read_json(target) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


# ---------------------------------------------------------------- fault 8: a read-only cache folder

def test_unwritable_cache_falls_back_to_memory(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.jpeg").write_bytes(jpeg_bytes(random_array(1)))
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache folder cannot be created under a file")
    with pytest.warns(UserWarning, match="cannot write the image cache .* stay in memory only"):
        loaded = images.load_image_folder(folder, cache_dir=blocked / "cache", progress=False)
    assert loaded.pixels.shape == (1, 1, 32, 32)


def test_read_only_filesystem_falls_back_to_memory(tmp_path, monkeypatch):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.jpeg").write_bytes(jpeg_bytes(random_array(1)))

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(images, "atomic_torch_save", read_only)
    with pytest.warns(UserWarning, match="Read-only file system"):
        loaded = images.load_image_folder(folder, cache_dir=tmp_path / "cache", progress=False)
    assert len(loaded) == 1


# ---------------------------------------------------------------- fault 9: code versions and retraining

def test_checkpoint_of_other_code_is_not_resumed(data, tmp_path, monkeypatch, capsys):
    checkpoint = tmp_path / "run.pt"
    fit_tiny(TINY, data, checkpoint=checkpoint, on_epoch_end=lambda e, r: True)   # stopped after epoch 1
    assert load_torch_state(checkpoint)["stopped"]
    monkeypatch.setattr(train, "recipe_version", lambda spec: "changed-code")
    _, history = fit_tiny(TINY, data, checkpoint=checkpoint)
    assert len(history) == 2 and load_torch_state(checkpoint)["code"] == "changed-code"


def test_retrain_ignores_a_finished_checkpoint(data, tmp_path, monkeypatch):
    checkpoint = tmp_path / "run.pt"
    fit_tiny(TINY, data, checkpoint=checkpoint)
    steps = []
    from realfake import perturb
    original = perturb.flip_shift                        # called once per training step
    monkeypatch.setattr(perturb, "flip_shift", lambda *a: steps.append(1) or original(*a))
    fit_tiny(TINY, data, checkpoint=checkpoint)
    assert steps == []                                   # resumed: a finished run does not train again
    fit_tiny(TINY, data, checkpoint=checkpoint, retrain=True)
    assert len(steps) == 2 * 2                           # 2 epochs x 2 steps


def test_early_stop_is_remembered(data, tmp_path):
    checkpoint = tmp_path / "run.pt"
    model = torch.nn.Linear(2, 1)
    state = TrainState({"m": model}, {"o": torch.optim.SGD(model.parameters(), lr=0.1)})
    calls = []

    def step(batch):
        calls.append(batch)
        return {"loss": 1.0}
    history = fit(state, epochs=5, batches=lambda e: [e], step=step, config={"a": 1}, checkpoint=checkpoint,
                  on_epoch_end=lambda e, r: e == 2, progress=False, verbose=False)
    assert len(history) == 2 and calls == [0, 1]
    history = fit(state, epochs=5, batches=lambda e: [e], step=step, config={"a": 1}, checkpoint=checkpoint,
                  progress=False, verbose=False)
    assert len(history) == 2 and calls == [0, 1]          # resumed a stopped run: nothing more


# ---------------------------------------------------------------- fault 6: a resumed search continues

SPACE = {"x": ("float", 0.0, 1.0), "k": ("categorical", [1, 2, 3, 4, 5, 6, 7, 8])}


def test_resumed_study_does_not_replay_its_first_trials(tmp_path):
    def objective(trial):
        params = suggest(trial, SPACE)
        return params["x"]

    db = tmp_path / "study.db"
    run_trials(open_study("s", db, seed=0, n_startup_trials=10), objective, 3)
    again = run_trials(open_study("s", db, seed=0, n_startup_trials=10), objective, 6)
    xs = [t.params["x"] for t in again.trials]
    assert len(xs) == 6 and len(set(xs)) == 6            # the three new trials are not the first three again
    # and a second study with the same seed still repeats the first one's start (same seed, same results)
    other = run_trials(open_study("t", db, seed=0, n_startup_trials=10), objective, 3)
    assert [t.params["x"] for t in other.trials] == xs[:3]


# ---------------------------------------------------------------- fault 7: committed settings replaced only on request

def test_save_best_keeps_committed_settings(tmp_path, capsys):
    committed = tmp_path / "configs" / "best.json"
    atomic_write_text(committed, json.dumps({"config": {"lr": 1}, "profile": "full"}))
    written = save_best(committed, {"config": {"lr": 2}}, "cpu", candidate_dir=tmp_path / "results")
    assert written == tmp_path / "results" / "best_candidate.json"
    assert json.loads(committed.read_text())["config"] == {"lr": 1}
    assert "REALFAKE_SAVE_BEST=1 was not set" in capsys.readouterr().out
    written = save_best(committed, {"config": {"lr": 2}}, "cpu", replace=True, candidate_dir=tmp_path / "results")
    assert json.loads(committed.read_text())["config"] == {"lr": 1}           # cpu never replaces full
    assert "bigger full profile" in capsys.readouterr().out
    assert save_best(committed, {"config": {"lr": 3}}, "full", replace=True) == committed
    assert json.loads(committed.read_text()) == {"config": {"lr": 3}, "profile": "full"}


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    import os
    path = atomic_write_text(tmp_path / "x.json", "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
