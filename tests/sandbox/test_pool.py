"""SandboxPool with both real backends: reuse is a reset, the pool is bounded, broken
sandboxes are replaced, and closing leaves nothing behind."""

from __future__ import annotations

import threading

import pytest

from patchloop.sandbox.base import SandboxError
from patchloop.sandbox.factory import open_sandbox
from patchloop.sandbox.pool import SandboxPool
from tests.sandbox.backends import make_git_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_git_repo(tmp_path_factory.mktemp("pool") / "repo", {"mod.py": "X = 1\n"})


@pytest.fixture(params=["local", "docker"])
def factory(request, repo):
    """A function making a fresh sandbox of the parametrised backend on the test repo."""
    if request.param == "docker":
        client = request.getfixturevalue("docker_client")
        from patchloop.sandbox.images import ensure_base_image

        image = ensure_base_image(client)
        return lambda: open_sandbox("docker", repo=str(repo), image=image, task_id="test-pool")
    return lambda: open_sandbox("local", repo=str(repo), task_id="test-pool")


def test_reused_sandbox_is_reset_files_and_processes(factory):
    with SandboxPool(factory, size=1) as pool:
        with pool.acquire() as sb:
            sb.write_file("leak.txt", "secret of task 1")
            sb.write_file("mod.py", "X = 2\n")
            # a daemon that detaches from the command's process group and outlives it
            res = sb.run("setsid nohup sleep 300 >/dev/null 2>&1 & echo $!", timeout=30)
            assert res.ok, res
            daemon_pid = res.stdout.strip()
            first = sb
        with pool.acquire() as sb:
            assert sb is first  # reused, not a new start
            assert sb.run("test -e leak.txt", timeout=30).exit_code != 0
            assert sb.read_file("mod.py") == "X = 1\n"
            assert sb.run(f"kill -0 {daemon_pid}", timeout=30).exit_code != 0
            assert sb.diff() == ""
        assert (pool.stats.created, pool.stats.reused, pool.stats.discarded) == (1, 1, 0)
    assert first.closed


def test_pool_is_bounded_and_waits(factory):
    started = []
    lock = threading.Lock()
    busy = peak = 0

    def counting_factory():
        sb = factory()
        started.append(sb)
        return sb

    with SandboxPool(counting_factory, size=2, wait_s=120) as pool:
        def worker(i: int) -> None:
            nonlocal busy, peak
            with pool.acquire() as sb:
                with lock:
                    busy += 1
                    peak = max(peak, busy)
                res = sb.run(f"echo {i} > mine.txt && cat mine.txt", timeout=30)
                assert res.stdout.strip() == str(i)
                with lock:
                    busy -= 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert peak <= 2 and len(started) <= 2
        assert pool.live() == len(started) == pool.idle()
        assert pool.stats.created + pool.stats.reused == 6

        # with both lent out, a third caller times out instead of starting a third sandbox
        pool.wait_s = 0.2
        with pool.acquire(), pool.acquire(), pytest.raises(SandboxError, match="no sandbox free"), pool.acquire():
            pass
    assert all(sb.closed for sb in started)


def test_broken_sandbox_is_discarded_and_replaced(factory):
    with SandboxPool(factory, size=1) as pool:
        with pool.acquire() as sb:
            broken = sb
            sb.close()  # what a dead engine or killed runner looks like to the pool
        assert pool.stats.discarded == 1 and pool.live() == 0
        with pool.acquire() as sb:
            assert sb is not broken
            assert sb.run("cat mod.py", timeout=30).stdout == "X = 1\n"
        assert pool.stats.created == 2


def test_local_runner_dying_under_the_pool_is_replaced(repo):
    # The runner serving a local sandbox dies mid-task (a crash, the host's OOM killer):
    # the task sees a SandboxError, the reset fails, and the pool starts a fresh sandbox.
    with SandboxPool(lambda: open_sandbox("local", repo=str(repo), task_id="t"), size=1) as pool:
        with pool.acquire() as sb:
            first = sb
            sb.proc.kill()
            sb.proc.wait()
            with pytest.raises(SandboxError):
                sb.run("true", timeout=30)
        with pool.acquire() as sb:
            assert sb is not first and sb.run("cat mod.py", timeout=30).stdout == "X = 1\n"
        assert pool.stats.discarded == 1


def test_container_killed_under_the_pool_is_replaced(docker_client, repo):
    from patchloop.sandbox.images import ensure_base_image

    image = ensure_base_image(docker_client)
    with SandboxPool(lambda: open_sandbox("docker", repo=str(repo), image=image, task_id="t"), size=1) as pool:
        with pool.acquire() as sb:
            first = sb
            docker_client.containers.get(sb.container.id).kill()
        with pool.acquire() as sb:
            assert sb is not first and sb.run("cat mod.py", timeout=30).stdout == "X = 1\n"
        assert pool.stats.discarded == 1
    left = docker_client.containers.list(all=True, filters={"label": "patchloop.task=t"})
    assert left == []


def test_failed_start_frees_its_slot():
    calls = []

    def flaky():
        calls.append(1)
        raise SandboxError("t", "engine hiccup")

    pool = SandboxPool(flaky, size=1, wait_s=5)
    for _ in range(3):  # would block on the 2nd call if the failed start kept its slot
        with pytest.raises(SandboxError, match="engine hiccup"), pool.acquire():
            pass
    assert len(calls) == 3 and pool.live() == 0


def test_closed_pool_refuses_and_closes_lent_sandboxes_on_return(repo):
    pool = SandboxPool(lambda: open_sandbox("local", repo=str(repo), task_id="t"), size=2)
    with pool.acquire() as lent:
        with pool.acquire() as idle_one:
            pass
        pool.close()
        assert idle_one.closed and not lent.closed
    assert lent.closed and pool.live() == 0
    with pytest.raises(SandboxError, match="closed"), pool.acquire():
        pass


def test_keys_get_their_own_sandboxes(repo, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.txt").write_text("B\n")
    repos = {"a": repo, "b": other}
    with SandboxPool(lambda key: open_sandbox("local", repo=str(repos[key]), task_id=key), size=1) as pool:
        with pool.acquire("a") as a, pool.acquire("b") as b:
            assert a.run("ls", timeout=30).stdout.split() == ["mod.py"]
            assert b.run("ls", timeout=30).stdout.split() == ["b.txt"]
        assert pool.idle("a") == pool.idle("b") == 1


def test_idle_sandboxes_past_max_idle_are_closed_oldest_key_first(repo):
    made = []

    def by_key(key):
        made.append(open_sandbox("local", repo=str(repo), task_id=f"test-pool-{key}"))
        return made[-1]

    with SandboxPool(by_key, size=2, max_idle=1) as pool:
        with pool.acquire("a"):
            pass
        with pool.acquire("b"):
            pass  # b comes back: a is the older idle key, so a's sandbox goes
        assert made[0].closed and not made[1].closed
        assert (pool.idle("a"), pool.idle("b"), pool.live("a"), pool.stats.evicted) == (0, 1, 0, 1)
        with pool.acquire("b") as one, pool.acquire("b") as two:
            assert one is made[1] and two is made[2]
        assert pool.idle("b") == 1 and pool.live("b") == 1  # the same key over the bound: one stays warm
