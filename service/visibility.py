"""Who may see which disputes, as a filter on the projection.

The rule is written once, in `store.visibility`, beside the store queries that apply it (the store
imports nothing from `service/` or `api/`); the service re-exports it for the surfaces.

Which events of a dispute someone who sees it may read (its caucus notes) is `domain.caucus`'s rule,
applied to the audit trail by `service.disputes.trail`.
"""

from __future__ import annotations

from store.visibility import mine, mine_of_viewer, viewer_kind, viewer_params, visible_to, visible_to_viewer

__all__ = ["mine", "mine_of_viewer", "viewer_kind", "viewer_params", "visible_to", "visible_to_viewer"]
