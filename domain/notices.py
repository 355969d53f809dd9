"""Who hears about an event: the case message in the conflicts channel always, and a direct
message to whoever must act now, is reminded, is paged, or sees the dispute closed."""

from __future__ import annotations

from domain.model import CLOSED, DisputeView, Event, Notice

_ACTING = {
    "filed", "proposed", "accepted", "proposal_rejected", "approval_rejected", "escalated",
    "info_requested", "resumed", "ruled", "appealed", "reassigned",
}


def headline(event: Event, view: DisputeView) -> str:
    who = event.actor
    return {
        "filed": f"{who} filed {view.id}: {view.title}",
        "commented": f"{who} commented on {view.id}",
        "proposed": f"{who} proposed a resolution for {view.id}",
        "accepted": f"{who} accepted the proposal on {view.id}",
        "proposal_rejected": f"{who} rejected the proposal on {view.id}",
        "approval_rejected": f"{who} rejected the agreement on {view.id}; back to frontline",
        "approved": f"{who} approved the agreement on {view.id}",
        "escalated": f"{view.id} escalated to tier {view.tier} ({event.payload.get('reason', '')})",
        "info_requested": f"{who} asked for information on {view.id}; the clock is paused",
        "resumed": f"{who} resumed {view.id}; the clock runs again",
        "ruled": f"{who} ruled on {view.id}; the appeal window is open",
        "appealed": f"{who} appealed the ruling on {view.id}; it goes to the executive",
        "decided": f"{who} made the final decision on {view.id}",
        "withdrawn": f"{who} withdrew {view.id}",
        "reassigned": f"{view.id} reassigned to {event.payload.get('to')}",
        "sla_reminder": f"Reminder: {view.id} is due {_due(view)}",
        "sla_breached": f"{view.id} is past its executive deadline; paging the backup executive",
        "ruling_final": f"The ruling on {view.id} is final: no appeal was filed",
    }.get(event.action, f"{view.id}: {event.action}")


def notices_for(event: Event, view: DisputeView, dm_on: tuple[str, ...]) -> list[Notice]:
    text = headline(event, view)
    out = [Notice(recipient="channel", kind="case_update", text=text)]
    dms: dict[str, Notice] = {}
    if view.status in CLOSED:
        for email in [p.email for p in view.parties] + [view.mediator]:
            dms[email] = Notice(recipient=email, kind="resolved", text=text)
    elif event.action == "sla_reminder":
        for email in view.waiting_on:
            dms[email] = Notice(recipient=email, kind="reminder", text=text)
    elif event.action == "sla_breached":
        for email in view.waiting_on:
            dms[email] = Notice(recipient=email, kind="paged", text=text)
    elif event.action in _ACTING:
        kind = "escalated" if event.action in ("escalated", "appealed") else "action_required"
        for email in view.waiting_on:
            dms[email] = Notice(recipient=email, kind=kind, text=f"{text}. Your move.")
    dms.pop(event.actor, None)  # nobody is told about what they just did
    out += [n for n in dms.values() if n.kind in dm_on or n.kind == "paged"]
    return out


def _due(view: DisputeView) -> str:
    return view.sla.due_at.strftime("%Y-%m-%d %H:%M UTC") if view.sla.due_at else "now"
