"""Real vs Stable Diffusion: the CIFAKE detector, its evaluation, and the cross-source checks.

data         CIFAKE (extract once / kagglehub; uint8 tensor cache) and sd_vs_real file lists
diffusiondb  DiffusionDB parts (Hugging Face) in their on-disk layout
imagenette   Imagenette through torchvision
codec        the same resize + JPEG re-encoding for both classes; encoder-setting checks; the metadata shortcut
(robustness perturbations and CNNDetection augmentation: realfake.perturb, shared with the DCGAN detector)
models       cifake_cnn, vgg16_32, resnet50_2class (registered in realfake.models)
train        the CPU-friendly CIFAKE recipe on realfake.loop.fit
pipeline     profile-sized data/config and train-or-load (shared by the notebooks and the command line)
evaluate     metrics with intervals, thresholds, calibration, robustness curves, plots
explain      Grad-CAM (grad-cam package) and mean Fourier spectra
sources      codec-normalised cross-source data and the ResNet50 fine-tune
hypertune    Optuna search space and objective
detect       score any image file (`python -m realfake.detect FILE...`)
"""
