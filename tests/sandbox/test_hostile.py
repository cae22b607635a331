"""Hostile code is the normal case: each attack is contained, reported in ExecResult, and
the host is left clean. One sandbox per backend for the module (small limits), so the
tests also show that a sandbox stays usable after each attack."""

from __future__ import annotations

import os
import uuid

import pytest

from patchloop.sandbox import SandboxLimits
from tests.sandbox.backends import BACKENDS, assert_closed_clean, host_processes_with, open_box

LIMITS = SandboxLimits(timeout_s=20, memory_bytes=256 * 1024**2, pids=64, output_bytes=64 * 1024,
                       tmp_bytes=32 * 1024**2, workspace_bytes=256 * 1024**2, file_bytes=64 * 1024**2)


@pytest.fixture(scope="module", params=BACKENDS)
def box(request):
    sb = open_box(request, request.param, limits=LIMITS, task_id=f"hostile-{request.param}")
    yield sb
    sb.close()
    assert_closed_clean(request, sb)


def _only_runner_left(box) -> None:
    """After any command, the only process in the sandbox is the runner, PID 1 (plus this ps)."""
    res = box.run("ps -eo pid=,comm=", timeout=20)
    others = [line.split()[0] for line in res.stdout.splitlines() if line.split()[1] != "ps"]
    assert others == ["1"], res.stdout


def test_fork_bomb_is_contained(box):
    if box.backend == "local" and os.geteuid() == 0:
        # root ignores RLIMIT_NPROC: containment must come from a pids cgroup, or we must not run it
        assert any("pids" in c for c in box.ready_info["cgroups"]), box.ready_info
    res = box.run(":(){ :|:& };:; sleep 2; echo survived", timeout=4)
    assert "Resource temporarily unavailable" in res.stderr, res  # the process limit held
    assert res.duration_s < 15
    _only_runner_left(box)
    assert box.run("echo alive", timeout=10).stdout == "alive\n"


def test_memory_hog_is_oom_killed(box):
    hog = "python3 -c 'x = []\nwhile True: x.append(bytearray(8 << 20))'"
    res = box.run(hog, timeout=30)
    assert not res.ok and not res.timed_out
    if box.backend == "docker" or any("memory" in c for c in box.ready_info.get("cgroups", [])):
        assert res.oom_killed, res
        assert res.exit_code == 137
    else:  # no memory cgroup: the address-space rlimit stops it instead, honestly not "oom_killed"
        assert "MemoryError" in res.stderr
    assert box.run("echo alive", timeout=10).ok


def test_busy_loop_past_timeout_is_killed(box):
    res = box.run("while :; do :; done", timeout=1)
    assert res.timed_out and res.exit_code == 124 and not res.ok
    assert 1 <= res.duration_s < 5
    _only_runner_left(box)


def test_process_ignoring_sigterm_is_killed(box):
    marker = f"sleep {uuid.uuid4().int % 10**6 + 10**6}"
    res = box.run(f"trap '' TERM; python3 -c 'import signal, subprocess; signal.signal(signal.SIGTERM, "
                  f"signal.SIG_IGN); subprocess.run(\"{marker}\", shell=True)'", timeout=1)
    assert res.timed_out
    _only_runner_left(box)
    assert host_processes_with(marker) == []


@pytest.mark.parametrize("how", [
    "setsid nohup {m} >/dev/null 2>&1 &",
    "python3 -c 'import os, subprocess\nif os.fork() == 0:\n os.setsid()\n if os.fork() == 0:\n  subprocess.run(\"{m}\".split(), stdout=subprocess.DEVNULL)'",
])
def test_background_daemon_is_gone_after_the_command(box, how):
    marker = f"sleep {uuid.uuid4().int % 10**6 + 2 * 10**6}"
    res = box.run(how.format(m=marker) + "\necho started", timeout=20)
    assert res.ok and "started" in res.stdout, res
    assert host_processes_with(marker) == []  # not in the sandbox, not escaped to the host
    _only_runner_left(box)


def test_gigabytes_of_output_are_capped_in_bounded_memory(box):
    res = box.run("head -c 2000000000 /dev/zero; echo END >&2", timeout=60)
    assert res.ok and res.truncated
    assert len(res.stdout) < 2 * LIMITS.output_bytes
    assert "bytes elided by patchloop" in res.stdout and res.stderr == "END\n"
    # the runner (PID 1 of the sandbox) never held more than a few MB while streaming 2 GB
    hwm = box.run("grep VmHWM /proc/1/status", timeout=10).stdout.split()[1]
    assert int(hwm) < 100 * 1024, hwm  # kB


def test_filling_tmp_hits_its_size_limit_and_reset_empties_it(box):
    res = box.run(f"dd if=/dev/zero of={box.tmpdir}/fill bs=1M count=200", timeout=30)
    assert not res.ok and ("No space left" in res.stderr or "File too large" in res.stderr), res
    size = box.run(f"du -smx {box.tmpdir} | cut -f1", timeout=10).stdout.strip()
    assert int(size) <= LIMITS.tmp_bytes // 2**20 + 1
    box.reset()
    # the local backend may keep the Python environment mounted (read-only) under /tmp
    kept = {p.split("/")[2] for p in getattr(box, "ready_info", {}).get("kept_under_tmp", [])}
    assert set(box.run(f"ls -A {box.tmpdir}", timeout=10).stdout.split()) == kept


