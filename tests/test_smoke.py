from upstate import __version__


def test_it_has_a_version() -> None:
    assert __version__.count(".") == 2
