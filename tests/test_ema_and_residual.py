"""Three levers measured for issue 6: a moving average of the weights (config["ema_decay"]), a
network that also reads a high-pass residual of its input ("handnet_residual"), and cutout (config["cutout"])."""
from __future__ import annotations

import torch

from conftest import selftraining_run
from realfake.hands.config import make_config
from realfake.models import build_model
from realfake.train import cut_out, train_classifier


def tiny_data(n: int = 64):
    generator = torch.Generator().manual_seed(0)
    return (torch.randint(0, 256, (n, 1, 32, 32), generator=generator, dtype=torch.uint8),
            torch.arange(n) % 3)


def tiny_config(**overrides):
    return {**make_config(model={"name": "handnet", "width": 8, "depth": 2}, epochs=2, batch_size=16), **overrides}


def weights(model) -> torch.Tensor:
    return torch.cat([t.detach().float().flatten() for t in model.state_dict().values()])


def test_the_returned_model_is_the_moving_average():
    pixels, labels = tiny_data()
    plain, _ = train_classifier(tiny_config(), pixels, labels, device="cpu", progress=False)
    # a decay near 0 averages nothing away: the average is the last weights (and statistics)
    last, _ = train_classifier(tiny_config(ema_decay=1e-12), pixels, labels, device="cpu", progress=False)
    assert torch.allclose(weights(last), weights(plain), atol=1e-5)
    averaged, _ = train_classifier(tiny_config(ema_decay=0.9), pixels, labels, device="cpu", progress=False)
    assert (weights(averaged) - weights(plain)).abs().max() > 1e-3
    assert type(averaged) is type(plain)     # the network itself, not its wrapper: it saves and loads as any


def test_the_moving_average_is_checkpointed(tmp_path):
    pixels, labels = tiny_data()
    checkpoint = tmp_path / "ema.pt"
    trained, _ = train_classifier(tiny_config(ema_decay=0.9), pixels, labels, device="cpu", progress=False,
                                  checkpoint=checkpoint)
    reloaded, history = train_classifier(tiny_config(ema_decay=0.9), pixels, labels, device="cpu", progress=False,
                                         checkpoint=checkpoint)
    assert len(history) == 2
    assert torch.equal(weights(reloaded), weights(trained))


def test_the_residual_network_sees_fine_detail_through_its_second_channel():
    network = build_model({"name": "handnet_residual", "width": 8, "depth": 2, "dropout": 0.0}).eval()
    assert network.stem[0].in_channels == 2
    with torch.no_grad():
        network.stem[0].weight[:, 0] = 0          # blind the plain image: only the residual is left
        flat_dark, flat_bright = torch.full((1, 1, 32, 32), -1.0), torch.full((1, 1, 32, 32), 1.0)
        checkerboard = (torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2 * 2.0 - 1.0
        outputs = [network(x) for x in (flat_dark, flat_bright, checkerboard[None, None])]
    assert outputs[0].shape == (1, 3)
    assert torch.allclose(outputs[0], outputs[1])           # a flat image has no residual, whatever its level
    assert not torch.allclose(outputs[0], outputs[2])       # fine detail has


def test_cutout_blanks_one_square_per_image_and_changes_training():
    x = torch.ones((6, 1, 32, 32))
    blanked = cut_out(x, 8, torch.Generator().manual_seed(0))
    assert ((blanked == 0).sum(dim=(1, 2, 3)) == 8 * 8).all()
    assert len({tuple((row == 0).flatten().tolist()) for row in blanked}) > 1     # drawn per image
    pixels, labels = tiny_data()
    plain, _ = train_classifier(tiny_config(), pixels, labels, device="cpu", progress=False)
    cut, _ = train_classifier(tiny_config(cutout=8), pixels, labels, device="cpu", progress=False)
    assert (weights(cut) - weights(plain)).abs().max() > 1e-3


def test_the_self_training_table_names_the_levers(tmp_path):
    import json

    from realfake.hands.evaluation import selftraining_table
    for name, config in (("ema", {"model": {"name": "handnet", "width": 48}, "ema_decay": 0.99}),
                         ("residual", {"model": {"name": "handnet_residual", "width": 48}, "seed": 2}),
                         ("cutout", {"model": {"name": "handnet", "width": 48}, "cutout": 8}),
                         ("bf16", {"model": {"name": "handnet", "width": 48}, "cpu_bf16": True, "seed": 4}),
                         ("deeper", {"model": {"name": "handnet", "width": 64, "depth": 4}, "cpu_bf16": True}),
                         ("depth3", {"model": {"name": "handnet", "width": 48, "depth": 3}, "seed": 5})):
        (tmp_path / f"{name}.json").write_text(json.dumps(selftraining_run(
            0.8, [0.9], labelled_share=0.3, resumed_rounds=(), config=config, threads=2 if name == "cutout" else 1)))
    noised = selftraining_run(0.8, [0.9, 0.95], labelled_share=0.3, config={"model": {"width": 48}})
    noised["self_training"]["students"] = {"cutout": 8, "model": {"dropout": 0.3}}
    (tmp_path / "noised.json").write_text(json.dumps(noised))
    (tmp_path / "gpu.json").write_text(json.dumps(selftraining_run(
        0.8, [0.9], labelled_share=0.3, resumed_rounds=(), config={"model": {"width": 48}, "seed": 3}, device="cuda")))
    # trained by an earlier call (every round from a checkpoint): its thread count says nothing
    (tmp_path / "resumed.json").write_text(json.dumps(selftraining_run(
        0.8, [0.9], labelled_share=0.3, resumed_rounds=(0,), config={"model": {"width": 32}}, threads=2)))
    variants = sorted({variant for variant, _ in selftraining_table(tmp_path).index})
    assert variants == ["threshold 0.8, labelled share 0.3",
                        "width 48, threshold 0.8, labelled share 0.3, 8-pixel cutout, 2 threads",
                        "width 48, threshold 0.8, labelled share 0.3, bfloat16 on the CPU, seed 4",
                        "width 48, threshold 0.8, labelled share 0.3, high-pass residual input, seed 2",
                        "width 48, threshold 0.8, labelled share 0.3, moving average of weights (decay 0.99)",
                        "width 48, threshold 0.8, labelled share 0.3, noised students (8-pixel cutout, dropout 0.3)",
                        "width 48, threshold 0.8, labelled share 0.3, seed 3, on cuda",
                        "width 48, threshold 0.8, labelled share 0.3, seed 5",   # depth 3 is the recipe's: not named
                        "width 64, threshold 0.8, labelled share 0.3, depth 4, bfloat16 on the CPU"]
