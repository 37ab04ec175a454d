"""The kernel core under AddressSanitizer + UndefinedBehaviorSanitizer, and its
thread pool under ThreadSanitizer.

Builds csrc/tests/kernel_tests.cc (the C++ test driver: no Python or TensorFlow
in the process) with cmake + ninja into a temporary folder, once per sanitizer,
and runs it: every kernel on every ISA this CPU supports, over edge shapes,
against the driver's float64 reference, plus the invalid-argument checks. A
sanitizer report, a mismatch or a missing ISA fails the test. The build is the
project's own CMakeLists (-DZOO_BUILD_TESTS=ON -DZOO_WITH_TF=OFF), so kernel
files added to the core are compiled under the sanitizers too.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ASAN_FLAGS = ("-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all "
              "-fno-omit-frame-pointer")
TSAN_FLAGS = "-fsanitize=thread"


def _build(tmp_path_factory, name, cxx_flags):
    for tool in ("cmake", "ninja"):
        assert shutil.which(tool), f"{tool} not found (pip install cmake ninja: the test extra has them)"
    import pybind11  # the top-level CMakeLists looks it up even when only the core is built

    build = tmp_path_factory.mktemp(f"{name}-build")
    cfg = [
        "cmake", "-S", ROOT, "-B", str(build), "-G", "Ninja",
        "-DZOO_BUILD_TESTS=ON", "-DZOO_WITH_TF=OFF", "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_CXX_FLAGS={cxx_flags}",
        f"-DPython_EXECUTABLE={sys.executable}", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
    ]
    t0 = time.monotonic()
    out = subprocess.run(cfg, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    jobs = str(min(2, os.cpu_count() or 1))
    out = subprocess.run(["cmake", "--build", str(build), "--target", "zoo_kernel_tests", "-j", jobs],
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    print(f"\n{name} build: {time.monotonic() - t0:.0f} s")
    return build / "csrc" / "tests" / "zoo_kernel_tests"


def _run(exe, what, env_extra):
    env = {k: v for k, v in os.environ.items() if k != "ZOO_ISA"}  # the driver picks ISAs itself
    env.update(env_extra)
    t0 = time.monotonic()
    out = subprocess.run([str(exe), what], capture_output=True, text=True, timeout=900, env=env)
    print(f"{exe.name} {what}: {time.monotonic() - t0:.0f} s\n{out.stdout[-2000:]}")
    report = out.stdout[-6000:] + "\n" + out.stderr[-8000:]
    return out, report


def _check_all_isas_ran(stdout):
    detected = re.search(r"detected: (\w+)", stdout).group(1)
    ran = set(re.findall(r"^isa (\w+): \d+ checks", stdout, re.M))
    order = ("scalar", "avx2", "avx512")
    want = set(order[: order.index(detected) + 1])
    assert want <= ran, f"ISAs run: {sorted(ran)}, expected {sorted(want)} (detected {detected})"


@pytest.fixture(scope="module")
def asan_driver(tmp_path_factory):
    return _build(tmp_path_factory, "asan-ubsan", ASAN_FLAGS)


@pytest.fixture(scope="module")
def tsan_driver(tmp_path_factory):
    return _build(tmp_path_factory, "tsan", TSAN_FLAGS)


def test_kernels_clean_under_asan_and_ubsan(asan_driver):
    out, report = _run(asan_driver, "all", {
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    })
    assert "ERROR: AddressSanitizer" not in report and "runtime error:" not in report, report
    assert "LeakSanitizer" not in report, report
    assert out.returncode == 0, report
    assert re.search(r"\d+ checks, 0 failures", out.stdout), report
    _check_all_isas_ran(out.stdout)


def test_thread_pool_and_kernels_race_free_under_tsan(tsan_driver):
    out, report = _run(tsan_driver, "threads", {"TSAN_OPTIONS": "halt_on_error=1:second_deadlock_stack=1"})
    assert "WARNING: ThreadSanitizer" not in report, report
    assert out.returncode == 0, report
    assert re.search(r"\d+ checks, 0 failures", out.stdout), report
    _check_all_isas_ran(out.stdout)
