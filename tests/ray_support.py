"""Ray for the tests: a private temporary folder and token per cluster, and stopping exactly its processes.

Every Ray process a test starts names the cluster's temporary folder in its command line (gcs_server, raylet,
the monitors) or descends from one that does (workers, agents): they are found by that, and ended by their
process ids, so a test never touches Ray processes it did not start."""
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")


def ray_env(marker_dir: Path) -> dict:
    """The environment of every process of one test cluster (nodes and driver): its own temporary folder, and
    token authentication (Ray's default for a new cluster) with a token of its own."""
    token = marker_dir / "token"
    if not token.exists():
        token.write_text(secrets.token_hex(32))
    return {**os.environ, "RAY_TMPDIR": str(marker_dir), "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0"}


def new_marker_dir() -> Path:
    # Short: Ray puts unix sockets under it (107 characters at most in a socket path).
    return Path(tempfile.mkdtemp(prefix="ptray", dir="/tmp"))


def _table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), fields[0], cmd)
    return table


def ray_processes(marker_dir: Path) -> set[int]:
    """Live processes of the cluster that uses `marker_dir`, and their descendants."""
    table = _table()
    found = {pid for pid, (_, state, cmd) in table.items() if str(marker_dir) in cmd and state != "Z"}
    grew = True
    while grew:
        children = {pid for pid, (ppid, state, _) in table.items() if ppid in found and state != "Z"} - found
        found |= children
        grew = bool(children)
    return found - {os.getpid()}


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_ray(marker_dir: Path, timeout: float = 20.0) -> set[int]:
    """End the cluster's processes (SIGTERM, then SIGKILL) by their ids; returns those that were running.
    Found before any is ended: a worker or agent whose raylet has gone no longer descends from it."""
    pids = ray_processes(marker_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids |= ray_processes(marker_dir)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout / 2
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
    return pids


def still_running(pids: set[int]) -> set[int]:
    return {p for p in pids if _alive(p)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


def start_cluster(marker_dir: Path) -> str:
    """A 2-node cluster on loopback (head 127.0.0.2, worker node 127.0.0.3), 1 CPU each; returns its address."""
    env, port = ray_env(marker_dir), free_port()
    common = ["--num-cpus=1", "--disable-usage-stats"]
    subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.2", f"--port={port}",
                    "--include-dashboard=false", *common], env=env, check=True, capture_output=True, timeout=120)
    subprocess.run([str(RAY), "start", f"--address=127.0.0.2:{port}", "--node-ip-address=127.0.0.3", *common],
                   env=env, check=True, capture_output=True, timeout=120)
    return f"127.0.0.2:{port}"
