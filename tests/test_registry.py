"""Registry: register/get/names/contains, duplicates, unknown names, built-in entries."""
import pytest

from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.models import ARCHITECTURES
from trainers.registry import Registry, UnknownNameError


def make_registry():
    reg = Registry("widget")

    @reg.register("beta")
    class Beta:
        pass

    @reg.register("alpha")
    def alpha():
        return "a"

    return reg, Beta, alpha


def test_register_returns_the_object_and_get_finds_it():
    reg, beta_cls, alpha_fn = make_registry()
    # the decorator hands back the object itself, unchanged
    assert beta_cls.__name__ == "Beta"
    assert alpha_fn() == "a"
    assert reg.get("beta") is beta_cls
    assert reg.get("alpha") is alpha_fn


def test_names_are_sorted_and_iteration_follows_names():
    reg, _, _ = make_registry()
    assert reg.names() == ["alpha", "beta"]
    assert list(reg) == ["alpha", "beta"]


def test_contains():
    reg, _, _ = make_registry()
    assert "alpha" in reg
    assert "beta" in reg
    assert "gamma" not in reg
    assert 3 not in reg


def test_duplicate_registration_raises_value_error_and_keeps_the_first():
    reg, beta_cls, _ = make_registry()
    with pytest.raises(ValueError, match="beta"):
        reg.register("beta")(object())
    assert reg.get("beta") is beta_cls
    assert reg.names() == ["alpha", "beta"]


def test_unknown_name_error_lists_known_names():
    reg, _, _ = make_registry()
    with pytest.raises(UnknownNameError) as info:
        reg.get("gamma")
    message = str(info.value)
    assert "gamma" in message
    assert "widget" in message
    assert "alpha, beta" in message
    # plain text, not KeyError's quoted repr
    assert not message.startswith(("'", '"'))


def test_unknown_name_error_is_a_key_error():
    reg, _, _ = make_registry()
    with pytest.raises(KeyError):
        reg.get("nope")


def test_empty_registry_says_none_known():
    reg = Registry("thing")
    assert reg.names() == []
    assert list(reg) == []
    with pytest.raises(UnknownNameError) as info:
        reg.get("x")
    assert "none" in str(info.value)


def test_builtin_registries_hold_the_builtins():
    assert "multidigits" in DATASETS
    assert "hps" in ARCHITECTURES
    assert "linear" in METHODS
    assert "wc_al" in METHODS
    assert DATASETS.get("multidigits").name == "multidigits"
    assert METHODS.get("linear").name == "linear"
    assert METHODS.get("wc_al").name == "wc_al"
    assert callable(ARCHITECTURES.get("hps"))


def test_builtin_registry_unknown_name_lists_builtins():
    with pytest.raises(UnknownNameError) as info:
        METHODS.get("no_such_method")
    assert "linear" in str(info.value)
    assert "wc_al" in str(info.value)
