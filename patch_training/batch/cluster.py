"""Running a batch job's tasks on a Ray cluster: the only module that imports Ray (an optional extra:
`pip install "patch-toon[ray]"`). The tasks are tasks.py's plain functions; this module only places them.

One task per shot for training, one to plan its segments, one for its first pass (guided models), one per
segment for stylization: 1 CPU each, and 1 GPU for training and segments when the shot asks for device
'cuda'. A task whose worker process or node dies is run again (`max_retries`): a segment is written whole or
not at all, so the job still ends with every frame once.
"""
from __future__ import annotations

from .run import MAX_RETRIES
from ..errors import ConfigError


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray: Ray is not installed in this Python. Install it with pip install "
                          "\"patch-toon[ray]\" (on every node of the cluster), or leave out --ray to use local "
                          "worker processes.") from None
    return ray


class RayExecutor:
    """batch.run_batch's executor on Ray. address: 'local' (a private Ray instance of `workers` CPUs, stopped
    by close()), 'auto', or a cluster's host:port; node_ip: this machine's address in the cluster."""

    def __init__(self, address: str, workers: int = 1, node_ip: str | None = None):
        ray = self.ray = _ray()
        kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address == "local":
            if workers < 1:
                raise ConfigError(f"--workers: expected 1 or more, received {workers}.")
            kwargs["num_cpus"] = workers
        else:
            kwargs["address"] = address
            kwargs.pop("include_dashboard")
        if node_ip:
            kwargs["_node_ip_address"] = node_ip
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"--ray: cannot join the Ray cluster at {address!r} ({exc}). Start it with `ray start "
                              f"--head` and give its address (host:port), or use --ray local.") from None
        self.workers = max(1, int(ray.cluster_resources().get("CPU", workers)))
        self.remote = {}

    def submit(self, kind: str, fn, *args):
        ray = self.ray
        options = {"num_cpus": 1, "max_retries": MAX_RETRIES}
        if kind in ("train", "segment") and args[0].train.device == "cuda":  # the shot asks for a GPU
            options = {"num_cpus": 1, "num_gpus": 1, "max_retries": MAX_RETRIES}
        key = (fn, tuple(sorted(options.items())))
        if key not in self.remote:
            self.remote[key] = ray.remote(fn).options(**options)
        return self.remote[key].remote(*args)

    def wait(self, pending: list, timeout: float | None = None) -> list:
        done, _ = self.ray.wait(pending, num_returns=1, timeout=timeout)
        return done

    def result(self, handle) -> dict:
        try:
            return self.ray.get(handle)
        except Exception as exc:  # noqa: BLE001 - retries used up (worker or node lost for good)
            return {"error": f"a Ray task failed after {MAX_RETRIES} retries: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}"}

    def close(self, cancel: bool = False) -> None:
        self.ray.shutdown()
