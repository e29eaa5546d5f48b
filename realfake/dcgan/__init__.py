"""Task 3: a DCGAN on MNIST, measured (Frechet distance in the suite's MNIST-classifier feature space, class
histograms, detectability and what the detectors look at, a human quiz in the notebook and as a web page).
Notebooks: dcgan_mnist_clean.ipynb, dcgan_mnist_hypertune.ipynb.

    python -m realfake.dcgan classifier|reference|improved   # train (or load) what model_best/dcgan/ holds
    python -m realfake.dcgan sample --gan improved --n 1000 --out digits.pt [--seed S] [--png grid.png]
"""

EVALUATION_SEED = 98765     # the noise of the reported numbers and of `python -m realfake.dcgan sample`
