"""Task 1, hand X-rays: real (0), VAE (1) or GAN (2). Everything about it lives in this package.

    data        the labelled folders, their generators (sources), test_hands/, `make data` links
    dedup       pixel hashes, duplicates, near copies, data fingerprints
    splits      train/validation splits that keep groups (generators) apart
    copies      copies up to re-encoding noise, across classes and into the test set
    model       HandNet, registered as "handnet"
    config      default training config and search space
    train       the training recipe on uint8 tensors (built on `realfake.loop`), prediction
    selftrain   self-training rounds on the unlabelled pool
    search      the Optuna objective and the learning curves
    fitting     train-or-load of the final models (model_best/ and model_best/validation/)
    evaluation  scores with intervals over generators, the benchmarks' tables
    mistakes    where the held-out mistakes sit among the training images
    plots       the task's figures
    submission  the deliverable <username>_classified_hands.csv: format, validation, atomic write
"""
from .config import DEFAULT_CONFIG, SEARCH_SPACE, config_from_params, make_config
from .data import (CLASS_NAMES, HandData, load_hand_data, load_test_hands, read_sources, source_of,
                   split_by_source, split_within_sources, validation_split)
from .fitting import fit_or_load
from .model import HandNet

__all__ = ["CLASS_NAMES", "DEFAULT_CONFIG", "HandData", "HandNet", "SEARCH_SPACE", "config_from_params",
           "fit_or_load", "load_hand_data", "load_test_hands", "make_config", "read_sources", "source_of",
           "split_by_source", "split_within_sources", "validation_split"]
