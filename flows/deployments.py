"""The deployments `relance worker` serves: every flow module's SCHEDULES, as Prefect runner deployments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.settings import Settings

# Flow modules whose SCHEDULES are served; each holds (flow, {"interval": seconds} or {"cron": "..."}) pairs.
FLOW_MODULES = ("flows.segments", "flows.feedback", "flows.scoring", "flows.campaigns", "flows.journeys",
                "flows.reports")


def schedules() -> list[tuple[Callable[..., Any], dict[str, Any]]]:
    """Every (flow, schedule) pair declared by the flow modules that exist."""
    import importlib

    found: list[tuple[Callable[..., Any], dict[str, Any]]] = []
    for name in FLOW_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found += list(getattr(module, "SCHEDULES", []))
    return found


def deployments(settings: Settings) -> list[Any]:
    """Runner deployments named after their flows; the campaign dispatcher and the journeys' tick run at their
    configured intervals."""
    from prefect.deployments.runner import EntrypointType

    from flows.campaigns import dispatch_due_campaigns
    from flows.journeys import advance_journeys

    configured = {dispatch_due_campaigns.name: settings.dispatch_interval_seconds,
                  advance_journeys.name: settings.journey_interval_seconds}
    built = []
    for flow_, schedule in schedules():
        if flow_.name in configured:  # type: ignore[attr-defined]
            schedule = {"interval": configured[flow_.name]}  # type: ignore[attr-defined]
        # Module entrypoints: the flow runs import `flows.x` as a package module (a script path would put flows/
        # on sys.path, where flows/segments.py shadows the segments package).
        built.append(flow_.to_deployment(name=f"relance-{flow_.name}",  # type: ignore[attr-defined]
                                         entrypoint_type=EntrypointType.MODULE_PATH, **schedule))
    return built