@pytest.mark.parametrize("target", ["/etc/patchloop-escape", "/usr/bin/patchloop-escape", "/patchloop-escape"])
def test_writing_outside_the_workspace_fails(box, target):
    res = box.run(f"echo pwned > {target}", timeout=10)
    assert res.exit_code != 0
    assert "Read-only file system" in res.stderr or "Permission denied" in res.stderr, res
    assert not os.path.exists(target)  # and certainly not on the host


def test_network_shows_only_loopback(box):
    res = box.run("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '", timeout=10)
    assert res.stdout.split() == ["lo"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_network_is_given_only_when_the_limits_ask(request, backend):
    with open_box(request, backend, limits=SandboxLimits(network=True), task_id="net-on") as sb:
        res = sb.run("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '", timeout=10)
    assert set(res.stdout.split()) - {"lo"}, res.stdout  # an interface besides loopback; no traffic sent


def test_local_fallback_without_namespaces_still_sweeps_and_times_out(tmp_path):
    """Where `unshare` is unavailable the runner is a child subreaper: detached daemons come
    back to it and are killed; timeouts still kill the tree."""
    from patchloop.sandbox import LocalSandbox

    with LocalSandbox(task_id="plain", limits=LIMITS, namespaces=False) as sb:
        assert sb.ready_info["pid"] != 1 and sb.tmpdir.startswith(str(sb.root))
        marker = f"sleep {uuid.uuid4().int % 10**6 + 3 * 10**6}"
        res = sb.run(f"setsid nohup {marker} >/dev/null 2>&1 &\necho started", timeout=20)
        assert res.stdout == "started\n"
        assert host_processes_with(marker) == []
        res = sb.run(f"trap '' TERM; {marker}", timeout=1)
        assert res.timed_out and host_processes_with(marker) == []
        assert sb.run("echo $TMPDIR", timeout=10).stdout.strip() == sb.tmpdir
    assert not sb.root.exists()


def test_no_host_devices_are_reachable(box):
    """Disks, /dev/kvm, loop devices: nothing but the harmless character devices."""
    res = box.run("ls /dev; for d in /dev/*; do [ -b $d ] && echo BLOCK $d; done; echo x > /dev/null", timeout=10)
    assert res.ok and "BLOCK" not in res.stdout, res
    names = set(res.stdout.split())
    assert {"null", "zero", "urandom"} <= names
    assert not names & {"kvm", "kmsg", "mem", "loop0", "sda", "vda", "fuse"}


def test_local_memory_hog_without_a_memory_cgroup_meets_the_address_space_limit():
    """Where no memory cgroup can be made (non-root, no delegation) RLIMIT_AS is the bound:
    the hog gets MemoryError, and oom_killed stays False because no OOM killer acted."""
    from patchloop.sandbox import LocalSandbox

    with LocalSandbox(task_id="no-cgroup", limits=LIMITS, cgroups=False) as sb:
        assert sb.cgroups == []
        res = sb.run("python3 -c 'x = []\nwhile True: x.append(bytearray(8 << 20))'", timeout=30)
    assert res.exit_code == 1 and "MemoryError" in res.stderr and not res.oom_killed, res


def test_commands_hold_no_capabilities_so_read_only_stays_read_only(box):
    res = box.run("grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status", timeout=10)
    assert [line.split()[1] for line in res.stdout.splitlines()] == ["0000000000000000"] * 4, res.stdout
    res = box.run("mount -o remount,rw / || echo refused; touch /etc/pwned", timeout=10)
    assert "refused" in res.stdout and "Read-only file system" in res.stderr, res
    assert not os.path.exists("/etc/pwned")


def test_commands_cannot_touch_the_runner(box):
    """PID 1 ignores signals from inside, is not dumpable (no ptrace, no /proc peeking), and
    the OOM killer prefers commands (score adj 1000) over it; setuid binaries grant nothing."""
    res = box.run("kill -9 1; kill -STOP 1; cat /proc/1/environ >/dev/null || echo no-peek; "
                  "cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status", timeout=10)
    assert "no-peek" in res.stdout and "1000" in res.stdout.split(), res
    assert res.stdout.split()[-1] == "1"  # NoNewPrivs
    assert box.run("echo still here", timeout=10).stdout == "still here\n"


def test_limits_are_applied_as_configured(box):
    if box.backend == "docker":
        host = box.container.attrs["HostConfig"]
        assert host["NetworkMode"] == "none" and host["CapDrop"] == ["ALL"] and host["ReadonlyRootfs"]
        assert host["SecurityOpt"] == ["no-new-privileges"] and host["PidsLimit"] == LIMITS.pids
        assert host["Memory"] == host["MemorySwap"] == LIMITS.memory_bytes
        assert host["NanoCpus"] == int(LIMITS.cpus * 1e9)
        assert f"size={LIMITS.tmp_bytes}" in host["Tmpfs"]["/tmp"]
        assert box.container.attrs["Config"]["User"] == "1000:1000"
        assert box.run("id -u", timeout=10).stdout == "1000\n"
    else:
        res = box.run("ulimit -t; ulimit -v; ulimit -n; ulimit -f", timeout=7)
        cpu, space, files, fsize = res.stdout.split()
        assert int(cpu) == 8 and int(files) == LIMITS.open_files and int(fsize) * 1024 == LIMITS.file_bytes
        assert int(space) * 1024 >= LIMITS.memory_bytes
