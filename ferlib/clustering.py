"""Clustering a model's features without the labels (the report's second future-work idea).

scikit-learn does the work: k-means and agglomerative clustering into seven groups, scored
against the emotion labels by normalised mutual information, adjusted Rand index and
purity, and a 2-D map (PCA, then t-SNE) for the eye.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.preprocessing import StandardScaler

from .fer2013 import NUM_CLASSES


def purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    """The share of images whose cluster's most common label is their own label."""
    table = contingency_matrix(labels, clusters)
    return float(table.max(axis=0).sum() / table.sum())


def cluster_features(features: np.ndarray, labels: np.ndarray, k: int = NUM_CLASSES, seed: int = 0):
    """k-means and Ward agglomerative clustering of standardised `features` into `k` groups.

    Returns the cluster of every image per method, and a table of NMI, ARI and purity per
    method (with, for scale, the same scores of a random assignment).
    """
    x = StandardScaler().fit_transform(features)
    assignments = {
        "k-means": KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x),
        "agglomerative (Ward)": AgglomerativeClustering(n_clusters=k).fit_predict(x),
        "random assignment": np.random.default_rng(seed).integers(0, k, len(x)),
    }
    scores = pd.DataFrame(
        {name: {"NMI": normalized_mutual_info_score(labels, c), "ARI": adjusted_rand_score(labels, c),
                "purity": purity(labels, c)} for name, c in assignments.items()}
    ).T
    return assignments, scores


def map_2d(features: np.ndarray, seed: int = 0, method: str = "tsne") -> np.ndarray:
    """A 2-D map of `features`: t-SNE on the first 50 principal components (``tsne``), or
    the first two principal components (``pca``)."""
    x = StandardScaler().fit_transform(features)
    # Identical rows are mapped once and share their point: coinciding points make t-SNE's
    # Barnes-Hut quad tree split without end (a segfault in scikit-learn), and a barely
    # trained network can give every image the same features (all its ReLUs off).
    unique, inverse = np.unique(x, axis=0, return_inverse=True)
    if len(unique) == len(x):  # no duplicates: keep the rows' order (the same map as ever)
        unique, inverse = x, np.arange(len(x))
    inverse = inverse.reshape(-1)
    if len(unique) < 3 or unique.shape[1] < 2:  # nothing to lay out: one point, or a line
        coordinates = np.zeros((len(unique), 2))
        coordinates[:, 0] = unique[:, 0] if unique.shape[1] else 0.0
        return coordinates[inverse]
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(unique)[inverse]
    reduced = PCA(n_components=min(50, *unique.shape), random_state=seed).fit_transform(unique)
    perplexity = min(30, max(5, len(unique) // 10), len(unique) - 1)
    return TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(reduced)[inverse]
