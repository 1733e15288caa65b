"""ci/build-kernel.sh's config check (docs/kernel-ci.md "Building a kernel").

The kernel's olddefconfig drops DEBUG_INFO_BTF without a word when pahole is
too old, and SCHED_CLASS_EXT with it.  The builder must fail with one line
naming the option, exit 7.  Configuring only (--config-only) needs the whole
linux-source (fetched by the builder into the cache) but no build: ~20 s.
"""
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import CACHE, KERNEL, REQUIRE_KERNEL, ROOT

BUILDER = ROOT / "ci/build-kernel.sh"


def require_toolchain():
    # The builder installs its own toolchain (gcc, flex, bison, bc, dwarves, ...)
    # when it runs as root, as CI does; elsewhere it must be there already.
    missing = []
    if os.geteuid() != 0:
        missing = [t for t in ("gcc", "make", "flex", "bison", "bc", "pahole") if not shutil.which(t)]
    if not (CACHE / "kernels" / KERNEL / "version").exists():
        missing.append(f"{CACHE}/kernels/{KERNEL}/version (ci/setup.sh --kernel {KERNEL})")
    if missing:
        why = f"kernel build prerequisites missing: {', '.join(missing)} (run ci/setup.sh)"
        if REQUIRE_KERNEL:
            pytest.fail(f"cannot run and AQCHECK_REQUIRE_KERNEL=1: {why}")
        pytest.skip(f"KERNEL BUILD TEST NOT RUN: {why}")


def configure(env_path=None):
    env = dict(os.environ)
    if env_path:
        env["PATH"] = env_path
    return subprocess.run(["bash", str(BUILDER), "--series", KERNEL, "--config-only"],
                          capture_output=True, text=True, env=env, timeout=900)


def test_the_lean_config_keeps_every_option_asked_for():
    require_toolchain()
    r = configure()
    assert r.returncode == 0, r.stderr
    config = pathlib.Path(r.stdout.strip().splitlines()[-1]).read_text()
    for want in ("CONFIG_SCHED_CLASS_EXT=y", "CONFIG_DEBUG_INFO_BTF=y", "CONFIG_SERIAL_8250_CONSOLE=y",
                 "CONFIG_HOTPLUG_CPU=y", "CONFIG_DEVTMPFS=y"):
        assert want in config.splitlines(), want


def test_a_too_old_pahole_fails_naming_the_option(tmp_path):
    require_toolchain()
    fake = tmp_path / "pahole"
    fake.write_text("#!/bin/sh\necho v1.21\n")
    fake.chmod(0o755)
    r = configure(f"{tmp_path}:{os.environ['PATH']}")
    assert r.returncode == 7, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "CONFIG_DEBUG_INFO_BTF=y was asked for" in last or "CONFIG_SCHED_CLASS_EXT=y was asked for" in last, last
    assert "pahole" in last and "v1.21" in last, last


def test_bad_arguments_get_one_line_and_exit_2():
    for args in (["--profile", "nosuch"], ["--jobs", "0"], ["--regression", "no-such-regression"],
                 ["--tree", "/nonexistent"], ["--bogus"]):
        r = subprocess.run(["bash", str(BUILDER), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
