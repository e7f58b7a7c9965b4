"""Automatic proxy scale-out: the decision (sans-IO) and the two ways to act on it.

decide() looks at the proxies' admission metrics each reconcile period: the worst listen-queue
fill (queued / backlog over all proxies and workers) and the worst event-loop lag. When either
stays above its threshold for up_after_s, it answers "up"; when both stay below their calm levels
for down_after_s, it answers "down" (only proxies the scaler added are removed). A proxy that does
not answer /stats gives no data: it neither counts as hot nor as calm (a stalled proxy's own
stats are not trusted; the calm timer restarts). cooldown_s separates two actions.

Acting (controller.py): scale_mode = "local" adds one worker process to every proxy per step
through its admin API (PUT /workers; the new worker shares the proxy's port, so every client
benefits) and removes them again (the proxy drains the retiring worker gracefully);
"local-proxy" starts `xcache proxy` processes on the next free ports on this machine and adds
them to the topology (only clients that discover proxies through the dashboard/coordinator, or a
load balancer fed from it, use them); "hook" runs scale_hook_command and/or POSTs to scale_hook_url (multi-machine: the
hook starts a proxy elsewhere and registers it with the dashboard API).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ScalePolicy:
    queue_fill_high: float = 0.5
    loop_lag_high_s: float = 0.1
    up_after_s: float = 5.0
    queue_fill_calm: float = 0.05
    loop_lag_calm_s: float = 0.02
    down_after_s: float = 60.0
    cooldown_s: float = 15.0
    max_extra: int = 2


@dataclass
class ScaleState:
    hot_since: float | None = None
    calm_since: float | None = None
    last_action: float | None = None
    extra: int = 0  # scale-ups (workers per proxy, proxies, hook calls) not yet undone


def measure(summaries: list[dict | None]) -> tuple[float | None, float | None]:
    """(worst listen-queue fill, worst loop lag) of the reachable proxies; (None, None) if none."""
    live = [s for s in summaries if s]
    if not live:
        return None, None
    return (max(s.get("listen_queue_fill", 0.0) for s in live), max(s.get("loop_lag_s", 0.0) for s in live))


def decide(p: ScalePolicy, st: ScaleState, now: float, fill: float | None, lag: float | None) -> str | None:
    """Update st with one observation; return "up", "down" or None."""
    if fill is None or lag is None:
        st.hot_since = None
        st.calm_since = None
        return None
    hot = fill >= p.queue_fill_high or lag >= p.loop_lag_high_s
    calm = fill <= p.queue_fill_calm and lag <= p.loop_lag_calm_s
    st.hot_since = (st.hot_since if st.hot_since is not None else now) if hot else None
    st.calm_since = (st.calm_since if st.calm_since is not None else now) if calm else None
    cooling = st.last_action is not None and now - st.last_action < p.cooldown_s
    if cooling:
        return None
    if hot and now - st.hot_since >= p.up_after_s and st.extra < p.max_extra:
        st.extra += 1
        st.last_action = now
        st.hot_since = None
        return "up"
    if calm and st.extra > 0 and now - st.calm_since >= p.down_after_s:
        st.extra -= 1
        st.last_action = now
        st.calm_since = None
        return "down"
    return None


def worker_step(added: int, step: int, max_extra: int) -> bool:
    """local mode: may a proxy with `added` scaler-added workers take this step (+1 or -1)?
    Never beyond max_extra added workers, never below the proxy's own count."""
    return 0 <= added + step <= max_extra
