from upstate import __version__


def test_it_has_a_version() -> None:
    assert __version__.count(".") == 2


async def test_it_runs_async_tests_on_uvloop() -> None:
    import asyncio

    import uvloop

    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
