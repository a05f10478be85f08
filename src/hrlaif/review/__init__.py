"""Human review of AI labels and policies (``hrlaif review``).

``server`` (config, CLI, ``serve``), ``web`` (HTTP handler and its security), ``store`` (SQLite),
``items`` (sampling from Ranking / ResponseSet files), ``stats`` (agreement, kappa, intervals),
``results`` (``review_results(db)``, tables, exports). Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["review_results", "serve", "ReviewConfig"]


def __getattr__(name: str) -> Any:  # lazy, so `import hrlaif.review.stats` stays minimal
    if name == "review_results":
        from hrlaif.review.results import review_results

        return review_results
    if name in ("serve", "ReviewConfig"):
        from hrlaif.review import server

        return getattr(server, name)
    raise AttributeError(name)
