"""Quality scores on constructed cases where the right answer is known."""

from __future__ import annotations

import numpy as np

from evaluation.quality import near_duplicate_groups, score_batch_quality

RNG = np.random.default_rng(0)
REAL = RNG.normal(size=(80, 16))


def _like_real(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 16))


def test_a_batch_like_the_real_data_scores_well() -> None:
    result = score_batch_quality(REAL, _like_real(60, 1), duplicate_threshold=1e-4)
    scores = result.scores
    assert scores.unrealistic < 0.7 and scores.unvaried == 0 and scores.unoriginal == 0
    for value in scores.model_dump().values():
        assert 0 <= value <= 1


def test_a_batch_unlike_the_real_data_is_unrealistic() -> None:
    unlike = _like_real(60, 2) + 4.0  # shifted: trivially told apart from real
    assert score_batch_quality(REAL, unlike, 1e-4).scores.unrealistic > 0.9
    assert score_batch_quality(REAL, _like_real(60, 3), 1e-4).scores.unrealistic < 0.7


def test_duplicated_synthetic_images_raise_unvaried_and_the_filter_keeps_one_each() -> None:
    base = _like_real(10, 4)
    batch = np.vstack([base, base, base + 1e-6])  # every image three times
    result = score_batch_quality(REAL, batch, 1e-4, drop_unrealistic=0.0)
    assert result.scores.unvaried == 1.0 and result.scores.unoriginal == 0.0
    assert len(result.keep) == 10 and result.dropped_duplicates == 20


def test_copies_of_real_images_raise_unoriginal_and_are_dropped() -> None:
    batch = np.vstack([REAL[:15], _like_real(45, 5)])
    result = score_batch_quality(REAL, batch, 1e-4, drop_unrealistic=0.0)
    assert result.scores.unoriginal == 0.25 and result.dropped_unoriginal == 15
    assert all(i >= 15 for i in result.keep)


def test_group_scores_and_unrealistic_filter() -> None:
    batch = np.vstack([_like_real(30, 6), _like_real(30, 7) + 4.0])
    result = score_batch_quality(
        REAL, batch, 1e-4, groups={"a": range(30), "b": range(30, 60)}, drop_unrealistic=0.25
    )
    assert result.groups["b"].unrealistic > result.groups["a"].unrealistic
    assert result.dropped_unrealistic == 15
    dropped = set(range(60)) - set(result.keep)
    assert len(dropped & set(range(30, 60))) >= 12  # the filter takes the shifted ones


def test_near_duplicate_groups_are_transitive() -> None:
    x = np.array([[1.0, 0.0], [1.0, 1e-4], [1.0, 2e-4], [0.0, 1.0]])
    groups = near_duplicate_groups(x, 1e-6)
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_fingerprints_find_copies_of_an_image_but_not_different_images(tmp_path) -> None:
    from PIL import Image, ImageFilter

    from evaluation.quality import image_fingerprint
    from tools.world.render import render
    from tools.world.sampler import sample_scene
    from tools.world.scene import Conditions

    paths = []
    for seed in range(3):
        path = tmp_path / f"{seed}.png"
        Image.fromarray(render(sample_scene(Conditions(), seed, 96)).image).save(path)
        paths.append(path)
    copy = tmp_path / "copy.jpg"
    Image.open(paths[0]).filter(ImageFilter.GaussianBlur(0.5)).save(copy, quality=50)
    prints = np.stack([image_fingerprint(p) for p in [*paths, copy]])
    groups = near_duplicate_groups(prints, 0.003)
    assert groups[0] == groups[3] and len({groups[0], groups[1], groups[2]}) == 3
