"""Detector networks: shapes, registry names, and pretrained weights that cannot be fetched fail clearly."""
import urllib.error

import pytest
import torch

from realfake.models import build_model, count_parameters
from realfake.sd_detector.models import PretrainedWeightsUnavailable

torch.set_num_threads(1)


def test_cifake_cnn_and_vgg16_32_give_two_logits_for_32x32_rgb():
    x = torch.randn(2, 3, 32, 32)
    cnn = build_model({"name": "cifake_cnn", "width": 16, "depth": 3}).eval()
    assert cnn(x).shape == (2, 2)
    assert count_parameters(build_model({"name": "cifake_cnn"})) < 1_000_000
    vgg = build_model({"name": "vgg16_32", "pretrained": False, "batch_norm": False}).eval()
    assert vgg(x).shape == (2, 2)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in vgg.modules()) == 13
    vgg_bn = build_model({"name": "vgg16_32"}).eval()
    assert vgg_bn(x).shape == (2, 2) and sum(isinstance(m, torch.nn.BatchNorm2d) for m in vgg_bn.modules()) == 13


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """No cached weights (empty TORCH_HOME) and no network: every download raises."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    import torch.hub

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)


@pytest.mark.parametrize("spec", [{"name": "vgg16_32", "pretrained": True}, {"name": "resnet50_2class"}])
def test_pretrained_request_offline_fails_clearly(offline_hub, spec):
    with pytest.raises(PretrainedWeightsUnavailable) as error:
        build_model(spec)
    message = str(error.value)
    assert "ImageNet weights" in message and "pretrained=False" in message and "https://download.pytorch.org" in message


def test_resnet50_without_weights_only_when_asked_and_head_has_two_classes():
    model = build_model({"name": "resnet50_2class", "pretrained": False}).eval()
    assert model.fc.out_features == 2
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2)
