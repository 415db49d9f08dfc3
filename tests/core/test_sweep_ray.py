"""Sweeps on Ray Tune, through the real CLI: a 2 x 2-seed grid on a local instance with 2 workers
(run folders, trials.csv, summary.csv, the same curves as `train`, loopback sockets only, the
report), --resume, Ctrl-C, a worker killed mid-trial, ASHA, and a two-node cluster joined by
address. Every address is 127.0.0.1."""

from __future__ import annotations

import csv
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from vae_explorer.core.checkpoint import load_checkpoint
from vae_explorer.core.runs import find_runs, read_run

pytestmark = pytest.mark.slow

TINY = ["--limit-train", "256", "--limit-val", "64", "--limit-test", "100", "--hidden", "32"]
TINY += ["--latent-dim", "4", "--device", "cpu"]
# epochs long enough (~0.5 s) that a stop request reaches a trial mid-run
LONGER = ["--limit-train", "2048", "--limit-val", "64", "--limit-test", "64", "--hidden", "32"]
LONGER += ["--latent-dim", "4", "--device", "cpu"]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}


def cli(*args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vae_explorer", *args],
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(*args: str) -> subprocess.Popen:
    """The CLI in a session of its own, as a terminal runs it: Ctrl-C goes to its process group."""
    return subprocess.Popen(
        [sys.executable, "-m", "vae_explorer", *args],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def val_nll(folder: Path) -> list[str]:
    """metrics.csv's val_nll column, as the text written."""
    with open(folder / "metrics.csv", newline="") as fh:
        return [row["val_nll"] for row in csv.DictReader(fh)]


def train_val_nll(tmp: Path, seed: int, *options: str) -> list[str]:
    out = tmp / f"train-{seed}-{'-'.join(options)}"
    done = cli("train", "--seed", str(seed), "--threads", "1", "--out", str(out), *options)
    assert done.returncode == 0, done.stderr
    return val_nll(out)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the sweep ended early ({proc.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


# -- listening sockets, from /proc ------------------------------------------------------------------
def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    host = hex_address.split(":")[0]
    if len(host) == 8:
        return ipaddress.IPv4Address(bytes.fromhex(host)[::-1])
    words = [bytes.fromhex(host[i : i + 8])[::-1] for i in range(0, 32, 8)]
    return ipaddress.IPv6Address(b"".join(words))


def listening() -> dict[int, str]:
    """socket inode -> local address of every listening TCP socket and bound UDP socket."""
    found = {}
    for name, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == state:
                found[int(fields[9])] = str(_address(fields[1]))
    return found


def descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid and p not in found]
        found.update(children)
        frontier += children
    return found


def process_sockets(pids: set[int]) -> list[tuple[str, str]]:
    """(process name, local address) of the listening sockets the processes hold."""
    sockets = listening()
    out = []
    for pid in pids:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inode in sockets:
                    out.append((name, sockets[inode]))
    return out


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


class SocketWatch(threading.Thread):
    """Samples the listening sockets of a process and its descendants while it runs."""

    def __init__(self, proc: subprocess.Popen) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.seen: set[tuple[str, str]] = set()

    def run(self) -> None:
        while self.proc.poll() is None:
            self.seen.update(process_sockets(descendants(self.proc.pid)))
            time.sleep(0.3)


# -- a 2 x 2-seed grid on a local instance with 2 workers -----------------------------------------------
GRID = ["--grid", "components=2,4", "--seeds", "0,1", "--epochs", "3", "--workers", "2", *TINY]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grid")
    out = tmp / "sweep"
    proc = start("sweep", *GRID, "--out", str(out))
    watch = SocketWatch(proc)
    watch.start()
    stdout, stderr = proc.communicate(timeout=600)
    watch.join()
    assert proc.returncode == 0, stdout + stderr
    return tmp, out, stdout, watch.seen


def test_a_grid_gives_a_run_folder_per_trial_and_its_tables(grid):
    _, out, stdout, _ = grid
    assert "4 trials = 2 settings × 2 seeds on 2 workers" in stdout
    trials = rows(out / "trials.csv")
    assert len(trials) == 4
    assert {(t["components"], t["seed"]) for t in trials} == {("2", "0"), ("2", "1"), ("4", "0"), ("4", "1")}
    for t in trials:
        assert t["status"] == "done" and t["epochs"] == "3"
        for column in ("best_val_nll (nats)", "test_nll (nats)", "iw_nll (nats)", "fid", "inception_score"):
            float(t[column])  # numbers only
        assert int(t["iw_nll_samples"]) >= 10
        folder = out / t["trial"]
        run = read_run(folder)  # an ordinary run folder, read as the browser and report read it
        assert run is not None and run.readable and run.status == "done"
        assert run.test_nll == pytest.approx(float(t["test_nll (nats)"]))
        load_checkpoint(folder / "model.pt")
    summary = rows(out / "summary.csv")
    assert [(s["setting"], s["n_seeds"]) for s in summary] == [("components=2", "2"), ("components=4", "2")]
    comparison = rows(out / "comparison.csv")
    assert {(c["factor"], c["value"], c["reference"], c["n_pairs"]) for c in comparison} == {
        ("components", "4", "2", "2")
    }
    assert "comparison: components=4 vs 2:" in stdout
    # the run browser lists the trials as one group
    runs = [r for r in find_runs(out.parent) if r.group is not None]
    assert len(runs) == 4 and {r.group.name for r in runs} == {"sweep"}


def test_each_trial_has_the_curve_of_train_with_its_settings_and_seed(grid):
    tmp, out, _, _ = grid
    trials = rows(out / "trials.csv")
    runs = {}
    for t in trials:  # side by side: one thread each, so the numbers do not depend on it
        folder = tmp / f"train-{t['trial']}"
        options = ["--seed", t["seed"], "--components", t["components"], "--epochs", "3", *TINY]
        runs[t["trial"]] = (folder, start("train", *options, "--threads", "1", "--out", str(folder)))
    for trial, (folder, proc) in runs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stdout + stderr
        assert val_nll(out / trial) == val_nll(folder), trial


def test_a_local_sweep_listens_on_loopback_only(grid):
    *_, seen = grid
    names = {name for name, _ in seen}
    assert {"gcs_server", "raylet"} <= names, seen  # the sampling saw Ray's servers
    assert len(seen) >= 4
    assert all(is_loopback(address) for _, address in seen), sorted(seen)


def test_the_report_of_a_sweep_has_its_section(grid):
    tmp, out, _, _ = grid
    done = cli("report", str(out), "--out", str(tmp / "report.html"))
    assert done.returncode == 0, done.stderr
    html = (tmp / "report.html").read_text()
    assert "Experiment sweep" in html and "curves by setting" in html
    assert "components=4 vs 2:" in html and "4 of 4" not in html and "2 of 2" in html


def test_a_finished_sweep_resumes_to_nothing_and_a_second_one_is_refused(grid):
    _, out, _, _ = grid
    before = (out / "trials.csv").read_text()
    done = cli("sweep", "--resume", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "resuming: 0 unfinished of 4 trials" in done.stdout and "ray ready" not in done.stdout
    assert (out / "trials.csv").read_text() == before
    done = cli("sweep", *GRID, "--out", str(out))
    assert done.returncode == 2 and "already holds a sweep" in done.stderr
    # a run into the sweep's folder would hide its trials from the browser and the report
    for extra in ((), ("--overwrite",)):
        done = cli("train", "--epochs", "1", *TINY, *extra, "--out", str(out))
        assert done.returncode == 2 and "holds a sweep (sweep.json)" in done.stderr, done.stderr
    assert (out / "trials.csv").read_text() == before and not (out / "model.pt").exists()


def test_resume_evaluates_again_a_trial_whose_evaluation_did_not_end(grid, tmp_path):
    """outcome.json is written when training ends, before the evaluation: a trial whose evaluation
    was stopped, failed or killed counted as finished, and --resume never gave it its figures.
    It is evaluated again, and gets the figures the uninterrupted sweep wrote."""
    import json

    from vae_explorer.core.sweep_ray import EVALUATE, FINISHED, trial_state

    _, out, _, _ = grid
    copy = tmp_path / "sweep"
    shutil.copytree(out, copy, symlinks=True)
    ids = [t["trial"] for t in rows(copy / "trials.csv")]
    killed, stopped = copy / ids[0], copy / ids[1]
    wanted = {i: json.loads((copy / i / "evaluation.json").read_text()) for i in ids[:2]}
    (killed / "evaluation.json").unlink()  # killed in the evaluation: no file
    partial = {k: v for k, v in wanted[ids[1]].items() if k not in ("iw_nll", "iw_nll_stderr", "fid")}
    partial["notes"] = ["stopped by the user during the evaluation: no IW-NLL, FID"]
    (stopped / "evaluation.json").write_text(json.dumps(partial))
    assert [trial_state(copy / i) for i in ids] == [EVALUATE, EVALUATE, FINISHED, FINISHED]
    done = cli("sweep", "--resume", "--out", str(copy), "--workers", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming: 2 unfinished of 4 trials" in done.stdout
    for i in ids[:2]:
        again = json.loads((copy / i / "evaluation.json").read_text())
        for key in ("neg_elbo", "iw_nll", "iw_nll_stderr", "iw_samples", "fid", "inception_score", "epoch"):
            assert again[key] == wanted[i][key], (i, key)
    assert [trial_state(copy / i) for i in ids] == [FINISHED] * 4
    assert (copy / "trials.csv").read_text() == (out / "trials.csv").read_text()


def test_a_sweep_into_a_run_folder_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    done = cli("sweep", *GRID, "--out", str(run))
    assert done.returncode == 2 and "already holds a run (config.json)" in done.stderr, done.stderr
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]


def test_a_trial_folder_is_an_ordinary_run_for_evaluate_and_resume(grid, tmp_path):
    _, out, _, _ = grid
    folder = out / rows(out / "trials.csv")[0]["trial"]
    done = cli("evaluate", str(folder / "model.pt"), "--json")
    assert done.returncode == 0, done.stderr
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("model.pt", "last.pt", "config.json", "metrics.csv"):
        (copy / name).write_bytes((folder / name).read_bytes())
    done = cli(
        "train", "--resume", str(copy / "last.pt"), "--epochs", "4", "--threads", "1", "--out", str(copy)
    )
    assert done.returncode == 0, done.stderr
    assert val_nll(copy)[:3] == val_nll(folder) and len(val_nll(copy)) == 4


# -- stopping and failures -----------------------------------------------------------------------------
def test_ctrl_c_stops_every_trial_keeps_its_best_model_and_resume_finishes_them(tmp_path):
    out = tmp_path / "sweep"
    # 8 epochs of 8,192 images: several seconds left in each trial when the stop comes after its first
    data = ["--limit-train", "8192", *LONGER[2:]]
    args = ["--grid", "components=2,4,8", "--seeds", "0", "--epochs", "8", "--workers", "2", *data]
    proc = start("sweep", *args, "--out", str(out))
    folders = [out / "components=2,seed=0", out / "components=4,seed=0"]
    waiting = out / "components=8,seed=0"  # the third trial waits for a worker
    wait_for(lambda: all((f / "last.pt").exists() for f in folders), 300, proc)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stdout + stderr
    assert "stopping every trial after its current batch" in stderr and "Traceback" not in stderr
    for folder in folders:
        run = read_run(folder)
        assert run.status == "stopped" and run.reason == "stopped" and run.epochs < 8
        load_checkpoint(folder / "model.pt")
    assert not waiting.exists()  # a trial that had not started never starts
    assert [t["status"] for t in rows(out / "trials.csv")] == ["stopped", "stopped", "not run"]
    # --resume runs the unfinished trials, each from its last.pt, to the curve of an unbroken run
    done = cli("sweep", "--resume", "--out", str(out), "--workers", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming: 3 unfinished of 3 trials" in done.stdout
    assert [t["status"] for t in rows(out / "trials.csv")] == ["done", "done", "done"]
    assert val_nll(folders[1]) == train_val_nll(tmp_path, 0, "--components", "4", "--epochs", "8", *data)


def test_sigterm_stops_a_sweep_as_ctrl_c_does(tmp_path):
    """ray.init puts its own SIGTERM handler (sys.exit) in the CLI's place: `kill` ended the sweep
    with exit 1, no outcome.json for the trial and no tables. Kept, SIGTERM is a clean stop."""
    out = tmp_path / "sweep"
    data = ["--limit-train", "8192", *LONGER[2:]]
    proc = start("sweep", "--grid", "components=2", "--epochs", "8", *data, "--out", str(out))
    folder = out / "components=2,seed=0"
    wait_for(lambda: (folder / "last.pt").exists(), 300, proc)
    proc.send_signal(signal.SIGTERM)  # as `kill`: the driver alone
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stdout + stderr
    assert "stopping every trial after its current batch" in stderr
    assert read_run(folder).status == "stopped"
    assert [t["status"] for t in rows(out / "trials.csv")] == ["stopped"]


def test_a_trial_whose_worker_is_killed_goes_on_from_its_last_state_exactly(tmp_path):
    out = tmp_path / "sweep"
    proc = start("sweep", "--seeds", "3", "--epochs", "4", "--workers", "1", *LONGER, "--out", str(out))
    folder = out / "base,seed=3"
    lock = folder / ".vae-explorer.lock"

    def two_epochs() -> bool:
        try:
            return (
                len((folder / "metrics.csv").read_text().splitlines()) >= 3 and lock.read_text().strip() != ""
            )
        except OSError:
            return False

    wait_for(two_epochs, 300, proc)
    os.kill(int(lock.read_text()), signal.SIGKILL)  # the trial's Ray worker process
    stdout, stderr = proc.communicate(timeout=400)
    assert proc.returncode == 0, stdout + stderr
    assert "starting it again from its last.pt (start 2)" in stdout
    (trial,) = rows(out / "trials.csv")
    assert trial["status"] == "done" and trial["epochs"] == "4"
    assert val_nll(folder) == train_val_nll(tmp_path, 3, "--epochs", "4", *LONGER)


def test_asha_stops_clearly_worse_trials_and_says_so(tmp_path):
    out = tmp_path / "sweep"
    # one worker: the good trial runs first, alone, and sets the bar at the first rung; the one
    # with a learning rate too small to learn anything comes next and falls below it. The verdict
    # reaches a trial a second or two after its first epoch (Tune's loop, then the trial's poll):
    # 30 epochs of ~0.5 s leave it time on any machine, where 6 did not on a fast one
    args = ["--grid", "lr=1e-3,1e-7", "--seeds", "0", "--epochs", "30", "--workers", "1", *LONGER]
    done = cli("sweep", *args, "--scheduler", "asha", "--asha-grace", "1", "--out", str(out), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    good, bad = rows(out / "trials.csv")
    assert (good["lr"], good["status"], good["epochs"]) == ("0.001", "done", "30")
    assert (bad["lr"], bad["status"], bad["ended_by"]) == ("1e-07", "stopped", "stopped by scheduler")
    assert int(bad["epochs"]) < 30
    run = read_run(out / bad["trial"])
    assert run.status == "stopped" and run.reason == "stopped by scheduler"
    load_checkpoint(out / bad["trial"] / "model.pt")
    assert "stopped (stopped by scheduler)" in done.stdout
    # a pruned trial is finished: --resume leaves it be
    again = cli("sweep", "--resume", "--out", str(out))
    assert "resuming: 0 unfinished of 2 trials" in again.stdout


CLUSTER = textwrap.dedent(
    """
    import os, sys
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # every node on 127.0.0.1
    os.environ["RAY_AUTH_MODE"] = "token"
    from ray.cluster_utils import Cluster
    args = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 100 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**args, "include_dashboard": False})
    cluster.add_node(**args)
    print(cluster.address, len(cluster.list_all_nodes()), flush=True)
    sys.stdin.read()  # until the test closes it
    cluster.shutdown()
    """
)


def test_a_driver_joins_a_two_node_cluster_by_address(tmp_path):
    home = Path(os.environ["HOME"])
    token = subprocess.run(
        [sys.executable, "-m", "ray.scripts.scripts", "get-auth-token", "--generate"],
        env=env(),
        capture_output=True,
        text=True,
    )
    assert (home / ".ray" / "auth_token").is_file(), token.stderr  # the cluster keeps token auth
    cluster = subprocess.Popen(
        [sys.executable, "-c", CLUSTER], env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        address, nodes = cluster.stdout.readline().split()
        assert address.startswith("127.0.0.1:") and nodes == "2", (address, nodes)
        out = tmp_path / "sweep"
        args = ["--grid", "components=2,4", "--seeds", "0", "--epochs", "2", *TINY]
        done = cli("sweep", *args, "--ray-address", address, "--out", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"on the Ray cluster at {address}" in done.stdout
        assert [t["status"] for t in rows(out / "trials.csv")] == ["done", "done"]
    finally:
        cluster.stdin.close()
        cluster.wait(timeout=120)
