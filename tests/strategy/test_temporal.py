"""STAvatar's temporal density control: the frame clusters, the per-cluster footprint sums of the
fused error on a synthetic scene, and the clones they ask for."""

import numpy as np
import pytest
import torch

from headsplat.strategy import make_strategy
from headsplat.strategy.frame_clusters import cluster_frames, motion_features, silhouette
from headsplat.strategy.temporal import cluster_balanced_mean
from tests.strategy.test_strategies import N, _avatar, _context
from tests.synthetic_subject import strategy_slot


def _blobs(sizes, dims=62, spread=0.02, seed=0):
    """Points around len(sizes) random centres in [0, 1]^dims: (F, dims) and each point's blob."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, (len(sizes), dims))
    blob = np.repeat(np.arange(len(sizes)), sizes)
    return centres[blob] + spread * rng.standard_normal((len(blob), dims)), blob


def test_frames_cluster_into_the_groups_they_come_from():
    features, blob = _blobs([30, 12, 25, 8, 40, 20, 15])
    clusters = cluster_frames(features, range(5, 13), seed=0)
    assert clusters.k == 7 and sorted(clusters.sizes()) == [8, 12, 15, 20, 25, 30, 40]
    for b in range(7):  # each blob is one cluster and no cluster spans two blobs
        assert len(set(clusters.labels[blob == b])) == 1
    assert len(set(clusters.labels)) == 7
    assert clusters.silhouettes[7] > max(v for k, v in clusters.silhouettes.items() if k != 7)
    assert clusters.silhouettes[7] > 0.9
    again = cluster_frames(features, range(5, 13), seed=0)
    assert np.array_equal(again.labels, clusters.labels)  # a resumed run derives the same


def test_silhouette_matches_its_definition():
    rng = np.random.default_rng(1)
    points, labels = rng.standard_normal((25, 3)), rng.integers(0, 3, 25)
    labels[0] = 3  # a cluster of one scores 0
    expected = []
    for i, p in enumerate(points):
        distance = np.linalg.norm(points - p, axis=1)
        own = labels == labels[i]
        if own.sum() == 1:
            expected.append(0.0)
            continue
        a = distance[own].sum() / (own.sum() - 1)
        b = min(distance[labels == c].mean() for c in set(labels) - {labels[i]})
        expected.append((b - a) / max(a, b))
    assert silhouette(points, labels) == pytest.approx(np.mean(expected), abs=1e-9)


def test_motion_features_are_the_expression_and_the_turn_about_the_mean():
    expression = np.random.default_rng(0).uniform(0, 1, (4, 53))
    rotation = np.repeat(np.eye(3)[None], 4, axis=0)
    features = motion_features(expression, rotation)
    assert features.shape == (4, 62) and np.allclose(features[:, :53], expression)
    assert np.allclose(features[:, 53:], 0)


def test_each_kind_of_frame_weighs_the_same_however_often_it_occurs():
    sums = torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.0, 0.0]])  # Gaussian 0: bad in cluster 1 only
    counts = torch.tensor([[9.0, 1.0, 0.0], [9.0, 1.0, 0.0]])  # cluster 2 never saw them
    balanced = cluster_balanced_mean(sums, counts)
    assert torch.allclose(balanced, torch.tensor([0.25, 0.0]))  # not 0.05 as over the 10 frames
    assert torch.equal(cluster_balanced_mean(sums, counts, min_count=5.0), torch.zeros(2))


def _temporal(**settings):
    config = strategy_slot("temporal", start=1, every=1, add=0, prune_every=1000, **settings)
    strategy = make_strategy(config, 64)
    motion = np.r_[np.zeros((10, 62)), np.ones((2, 62))]  # frames 0-9 alike, 10-11 another kind
    planned = strategy.plan(np.arange(12), motion, steps=5)
    return strategy, planned


def test_the_fused_error_under_each_footprint_clones_where_the_render_is_wrong():
    avatar, optimizers = _avatar(log_scale=-0.5)
    strategy, planned = _temporal(min_clusters=2, max_clusters=2, error_threshold=0.05, error_clones=1000)
    assert planned["clusters"] == 2 and sorted(planned["cluster_sizes"]) == [2, 10]
    state = strategy.initialize_state(N, "cpu")
    assert state.columns["error_sum"].shape == (N, 2)
    ctx = _context(avatar, optimizers, state, 1, torch.arange(0))
    ctx.rendering = avatar.render(ctx.condition)
    image = ctx.rendering.image.detach()
    ctx.target = image.clone()
    ctx.target[:, :28] = 1 - image[:, :28]  # the left of the image is wrong, the right exact
    covered = avatar.rendering_weights(ctx.condition, ctx.camera) > 0.5
    strategy._accumulate(ctx)
    error = strategy.mean_error(state)
    cluster = strategy.cluster_of[0]
    weights = state.columns["weight_sum"][:, cluster]
    assert torch.allclose(weights, avatar.rendering_weights(ctx.condition, ctx.camera))
    summed = ctx.footprint_sums(ctx.error_map())
    assert torch.allclose(state.columns["error_sum"][:, cluster], summed, atol=1e-6)
    others = torch.arange(2) != strategy.cluster_of[0]
    assert (state.columns["error_sum"][:, others] == 0).all()  # frame 0's cluster only
    # Gaussian i's centre is at x = 32 + 1.6 (1.5 i + 1/3 - 37.5) px.
    centre_x = 32 + 1.6 * (1.5 * torch.arange(N) + 1 / 3 - 37.5)
    left, right = covered & (centre_x < 22), covered & (centre_x > 40)
    assert left.sum() >= 5 and right.sum() >= 5
    assert (error[left] > 0.2).all() and (error[right] < 1e-3).all()
    # The mean error under a footprint is a per-pixel error: at most the map's largest value.
    assert error.max() <= ctx.error_map().max() + 1e-6
    state.reset()
    strategy.step_post_backward(ctx)  # accumulates, then densifies at step 1
    parents = avatar.gaussians.triangle[N:]  # the strip binds Gaussian i to triangle i
    assert set(torch.nonzero(left)[:, 0].tolist()) <= set(parents.tolist())
    assert not set(torch.nonzero(right)[:, 0].tolist()) & set(parents.tolist())
    assert len(parents) == len(set(parents.tolist()))  # one child each


def test_error_clones_go_to_the_worst_first_and_respect_the_caps():
    strategy, _ = _temporal(min_clusters=2, max_clusters=2, error_threshold=0.1, error_clones=3)
    state = strategy.initialize_state(6, "cpu")
    state.columns["error_sum"][:, 1] = torch.tensor([0.5, 0.2, 0.9, 0.05, 0.3, 0.0])
    state.columns["weight_sum"][:, 1] = 1.0
    assert strategy.error_parents(state, room=100).tolist() == [2, 0, 4]
    assert strategy.error_parents(state, room=2).tolist() == [2, 0]
    state.columns["weight_sum"][0, 1] = 0.05  # under a pixel at 256 px (1/16 px at 64 px): not counted
    assert strategy.error_parents(state, room=100).tolist() == [2, 4, 1]


def test_the_strategy_refuses_to_run_unplanned():
    strategy = make_strategy(strategy_slot("temporal"), 64)
    with pytest.raises(RuntimeError, match="call plan"):
        strategy.initialize_state(N, "cpu")
