"""The descriptor transform's maths on small hand-made cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from search.descriptors import DescriptorTransform, Whitening, learn_transform, principal_axes


def test_each_domain_loses_its_own_mean() -> None:
    catalogue = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=np.float32)
    transform = learn_transform(catalogue, photo_mean=np.array([0.0, 0.0, 5.0], np.float32))
    # The catalogue mean (0.5, 0.5, 1) is gone: the two packshots now point in opposite ways.
    packshots = transform.catalogue(catalogue)
    assert np.allclose(packshots, [[0.5**0.5, -(0.5**0.5), 0.0], [-(0.5**0.5), 0.5**0.5, 0.0]])
    # A photo is centred on the photo mean instead: its shared offset (0, 0, 5) is removed.
    photo = transform.photos(np.array([2.0, 0.0, 5.0], np.float32))
    assert np.allclose(photo, [[1.0, 0.0, 0.0]])


def test_without_photos_both_domains_use_the_catalogue_mean() -> None:
    catalogue = np.array([[3.0, 1.0], [1.0, 3.0]], dtype=np.float32)
    transform = learn_transform(catalogue)
    assert transform.photo_mean_source == "catalogue"
    assert np.array_equal(transform.photo_mean, transform.catalogue_mean)


def test_whitening_makes_the_sample_covariance_the_identity() -> None:
    rng = np.random.default_rng(5)
    data = rng.normal(size=(500, 4)) @ np.array(
        [[3.0, 0, 0, 0], [1.0, 1.0, 0, 0], [0, 0, 0.5, 0], [0, 0.2, 0, 0.1]]
    )
    centred = data - data.mean(axis=0)
    axes = principal_axes(centred, whiten=True, regularisation=0.0)
    whitened = centred @ axes.T
    assert np.allclose(np.cov(whitened, rowvar=False), np.eye(4), atol=1e-8)


def test_pca_without_whitening_is_a_rotation_that_keeps_cosines() -> None:
    rng = np.random.default_rng(6)
    catalogue = rng.normal(size=(50, 6)).astype(np.float32)
    plain = learn_transform(catalogue)
    rotated = learn_transform(catalogue, whitening=Whitening.PCA)
    assert rotated.out_dim == 6
    a, b = plain.catalogue(catalogue), rotated.catalogue(catalogue)
    assert np.allclose(a @ a.T, b @ b.T, atol=1e-5)


def test_dimensions_keep_the_largest_components_first() -> None:
    rng = np.random.default_rng(7)
    catalogue = (rng.normal(size=(200, 5)) * [10.0, 5.0, 1.0, 0.1, 0.01]).astype(np.float32)
    transform = learn_transform(catalogue, dimensions=2)
    assert transform.out_dim == 2 and transform.projection is not None
    # The kept axes are the two widest input axes (up to sign).
    assert np.allclose(np.abs(transform.projection), [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]], atol=0.05)


def test_a_transform_round_trips_through_its_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    catalogue = rng.normal(size=(20, 4)).astype(np.float32)
    photo_mean = rng.normal(size=4).astype(np.float32)
    transform = learn_transform(
        catalogue, photo_mean=photo_mean, photo_mean_source="query photos", dimensions=3
    )
    transform.save(tmp_path / "t.npz")
    loaded = DescriptorTransform.load(tmp_path / "t.npz")
    assert loaded.photo_mean_source == "query photos" and loaded.out_dim == 3
    queries = rng.normal(size=(3, 4)).astype(np.float32)
    assert np.array_equal(loaded.photos(queries), transform.photos(queries))
    assert np.array_equal(loaded.catalogue(queries), transform.catalogue(queries))
