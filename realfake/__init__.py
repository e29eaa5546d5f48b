"""realfake: telling real images from generated ones, and generating them.

Shared, task-free machinery (one job per module):
    images       decode a folder once into a uint8 tensor, cached; bad files reported
    loop         the one training loop: seed, epochs of steps, history, checkpoint/resume
    models       architectures by name (each task registers its own)
    tune         Optuna search: resumable studies, best settings saved only on request
    metrics      classification summary (scikit-learn's metrics), confidence intervals
    plots        figures every task uses, shown inline under any backend
    model_store  model_best/: weights plus a record of what they are
    state        atomic writes; corrupt files named and rebuilt
    profile, paths, results, datalink, run_notebooks

Tasks, each in its own package:
    hands        task 1: hand X-rays, real / VAE / GAN (with its own training recipe, self-training,
                 deduplication, splits and figures)
    sd_detector  task 2: real vs Stable Diffusion (CIFAKE, DiffusionDB vs Imagenette)
    dcgan        task 3: DCGAN on MNIST, and whether a detector or a person can tell
"""
