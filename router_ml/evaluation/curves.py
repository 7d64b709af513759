"""Areas under cost-quality curves: the non-decreasing convex hull (AIQ) and APGR.

A route's figures are points ``(cost, quality)``. Mixing two routes at random reaches every point
on the segment between them, and spending more never has to lower quality, so what a set of
routes can reach is the *non-decreasing convex hull* of its points: the upper convex hull from the
cheapest point up to the highest-quality one, flat beyond it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from router_ml.evaluation.metrics import RoutingFigures

Point = tuple[float, float]


def nondecreasing_hull(points: Sequence[Point]) -> list[Point]:
    """Vertices of the non-decreasing convex hull of ``(cost, quality)`` points, by cost.

    The first vertex is the cheapest point (the best quality at that cost); the last is the
    cheapest point of the highest quality. Beyond the last vertex the hull is flat.
    """
    ordered = sorted(set(points), key=lambda p: (p[0], -p[1]))
    upper: list[Point] = []
    for point in ordered:
        if upper and point[0] == upper[-1][0]:
            continue
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], point) >= 0:
            upper.pop()
        upper.append(point)
    peak = max(range(len(upper)), key=lambda i: (upper[i][1], -i))
    return upper[: peak + 1]


def _cross(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def shared_cost_range(*point_sets: Sequence[Point]) -> tuple[float, float]:
    """The cost range where every set's hull is defined: from the highest of the sets' lowest
    costs (below its cheapest point a set has nothing) to the highest cost of any set (beyond its
    last point a hull is flat)."""
    low = max(min(c for c, _ in points) for points in point_sets)
    high = max(max(c for c, _ in points) for points in point_sets)
    return low, high


def hull_quality(hull: Sequence[Point], costs: np.ndarray) -> np.ndarray:
    """The hull's quality at ``costs``: linear between vertices, flat beyond the last one."""
    xs, ys = np.array(hull, dtype=np.float64).T
    return np.interp(costs, xs, ys)


def aiq(points: Sequence[Point], cost_range: tuple[float, float]) -> float | None:
    """Average quality of the non-decreasing convex hull over ``cost_range`` (RouterBench's AIQ).

    The exact area under the piecewise-linear hull between ``low`` and ``high``, divided by
    ``high - low``; ``None`` when the range is empty.
    """
    low, high = cost_range
    if not high > low:
        return None
    hull = nondecreasing_hull(points)
    inside = [c for c, _ in hull if low < c < high]
    knots = np.array([low, *inside, high])
    values = hull_quality(hull, knots)
    area = float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(knots)))
    return area / (high - low)


def apgr(points: Sequence[Point], cheapest: RoutingFigures, best: RoutingFigures) -> float | None:
    """Average performance gap recovered between the cheapest and the best single model.

    Cost is normalised so that ``x = 0`` is the cheapest single model's total cost and ``x = 1``
    the best single model's. At each budget ``x`` in [0, 1] the router is credited with the
    highest quality among its curve points whose normalised cost is <= ``x`` (a step function: no
    interpolation, no random mixing), as ``PGR = (quality - q_cheapest) / (q_best - q_cheapest)``;
    where no point is within budget, PGR is 0. PGR is not clipped: below 0 the router is worse
    than the cheapest model, above 1 better than the best. APGR is the exact area under that step
    function over [0, 1]. ``None`` when the best single model is not both dearer and better than
    the cheapest.
    """
    cost_gap = best.cost_usd - cheapest.cost_usd
    quality_gap = best.quality - cheapest.quality
    if not (cost_gap > 0 and quality_gap > 0):
        return None
    budget = np.array([(c - cheapest.cost_usd) / cost_gap for c, _ in points])
    gained = np.array([(q - cheapest.quality) / quality_gap for _, q in points])
    knots = np.unique(np.clip(np.concatenate([[0.0, 1.0], budget]), 0.0, 1.0))
    steps = [gained[budget <= x].max(initial=-np.inf) for x in knots[:-1]]
    recovered = np.where(np.isfinite(steps), steps, 0.0)
    return float(np.sum(recovered * np.diff(knots)))
