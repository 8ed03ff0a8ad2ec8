"""Worlds drawn at random: the same draw seed gives the same worlds, each a valid world with rare
and common field conditions, and the draw renders."""

from __future__ import annotations

from pathlib import Path

from tools.vocabulary import CONDITIONS
from tools.world.config import WorldConfig
from tools.world.draw import WorldDistribution, draw_worlds
from tools.world.field import render_field


def test_a_draw_seed_gives_the_same_worlds_and_another_seed_other_worlds() -> None:
    first, again = draw_worlds(8, draw_seed=3), draw_worlds(8, draw_seed=3)
    assert [w.config for w in first] == [w.config for w in again]
    assert [w.rare for w in first] == [w.rare for w in again]
    other = draw_worlds(8, draw_seed=4)
    assert all(a.config != b.config for a, b in zip(first, other, strict=True))
    # Asking for more worlds keeps the first ones: a sweep can be extended.
    assert [w.config for w in draw_worlds(10, draw_seed=3)[:8]] == [w.config for w in first]
    assert len({w.config.seed for w in first}) == 8
    assert [w.name for w in first[:2]] == ["world00", "world01"]


def test_every_world_is_valid_and_has_a_rare_and_a_common_field_condition() -> None:
    low, high = WorldDistribution().rare_share
    worlds = draw_worlds(20, draw_seed=0)
    for world in worlds:
        # Round-trips through world.yaml's validation (priors of known values summing to 1).
        assert WorldConfig.model_validate(world.config.model_dump(mode="json")) == world.config
        field = world.config.conditions
        assert world.rare
        for name_value in world.rare:
            name, value = name_value.split("=")
            assert low - 1e-4 <= field[name][value] <= high + 1e-4
        # Some value of some condition is most of the field.
        assert max(p for values in field.values() for p in values.values()) >= 0.5
    # Over the draw, every condition has been rare somewhere, and both kinds of test split appear.
    assert {r.split("=")[0] for w in worlds for r in w.rare} == set(CONDITIONS)
    tests = [w.config.test_conditions for w in worlds]
    assert "uniform" in tests and any(isinstance(t, dict) for t in tests)
    for test in tests:
        if isinstance(test, dict):
            # A deployment mix keeps every value at least half its uniform share.
            for name, values in test.items():
                assert min(values.values()) >= 0.5 / len(CONDITIONS[name]) - 1e-4


def test_a_drawn_world_renders_its_field(tmp_path: Path) -> None:
    world = draw_worlds(1, draw_seed=0)[0].config
    images = list(render_field(world, tmp_path, "train", count=2))
    assert len(images) == 2 and all(image.path.is_file() for image in images)


def test_val_drawn_from_the_deployment_changes_val_alone() -> None:
    field, deployed = draw_worlds(4, 9), draw_worlds(4, 9, WorldDistribution(val_from="deployment"))
    for a, b in zip(field, deployed, strict=True):
        assert (a.config.val_conditions, b.config.val_conditions) == ("field", "test")
        # The same world otherwise: seed, field priors, test mix, rare values.
        assert b.config.model_copy(update={"val_conditions": "field"}) == a.config
        assert a.rare == b.rare
        assert a.config.priors("val") == a.config.priors("train")
        assert b.config.priors("val") == b.config.priors("test") != b.config.priors("train")
        # A world.yaml read back is the same world.
        assert WorldConfig.model_validate(b.config.model_dump(mode="json")) == b.config
