"""What the code actually registers with prometheus_client, as :class:`MetricSpec` records.

Label names of a labelled metric only show in ``collect()`` once a child exists, so this reads the
metric objects themselves; their attribute names are prometheus_client internals, checked loudly.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from alstream.observability.naming import MetricSpec


def import_all(package: ModuleType) -> dict[str, BaseException]:
    """Import every module of ``package`` so that module-level metrics get registered.

    Returns the modules that failed to import with their errors, so the caller can report them all.
    """
    failures: dict[str, BaseException] = {}
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # noqa: BLE001 - reported to the caller, with the module name
            failures[info.name] = exc
    return failures


def registered_metrics(
    registry: CollectorRegistry = REGISTRY, prefix: str = "alstream_"
) -> dict[str, MetricSpec]:
    """Metrics registered in ``registry`` whose exposed name starts with ``prefix``, by exposed name."""
    collectors = list(getattr(registry, "_collector_to_names", {}))
    if not collectors and registry is REGISTRY:
        raise RuntimeError(
            "prometheus_client's registry layout changed: update alstream.observability.registry"
        )
    found: dict[str, MetricSpec] = {}
    for collector in collectors:
        if not isinstance(collector, MetricWrapperBase):
            continue
        kind = str(collector._type)
        name = collector._name
        if kind == "counter":
            name += "_total"
        elif kind == "info":
            name += "_info"
        if name.startswith(prefix):
            found[name] = MetricSpec(name, kind, tuple(collector._labelnames))
    return found
