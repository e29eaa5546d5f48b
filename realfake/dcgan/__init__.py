"""Task 3: a DCGAN on MNIST, measured (Frechet distance in the suite's MNIST-classifier feature space, class
histograms, detectability, a human quiz). Notebooks: dcgan_mnist_clean.ipynb, dcgan_mnist_hypertune.ipynb.

    python -m realfake.dcgan classifier|reference|improved   # train (or load) what model_best/dcgan/ holds
"""
