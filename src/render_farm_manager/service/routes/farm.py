"""The farm as a whole: status (admin), energy mode and tariff, power-down advice and the power
plan (admin), Prometheus metrics (admin) and health (no token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from render_farm_manager.core.models import EnergyMode
from render_farm_manager.energy_optimization.tariff import TariffPeriod, TimeOfUseTariff
from render_farm_manager.service.deps import Admin, Farm, Who, context
from render_farm_manager.service.errors import invalid
from render_farm_manager.service.schemas import EnergyModeChange, Health, TariffChange

router = APIRouter(tags=["farm"])
public = APIRouter(tags=["service"])


@router.get("/farm", summary="The farm's status (admin)")
def farm_status(request: Request, who: Admin, manager: Farm) -> dict[str, Any]:
    status = manager.get_farm_status()
    loop = context(request).loop
    status["scheduling"] = {
        "cycle_seconds": context(request).cycle_seconds,
        "cycles": loop.cycles if loop else 0,
        "failed_cycles": loop.failures if loop else 0,
        "last_error": loop.last_error if loop else None,
        "loop_running": bool(loop and loop.running),
    }
    return status


def energy_view(request: Request) -> dict[str, Any]:
    manager = context(request).holder.manager
    assert manager is not None
    optimizer = manager.energy_optimizer
    now = manager.clock.now()
    tariff = getattr(optimizer, "tariff", None)
    view: dict[str, Any] = {
        "mode": EnergyMode(optimizer.current_energy_mode).value,
        "modes": [m.value for m in EnergyMode],
        "current_price": optimizer.get_time_of_day_energy_price(now),
        "next_price_change": getattr(optimizer, "next_price_change", lambda _: None)(now),
        "tariff": None,
    }
    if tariff is not None:
        view["tariff"] = {
            "periods": [
                {
                    "start": p.start.isoformat(timespec="minutes"),
                    "end": p.end.isoformat(timespec="minutes"),
                    "price_per_kwh": p.price_per_kwh,
                }
                for p in tariff.periods
            ],
            "default_price": tariff.default_price,
            "min_price": tariff.min_price,
            "max_price": tariff.max_price,
        }
    return view


@router.get("/energy", summary="Energy mode and electricity tariff")
def energy(request: Request, who: Who, manager: Farm) -> dict[str, Any]:
    return energy_view(request)


@router.put("/energy/mode", summary="Set the energy mode (admin)")
def set_energy_mode(
    body: EnergyModeChange, request: Request, who: Admin, manager: Farm
) -> dict[str, Any]:
    manager.set_energy_mode(body.mode)
    return energy_view(request)


@router.put("/energy/tariff", summary="Set the electricity tariff (admin)")
def set_tariff(body: TariffChange, request: Request, who: Admin, manager: Farm) -> dict[str, Any]:
    try:
        periods = [TariffPeriod(p.start, p.end, p.price_per_kwh) for p in body.periods]
        tariff = TimeOfUseTariff(periods, body.default_price)
    except ValueError as error:
        raise invalid("periods", str(error)) from error
    manager.set_energy_tariff(tariff)
    return energy_view(request)


@router.get("/power-down", summary="Idle nodes that could be powered down now (admin)")
def power_down(
    who: Admin,
    manager: Farm,
    keep_awake: Annotated[int, Query(ge=0, le=100_000)] = 1,
) -> list[dict[str, Any]]:
    return manager.get_power_down_candidates(keep_awake=keep_awake)


@router.get(
    "/power-plan",
    summary="Which idle nodes to put to sleep and which sleeping nodes to wake (admin)",
)
def power_plan(
    who: Admin,
    manager: Farm,
    asleep: Annotated[list[str] | None, Query(max_length=100_000)] = None,
    keep_awake: Annotated[int, Query(ge=0, le=100_000)] = 1,
    wake_minutes: Annotated[float | None, Query(ge=0, le=1440)] = None,
    lookahead_minutes: Annotated[float, Query(ge=0, le=1440)] = 15.0,
) -> dict[str, Any]:
    """The manager's power plan (``RenderFarmManager.plan_power``) for the nodes the caller
    has put to sleep (``asleep``, repeated; each must be offline). It changes nothing: carry it
    out with ``POST /nodes/{id}/offline`` and ``/online``."""
    plan = manager.plan_power(
        asleep or [],
        keep_awake=keep_awake,
        wake_minutes=wake_minutes,
        lookahead_minutes=lookahead_minutes,
    )
    return {
        "sleep": [
            {"node_id": a.node_id, "wake_by": a.wake_by, "reason": a.reason} for a in plan.sleep
        ],
        "wake": [
            {"node_id": w.node_id, "wake_at": w.wake_at, "reason": w.reason} for w in plan.wake
        ],
    }


@public.get("/metrics", summary="Prometheus metrics (admin token)", response_class=Response)
def metrics(request: Request, who: Admin) -> Response:
    return Response(context(request).metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@public.get(
    "/health",
    summary="Whether the manager is open and scheduling (no token needed)",
    response_model=Health,
    responses={503: {"model": Health, "description": "starting, standby, failed or stopped"}},
)
def health(request: Request) -> JSONResponse:
    service = context(request)
    holder = service.holder
    manager = holder.manager
    body = Health(
        status=holder.state,
        detail=holder.detail,
        storage=holder.storage,
        scheduling_cycles=service.loop.cycles if service.loop else 0,
        state_version=manager.state_version if manager is not None else None,
    )
    code = 200 if holder.state == "ready" else 503
    return JSONResponse(body.model_dump(), status_code=code)
